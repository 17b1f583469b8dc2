/* mma_bpa_gemm: MMA backward data as one sgemm.
 *
 *   dX (M x K) = dY (M x N) * W^T,  W is K x N row-major: the transpose flag reads it
 *   as N x K in place, so no transposed copy is made.
 *
 * Supports every valid problem.  Workspace: none.  Threads: each a slice of dX's
 * rows or columns with a single-threaded sgemm (cbp_sgemm_split_m), as the 1x1
 * convolutions' GEMMs.  Few rows (a batch of M <= 75): dX's columns in slices
 * that OpenBLAS's unpacked small-matrix kernel takes (cbp_small_gemm_slice;
 * with B transposed it also wants M x slice <= 1200), the threads a
 * contiguous share of them: resnet_fc (M = 32, N = 1000, K = 2048) on one
 * thread 1.01-1.07 -> 0.89 ms in slices of 24 columns. */
#include <cblas.h>

#include "internal.h"

static int run(const cbp_problem *pb, int threads, const float *dY, const float *W, float *dX,
               void *ws) {
  (void)ws;
  const int M = pb->mma.m, N = pb->mma.n, K = pb->mma.k;
  const size_t slice = 16 * M <= 1200 ? cbp_small_gemm_slice(K, M, N, 1200 / M, threads) : 0;
  if (!slice) {
    cbp_sgemm_split_m(threads, 0, 1, M, K, N, dY, N, W, N, dX, K);
    return CONVBP_OK;
  }
  cbp_blas_threads(1); /* one thread inactive: OpenBLAS would thread a refused call */
  /* dX(:, j0:j0+n) = dY W(j0:j0+n, :)^T, a slice of dX's columns each */
  cbp_sgemm_slices(threads, 0, (int)slice, 0, 1, M, K, N, dY, N, W, N, dX, K);
  return CONVBP_OK;
}

const cbp_strategy cbp_mma_bpa_gemm = {
    .name = "mma_bpa_gemm",
    .op = CONVBP_MMA_BPA,
    .summary = "MMA backward data dX = dY W^T as one sgemm (transpose flag, no copy)",
    .run = run,
    .vec_channels = cbp_gemm_vec_channels,
};
