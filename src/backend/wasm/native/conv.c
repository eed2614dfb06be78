// Convolutions as im2col + OpenBLAS sgemm (multi-threaded), and the path (this or oneDNN, dnnl.c) that runs each.
#include <cblas.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "native.h"

// Rows of the im2col matrix per chunk: bounded so the chunk stays within ~16 MiB.
static int64_t chunk_rows(const Geo* g) {
  int64_t k = (int64_t)g->kH * g->kW * g->inC;
  int64_t rows = ((int64_t)4 << 20) / (k > 0 ? k : 1);
  if (rows < 64) rows = 64;
  return rows;
}

static int direct(const Geo* g) {  // 1x1, stride 1, no padding: x itself is the im2col matrix
  return g->kH == 1 && g->kW == 1 && g->sH == 1 && g->sW == 1 && g->padTop == 0 && g->padLeft == 0 &&
         g->outH == g->inH && g->outW == g->inW;
}

// OpenBLAS runs on one thread (napi.c sets it at load) inside the OpenMP regions below, each thread computing its
// own rows (or, for dW, its own rows of dW): OpenBLAS's own pthreads spin on sched_yield for ~0.1 s after every
// call, taking a core from oneDNN's and the add-on's OpenMP threads (44 % of a core per training step here). Each
// output element is still one sgemm's sum over the same K blocks, so the bits do not depend on the thread count.

// The part [*lo, *hi) of n items that thread t of T computes: contiguous, in order.
static void share(int64_t n, int64_t* lo, int64_t* hi) {
  const int64_t T = omp_get_num_threads(), t = omp_get_thread_num();
  *lo = n * t / T, *hi = n * (t + 1) / T;
}

// cols[r - r0, (p, q, c)] = x[n, i·sH + p - padTop, j·sW + q - padLeft, c] (0 outside), r = (n, i, j).
// For a fixed p the kW·inC entries (q, c) are one contiguous run of x when the window row is inside the image.
static void im2col_row(const Geo* g, const float* x, float* dst, int64_t r) {
  const int64_t hw = (int64_t)g->outH * g->outW;
  const int64_t run = (int64_t)g->kW * g->inC;
  const int64_t n = r / hw, rem = r % hw, i = rem / g->outW, j = rem % g->outW;
  const int64_t iw0 = j * g->sW - g->padLeft;
  const int inside = iw0 >= 0 && iw0 + g->kW <= g->inW;
  for (int p = 0; p < g->kH; p++) {
    const int64_t ih = i * g->sH + p - g->padTop;
    float* d = dst + p * run;
    if (ih < 0 || ih >= g->inH) {
      memset(d, 0, sizeof(float) * run);
    } else if (inside) {
      memcpy(d, x + ((n * g->inH + ih) * g->inW + iw0) * g->inC, sizeof(float) * run);
    } else {
      for (int q = 0; q < g->kW; q++) {
        const int64_t iw = iw0 + q;
        if (iw < 0 || iw >= g->inW) memset(d + q * g->inC, 0, sizeof(float) * g->inC);
        else memcpy(d + q * g->inC, x + ((n * g->inH + ih) * g->inW + iw) * g->inC, sizeof(float) * g->inC);
      }
    }
  }
}

// dx[n, i·sH + p - padTop, j·sW + q - padLeft, c] += cols[r - r0, (p, q, c)] for rows r0..r1 in order; contiguous
// runs as in im2col. The caller gives each thread whole images (rows of different images write different parts of
// dx), so the rows of one image are added by one thread in order: the same sums whatever the thread count.
static void col2im(const Geo* g, const float* cols, float* dx, int64_t r0, int64_t r1) {
  const int64_t K = (int64_t)g->kH * g->kW * g->inC;
  const int64_t hw = (int64_t)g->outH * g->outW;
  const int64_t run = (int64_t)g->kW * g->inC;
  for (int64_t r = r0; r < r1; r++) {
    const int64_t n = r / hw, rem = r % hw, i = rem / g->outW, j = rem % g->outW;
    const int64_t iw0 = j * g->sW - g->padLeft;
    const float* src = cols + (r - r0) * K;
    for (int p = 0; p < g->kH; p++) {
      const int64_t ih = i * g->sH + p - g->padTop;
      if (ih < 0 || ih >= g->inH) continue;
      const float* s = src + p * run;
      float* row = dx + (n * g->inH + ih) * g->inW * g->inC;
      if (iw0 >= 0 && iw0 + g->kW <= g->inW) {
        float* d = row + iw0 * g->inC;
        for (int64_t e = 0; e < run; e++) d[e] += s[e];
      } else {
        for (int q = 0; q < g->kW; q++) {
          const int64_t iw = iw0 + q;
          if (iw < 0 || iw >= g->inW) continue;
          float* d = row + iw * g->inC;
          for (int c = 0; c < g->inC; c++) d[c] += s[q * g->inC + c];
        }
      }
    }
  }
}

