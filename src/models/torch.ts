// Load a PyTorch state_dict (exported as plain arrays) into a tfjs model whose layer names are the module names.
import * as tf from "@tensorflow/tfjs";

/** One exported tensor: its PyTorch shape and its values in PyTorch's (C-order) layout. */
export interface TorchTensor {
  shape: number[];
  data: ArrayLike<number>;
}

/**
 * A state_dict as exported from Python, e.g.
 * `{k: {"shape": list(v.shape), "data": v.flatten().tolist()} for k, v in net.state_dict().items()}`.
 */
export type TorchStateDict = Record<string, TorchTensor>;

export interface LoadTorchOptions {
  /** As torch's load_state_dict(strict): every key must match a weight and every weight must be given (default true). */
  strict?: boolean;
}

type LayerVar = tf.LayerVariable & { originalName: string };

/** PyTorch parameter name -> the tfjs weight name of each layer class. */
const NAME_MAP: Record<string, Record<string, string>> = {
  Conv2D: { weight: "kernel", bias: "bias" },
  Dense: { weight: "kernel", bias: "bias" },
  TsdlBatchNorm2d: { weight: "weight", bias: "bias", running_mean: "running_mean", running_var: "running_var" },
  BatchNormalization: { weight: "gamma", bias: "beta", running_mean: "moving_mean", running_var: "moving_variance" },
};

function shapeStr(s: ArrayLike<number | null>): string {
  return `[${Array.from(s).join(", ")}]`;
}

/** [H, W, C] of the feature map a Dense layer's input was flattened from, when it was a map bigger than 1×1. */
function flattenedFrom(layer: tf.layers.Layer): [number, number, number] | undefined {
  type Node = { inboundLayers: tf.layers.Layer[]; inputShapes: tf.Shape | tf.Shape[] };
  const nodes = (l: tf.layers.Layer) => (l as unknown as { inboundNodes: Node[] }).inboundNodes;
  const prev = nodes(layer)[0]?.inboundLayers[0];
  if (!prev || !["Flatten", "Reshape"].includes(prev.getClassName())) return undefined;
  const shapes = nodes(prev)[0]?.inputShapes;
  const s = (Array.isArray(shapes?.[0]) ? shapes[0] : shapes) as (number | null)[] | undefined;
  if (!s || s.length !== 4 || s[1] == null || s[2] == null || s[3] == null) return undefined;
  return s[1] * s[2] > 1 ? [s[1], s[2], s[3]] : undefined;
}

/** PyTorch layout -> tfjs layout for one weight (a new tensor; nothing else stays allocated, also when it throws). */
function convert(layer: tf.layers.Layer, param: string, t: TorchTensor, key: string): tf.Tensor {
  const cls = layer.getClassName();
  return tf.tidy(() => {
    const x = tf.tensor(Float32Array.from(t.data), t.shape, "float32");
    if (param !== "weight") return x;
    if (cls === "Conv2D") {
      if (t.shape.length !== 4)
        throw new Error(`loadTorchStateDict: ${key} should be a 4-D conv weight [out, in, kh, kw], got ${shapeStr(t.shape)}`);
      return tf.transpose(x, [2, 3, 1, 0]); // [out, in, kh, kw] -> [kh, kw, in, out]
    }
    if (cls === "Dense") {
      if (t.shape.length !== 2)
        throw new Error(`loadTorchStateDict: ${key} should be a 2-D linear weight [out, in], got ${shapeStr(t.shape)}`);
      const map = flattenedFrom(layer);
      let w: tf.Tensor = x; // [out, in]
      if (map) {
        // PyTorch flattened an NCHW map (index c·H·W + h·W + w); tfjs flattens NHWC (h·W·C + w·C + c).
        const [h, wd, c] = map;
        w = tf.reshape(tf.transpose(tf.reshape(w, [t.shape[0], c, h, wd]), [0, 2, 3, 1]), [t.shape[0], h * wd * c]);
      }
      return tf.transpose(w); // [out, in] -> [in, out]
    }
    return x;
  });
}

/**
 * Copy a PyTorch state_dict into `model`: key "block2.1.conv1.weight" goes to layer "block2.1.conv1". Conv weights
 * are transposed to [kh, kw, in, out], Linear weights to [in, out] (with the NCHW→NHWC column permutation when the
 * Linear follows a Flatten of a map larger than 1×1); BatchNorm weight/bias/running_mean/running_var go to
 * nn.BatchNorm2d or tfjs batchNormalization weights; num_batches_tracked is ignored. Nothing is written unless
 * every key converts, so a failed load leaves the model as it was.
 */
export function loadTorchStateDict(model: tf.LayersModel, stateDict: TorchStateDict, opts: LoadTorchOptions = {}): void {
  const strict = opts.strict ?? true;
  const writes: Array<[LayerVar, tf.Tensor]> = [];
  const seen = new Set<LayerVar>();
  const unexpected: string[] = [];
  try {
    for (const [key, t] of Object.entries(stateDict)) {
      if (key.endsWith("num_batches_tracked")) continue;
      const dot = key.lastIndexOf(".");
      const layerName = key.slice(0, dot);
      const param = key.slice(dot + 1);
      const layer = model.layers.find((l) => l.name === layerName);
      const tfName = layer ? NAME_MAP[layer.getClassName()]?.[param] : undefined;
      const v = layer && tfName ? (layer.weights as LayerVar[]).find((w) => w.originalName.endsWith(`/${tfName}`)) : undefined;
      if (!layer || !v) {
        unexpected.push(key);
        continue;
      }
      const value = convert(layer, param, t, key);
      writes.push([v, value]);
      if (value.shape.length !== v.shape.length || value.shape.some((d, i) => d !== v.shape[i])) {
        throw new Error(
          `loadTorchStateDict: ${key} has PyTorch shape ${shapeStr(t.shape)} (${shapeStr(value.shape)} in tfjs layout) ` +
            `but ${v.originalName} has shape ${shapeStr(v.shape)}`,
        );
      }
      seen.add(v);
    }
    const missing = model.weights.filter((w) => !seen.has(w as LayerVar)).map((w) => (w as LayerVar).originalName);
    if (strict && (unexpected.length || missing.length)) {
      throw new Error(
        "loadTorchStateDict: the state_dict does not match the model" +
          (unexpected.length ? `; unexpected keys (no layer/weight of that name): ${unexpected.join(", ")}` : "") +
          (missing.length ? `; model weights not in the state_dict: ${missing.join(", ")}` : "") +
          ". Layer names must be the PyTorch module names (pass { strict: false } to load a subset).",
      );
    }
    for (const [v, value] of writes) v.write(value);
  } finally {
    tf.dispose(writes.map(([, t]) => t));
  }
}
