/* Problem validation, derived sizes and FLOP counts.
 *
 * P = floor((H + 2*pad - d*(R-1) - 1) / stride) + 1, computed in 64-bit so that
 * no int dimension can overflow it; every byte count goes through checked
 * size_t multiplication. */
#include <stdint.h>

#include "internal.h"

int cbp_mul4(size_t a, size_t b, size_t c, size_t d, size_t *r) {
  size_t t;
  if (cbp_mul(a, b, &t) || cbp_mul(t, c, &t) || cbp_mul(t, d, &t)) return CONVBP_ERR_OVERFLOW;
  *r = t;
  return CONVBP_OK;
}

int cbp_ws_add(size_t *total, size_t elems, size_t elem_size) {
  size_t bytes;
  if (cbp_mul(elems, elem_size, &bytes) || cbp_round64(bytes, &bytes) ||
      cbp_add(*total, bytes, total))
    return CONVBP_ERR_OVERFLOW;
  return CONVBP_OK;
}

/* span = H + 2*pad - d*(R-1) - 1; out = span / stride + 1 when span >= 0. */
static int64_t out_extent(int in, int pad, int dil, int ker, int stride, int64_t *rem) {
  int64_t span = (int64_t)in + 2 * (int64_t)pad - (int64_t)dil * (ker - 1) - 1;
  if (span < 0) return 0;
  if (rem) *rem = span % stride;
  return span / stride + 1;
}

static int64_t index_extent(int in, int pad, int dil, int ker, int stride) {
  return (int64_t)in + 2 * (int64_t)pad + stride + (int64_t)dil * (ker - 1);
}

int convbp_conv_out_dims(const convbp_conv *p, int *out_p, int *out_q) {
  if (!p) return CONVBP_ERR_ARG;
  if (p->n < 1 || p->c < 1 || p->h < 1 || p->w < 1 || p->k < 1 || p->r < 1 || p->s < 1 ||
      p->pad_h < 0 || p->pad_w < 0 || p->stride_h < 1 || p->stride_w < 1 || p->dil_h < 1 ||
      p->dil_w < 1)
    return CONVBP_ERR_PROBLEM;
  int64_t pp = out_extent(p->h, p->pad_h, p->dil_h, p->r, p->stride_h, NULL);
  int64_t qq = out_extent(p->w, p->pad_w, p->dil_w, p->s, p->stride_w, NULL);
  if (pp < 1 || qq < 1) return CONVBP_ERR_PROBLEM;
  /* Every index the strategies form along a dimension (p*stride - pad + r*dil,
     a pad plus a stride, the zero-inserted extent, 2*pad) lies within
     H + 2*pad + stride + dil*(R-1): keeping that in int keeps their int
     arithmetic defined, and no real layer comes near it. */
  if (index_extent(p->h, p->pad_h, p->dil_h, p->r, p->stride_h) > INT32_MAX ||
      index_extent(p->w, p->pad_w, p->dil_w, p->s, p->stride_w) > INT32_MAX)
    return CONVBP_ERR_OVERFLOW;
  if (out_p) *out_p = (int)pp;
  if (out_q) *out_q = (int)qq;
  return CONVBP_OK;
}

int convbp_conv_sizes(const convbp_conv *p, size_t *a, size_t *w, size_t *o) {
  int pp, qq;
  int st = convbp_conv_out_dims(p, &pp, &qq);
  if (st) return st;
  size_t ea, ew, eo, bytes;
  if (cbp_mul4((size_t)p->n, (size_t)p->h, (size_t)p->w, (size_t)p->c, &ea) ||
      cbp_mul4((size_t)p->k, (size_t)p->r, (size_t)p->s, (size_t)p->c, &ew) ||
      cbp_mul4((size_t)p->n, (size_t)pp, (size_t)qq, (size_t)p->k, &eo))
    return CONVBP_ERR_OVERFLOW;
  /* The GEMM strategies hand OpenBLAS (32-bit int dimensions) and their own
     int arithmetic the pixel counts N*H*W and N*P*Q and the weight rows R*S*C
     and R*S*K (the rotated W' of zero insertion, and the transformed
     convolutions' outputs): past INT_MAX they would be cut silently. */
  const size_t rs = (size_t)p->r * (size_t)p->s;
  if ((size_t)p->n * p->h * p->w > INT32_MAX || (size_t)p->n * pp * qq > INT32_MAX ||
      rs * p->c > INT32_MAX || rs * p->k > INT32_MAX)
    return CONVBP_ERR_OVERFLOW;
  /* Byte counts too, with headroom for strategies' transformed copies. */
  if (cbp_mul(ea, 4 * sizeof(float), &bytes) || cbp_mul(ew, 4 * sizeof(float), &bytes) ||
      cbp_mul(eo, 4 * sizeof(float), &bytes))
    return CONVBP_ERR_OVERFLOW;
  if (a) *a = ea;
  if (w) *w = ew;
  if (o) *o = eo;
  return CONVBP_OK;
}

int convbp_conv_validate(const convbp_conv *p) { return convbp_conv_sizes(p, NULL, NULL, NULL); }

double convbp_conv_flops(const convbp_conv *p) {
  int pp, qq;
  if (convbp_conv_out_dims(p, &pp, &qq)) return 0.0;
  return 2.0 * p->n * (double)p->k * p->c * p->r * p->s * pp * qq;
}

