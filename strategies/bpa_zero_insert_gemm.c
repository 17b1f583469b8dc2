/* bpa_zero_insert_gemm: backward data as a forward convolution of zero-inserted dO.
 *
 *   Z(n, y, x, k) = dO(n, y/st_h, x/st_w, k) where st divides y and x, else 0;
 *                   Z is N x ((P-1)*st_h + 1) x ((Q-1)*st_w + 1) x K
 *   W'(c, r', s', k) = W(k, R-1-r', S-1-s', c)     (rotated 180 degrees, K <-> C)
 *   dA = conv(Z, W'), stride 1, dilation d, front pad f = (R-1)*d - pad,
 *        back pad f + rem, rem = (H + 2*pad - d*(R-1) - 1) mod st
 *
 * Corrects the seed recipe (ERRATA 1-3): st-1 zeros between neighbours, padding
 * counted after insertion, the back pad carries the remainder rows the forward
 * pass never read (else dA loses them), and a negative pad crops.  The zeros are
 * multiplied for real: this is the strategy that pays for them (FLOPs counted
 * stay the useful 2*N*K*C*R*S*P*Q).
 * Workspace: Z + W' + the forward engine's workspace.
 * Supports every valid problem. */
#include "internal.h"

static cbp_fwd_desc engine_desc(const cbp_problem *pb) {
  const convbp_conv *c = &pb->conv;
  cbp_fwd_desc d = {c->n,
                    c->k,
                    (pb->p - 1) * c->stride_h + 1,
                    (pb->q - 1) * c->stride_w + 1,
                    c->c,
                    c->r,
                    c->s,
                    (c->r - 1) * c->dil_h - c->pad_h,
                    (c->s - 1) * c->dil_w - c->pad_w,
                    1,
                    1,
                    c->dil_h,
                    c->dil_w,
                    c->h,
                    c->w};
  return d;
}

static int workspace(const cbp_problem *pb, int threads, size_t *bytes) {
  cbp_fwd_desc d = engine_desc(pb);
  size_t z, engine;
  *bytes = 0;
  if (cbp_mul4((size_t)d.n, (size_t)d.h, (size_t)d.w, (size_t)d.c, &z) ||
      cbp_ws_add(bytes, z, sizeof(float)) ||
      cbp_ws_add(bytes, pb->y_elems, sizeof(float)) || /* W' */
      cbp_fwd_workspace(&d, threads, &engine) || cbp_add(*bytes, engine, bytes))
    return CONVBP_ERR_OVERFLOW;
  return CONVBP_OK;
}

static int run(const cbp_problem *pb, int threads, const float *dO, const float *W, float *dA,
               void *ws) {
  const convbp_conv *c = &pb->conv;
  cbp_fwd_desc d = engine_desc(pb);
#ifndef NDEBUG
  /* The back pad f + rem makes the engine's output exactly H x W. */
  cbp_fwd_desc check = d;
  assert(cbp_fwd_desc_outdims(&check, d.pad_top + pb->rem_h, d.pad_left + pb->rem_w) == 0 &&
         check.p == c->h && check.q == c->w);
#endif
  cbp_arena ar = {ws, 0};
  const size_t K = (size_t)c->k;
  float *z = cbp_take(&ar, (size_t)d.n * d.h * d.w * K * sizeof(float));
  float *wr = cbp_take(&ar, pb->y_elems * sizeof(float));
  void *engine_ws = cbp_take(&ar, 0);
  cbp_zero_insert(dO, z, (size_t)c->n, pb->p, pb->q, K, c->stride_h, c->stride_w, 0, 0, d.h, d.w,
                  threads);
  cbp_rotate_swap(W, wr, c->k, c->r, c->s, c->c, threads);
  return cbp_fwd_run(&d, threads, z, wr, dA, engine_ws);
}

const cbp_strategy cbp_bpa_zero_insert_gemm = {
    .name = "bpa_zero_insert_gemm",
    .op = CONVBP_BPA,
    .summary = "backward data: zero-inserted dO convolved with the rotated, K<->C swapped W (engine)",
    .workspace = workspace,
    .run = run,
};
