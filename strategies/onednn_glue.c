/* oneDNN glue: convbp problems as oneDNN convolution primitives, and MMA
 * problems as oneDNN matmul primitives (C API, 2.x).
 *
 * prepare() does everything that is set-up: engine, stream, primitive
 * descriptors (backward ones with the forward hint oneDNN requires), primitives,
 * reorders for the blocked variant, and a user-mode scratchpad.  run() only sets
 * data handles and executes, so what the harness times is the computation (and,
 * for *_blocked, the reorders).  oneDNN's dilation is 0-based: dnnl dilate =
 * convbp dil - 1.  oneDNN's OpenMP runtime uses omp_get_max_threads(), and its
 * kernels fix their work split when they are created, so prepare() and run()
 * both set it to the strategy's thread count, capped by OMP_THREAD_LIMIT: a
 * kernel planned for two threads that gets one waits for the second (the Zen 4
 * EPYC) or returns a wrong output (some checks on the model-167 Xeon).  Inside
 * a caller's active parallel region oneDNN runs every parallel section on the
 * calling thread alone, so there both count one thread (onednn_threads): a
 * kernel planned for two waits there at its first barrier for a second thread
 * that never comes (bpw_onednn_blocked's reduction did, asked for two threads
 * from inside a region), and run() refuses a primitive planned for other
 * threads than it would get, such as one prepared outside a region. */
#include "onednn_glue.h"

#include <oneapi/dnnl/dnnl.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
  dnnl_engine_t engine;
  dnnl_stream_t stream;
  dnnl_primitive_desc_t fwd_pd, pd;
  dnnl_primitive_t prim;
  dnnl_memory_t scratch;
  /* Canonical (user) memories for x, y, out, and the primitive's own when blocked. */
  dnnl_memory_t user[3], inner[3];
  dnnl_primitive_t reorder[3]; /* x, y: user -> inner; out: inner -> user */
  int args[3];                 /* DNNL_ARG_* of x, y, out */
  int threads;                 /* what its kernels were planned for (onednn_threads) */
} onednn_state;

/* The threads oneDNN's parallel sections get when asked for `threads`: at
   most OMP_THREAD_LIMIT, and one inside an active region (its OpenMP runtime
   tests omp_in_parallel() and runs the section on the caller). */
static int onednn_threads(int threads) {
  return omp_in_parallel() ? 1 : cbp_grantable_threads(threads);
}

/* oneDNN's handles of s, not s itself. */
static void release_handles(onednn_state *s) {
  for (int i = 0; i < 3; i++) {
    if (s->reorder[i]) dnnl_primitive_destroy(s->reorder[i]);
    if (s->inner[i]) dnnl_memory_destroy(s->inner[i]);
    if (s->user[i]) dnnl_memory_destroy(s->user[i]);
  }
  if (s->scratch) dnnl_memory_destroy(s->scratch);
  if (s->prim) dnnl_primitive_destroy(s->prim);
  if (s->pd) dnnl_primitive_desc_destroy(s->pd);
  if (s->fwd_pd) dnnl_primitive_desc_destroy(s->fwd_pd);
  if (s->stream) dnnl_stream_destroy(s->stream);
  if (s->engine) dnnl_engine_destroy(s->engine);
}

static void destroy(onednn_state *s) {
  if (!s) return;
  release_handles(s);
  free(s);
}

/* Logical dims (N,C,H,W), (K,C,R,S), (N,K,P,Q) with the canonical or "any" tag. */
static void mds(const cbp_problem *pb, int any, dnnl_memory_desc_t *src, dnnl_memory_desc_t *wei,
                dnnl_memory_desc_t *dst) {
  const convbp_conv *c = &pb->conv;
  dnnl_dims_t sd = {c->n, c->c, c->h, c->w}, wd = {c->k, c->c, c->r, c->s},
              dd = {c->n, c->k, pb->p, pb->q};
  dnnl_memory_desc_init_by_tag(src, 4, sd, dnnl_f32, any ? dnnl_format_tag_any : dnnl_nhwc);
  dnnl_memory_desc_init_by_tag(wei, 4, wd, dnnl_f32, any ? dnnl_format_tag_any : dnnl_ohwi);
  dnnl_memory_desc_init_by_tag(dst, 4, dd, dnnl_f32, any ? dnnl_format_tag_any : dnnl_nhwc);
}