// Stride 1 (kernels larger than 1x1): per kernel tap (p, q), one sgemm over only the outputs whose input pixel is
// inside the image, instead of im2col's rows with their zeros for the padding (40 % of them for the 3x3 images of
// the last stage, 21 % for the 6x6). For an output row i the tap's valid columns j0..j1 are one contiguous run of
// x and of y / dy.
static void tap_range(int k, int pad, int in, int out, int* lo, int* hi) {
  *lo = pad - k > 0 ? pad - k : 0;
  *hi = in + pad - k < out ? in + pad - k : out;
}

// y = act(Σ_taps x_tap · W_tap + bias), the taps added in order (p, q); each thread its images.
static void taps_forward(const Geo* g, const float* x, const float* w, const float* bias, int act, float* y) {
  const int64_t C = g->inC, O = g->outC, hw = (int64_t)g->outH * g->outW;
#pragma omp parallel if ((int64_t)g->n * hw * C * g->kH * g->kW >= PARALLEL_MIN)
  {
    int64_t n0, n1;
    share(g->n, &n0, &n1);
    if (n1 > n0) {
      float* ys = y + n0 * hw * O;
      memset(ys, 0, sizeof(float) * (n1 - n0) * hw * O);
      float* xs = malloc(sizeof(float) * (n1 - n0) * hw * C);
      float* t = malloc(sizeof(float) * (n1 - n0) * hw * O);
      for (int p = 0; p < g->kH; p++)
        for (int q = 0; q < g->kW; q++) {
          int i0, i1, j0, j1;
          tap_range(p, g->padTop, g->inH, g->outH, &i0, &i1);
          tap_range(q, g->padLeft, g->inW, g->outW, &j0, &j1);
          if (i1 <= i0 || j1 <= j0) continue;
          const int64_t ni = i1 - i0, nj = j1 - j0, rows = (n1 - n0) * ni * nj;
          for (int64_t n = n0; n < n1; n++)
            for (int64_t i = i0; i < i1; i++)
              memcpy(xs + ((n - n0) * ni + (i - i0)) * nj * C,
                     x + ((n * g->inH + i + p - g->padTop) * g->inW + j0 + q - g->padLeft) * C, sizeof(float) * nj * C);
          cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, rows, O, C, 1.f, xs, C, w + (int64_t)(p * g->kW + q) * C * O,
                      O, 0.f, t, O);
          for (int64_t n = n0; n < n1; n++)
            for (int64_t i = i0; i < i1; i++) {
              float* yr = y + ((n * g->outH + i) * g->outW + j0) * O;
              const float* tr = t + ((n - n0) * ni + (i - i0)) * nj * O;
              for (int64_t e = 0; e < nj * O; e++) yr[e] += tr[e];
            }
        }
      free(xs);
      free(t);
      if (bias || act) {
        for (int64_t r = n0 * hw; r < n1 * hw; r++) {
          float* row = y + r * O;
          if (bias) for (int o = 0; o < O; o++) row[o] += bias[o];
          if (act == 1) for (int o = 0; o < O; o++) row[o] = row[o] > 0.f ? row[o] : 0.f;
        }
      }
    }
  }
}

