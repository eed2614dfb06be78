// evaluate(): loss and accuracy of a model in eval mode over a data source, as the course computes them.
import * as tf from "@tensorflow/tfjs";
import type { Criterion } from "../core/protocols";
import { batchesOf, DataSource } from "./batches";
import { correctCount, scalarLoss } from "./step";

/**
 * Loss and accuracy of `net` in eval mode (BatchNorm running statistics) over `data`, as the course computes
 * them: means of the per-batch values.
 */
export async function evaluate(net: tf.LayersModel, data: DataSource, criterion: Criterion): Promise<{ loss: number; acc?: number; batches: number }> {
  let loss = 0;
  let acc = 0;
  let hasAcc = true;
  let n = 0;
  for await (const b of batchesOf(data, "evaluate")) {
    let l = 0;
    let c: number | undefined;
    tf.tidy(() => {
      const out = net.apply(b.x, { training: false }) as tf.Tensor;
      const cc = correctCount(out, b.y);
      l = scalarLoss(criterion, out, b.y).dataSync()[0];
      c = cc ? cc.dataSync()[0] / b.x.shape[0] : undefined;
    });
    loss += l;
    if (c === undefined) hasAcc = false;
    else acc += c;
    n++;
  }
  if (n === 0) throw new Error("evaluate: the data gave no batches");
  return { loss: loss / n, acc: hasAcc ? acc / n : undefined, batches: n };
}
