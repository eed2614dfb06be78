// Native kernels for tsdl's wasm backend: conv2d as im2col + OpenBLAS sgemm, and the other slow kernels of a
// training step (Tile, Sum/Mean, MaxPoolGrad, FusedBatchNorm and its gradient), on tensors that stay in wasm memory.
//
// Every function takes the wasm heap (an ArrayBuffer) and byte offsets into it, so no tensor is copied in or out.
// Layouts are tfjs's: x, dy NHWC; filter HWIO, i.e. a row-major [kH·kW·inC, outC] matrix.
// Built and loaded by native.ts (gcc -O3 -shared ... -lopenblas); absent compiler or OpenBLAS = not used.
#include <cblas.h>
#include <node_api.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <math.h>
#include <string.h>
#include <time.h>

typedef struct {
  int n, inH, inW, inC, outH, outW, outC, kH, kW, sH, sW, padTop, padLeft;
} Geo;

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

// cols[r - r0, (p, q, c)] = x[n, i·sH + p - padTop, j·sW + q - padLeft, c] (0 outside), r = (n, i, j).
// For a fixed p the kW·inC entries (q, c) are one contiguous run of x when the window row is inside the image.
static void im2col(const Geo* g, const float* x, float* cols, int64_t r0, int64_t r1) {
  const int64_t K = (int64_t)g->kH * g->kW * g->inC;
  const int64_t hw = (int64_t)g->outH * g->outW;
  const int64_t run = (int64_t)g->kW * g->inC;
  for (int64_t r = r0; r < r1; r++) {
    const int64_t n = r / hw, rem = r % hw, i = rem / g->outW, j = rem % g->outW;
    const int64_t iw0 = j * g->sW - g->padLeft;
    const int inside = iw0 >= 0 && iw0 + g->kW <= g->inW;
    float* dst = cols + (r - r0) * K;
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
}

// dx[n, i·sH + p - padTop, j·sW + q - padLeft, c] += cols[r - r0, (p, q, c)]; contiguous runs as in im2col.
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


// ---- optional oneDNN path (Debian libdnnl-dev; compiled with -DTSDL_DNNL): direct convolutions on NHWC data,
// the library PyTorch's CPU convolutions use. Primitives are created once per shape; weights are reordered into the
// primitive's blocked layout on each call (they change every step). Any failure (no primitive, only a reference
// implementation) returns 0 and the caller uses im2col + OpenBLAS.
static int dn_enabled = 1;  // 0 off, 1 autotuned against im2col + OpenBLAS, 2 always
#ifdef TSDL_DNNL
#include <dnnl.h>

enum { DN_FWD = 0, DN_BWD_DATA = 1, DN_BWD_W = 2 };
typedef struct DnEntry {
  int kind, bias, act, ok;
  int picked;  // autotune: 0 not yet timed, 1 = oneDNN, 2 = im2col + OpenBLAS
  Geo g;
  dnnl_memory_desc_t src, dst, wuser, wprim, bmd;
  dnnl_primitive_t prim, reorder;
  void* wbuf;
  struct DnEntry* next;
} DnEntry;

static dnnl_engine_t dn_eng;
static dnnl_stream_t dn_strm;
static int dn_state;  // 0 untried, 1 ready, -1 unavailable
static DnEntry* dn_cache;

static int dn_ready(void) {
  if (dn_state == 0) {
    dn_state = dnnl_engine_create(&dn_eng, dnnl_cpu, 0) == dnnl_success &&
                       dnnl_stream_create(&dn_strm, dn_eng, dnnl_stream_default_flags) == dnnl_success
                   ? 1
                   : -1;
  }
  return dn_state > 0;
}

static int dn_not_ref(const_dnnl_primitive_desc_t pd) {
  const char* impl = NULL;
  if (dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &impl) != dnnl_success || !impl) return 0;
  return strncmp(impl, "ref", 3) != 0;
}

