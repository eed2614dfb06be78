// The base of every tsdl optimizer: PyTorch's param groups and per-parameter state on top of tf.Optimizer,
// so one object serves a manual loop (backward/step/zeroGrad), minimize(), and model.compile + model.fit.
import * as util from "util";
import * as tf from "@tensorflow/tfjs";
import { describe } from "../core/check";
import { SCHEDULER_KEYS } from "../core/protocols";
import { escapeHtml, JUPYTER_DISPLAY, MimeBundle } from "../display";
import { AnyHyper, BaseHyper, checkValues, GROUP_EXTRA_KEYS, rejectUnknownKeys, Specs } from "./options";
import { checkNoDuplicates, collectVariables, isGroupInput, ParamGroup, ParamGroupInput, ParamList, ParamSource, plural } from "./params";
import { decodeState, encodeState, OptimizerStateDict, ParamState } from "./stateDict";
import { groupTable, tableBundle, tableText } from "./table";

export type { ParamState };

/** What an optimizer is built from: a model/layer, variables, or a list of group objects. */
export type ParamsInput<H extends BaseHyper = AnyHyper> = ParamSource | ReadonlyArray<ParamGroupInput<H>>;

/** tfjs's `{ name, tensor }` pair (not re-exported by @tensorflow/tfjs). */
export interface NamedTensor {
  name: string;
  tensor: tf.Tensor;
}

/** One parameter of updateMany(): its gradient (float32), its step count and its buffers (updated in place). */
export interface UpdateItem {
  p: tf.Variable;
  grad: tf.Tensor;
  step: number;
  buffers: Record<string, tf.Tensor>;
}

/** Gradients for `step()`: keyed by variable name (what `tf.variableGrads(f).grads` returns) or by variable. */
export type GradsInput = tf.NamedTensorMap | Map<tf.Variable, tf.Tensor> | NamedTensor[];

/** Passed by `fromConfig` (model deserialization): the optimizer adopts the variables of its first update. */
const DEFERRED = Symbol("tsdl.optim.deferredParams");

/** `opt.paramGroups`: an array of plain group objects that shows as a table. */
export class ParamGroups<H extends BaseHyper = AnyHyper> extends Array<ParamGroup<H>> {
  static override get [Symbol.species](): ArrayConstructor {
    return Array;
  }
  [JUPYTER_DISPLAY](): MimeBundle {
    return tableBundle(ownerOf(this).table());
  }
  [util.inspect.custom](): string {
    return tableText(ownerOf(this).table());
  }
}

const OWNER = Symbol("tsdl.optim.owner");
function ownerOf(groups: ParamGroups<BaseHyper>): Optimizer<BaseHyper> {
  return (groups as unknown as Record<symbol, Optimizer<BaseHyper>>)[OWNER];
}

/** Prototype of every group object: how a group prints (names and shapes, never tensor data). */
const GROUP_PROTO = {
  [util.inspect.custom](this: ParamGroup<BaseHyper>, _depth: number, options: util.InspectOptions): string {
    const { params, ...rest } = this;
    const list = params instanceof ParamList ? params : ParamList.from(params ?? []);
    return `ParamGroup ${util.inspect({ params: list, ...rest }, { ...options, depth: 2 })}`;
  },
  [JUPYTER_DISPLAY](this: ParamGroup<BaseHyper>): MimeBundle {
    const text = util.inspect(this, { colors: false, breakLength: 100 });
    return { "text/html": `<pre>${escapeHtml(text)}</pre>`, "text/plain": text };
  },
};

