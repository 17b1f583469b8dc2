/* bpa_seed_as_written: seed 000's zero-insertion recipe for BPA exactly as the
 * note writes it (2.2.2 and 2.3.2), which ERRATA.md shows is wrong:
 *
 *   1. pad dO by f = (R-1)*d - pad on both sides (before inserting zeros),
 *   2. insert `stride` zeros between neighbours (the right count is stride - 1),
 *   3. convolve with the rotated, K<->C swapped W at stride 1, dilation d, no pad,
 *      and keep the top-left H x W (zeros where the recipe yields fewer rows).
 *
 * Built only with -DCONVBP_WITH_FAULTY=ON (the test configurations): it is the
 * strategy the harness must report `wrong`, keep out of winner tables and wisdom,
 * and step past.  Negative f (a pad beyond the kernel's reach) is taken as 0.
 * Workspace: Z + W' + the engine's + the recipe's output. */
#include <stdint.h>

#include "internal.h"

/* The recipe's pad f = (R-1)*d - pad, applied before insertion; negative taken as 0. */
static void recipe_pads(const cbp_problem *pb, int *fh, int *fw) {
  const convbp_conv *c = &pb->conv;
  *fh = (c->r - 1) * c->dil_h - c->pad_h;
  *fw = (c->s - 1) * c->dil_w - c->pad_w;
  *fh = *fh > 0 ? *fh : 0;
  *fw = *fw > 0 ? *fw : 0;
}

/* The rows (or columns) of the recipe's dO, padded by f first, then with
   st + 1 steps between neighbours: (out + 2f - 1)*(st + 1) + 1, in 64 bits. */
static int64_t recipe_extent(int out, int f, int st) {
  return ((int64_t)out + 2 * (int64_t)f - 1) * ((int64_t)st + 1) + 1;
}

static cbp_fwd_desc engine_desc(const cbp_problem *pb) {
  const convbp_conv *c = &pb->conv;
  int fh, fw;
  recipe_pads(pb, &fh, &fw);
  const int64_t zh = recipe_extent(pb->p, fh, c->stride_h), zw = recipe_extent(pb->q, fw, c->stride_w);
  /* Past INT_MAX rows, columns or pixels (the engine's int GEMM dimensions,
     as convbp_conv_sizes holds every problem to) the recipe cannot run: its
     pads of (R-1)*d - pad are far larger than the problem's own tensors. */
  if (zh > INT32_MAX || zw > INT32_MAX || zh * zw > INT32_MAX / c->n) return (cbp_fwd_desc){0};
  cbp_fwd_desc d = {c->n,     c->k, (int)zh, (int)zw, c->c, c->r, c->s, 0, 0, 1, 1, c->dil_h,
                    c->dil_w, 0,    0};
  if (cbp_fwd_desc_outdims(&d, 0, 0)) d.p = d.q = 0;
  return d;
}

static const char *supports(const cbp_problem *pb) {
  return engine_desc(pb).p < 1 ? "the recipe as written yields no output for this problem, or "
                                 "one past INT_MAX pixels"
                               : NULL;
}

static int workspace(const cbp_problem *pb, int threads, size_t *bytes) {
  cbp_fwd_desc d = engine_desc(pb);
  size_t z, o, engine;
  *bytes = 0;
  if (cbp_mul4((size_t)d.n, (size_t)d.h, (size_t)d.w, (size_t)d.c, &z) ||
      cbp_mul4((size_t)d.n, (size_t)d.p, (size_t)d.q, (size_t)d.k, &o) ||
      cbp_ws_add(bytes, z, sizeof(float)) || cbp_ws_add(bytes, pb->y_elems, sizeof(float)) ||
      cbp_ws_add(bytes, o, sizeof(float)) || cbp_fwd_workspace(&d, threads, &engine) ||
      cbp_add(*bytes, engine, bytes))
    return CONVBP_ERR_OVERFLOW;
  return CONVBP_OK;
}

static int run(const cbp_problem *pb, int threads, const float *dO, const float *W, float *dA,
               void *ws) {
  const convbp_conv *c = &pb->conv;
  cbp_fwd_desc d = engine_desc(pb);
  const size_t K = (size_t)c->k, C = (size_t)c->c;
  int fh, fw;
  recipe_pads(pb, &fh, &fw);
  cbp_arena ar = {ws, 0};
  float *z = cbp_take(&ar, (size_t)d.n * d.h * d.w * K * sizeof(float));
  float *wr = cbp_take(&ar, pb->y_elems * sizeof(float));
  float *o = cbp_take(&ar, (size_t)d.n * d.p * d.q * C * sizeof(float));
  void *engine_ws = cbp_take(&ar, 0);
  cbp_zero_insert(dO, z, (size_t)c->n, pb->p, pb->q, K, c->stride_h + 1, c->stride_w + 1,
                  fh * (c->stride_h + 1), fw * (c->stride_w + 1), d.h, d.w, threads);
  cbp_rotate_swap(W, wr, c->k, c->r, c->s, c->c, threads);
  int st = cbp_fwd_run(&d, threads, z, wr, o, engine_ws);
  if (st) return st;
  for (int n = 0; n < c->n; n++)
    for (int h = 0; h < c->h; h++)
      for (int w = 0; w < c->w; w++) {
        float *dst = dA + (((size_t)n * c->h + h) * c->w + w) * C;
        if (h < d.p && w < d.q)
          memcpy(dst, o + (((size_t)n * d.p + h) * d.q + w) * C, C * sizeof(float));
        else
          memset(dst, 0, C * sizeof(float));
      }
  return CONVBP_OK;
}

const cbp_strategy cbp_bpa_seed_as_written = {
    .name = "bpa_seed_as_written",
    .op = CONVBP_BPA,
    .summary = "FAULTY on purpose: seed 000's zero-insertion recipe as written (test builds only)",
    .supports = supports,
    .workspace = workspace,
    .run = run,
};
