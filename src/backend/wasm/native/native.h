// Declarations shared by the files of tsdl's native add-on for the wasm backend:
//   conv.c  convolutions as im2col + OpenBLAS sgemm, and which path runs each one
//   dnnl.c  the optional oneDNN convolutions (compiled with -DTSDL_DNNL)
//   ops.c   the other slow kernels of a training step (Tile, Sum/Mean, MaxPoolGrad, batch norm and its gradient)
//   napi.c  the N-API glue: f(heap, ..., byte offsets into the heap, ...)
// Every kernel works in place on the wasm heap (tensors are pointers into it, never copied).
// Layouts are tfjs's: x, dy NHWC; filter HWIO, i.e. a row-major [kH·kW·inC, outC] matrix.
// Built by node-gyp (binding.gyp at the repo root) at install; loaded by addon.ts.
#ifndef TSDL_NATIVE_H
#define TSDL_NATIVE_H
#include <stdint.h>

typedef struct {
  int n, inH, inW, inC, outH, outW, outC, kH, kW, sH, sW, padTop, padLeft;
} Geo;

// The three convolutions. The arguments a, b, c, out of a path are, per kind:
//   DN_FWD       x, w, bias (or NULL), y     (act 0 linear, 1 relu)
//   DN_BWD_DATA  dy, w, -, dx
//   DN_BWD_W     x, dy, -, dW
enum { DN_FWD = 0, DN_BWD_DATA = 1, DN_BWD_W = 2 };
typedef void (*ConvPath)(const Geo* g, const float* a, const float* b, const float* c, int act, float* out);

// conv.c
void conv_forward(const Geo* g, const float* x, const float* w, const float* bias, int act, float* y);
void conv_backprop_input(const Geo* g, const float* dy, const float* w, float* dx);
void conv_backprop_filter(const Geo* g, const float* x, const float* dy, float* dw);

// dnnl.c
extern int dn_enabled;  // 0 off, 1 autotuned against im2col + OpenBLAS, 2 always
int dn_conv(int kind, const Geo* g, const float* a, const float* b, const float* c, int act, float* out, ConvPath blas);
const char* dn_version(void);  // "" when built without oneDNN

// ops.c
void tile(const int32_t* in, int32_t* out, const int32_t* shape, const int32_t* reps, int rank);
void reduce_sum(const float* x, float* out, int64_t rows, int64_t cols, int leading, double scale);
void max_pool_grad(const int32_t* g, const float* x, const float* dy, float* dx);
void batch_norm(const float* x, float* y, int64_t rows, int64_t C, const float* mean, const float* var,
                const float* scale, const float* offset, float eps);
void batch_norm_grad(const float* x, const float* dy, int64_t rows, int64_t C, const float* mean, const float* var,
                     const float* scale, float eps, float* dx, float* dmean, float* dvar, float* dscale,
                     float* doffset);
#endif
