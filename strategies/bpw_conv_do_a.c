/* bpw_conv_do_a: backward weights as a forward convolution of zero-inserted dO with A as the kernel.
 *
 *   Z'(k, y, x, n)  = dO(n, y/st_h, x/st_w, k) where st divides y and x, else 0;
 *                     K is the batch, N the channels, (P-1)*st + 1 rows
 *   A'(c, h, w, n)  = A(n, h, w, c)          C kernels of size H x W over N channels
 *   V(k, r', s', c) = conv(Z', A'), stride d, dilation 1, front pad f = (R-1)*d - pad,
 *                     back pad f + rem: exactly R x S outputs
 *   dW(k, r, s, c)  = V(k, R-1-r, S-1-s, c)  (rotate 180 degrees)
 *
 * The mirror image of bpw_conv_a_do (seed 000, 2.1.1.2), with the same padding
 * corrections as zero-insertion BPA (ERRATA 1-3).  Through the forward engine.
 * Workspace: Z' + A' + max(V, dO) + the engine's workspace.
 * Supports every valid problem. */
#include "internal.h"

static cbp_fwd_desc engine_desc(const cbp_problem *pb) {
  const convbp_conv *c = &pb->conv;
  return (cbp_fwd_desc){c->k,
                        c->n,
                        (pb->p - 1) * c->stride_h + 1,
                        (pb->q - 1) * c->stride_w + 1,
                        c->c,
                        c->h,
                        c->w,
                        (c->r - 1) * c->dil_h - c->pad_h,
                        (c->s - 1) * c->dil_w - c->pad_w,
                        c->dil_h,
                        c->dil_w,
                        1,
                        1,
                        c->r,
                        c->s};
}

static int workspace(const cbp_problem *pb, int threads, size_t *bytes) {
  cbp_fwd_desc d = engine_desc(pb);
  size_t z, engine;
  *bytes = 0;
  if (cbp_mul4((size_t)d.n, (size_t)d.h, (size_t)d.w, (size_t)d.c, &z) ||
      cbp_ws_add(bytes, z, sizeof(float)) ||
      cbp_ws_add(bytes, pb->x_elems, sizeof(float)) ||  /* A' */
      /* V, which first holds dO with K moved outward */
      cbp_ws_add(bytes, pb->out_elems > pb->y_elems ? pb->out_elems : pb->y_elems, sizeof(float)) ||
      cbp_fwd_workspace(&d, threads, &engine) || cbp_add(*bytes, engine, bytes))
    return CONVBP_ERR_OVERFLOW;
  return CONVBP_OK;
}

/* Filter k of dW from V: dW(k, r, s, c) = V(k, R-1-r, S-1-s, c), whole runs of C. */
static void unrotate_filter(const convbp_conv *c, const float *v, float *dW, int k) {
  const size_t C = (size_t)c->c;
  for (int r = 0; r < c->r; r++)
    for (int s = 0; s < c->s; s++)
      memcpy(dW + (((size_t)k * c->r + r) * c->s + s) * C,
             v + (((size_t)k * c->r + (c->r - 1 - r)) * c->s + (c->s - 1 - s)) * C,
             C * sizeof(float));
}

static int run(const cbp_problem *pb, int threads, const float *A, const float *dO, float *dW,
               void *ws) {
  const convbp_conv *c = &pb->conv;
  cbp_fwd_desc d = engine_desc(pb);
#ifndef NDEBUG
  cbp_fwd_desc check = d;
  assert(cbp_fwd_desc_outdims(&check, d.pad_top + pb->rem_h, d.pad_left + pb->rem_w) == 0 &&
         check.p == c->r && check.q == c->s);
#endif
  cbp_arena ar = {ws, 0};
  const size_t N = (size_t)c->n;
  float *z = cbp_take(&ar, (size_t)c->k * d.h * d.w * N * sizeof(float));
  float *a_t = cbp_take(&ar, pb->x_elems * sizeof(float));
  float *v = cbp_take(&ar, (pb->out_elems > pb->y_elems ? pb->out_elems : pb->y_elems) * sizeof(float));
  void *engine_ws = cbp_take(&ar, 0);
  /* Z'(k, p*st_h, q*st_w, n) = dO(n, p, q, k), zeros between: K moves outward
     (through V, free until the engine writes it), then zero insertion. */
  cbp_swap_outer_inner(dO, v, N, (size_t)pb->p * pb->q, (size_t)c->k, threads);
  cbp_zero_insert(v, z, (size_t)c->k, pb->p, pb->q, N, c->stride_h, c->stride_w, 0, 0, d.h, d.w,
                  threads);
  cbp_swap_outer_inner(A, a_t, N, (size_t)c->h * c->w, (size_t)c->c, threads);
  int st = cbp_fwd_run(&d, threads, z, a_t, v, engine_ws);
  if (st) return st;
  /* dW(k, r, s, c) = V(k, R-1-r, S-1-s, c): whole runs of C move together. */
  if (threads > 1) {
#pragma omp parallel for num_threads(threads) schedule(static)
    for (int k = 0; k < c->k; k++) unrotate_filter(c, v, dW, k);
  } else { /* no region (cbp_parallel) */
    for (int k = 0; k < c->k; k++) unrotate_filter(c, v, dW, k);
  }
  return CONVBP_OK;
}

const cbp_strategy cbp_bpw_conv_do_a = {
    .name = "bpw_conv_do_a",
    .op = CONVBP_BPW,
    .summary = "backward weights: conv(zero-inserted dO, A) with K as batch, N as channels, rotated (engine)",
    .workspace = workspace,
    .run = run,
};
