// N-API glue: every entry point is f(heap, ..., byte offsets into the heap, ...), the heap being the wasm
// memory's ArrayBuffer, so no tensor is copied in or out. Malformed calls throw naming the kernel and argument.
#include <cblas.h>
#include <node_api.h>
#include <omp.h>
#include <stdio.h>
#include <string.h>

#include "native.h"

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

// The path that ran (a number), or after PATH_TIME the times [oneDNN ms, OpenBLAS ms] (oneDNN -1: it cannot).
static napi_value conv_result(napi_env env, int ran, int path, const double ms[2]) {
  napi_value out, v;
  if (path != PATH_TIME) {
    napi_create_int32(env, ran, &out);
    return out;
  }
  napi_create_array_with_length(env, 2, &out);
  for (uint32_t i = 0; i < 2; i++) napi_create_double(env, ms[i], &v), napi_set_element(env, out, i, v);
  return out;
}

static int conv_path(napi_env env, napi_value v) {
  const int p = (int)num(env, v);
  return p == PATH_DNNL || p == PATH_TIME ? p : PATH_BLAS;
}

// forward(heap, geo, x, w, bias|-1, y, act, path, weights id)
static napi_value js_forward(napi_env env, napi_callback_info info) {
  napi_value a[9];
  char* heap;
  Geo g;
  double ms[2];
  if (!conv_args(env, info, 9, a, &heap, &g)) return NULL;
  const int path = conv_path(env, a[7]);
  const int ran = conv_run(DN_FWD, &g, PTR(heap, off(env, a[2])), PTR(heap, off(env, a[3])),
                           opt_ptr(heap, off(env, a[4])), (int)num(env, a[6]), PTR(heap, off(env, a[5])), path,
                           num(env, a[8]), ms);
  return conv_result(env, ran, path, ms);
}

// backpropInput(heap, geo, dy, w, dx, path, weights id)
static napi_value js_backprop_input(napi_env env, napi_callback_info info) {
  napi_value a[7];
  char* heap;
  Geo g;
  double ms[2];
  if (!conv_args(env, info, 7, a, &heap, &g)) return NULL;
  const int path = conv_path(env, a[5]);
  const int ran = conv_run(DN_BWD_DATA, &g, PTR(heap, off(env, a[2])), PTR(heap, off(env, a[3])), NULL, 0,
                           PTR(heap, off(env, a[4])), path, num(env, a[6]), ms);
  return conv_result(env, ran, path, ms);
}

// backpropFilter(heap, geo, x, dy, dw, path)
static napi_value js_backprop_filter(napi_env env, napi_callback_info info) {
  napi_value a[6];
  char* heap;
  Geo g;
  double ms[2];
  if (!conv_args(env, info, 6, a, &heap, &g)) return NULL;
  const int path = conv_path(env, a[5]);
  const int ran = conv_run(DN_BWD_W, &g, PTR(heap, off(env, a[2])), PTR(heap, off(env, a[3])), NULL, 0,
                           PTR(heap, off(env, a[4])), path, 0, ms);
  return conv_result(env, ran, path, ms);
}

