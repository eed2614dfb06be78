# tsdl's native add-on for the wasm backend (src/backend/wasm/native), built at install by scripts/build-native.js
# (`npm ci` runs it; `npm run build:native` re-runs it). For this machine's CPU (-march=native), against OpenBLAS,
# and oneDNN when tsdl_dnnl is 1 (the script passes --tsdl-dnnl=1 when libdnnl-dev builds, 0 otherwise).
{
  "variables": { "tsdl_dnnl%": 0 },
  "targets": [
    {
      "target_name": "tsdl_native",
      "sources": [
        "src/backend/wasm/native/conv.c",
        "src/backend/wasm/native/dnnl.c",
        "src/backend/wasm/native/ops.c",
        "src/backend/wasm/native/napi.c"
      ],
      "cflags": ["-O3", "-march=native", "-fvisibility=hidden", "-fopenmp"],
      "ldflags": ["-fopenmp"],
      "libraries": ["-lopenblas"],
      "conditions": [
        ["tsdl_dnnl==1", { "defines": ["TSDL_DNNL"], "libraries": ["-ldnnl"] }]
      ]
    }
  ]
}
