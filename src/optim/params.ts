// What an optimizer updates: tf.Variables, gathered from a model, a list, or group objects.
import * as util from "util";
import * as tf from "@tensorflow/tfjs";
import { describe } from "../core/check";
import type { SchedulerKey } from "../core/protocols";
import { AnyHyper, BaseHyper } from "./options";

/** Anything with PyTorch's `parameters()`: returns the variables to train. */
export interface HasParameters {
  parameters(): Iterable<tf.Variable>;
}

/** A tfjs layer or model: its `trainableWeights` (LayerVariables) are used. */
export interface HasTrainableWeights {
  /** tfjs LayerVariables; `read()` is typed as a Tensor but returns the tf.Variable. */
  trainableWeights: Array<{ read(): tf.Tensor }>;
}

/** What can stand for a set of parameters: a model/layer, an object with `parameters()`, or variables. */
export type ParamSource = HasTrainableWeights | HasParameters | Iterable<tf.Variable | { read(): tf.Tensor }>;

/** A group as given by the user: `params` plus any hyperparameters (missing ones come from the defaults). */
export type ParamGroupInput<H extends BaseHyper = AnyHyper> = Partial<H> & {
  params: ParamSource;
  /** A label shown in tables ("decay", "head", ...). */
  name?: string;
  initialLr?: number;
};

/** The variables of a group. Prints as names and shapes, never data. */
export class ParamList extends Array<tf.Variable> {
  static override get [Symbol.species](): ArrayConstructor {
    return Array;
  }
  /** Number of scalars in all the variables. */
  get numel(): number {
    let n = 0;
    for (const v of this) n += v.size;
    return n;
  }
  [util.inspect.custom](_depth: number, options: util.InspectOptions): string {
    const max = options.maxArrayLength ?? 100;
    const lines = this.slice(0, max).map((v) => `${v.name} ${v.dtype}[${v.shape.join(", ")}]`);
    if (this.length > max) lines.push(`... ${this.length - max} more`);
    const head = `ParamList(${plural(this.length, "tensor")}, ${plural(this.numel, "parameter")})`;
    return lines.length === 0 ? `${head} []` : `${head} [\n${lines.map((l) => `  ${l}`).join(",\n")}\n]`;
  }
}

/**
 * One parameter group: a plain, editable object. Every field is read again at each step, so editing
 * `group.lr`, `group.momentum`, `group.betas`, ... changes the next update. Keys added by lr schedulers
 * (`initialLr`, ...) are kept.
 */
export type ParamGroup<H extends BaseHyper = AnyHyper> = H &
  Partial<Record<SchedulerKey, number>> & {
    params: ParamList;
    name?: string;
    [key: string]: unknown;
  };

/** "1 tensor", "62 tensors", "11,180,682 parameters". */
export function plural(n: number, what: string): string {
  return `${n.toLocaleString("en-US")} ${what}${n === 1 ? "" : "s"}`;
}

function isVariable(x: unknown): x is tf.Variable {
  return x instanceof tf.Variable;
}

function isLayerVariable(x: unknown): x is { read(): tf.Tensor } {
  return x !== null && typeof x === "object" && typeof (x as { read?: unknown }).read === "function" && !(x instanceof tf.Tensor);
}

/** True when `x` looks like a group object `{ params, ... }` rather than a source of variables. */
export function isGroupInput(x: unknown): x is ParamGroupInput {
  return x !== null && typeof x === "object" && !isVariable(x) && "params" in (x as object);
}

/** The tf.Variables of a source, in order. */
export function collectVariables(src: unknown, where: string): tf.Variable[] {
  if (src === null || src === undefined)
    throw new Error(`${where}: params is ${src}; expected a model, a list of tf.Variables or a list of groups`);
  if (isVariable(src)) return [src];
  const obj = src as Partial<HasTrainableWeights & HasParameters>;
  let items: Iterable<unknown>;
  if (Array.isArray(obj.trainableWeights)) items = obj.trainableWeights;
  else if (typeof obj.parameters === "function") items = obj.parameters();
  else if (typeof (src as Iterable<unknown>)[Symbol.iterator] === "function" && typeof src !== "string") items = src as Iterable<unknown>;
  else
    throw new Error(
      `${where}: cannot take parameters from ${describe(src)}; expected a tf.LayersModel or layer, an object with parameters(), ` +
        `a list of tf.Variables, or a list of groups { params, lr?, ... }`,
    );
  const out: tf.Variable[] = [];
  let i = 0;
  for (const item of items) {
    const v = isLayerVariable(item) ? item.read() : item;
    if (!isVariable(v)) {
      const what =
        v instanceof tf.Tensor
          ? "a tf.Tensor, not a tf.Variable (optimizers update variables in place: wrap it with tf.variable(t))"
          : describe(v);
      throw new Error(`${where}: params[${i}] is ${what}`);
    }
    if (v.dtype !== "float32")
      throw new Error(`${where}: params[${i}] ${v.name} has dtype ${v.dtype}; only float32 variables can be optimized`);
    if (v.isDisposed) throw new Error(`${where}: params[${i}] ${v.name} is disposed`);
    out.push(v);
    i++;
  }
  return out;
}

/** Throws when a variable appears twice in one list, or in `list` and in an existing group. */
export function checkNoDuplicates(list: tf.Variable[], existing: Iterable<ParamGroup<BaseHyper>>, where: string): void {
  const seen = new Map<tf.Variable, string>();
  let gi = 0;
  for (const g of existing) {
    for (const v of g.params) seen.set(v, `paramGroups[${gi}]`);
    gi++;
  }
  const mine = new Set<tf.Variable>();
  for (const v of list) {
    if (mine.has(v)) throw new Error(`${where}: parameter ${v.name} is given twice in the same group`);
    mine.add(v);
    const other = seen.get(v);
    if (other) throw new Error(`${where}: some parameters appear in more than one parameter group: ${v.name} is already in ${other}`);
  }
}
