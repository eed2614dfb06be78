// The optional oneDNN path (Debian libdnnl-dev; compiled with -DTSDL_DNNL): direct convolutions on NHWC data,
// the library PyTorch's CPU convolutions use. Primitives are created once per shape; weights are reordered into the
// primitive's blocked layout on each call (they change every step), mostly by wei_reorder. Any failure (no primitive, only a reference
// implementation) returns 0 and the caller uses im2col + OpenBLAS. Which of the two runs is decided in conv.c.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "native.h"

#ifdef TSDL_DNNL
#include <dnnl.h>

typedef struct DnEntry {
  int kind, bias, act, ok;
  Geo g;
  dnnl_memory_desc_t src, dst, wuser, wprim, bmd;
  dnnl_primitive_t prim, reorder;
  void* wbuf;
  double wid;  // which weights wbuf holds (forward, dx): tfjs never changes a tensor's data, so an id is enough
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

// Weights between tfjs's HWIO and the primitive's blocked layout, for the layouts oneDNN's f32 convolutions ask
// for here (O blocked, e.g. Acdb64a; O and I blocked 16x16 either way round, e.g. ABcd16a16b): plain loops that
// read HWIO in order. oneDNN's generic jit:uni reorder took 11.5 ms wall (4.4 ms CPU) for 512x512x3x3, this 3.2 ms
// on one thread (now on both); per training step the weights are reordered three times (forward, dx, dW). Returns 0 for any
// other layout, which the caller leaves to oneDNN's reorder.
static int wei_reorder(const dnnl_memory_desc_t* md, float* hwio, float* blk, int to_blocked) {
  const dnnl_blocking_desc_t* bd = &md->format_desc.blocking;
  if (md->format_kind != dnnl_blocked || md->ndims != 4 || md->extra.flags != 0 || md->data_type != dnnl_f32) return 0;
  const int nb = bd->inner_nblks;
  int64_t bo = 1, bi = 1;  // block sizes of O (dim 0) and I (dim 1)
  for (int k = 0; k < nb; k++) {
    if (bd->inner_idxs[k] == 0) bo = bd->inner_blks[k];
    else if (bd->inner_idxs[k] == 1) bi = bd->inner_blks[k];
    else return 0;
  }
  if (nb > 2 || (nb == 2 && bo * bi == 1)) return 0;
  const int i_inner = nb == 2 && bd->inner_idxs[1] == 1;  // ...16a16b: i varies fastest within a block
  const int64_t O = md->dims[0], I = md->dims[1], H = md->dims[2], W = md->dims[3];
  const dnnl_dim_t* st = bd->strides;
  if (to_blocked && (md->padded_dims[0] != O || md->padded_dims[1] != I)) memset(blk, 0, dnnl_memory_desc_get_size(md));
  blk += md->offset0;
  // Every (h, w, i) moves its own row of O: on both threads (a 512x512x3x3 filter is 9.4 MB each way).
#pragma omp parallel for collapse(3) schedule(static) if (H * W * I * O >= PARALLEL_MIN)
  for (int64_t h = 0; h < H; h++)
    for (int64_t w = 0; w < W; w++)
      for (int64_t i = 0; i < I; i++) {
        float* row = hwio + ((h * W + w) * I + i) * O;
        float* base = blk + (i / bi) * st[1] + h * st[2] + w * st[3];
        const int64_t ii = i % bi;
        for (int64_t o0 = 0; o0 < O; o0 += bo) {
          const int64_t n = O - o0 < bo ? O - o0 : bo;
          float* tile = base + (o0 / bo) * st[0];
          float* src = row + o0;
          if (!i_inner) {  // O innermost: a contiguous run of n
            float* d = tile + ii * bo;
            if (to_blocked) memcpy(d, src, sizeof(float) * n);
            else memcpy(src, d, sizeof(float) * n);
          } else if (to_blocked) {
            for (int64_t oo = 0; oo < n; oo++) tile[oo * bi + ii] = src[oo];
          } else {
            for (int64_t oo = 0; oo < n; oo++) src[oo] = tile[oo * bi + ii];
          }
        }
      }
  return 1;
}

// kind DN_FWD: a = x, b = w, c = bias (or NULL), out = y. DN_BWD_DATA: a = dy, b = w, out = dx.
// DN_BWD_W: a = x, b = dy, out = dW.
static void dn_run(DnEntry* e, const float* a, const float* b, const float* c, float* out, double wid) {
  const int kind = e->kind;
  dnnl_memory_t wuser = NULL, wprim = NULL, m1, m2, m3, mb = NULL;
  if (kind == DN_BWD_W) {
    m1 = dn_mem(&e->src, a), m2 = dn_mem(&e->dst, b);
    wuser = dn_mem(&e->wuser, out);
    wprim = e->reorder ? dn_mem(&e->wprim, e->wbuf) : wuser;
    dnnl_exec_arg_t args[3] = {{DNNL_ARG_SRC, m1}, {DNNL_ARG_DIFF_DST, m2}, {DNNL_ARG_DIFF_WEIGHTS, wprim}};
    dnnl_primitive_execute(e->prim, dn_strm, 3, args);
    if (e->reorder) {
      dnnl_stream_wait(dn_strm);
      if (!wei_reorder(&e->wprim, out, e->wbuf, 0)) dn_reorder(e, wprim, wuser);
    }
    m3 = NULL;
  } else {
    wuser = dn_mem(&e->wuser, b);
    wprim = wuser;
    if (e->reorder) {
      wprim = dn_mem(&e->wprim, e->wbuf);
      if (wid == 0 || wid != e->wid) {
        if (!wei_reorder(&e->wprim, (float*)b, e->wbuf, 1)) dn_reorder(e, wuser, wprim);
        e->wid = wid;
      }
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

int dn_conv(int kind, const Geo* g, const float* a, const float* b, const float* c, int act, float* out, double wid) {
  DnEntry* e = dn_get(kind, g, c != NULL, act);
  if (!e) return 0;
  dn_run(e, a, b, c, out, wid);
  return 1;
}

const char* dn_version(void) {
  static char v[32];
  const dnnl_version_t* ver = dnnl_version();
  snprintf(v, sizeof v, "%d.%d.%d", ver->major, ver->minor, ver->patch);
  return v;
}
#else
int dn_conv(int kind, const Geo* g, const float* a, const float* b, const float* c, int act, float* out, double wid) {
  (void)kind, (void)g, (void)a, (void)b, (void)c, (void)act, (void)out, (void)wid;
  return 0;
}
const char* dn_version(void) { return ""; }
#endif
