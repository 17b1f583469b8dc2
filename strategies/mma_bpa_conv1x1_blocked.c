/* mma_bpa_conv1x1_blocked: MMA backward data as a 1x1 forward convolution by
 * the blocked direct engine.
 *
 *   dX(m, k) = sum_n dY(m, n) W(k, n)
 *   O(p, k') = sum_c A(p, c) W'(k', c)              (FWD, 1x1, NHWC / KRSC)
 *
 * The seeds turn convolutions into GEMMs; this turns the GEMM back into the
 * convolution the engine runs, so the MMA ops get the engine's AVX-512 kernel
 * rather than whatever core type OpenBLAS picked.  Two ways to cast it:
 *   M pixels:  A = dY (M x N), W' = W (K x N), O = dX.  All in place; the M
 *              pixels in one row, along which the tiles run (bert_qkv on one
 *              thread 3.17 -> 2.99 ms against M images of one pixel).
 *   K pixels:  A = W (K x N), W' = dY (M x N), O = dX^T (K x M), then dX =
 *              O^T.  The pixels in one column, so that the engine can chunk
 *              them and share its blocks by rows.
 * KRSC stores W' as K' rows, so the engine transposes it into its panels, once
 * a call: N*K floats as M pixels, M*N as K pixels, which also writes O and
 * reads it back to transpose M*K floats more.  The K pixels form is taken
 * when N*K > 2 M (N + K).  Zen 5 EPYC, medians of 3 rounds, 1 / 2 threads,
 * K pixels against M pixels: gpt_proj (M = 128, K = 4096) 0.89 / 0.82,
 * resnet_fc (M = 32, K = 2048) 0.77 / 0.84; not taken: bert_ffn_down
 * (M = 512, K = 3072) 1.05 / 1.07, small_fc 0.98 / 1.29, bert_qkv and
 * square_1k 1.01-1.08; bert_ffn_up (M = 512, K = 768, N = 3072) 0.96 / 0.97
 * is the one the rule misses.
 * Workspace: the engine's per-thread panels and tap lists, and O when K
 * pixels.  Supports every valid problem. */
#include "internal.h"

/* Whether the K pixels form is taken (see the top), in doubles: no overflow. */
static int pixels_along_k(const cbp_problem *pb) {
  const double m = pb->mma.m, n = pb->mma.n, k = pb->mma.k;
  return n * k > 2 * m * (n + k);
}

static int workspace(const cbp_problem *pb, int threads, size_t *bytes) {
  size_t engine;
  *bytes = 0;
  if ((pixels_along_k(pb) && cbp_ws_add(bytes, pb->out_elems, sizeof(float))) ||
      cbp_dconv_workspace(1, threads, &engine) || cbp_add(*bytes, engine, bytes))
    return CONVBP_ERR_OVERFLOW;
  return CONVBP_OK;
}

static int run(const cbp_problem *pb, int threads, const float *dY, const float *W, float *dX,
               void *ws) {
  const int M = pb->mma.m, N = pb->mma.n, K = pb->mma.k;
  cbp_arena ar = {ws, 0};
  if (!pixels_along_k(pb)) {
    /* one tap, W'(k, c) = W[k*N + c], read transposed (w_trans) */
    const cbp_dtap tap = {0, 0, W};
    cbp_dconv_desc d = {1, 1, M, N, 1, M, K, 1, 1, (ptrdiff_t)M * K, (ptrdiff_t)M * K, K,
                        &tap, 1, N, 1};
    cbp_dconv_run(&d, threads, dY, dX, ws);
    return CONVBP_OK;
  }
  float *o = cbp_take(&ar, pb->out_elems * sizeof(float));
  /* O(k, m) = sum_n W(k, n) dY(m, n): W'(m, c) = dY[m*N + c], read transposed */
  const cbp_dtap tap = {0, 0, dY};
  cbp_dconv_desc d = {1, K, 1, N, K, 1, M, 1, 1, (ptrdiff_t)K * M, M, M, &tap, 1, N, 1};
  cbp_dconv_run(&d, threads, W, o, cbp_take(&ar, 0));
  cbp_transpose(o, K, M, dX, threads);
  return CONVBP_OK;
}

const cbp_strategy cbp_mma_bpa_conv1x1_blocked = {
    .name = "mma_bpa_conv1x1_blocked",
    .op = CONVBP_MMA_BPA,
    .summary = "MMA backward data dX = dY W^T as a 1x1 convolution over M or K pixels, blocked direct engine",
    .workspace = workspace,
    .run = run,
};
