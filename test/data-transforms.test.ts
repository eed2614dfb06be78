// Transforms against torchvision 0.14 + Pillow goldens (test/goldens/data_transforms.py).
import assert from "node:assert/strict";
import * as fs from "fs";
import * as path from "path";
import { data } from "tsdl";

const { Image, FloatImage, Generator, transforms: T } = data;
const Fn = T.functional;
type Img = InstanceType<typeof Image>;

interface ImgJson {
  h: number;
  w: number;
  c: 1 | 3;
  data: string;
}
const fx = JSON.parse(fs.readFileSync(path.join(__dirname, "fixtures", "data-transforms.json"), "utf8"));

function img(j: ImgJson): Img {
  return new Image(new Uint8Array(Buffer.from(j.data, "base64")), j.h, j.w, j.c);
}
const input = (name: string): Img => img(fx.inputs[name]);
const crop32x20 = (): Img => Fn.crop(input("smooth"), 0, 6, 32, 20);

/** Exact byte equality, reporting the first difference and the count. */
function assertSameImage(got: Img, want: ImgJson, what: string): void {
  assert.deepEqual(got.shape, [want.h, want.w, want.c], `${what}: shape`);
  const w = Buffer.from(want.data, "base64");
  let diffs = 0;
  let first = -1;
  for (let i = 0; i < w.length; i++) {
    if (got.data[i] !== w[i]) {
      diffs++;
      if (first < 0) first = i;
    }
  }
  assert.equal(
    diffs,
    0,
    `${what}: ${diffs} of ${w.length} bytes differ, first at ${first}: got ${got.data[first]}, torchvision ${w[first]}`,
  );
}

