// Hyperparameter types, defaults and checks shared by the optimizers. Every check runs when a group is
// made and again at every step (groups are plain objects the user and schedulers edit between steps).
import { mustBe } from "../core/check";
import { SCHEDULER_KEYS } from "../core/protocols";

/** Hyperparameters every optimizer has. */
export interface BaseHyper {
  /** Learning rate, >= 0. */
  lr: number;
  /** L2 coefficient added to the gradient (`g + weightDecay·p`), or decoupled decay for AdamW. */
  weightDecay: number;
  /** Ascend instead of descend (the gradient is negated first). */
  maximize: boolean;
}

/** `torch.optim.SGD`: lr, momentum, dampening, weight_decay, nesterov, maximize. */
export interface SGDHyper extends BaseHyper {
  momentum: number;
  dampening: number;
  nesterov: boolean;
}

/** `torch.optim.Adam` / `AdamW`. */
export interface AdamHyper extends BaseHyper {
  betas: [number, number];
  eps: number;
  amsgrad: boolean;
  /** true: AdamW's `p ← p·(1 − lr·weightDecay)` instead of adding `weightDecay·p` to the gradient. */
  decoupledWeightDecay: boolean;
}

/** `torch.optim.RMSprop`. */
export interface RMSpropHyper extends BaseHyper {
  alpha: number;
  eps: number;
  momentum: number;
  centered: boolean;
}

/** `torch.optim.Adagrad`. */
export interface AdagradHyper extends BaseHyper {
  lrDecay: number;
  eps: number;
  initialAccumulatorValue: number;
}

/** What a group of an optimizer of unknown kind may hold (what a scheduler sees). */
export type AnyHyper = BaseHyper & Partial<SGDHyper & AdamHyper & RMSpropHyper & AdagradHyper>;

export type SGDOptions = Partial<SGDHyper>;
export type AdamOptions = Partial<AdamHyper>;
export type AdamWOptions = Partial<Omit<AdamHyper, "decoupledWeightDecay">>;
export type RMSpropOptions = Partial<RMSpropHyper>;
export type AdagradOptions = Partial<AdagradHyper>;

/** How one hyperparameter is checked. */
export interface OptionSpec {
  /** What is accepted, for error messages: "a number >= 0". */
  expect: string;
  ok(v: unknown): boolean;
}

const isNum = (v: unknown): v is number => typeof v === "number" && Number.isFinite(v);

export const nonNegative: OptionSpec = { expect: "a finite number >= 0", ok: (v) => isNum(v) && v >= 0 };
export const finite: OptionSpec = { expect: "a finite number", ok: isNum };
export const flag: OptionSpec = { expect: "true or false", ok: (v) => typeof v === "boolean" };
export const betaPair: OptionSpec = {
  expect: "a pair [beta1, beta2] with each beta in [0, 1)",
  ok: (v) => Array.isArray(v) && v.length === 2 && v.every((b) => isNum(b) && b >= 0 && b < 1),
};

export type Specs<H> = { [K in keyof H]-?: OptionSpec };

/** Keys a group object accepts besides the hyperparameters. */
export const GROUP_EXTRA_KEYS = ["params", "name", ...SCHEDULER_KEYS] as const;

/** "weight_decay" -> "weightDecay", "LR" -> "lr": the accepted key a misspelt one most likely meant. */
export function suggestKey(key: string, accepted: readonly string[]): string | undefined {
  const camel = key.replace(/[_-]+([a-zA-Z0-9])/g, (_, c: string) => c.toUpperCase());
  const norm = (s: string) => s.replace(/[_-]/g, "").toLowerCase();
  return accepted.find((a) => a === camel) ?? accepted.find((a) => norm(a) === norm(key));
}

/** Throws when `obj` has a key outside `accepted`, naming it and listing what is accepted. */
export function rejectUnknownKeys(obj: object, accepted: readonly string[], where: string): void {
  for (const key of Object.keys(obj)) {
    if (accepted.includes(key)) continue;
    const hint = suggestKey(key, accepted);
    throw new Error(
      `${where}: unknown option ${JSON.stringify(key)}${hint ? ` (did you mean ${JSON.stringify(hint)}?)` : ""}; ` +
        `accepted: ${accepted.join(", ")}`,
    );
  }
}

/** Throws on the first hyperparameter of `values` that is missing (e.g. deleted from a group) or that its spec rejects. */
export function checkValues<H>(values: Partial<H>, specs: Specs<H>, where: string): void {
  for (const key of Object.keys(specs) as Array<keyof H & string>) {
    if (!(key in values)) throw new Error(`${where}: ${key} is missing; expected ${specs[key].expect}`);
    const v = values[key];
    if (!specs[key].ok(v)) throw new Error(mustBe(where, key, specs[key].expect, v));
  }
}
