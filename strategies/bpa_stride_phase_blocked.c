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
 * (compare bpa_zero_insert_gemm, which multiplies them).  Kernel rows that
 * tile the width (stride_w = S, no pad or dilation across) run folded, W/S
 * pixels of S*C channels (cbp_fold_width): stride_w 1, so st_h phases, not
 * st_h*S, each writing S*C channels a vector where C = 3 filled 3 lanes of 16
 * (ViT-B/16 at N = 2: 15.6 -> 4.42 ms on one Zen 4 thread).  A phase with no tap
 * (st > R*d) gets zeros; rows past the last dO row get what the taps reach.
 * The phases run as one list in one parallel region (cbp_dconv_run_list),
 * LIST_MAX at a time: a region a phase cost a 2-vCPU guest ~3 us each, most
 * of a small problem's time.
 * Workspace: the taps, a desc and an output pointer a phase, and the engine's
 * per-thread tap lists.
 * Supports every valid problem. */
#include "internal.h"

/* Phases a list holds: those with rows of dA, (a, b) for a < min(st_h, H),
   b < min(st_w, W), up to LIST_MAX (a list a LIST_MAX phases beyond). */
enum { LIST_MAX = 64 };
static size_t phases(const convbp_conv *c) {
  const size_t n = (size_t)(c->stride_h < c->h ? c->stride_h : c->h) *
                   (size_t)(c->stride_w < c->w ? c->stride_w : c->w);
  return n < LIST_MAX ? n : LIST_MAX;
}

static int vec_channels(const cbp_problem *pb) { /* dA's C */
  cbp_problem folded;
  pb = cbp_fold_width(pb, &folded);
  return pb->conv.c;
}

static int workspace(const cbp_problem *pb, int threads, size_t *bytes) {
  cbp_problem folded;
  pb = cbp_fold_width(pb, &folded);
  const convbp_conv *c = &pb->conv;
  size_t engine;
  *bytes = 0;
  if (cbp_ws_add(bytes, (size_t)c->r * c->s, sizeof(cbp_dtap)) ||
      cbp_ws_add(bytes, phases(c), sizeof(cbp_dconv_desc)) ||
      cbp_ws_add(bytes, phases(c), sizeof(float *)) ||
      cbp_dconv_workspace(c->r * c->s, threads, &engine) || cbp_add(*bytes, engine, bytes))
    return CONVBP_ERR_OVERFLOW;
  return CONVBP_OK;
}

/* x mod m in [0, m) for any sign of x. */
static int pos_mod(int x, int m) { return ((x % m) + m) % m; }

static int run(const cbp_problem *pb, int threads, const float *dO, const float *W, float *dA,
               void *ws) {
  cbp_problem folded;
  pb = cbp_fold_width(pb, &folded);
  const convbp_conv *c = &pb->conv;
  const int sh = c->stride_h, sw = c->stride_w;
  cbp_arena ar = {ws, 0};
  cbp_dtap *tap = cbp_take(&ar, (size_t)c->r * c->s * sizeof(cbp_dtap));
  cbp_dconv_desc *desc = cbp_take(&ar, phases(c) * sizeof(cbp_dconv_desc));
  float **out = cbp_take(&ar, phases(c) * sizeof(float *));
  void *engine_ws = cbp_take(&ar, 0);
  int np = 0, nt = 0; /* phases and taps so far: each phase's taps follow the last's */
  for (int a = 0; a < sh && a < c->h; a++)
    for (int b = 0; b < sw && b < c->w; b++) {
      cbp_dtap *first = tap + nt;
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
      desc[np] = (cbp_dconv_desc){c->n,
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
                                  first,
                                  (int)(tap + nt - first),
                                  (ptrdiff_t)c->r * c->s * c->c,
                                  0};
      out[np++] = dA + ((size_t)a * c->w + b) * c->c;
      if (np == LIST_MAX) {
        cbp_dconv_run_list(desc, np, threads, dO, out, engine_ws);
        np = 0;
      }
    }
  cbp_dconv_run_list(desc, np, threads, dO, out, engine_ws);
  return CONVBP_OK;
}

const cbp_strategy cbp_bpa_stride_phase_blocked = {
    .name = "bpa_stride_phase_blocked",
    .op = CONVBP_BPA,
    .summary = "backward data: one dense sub-kernel convolution per stride phase, blocked direct engine",
    .workspace = workspace,
    .run = run,
    .vec_channels = vec_channels,
};