// dW_tap = x_tapᵀ · dy_tap over the tap's valid outputs: the threads gather them together, then each computes its
// rows (input channels) of dW_tap.
static void taps_backprop_filter(const Geo* g, const float* x, const float* dy, float* dw) {
  const int64_t C = g->inC, O = g->outC, P = (int64_t)g->n * g->outH * g->outW;
  float* xs = malloc(sizeof(float) * P * C);
  float* ds = malloc(sizeof(float) * P * O);
#pragma omp parallel if (P * C * g->kH * g->kW >= PARALLEL_MIN)
  {
    int64_t c0, c1;
    share(C, &c0, &c1);
    for (int p = 0; p < g->kH; p++)
      for (int q = 0; q < g->kW; q++) {
        int i0, i1, j0, j1;
        tap_range(p, g->padTop, g->inH, g->outH, &i0, &i1);
        tap_range(q, g->padLeft, g->inW, g->outW, &j0, &j1);
        const int64_t ni = i1 > i0 ? i1 - i0 : 0, nj = j1 > j0 ? j1 - j0 : 0, rows = (int64_t)g->n * ni * nj;
        float* dwt = dw + (int64_t)(p * g->kW + q) * C * O;
#pragma omp for schedule(static)
        for (int64_t r = 0; r < (nj > 0 ? (int64_t)g->n * ni : 0); r++) {
          const int64_t n = r / ni, i = i0 + r % ni;
          memcpy(xs + r * nj * C, x + ((n * g->inH + i + p - g->padTop) * g->inW + j0 + q - g->padLeft) * C,
                 sizeof(float) * nj * C);
          memcpy(ds + r * nj * O, dy + ((n * g->outH + i) * g->outW + j0) * O, sizeof(float) * nj * O);
        }
        if (c1 > c0) {
          if (rows > 0)
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, c1 - c0, O, rows, 1.f, xs + c0, C, ds, O, 0.f,
                        dwt + c0 * O, O);
          else
            memset(dwt + c0 * O, 0, sizeof(float) * (c1 - c0) * O);
        }
#pragma omp barrier  // before the next tap overwrites xs and ds
      }
  }
  free(xs);
  free(ds);
}

// Stride 1 with at least 10 % of im2col's entries in the padding (the 11x11 images and smaller here): below that
// im2col's one large product wins (22x22x64 dW: 63 ms of CPU by taps, ~40 by im2col).
static int unit_stride(const Geo* g) {
  if (g->sH != 1 || g->sW != 1 || direct(g)) return 0;
  int64_t valid = 1, all = 1;
  int lo, hi, n = 0;
  for (int p = 0; p < g->kH; p++) tap_range(p, g->padTop, g->inH, g->outH, &lo, &hi), n += hi > lo ? hi - lo : 0;
  valid *= n, all *= (int64_t)g->kH * g->outH, n = 0;
  for (int q = 0; q < g->kW; q++) tap_range(q, g->padLeft, g->inW, g->outW, &lo, &hi), n += hi > lo ? hi - lo : 0;
  valid *= n, all *= (int64_t)g->kW * g->outW;
  return valid * 10 <= all * 9;
}

// y = act(im2col(x) · W + bias); act 0 linear, 1 relu. Each thread its rows of y.
static void blas_forward(const Geo* g, const float* x, const float* w, const float* bias, int act, float* y) {
  if (unit_stride(g)) {
    taps_forward(g, x, w, bias, act, y);
    return;
  }
  const int64_t K = (int64_t)g->kH * g->kW * g->inC;
  const int64_t P = (int64_t)g->n * g->outH * g->outW;
#pragma omp parallel if (P * K >= PARALLEL_MIN)
  {
    int64_t lo, hi;
    share(P, &lo, &hi);
    if (direct(g)) {
      if (hi > lo)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, hi - lo, g->outC, K, 1.f, x + lo * K, K, w, g->outC,
                    0.f, y + lo * g->outC, g->outC);
    } else {
      const int64_t rows = chunk_rows(g);
      float* cols = malloc(sizeof(float) * rows * K);
      for (int64_t r0 = lo; r0 < hi; r0 += rows) {
        const int64_t r1 = r0 + rows < hi ? r0 + rows : hi;
        for (int64_t r = r0; r < r1; r++) im2col_row(g, x, cols + (r - r0) * K, r);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, r1 - r0, g->outC, K, 1.f, cols, K, w, g->outC, 0.f,
                    y + r0 * g->outC, g->outC);
      }
      free(cols);
    }
    if (bias || act) {
      for (int64_t r = lo; r < hi; r++) {
        float* row = y + r * g->outC;
        if (bias) for (int o = 0; o < g->outC; o++) row[o] += bias[o];
        if (act == 1) for (int o = 0; o < g->outC; o++) row[o] = row[o] > 0.f ? row[o] : 0.f;
      }
    }
  }
}