/**
 * Base class of SGD, Adam, AdamW, RMSprop and Adagrad. Extends `tf.Optimizer`, so it can be passed to
 * `model.compile({ optimizer })`.
 *
 * Three ways to train with it:
 * - PyTorch's manual loop: `opt.zeroGrad(); const loss = opt.backward(() => lossFn()); opt.step();`
 *   `backward` adds d(loss)/d(param) into the optimizer's gradient accumulator (PyTorch's `.grad`), `step()`
 *   without argument applies the accumulated gradients, `zeroGrad()` clears them. As in PyTorch, forgetting
 *   `zeroGrad()` accumulates gradients over several `backward` calls.
 * - Explicit gradients: `const { value, grads } = tf.variableGrads(f); opt.step(grads);` (the caller keeps
 *   ownership of `grads`; the accumulator is neither read nor changed).
 * - `opt.minimize(f)` (tfjs style) and `model.fit` (calls `minimize` / `applyGradients`).
 *
 * Hyperparameters live in `paramGroups` and are read again at every step. State is kept per variable.
 */
export abstract class Optimizer<H extends BaseHyper = AnyHyper> extends tf.Optimizer {
  /** The options given to the constructor, completed with PyTorch's defaults; new groups take missing keys from here. */
  readonly defaults: H;
  /** The parameter groups: plain, editable objects (`params`, `lr`, `weightDecay`, ...). */
  readonly paramGroups: ParamGroups<H>;

  private readonly specs: Specs<H>;
  private readonly kind: string;
  private readonly state_ = new Map<tf.Variable, ParamState>();
  private readonly grads_ = new Map<tf.Variable, tf.Tensor>();
  private deferred: boolean;

  protected constructor(kind: string, params: ParamsInput<H> | typeof DEFERRED, options: Partial<H>, specs: Specs<H>, baseDefaults: H) {
    super();
    this.kind = kind;
    this.specs = specs;
    if (options === null || typeof options !== "object" || Array.isArray(options))
      throw new Error(`${kind}: options must be an object such as { lr: 0.01 }, got ${describe(options)}`);
    rejectUnknownKeys(options, this.hyperKeys, kind);
    const defaults = { ...baseDefaults } as H;
    for (const [k, v] of Object.entries(options)) if (v !== undefined) (defaults as Record<string, unknown>)[k] = cloneValue(v);
    checkValues(defaults, specs, kind);
    this.checkGroup(defaults, kind);
    this.defaults = defaults;
    this.paramGroups = new ParamGroups<H>();
    Object.defineProperty(this.paramGroups, OWNER, { value: this, enumerable: false });
    this.deferred = params === DEFERRED;
    if (params === DEFERRED) return;

    const list = Array.isArray(params) ? (params as unknown[]) : undefined;
    if (list && list.length === 0) throw new Error(`${kind}: got an empty parameter list`);
    const groups = list && list.some(isGroupInput) ? list : [{ params: params as ParamSource }];
    groups.forEach((g, i) => {
      if (!isGroupInput(g))
        throw new Error(`${kind}: params[${i}] is ${describe(g)}; a list of groups must hold only { params, ... } objects`);
      this.addParamGroup(g as ParamGroupInput<H>);
    });
  }

  /** Names of the per-parameter buffers `update` keeps (checked when a state dict is loaded); undefined: any. */
  protected get bufferNames(): readonly string[] | undefined {
    return undefined;
  }

  /** Names of this optimizer's hyperparameters, in PyTorch's order. */
  get hyperKeys(): string[] {
    return Object.keys(this.specs);
  }

  /** How many times step() / minimize() / applyGradients() has updated the parameters. */
  get stepCount(): number {
    return this.iterations;
  }

  /** Per-variable state (step count and buffers). Read-only: do not dispose these tensors. */
  get state(): ReadonlyMap<tf.Variable, Readonly<ParamState>> {
    return this.state_;
  }

  /** Gradients accumulated by `backward()` since the last `zeroGrad()` (PyTorch's `p.grad`). */
  get grads(): ReadonlyMap<tf.Variable, tf.Tensor> {
    return this.grads_;
  }

  /** Every variable of every group, in group order. */
  params(): tf.Variable[] {
    return this.paramGroups.flatMap((g) => [...g.params]);
  }

