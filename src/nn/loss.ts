// Loss functions with torch.nn semantics. A loss is an object you call, as in PyTorch:
//   const criterion = new nn.CrossEntropyLoss();  const loss = criterion(logits, labels);
import * as util from "util";
import * as tf from "@tensorflow/tfjs";
import { hostValues } from "../backend";
import { CROSS_ENTROPY, kernelReady, type CrossEntropyAttrs } from "../core/kernels";

/** How per-sample losses are combined, as torch's `reduction`. */
export type Reduction = "mean" | "sum" | "none";
const REDUCTIONS: readonly Reduction[] = ["mean", "sum", "none"];

// A class and an interface of one name: the interface adds the call signature the constructor makes true.
// eslint-disable-next-line @typescript-eslint/no-unsafe-declaration-merging
export interface Loss {
  /** `criterion(input, target)`: the same as `criterion.forward(input, target)`. */
  (input: tf.Tensor, target: tf.Tensor): tf.Tensor;
}

/**
 * Base of every loss: instances are callable functions (`criterion(output, label)`), like torch.nn modules.
 * Subclasses implement `forward` and describe their options in `extraRepr`.
 */
// eslint-disable-next-line @typescript-eslint/no-unsafe-declaration-merging
export abstract class Loss {
  constructor() {
    // A class instance cannot be called in JavaScript; return a function carrying this prototype instead.
    const self = ((input: tf.Tensor, target: tf.Tensor) => self.forward(input, target)) as unknown as Loss;
    Object.setPrototypeOf(self, new.target.prototype);
    return self;
  }

  abstract forward(input: tf.Tensor, target: tf.Tensor): tf.Tensor;

  /** The options shown in `CrossEntropyLoss(reduction='mean')`-style text. */
  protected extraRepr(): string {
    return "";
  }

  toString(): string {
    return `${this.constructor.name}(${this.extraRepr()})`;
  }

  [util.inspect.custom](): string {
    return this.toString();
  }

  [Symbol.for("Jupyter.display")](): Record<string, unknown> {
    return { "text/plain": this.toString() };
  }
}

function checkReduction(reduction: unknown, who: string): Reduction {
  if (!REDUCTIONS.includes(reduction as Reduction)) {
    throw new Error(`${who}: reduction must be one of ${REDUCTIONS.map((r) => `"${r}"`).join(", ")}, got ${JSON.stringify(reduction)}`);
  }
  return reduction as Reduction;
}

function reduce(perSample: tf.Tensor, reduction: Reduction): tf.Tensor {
  return reduction === "mean" ? tf.mean(perSample) : reduction === "sum" ? tf.sum(perSample) : perSample;
}

function shapeStr(t: tf.Tensor): string {
  return `[${t.shape.join(", ")}]`;
}

// ---------------------------------------------------------------------------------------------------------------

export interface CrossEntropyLossOptions {
  /** Per-class rescaling weight, length C (torch `weight`). */
  weight?: tf.Tensor1D | number[];
  /** Targets equal to this class index contribute nothing, also to the mean's denominator (default -100). */
  ignoreIndex?: number;
  /** "mean" (default), "sum" or "none". */
  reduction?: Reduction;
  /** ε in [0, 1]: the target becomes (1-ε)·onehot + ε/C (default 0). */
  labelSmoothing?: number;
}

/**
 * torch.nn.CrossEntropyLoss over logits `input` [N, C] and `target` either int32 class indices [N] or class
 * probabilities [N, C] (float). With logp = logSoftmax(input), w the class weights (1 when absent),
 * m_i = [y_i != ignoreIndex] and ε the label smoothing:
 *
 *   nll_i    = -w_{y_i} · logp[i, y_i] · m_i
 *   smooth_i = -Σ_c w_c · logp[i, c] · m_i
 *   loss_i   = (1-ε)·nll_i + (ε/C)·smooth_i
 *   mean     = (1-ε)·Σ nll_i / Σ w_{y_i} m_i  +  (ε/C)·Σ smooth_i / Σ w_{y_i} m_i
 *
 * (the denominators are exactly PyTorch's: weighted mean over non-ignored samples). With probability targets t,
 * loss_i = -Σ_c w_c · t'_ic · logp[i, c], t' = (1-ε)·t + ε/C, and the mean divides by N.
 */
