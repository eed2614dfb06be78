// Seeded randomness for data: shuffling and augmentation draw from a `Generator` (PyTorch's torch.Generator).
// The stream is not torch's (Mersenne Twister); what matters is that it is reproducible and its state can be saved.

/** The state of a Generator: four 32-bit words (sfc32). */
export type GeneratorState = [number, number, number, number];

/** splitmix32: spreads any integer seed over 32 bits. */
function splitmix32(x: number): number {
  x = (x + 0x9e3779b9) | 0;
  x = Math.imul(x ^ (x >>> 16), 0x85ebca6b);
  x = Math.imul(x ^ (x >>> 13), 0xc2b2ae35);
  return (x ^ (x >>> 16)) >>> 0;
}

function checkSeed(seed: number): void {
  if (!Number.isSafeInteger(seed)) {
    throw new Error(`tsdl.data: seed must be a safe integer, got ${String(seed)}`);
  }
}

/**
 * A pseudo-random generator (sfc32, 128-bit state, period >= 2^32). Like `torch.Generator`:
 * `new Generator(seed)` or `g.manualSeed(seed)`, and `getState()` / `setState()` to checkpoint it.
 */
export class Generator {
  private s: GeneratorState = [0, 0, 0, 0];

  constructor(seed: number = Date.now()) {
    this.manualSeed(seed);
  }

  /** Re-seed: the same seed gives the same stream. Accepts any safe integer (negative too). */
  manualSeed(seed: number): this {
    checkSeed(seed);
    const lo = seed >>> 0;
    const hi = Math.floor(seed / 2 ** 32) >>> 0;
    let x = splitmix32(lo ^ splitmix32(hi));
    for (let i = 0; i < 4; i++) {
      x = splitmix32(x + i);
      this.s[i] = x;
    }
    for (let i = 0; i < 12; i++) this.nextUint32(); // warm up
    return this;
  }

  /** A copy of the state (plain numbers, JSON-safe). */
  getState(): GeneratorState {
    return [...this.s] as GeneratorState;
  }

  setState(state: readonly number[]): this {
    if (!Array.isArray(state) || state.length !== 4 || !state.every((v) => Number.isInteger(v) && v >= 0 && v < 2 ** 32)) {
      throw new Error(`tsdl.data: a Generator state is 4 unsigned 32-bit integers, got ${JSON.stringify(state)}`);
    }
    this.s = [...state] as GeneratorState;
    return this;
  }

  /** Next 32 random bits (sfc32). */
  nextUint32(): number {
    let [a, b, c, d] = this.s;
    const t = (((a + b) | 0) + d) | 0;
    d = (d + 1) | 0;
    a = b ^ (b >>> 9);
    b = (c + (c << 3)) | 0;
    c = (c << 21) | (c >>> 11);
    c = (c + t) | 0;
    this.s = [a >>> 0, b >>> 0, c >>> 0, d >>> 0];
    return t >>> 0;
  }

  /** Uniform in [0, 1), 32 bits of resolution (torch.rand). */
  random(): number {
    return this.nextUint32() / 4294967296;
  }

  /** Uniform in [low, high) (tensor.uniform_(low, high)). */
  uniform(low: number, high: number): number {
    return low + (high - low) * this.random();
  }

  /** Integer uniform in [low, high) (torch.randint(low, high)), without modulo bias. */
  randint(low: number, high: number): number {
    const n = high - low;
    if (!Number.isInteger(low) || !Number.isInteger(high) || n <= 0 || n > 2 ** 32) {
      throw new Error(`tsdl.data: randint needs integers low < high (range <= 2^32), got [${low}, ${high})`);
    }
    const limit = Math.floor(4294967296 / n) * n;
    let r: number;
    do r = this.nextUint32();
    while (r >= limit);
    return low + (r % n);
  }

  /** A random permutation of 0..n-1 (torch.randperm), Fisher-Yates. */
  randperm(n: number): Int32Array {
    const p = new Int32Array(n);
    for (let i = 0; i < n; i++) p[i] = i;
    for (let i = n - 1; i > 0; i--) {
      const j = this.randint(0, i + 1);
      const t = p[i];
      p[i] = p[j];
      p[j] = t;
    }
    return p;
  }
}

/** Mixes integers into one 32-bit seed: the seed of sample `index` in `epoch` of a loader seeded `seed`. */
export function deriveSeed(...parts: number[]): number {
  let h = 0x811c9dc5;
  for (const p of parts) {
    h = splitmix32(h ^ splitmix32(p >>> 0) ^ Math.floor(p / 2 ** 32));
  }
  return h;
}

const globalGenerator = new Generator();

/** The generator transforms and loaders use when none is given (torch.default_generator). */
export function defaultGenerator(): Generator {
  return globalGenerator;
}

/** Seed the default generator (torch.manual_seed): makes unseeded shuffles and augmentations reproducible. */
export function manualSeed(seed: number): Generator {
  return globalGenerator.manualSeed(seed);
}
