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
 * Workspace: X^T + the engine's per-thread panels and tap lists.
 * Supports every valid problem. */
#include "internal.h"

static int workspace(const cbp_problem *pb, int threads, size_t *bytes) {
  size_t engine;
  *bytes = 0;
  if (cbp_ws_add(bytes, pb->x_elems, sizeof(float)) || cbp_dconv_workspace(1, threads, &engine) ||
      cbp_add(*bytes, engine, bytes))
    return CONVBP_ERR_OVERFLOW;
  return CONVBP_OK;
}

static int run(const cbp_problem *pb, int threads, const float *X, const float *dY, float *dW,
               void *ws) {
  const int M = pb->mma.m, N = pb->mma.n, K = pb->mma.k;
  cbp_arena ar = {ws, 0};
  float *xt = cbp_take(&ar, pb->x_elems * sizeof(float));
  cbp_transpose(X, M, K, xt, threads);
  /* one tap, W'(m, n) = dY[m*N + n] (w_trans 0) */
  const cbp_dtap tap = {0, 0, dY};
  cbp_dconv_desc d = {1, 1, K, M, 1, K, N, 1, 1, (ptrdiff_t)K * N, (ptrdiff_t)K * N, N,
                      &tap, 1, N, 0};
  cbp_dconv_run(&d, threads, xt, dW, cbp_take(&ar, 0));
  return CONVBP_OK;
}

const cbp_strategy cbp_mma_bpw_conv1x1_blocked = {
    .name = "mma_bpw_conv1x1_blocked",
    .op = CONVBP_MMA_BPW,
    .summary = "MMA backward weights dW = X^T dY as a 1x1 convolution over K pixels (X transposed), blocked direct engine",
    .workspace = workspace,
    .run = run,
};
