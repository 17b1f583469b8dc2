/* mma_bpw_conv1x1_blocked: MMA backward weights as a 1x1 convolution by the
 * blocked direct engine.
 *
 *   dW(k, n) = sum_m X(m, k) dY(m, n)
 *   O(p, c) = sum_k' A(p, k') W'(k', c)       (the engine's BPA form: KRSC rows
 *                                              are its input channels, no transpose)
 *   with p = k over one row of K pixels, k' = m, c = n:  A = X^T (K x M),
 *   W' = dY (M x N) read in place, O = dW (K x N) written in place.
 *
 * As for mma_bpa_conv1x1_blocked, the GEMM goes back to the convolution the
 * engine runs, and its speed no longer depends on OpenBLAS's core type.  The
 * reduction runs over M, which NHWC wants innermost in the input, so X is
 * transposed first (M*K floats, by 8 x 8 blocks in registers); dY's rows are
 * already the engine's weight rows.  Pixels in one row: Zen 5 EPYC, the
 * engine on gpt_proj's shape (M = 128, N = K = 4096) 23.4 / 12.3 ms in a row,
 * 24.2 / 12.3 in a column (1 / 2 threads, without the transpose).
 * Each thread takes a share of the K pixels: it transposes its own rows of
 * X^T and runs the engine alone on them, so it reads only the X^T it wrote,
 * from its own cache.  The engine's own split shares the N channels, and
 * each thread read all of X^T, half of it written by the other core: Zen 5,
 * medians of 3 alternating rounds on two threads, time of that split over
 * this one: small_fc 1.42x, resnet_fc 1.20x, bert_ffn_down 1.13x, bert_qkv
 * 1.07x, square_1k 1.05x, gpt_proj 1.04x, bert_ffn_up 1.00x.
 * Workspace: X^T + the engine's panels and tap lists, one set a thread.
 * Supports every valid problem. */
#include "internal.h"

static int vec_channels(const cbp_problem *pb) { return pb->mma.n; } /* dW's N */

static int workspace(const cbp_problem *pb, int threads, size_t *bytes) {
  size_t engine;
  *bytes = 0;
  if (cbp_ws_add(bytes, pb->x_elems, sizeof(float)) || cbp_dconv_workspace(1, threads, &engine) ||
      cbp_add(*bytes, engine, bytes))
    return CONVBP_ERR_OVERFLOW;
  return CONVBP_OK;
}

typedef struct {
  const float *X, *dY;
  float *dW, *xt;
  void *engine_ws; /* one engine workspace a thread (cbp_dconv_thread_ws) */
  int M, N, K;
} pixel_share;

/* Thread tid's pixels k0..k1-1: its rows of X^T, then its rows of dW. */
static void pixels(void *ctx, int tid, int nth) {
  const pixel_share *s = ctx;
  const int M = s->M, N = s->N;
  const int k0 = (int)((long)s->K * tid / nth), k1 = (int)((long)s->K * (tid + 1) / nth);
  if (k1 <= k0) return;
  float *xt = s->xt + (size_t)k0 * M;
  /* X^T(k, m) = X(m, k) for k0 <= k < k1 */
  cbp_direct_isa_get()->transpose(s->X + k0, s->K, M, k1 - k0, xt, M);
  /* one tap, W'(m, n) = dY[m*N + n] (w_trans 0) */
  const cbp_dtap tap = {0, 0, s->dY};
  const ptrdiff_t out = (ptrdiff_t)(k1 - k0) * N;
  cbp_dconv_desc d = {1, 1, k1 - k0, M, 1, k1 - k0, N, 1, 1, out, out, N, &tap, 1, N, 0};
  cbp_dconv_run(&d, 1, xt, s->dW + (size_t)k0 * N, cbp_dconv_thread_ws(s->engine_ws, 1, tid));
}

static int run(const cbp_problem *pb, int threads, const float *X, const float *dY, float *dW,
               void *ws) {
  cbp_arena ar = {ws, 0};
  pixel_share s = {X, dY, dW, NULL, NULL, pb->mma.m, pb->mma.n, pb->mma.k};
  s.xt = cbp_take(&ar, pb->x_elems * sizeof(float));
  s.engine_ws = cbp_take(&ar, 0);
  cbp_parallel(threads, pixels, &s);
  return CONVBP_OK;
}

const cbp_strategy cbp_mma_bpw_conv1x1_blocked = {
    .name = "mma_bpw_conv1x1_blocked",
    .op = CONVBP_MMA_BPW,
    .summary = "MMA backward weights dW = X^T dY as a 1x1 convolution over K pixels (X transposed), blocked direct engine",
    .workspace = workspace,
    .run = run,
    .vec_channels = vec_channels,
};