export class CrossEntropyLoss extends Loss {
  readonly weight?: tf.Tensor1D;
  readonly ignoreIndex: number;
  readonly reduction: Reduction;
  readonly labelSmoothing: number;

  constructor(opts: CrossEntropyLossOptions = {}) {
    super();
    const who = "CrossEntropyLoss";
    this.reduction = checkReduction(opts.reduction ?? "mean", who);
    this.ignoreIndex = opts.ignoreIndex ?? -100;
    if (!Number.isInteger(this.ignoreIndex)) throw new Error(`${who}: ignoreIndex must be an integer, got ${opts.ignoreIndex}`);
    this.labelSmoothing = opts.labelSmoothing ?? 0;
    if (!(this.labelSmoothing >= 0 && this.labelSmoothing <= 1)) {
      throw new Error(`${who}: labelSmoothing must be in [0, 1], got ${opts.labelSmoothing}`);
    }
    if (opts.weight !== undefined) this.weight = checkWeight(opts.weight, who);
  }

  protected override extraRepr(): string {
    const parts = [`reduction='${this.reduction}'`];
    if (this.ignoreIndex !== -100) parts.push(`ignoreIndex=${this.ignoreIndex}`);
    if (this.labelSmoothing) parts.push(`labelSmoothing=${this.labelSmoothing}`);
    if (this.weight) {
      const w = hostValues(this.weight);
      parts.push(w ? `weight=[${Array.from(w).join(", ")}]` : `weight=<${this.weight.shape[0]} values on the GPU>`);
    }
    return parts.join(", ");
  }

  forward(input: tf.Tensor, target: tf.Tensor): tf.Tensor {
    return classLoss("CrossEntropyLoss", input, target, {
      logProbs: false,
      weight: this.weight,
      ignoreIndex: this.ignoreIndex,
      reduction: this.reduction,
      labelSmoothing: this.labelSmoothing,
    });
  }
}

export interface NLLLossOptions {
  weight?: tf.Tensor1D | number[];
  ignoreIndex?: number;
  reduction?: Reduction;
}

/**
 * torch.nn.NLLLoss: `input` holds log-probabilities [N, C] (e.g. from tf.logSoftmax), `target` int32 [N].
 * loss_i = -w_{y_i}·input[i, y_i]; the mean divides by Σ w_{y_i} over non-ignored samples.
 */
export class NLLLoss extends Loss {
  readonly weight?: tf.Tensor1D;
  readonly ignoreIndex: number;
  readonly reduction: Reduction;

  constructor(opts: NLLLossOptions = {}) {
    super();
    this.reduction = checkReduction(opts.reduction ?? "mean", "NLLLoss");
    this.ignoreIndex = opts.ignoreIndex ?? -100;
    if (!Number.isInteger(this.ignoreIndex)) throw new Error(`NLLLoss: ignoreIndex must be an integer, got ${opts.ignoreIndex}`);
    if (opts.weight !== undefined) this.weight = checkWeight(opts.weight, "NLLLoss");
  }

  protected override extraRepr(): string {
    return `reduction='${this.reduction}'`;
  }

  forward(input: tf.Tensor, target: tf.Tensor): tf.Tensor {
    if (target.dtype !== "int32") {
      throw new Error(`NLLLoss: target must be int32 class indices, got dtype ${target.dtype} with shape ${shapeStr(target)}`);
    }
    return classLoss("NLLLoss", input, target, {
      logProbs: true,
      weight: this.weight,
      ignoreIndex: this.ignoreIndex,
      reduction: this.reduction,
      labelSmoothing: 0,
    });
  }
}

function checkWeight(w: tf.Tensor1D | number[], who: string): tf.Tensor1D {
  const t = Array.isArray(w) ? tf.tensor1d(w, "float32") : w;
  if (t.rank !== 1) throw new Error(`${who}: weight must be a 1-D tensor with one entry per class, got shape ${shapeStr(t)}`);
  return tf.keep(t.dtype === "float32" ? t : tf.cast(t, "float32")) as tf.Tensor1D;
}

