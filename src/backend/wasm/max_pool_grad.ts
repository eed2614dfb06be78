// MaxPoolGrad in JavaScript on the wasm heap, for when the native add-on is absent.
import * as tf from "@tensorflow/tfjs";
import { poolGradArgs } from "./native/geometry";
import type { WasmBackendView } from "./native/heap";
import type { TensorInfo } from "./scratch";

/**
 * dx of max pooling (NHWC, float32) in JavaScript on the wasm heap, for when the addon is absent: the stock wasm
 * MaxPoolGrad of tfjs 4.22 misplaces gradients with 'same' padding and with windows that do not tile the input
 * (it disagrees with the cpu backend there). Same rule as the native one.
 */
export function jsMaxPoolGrad(fallback: tf.KernelFunc): tf.KernelFunc {
  return (args) => {
    const pool = poolGradArgs(args);
    if (!pool) return fallback(args);
    const { dy, input, info: g } = pool;
    const b = args.backend as unknown as WasmBackendView & { typedArrayFromHeap(t: TensorInfo): Float32Array };
    const out = b.makeOutput(input.shape, "float32");
    const x = b.typedArrayFromHeap(input);
    const d = b.typedArrayFromHeap(dy);
    const dx = b.typedArrayFromHeap(out);
    dx.fill(0);
    const C = g.inChannels;
    const best = new Float32Array(C);
    const where = new Int32Array(C);
    for (let n = 0; n < g.batchSize; n++)
      for (let i = 0; i < g.outHeight; i++)
        for (let j = 0; j < g.outWidth; j++) {
          best.fill(-Infinity);
          where.fill(-1);
          for (let p = 0; p < g.filterHeight; p++) {
            const ih = i * g.strideHeight + p - g.padInfo.top;
            if (ih < 0 || ih >= g.inHeight) continue;
            for (let q = 0; q < g.filterWidth; q++) {
              const iw = j * g.strideWidth + q - g.padInfo.left;
              if (iw < 0 || iw >= g.inWidth) continue;
              const base = ((n * g.inHeight + ih) * g.inWidth + iw) * C;
              for (let c = 0; c < C; c++) {
                if (x[base + c] > best[c] || where[c] < 0) {
                  best[c] = x[base + c];
                  where[c] = base + c;
                }
              }
            }
          }
          const o = ((n * g.outHeight + i) * g.outWidth + j) * C;
          for (let c = 0; c < C; c++) if (where[c] >= 0) dx[where[c]] += d[o + c];
        }
    return out;
  };
}
