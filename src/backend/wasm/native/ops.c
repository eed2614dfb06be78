// The other kernels of a training step whose stock wasm versions are scalar loops or need a transpose:
// Tile, Sum/Mean over leading or trailing axes, MaxPoolGrad, batch norm with given statistics and its gradient.
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "native.h"

// Tile of 4-byte elements: out[o_0, ..., o_{r-1}] = in[o_0 mod s_0, ..., o_{r-1} mod s_{r-1}].
static void tile_block(const int32_t* in, int32_t* out, const int32_t* shape, const int32_t* reps, int rank, int d,
                       const int64_t* in_stride, const int64_t* out_stride) {
  const int64_t block = (int64_t)shape[d] * out_stride[d];  // one copy of this dimension's input
  if (d == rank - 1) {
    memcpy(out, in, sizeof(int32_t) * shape[d]);
  } else {
    for (int i = 0; i < shape[d]; i++)
      tile_block(in + i * in_stride[d], out + i * out_stride[d], shape, reps, rank, d + 1, in_stride, out_stride);
  }
  for (int r = 1; r < reps[d]; r++) memcpy(out + r * block, out, sizeof(int32_t) * block);
}

void tile(const int32_t* in, int32_t* out, const int32_t* shape, const int32_t* reps, int rank) {
  int64_t in_stride[8], out_stride[8];
  in_stride[rank - 1] = 1;
  out_stride[rank - 1] = 1;
  for (int d = rank - 2; d >= 0; d--) {
    in_stride[d] = in_stride[d + 1] * shape[d + 1];
    out_stride[d] = out_stride[d + 1] * (int64_t)shape[d + 1] * reps[d + 1];
  }
  tile_block(in, out, shape, reps, rank, 0, in_stride, out_stride);
}

// x viewed as [rows, cols]; leading: out[c] = scale·Σ_r x[r, c], else out[r] = scale·Σ_c x[r, c]. Double accumulators.
void reduce_sum(const float* x, float* out, int64_t rows, int64_t cols, int leading, double scale) {
  if (leading) {
    double* acc = calloc(cols, sizeof(double));
    for (int64_t r = 0; r < rows; r++) {
      const float* row = x + r * cols;
      for (int64_t c = 0; c < cols; c++) acc[c] += row[c];
    }
    for (int64_t c = 0; c < cols; c++) out[c] = (float)(acc[c] * scale);
    free(acc);
  } else {
    for (int64_t r = 0; r < rows; r++) {
      const float* row = x + r * cols;
      double acc = 0;
      for (int64_t c = 0; c < cols; c++) acc += row[c];
      out[r] = (float)(acc * scale);
    }
  }
}

// Max-pool gradient, NHWC: each dy goes to the first maximum of its window (row-major scan), as tfjs's cpu kernel.
// Images in parallel (their dx do not overlap); within one, the same order as a serial scan.
// geo: n, inH, inW, c, outH, outW, kH, kW, sH, sW, padTop, padLeft
void max_pool_grad(const int32_t* g, const float* x, const float* dy, float* dx) {
  const int n = g[0], inH = g[1], inW = g[2], C = g[3], outH = g[4], outW = g[5], kH = g[6], kW = g[7], sH = g[8],
            sW = g[9], pt = g[10], pl = g[11];
  const int64_t in_img = (int64_t)inH * inW * C, out_img = (int64_t)outH * outW * C;
#pragma omp parallel if (n * in_img >= PARALLEL_MIN)
  {
    float* restrict best = malloc(sizeof(float) * C);
    int32_t* restrict where = malloc(sizeof(int32_t) * C);  // offset in the image, -1 = none yet
#pragma omp for schedule(static)
    for (int b = 0; b < n; b++) {
      const float* xb = x + b * in_img;
      float* dxb = dx + b * in_img;
      memset(dxb, 0, sizeof(float) * in_img);
      for (int i = 0; i < outH; i++)
        for (int j = 0; j < outW; j++) {
          for (int c = 0; c < C; c++) best[c] = -INFINITY, where[c] = -1;
          for (int p = 0; p < kH; p++) {
            const int ih = i * sH + p - pt;
            if (ih < 0 || ih >= inH) continue;
            for (int q = 0; q < kW; q++) {
              const int iw = j * sW + q - pl;
              if (iw < 0 || iw >= inW) continue;
              const int32_t base = (ih * inW + iw) * C;
              const float* restrict xr = xb + base;
              for (int c = 0; c < C; c++) {
                const float v = xr[c];
                const int take = v > best[c] || where[c] < 0;
                best[c] = take ? v : best[c];
                where[c] = take ? base + c : where[c];
              }
            }
          }
          const float* d = dy + b * out_img + ((int64_t)i * outW + j) * C;
          for (int c = 0; c < C; c++)
            if (where[c] >= 0) dxb[where[c]] += d[c];
        }
    }
    free(best);
    free(where);
  }
}

