// placeholder: filled by the lrScheduler work
export {};
