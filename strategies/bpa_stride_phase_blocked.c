/* bpa_stride_phase_blocked: backward data split into stride phases, each a dense
 * convolution by the blocked direct engine.
 *
 * Forward: h = p*st_h + r*d_h - pad_h.  Write dA's rows as h = a + st_h*i with
 * phase a in [0, st_h).  Row h receives dO row p from tap r exactly when
 * st_h divides a + pad_h - r*d_h, and then
 *   p = i + off(a, r),   off(a, r) = (a + pad_h - r*d_h) / st_h   (exact)
 * so each phase (a, b) of dA is a stride-1 convolution of dO with the sub-kernel
 * of the taps (r, s) that belong to it:
 *   dA(n, a + st_h*i, b + st_w*j, :) = sum_{(r,s) in phase} dO(n, i + off(a,r), j + off(b,s), :) . W_rs
 *   W_rs(k, c) = W(k, r, s, c)     (KRSC already stores each tap as K x C rows, no copy)
 * Every tap belongs to exactly one phase, so no inserted zero is ever touched
 * (compare bpa_zero_insert_gemm, which multiplies them).  A phase with no tap
 * (st > R*d) gets zeros; rows past the last dO row get what the taps reach.
 * Workspace: the taps + the engine's per-thread tap lists.
 * Supports every valid problem. */
#include <omp.h>

#include "internal.h"

static int workspace(const cbp_problem *pb, int threads, size_t *bytes) {
  const convbp_conv *c = &pb->conv;
  size_t engine;
  *bytes = 0;
  if (cbp_ws_add(bytes, (size_t)c->r * c->s, sizeof(cbp_dtap)) ||
      cbp_dconv_workspace(c->r * c->s, threads, &engine) || cbp_add(*bytes, engine, bytes))
    return CONVBP_ERR_OVERFLOW;
  return CONVBP_OK;
}

/* Zeros the phase (a, b) of dA: rows a, a+sh, ..., columns b, b+sw, ... */
static void zero_phase(const convbp_conv *c, float *dA, int a, int b, int threads) {
  const int rows = (c->h - a + c->stride_h - 1) / c->stride_h;
  const int cols = (c->w - b + c->stride_w - 1) / c->stride_w;
  const size_t C = (size_t)c->c;
#pragma omp parallel for num_threads(threads) schedule(static) if (threads > 1)
  for (long nr = 0; nr < (long)c->n * rows; nr++) {
    const long n = nr / rows, h = a + (nr % rows) * (long)c->stride_h;
    float *row = dA + ((size_t)n * c->h + (size_t)h) * c->w * C;
    for (int j = 0; j < cols; j++)
      memset(row + ((size_t)b + (size_t)j * c->stride_w) * C, 0, C * sizeof(float));
  }
}

/* x mod m in [0, m) for any sign of x. */
static int pos_mod(int x, int m) { return ((x % m) + m) % m; }

static int run(const cbp_problem *pb, int threads, const float *dO, const float *W, float *dA,
               void *ws) {
  const convbp_conv *c = &pb->conv;
  const int sh = c->stride_h, sw = c->stride_w;
  cbp_arena ar = {ws, 0};
  cbp_dtap *tap = cbp_take(&ar, (size_t)c->r * c->s * sizeof(cbp_dtap));
  void *engine_ws = cbp_take(&ar, 0);
  for (int a = 0; a < sh && a < c->h; a++)
    for (int b = 0; b < sw && b < c->w; b++) {
      int nt = 0;
      /* Taps in increasing input offset (r and s descending), the order in which
         the forward pass reads its input: the other order made res2a_branch2b
         (K = 64, each tap a reduction of only 64) 9% slower on Zen 5. */
      for (int r = c->r - 1; r >= 0; r--) {
        if (pos_mod(a + c->pad_h - r * c->dil_h, sh)) continue;
        for (int s = c->s - 1; s >= 0; s--) {
          if (pos_mod(b + c->pad_w - s * c->dil_w, sw)) continue;
          /* exact divisions: the numerators are multiples of the strides */
          tap[nt++] = (cbp_dtap){(a + c->pad_h - r * c->dil_h) / sh,
                                 (b + c->pad_w - s * c->dil_w) / sw,
                                 W + (size_t)(r * c->s + s) * c->c};
        }
      }
      /* A phase without taps (st > R*d: 3 of 4 at a 1x1 stride 2) is zeros,
         filled here rather than by the engine's tiles, which pack a panel and
         store a register block at a time: 2-8% faster BPA on the strided 1x1
         layers of resnet50 (res3a_branch1 142 -> 146 / 274 -> 295 GFLOP/s on
         1 / 2 threads, medians of 5 alternating runs, Xeon model 167).
         Streaming stores gained nothing more here. */
      if (nt == 0) {
        zero_phase(c, dA, a, b, threads);
        continue;
      }
      cbp_dconv_desc d = {c->n,
                          pb->p,
                          pb->q,
                          c->k,
                          (c->h - a + sh - 1) / sh, /* rows of this phase */
                          (c->w - b + sw - 1) / sw,
                          c->c,
                          1,
                          1,
                          (ptrdiff_t)c->h * c->w * c->c,
                          (ptrdiff_t)sh * c->w * c->c,
                          (ptrdiff_t)sw * c->c,
                          tap,
                          nt,
                          (ptrdiff_t)c->r * c->s * c->c,
                          0};
      cbp_dconv_run(&d, threads, dO, dA + ((size_t)a * c->w + b) * c->c, engine_ws);
    }
  return CONVBP_OK;
}

const cbp_strategy cbp_bpa_stride_phase_blocked = {
    .name = "bpa_stride_phase_blocked",
    .op = CONVBP_BPA,
    .summary = "backward data: one dense sub-kernel convolution per stride phase, blocked direct engine",
    .workspace = workspace,
    .run = run,
};
