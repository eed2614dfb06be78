// Loaded by mocha before every test file (see .mocharc.json).
import * as path from "path";

process.env.TSDL_QUIET = process.env.TSDL_QUIET ?? "1";
// Mesa (llvmpipe: the webgpu tests' adapter, through EGL) keeps compiled shaders in ~/.cache unless told where:
// in the repo's git-ignored artifacts/ instead, for this process and what it starts (notebook kernels, JupyterLab).
process.env.MESA_SHADER_CACHE_DIR = process.env.MESA_SHADER_CACHE_DIR ?? path.join(__dirname, "..", "artifacts", "mesa-shader-cache");