// threads() -> how many threads the add-on's kernels run on (OpenMP's; OpenBLAS runs single-threaded inside them)
static napi_value js_threads(napi_env env, napi_callback_info info) {
  (void)info;
  napi_value out;
  napi_create_int32(env, omp_get_max_threads(), &out);
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

// batchNormTrain(heap, x, y, rows, C, scale|-1, offset|-1, eps, relu, mean, var)
static napi_value js_batch_norm_train(napi_env env, napi_callback_info info) {
  napi_value a[11];
  char* heap = heap_args(env, info, 11, a, "batchNormTrain");
  if (!heap) return NULL;
  batch_norm_train(PTR(heap, off(env, a[1])), PTR(heap, off(env, a[2])), off(env, a[3]), off(env, a[4]),
                   opt_ptr(heap, off(env, a[5])), opt_ptr(heap, off(env, a[6])), (float)num(env, a[7]),
                   (int)num(env, a[8]), PTR(heap, off(env, a[9])), PTR(heap, off(env, a[10])));
  return NULL;
}

// batchNormTrainGrad(heap, x, dy, y|-1, rows, C, mean, var, scale|-1, eps, dmean|-1, dvar|-1, dx, dscale, doffset)
static napi_value js_batch_norm_train_grad(napi_env env, napi_callback_info info) {
  napi_value a[15];
  char* heap = heap_args(env, info, 15, a, "batchNormTrainGrad");
  if (!heap) return NULL;
  batch_norm_train_grad(PTR(heap, off(env, a[1])), PTR(heap, off(env, a[2])), opt_ptr(heap, off(env, a[3])),
                        off(env, a[4]), off(env, a[5]), PTR(heap, off(env, a[6])), PTR(heap, off(env, a[7])),
                        opt_ptr(heap, off(env, a[8])), (float)num(env, a[9]), opt_ptr(heap, off(env, a[10])),
                        opt_ptr(heap, off(env, a[11])), PTR(heap, off(env, a[12])), PTR(heap, off(env, a[13])),
                        PTR(heap, off(env, a[14])));
  return NULL;
}

// relu(heap, x, y, n)
static napi_value js_relu(napi_env env, napi_callback_info info) {
  napi_value a[4];
  char* heap = heap_args(env, info, 4, a, "relu");
  if (!heap) return NULL;
  relu(PTR(heap, off(env, a[1])), PTR(heap, off(env, a[2])), off(env, a[3]));
  return NULL;
}

// reluGrad(heap, dy, x, dx, n)
static napi_value js_relu_grad(napi_env env, napi_callback_info info) {
  napi_value a[5];
  char* heap = heap_args(env, info, 5, a, "reluGrad");
  if (!heap) return NULL;
  relu_grad(PTR(heap, off(env, a[1])), PTR(heap, off(env, a[2])), PTR(heap, off(env, a[3])), off(env, a[4]));
  return NULL;
}

// binary(heap, op, a, b, out, n, aScalar, bScalar): op 0 add, 1 subtract, 2 multiply
static napi_value js_binary(napi_env env, napi_callback_info info) {
  napi_value a[8];
  char* heap = heap_args(env, info, 8, a, "binary");
  if (!heap) return NULL;
  binary((int)num(env, a[1]), PTR(heap, off(env, a[2])), PTR(heap, off(env, a[3])), PTR(heap, off(env, a[4])),
         off(env, a[5]), (int)num(env, a[6]), (int)num(env, a[7]));
  return NULL;
}

// sgdStep(heap, p, grad, out, n, weightDecay, -lr, maximize)
static napi_value js_sgd_step(napi_env env, napi_callback_info info) {
  napi_value a[8];
  char* heap = heap_args(env, info, 8, a, "sgdStep");
  if (!heap) return NULL;
  sgd_step(PTR(heap, off(env, a[1])), PTR(heap, off(env, a[2])), PTR(heap, off(env, a[3])), off(env, a[4]),
           (float)num(env, a[5]), (float)num(env, a[6]), (int)num(env, a[7]));
  return NULL;
}

// slice(heap, x, out, shape Int32Array(4), begin Int32Array(4), size Int32Array(4))
static napi_value js_slice(napi_env env, napi_callback_info info) {
  napi_value a[6];
  size_t n[3];
  int32_t* v[3];
  char* heap = heap_args(env, info, 6, a, "slice");
  if (!heap) return NULL;
  for (int k = 0; k < 3; k++)
    if (!(v[k] = int32s(env, a[3 + k], &n[k])) || n[k] != 4) return bad_array(env, "slice", 3 + k, "an Int32Array(4)");
  slice4((int32_t*)(heap + off(env, a[1])), (int32_t*)(heap + off(env, a[2])), v[0], v[1], v[2]);
  return NULL;
}

// avgPoolGrad(heap, geo Int32Array(10), dy, dx)
static napi_value js_avg_pool_grad(napi_env env, napi_callback_info info) {
  napi_value a[4];
  size_t n;
  char* heap = heap_args(env, info, 4, a, "avgPoolGrad");
  if (!heap) return NULL;
  int32_t* g = int32s(env, a[1], &n);
  if (!g || n != 10) return bad_array(env, "avgPoolGrad", 1, "an Int32Array(10) geometry");
  avg_pool_grad(g, PTR(heap, off(env, a[2])), PTR(heap, off(env, a[3])));
  return NULL;
}

// dnnl() -> the oneDNN version when compiled in, else ""
static napi_value js_dnnl(napi_env env, napi_callback_info info) {
  napi_value out;
  napi_create_string_utf8(env, dn_version(), NAPI_AUTO_LENGTH, &out);
  return out;
}

// Plain writable properties, as a JS module's exports (tests wrap them to count calls).
NAPI_MODULE_INIT() {
  openblas_set_num_threads(1);  // the convolutions call it on each OpenMP thread (conv.c)
  const napi_property_descriptor props[] = {
      {"forward", NULL, js_forward, NULL, NULL, NULL, napi_default_jsproperty, NULL},
      {"backpropInput", NULL, js_backprop_input, NULL, NULL, NULL, napi_default_jsproperty, NULL},
      {"backpropFilter", NULL, js_backprop_filter, NULL, NULL, NULL, napi_default_jsproperty, NULL},
      {"tile", NULL, js_tile, NULL, NULL, NULL, napi_default_jsproperty, NULL},
      {"reduceSum", NULL, js_reduce_sum, NULL, NULL, NULL, napi_default_jsproperty, NULL},
      {"maxPoolGrad", NULL, js_max_pool_grad, NULL, NULL, NULL, napi_default_jsproperty, NULL},
      {"batchNorm", NULL, js_batch_norm, NULL, NULL, NULL, napi_default_jsproperty, NULL},
      {"batchNormGrad", NULL, js_batch_norm_grad, NULL, NULL, NULL, napi_default_jsproperty, NULL},
      {"batchNormTrain", NULL, js_batch_norm_train, NULL, NULL, NULL, napi_default_jsproperty, NULL},
      {"batchNormTrainGrad", NULL, js_batch_norm_train_grad, NULL, NULL, NULL, napi_default_jsproperty, NULL},
      {"relu", NULL, js_relu, NULL, NULL, NULL, napi_default_jsproperty, NULL},
      {"reluGrad", NULL, js_relu_grad, NULL, NULL, NULL, napi_default_jsproperty, NULL},
      {"binary", NULL, js_binary, NULL, NULL, NULL, napi_default_jsproperty, NULL},
      {"sgdStep", NULL, js_sgd_step, NULL, NULL, NULL, napi_default_jsproperty, NULL},
      {"slice", NULL, js_slice, NULL, NULL, NULL, napi_default_jsproperty, NULL},
      {"avgPoolGrad", NULL, js_avg_pool_grad, NULL, NULL, NULL, napi_default_jsproperty, NULL},
      {"dnnl", NULL, js_dnnl, NULL, NULL, NULL, napi_default_jsproperty, NULL},
      {"threads", NULL, js_threads, NULL, NULL, NULL, napi_default_jsproperty, NULL},
      {"config", NULL, js_config, NULL, NULL, NULL, napi_default_jsproperty, NULL},
  };
  napi_define_properties(env, exports, sizeof(props) / sizeof(props[0]), props);
  return exports;
}