/* MMA as matmul, dst = src * weights, on convbp's row-major buffers: a
   transposed operand is the buffer read with the ba tag, no copy.
     MMA_BPA: dX (M x K) = dY (M x N) * W^T, W^T (N x K) = W (K x N) as ba
     MMA_BPW: dW (K x N) = X^T * dY,         X^T (K x M) = X (M x K) as ba */
static void mma_mds(const cbp_problem *pb, dnnl_memory_desc_t *src, dnnl_memory_desc_t *wei,
                    dnnl_memory_desc_t *dst) {
  const dnnl_dim_t M = pb->mma.m, N = pb->mma.n, K = pb->mma.k;
  const int bpa = pb->op == CONVBP_MMA_BPA;
  dnnl_dims_t sd = {bpa ? M : K, bpa ? N : M}, wd = {bpa ? N : M, bpa ? K : N},
              dd = {bpa ? M : K, bpa ? K : N};
  dnnl_memory_desc_init_by_tag(src, 2, sd, dnnl_f32, bpa ? dnnl_ab : dnnl_ba);
  dnnl_memory_desc_init_by_tag(wei, 2, wd, dnnl_f32, bpa ? dnnl_ba : dnnl_ab);
  dnnl_memory_desc_init_by_tag(dst, 2, dd, dnnl_f32, dnnl_ab);
}

/* The canonical descriptors of pb's op: conv or matmul. */
static void user_mds(const cbp_problem *pb, dnnl_memory_desc_t *src, dnnl_memory_desc_t *wei,
                     dnnl_memory_desc_t *dst) {
  if (convbp_op_is_mma(pb->op))
    mma_mds(pb, src, wei, dst);
  else
    mds(pb, 0, src, wei, dst);
}

/* Builds the primitive descriptors; on failure returns a reason (static text). */
static const char *create_pds(const cbp_problem *pb, int blocked, onednn_state *s) {
  const convbp_conv *c = &pb->conv;
  if (dnnl_engine_create(&s->engine, dnnl_cpu, 0) != dnnl_success) return "oneDNN: no CPU engine";
  dnnl_primitive_attr_t attr;
  if (dnnl_primitive_attr_create(&attr) != dnnl_success) return "oneDNN: attribute creation failed";
  dnnl_primitive_attr_set_scratchpad_mode(attr, dnnl_scratchpad_mode_user);
  dnnl_memory_desc_t src, wei, dst;
  const char *why = NULL;
  if (convbp_op_is_mma(pb->op)) {
    dnnl_matmul_desc_t mm;
    mma_mds(pb, &src, &wei, &dst);
    if (dnnl_matmul_desc_init(&mm, &src, &wei, NULL, &dst) != dnnl_success ||
        dnnl_primitive_desc_create(&s->pd, &mm, attr, s->engine, NULL) != dnnl_success)
      why = "oneDNN has no matmul for this problem";
    dnnl_primitive_attr_destroy(attr);
    return why;
  }
  mds(pb, blocked, &src, &wei, &dst);
  dnnl_dims_t strides = {c->stride_h, c->stride_w}, dil = {c->dil_h - 1, c->dil_w - 1},
              pad_l = {c->pad_h, c->pad_w}, pad_r = {c->pad_h, c->pad_w};
  dnnl_convolution_desc_t fwd, bwd;
  if (dnnl_dilated_convolution_forward_desc_init(&fwd, dnnl_forward_training, dnnl_convolution_direct,
                                                 &src, &wei, NULL, &dst, strides, dil, pad_l,
                                                 pad_r) != dnnl_success ||
      dnnl_primitive_desc_create(&s->fwd_pd, &fwd, attr, s->engine, NULL) != dnnl_success) {
    why = "oneDNN has no forward convolution for this problem";
  } else if (pb->op == CONVBP_FWD) {
    s->pd = s->fwd_pd;
    s->fwd_pd = NULL;
  } else if (pb->op == CONVBP_BPA) {
    if (dnnl_dilated_convolution_backward_data_desc_init(&bwd, dnnl_convolution_direct, &src, &wei,
                                                         &dst, strides, dil, pad_l, pad_r) != dnnl_success ||
        dnnl_primitive_desc_create(&s->pd, &bwd, attr, s->engine, s->fwd_pd) != dnnl_success)
      why = "oneDNN has no backward-data convolution for this problem";
  } else {
    if (dnnl_dilated_convolution_backward_weights_desc_init(&bwd, dnnl_convolution_direct, &src, &wei,
                                                            NULL, &dst, strides, dil, pad_l, pad_r) != dnnl_success ||
        dnnl_primitive_desc_create(&s->pd, &bwd, attr, s->engine, s->fwd_pd) != dnnl_success)
      why = "oneDNN has no backward-weights convolution for this problem";
  }
  dnnl_primitive_attr_destroy(attr);
  return why;
}

