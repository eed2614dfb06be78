import * as path from "path";

/** Where datasets live: the argument, else $TSDL_DATA, else ./data (as the tutorial's CIFAR10('./data')). */
export function dataRoot(root?: string): { root: string; from: string } {
  if (root !== undefined && root !== "") return { root: path.resolve(root), from: "the root argument" };
  const env = process.env.TSDL_DATA;
  if (env) return { root: path.resolve(env), from: "TSDL_DATA" };
  return { root: path.resolve("data"), from: "the default ./data (set TSDL_DATA or pass a root)" };
}
