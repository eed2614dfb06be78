// placeholder: filled by the optim work
export {};