// Batch norm with given statistics, channels last: y = (x - mean)·scale/√(var + eps) + offset = x·a[c] + b[c].
void batch_norm(const float* x, float* y, int64_t rows, int64_t C, const float* mean, const float* var,
                       const float* scale, const float* offset, float eps) {
  float* a = malloc(sizeof(float) * C * 2);
  float* b = a + C;
  for (int64_t c = 0; c < C; c++) {
    a[c] = (scale ? scale[c] : 1.f) / sqrtf(var[c] + eps);
    b[c] = (offset ? offset[c] : 0.f) - mean[c] * a[c];
  }
#pragma omp parallel for schedule(static) if (rows * C >= PARALLEL_MIN)
  for (int64_t r = 0; r < rows; r++) {
    const float* xr = x + r * C;
    float* yr = y + r * C;
    for (int64_t c = 0; c < C; c++) yr[c] = xr[c] * a[c] + b[c];
  }
  free(a);
}

// Gradient of batch norm with given statistics, channels last (tfjs's FusedBatchNorm gradient, in two passes):
//   rs = 1/√(var + eps), s = scale (or 1)
//   dx = dy·s·rs      dmean = -rs·s·Σdy      dvar = -½·rs³·s·Σdy(x - mean)      dscale = rs·Σdy(x - mean)      doffset = Σdy
void batch_norm_grad(const float* x, const float* dy, int64_t rows, int64_t C, const float* mean,
                            const float* var, const float* scale, float eps, float* dx, float* dmean, float* dvar,
                            float* dscale, float* doffset) {
  double* sdy = calloc(2 * C, sizeof(double));
  double* sdyx = sdy + C;
  float* k = malloc(sizeof(float) * C);
  for (int64_t r = 0; r < rows; r++) {
    const float* xr = x + r * C;
    const float* dr = dy + r * C;
    for (int64_t c = 0; c < C; c++) {
      sdy[c] += dr[c];
      sdyx[c] += (double)dr[c] * (xr[c] - mean[c]);
    }
  }
  for (int64_t c = 0; c < C; c++) {
    const double rs = 1.0 / sqrt((double)var[c] + eps), s = scale ? scale[c] : 1.0;
    k[c] = (float)(rs * s);
    dmean[c] = (float)(-rs * s * sdy[c]);
    dvar[c] = (float)(-0.5 * rs * rs * rs * s * sdyx[c]);
    dscale[c] = (float)(rs * sdyx[c]);
    doffset[c] = (float)sdy[c];
  }
  for (int64_t r = 0; r < rows; r++) {
    const float* dr = dy + r * C;
    float* o = dx + r * C;
    for (int64_t c = 0; c < C; c++) o[c] = dr[c] * k[c];
  }
  free(sdy);
  free(k);
}

// ---- batch norm in training mode: statistics of the batch, then normalize (optionally + ReLU), and its gradient.
// Per-channel sums are taken in double over fixed chunks of rows and combined in chunk order, so they do not depend
// on the number of threads: the same bits from every process.
enum { CHUNK_ROWS = 256 };