describe("data transforms vs torchvision", () => {
  it("Resize matches PIL resampling byte for byte (up, down with antialias, every filter, gray)", () => {
    for (const c of fx.resize) {
      const out = new T.Resize(c.size, { interpolation: c.interpolation }).forward(input(c.input));
      assertSameImage(out, c.output, `Resize(${JSON.stringify(c.size)}, ${c.interpolation}) of ${c.input}`);
    }
  });

  it("the tutorial's chains Resize + ToTensor + Normalize: max abs error <= 1e-3 on sampled values, sums agree", () => {
    for (const c of fx.chains) {
      const steps = [...(c.resize ? [new T.Resize(c.resize)] : []), new T.ToTensor(), new T.Normalize(c.mean, c.std)];
      const out = new T.Compose(steps).forward(input(c.input)) as InstanceType<typeof FloatImage>;
      assert.ok(out instanceof FloatImage);
      assert.deepEqual(out.shape, c.output.shape);
      let maxErr = 0;
      // the positions the golden script sampled: (k * 7919) mod size
      c.output.values.forEach((v: number, k: number) => (maxErr = Math.max(maxErr, Math.abs(out.data[(k * 7919) % out.data.length] - v))));
      assert.equal(c.output.values.length, 300);
      assert.ok(maxErr <= 1e-3, `${c.name} of ${c.input}: max abs error ${maxErr}`);
      let sum = 0;
      let sumAbs = 0;
      for (const v of out.data) {
        sum += v;
        sumAbs += Math.abs(v);
      }
      // every element within 1e-3 bounds the sums by 1e-3 per element; float32 rounding is far smaller
      assert.ok(Math.abs(sum - c.output.sum) <= 1e-6 * out.data.length, `${c.name}: sum ${sum} vs ${c.output.sum}`);
      assert.ok(Math.abs(sumAbs - c.output.sumAbs) <= 1e-6 * out.data.length, `${c.name}: sumAbs ${sumAbs} vs ${c.output.sumAbs}`);
    }
  });

  it("ToTensor + Normalize equal torch's float32 results (HWC)", () => {
    const n = fx.normalize;
    const out = Fn.normalize(Fn.toTensor(input(n.input)), n.mean, n.std);
    const want = new Float32Array(new Uint8Array(Buffer.from(n.output, "base64")).buffer);
    assert.equal(out.data.length, want.length);
    let maxErr = 0;
    want.forEach((v, i) => (maxErr = Math.max(maxErr, Math.abs(v - out.data[i]))));
    assert.ok(maxErr <= 1e-6, `max abs error ${maxErr}`);
    // Compose runs ToTensor + Normalize as one table lookup: bit-identical to the two steps
    for (const name of ["small", "gray"]) {
      const c = name === "gray" ? 1 : 3;
      const m = c === 3 ? n.mean : [0.286];
      const sd = c === 3 ? n.std : [0.353];
      const fused = new T.Compose([new T.ToTensor(), new T.Normalize(m, sd)]).forward(input(name));
      assert.deepEqual(fused.data, Fn.normalize(Fn.toTensor(input(name)), m, sd).data);
    }
    const t = Fn.toTensor(input("small"));
    assert.ok(t.data.every((v, i) => v === Math.fround(input("small").data[i] / 255)));
  });

  it("flips, crops, padding modes, center crops and Grayscale are exact", () => {
    for (const g of fx.geometry) {
      const x = input(g.input);
      let out: Img;
      switch (g.op) {
        case "hflip":
          out = Fn.hflip(x);
          break;
        case "vflip":
          out = Fn.vflip(x);
          break;
        case "padcrop":
          out = Fn.crop(Fn.pad(x, g.padding), g.top, g.left, g.height, g.width);
          break;
        case "crop":
          out = Fn.crop(x, g.top, g.left, g.height, g.width);
          break;
        case "pad":
          out = Fn.pad(x, g.padding, g.fill, g.mode);
          break;
        case "centerCrop":
          out = new T.CenterCrop(g.size).forward(x);
          break;
        case "grayscale3":
          out = new T.Grayscale(3).forward(x);
          break;
        case "grayscale1":
          out = new T.Grayscale(1).forward(x);
          break;
        default:
          throw new Error(`unknown op ${g.op}`);
      }
      assertSameImage(out, g.output, `${g.op} ${JSON.stringify(g.size ?? g.padding ?? g.mode ?? "")} of ${g.input}`);
    }
  });

  it("RandomCrop(32, padding 4) and RandomHorizontalFlip apply exactly the drawn decision", () => {
    const x = input("smooth");
    const pc = fx.geometry.find((g: { op: string }) => g.op === "padcrop");
    for (let seed = 0; seed < 40; seed++) {
      const [top, left] = data.transforms.RandomCrop.getParams(40, 40, [32, 32], new Generator(seed));
      const out = new T.RandomCrop(32, { padding: 4 }).forward(x, new Generator(seed));
      assert.deepEqual(out.data, Fn.crop(Fn.pad(x, 4), top, left, 32, 32).data);
      if (top === pc.top && left === pc.left) assertSameImage(out, pc.output, "RandomCrop at the golden's window");
      const flip = new Generator(seed).random() < 0.5;
      const f = new T.RandomHorizontalFlip().forward(x, new Generator(seed));
      assert.deepEqual(f.data, flip ? Fn.hflip(x).data : x.data);
    }
    // padIfNeeded pads the shortfall on both sides, as torchvision
    for (let seed = 0; seed < 5; seed++) {
      const [top, left] = data.transforms.RandomCrop.getParams(48, 48, [40, 40], new Generator(seed));
      const out = new T.RandomCrop(40, { padIfNeeded: true, fill: 3 }).forward(x, new Generator(seed));
      assert.deepEqual(out.data, Fn.crop(Fn.pad(Fn.pad(x, [8, 0], 3), [0, 8], 3), top, left, 40, 40).data);
    }
    // p = 0 never flips, p = 1 always does
    assert.deepEqual(new T.RandomHorizontalFlip(0).forward(x, new Generator(1)).data, x.data);
    assertSameImage(new T.RandomHorizontalFlip(1).forward(x, new Generator(1)), fx.geometry[0].output, "p=1");
  });

  it("Compose computes Resize [+ flip] + RandomCrop as one window: the same bytes as step by step", () => {
    const cases: [Img, number | [number, number], number][] = [
      [input("smooth"), 120, 96],
      [input("noise"), [50, 70], 33],
      [input("noise"), 20, 17], // shrinking
      [crop32x20(), 45, 40], // not square: the short edge is scaled
      [input("gray"), 40, 40],
    ];
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    const tails: [string, data.transforms.Transform<any, any>[]][] = [
      ["", []],
      ["ToTensor", [new T.ToTensor()]],
      ["ToTensor+Normalize", [new T.ToTensor(), new T.Normalize(0.5, 0.5)]],
      ["ToTensor+Normalize x2", [new T.ToTensor(), new T.Normalize([0.4914, 0.4822, 0.4465].slice(0, 1), 0.247), new T.Normalize(0.1, 3)]],
    ];
    for (const [x, size, c] of cases) {
      for (const withFlip of [true, false]) {
        for (const withCrop of [true, false]) {
          for (const [tailName, tail] of tails) {
            const steps = [
              new T.Resize(size),
              ...(withFlip ? [new T.RandomHorizontalFlip()] : []),
              ...(withCrop ? [new T.RandomCrop(c)] : []),
              ...tail,
            ];
            const chain = new T.Compose(steps);
            for (let seed = 0; seed < 6; seed++) {
              const g = new Generator(seed);
              let y: Img | InstanceType<typeof FloatImage> = x;
              for (const t of steps) y = t.forward(y, g) as Img;
              const fused = chain.forward(x, new Generator(seed)) as Img;
              assert.deepEqual(fused.shape, y.shape);
              assert.equal(fused.constructor, y.constructor);
              const bytes = (a: Img | InstanceType<typeof FloatImage>): Buffer =>
                Buffer.from(a.data.buffer, a.data.byteOffset, a.data.byteLength);
              assert.ok(bytes(fused).equals(bytes(y)), `size ${size} crop ${withCrop && c} flip ${withFlip} ${tailName} seed ${seed}`);
            }
          }
        }
      }
    }
    // the fusion happened (one step left), and a Resize to the same height (no vertical pass) fuses too
    const planOf = (c: unknown): unknown[] => (c as { plan: unknown[] }).plan;
    assert.equal(planOf(new T.Compose([new T.Resize(120), new T.RandomHorizontalFlip(), new T.RandomCrop(96)])).length, 1);
    assert.equal(planOf(new T.Compose([new T.Resize(96), new T.ToTensor(), new T.Normalize(0.5, 0.5)])).length, 1);
    assert.equal(planOf(new T.Compose([new T.Resize(96, { interpolation: "nearest" }), new T.ToTensor()])).length, 2);
    const same = new T.Compose([new T.Resize([32, 40]), new T.ToTensor(), new T.Normalize(0.5, 0.5)]).forward(input("smooth"));
    assert.deepEqual(same.data, Fn.normalize(Fn.toTensor(Fn.resize(input("smooth"), [32, 40])), 0.5, 0.5).data);
  });

  it("RandomCrop positions are uniform over all windows", () => {
    const counts = new Map<string, number>();
    const g = new Generator(7);
    const n = 9000;
    for (let i = 0; i < n; i++) {
      const [t, l] = data.transforms.RandomCrop.getParams(34, 34, [32, 32], g);
      counts.set(`${t},${l}`, (counts.get(`${t},${l}`) ?? 0) + 1);
    }
    assert.equal(counts.size, 9);
    for (const c of counts.values()) assert.ok(Math.abs(c - n / 9) < 5 * Math.sqrt(n / 9), `count ${c}`);
  });

  it("brightness, contrast, saturation and hue match PIL for given factors", () => {
    for (const c of fx.color) {
      const x = input(c.input);
      let out: Img;
      switch (c.op) {
        case "brightness":
          out = Fn.adjustBrightness(x, c.factor);
          break;
        case "contrast":
          out = Fn.adjustContrast(x, c.factor);
          break;
        case "saturation":
          out = Fn.adjustSaturation(x, c.factor);
          break;
        case "hue":
          out = Fn.adjustHue(x, c.factor);
          break;
        case "jitter":
          out = T.ColorJitter.apply(x, {
            order: c.order,
            brightness: c.brightness ?? undefined,
            contrast: c.contrast ?? undefined,
            saturation: c.saturation ?? undefined,
            hue: c.hue ?? undefined,
          });
          break;
        default:
          throw new Error(`unknown op ${c.op}`);
      }
      assertSameImage(out, c.output, `${c.op}(${c.factor ?? c.order}) of ${c.input}`);
    }
  });

  it("adjustHue's lookup tables equal the direct per-pixel formulas (Convert.c) on 200k random colours", () => {
    const f32 = Math.fround;
    const clip = (v: number): number => (v <= 0 ? 0 : v < 256 ? v : 255);
    // a plain port of rgb2hsv / hsv2rgb, the reference the golden-checked tables must reproduce
    const direct = (r: number, g: number, b: number, shift: number): number[] => {
      const maxc = Math.max(r, g, b);
      const minc = Math.min(r, g, b);
      let uh = 0;
      let us = 0;
      if (minc !== maxc) {
        const cr = maxc - minc;
        const s = f32(cr / maxc);
        const rc = f32((maxc - r) / cr);
        const gc = f32((maxc - g) / cr);
        const bc = f32((maxc - b) / cr);
        let h = r === maxc ? f32(bc - gc) : g === maxc ? f32(2 + rc - bc) : f32(4 + gc - rc);
        h = f32((h / 6 + 1) % 1);
        uh = clip(Math.trunc(h * 255));
        us = clip(Math.trunc(s * 255));
      }
      const v = maxc;
      if (us === 0) return [v, v, v];
      const hh = (uh + shift) & 255;
      const i = Math.floor((hh * 6) / 255);
      const f = f32((hh * 6) / 255 - i);
      const fs = f32(us / 255);
      const p = clip(Math.round(v * (1 - fs)));
      const q = clip(Math.round(v * (1 - f32(fs * f))));
      const t = clip(Math.round(v * (1 - fs * (1 - f))));
      return [
        [v, t, p],
        [q, v, p],
        [p, v, t],
        [p, q, v],
        [t, p, v],
        [v, p, q],
      ][i % 6];
    };
    const g = new Generator(99);
    const n = 200_000;
    const px = new Uint8Array(n * 3);
    for (let i = 0; i < px.length; i++) px[i] = g.random() < 0.2 ? [0, 255, 128][g.randint(0, 3)] : g.randint(0, 256);
    for (const factor of [-0.5, -0.2, 0.37]) {
      const out = Fn.adjustHue(new Image(px, 1, n, 3), factor).data;
      const shift = ((Math.trunc(factor * 255) % 256) + 256) % 256;
      for (let k = 0; k < n; k++) {
        const want = direct(px[3 * k], px[3 * k + 1], px[3 * k + 2], shift);
        if (out[3 * k] !== want[0] || out[3 * k + 1] !== want[1] || out[3 * k + 2] !== want[2]) {
          assert.fail(
            `factor ${factor}: rgb ${Array.from(px.subarray(3 * k, 3 * k + 3))} gave ${Array.from(out.subarray(3 * k, 3 * k + 3))}, formula ${want}`,
          );
        }
      }
    }
  });

  it("ColorJitter(0.5, 0.5, hue 0.5): output statistics agree with torchvision's over 400 draws", () => {
    const s = fx.jitterStats;
    const jit = new T.ColorJitter({ brightness: s.brightness, contrast: s.contrast, hue: s.hue });
    const x = input(s.input);
    const means: number[] = [];
    const stds: number[] = [];
    const chan: number[][] = [[], [], []];
    for (let seed = 0; seed < s.n; seed++) {
      const d = jit.forward(x, new Generator(seed)).data;
      let sum = 0;
      let sq = 0;
      const cs = [0, 0, 0];
      d.forEach((v, i) => {
        sum += v;
        sq += v * v;
        cs[i % 3] += v;
      });
      const m = sum / d.length;
      means.push(m);
      stds.push(Math.sqrt(sq / d.length - m * m));
      cs.forEach((v, k) => chan[k].push(v / (d.length / 3)));
    }
    const mean = (a: number[]): number => a.reduce((p, q) => p + q, 0) / a.length;
    const variance = (a: number[]): number => mean(a.map((v) => (v - mean(a)) ** 2));
    // two independent samples of n: the difference of means has sd sqrt(v1/n + v2/n); allow 4 sd
    const close = (ours: number[], theirMean: number, theirVar: number, what: string): void => {
      const tol = 4 * Math.sqrt(variance(ours) / s.n + theirVar / s.n);
      assert.ok(
        Math.abs(mean(ours) - theirMean) <= tol,
        `${what}: ${mean(ours).toFixed(2)} vs torchvision ${theirMean.toFixed(2)} (tol ${tol.toFixed(2)})`,
      );
    };
    close(means, s.meanOfMean, s.varOfMean, "mean pixel value");
    close(stds, s.meanOfStd, s.varOfStd, "pixel standard deviation");
    for (let k = 0; k < 3; k++) close(chan[k], s.channelMean[k], s.channelVar[k], `channel ${k} mean`);
    // the spread itself is alike (ratio of variances within a factor 1.5 for n = 400)
    const r = variance(means) / s.varOfMean;
    assert.ok(r > 1 / 1.5 && r < 1.5, `variance ratio ${r}`);
  });

  it("ColorJitter draws: order is a permutation, factors uniform on their ranges", () => {
    const jit = new T.ColorJitter({ brightness: 0.5, contrast: [0.2, 0.9], saturation: 0, hue: 0.5 });
    assert.deepEqual(jit.brightness, [0.5, 1.5]);
    assert.equal(jit.saturation, undefined); // 0 means "leave alone", as torchvision
    const g = new Generator(3);
    const b: number[] = [];
    const h: number[] = [];
    for (let i = 0; i < 4000; i++) {
      const p = jit.getParams(g);
      assert.deepEqual([...p.order].sort(), [0, 1, 2, 3]);
      assert.equal(p.saturation, undefined);
      assert.ok((p.contrast as number) >= 0.2 && (p.contrast as number) < 0.9);
      b.push(p.brightness as number);
      h.push(p.hue as number);
    }
    const m = (a: number[]): number => a.reduce((p, q) => p + q, 0) / a.length;
    assert.ok(Math.min(...b) >= 0.5 && Math.max(...b) < 1.5);
    assert.ok(Math.abs(m(b) - 1) < 0.02 && Math.abs(m(h)) < 0.02);
    // uniform on [-0.5, 0.5]: variance 1/12
    assert.ok(Math.abs(m(h.map((v) => v * v)) - 1 / 12) < 0.005);
  });

  it("the tutorial's augmentation chain: seeded, reproducible, shape 96x96x3, values in [-1, 1]", () => {
    const train = new T.Compose([
      new T.Resize(120),
      new T.RandomHorizontalFlip(),
      new T.RandomCrop(96),
      new T.ColorJitter({ brightness: 0.5, contrast: 0.5, hue: 0.5 }),
      new T.ToTensor(),
      new T.Normalize([0.5, 0.5, 0.5], [0.5, 0.5, 0.5]),
    ]);
    const x = input("smooth");
    const a = train.forward(x, new Generator(11));
    const b = train.forward(x, new Generator(11));
    const c = train.forward(x, new Generator(12));
    assert.deepEqual(a.shape, [96, 96, 3]);
    assert.deepEqual(a.data, b.data);
    assert.notDeepEqual(a.data, c.data);
    assert.ok(a.data.every((v) => v >= -1 && v <= 1));
    assert.deepEqual(x.data, input("smooth").data, "the input is left intact");
    assert.match(String(train), /Resize\(size=120.*\n.*RandomHorizontalFlip/);
  });

  it("bad arguments give errors naming the value and what is accepted", () => {
    assert.throws(() => new T.Resize(0), /Resize size must be a positive integer or \[height, width\].*got 0/);
    assert.throws(() => new T.Resize(96, { interpolation: "cubic" as never }), /"cubic" is not one of nearest, bilinear/);
    assert.throws(() => new T.ColorJitter({ hue: 0.6 }), /hue range \[-0.6,0.6\] must lie within \[-0.5,0.5\]/);
    assert.throws(() => new T.ColorJitter({ brightness: -1 }), /brightness must be a non-negative number.*got -1/);
    assert.throws(() => new T.Normalize([0.5, 0.5], [0.5, 0]), /std \[0.5,0\] has a zero \(division by zero\); every std must be non-zero/);
    assert.throws(() => new T.Normalize([0.5, 0.5, 0.5], [0.5, 0.5]), /std must be one number or one per channel \(3\), got \[0.5,0.5\]/);
    assert.throws(() => new T.RandomVerticalFlip(-0.1), /RandomVerticalFlip p must be a probability in \[0, 1\], got -0.1/);
    assert.throws(
      () => new T.Normalize([0.5, 0.5], [1, 1]).forward(Fn.toTensor(input("smooth"))),
      /mean must be one number or one per channel \(3\), got \[0.5,0.5\]/,
    );
    assert.throws(
      () => new T.RandomCrop(40).forward(input("smooth"), new Generator(0)),
      /RandomCrop size 40x40 is larger than the \(padded\) image 32x32/,
    );
    assert.throws(
      () => new T.Resize(10).forward(Fn.toTensor(input("smooth"))),
      /resize expects an Image \(uint8 HWC\), got FloatImage\(32x32x3\).*put it before ToTensor/,
    );
    assert.throws(() => new T.Normalize(0.5, 0.5).forward(input("smooth") as never), /put ToTensor before normalize/);
    assert.throws(() => new T.Compose([new T.ToTensor(), 3 as never]), /Compose item 1 is number/);
    assert.throws(() => new T.RandomHorizontalFlip(2), /p must be a probability in \[0, 1\], got 2/);
    assert.throws(() => Fn.pad(input("small"), [20, 0], 0, "reflect"), /reflect padding/);
  });
});