interface ClassLossOptions {
  logProbs: boolean;
  weight?: tf.Tensor1D;
  ignoreIndex: number;
  reduction: Reduction;
  labelSmoothing: number;
}

function classLoss(who: string, input: tf.Tensor, target: tf.Tensor, o: ClassLossOptions): tf.Tensor {
  if (input.rank !== 2) {
    throw new Error(`${who}: input must be [N, C] (batch, classes), got shape ${shapeStr(input)}`);
  }
  const [n, c] = input.shape as [number, number];
  if (o.weight && o.weight.shape[0] !== c) {
    throw new Error(`${who}: weight has ${o.weight.shape[0]} entries but input has ${c} classes`);
  }
  const probs = target.dtype === "float32";
  let labelsUnread = false;
  if (probs) {
    if (target.rank !== 2 || target.shape[0] !== n || target.shape[1] !== c) {
      throw new Error(
        `${who}: a float target holds class probabilities and must have the input's shape ${shapeStr(input)}, ` +
          `got ${shapeStr(target)}; class indices must be int32 of shape [${n}]`,
      );
    }
  } else {
    if (target.dtype !== "int32")
      throw new Error(`${who}: target must be int32 class indices or float32 probabilities, got ${target.dtype}`);
    if (target.rank !== 1 || target.shape[0] !== n) {
      throw new Error(`${who}: class-index target must have shape [${n}] for input ${shapeStr(input)}, got ${shapeStr(target)}`);
    }
    // Out-of-range labels silently give a zero one-hot row in tfjs; PyTorch raises. So do we, when the labels can
    // be read without waiting for a GPU (a DataLoader's batch before anything uploaded it); otherwise the loss
    // becomes NaN, which train() reports.
    const labels = hostValues(target) ?? [];
    labelsUnread = labels.length === 0 && n > 0;
    for (let i = 0; i < labels.length; i++) {
      const y = labels[i];
      if (y !== o.ignoreIndex && (y < 0 || y >= c)) {
        throw new Error(
          `${who}: target ${y} (sample ${i}) is out of bounds: class indices must be in [0, ${c - 1}]` +
            (o.ignoreIndex !== -100 ? ` or ${o.ignoreIndex} (ignoreIndex)` : ""),
        );
      }
    }
  }
  const plain = !probs && !o.logProbs && !o.weight && o.labelSmoothing === 0 && o.reduction === "mean";
  const int32 = o.ignoreIndex >= -(2 ** 31) && o.ignoreIndex < 2 ** 31; // (int32 labels never equal another)
  if (plain && int32 && n > 0 && c > 0 && kernelReady(CROSS_ENTROPY)) {
    // One kernel each way (core/kernels.ts), which also makes the loss NaN for labels out of range.
    const attrs: CrossEntropyAttrs = { ignoreIndex: o.ignoreIndex };
    return tf.tidy(() => {
      const logits = tf.cast(input, "float32");
      return (tf.engine().runKernel(CROSS_ENTROPY, { logits, target }, attrs as unknown as tf.NamedAttrMap) as tf.Tensor[])[0];
    });
  }
  const loss = tf.tidy(() => {
    const logp = o.logProbs ? tf.cast(input, "float32") : tf.logSoftmax(tf.cast(input, "float32"), -1);
    const eps = o.labelSmoothing;
    const wRow = o.weight ? o.weight.reshape([1, c]) : undefined;
    if (probs) {
      let t = target;
      if (eps > 0) t = tf.add(tf.mul(t, 1 - eps), eps / c);
      const wt = wRow ? tf.mul(t, wRow) : t;
      const perSample = tf.neg(tf.sum(tf.mul(wt, logp), -1));
      return reduce(perSample, o.reduction);
    }
    const mask = tf.cast(tf.notEqual(target, tf.scalar(o.ignoreIndex, "int32")), "float32"); // [N]
    const oneHot = tf.cast(tf.oneHot(tf.where(tf.cast(mask, "bool"), target, tf.zerosLike(target)) as tf.Tensor1D, c), "float32"); // [N, C]
    // w_{y_i} · m_i: the weight of each sample's class, 0 for ignored samples.
    const wy = wRow ? tf.mul(tf.sum(tf.mul(oneHot, wRow), -1), mask) : mask;
    const nll = tf.mul(tf.neg(tf.sum(tf.mul(oneHot, logp), -1)), wy);
    let smooth: tf.Tensor | undefined;
    if (eps > 0) smooth = tf.mul(tf.neg(tf.sum(wRow ? tf.mul(logp, wRow) : logp, -1)), mask);
    if (o.reduction === "none") return smooth ? tf.add(tf.mul(nll, 1 - eps), tf.mul(smooth, eps / c)) : nll;
    if (o.reduction === "sum") {
      const s = tf.sum(nll);
      return smooth ? tf.add(tf.mul(s, 1 - eps), tf.mul(tf.sum(smooth), eps / c)) : s;
    }
    const denom = tf.sum(wy);
    const m = tf.div(tf.sum(nll), denom);
    return smooth ? tf.add(tf.mul(m, 1 - eps), tf.mul(tf.div(tf.sum(smooth), denom), eps / c)) : m;
  });
  if (!labelsUnread) return loss;
  // Labels on a GPU, unchecked: an out-of-range one makes the loss NaN rather than silently 0.
  const poisoned = tf.tidy(() => {
    const bad = tf.logicalAnd(tf.notEqual(target, o.ignoreIndex), tf.logicalOr(tf.less(target, 0), tf.greaterEqual(target, c)));
    return tf.where(tf.any(bad), tf.fill(loss.shape, NaN), loss);
  });
  loss.dispose();
  return poisoned;
}