  /** Cross-field checks (e.g. nesterov needs momentum); throws with `where` in the message. */
  protected checkGroup(_h: H, _where: string): void {}

  /**
   * The update rule: returns the new value of `p` for gradient `grad`, reading and replacing entries of
   * `buffers` (new tensors only; the base class disposes the ones replaced). Runs inside tf.tidy.
   */
  protected abstract update(p: tf.Variable, grad: tf.Tensor, group: H, step: number, buffers: Record<string, tf.Tensor>): tf.Tensor;

  /**
   * All the parameters of one group at once, as PyTorch's foreach implementations (one kernel over many tensors
   * where the backend has one): the new values in the order of `items`, each item's `buffers` updated as update()
   * does, or undefined to update them one by one. Runs inside tf.tidy. The base class has none.
   */
  protected updateMany(_items: UpdateItem[], _group: H): tf.Tensor[] | undefined {
    return undefined;
  }

  /**
   * Adds a group, like PyTorch's `add_param_group`: missing hyperparameters come from `defaults`; a
   * variable already in a group is an error. Nothing changes when it throws.
   */
  addParamGroup(group: ParamGroupInput<H>): ParamGroup<H> {
    const where = `${this.kind}.addParamGroup`;
    if (!isGroupInput(group)) throw new Error(`${where}: expected an object { params, lr?, ... }, got ${describe(group)}`);
    rejectUnknownKeys(group, [...GROUP_EXTRA_KEYS, ...this.hyperKeys], where);
    const vars = collectVariables(group.params, where);
    checkNoDuplicates(vars, this.paramGroups, where);
    const g = Object.create(GROUP_PROTO) as ParamGroup<H>;
    const rec = g as Record<string, unknown>;
    g.params = ParamList.from(vars) as ParamList;
    if (group.name !== undefined) rec.name = group.name;
    const given = group as Record<string, unknown>;
    for (const k of this.hyperKeys)
      rec[k] = given[k] !== undefined ? cloneValue(given[k]) : cloneValue((this.defaults as Record<string, unknown>)[k]);
    for (const k of SCHEDULER_KEYS) if (given[k] !== undefined) rec[k] = given[k];
    const at = `${this.kind}: paramGroups[${this.paramGroups.length}]`;
    checkValues(g, this.specs, at);
    this.checkGroup(g, at);
    this.paramGroups.push(g);
    return g;
  }

  /**
   * PyTorch's `loss.backward()` for this optimizer's parameters: runs `lossFn`, adds the gradient of its
   * result into `grads` (accumulating, like `.grad`), and returns the loss (the caller disposes it).
   */
  backward(lossFn: () => tf.Scalar): tf.Scalar {
    if (typeof lossFn !== "function")
      throw new Error(`${this.kind}.backward: expected a function returning the loss, got ${describe(lossFn)}`);
    const vars = this.params().filter((v) => v.trainable);
    if (vars.length === 0) throw new Error(`${this.kind}.backward: no trainable parameters in this optimizer's groups`);
    const { value, grads } = tf.variableGrads(lossFn, vars);
    for (const v of vars) {
      const g = grads[v.name];
      if (!g) continue;
      const old = this.grads_.get(v);
      if (old) {
        this.grads_.set(v, tf.keep(tf.add(old, g)));
        old.dispose();
        g.dispose();
      } else this.grads_.set(v, tf.keep(g));
    }
    return value;
  }

  /** Clears the gradients accumulated by `backward()` (PyTorch's `zero_grad()`, set_to_none). */
  zeroGrad(): void {
    for (const g of this.grads_.values()) g.dispose();
    this.grads_.clear();
  }

