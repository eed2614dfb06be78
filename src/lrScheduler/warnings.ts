// Scheduler warnings (PyTorch's UserWarnings): once per scheduler and kind, through a replaceable handler
// (tests capture them).

export type WarningHandler = (message: string) => void;
let warningHandler: WarningHandler = (m) => console.warn(m);

/** Replace where scheduler warnings go (default `console.warn`); returns the previous handler. */
export function setWarningHandler(handler: WarningHandler): WarningHandler {
  const previous = warningHandler;
  warningHandler = handler;
  return previous;
}

export function warn(message: string): void {
  warningHandler(`tsdl lrScheduler: ${message}`);
}