/* A state on the stack: out of memory is prepare's to report, not a reason
   the problem is unsupported. */
const char *cbp_onednn_supports(const cbp_problem *pb, int blocked) {
  onednn_state s;
  memset(&s, 0, sizeof s);
  const char *why = create_pds(pb, blocked, &s);
  release_handles(&s);
  return why;
}

int cbp_onednn_prepare(const cbp_problem *pb, int threads, int blocked, void **state) {
  /* oneDNN splits the work by the thread count current at creation. */
  const int granted = onednn_threads(threads);
  omp_set_num_threads(granted);
  onednn_state *s = calloc(1, sizeof *s);
  if (!s) return CONVBP_ERR_NOMEM;
  s->threads = granted;
  if (create_pds(pb, blocked, s)) {
    destroy(s);
    return CONVBP_ERR_UNSUPPORTED;
  }
  int st = CONVBP_ERR_INTERNAL;
  dnnl_memory_desc_t src, wei, dst;
  user_mds(pb, &src, &wei, &dst);
  /* x, y, out and their oneDNN argument names, by op. */
  const dnnl_memory_desc_t *umd[3];
  dnnl_query_t q[3];
  switch (pb->op) {
    case CONVBP_FWD:
    case CONVBP_MMA_BPA: /* dY, W, dX as src, weights, dst (see mma_mds) */
    case CONVBP_MMA_BPW: /* X, dY, dW likewise */
      umd[0] = &src, umd[1] = &wei, umd[2] = &dst;
      q[0] = dnnl_query_src_md, q[1] = dnnl_query_weights_md, q[2] = dnnl_query_dst_md;
      s->args[0] = DNNL_ARG_SRC, s->args[1] = DNNL_ARG_WEIGHTS, s->args[2] = DNNL_ARG_DST;
      break;
    case CONVBP_BPA:
      umd[0] = &dst, umd[1] = &wei, umd[2] = &src;
      q[0] = dnnl_query_diff_dst_md, q[1] = dnnl_query_weights_md, q[2] = dnnl_query_diff_src_md;
      s->args[0] = DNNL_ARG_DIFF_DST, s->args[1] = DNNL_ARG_WEIGHTS, s->args[2] = DNNL_ARG_DIFF_SRC;
      break;
    default:
      umd[0] = &src, umd[1] = &dst, umd[2] = &wei;
      q[0] = dnnl_query_src_md, q[1] = dnnl_query_diff_dst_md, q[2] = dnnl_query_diff_weights_md;
      s->args[0] = DNNL_ARG_SRC, s->args[1] = DNNL_ARG_DIFF_DST, s->args[2] = DNNL_ARG_DIFF_WEIGHTS;
      break;
  }
  if (dnnl_stream_create(&s->stream, s->engine, dnnl_stream_default_flags) != dnnl_success ||
      dnnl_primitive_create(&s->prim, s->pd) != dnnl_success)
    goto fail;
  const dnnl_memory_desc_t *smd = dnnl_primitive_desc_query_md(s->pd, dnnl_query_scratchpad_md, 0);
  if (smd && dnnl_memory_desc_get_size(smd) > 0 &&
      dnnl_memory_create(&s->scratch, smd, s->engine, DNNL_MEMORY_ALLOCATE) != dnnl_success)
    goto fail;
  for (int i = 0; i < 3; i++) {
    if (dnnl_memory_create(&s->user[i], umd[i], s->engine, DNNL_MEMORY_NONE) != dnnl_success) goto fail;
    const dnnl_memory_desc_t *imd = dnnl_primitive_desc_query_md(s->pd, q[i], 0);
    if (!imd) goto fail;
    if (dnnl_memory_desc_equal(imd, umd[i])) continue; /* the primitive reads the user buffer */
    dnnl_primitive_desc_t rpd;
    if (dnnl_memory_create(&s->inner[i], imd, s->engine, DNNL_MEMORY_ALLOCATE) != dnnl_success) goto fail;
    dnnl_status_t rs = i < 2 ? dnnl_reorder_primitive_desc_create(&rpd, umd[i], s->engine, imd, s->engine, NULL)
                             : dnnl_reorder_primitive_desc_create(&rpd, imd, s->engine, umd[i], s->engine, NULL);
    if (rs != dnnl_success) goto fail;
    rs = dnnl_primitive_create(&s->reorder[i], rpd);
    dnnl_primitive_desc_destroy(rpd);
    if (rs != dnnl_success) goto fail;
  }
  *state = s;
  return CONVBP_OK;
fail:
  destroy(s);
  return st;
}