  /**
   * One update. Without argument, applies the gradients accumulated by `backward()`; with `grads` (keyed by
   * variable name or by variable), applies those (the caller keeps and disposes them). Variables without a
   * gradient are skipped, as PyTorch skips `p.grad is None`. Gradients of variables outside the groups
   * are ignored. Nothing is updated when it throws.
   */
  step(grads?: GradsInput): void {
    if (grads === undefined) {
      if (this.grads_.size === 0)
        throw new Error(
          `${this.kind}.step: no gradients. Call opt.backward(() => loss) first (after opt.zeroGrad()), ` +
            `or pass them: opt.step(tf.variableGrads(f).grads)`,
        );
      this.apply(this.grads_, "step");
    } else this.apply(this.toMap(grads, "step"), "step");
  }

  /** tfjs's minimize: gradients of `f` for this optimizer's parameters (or `varList`), then one update. */
  override minimize(f: () => tf.Scalar, returnCost = false, varList?: tf.Variable[]): tf.Scalar | null {
    // model.fit passes every trainable weight of the model; differentiate only those this optimizer updates.
    const ours = new Set(this.params());
    const candidates = varList === undefined ? [...ours] : this.deferred && ours.size === 0 ? varList : varList.filter((v) => ours.has(v));
    const vars = candidates.filter((v) => v.trainable);
    if (vars.length === 0)
      throw new Error(
        `${this.kind}.minimize: no trainable parameter of this optimizer to optimize` +
          (varList
            ? ` among the ${varList.length} variables given (${varList
                .slice(0, 3)
                .map((v) => v.name)
                .join(", ")}${varList.length > 3 ? ", ..." : ""})`
            : ""),
      );
    const { value, grads } = tf.variableGrads(f, vars);
    try {
      this.apply(this.toMap(grads, "minimize"), "minimize");
    } finally {
      tf.dispose(grads);
    }
    if (returnCost) return value;
    value.dispose();
    return null;
  }

  /** tfjs's entry point (used by `model.fit`): gradients keyed by variable name. */
  override applyGradients(variableGradients: tf.NamedTensorMap | NamedTensor[]): void {
    this.apply(this.toMap(variableGradients, "applyGradients"), "applyGradients");
  }

  private toMap(grads: GradsInput, where: string): Map<tf.Variable, tf.Tensor> {
    const at = `${this.kind}.${where}`;
    if (grads instanceof Map) return grads;
    if (typeof grads === "function")
      throw new Error(
        `${at}: got a function; PyTorch's step(closure) is opt.minimize(lossFn) here (or opt.backward(lossFn) then opt.step())`,
      );
    if (grads === null || typeof grads !== "object")
      throw new Error(`${at}: expected gradients keyed by variable name (tf.variableGrads(f).grads) or a Map, got ${describe(grads)}`);
    const g = grads as Record<string, unknown>;
    if ("grads" in g && "value" in g && !(g.grads instanceof tf.Tensor))
      throw new Error(`${at}: got the whole result of tf.variableGrads; pass its .grads`);
    const byName = new Map<string, tf.Variable>();
    for (const v of this.params()) byName.set(v.name, v);
    const out = new Map<tf.Variable, tf.Tensor>();
    const entries: Array<[string, unknown]> = Array.isArray(grads)
      ? (grads as NamedTensor[]).map((n) => [n?.name, n?.tensor])
      : Object.entries(grads as tf.NamedTensorMap);
    const unknown: string[] = [];
    for (const [name, t] of entries) {
      if (t === null || t === undefined) continue;
      if (!(t instanceof tf.Tensor)) throw new Error(`${at}: the gradient for ${JSON.stringify(name)} is ${describe(t)}, not a tf.Tensor`);
      const v = byName.get(name) ?? (this.deferred ? tf.engine().registeredVariables[name] : undefined);
      if (v) out.set(v, t);
      else unknown.push(name);
    }
    if (out.size === 0 && unknown.length > 0)
      throw new Error(
        `${at}: none of the gradients is for a parameter of this optimizer: got ${unknown.slice(0, 5).join(", ")}` +
          `${unknown.length > 5 ? ", ..." : ""}; parameters: ${[...byName.keys()].slice(0, 5).join(", ")}${byName.size > 5 ? ", ..." : ""}`,
      );
    return out;
  }

