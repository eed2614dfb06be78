// An ES module with top-level await: Node cannot load it through require(), even with --experimental-require-module.
await new Promise((resolve) => setTimeout(resolve, 1));
export const late = "after await";