// dx = col2im(dy · Wᵀ). Each thread its images of dx.
static void blas_backprop_input(const Geo* g, const float* dy, const float* w, const float* unused, int act, float* dx) {
  (void)unused, (void)act;
  const int64_t K = (int64_t)g->kH * g->kW * g->inC;
  const int64_t hw = (int64_t)g->outH * g->outW;
  const int64_t P = (int64_t)g->n * hw;
  const int64_t img = (int64_t)g->inH * g->inW * g->inC;
#pragma omp parallel if (P * K >= PARALLEL_MIN)
  {
    if (direct(g)) {
      int64_t lo, hi;
      share(P, &lo, &hi);
      if (hi > lo)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, hi - lo, K, g->outC, 1.f, dy + lo * g->outC, g->outC, w,
                    g->outC, 0.f, dx + lo * K, K);
    } else {
      int64_t n0, n1;
      share(g->n, &n0, &n1);
      const int64_t lo = n0 * hw, hi = n1 * hw;
      memset(dx + n0 * img, 0, sizeof(float) * (n1 - n0) * img);
      const int64_t rows = chunk_rows(g);
      float* cols = malloc(sizeof(float) * rows * K);
      for (int64_t r0 = lo; r0 < hi; r0 += rows) {
        const int64_t r1 = r0 + rows < hi ? r0 + rows : hi;
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, r1 - r0, K, g->outC, 1.f, dy + r0 * g->outC, g->outC, w,
                    g->outC, 0.f, cols, K);
        col2im(g, cols, dx, r0, r1);
      }
      free(cols);
    }
  }
}

// dW = Σ_chunks im2col(x)ᵀ · dy: the threads build each chunk together, then each adds its rows of dW.
static void blas_backprop_filter(const Geo* g, const float* x, const float* dy, const float* unused, int act, float* dw) {
  (void)unused, (void)act;
  if (unit_stride(g)) {
    taps_backprop_filter(g, x, dy, dw);
    return;
  }
  const int64_t K = (int64_t)g->kH * g->kW * g->inC;
  const int64_t P = (int64_t)g->n * g->outH * g->outW;
  const int dir = direct(g);
  const int64_t rows = chunk_rows(g);
  float* cols = dir ? NULL : malloc(sizeof(float) * rows * K);
#pragma omp parallel if (P * K >= PARALLEL_MIN)
  {
    int64_t k0, k1;
    share(K, &k0, &k1);
    if (dir) {
      if (k1 > k0)
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, k1 - k0, g->outC, P, 1.f, x + k0, K, dy, g->outC, 0.f,
                    dw + k0 * g->outC, g->outC);
    } else {
      for (int64_t r0 = 0; r0 < P; r0 += rows) {
        const int64_t r1 = r0 + rows < P ? r0 + rows : P;
#pragma omp for schedule(static)
        for (int64_t r = r0; r < r1; r++) im2col_row(g, x, cols + (r - r0) * K, r);
        if (k1 > k0)  // after the for's barrier: the whole chunk is built
          cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, k1 - k0, g->outC, r1 - r0, 1.f, cols + k0, K,
                      dy + r0 * g->outC, g->outC, r0 == 0 ? 0.f : 1.f, dw + k0 * g->outC, g->outC);
#pragma omp barrier  // before the next chunk overwrites cols
      }
    }
  }
  free(cols);
}

// The process's CPU time (all threads): what a path costs, which other processes' load disturbs far less than the
// wall time (under load the wall times of the two paths swung 2x between runs and flipped choices).
static double now_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

static const ConvPath BLAS[] = {blas_forward, blas_backprop_input, blas_backprop_filter};

int conv_run(int kind, const Geo* g, const float* a, const float* b, const float* c, int act, float* out, int path,
             double wid, double ms[2]) {
  const ConvPath blas = BLAS[kind];
  if (path == PATH_DNNL && dn_conv(kind, g, a, b, c, act, out, wid)) return PATH_DNNL;
  if (path != PATH_TIME) {
    blas(g, a, b, c, act, out);
    return PATH_BLAS;
  }
  // oneDNN first (it also tells whether oneDNN has the shape, and its first call creates the primitive) and last
  // (so that its result is the one left in out), three OpenBLAS runs between; the best of each. The choice is kept
  // for good (conv.ts), so it is worth a few runs more than a per-process choice would be. Every oneDNN run
  // reorders the weights (wid 0), as it does in training, where they change every step.
  double t = now_ms();
  if (!dn_conv(kind, g, a, b, c, act, out, 0)) {
    blas(g, a, b, c, act, out);
    ms[0] = -1, ms[1] = now_ms() - t;
    return PATH_BLAS;
  }
  ms[0] = now_ms() - t;
  for (int i = 0; i < 3; i++) {
    t = now_ms();
    blas(g, a, b, c, act, out);
    t = now_ms() - t;
    if (i == 0 || t < ms[1]) ms[1] = t;
    t = now_ms();
    dn_conv(kind, g, a, b, c, act, out, 0);
    t = now_ms() - t;
    if (t < ms[0]) ms[0] = t;
  }
  return PATH_DNNL;
}