static int reorder(onednn_state *s, int i, dnnl_memory_t from, dnnl_memory_t to) {
  dnnl_exec_arg_t a[2] = {{DNNL_ARG_FROM, from}, {DNNL_ARG_TO, to}};
  return dnnl_primitive_execute(s->reorder[i], s->stream, 2, a) == dnnl_success ? 0 : -1;
}

int cbp_onednn_run(const cbp_problem *pb, int threads, const float *x, const float *y, float *out,
                   void *state) {
  (void)pb;
  onednn_state *s = state;
  const int granted = onednn_threads(threads);
  /* planned for other threads than it would get: it could wait forever */
  if (granted != s->threads) return CONVBP_ERR_UNSUPPORTED;
  omp_set_num_threads(granted);
  const float *ptr[3] = {x, y, out};
  dnnl_exec_arg_t args[4];
  int nargs = 0;
  for (int i = 0; i < 3; i++) {
    /* oneDNN takes non-const handles; x and y are only read. */
    if (dnnl_memory_set_data_handle(s->user[i], (void *)ptr[i]) != dnnl_success) return CONVBP_ERR_INTERNAL;
    if (i < 2 && s->reorder[i] && reorder(s, i, s->user[i], s->inner[i])) return CONVBP_ERR_INTERNAL;
    args[nargs++] = (dnnl_exec_arg_t){s->args[i], s->inner[i] ? s->inner[i] : s->user[i]};
  }
  if (s->scratch) args[nargs++] = (dnnl_exec_arg_t){DNNL_ARG_SCRATCHPAD, s->scratch};
  if (dnnl_primitive_execute(s->prim, s->stream, nargs, args) != dnnl_success) return CONVBP_ERR_INTERNAL;
  if (s->reorder[2] && reorder(s, 2, s->inner[2], s->user[2])) return CONVBP_ERR_INTERNAL;
  return dnnl_stream_wait(s->stream) == dnnl_success ? CONVBP_OK : CONVBP_ERR_INTERNAL;
}

void cbp_onednn_release(void *state) { destroy(state); }