static DnEntry* dn_get(int kind, const Geo* g, int bias, int act) {
  for (DnEntry* e = dn_cache; e; e = e->next)
    if (e->kind == kind && e->bias == bias && e->act == act && !memcmp(&e->g, g, sizeof(Geo))) return e->ok ? e : NULL;
  DnEntry* e = calloc(1, sizeof(DnEntry));
  e->kind = kind, e->bias = bias, e->act = act, e->g = *g, e->next = dn_cache;
  dn_cache = e;  // failures are cached too
  if (!dn_ready()) return NULL;
  dnnl_dims_t sd = {g->n, g->inC, g->inH, g->inW}, wd = {g->outC, g->inC, g->kH, g->kW},
              dd = {g->n, g->outC, g->outH, g->outW}, bd = {g->outC};
  dnnl_memory_desc_t wany;
  dnnl_memory_desc_init_by_tag(&e->src, 4, sd, dnnl_f32, dnnl_nhwc);
  dnnl_memory_desc_init_by_tag(&e->dst, 4, dd, dnnl_f32, dnnl_nhwc);
  dnnl_memory_desc_init_by_tag(&e->wuser, 4, wd, dnnl_f32, dnnl_hwio);
  dnnl_memory_desc_init_by_tag(&wany, 4, wd, dnnl_f32, dnnl_format_tag_any);
  dnnl_memory_desc_init_by_tag(&e->bmd, 1, bd, dnnl_f32, dnnl_a);
  dnnl_dims_t strides = {g->sH, g->sW}, pl = {g->padTop, g->padLeft}, pr;
  const int64_t pb = (int64_t)(g->outH - 1) * g->sH + g->kH - g->inH - g->padTop;
  const int64_t pw = (int64_t)(g->outW - 1) * g->sW + g->kW - g->inW - g->padLeft;
  pr[0] = pb < 0 ? 0 : pb, pr[1] = pw < 0 ? 0 : pw;  // a stride that skips the last rows: floor() absorbs it
  if ((g->inH + g->padTop + pr[0] - g->kH) / g->sH + 1 != g->outH ||
      (g->inW + g->padLeft + pr[1] - g->kW) / g->sW + 1 != g->outW)
    return NULL;

  dnnl_convolution_desc_t fd, bd2;
  dnnl_primitive_desc_t hint = NULL, pd = NULL;
  dnnl_primitive_attr_t attr = NULL;
  dnnl_post_ops_t po = NULL;
  int ok = 0;
  if (kind == DN_FWD) {
    if (dnnl_convolution_forward_desc_init(&fd, dnnl_forward_inference, dnnl_convolution_direct, &e->src, &wany,
                                           bias ? &e->bmd : NULL, &e->dst, strides, pl, pr) != dnnl_success)
      goto done;
    dnnl_primitive_attr_create(&attr);
    if (act == 1) {
      dnnl_post_ops_create(&po);
      dnnl_post_ops_append_eltwise(po, 1.f, dnnl_eltwise_relu, 0.f, 0.f);
      dnnl_primitive_attr_set_post_ops(attr, po);
    }
    if (dnnl_primitive_desc_create(&pd, &fd, attr, dn_eng, NULL) != dnnl_success) goto done;
  } else {
    if (dnnl_convolution_forward_desc_init(&fd, dnnl_forward_training, dnnl_convolution_direct, &e->src, &wany, NULL,
                                           &e->dst, strides, pl, pr) != dnnl_success ||
        dnnl_primitive_desc_create(&hint, &fd, NULL, dn_eng, NULL) != dnnl_success)
      goto done;
    dnnl_status_t st = kind == DN_BWD_DATA
                           ? dnnl_convolution_backward_data_desc_init(&bd2, dnnl_convolution_direct, &e->src, &wany,
                                                                      &e->dst, strides, pl, pr)
                           : dnnl_convolution_backward_weights_desc_init(&bd2, dnnl_convolution_direct, &e->src, &wany,
                                                                         NULL, &e->dst, strides, pl, pr);
    if (st != dnnl_success || dnnl_primitive_desc_create(&pd, &bd2, NULL, dn_eng, hint) != dnnl_success) goto done;
  }
  if (!dn_not_ref(pd)) goto done;
  e->wprim = *dnnl_primitive_desc_query_md(pd, kind == DN_BWD_W ? dnnl_query_diff_weights_md : dnnl_query_weights_md, 0);
  if (dnnl_primitive_create(&e->prim, pd) != dnnl_success) goto done;
  if (!dnnl_memory_desc_equal(&e->wprim, &e->wuser)) {
    dnnl_primitive_desc_t rpd;
    const dnnl_memory_desc_t* from = kind == DN_BWD_W ? &e->wprim : &e->wuser;
    const dnnl_memory_desc_t* to = kind == DN_BWD_W ? &e->wuser : &e->wprim;
    if (dnnl_reorder_primitive_desc_create(&rpd, from, dn_eng, to, dn_eng, NULL) != dnnl_success) goto done;
    const dnnl_status_t rs = dnnl_primitive_create(&e->reorder, rpd);
    dnnl_primitive_desc_destroy(rpd);
    if (rs != dnnl_success) goto done;
    e->wbuf = malloc(dnnl_memory_desc_get_size(&e->wprim));
  }
  ok = 1;
done:
  if (pd) dnnl_primitive_desc_destroy(pd);
  if (hint) dnnl_primitive_desc_destroy(hint);
  if (attr) dnnl_primitive_attr_destroy(attr);
  if (po) dnnl_post_ops_destroy(po);
  e->ok = ok;
  return ok ? e : NULL;
}

