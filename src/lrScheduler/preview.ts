// Preview a schedule without touching the real optimizer: simulate it on a copy of the param groups.
import { checkInt, describe, formatNumber } from "../core/check";
import type { SchedulableGroup, SchedulableOptimizer } from "../core/protocols";
import { withSummary } from "../display";
import { Scheduler } from "./base";
import { readMomentum } from "./momentum";

/** The lr (and cycled momentum) of every group at every step: `lr[group][step]`. */
export interface SchedulePreview {
  lr: number[][];
  /** Present when the schedule cycles momentum (CyclicLR, OneCycleLR): SGD momentum or Adam's beta1. */
  momentum?: number[][];
  /** The schedule with its options, e.g. "StepLR(stepSize=30, gamma=0.1)". */
  name?: string;
}

export interface PreviewOptions {
  /** For a factory: copy the groups of this optimizer (it is not modified). */
  optimizer?: SchedulableOptimizer;
  /** For a factory without optimizer: the lr of each group (default 0.1, one group). */
  lr?: number | number[];
  /** For a factory without optimizer: Adam-style betas instead of SGD momentum in the simulated groups. */
  betas?: [number, number];
  /** ReduceLROnPlateau only: the metric after each epoch (at least steps − 1 values). */
  metrics?: number[];
}

export type SchedulerFactory = (optimizer: SchedulableOptimizer) => Scheduler;

/** A copy of the groups with the numbers and small arrays, without the parameters (no tensor is touched). */
export function copyGroups(optimizer: SchedulableOptimizer): SchedulableOptimizer {
  const paramGroups = optimizer.paramGroups.map((g) => {
    const copy: SchedulableGroup = { lr: g.lr };
    for (const [k, v] of Object.entries(g)) {
      if (k === "params") continue;
      copy[k] = Array.isArray(v) ? [...v] : v;
    }
    return copy;
  });
  return { paramGroups, defaults: optimizer.defaults ? { ...(optimizer.defaults as Record<string, unknown>) } : undefined };
}

function simulatedOptimizer(options: PreviewOptions): SchedulableOptimizer {
  if (options.optimizer) return copyGroups(options.optimizer);
  const lrs = options.lr === undefined ? [0.1] : Array.isArray(options.lr) ? options.lr : [options.lr];
  if (lrs.length === 0 || lrs.some((v) => typeof v !== "number" || !Number.isFinite(v))) {
    throw new Error(`preview: lr must be a finite number or a non-empty array of them, got ${describe(options.lr)}`);
  }
  const betas = options.betas;
  return {
    paramGroups: lrs.map((lr) => (betas ? { lr, betas: [...betas] as [number, number] } : { lr, momentum: 0 })),
    defaults: betas ? { betas } : { momentum: 0 },
  };
}

/**
 * The lr per group per step of a schedule: `steps` values, the first one being the lr in use now (epoch 0
 * for a new scheduler), then one after each `step()`. Given a scheduler, it simulates a copy from its current
 * state; given a factory `opt => lrScheduler.stepLR(opt, ...)`, it builds the schedule on a copy of
 * `options.optimizer`'s groups (or on groups with `options.lr`). Neither the optimizer nor the scheduler changes.
 */
export function preview(schedule: Scheduler | SchedulerFactory, steps: number, options: PreviewOptions = {}): SchedulePreview {
  checkInt("preview", "steps", steps, 1);
  let sim: Scheduler;
  if (schedule instanceof Scheduler) {
    sim = schedule.cloneOnto(copyGroups(schedule.optimizer));
  } else if (typeof schedule === "function") {
    const opt = simulatedOptimizer(options);
    sim = schedule(opt);
    if (!(sim instanceof Scheduler)) throw new Error(`preview: the factory must return a scheduler, got ${describe(sim)}`);
    if (sim.optimizer !== opt) throw new Error("preview: the factory must build the scheduler on the optimizer it receives");
  } else {
    throw new Error(`preview: expected a scheduler or a factory (opt => scheduler), got ${describe(schedule)}`);
  }
  const metrics = options.metrics;
  if (sim.needsMetric && (!Array.isArray(metrics) || metrics.length < steps - 1)) {
    throw new Error(
      `preview: ReduceLROnPlateau needs options.metrics, the metric after each epoch: at least ${steps - 1} values for ${steps} steps, ` +
        `got ${Array.isArray(metrics) ? metrics.length : describe(metrics)}`,
    );
  }
  const groups = sim.optimizer.paramGroups;
  const key = sim.momentumKey();
  const lr: number[][] = groups.map(() => []);
  const momentum: number[][] | undefined = key ? groups.map(() => []) : undefined;
  const record = () =>
    groups.forEach((g, i) => {
      lr[i].push(g.lr);
      if (momentum && key) momentum[i].push(readMomentum(g, key));
    });
  record();
  for (let s = 1; s < steps; s++) {
    if (sim.needsMetric) sim.step((metrics as number[])[s - 1]);
    else sim.advance();
    record();
  }
  const result: SchedulePreview = momentum ? { lr, momentum, name: sim.toString() } : { lr, name: sim.toString() };
  // Shown as a cell's value or by console.log: one line per group, not steps × groups numbers.
  return withSummary(result, previewSummary);
}

/** `StepLR(stepSize=10, gamma=0.1), 30 steps: lr 0.1 → 0.001 (min 0.001, max 0.1); data in .lr[group][step]`. */
export function previewSummary(p: SchedulePreview): { text: string } {
  const f = (v: number) => formatNumber(v, 3);
  const range = (row: number[]) => `${f(row[0])} → ${f(row[row.length - 1])} (min ${f(Math.min(...row))}, max ${f(Math.max(...row))})`;
  const steps = p.lr[0]?.length ?? 0;
  const groups = p.lr.map((row, g) => `${p.lr.length > 1 ? `group ${g} ` : ""}lr ${range(row)}`);
  if (p.momentum) groups.push(`momentum ${range(p.momentum[0])}`);
  const data = `data in .lr[group][step]${p.momentum ? " and .momentum" : ""}; plot.lrSchedule(preview) draws it`;
  return { text: `${p.name ?? "schedule"}, ${steps} step${steps === 1 ? "" : "s"}: ${groups.join("; ")}; ${data}` };
}
