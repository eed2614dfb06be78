// Weights and inputs of the PyTorch goldens, computed the same way in TypeScript (test/goldens/train_goldens.py).

/** The values of test/goldens/train_goldens.py: a minstd stream seeded by the name, u in [-1, 1), scaled. */
export function pattern(name: string, shape: number[], kind: string, fanIn: number): Float32Array {
  const n = shape.reduce((a, b) => a * b, 1);
  let phase = 0;
  for (const ch of name) phase += ch.charCodeAt(0);
  let state = (phase % 97) + 1;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    state = (state * 48271) % 2147483647; // < 2^53: exact in doubles, as in Python
    const s = (state / 2147483647) * 2 - 1;
    out[i] =
      kind === "weight" && fanIn
        ? (1.7 / Math.sqrt(fanIn)) * s
        : kind === "bnweight"
          ? 1 + 0.1 * s
          : kind === "running_var"
            ? 1 + 0.5 * Math.abs(s)
            : 0.1 * s;
  }
  return out;
}