/* Number of (p, r) pairs whose input row p*stride - pad + r*dil is inside [0, in). */
static double inside_taps(int in, int pad, int dil, int ker, int stride, int out) {
  double taps = 0;
  for (int o = 0; o < out; o++)
    for (int r = 0; r < ker; r++) {
      int64_t x = (int64_t)o * stride - pad + (int64_t)r * dil;
      if (x >= 0 && x < in) taps += 1;
    }
  return taps;
}

double convbp_conv_flops_nopad(const convbp_conv *p) {
  int pp, qq;
  if (convbp_conv_out_dims(p, &pp, &qq)) return 0.0;
  double th = inside_taps(p->h, p->pad_h, p->dil_h, p->r, p->stride_h, pp);
  double tw = inside_taps(p->w, p->pad_w, p->dil_w, p->s, p->stride_w, qq);
  return 2.0 * p->n * (double)p->k * p->c * th * tw;
}

int convbp_mma_validate(const convbp_mma *p) {
  if (!p) return CONVBP_ERR_ARG;
  if (p->m < 1 || p->n < 1 || p->k < 1) return CONVBP_ERR_PROBLEM;
  size_t e;
  if (cbp_mul4((size_t)p->m, (size_t)p->k, 4 * sizeof(float), 1, &e) ||
      cbp_mul4((size_t)p->k, (size_t)p->n, 4 * sizeof(float), 1, &e) ||
      cbp_mul4((size_t)p->m, (size_t)p->n, 4 * sizeof(float), 1, &e))
    return CONVBP_ERR_OVERFLOW;
  return CONVBP_OK;
}

double convbp_mma_flops(const convbp_mma *p) {
  if (convbp_mma_validate(p)) return 0.0;
  return 2.0 * p->m * (double)p->n * p->k;
}

int convbp_conv_op_sizes(convbp_op op, const convbp_conv *p, size_t *x, size_t *y, size_t *out) {
  size_t a, w, o;
  int st = convbp_conv_sizes(p, &a, &w, &o);
  if (st) return st;
  size_t ex, ey, eo;
  switch (op) {
    case CONVBP_FWD: ex = a, ey = w, eo = o; break;
    case CONVBP_BPA: ex = o, ey = w, eo = a; break;
    case CONVBP_BPW: ex = a, ey = o, eo = w; break;
    default: return CONVBP_ERR_WRONG_OP;
  }
  if (x) *x = ex;
  if (y) *y = ey;
  if (out) *out = eo;
  return CONVBP_OK;
}

int convbp_mma_op_sizes(convbp_op op, const convbp_mma *p, size_t *x, size_t *y, size_t *out) {
  int st = convbp_mma_validate(p);
  if (st) return st;
  size_t mk = (size_t)p->m * p->k, kn = (size_t)p->k * p->n, mn = (size_t)p->m * p->n;
  switch (op) {
    case CONVBP_MMA_BPA: /* dY (m x n), W (k x n) -> dX (m x k) */
      if (x) *x = mn;
      if (y) *y = kn;
      if (out) *out = mk;
      return CONVBP_OK;
    case CONVBP_MMA_BPW: /* X (m x k), dY (m x n) -> dW (k x n) */
      if (x) *x = mk;
      if (y) *y = mn;
      if (out) *out = kn;
      return CONVBP_OK;
    default: return CONVBP_ERR_WRONG_OP;
  }
}

int cbp_problem_conv(cbp_problem *pb, convbp_op op, const convbp_conv *p) {
  if (!p) return CONVBP_ERR_ARG;
  memset(pb, 0, sizeof *pb);
  int st = convbp_conv_op_sizes(op, p, &pb->x_elems, &pb->y_elems, &pb->out_elems);
  if (st) return st;
  pb->op = op;
  pb->conv = *p;
  convbp_conv_out_dims(p, &pb->p, &pb->q);
  int64_t rh = 0, rw = 0;
  out_extent(p->h, p->pad_h, p->dil_h, p->r, p->stride_h, &rh);
  out_extent(p->w, p->pad_w, p->dil_w, p->s, p->stride_w, &rw);
  pb->rem_h = (int)rh;
  pb->rem_w = (int)rw;
  return CONVBP_OK;
}

int cbp_problem_mma(cbp_problem *pb, convbp_op op, const convbp_mma *p) {
  if (!p) return CONVBP_ERR_ARG;
  memset(pb, 0, sizeof *pb);
  int st = convbp_mma_op_sizes(op, p, &pb->x_elems, &pb->y_elems, &pb->out_elems);
  if (st) return st;
  pb->op = op;
  pb->mma = *p;
  return CONVBP_OK;
}

const cbp_problem *cbp_fold_width(const cbp_problem *pb, cbp_problem *buf) {
  const convbp_conv *c = &pb->conv;
  if (c->s < 2 || c->stride_w != c->s || c->pad_w || c->dil_w != 1 || c->w % c->s) return pb;
  /* The same operands, P and Q (Q = W/S), and rows: only the width's fields
     change, and its remainder (W/S - 1) mod 1 is 0. */
  *buf = *pb;
  buf->conv.w = c->w / c->s;
  buf->conv.c = c->c * c->s; /* R*S*C fits in int (convbp_conv_sizes) */
  buf->conv.s = 1;
  buf->conv.stride_w = 1;
  buf->rem_w = 0;
  return buf;
}