  /** Checks everything, then updates every parameter that has a gradient. */
  private apply(grads: ReadonlyMap<tf.Variable, tf.Tensor>, where: string): void {
    const at = `${this.kind}.${where}`;
    if (this.deferred && this.paramGroups.length === 0) {
      this.addParamGroup({ params: [...grads.keys()] } as unknown as ParamGroupInput<H>);
      this.deferred = false;
    }
    const work: Array<[tf.Variable, tf.Tensor, ParamGroup<H>]> = [];
    this.paramGroups.forEach((group, i) => {
      const gat = `${this.kind}: paramGroups[${i}]`;
      checkValues(group, this.specs, gat);
      this.checkGroup(group, gat);
      for (const v of group.params) {
        const g = grads.get(v);
        if (!g) continue;
        if (!(g instanceof tf.Tensor)) throw new Error(`${at}: the gradient of ${v.name} is ${describe(g)}, not a tf.Tensor`);
        if (v.isDisposed) throw new Error(`${at}: parameter ${v.name} is disposed`);
        if (g.isDisposed) throw new Error(`${at}: the gradient of ${v.name} is disposed`);
        if (!tf.util.arraysEqual(g.shape, v.shape))
          throw new Error(`${at}: the gradient of ${v.name} has shape [${g.shape}], the parameter [${v.shape}]`);
        work.push([v, g, group]);
      }
    });
    if (work.length === 0) throw new Error(`${at}: none of the gradients is for a parameter of this optimizer`);
    this.scalars = new Map();
    try {
      this.applyEach(work);
    } finally {
      for (const s of this.scalars.values()) s.dispose();
      this.scalars = undefined;
    }
    this.incrementIterations();
  }

  private scalars?: Map<number, tf.Scalar>;

  /**
   * A float32 scalar tensor for `x`, shared by every parameter of the current step: passing a plain number
   * to an op makes a new scalar per op, which costs more than the op itself on wasm for small tensors.
   */
  protected scalar(x: number): tf.Scalar {
    if (!this.scalars) return tf.scalar(x);
    let s = this.scalars.get(x);
    if (!s) this.scalars.set(x, (s = tf.keep(tf.scalar(x))));
    return s;
  }

  private applyEach(work: Array<[tf.Variable, tf.Tensor, ParamGroup<H>]>): void {
    const byGroup = new Map<ParamGroup<H>, Array<[tf.Variable, tf.Tensor]>>();
    for (const [v, g, group] of work) {
      if (!byGroup.has(group)) byGroup.set(group, []);
      byGroup.get(group)!.push([v, g]);
    }
    for (const [group, pairs] of byGroup) {
      const entries = pairs.map(([v, g]) => {
        const st = this.state_.get(v) ?? { step: 0, buffers: {} };
        return { v, g, old: st.buffers, next: { ...st.buffers } as Record<string, tf.Tensor>, step: st.step + 1 };
      });
      const float32 = (g: tf.Tensor) => (g.dtype === "float32" ? g : tf.cast(g, "float32"));
      const together = tf.tidy(() => {
        const values = this.updateMany(
          entries.map((e) => ({ p: e.v, grad: float32(e.g), step: e.step, buffers: e.next })),
          group,
        );
        if (!values) return false;
        values.forEach((t, i) => entries[i].v.assign(t));
        return entries.flatMap((e) => Object.values(e.next)); // kept: the new buffers
      });
      for (const e of entries) {
        if (!together) {
          // one by one; the buffers tidy() returns survive it
          const kept = tf.tidy(() => {
            e.v.assign(this.update(e.v, float32(e.g), group, e.step, e.next));
            return e.next;
          });
          e.next = kept;
        }
        // keep(): apply() may run inside the caller's tidy (model.fit does), which must not free the state.
        for (const k of Object.keys(e.next)) if (e.old[k] !== e.next[k]) tf.keep(e.next[k]);
        for (const k of Object.keys(e.old)) if (e.old[k] !== e.next[k]) e.old[k].dispose();
        this.state_.set(e.v, { step: e.step, buffers: e.next });
      }
    }
  }