static int64_t nchunks(int64_t rows) { return (rows + CHUNK_ROWS - 1) / CHUNK_ROWS; }

// s[c] = Σ_r a[r, c] and t[c] = Σ_r a[r, c]·(b[r, c] - m[c]) (b = a, m = 0 for Σx and Σx²); with mask, a[r, c]
// counts only where mask[r, c] > 0 (the ReLU that followed the forward pass).
static void channel_sums(const float* a, const float* b, const float* m, const float* mask, int64_t rows, int64_t C,
                         double* s, double* t) {
  const int64_t n = nchunks(rows);
  double* part = calloc((size_t)(n * 2 * C), sizeof(double));
  float* zero = m ? NULL : calloc((size_t)C, sizeof(float));
  const float* restrict mu = m ? m : zero;  // no conditional load in the loops: they vectorize
#pragma omp parallel for schedule(static) if (rows * C >= PARALLEL_MIN)
  for (int64_t k = 0; k < n; k++) {
    double* restrict ps = part + k * 2 * C;
    double* restrict pt = ps + C;
    const int64_t r1 = (k + 1) * CHUNK_ROWS < rows ? (k + 1) * CHUNK_ROWS : rows;
    for (int64_t r = k * CHUNK_ROWS; r < r1; r++) {
      const float* restrict ar = a + r * C;
      const float* restrict br = b + r * C;
      if (mask) {
        const float* restrict mr = mask + r * C;
        for (int64_t c = 0; c < C; c++) {
          const float mv = mr[c], v = ar[c] * (mv > 0.f ? 1.f : mv != mv ? mv : 0.f);  // tfjs's dy·step(x)
          ps[c] += v;
          pt[c] += (double)v * ((double)br[c] - mu[c]);
        }
      } else {
        for (int64_t c = 0; c < C; c++) {
          ps[c] += ar[c];
          pt[c] += (double)ar[c] * ((double)br[c] - mu[c]);
        }
      }
    }
  }
  for (int64_t c = 0; c < C; c++) s[c] = t[c] = 0;
  for (int64_t k = 0; k < n; k++)
    for (int64_t c = 0; c < C; c++) s[c] += part[k * 2 * C + c], t[c] += part[k * 2 * C + C + c];
  free(part);
  free(zero);
}

// mean[c], var[c] (biased, ÷ rows) of x viewed as [rows, C]; y = x·a[c] + b[c] with a = γ/√(var + eps) and
// b = β - mean·a (the formula of batch_norm above), then max(y, 0) when relu.
void batch_norm_train(const float* x, float* y, int64_t rows, int64_t C, const float* scale, const float* offset,
                      float eps, int relu, float* mean, float* var) {
  double* s = malloc(sizeof(double) * 2 * C);
  float* a = malloc(sizeof(float) * 2 * C);
  float* b = a + C;
  channel_sums(x, x, NULL, NULL, rows, C, s, s + C);
  for (int64_t c = 0; c < C; c++) {
    const double mu = s[c] / rows, v = s[C + c] / rows - mu * mu;
    mean[c] = (float)mu;
    var[c] = (float)(v > 0 ? v : 0);
    a[c] = (scale ? scale[c] : 1.f) / sqrtf(var[c] + eps);
    b[c] = (offset ? offset[c] : 0.f) - mean[c] * a[c];
  }
#pragma omp parallel for schedule(static) if (rows * C >= PARALLEL_MIN)
  for (int64_t r = 0; r < rows; r++) {
    const float* xr = x + r * C;
    float* yr = y + r * C;
    if (relu)
      for (int64_t c = 0; c < C; c++) {
        const float v = xr[c] * a[c] + b[c];
        yr[c] = v > 0.f ? v : 0.f;
      }
    else
      for (int64_t c = 0; c < C; c++) yr[c] = xr[c] * a[c] + b[c];
  }
  free(s);
  free(a);
}