static dnnl_memory_t dn_mem(const dnnl_memory_desc_t* md, const void* p) {
  dnnl_memory_t m = NULL;
  dnnl_memory_create(&m, md, dn_eng, (void*)p);
  return m;
}

static void dn_reorder(DnEntry* e, dnnl_memory_t from, dnnl_memory_t to) {
  dnnl_exec_arg_t args[2] = {{DNNL_ARG_FROM, from}, {DNNL_ARG_TO, to}};
  dnnl_primitive_execute(e->reorder, dn_strm, 2, args);
}

// kind DN_FWD: a = x, b = w, c = bias (or NULL), out = y. DN_BWD_DATA: a = dy, b = w, out = dx.
// DN_BWD_W: a = x, b = dy, out = dW.
static void dn_run(DnEntry* e, const float* a, const float* b, const float* c, float* out) {
  const int kind = e->kind;
  dnnl_memory_t wuser = NULL, wprim = NULL, m1, m2, m3, mb = NULL;
  if (kind == DN_BWD_W) {
    m1 = dn_mem(&e->src, a), m2 = dn_mem(&e->dst, b);
    wuser = dn_mem(&e->wuser, out);
    wprim = e->reorder ? dn_mem(&e->wprim, e->wbuf) : wuser;
    dnnl_exec_arg_t args[3] = {{DNNL_ARG_SRC, m1}, {DNNL_ARG_DIFF_DST, m2}, {DNNL_ARG_DIFF_WEIGHTS, wprim}};
    dnnl_primitive_execute(e->prim, dn_strm, 3, args);
    if (e->reorder) dn_reorder(e, wprim, wuser);
    m3 = NULL;
  } else {
    wuser = dn_mem(&e->wuser, b);
    wprim = wuser;
    if (e->reorder) {
      wprim = dn_mem(&e->wprim, e->wbuf);
      dn_reorder(e, wuser, wprim);
    }
    if (kind == DN_FWD) {
      m1 = dn_mem(&e->src, a), m3 = dn_mem(&e->dst, out);
      if (c) mb = dn_mem(&e->bmd, c);
      dnnl_exec_arg_t args[4] = {{DNNL_ARG_SRC, m1}, {DNNL_ARG_WEIGHTS, wprim}, {DNNL_ARG_DST, m3}, {DNNL_ARG_BIAS, mb}};
      dnnl_primitive_execute(e->prim, dn_strm, c ? 4 : 3, args);
    } else {
      m1 = dn_mem(&e->dst, a), m3 = dn_mem(&e->src, out);
      dnnl_exec_arg_t args[3] = {{DNNL_ARG_DIFF_DST, m1}, {DNNL_ARG_WEIGHTS, wprim}, {DNNL_ARG_DIFF_SRC, m3}};
      dnnl_primitive_execute(e->prim, dn_strm, 3, args);
    }
    m2 = NULL;
  }
  dnnl_stream_wait(dn_strm);
  if (wprim != wuser) dnnl_memory_destroy(wprim);
  dnnl_memory_destroy(wuser);
  dnnl_memory_destroy(m1);
  if (m2) dnnl_memory_destroy(m2);
  if (m3) dnnl_memory_destroy(m3);
  if (mb) dnnl_memory_destroy(mb);
}