  /** One row per group: the table shown in notebooks and by console.log. */
  table() {
    const n = this.paramGroups.length;
    let tensors = 0;
    let numel = 0;
    for (const g of this.paramGroups) for (const v of g.params) (tensors++, (numel += v.size));
    const caption = `${this.kind}: ${plural(n, "param group")}, ${plural(tensors, "tensor")}, ${plural(numel, "parameter")}, step ${this.stepCount}`;
    return groupTable(caption, this.paramGroups, this.hyperKeys);
  }

  [JUPYTER_DISPLAY](): MimeBundle {
    return tableBundle(this.table());
  }

  [util.inspect.custom](): string {
    return tableText(this.table());
  }

  /** Hyperparameters of every group and the state tensors, as JSON (see OptimizerStateDict). */
  stateDict(): OptimizerStateDict {
    return encodeState(this.kind, this.stepCount, this.paramGroups, this.state_);
  }

  /**
   * Restores what `stateDict()` saved: group hyperparameters (replacing the current ones, as PyTorch does),
   * per-parameter state and stepCount. Everything is checked before anything changes.
   */
  loadStateDict(sd: OptimizerStateDict): void {
    const loaded = decodeState(sd, {
      kind: this.kind,
      groups: this.paramGroups,
      hyperKeys: this.hyperKeys,
      bufferNames: this.bufferNames,
      check: (h, where) => {
        checkValues(h as Partial<H>, this.specs, where);
        this.checkGroup(h as unknown as H, where);
      },
    });
    // Commit.
    for (const st of this.state_.values()) for (const t of Object.values(st.buffers)) t.dispose();
    this.state_.clear();
    for (const [v, st] of loaded.state) {
      const buffers: Record<string, tf.Tensor> = {};
      for (const [k, [shape, values]] of Object.entries(st.buffers)) buffers[k] = tf.keep(tf.tensor(values, shape, "float32"));
      this.state_.set(v, { step: st.step, buffers });
    }
    this.paramGroups.forEach((g, i) => {
      for (const k of Object.keys(g)) if (k !== "params") delete (g as Record<string, unknown>)[k];
      Object.assign(g, loaded.groups[i]);
    });
    this.iterations_ = loaded.stepCount;
  }