// The gradient of batch_norm_train, the batch statistics included, in two passes. With g = dy masked by y > 0
// when relu, rs = 1/√(var + eps), s = γ (or 1), n = rows, and dmean, dvar the gradients reaching the mean and
// variance outputs (or none):
//   doffset = Σg      dscale = rs·Σg(x - mean)
//   dx = s·rs·(g - Σg/n - (x - mean)·rs²·Σg(x - mean)/n) + dmean/n + dvar·2(x - mean)/n
void batch_norm_train_grad(const float* x, const float* dy, const float* y, int64_t rows, int64_t C, const float* mean,
                           const float* var, const float* scale, float eps, const float* dmean, const float* dvar,
                           float* dx, float* dscale, float* doffset) {
  double* s = malloc(sizeof(double) * 2 * C);
  float* k = malloc(sizeof(float) * 3 * C);  // dx = g·k0 + (x - mean)·k1 + k2
  channel_sums(dy, x, mean, y, rows, C, s, s + C);
  for (int64_t c = 0; c < C; c++) {
    const double rs = 1.0 / sqrt((double)var[c] + eps), sc = scale ? scale[c] : 1.0, n = (double)rows;
    doffset[c] = (float)s[c];
    dscale[c] = (float)(rs * s[C + c]);
    k[c] = (float)(sc * rs);
    k[C + c] = (float)(-sc * rs * rs * rs * s[C + c] / n + (dvar ? 2.0 * dvar[c] / n : 0.0));
    k[2 * C + c] = (float)(-sc * rs * s[c] / n + (dmean ? dmean[c] / n : 0.0));
  }
  const float* k1 = k + C;
  const float* k2 = k + 2 * C;
#pragma omp parallel for schedule(static) if (rows * C >= PARALLEL_MIN)
  for (int64_t r = 0; r < rows; r++) {
    const float* xr = x + r * C;
    const float* dr = dy + r * C;
    float* o = dx + r * C;
    if (y) {
      const float* yr = y + r * C;
      for (int64_t c = 0; c < C; c++) {
        const float yv = yr[c];
        o[c] = dr[c] * (yv > 0.f ? 1.f : yv != yv ? yv : 0.f) * k[c] + (xr[c] - mean[c]) * k1[c] + k2[c];
      }
    } else {
      for (int64_t c = 0; c < C; c++) o[c] = dr[c] * k[c] + (xr[c] - mean[c]) * k1[c] + k2[c];
    }
  }
  free(s);
  free(k);
}

// ---- element-wise kernels on both threads (tfjs's wasm ones run on one): ReLU and its gradient, and + - × of two
// float32 tensors of one shape or of a tensor and a scalar. The same IEEE single operations as tfjs's, so the same bits.

void relu(const float* x, float* y, int64_t n) {
#pragma omp parallel for simd schedule(static) if (n >= PARALLEL_MIN)
  for (int64_t k = 0; k < n; k++) y[k] = x[k] <= 0.f ? 0.f : x[k];  // -0 gives +0, NaN stays NaN: as tfjs's
}

// dx = dy·step(x), step = 1 where x > 0, NaN where x is NaN, else 0: tfjs's Relu gradient in one pass.
void relu_grad(const float* dy, const float* x, float* dx, int64_t n) {
#pragma omp parallel for simd schedule(static) if (n >= PARALLEL_MIN)
  for (int64_t k = 0; k < n; k++) {
    const float v = x[k];
    dx[k] = dy[k] * (v > 0.f ? 1.f : v != v ? v : 0.f);
  }
}

