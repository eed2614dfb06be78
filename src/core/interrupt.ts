// Interrupt points for long loops run in a notebook kernel. When batches come from memory (an array of
// { x, y }), only promise jobs run between them, so the kernel's SIGINT or interrupt_request handler (an
// event-loop callback) would wait for the whole run. The tsdl kernel (kernel/interrupt.js) puts its interrupt
// state at globalThis[Symbol.for("tsdl.interrupt")]; outside a kernel there is none and this costs nothing.

/** What the kernel installs: `epoch` counts interrupts; `check(e)` throws its Interrupted error if it moved past e. */
export interface InterruptState {
  readonly epoch: number;
  check(epoch: number): void;
}

export const INTERRUPT_KEY = Symbol.for("tsdl.interrupt");

/** At most one event-loop turn per this many milliseconds: a turn in the kernel costs tens of microseconds. */
export const INTERRUPT_EVERY_MS = 10;

/**
 * Interrupt points for one loop: `const point = interruptPoints(); ... await point();` between whole steps.
 * A point lets the event loop run (when INTERRUPT_EVERY_MS passed since the last turn), then throws the
 * kernel's Interrupted error if an interrupt came since interruptPoints() was called. So an interrupted run
 * stops within one step (or 10 ms of small steps) and leaves the model and optimizer as after its last step.
 */
export function interruptPoints(): () => Promise<void> {
  const state = (globalThis as Record<symbol, unknown>)[INTERRUPT_KEY] as InterruptState | undefined;
  if (!state) return async () => undefined;
  const epoch = state.epoch;
  let turned = performance.now();
  return async () => {
    if (performance.now() - turned >= INTERRUPT_EVERY_MS) {
      await new Promise<void>((resolve) => setImmediate(resolve));
      turned = performance.now();
    }
    state.check(epoch);
  };
}
