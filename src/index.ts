// tsdl: PyTorch-style deep learning in TypeScript notebooks, on TensorFlow.js.
import * as tf from "@tensorflow/tfjs";

export { tf };
export * as backend from "./backend";
export { display, bundle, clearOutput, inKernel, DisplayHandle, JUPYTER_DISPLAY } from "./display";
export type { MimeBundle, Displayable } from "./display";
export * as optim from "./optim";
export * as lrScheduler from "./lrScheduler";
export * as data from "./data";
export * as models from "./models";
export * as nn from "./nn";
export * as plot from "./plot";
export * from "./train";
