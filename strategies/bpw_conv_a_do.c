/* bpw_conv_a_do: backward weights as a forward convolution of A with dO as the kernel.
 *
 *   A'(c, h, w, n)  = A(n, h, w, c)          C is the batch, N the channels
 *   dO'(k, p, q, n) = dO(n, p, q, k)         K kernels of size P x Q over N channels
 *   dW'(c, r, s, k) = sum_{n,p,q} A'(c, p*st_h - pad_h + r*d_h, ..., n) dO'(k, p, q, n)
 *                   = conv(A', dO'), stride d, dilation st, front pad `pad`,
 *                     back pad pad - rem, which yields exactly R x S outputs
 *   dW(k, r, s, c)  = dW'(c, r, s, k)
 *
 * Convolution stride and dilation trade places (seed 000, 2.3.1).  Without the
 * back pad pad - rem the convolution can yield more than R outputs (rem >= d);
 * a negative back pad crops them.  The three layout moves are part of the
 * strategy and of its time.  Through the forward engine.
 * Workspace: A' + dO' + dW' + the engine's workspace.
 * Supports every valid problem. */
#include "internal.h"

static cbp_fwd_desc engine_desc(const cbp_problem *pb) {
  const convbp_conv *c = &pb->conv;
  return (cbp_fwd_desc){c->c,        c->n,        c->h,        c->w,        c->k,
                        pb->p,       pb->q,       c->pad_h,    c->pad_w,    c->dil_h,
                        c->dil_w,    c->stride_h, c->stride_w, c->r,        c->s};
}

static int workspace(const cbp_problem *pb, int threads, size_t *bytes) {
  cbp_fwd_desc d = engine_desc(pb);
  size_t engine;
  *bytes = 0;
  if (cbp_ws_add(bytes, pb->x_elems, sizeof(float)) ||  /* A' */
      cbp_ws_add(bytes, pb->y_elems, sizeof(float)) ||  /* dO' */
      cbp_ws_add(bytes, pb->out_elems, sizeof(float)) || /* dW' */
      cbp_fwd_workspace(&d, threads, &engine) || cbp_add(*bytes, engine, bytes))
    return CONVBP_ERR_OVERFLOW;
  return CONVBP_OK;
}

static int run(const cbp_problem *pb, int threads, const float *A, const float *dO, float *dW,
               void *ws) {
  const convbp_conv *c = &pb->conv;
  cbp_fwd_desc d = engine_desc(pb);
#ifndef NDEBUG
  cbp_fwd_desc check = d;
  assert(cbp_fwd_desc_outdims(&check, c->pad_h - pb->rem_h, c->pad_w - pb->rem_w) == 0 &&
         check.p == c->r && check.q == c->s);
#endif
  cbp_arena ar = {ws, 0};
  float *a_t = cbp_take(&ar, pb->x_elems * sizeof(float));
  float *do_t = cbp_take(&ar, pb->y_elems * sizeof(float));
  float *dw_t = cbp_take(&ar, pb->out_elems * sizeof(float));
  void *engine_ws = cbp_take(&ar, 0);
  cbp_swap_outer_inner(A, a_t, (size_t)c->n, (size_t)c->h * c->w, (size_t)c->c, threads);
  cbp_swap_outer_inner(dO, do_t, (size_t)c->n, (size_t)pb->p * pb->q, (size_t)c->k, threads);
  int st = cbp_fwd_run(&d, threads, a_t, do_t, dw_t, engine_ws);
  if (st) return st;
  cbp_swap_outer_inner(dw_t, dW, (size_t)c->c, (size_t)c->r * c->s, (size_t)c->k, threads);
  return CONVBP_OK;
}

const cbp_strategy cbp_bpw_conv_a_do = {
    .name = "bpw_conv_a_do",
    .op = CONVBP_BPW,
    .summary = "backward weights: conv(A, dO) with C as batch, N as channels, stride d, dilation st (engine)",
    .workspace = workspace,
    .run = run,
};