static double now_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

// Neither library wins every shape (measured: oneDNN for stride-1 3x3 and the 7x7 stem's dW, im2col + OpenBLAS
// for strided 3x3 and 1x1), so the first call of each (kind, shape) times both twice, alternating, and keeps the
// faster for good. Deciding within that one call makes every result the chosen path's, from the first call on:
// the two paths round differently (~1e-7), and alternating them across calls made repeated predict()s differ.
static double dn_time(DnEntry* e, int use_dn, const float* a, const float* b, const float* c, int act, float* out,
                      void (*blas)(const Geo*, const float*, const float*, const float*, int, float*)) {
  const double t0 = now_ms();
  if (use_dn) dn_run(e, a, b, c, out);
  else blas(&e->g, a, b, c, act, out);
  return now_ms() - t0;
}

static int dn_conv(int kind, const Geo* g, const float* a, const float* b, const float* c, int act, float* out,
                   void (*blas)(const Geo*, const float*, const float*, const float*, int, float*)) {
  if (!dn_enabled) return 0;
  DnEntry* e = dn_get(kind, g, c != NULL, act);
  if (!e) return 0;
  if (!e->picked && dn_enabled == 1) {
    double t_dn = 1e300, t_bl = 1e300;
    for (int i = 0; i < 2; i++) {
      const double tb = dn_time(e, 0, a, b, c, act, out, blas), td = dn_time(e, 1, a, b, c, act, out, blas);
      if (tb < t_bl) t_bl = tb;
      if (td < t_dn) t_dn = td;
    }
    e->picked = t_dn <= t_bl ? 1 : 2;
    return e->picked == 1 ? 1 : 0;  // oneDNN ran last, so out holds its result; else the caller runs im2col + BLAS
  }
  if (e->picked == 2 && dn_enabled == 1) return 0;
  dn_run(e, a, b, c, out);
  return 1;
}
static const char* dn_version(void) {
  static char v[32];
  const dnnl_version_t* ver = dnnl_version();
  snprintf(v, sizeof v, "%d.%d.%d", ver->major, ver->minor, ver->patch);
  return v;
}
#else
enum { DN_FWD = 0, DN_BWD_DATA = 1, DN_BWD_W = 2 };
static int dn_conv(int kind, const Geo* g, const float* a, const float* b, const float* c, int act, float* out,
                   void (*blas)(const Geo*, const float*, const float*, const float*, int, float*)) {
  (void)kind, (void)g, (void)a, (void)b, (void)c, (void)act, (void)out, (void)blas;
  return 0;
}
static const char* dn_version(void) { return ""; }
#endif

// y = act(im2col(x) · W + bias); act 0 linear, 1 relu.
static void blas_forward(const Geo* g, const float* x, const float* w, const float* bias, int act, float* y) {
  const int64_t K = (int64_t)g->kH * g->kW * g->inC;
  const int64_t P = (int64_t)g->n * g->outH * g->outW;
  if (direct(g)) {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, P, g->outC, K, 1.f, x, K, w, g->outC, 0.f, y, g->outC);
  } else {
    const int64_t rows = chunk_rows(g);
    float* cols = malloc(sizeof(float) * rows * K);
    for (int64_t r0 = 0; r0 < P; r0 += rows) {
      const int64_t r1 = r0 + rows < P ? r0 + rows : P;
      im2col(g, x, cols, r0, r1);
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, r1 - r0, g->outC, K, 1.f, cols, K, w, g->outC, 0.f,
                  y + r0 * g->outC, g->outC);
    }
    free(cols);
  }
  if (bias || act) {
    for (int64_t r = 0; r < P; r++) {
      float* row = y + r * g->outC;
      if (bias) for (int o = 0; o < g->outC; o++) row[o] += bias[o];
      if (act == 1) for (int o = 0; o < g->outC; o++) row[o] = row[o] > 0.f ? row[o] : 0.f;
    }
  }
}

