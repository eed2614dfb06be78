// placeholder: filled by the plot work
export {};
