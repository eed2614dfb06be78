// Lower-case factories, as tf.train.sgd / tf.train.adam: `optim.sgd(net, { lr: 0.1 })` is `new optim.SGD(...)`.
import { Adagrad } from "./adagrad";
import { Adam, AdamW } from "./adam";
import type {
  AdagradHyper,
  AdagradOptions,
  AdamHyper,
  AdamOptions,
  AdamWOptions,
  RMSpropHyper,
  RMSpropOptions,
  SGDHyper,
  SGDOptions,
} from "./options";
import type { ParamsInput } from "./optimizer";
import { RMSprop } from "./rmsprop";
import { SGD } from "./sgd";

export const sgd = (params: ParamsInput<SGDHyper>, options?: SGDOptions): SGD => new SGD(params, options);
export const adam = (params: ParamsInput<AdamHyper>, options?: AdamOptions): Adam => new Adam(params, options);
export const adamW = (params: ParamsInput<AdamHyper>, options?: AdamWOptions): AdamW => new AdamW(params, options);
export const rmsprop = (params: ParamsInput<RMSpropHyper>, options?: RMSpropOptions): RMSprop => new RMSprop(params, options);
export const adagrad = (params: ParamsInput<AdagradHyper>, options?: AdagradOptions): Adagrad => new Adagrad(params, options);