// dx = col2im(dy · Wᵀ)
static void blas_backprop_input(const Geo* g, const float* dy, const float* w, const float* unused, int act, float* dx) {
  (void)unused, (void)act;
  const int64_t K = (int64_t)g->kH * g->kW * g->inC;
  const int64_t P = (int64_t)g->n * g->outH * g->outW;
  if (direct(g)) {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, P, K, g->outC, 1.f, dy, g->outC, w, g->outC, 0.f, dx, K);
    return;
  }
  memset(dx, 0, sizeof(float) * g->n * g->inH * g->inW * g->inC);
  const int64_t rows = chunk_rows(g);
  float* cols = malloc(sizeof(float) * rows * K);
  for (int64_t r0 = 0; r0 < P; r0 += rows) {
    const int64_t r1 = r0 + rows < P ? r0 + rows : P;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, r1 - r0, K, g->outC, 1.f, dy + r0 * g->outC, g->outC, w,
                g->outC, 0.f, cols, K);
    col2im(g, cols, dx, r0, r1);
  }
  free(cols);
}

// dW = Σ_chunks im2col(x)ᵀ · dy
static void blas_backprop_filter(const Geo* g, const float* x, const float* dy, const float* unused, int act, float* dw) {
  (void)unused, (void)act;
  const int64_t K = (int64_t)g->kH * g->kW * g->inC;
  const int64_t P = (int64_t)g->n * g->outH * g->outW;
  if (direct(g)) {
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, K, g->outC, P, 1.f, x, K, dy, g->outC, 0.f, dw, g->outC);
    return;
  }
  const int64_t rows = chunk_rows(g);
  float* cols = malloc(sizeof(float) * rows * K);
  for (int64_t r0 = 0; r0 < P; r0 += rows) {
    const int64_t r1 = r0 + rows < P ? r0 + rows : P;
    im2col(g, x, cols, r0, r1);
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, K, g->outC, r1 - r0, 1.f, cols, K, dy + r0 * g->outC,
                g->outC, r0 == 0 ? 0.f : 1.f, dw, g->outC);
  }
  free(cols);
}

static void conv_forward(const Geo* g, const float* x, const float* w, const float* bias, int act, float* y) {
  if (!dn_conv(DN_FWD, g, x, w, bias, act, y, blas_forward)) blas_forward(g, x, w, bias, act, y);
}

static void conv_backprop_input(const Geo* g, const float* dy, const float* w, float* dx) {
  if (!dn_conv(DN_BWD_DATA, g, dy, w, NULL, 0, dx, blas_backprop_input)) blas_backprop_input(g, dy, w, NULL, 0, dx);
}

static void conv_backprop_filter(const Geo* g, const float* x, const float* dy, float* dw) {
  if (!dn_conv(DN_BWD_W, g, x, dy, NULL, 0, dw, blas_backprop_filter)) blas_backprop_filter(g, x, dy, NULL, 0, dw);
}

// ---- other training-step kernels whose stock wasm versions are scalar loops or need a transpose ----

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

