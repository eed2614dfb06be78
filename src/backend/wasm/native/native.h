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

// Below this many elements a kernel runs on one thread: waking the other costs more than it saves.
enum { PARALLEL_MIN = 1 << 15 };

// The three convolutions. The arguments a, b, c, out of a path are, per kind:
//   DN_FWD       x, w, bias (or NULL), y     (act 0 linear, 1 relu)
//   DN_BWD_DATA  dy, w, -, dx
//   DN_BWD_W     x, dy, -, dW
enum { DN_FWD = 0, DN_BWD_DATA = 1, DN_BWD_W = 2 };
typedef void (*ConvPath)(const Geo* g, const float* a, const float* b, const float* c, int act, float* out);

// conv.c: which path computes a convolution (the caller decides; see conv.ts):
//   PATH_BLAS  im2col + OpenBLAS
//   PATH_DNNL  oneDNN when it has a primitive for the shape, else im2col + OpenBLAS
//   PATH_TIME  both, alternating, ms[0] = oneDNN's best CPU time (process, all threads), ms[1] = OpenBLAS's; out holds oneDNN's
//              result (or OpenBLAS's, with ms[0] = -1, when oneDNN cannot run the shape)
// Returns the path whose result is in out: PATH_BLAS or PATH_DNNL. wid identifies the weights (forward, dx): the
// same nonzero wid promises the same weights, so oneDNN's reordered copy of them is reused (0: always reorder).
enum { PATH_BLAS = 0, PATH_DNNL = 1, PATH_TIME = 2 };
int conv_run(int kind, const Geo* g, const float* a, const float* b, const float* c, int act, float* out, int path,
             double wid, double ms[2]);

// dnnl.c: runs the convolution with oneDNN and returns 1, or returns 0 when oneDNN has no primitive for it.
int dn_conv(int kind, const Geo* g, const float* a, const float* b, const float* c, int act, float* out, double wid);
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
void batch_norm_train(const float* x, float* y, int64_t rows, int64_t C, const float* scale, const float* offset,
                      float eps, int relu, float* mean, float* var);
void batch_norm_train_grad(const float* x, const float* dy, const float* y, int64_t rows, int64_t C, const float* mean,
                           const float* var, const float* scale, float eps, const float* dmean, const float* dvar,
                           float* dx, float* dscale, float* doffset);
void relu(const float* x, float* y, int64_t n);
void relu_grad(const float* dy, const float* x, float* dx, int64_t n);
void binary(int op, const float* a, const float* b, float* out, int64_t n, int a_scalar, int b_scalar);
void slice4(const int32_t* x, int32_t* out, const int32_t* shape, const int32_t* begin, const int32_t* size);
void sgd_step(const float* p, const float* grad, float* out, int64_t n, float wd, float neg_lr, int maximize);
void avg_pool_grad(const int32_t* g, const float* dy, float* dx);
#endif
