// Arguments every scheduler shares: the optimizer, values given per param group, sorted milestones.
import { checkNumber, describe } from "../core/check";
import type { SchedulableOptimizer } from "../core/protocols";

export function checkOptimizer(optimizer: unknown, where: string): SchedulableOptimizer {
  const groups = (optimizer as SchedulableOptimizer | undefined)?.paramGroups;
  if (!Array.isArray(groups) || groups.length === 0) {
    throw new Error(`${where}: expected an optimizer with paramGroups (e.g. optim.SGD), got ${describe(optimizer)}`);
  }
  groups.forEach((g, i) => checkNumber(where, `paramGroups[${i}].lr`, g?.lr));
  return optimizer as SchedulableOptimizer;
}

/** A scalar for every group, or one value per group (PyTorch's `_format_param`). */
export function perGroup(name: string, value: number | readonly number[], nGroups: number, where: string): number[] {
  if (Array.isArray(value)) {
    if (value.length !== nGroups)
      throw new Error(`${where}: expected ${nGroups} values for ${name} (one per param group), got ${value.length}`);
    value.forEach((v, i) => checkNumber(where, `${name}[${i}]`, v));
    return [...value];
  }
  return new Array<number>(nGroups).fill(checkNumber(where, name, value));
}

/** Index of the first element > x in a sorted array (Python's bisect_right). */
export function bisectRight(sorted: readonly number[], x: number): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (x < sorted[mid]) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}