// ---------------------------------------------------------------------------------------------------------------

export interface ReductionOptions {
  reduction?: Reduction;
}

/** Base of the losses on element pairs of two same-shape tensors: loss = reduce(pointwise(input, target)). */
abstract class ElementwiseLoss extends Loss {
  readonly reduction: Reduction;
  constructor(opts: ReductionOptions = {}) {
    super();
    this.reduction = checkReduction(opts.reduction ?? "mean", this.constructor.name);
  }
  protected abstract pointwise(input: tf.Tensor, target: tf.Tensor): tf.Tensor;
  protected override extraRepr(): string {
    return `reduction='${this.reduction}'`;
  }
  forward(input: tf.Tensor, target: tf.Tensor): tf.Tensor {
    if (input.shape.length !== target.shape.length || input.shape.some((d, i) => d !== target.shape[i])) {
      throw new Error(`${this.constructor.name}: input ${shapeStr(input)} and target ${shapeStr(target)} must have the same shape`);
    }
    return tf.tidy(() => reduce(this.pointwise(input, target), this.reduction));
  }
}

/** torch.nn.MSELoss: (input - target)², reduced (mean over all elements by default). */
export class MSELoss extends ElementwiseLoss {
  protected pointwise(input: tf.Tensor, target: tf.Tensor): tf.Tensor {
    return tf.squaredDifference(input, target);
  }
}

/** torch.nn.L1Loss: |input - target|, reduced (mean over all elements by default). */
export class L1Loss extends ElementwiseLoss {
  protected pointwise(input: tf.Tensor, target: tf.Tensor): tf.Tensor {
    return tf.abs(tf.sub(input, target));
  }
}

// Lower-case factories, as nn.batchNorm2d / optim.sgd / lrScheduler.stepLR: `nn.crossEntropyLoss()` is `new nn.CrossEntropyLoss()`.
export const crossEntropyLoss = (opts?: CrossEntropyLossOptions): CrossEntropyLoss => new CrossEntropyLoss(opts);
export const nllLoss = (opts?: NLLLossOptions): NLLLoss => new NLLLoss(opts);
export const mseLoss = (opts?: ReductionOptions): MSELoss => new MSELoss(opts);
export const l1Loss = (opts?: ReductionOptions): L1Loss => new L1Loss(opts);
