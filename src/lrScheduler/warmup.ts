// Warmup in one call: LinearLR from a small factor to the base lr, then any schedule (cosine by default).
import { checkInt, checkNumber, describe } from "../core/check";
import type { SchedulableOptimizer } from "../core/protocols";
import { checkOptimizer } from "./args";
import { Scheduler } from "./base";
import { SequentialLR } from "./containers";
import { CosineAnnealingLR } from "./cosine";
import { LinearLR } from "./factor";

export interface WarmupOptions {
  /** Steps (epochs, or batches when stepped per batch) of linear warmup. */
  warmupSteps: number;
  /** Factor of the base lr at step 0 (default 1/(warmupSteps + 1): lr = base·(s + 1)/(warmupSteps + 1)). */
  startFactor?: number;
  /** The schedule after warmup, built on the optimizer; it starts at its epoch 0 at step warmupSteps. */
  then: (optimizer: SchedulableOptimizer) => Scheduler;
}

/**
 * `SequentialLR([LinearLR(startFactor → 1 over warmupSteps), then(optimizer)], milestones: [warmupSteps])`:
 * lr_g(s) = base_g·(f + (1 − f)·s/W) for s < W, then the `then` schedule from base_g.
 */
export function warmup(optimizer: SchedulableOptimizer, options: WarmupOptions): SequentialLR {
  checkOptimizer(optimizer, "warmup");
  const w = checkInt("warmup", "warmupSteps", options?.warmupSteps, 1);
  const startFactor = checkNumber("warmup", "startFactor", options.startFactor ?? 1 / (w + 1));
  if (typeof options.then !== "function")
    throw new Error(`warmup: then must be a function optimizer => scheduler, got ${describe(options.then)}`);
  // If `then` fails, give the groups back as they were.
  const saved = optimizer.paramGroups.map((g) => ({ ...g }));
  try {
    const ramp = new LinearLR(optimizer, { startFactor, endFactor: 1.0, totalIters: w });
    const after = options.then(optimizer);
    return new SequentialLR(optimizer, { schedulers: [ramp, after], milestones: [w] });
  } catch (e) {
    optimizer.paramGroups.forEach((g, i) => {
      for (const k of Object.keys(g)) if (!(k in saved[i])) delete g[k];
      Object.assign(g, saved[i]);
    });
    throw e;
  }
}

export interface WarmupCosineOptions {
  /** Steps of linear warmup. */
  warmupSteps: number;
  /** All steps, warmup included: the lr reaches etaMin at step totalSteps. */
  totalSteps: number;
  /** Factor of the base lr at step 0 (default 1/(warmupSteps + 1)). */
  startFactor?: number;
  /** Final lr (default 0). */
  etaMin?: number;
}

/**
 * Linear warmup then cosine decay (timm/Keras style), from PyTorch parts:
 * SequentialLR([LinearLR(startFactor, 1, warmupSteps), CosineAnnealingLR(tMax = totalSteps − warmupSteps, etaMin)]).
 * lr(s) = base·(f + (1 − f)·s/W) for s < W; η_min + (base − η_min)(1 + cos(π(s − W)/(N − W)))/2 for W <= s <= N.
 */
export function warmupCosine(optimizer: SchedulableOptimizer, options: WarmupCosineOptions): SequentialLR {
  const w = checkInt("warmupCosine", "warmupSteps", options?.warmupSteps, 1);
  const total = checkInt("warmupCosine", "totalSteps", options.totalSteps, 1);
  if (total <= w) throw new Error(`warmupCosine: totalSteps (${total}) must be larger than warmupSteps (${w})`);
  const etaMin = checkNumber("warmupCosine", "etaMin", options.etaMin ?? 0);
  return warmup(optimizer, {
    warmupSteps: w,
    startFactor: options.startFactor,
    then: (opt) => new CosineAnnealingLR(opt, { tMax: total - w, etaMin }),
  });
}
