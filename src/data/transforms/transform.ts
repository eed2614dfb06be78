// What a transform is, and Compose / Lambda, as in torchvision.transforms.
import { inspect } from "util";
import type { Generator } from "../random";
import { defaultGenerator } from "../random";

/**
 * A step of a transform chain: `forward(input, generator)` returns a new value and never changes its input.
 * Random transforms draw only from `generator`, so a chain is reproducible from the generator's seed.
 */
export interface Transform<I = unknown, O = unknown> {
  forward(input: I, generator?: Generator): O;
  /**
   * Optional: one transform doing this and then `next` (same result, faster), or undefined. Compose uses it,
   * e.g. ToTensor + Normalize become one table lookup per byte.
   */
  fuse?(next: TransformLike): Transform | undefined;
  /** Optional: how to rebuild this transform in a DataLoader worker thread (built-in transforms have one). */
  workerSpec?(): Spec | undefined;
}

/** A transform or dataset described as data, rebuilt by `fromSpec` in a worker thread. */
export interface Spec {
  kind: string;
  args: unknown[];
}

/** The spec of a transform, or undefined when it cannot be sent to a worker (functions, custom classes). */
export function transformSpec(t: TransformLike | undefined): Spec | undefined {
  if (t === undefined || typeof t === "function") return undefined;
  return t.workerSpec?.();
}

/** A transform, or a plain function `(input, generator) => output` (torchvision's Lambda). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type TransformLike<I = any, O = any> = Transform<I, O> | ((input: I, generator: Generator) => O);

/** Runs a TransformLike. */
export function applyTransform<I, O>(t: TransformLike<I, O>, input: I, generator: Generator = defaultGenerator()): O {
  return typeof t === "function" ? t(input, generator) : t.forward(input, generator);
}

function isTransformLike(t: unknown): t is TransformLike {
  return typeof t === "function" || (typeof t === "object" && t !== null && typeof (t as Transform).forward === "function");
}

function nameOf(t: TransformLike): string {
  if (typeof t === "function") return `Lambda(${t.name || "anonymous"})`;
  const s = String(t);
  return s === "[object Object]" ? t.constructor.name : s;
}

/**
 * Applies transforms in order: `new Compose([new Resize(96), new ToTensor()])`. The types flow from the list:
 * that chain is a `Compose<Image, FloatImage>`, so a dataset built with it yields `[FloatImage, number]`.
 * (The input type comes from the first element; behind a leading spread such as `...gray` it stays `any`.)
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export class Compose<I = any, O = any> implements Transform<I, O> {
  readonly transforms: readonly TransformLike[];
  /** What runs: the transforms with fusible neighbours merged. */
  private readonly plan: readonly TransformLike[];

  constructor(transforms: readonly [TransformLike<I, O>]);
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  constructor(transforms: readonly [TransformLike<I>, ...TransformLike[], TransformLike<any, O>]);
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  constructor(transforms: readonly [...TransformLike[], TransformLike<any, O>]);
  constructor(transforms: readonly TransformLike[]);
  constructor(transforms: readonly TransformLike[]) {
    if (!Array.isArray(transforms)) throw new Error(`tsdl.data: Compose takes an array of transforms, got ${typeof transforms}`);
    transforms.forEach((t, i) => {
      if (!isTransformLike(t)) {
        throw new Error(
          `tsdl.data: Compose item ${i} is ${t === null ? "null" : typeof t}; expected a transform (an object with forward()) or a function`,
        );
      }
    });
    this.transforms = [...transforms];
    const plan: TransformLike[] = [];
    for (const t of this.transforms) {
      const last = plan[plan.length - 1];
      const fused = last !== undefined && typeof last !== "function" && last.fuse ? last.fuse(t) : undefined;
      if (fused) plan[plan.length - 1] = fused;
      else plan.push(t);
    }
    this.plan = plan;
  }

  forward(input: I, generator: Generator = defaultGenerator()): O {
    let x: unknown = input;
    for (const t of this.plan) x = applyTransform(t, x, generator);
    return x as O;
  }

  workerSpec(): Spec | undefined {
    const specs = this.transforms.map(transformSpec);
    return specs.every((s) => s !== undefined) ? { kind: "Compose", args: [specs] } : undefined;
  }

  toString(): string {
    return `Compose(\n${this.transforms.map((t) => `    ${nameOf(t)}`).join("\n")}\n)`;
  }

  [inspect.custom](): string {
    return this.toString();
  }
}

/** Wraps a function as a transform (torchvision.transforms.Lambda). */
export class Lambda<I, O> implements Transform<I, O> {
  constructor(readonly fn: (input: I, generator: Generator) => O) {
    if (typeof fn !== "function") throw new Error(`tsdl.data: Lambda takes a function, got ${typeof fn}`);
  }
  forward(input: I, generator: Generator = defaultGenerator()): O {
    return this.fn(input, generator);
  }
  toString(): string {
    return `Lambda(${this.fn.name || "anonymous"})`;
  }
}
