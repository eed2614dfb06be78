// Momentum cycling (CyclicLR, OneCycleLR): where a group keeps its momentum (SGD's `momentum` or Adam's
// `betas[0]`), the per-group bounds, and reading and writing it.
import type { SchedulableGroup, SchedulableOptimizer } from "../core/protocols";
import { perGroup } from "./args";

/** Where cycled momentum lives: SGD-style `momentum`, or `betas[0]` for Adam-family optimizers. */
export type MomentumKey = "momentum" | "betas";

export function momentumKeyOf(optimizer: SchedulableOptimizer, where: string): MomentumKey {
  const d = optimizer.defaults;
  if (d && "betas" in d) return "betas";
  if (d && "momentum" in d) return "momentum";
  const g = optimizer.paramGroups[0];
  if (Array.isArray(g.betas)) return "betas";
  if ("momentum" in g) return "momentum";
  throw new Error(
    `${where}: cycleMomentum needs an optimizer with momentum (SGD's 'momentum' or Adam's 'betas'); ` +
      `this one has neither. Pass cycleMomentum: false.`,
  );
}

/** The momentum options of CyclicLR and OneCycleLR. */
export interface CycleMomentumOptions {
  cycleMomentum?: boolean;
  baseMomentum?: number | number[];
  maxMomentum?: number | number[];
}

/**
 * Checks the momentum options of a schedule that cycles momentum: where momentum lives (`key`, undefined when
 * `cycleMomentum` is false) and the per-group bounds, defaulting to `defaults`.
 */
export function cycledMomentum(
  optimizer: SchedulableOptimizer,
  o: CycleMomentumOptions,
  defaults: { baseMomentum: number; maxMomentum: number },
  where: string,
): { key?: MomentumKey; baseMomentums: number[]; maxMomentums: number[] } {
  if (!(o.cycleMomentum ?? true)) return { baseMomentums: [], maxMomentums: [] };
  const n = optimizer.paramGroups.length;
  return {
    key: momentumKeyOf(optimizer, where),
    baseMomentums: perGroup("baseMomentum", o.baseMomentum ?? defaults.baseMomentum, n, where),
    maxMomentums: perGroup("maxMomentum", o.maxMomentum ?? defaults.maxMomentum, n, where),
  };
}

export function readMomentum(group: SchedulableGroup, key: MomentumKey): number {
  return key === "betas" ? Number((group.betas as number[])[0]) : Number(group.momentum);
}

export function writeMomentum(group: SchedulableGroup, key: MomentumKey, value: number): void {
  if (key === "betas") group.betas = [value, ...(group.betas as number[]).slice(1)] as [number, number];
  else group.momentum = value;
}