  /**
   * An in-memory copy of everything an update changes: stepCount, each parameter's step count and buffers (the
   * tensors are shared, not copied or read) and the groups' hyperparameters. `restoreSnapshot` puts it back (train()
   * undoes the steps in flight this way when a loss read a few steps late is not finite), `disposeSnapshot` frees it.
   */
  snapshot(): OptimizerSnapshot {
    const state: OptimizerSnapshot["state"] = [];
    for (const [v, st] of this.state_) {
      const buffers: Record<string, tf.Tensor> = {};
      for (const [k, t] of Object.entries(st.buffers)) buffers[k] = tf.keep(tf.clone(t));
      state.push([v, { step: st.step, buffers }]);
    }
    const groups = this.paramGroups.map((g) => {
      const { params: _params, ...rest } = g;
      const copy: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(rest)) copy[k] = cloneValue(v);
      return copy;
    });
    return { iterations: this.iterations, state, groups };
  }

  /** Puts back a `snapshot()` (which is consumed: do not restore or dispose it again). */
  restoreSnapshot(s: OptimizerSnapshot): void {
    if (s.groups.length !== this.paramGroups.length) {
      throw new Error(
        `${this.kind}.restoreSnapshot: the snapshot has ${s.groups.length} param groups, this optimizer ${this.paramGroups.length}`,
      );
    }
    for (const st of this.state_.values()) for (const t of Object.values(st.buffers)) t.dispose();
    this.state_.clear();
    for (const [v, st] of s.state) this.state_.set(v, st);
    this.paramGroups.forEach((g, i) => {
      for (const k of Object.keys(g)) if (k !== "params") delete (g as Record<string, unknown>)[k];
      Object.assign(g, s.groups[i]);
    });
    this.iterations_ = s.iterations;
    s.state = [];
  }

  /** Frees a `snapshot()` that will not be restored. */
  disposeSnapshot(s: OptimizerSnapshot): void {
    for (const [, st] of s.state) for (const t of Object.values(st.buffers)) t.dispose();
    s.state = [];
  }

  /** tfjs's optimizer weights (model.save with includeOptimizer): iterations, then `<var>/<buffer>` tensors. */
  override async getWeights(): Promise<NamedTensor[]> {
    const out: NamedTensor[] = [await this.saveIterations()];
    for (const v of this.params()) {
      const st = this.state_.get(v);
      if (!st) continue;
      out.push({ name: `${v.name}/step`, tensor: tf.scalar(st.step, "int32") });
      for (const [k, t] of Object.entries(st.buffers)) out.push({ name: `${v.name}/${k}`, tensor: t.clone() });
    }
    return out;
  }

  override async setWeights(weightValues: NamedTensor[]): Promise<void> {
    const rest = await this.extractIterations(weightValues);
    const ours = new Map(this.params().map((v) => [v.name, v] as const));
    const next = new Map<tf.Variable, ParamState>();
    for (const { name, tensor } of rest) {
      const cut = name.lastIndexOf("/");
      const v = ours.get(name.slice(0, cut));
      const key = name.slice(cut + 1);
      if (!v) throw new Error(`${this.kind}.setWeights: ${name} is not the state of a parameter of this optimizer`);
      const st = next.get(v) ?? { step: 0, buffers: {} };
      if (key === "step")
        st.step = (await tensor.data())[0]; // no synchronous read: webgpu has none in Node
      else {
        if (!tf.util.arraysEqual(tensor.shape, v.shape))
          throw new Error(`${this.kind}.setWeights: ${name} has shape [${tensor.shape}], parameter [${v.shape}]`);
        st.buffers[key] = tf.clone(tensor);
      }
      next.set(v, st);
    }
    for (const st of this.state_.values()) for (const t of Object.values(st.buffers)) t.dispose();
    this.state_.clear();
    for (const [v, st] of next) this.state_.set(v, st);
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...(this.defaults as unknown as tf.serialization.ConfigDict) };
  }

  /** Used when a model saved with this optimizer is loaded: the parameters are adopted at the first update. */
  static override fromConfig<T extends tf.serialization.Serializable>(
    cls: tf.serialization.SerializableConstructor<T>,
    config: tf.serialization.ConfigDict,
  ): T {
    return new cls(DEFERRED, config);
  }

  /** Frees the state buffers and accumulated gradients (not the parameters). */
  override dispose(): void {
    this.zeroGrad();
    for (const st of this.state_.values()) for (const t of Object.values(st.buffers)) t.dispose();
    this.state_.clear();
  }
}

/** What `Optimizer.snapshot()` holds. */
export interface OptimizerSnapshot {
  iterations: number;
  state: Array<[tf.Variable, ParamState]>;
  groups: Array<Record<string, unknown>>;
}

function cloneValue<T>(v: T): T {
  return (Array.isArray(v) ? [...v] : v) as T;
}

/**
 * The gradient an update rule uses, as torch.optim does: negated when `maximize`, then with the coupled L2 term
 * `g + weightDecay·p` (PyTorch's weight_decay for SGD, Adam, RMSprop, Adagrad). `c` makes the scalar tensors.
 */
export function l2Grad(p: tf.Tensor, grad: tf.Tensor, maximize: boolean, weightDecay: number, c: (x: number) => tf.Scalar): tf.Tensor {
  const g = maximize ? tf.neg(grad) : grad;
  return weightDecay !== 0 ? tf.add(g, tf.mul(p, c(weightDecay))) : g;
}