static void tile(const int32_t* in, int32_t* out, const int32_t* shape, const int32_t* reps, int rank) {
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
static void reduce_sum(const float* x, float* out, int64_t rows, int64_t cols, int leading, double scale) {
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
// geo: n, inH, inW, c, outH, outW, kH, kW, sH, sW, padTop, padLeft
static void max_pool_grad(const int32_t* g, const float* x, const float* dy, float* dx) {
  const int n = g[0], inH = g[1], inW = g[2], C = g[3], outH = g[4], outW = g[5], kH = g[6], kW = g[7], sH = g[8],
            sW = g[9], pt = g[10], pl = g[11];
  memset(dx, 0, sizeof(float) * (int64_t)n * inH * inW * C);
  float* best = malloc(sizeof(float) * C);
  int64_t* where = malloc(sizeof(int64_t) * C);
  for (int b = 0; b < n; b++)
    for (int i = 0; i < outH; i++)
      for (int j = 0; j < outW; j++) {
        for (int c = 0; c < C; c++) best[c] = -INFINITY, where[c] = -1;
        for (int p = 0; p < kH; p++) {
          const int ih = i * sH + p - pt;
          if (ih < 0 || ih >= inH) continue;
          for (int q = 0; q < kW; q++) {
            const int iw = j * sW + q - pl;
            if (iw < 0 || iw >= inW) continue;
            const int64_t base = (((int64_t)b * inH + ih) * inW + iw) * C;
            for (int c = 0; c < C; c++)
              if (x[base + c] > best[c] || where[c] < 0) best[c] = x[base + c], where[c] = base + c;
          }
        }
        const float* d = dy + (((int64_t)b * outH + i) * outW + j) * C;
        for (int c = 0; c < C; c++)
          if (where[c] >= 0) dx[where[c]] += d[c];
      }
  free(best);
  free(where);
}

// Batch norm with given statistics, channels last: y = (x - mean)·scale/√(var + eps) + offset = x·a[c] + b[c].
static void batch_norm(const float* x, float* y, int64_t rows, int64_t C, const float* mean, const float* var,
                       const float* scale, const float* offset, float eps) {
  float* a = malloc(sizeof(float) * C * 2);
  float* b = a + C;
  for (int64_t c = 0; c < C; c++) {
    a[c] = (scale ? scale[c] : 1.f) / sqrtf(var[c] + eps);
    b[c] = (offset ? offset[c] : 0.f) - mean[c] * a[c];
  }
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
static void batch_norm_grad(const float* x, const float* dy, int64_t rows, int64_t C, const float* mean,
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

// ---- N-API glue: f(heap, ..., byte offsets into heap, ...) ----

// Reads exactly `want` arguments into a[], the first of which must be the wasm heap; throws and returns NULL if not.
static char* heap_args(napi_env env, napi_callback_info info, size_t want, napi_value* a, const char* name) {
  size_t argc = want;
  void* heap = NULL;
  size_t len;
  char msg[160];
  if (napi_get_cb_info(env, info, &argc, a, NULL, NULL) != napi_ok || argc != want) {
    snprintf(msg, sizeof msg, "tsdl native %s: got %zu arguments, expected %zu", name, argc, want);
    napi_throw_error(env, NULL, msg);
    return NULL;
  }
  if (napi_get_arraybuffer_info(env, a[0], &heap, &len) != napi_ok || !heap) {
    snprintf(msg, sizeof msg, "tsdl native %s: argument 0 must be the wasm heap ArrayBuffer", name);
    napi_throw_type_error(env, NULL, msg);
    return NULL;
  }
  return heap;
}

// The Int32Array v's data and length, or NULL when v is not an Int32Array.
static int32_t* int32s(napi_env env, napi_value v, size_t* n) {
  napi_typedarray_type type;
  void* data = NULL;
  if (napi_get_typedarray_info(env, v, &type, n, &data, NULL, NULL) != napi_ok || type != napi_int32_array) return NULL;
  return data;
}

static napi_value bad_array(napi_env env, const char* name, int arg, const char* accepted) {
  char msg[160];
  snprintf(msg, sizeof msg, "tsdl native %s: argument %d must be %s", name, arg, accepted);
  napi_throw_type_error(env, NULL, msg);
  return NULL;
}

static int64_t off(napi_env env, napi_value v) {
  int64_t o = -1;
  napi_get_value_int64(env, v, &o);
  return o;
}

static double num(napi_env env, napi_value v) {
  double d = 0;
  napi_get_value_double(env, v, &d);
  return d;
}

#define PTR(heap, o) ((float*)((heap) + (o)))
static float* opt_ptr(char* heap, int64_t o) { return o < 0 ? NULL : PTR(heap, o); }  // an offset of -1 = absent

// The conv kernels: f(heap, geometry Int32Array(13), offsets...).
static int conv_args(napi_env env, napi_callback_info info, size_t want, napi_value* a, char** heap, Geo* g) {
  size_t n;
  int32_t* geo;
  if (!(*heap = heap_args(env, info, want, a, "conv"))) return 0;
  if (!(geo = int32s(env, a[1], &n)) || n != 13) return bad_array(env, "conv", 1, "an Int32Array(13) geometry"), 0;
  memcpy(g, geo, sizeof(Geo));
  return 1;
}

static napi_value js_forward(napi_env env, napi_callback_info info) {
  napi_value a[7];
  char* heap;
  Geo g;
  if (!conv_args(env, info, 7, a, &heap, &g)) return NULL;
  const int64_t bias = off(env, a[4]);
  conv_forward(&g, PTR(heap, off(env, a[2])), PTR(heap, off(env, a[3])), opt_ptr(heap, bias), (int)num(env, a[6]),
               PTR(heap, off(env, a[5])));
  return NULL;
}

static napi_value js_backprop_input(napi_env env, napi_callback_info info) {
  napi_value a[5];
  char* heap;
  Geo g;
  if (!conv_args(env, info, 5, a, &heap, &g)) return NULL;
  conv_backprop_input(&g, PTR(heap, off(env, a[2])), PTR(heap, off(env, a[3])), PTR(heap, off(env, a[4])));
  return NULL;
}

static napi_value js_backprop_filter(napi_env env, napi_callback_info info) {
  napi_value a[5];
  char* heap;
  Geo g;
  if (!conv_args(env, info, 5, a, &heap, &g)) return NULL;
  conv_backprop_filter(&g, PTR(heap, off(env, a[2])), PTR(heap, off(env, a[3])), PTR(heap, off(env, a[4])));
  return NULL;
}

static napi_value js_set_threads(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value a[1];
  int32_t n = 0;
  napi_get_cb_info(env, info, &argc, a, NULL, NULL);
  if (argc == 1) napi_get_value_int32(env, a[0], &n);
  if (n > 0) openblas_set_num_threads(n);
  napi_value out;
  napi_create_int32(env, openblas_get_num_threads(), &out);
  return out;
}

static napi_value js_config(napi_env env, napi_callback_info info) {
  napi_value out;
  const char* c = openblas_get_config();
  napi_create_string_utf8(env, c ? c : "", NAPI_AUTO_LENGTH, &out);
  return out;
}

// tile(heap, shape Int32Array, reps Int32Array, in, out)
static napi_value js_tile(napi_env env, napi_callback_info info) {
  napi_value a[5];
  size_t rank, nreps;
  char* heap = heap_args(env, info, 5, a, "tile");
  if (!heap) return NULL;
  int32_t* shape = int32s(env, a[1], &rank);
  if (!shape || rank < 1 || rank > 8) return bad_array(env, "tile", 1, "an Int32Array shape of rank 1 to 8");
  int32_t* reps = int32s(env, a[2], &nreps);
  if (!reps || nreps != rank) return bad_array(env, "tile", 2, "an Int32Array of reps, one per dimension");
  tile((int32_t*)(heap + off(env, a[3])), (int32_t*)(heap + off(env, a[4])), shape, reps, (int)rank);
  return NULL;
}

// reduceSum(heap, x, out, rows, cols, leading, scale)
static napi_value js_reduce_sum(napi_env env, napi_callback_info info) {
  napi_value a[7];
  char* heap = heap_args(env, info, 7, a, "reduceSum");
  if (!heap) return NULL;
  reduce_sum(PTR(heap, off(env, a[1])), PTR(heap, off(env, a[2])), off(env, a[3]), off(env, a[4]), (int)num(env, a[5]),
             num(env, a[6]));
  return NULL;
}

// maxPoolGrad(heap, geo Int32Array(12), x, dy, dx)
static napi_value js_max_pool_grad(napi_env env, napi_callback_info info) {
  napi_value a[5];
  size_t n;
  char* heap = heap_args(env, info, 5, a, "maxPoolGrad");
  if (!heap) return NULL;
  int32_t* g = int32s(env, a[1], &n);
  if (!g || n != 12) return bad_array(env, "maxPoolGrad", 1, "an Int32Array(12) geometry");
  max_pool_grad(g, PTR(heap, off(env, a[2])), PTR(heap, off(env, a[3])), PTR(heap, off(env, a[4])));
  return NULL;
}

// batchNorm(heap, x, y, rows, C, mean, var, scale|-1, offset|-1, eps)
static napi_value js_batch_norm(napi_env env, napi_callback_info info) {
  napi_value a[10];
  char* heap = heap_args(env, info, 10, a, "batchNorm");
  if (!heap) return NULL;
  batch_norm(PTR(heap, off(env, a[1])), PTR(heap, off(env, a[2])), off(env, a[3]), off(env, a[4]),
             PTR(heap, off(env, a[5])), PTR(heap, off(env, a[6])), opt_ptr(heap, off(env, a[7])),
             opt_ptr(heap, off(env, a[8])), (float)num(env, a[9]));
  return NULL;
}

// batchNormGrad(heap, x, dy, rows, C, mean, var, scale|-1, eps, dx, dmean, dvar, dscale, doffset)
static napi_value js_batch_norm_grad(napi_env env, napi_callback_info info) {
  napi_value a[14];
  char* heap = heap_args(env, info, 14, a, "batchNormGrad");
  if (!heap) return NULL;
  batch_norm_grad(PTR(heap, off(env, a[1])), PTR(heap, off(env, a[2])), off(env, a[3]), off(env, a[4]),
                  PTR(heap, off(env, a[5])), PTR(heap, off(env, a[6])), opt_ptr(heap, off(env, a[7])),
                  (float)num(env, a[8]), PTR(heap, off(env, a[9])), PTR(heap, off(env, a[10])),
                  PTR(heap, off(env, a[11])), PTR(heap, off(env, a[12])), PTR(heap, off(env, a[13])));
  return NULL;
}

// dnnl(mode?: 0 off, 1 auto, 2 always) -> the oneDNN version when compiled in and not off, else ""
static napi_value js_dnnl(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value a[1], out;
  napi_get_cb_info(env, info, &argc, a, NULL, NULL);
  if (argc == 1) {
    int32_t mode = 1;
    napi_get_value_int32(env, a[0], &mode);
    dn_enabled = mode;
  }
  const char* v = dn_version();
  napi_create_string_utf8(env, dn_enabled ? v : "", NAPI_AUTO_LENGTH, &out);
  return out;
}

NAPI_MODULE_INIT() {
  const napi_property_descriptor props[] = {
      {"forward", NULL, js_forward, NULL, NULL, NULL, napi_default, NULL},
      {"backpropInput", NULL, js_backprop_input, NULL, NULL, NULL, napi_default, NULL},
      {"backpropFilter", NULL, js_backprop_filter, NULL, NULL, NULL, napi_default, NULL},
      {"tile", NULL, js_tile, NULL, NULL, NULL, napi_default, NULL},
      {"reduceSum", NULL, js_reduce_sum, NULL, NULL, NULL, napi_default, NULL},
      {"maxPoolGrad", NULL, js_max_pool_grad, NULL, NULL, NULL, napi_default, NULL},
      {"batchNorm", NULL, js_batch_norm, NULL, NULL, NULL, napi_default, NULL},
      {"batchNormGrad", NULL, js_batch_norm_grad, NULL, NULL, NULL, napi_default, NULL},
      {"dnnl", NULL, js_dnnl, NULL, NULL, NULL, napi_default, NULL},
      {"threads", NULL, js_set_threads, NULL, NULL, NULL, napi_default, NULL},
      {"config", NULL, js_config, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_define_properties(env, exports, sizeof(props) / sizeof(props[0]), props);
  return exports;
}