// out = a op b, op 0 add, 1 subtract, 2 multiply; a or b of n elements, or one (scalar) when its flag is set.
void binary(int op, const float* a, const float* b, float* out, int64_t n, int a_scalar, int b_scalar) {
  const float sa = a_scalar ? a[0] : 0.f, sb = b_scalar ? b[0] : 0.f;
#define EACH(expr)                                                                 \
  _Pragma("omp parallel for simd schedule(static) if (n >= PARALLEL_MIN)")          \
  for (int64_t k = 0; k < n; k++) out[k] = (expr);
  if (a_scalar) {
    if (op == 0) { EACH(sa + b[k]) } else if (op == 1) { EACH(sa - b[k]) } else { EACH(sa * b[k]) }
  } else if (b_scalar) {
    if (op == 0) { EACH(a[k] + sb) } else if (op == 1) { EACH(a[k] - sb) } else { EACH(a[k] * sb) }
  } else {
    if (op == 0) { EACH(a[k] + b[k]) } else if (op == 1) { EACH(a[k] - b[k]) } else { EACH(a[k] * b[k]) }
  }
#undef EACH
}

// out = x[b0:b0+s0, b1:b1+s1, b2:b2+s2, b3:b3+s3] of a 4-D tensor of 4-byte elements (lower ranks padded with 1s):
// runs of s3 elements copied, on both threads.
void slice4(const int32_t* x, int32_t* out, const int32_t* shape, const int32_t* begin, const int32_t* size) {
  const int64_t X1 = shape[1], X2 = shape[2], X3 = shape[3], s1 = size[1], s2 = size[2], s3 = size[3];
  const int64_t rows = (int64_t)size[0] * s1 * s2;
#pragma omp parallel for schedule(static) if (rows * s3 >= PARALLEL_MIN)
  for (int64_t r = 0; r < rows; r++) {
    const int64_t a = r / (s1 * s2), b = (r / s2) % s1, c = r % s2;
    memcpy(out + r * s3, x + (((a + begin[0]) * X1 + b + begin[1]) * X2 + c + begin[2]) * X3 + begin[3], sizeof(int32_t) * s3);
  }
}

// Average-pool gradient, NHWC, windows inside the input (no padding): each dy/(kH·kW) goes to its window's inputs,
// windows in row-major order; images on both threads.
// geo: n, inH, inW, c, outH, outW, kH, kW, sH, sW
void avg_pool_grad(const int32_t* g, const float* dy, float* dx) {
  const int n = g[0], inH = g[1], inW = g[2], C = g[3], outH = g[4], outW = g[5], kH = g[6], kW = g[7], sH = g[8],
            sW = g[9];
  const int64_t in_img = (int64_t)inH * inW * C, out_img = (int64_t)outH * outW * C;
  const float k = 1.f / (float)(kH * kW);
#pragma omp parallel for schedule(static) if (n * in_img >= PARALLEL_MIN)
  for (int b = 0; b < n; b++) {
    float* dxb = dx + b * in_img;
    memset(dxb, 0, sizeof(float) * in_img);
    for (int i = 0; i < outH; i++)
      for (int j = 0; j < outW; j++) {
        const float* d = dy + b * out_img + ((int64_t)i * outW + j) * C;
        for (int p = 0; p < kH; p++)
          for (int q = 0; q < kW; q++) {
            float* o = dxb + ((int64_t)(i * sH + p) * inW + j * sW + q) * C;
            for (int c = 0; c < C; c++) o[c] += d[c] * k;
          }
      }
  }
}

// p + (g + p·wd)·negLr, g = ±grad: each product and sum rounded to float on its own, as the composed ops (tfjs's
// Neg, Mul, Add) round them; the compiler must not fuse them into a multiply-add.
#pragma GCC push_options
#pragma GCC optimize("fp-contract=off")
void sgd_step(const float* p, const float* grad, float* out, int64_t n, float wd, float neg_lr, int maximize) {
#pragma omp parallel for simd schedule(static) if (n >= PARALLEL_MIN)
  for (int64_t i = 0; i < n; i++) {
    float g = maximize ? -grad[i] : grad[i];
    if (wd != 0.f) {
      const float t = p[i] * wd;
      g = g + t;
    }
    const float u = g * neg_lr;
    out[i] = p[i] + u;
  }
}
#pragma GCC pop_options
