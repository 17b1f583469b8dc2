/* mma_bpw_gemm: MMA backward weights as one sgemm.
 *
 *   dW (K x N) = X^T * dY,  X is M x K row-major, read transposed in place by the flag.
 *
 * Supports every valid problem.  Workspace: none.  Threads: each a slice of dW's
 * rows or columns with a single-threaded sgemm (cbp_sgemm_split_m, A transposed).  A short
 * reduction (a batch of M rows): dW's rows in slices that OpenBLAS's unpacked
 * small-matrix kernel takes (cbp_small_gemm_slice), the threads a contiguous
 * share of them: resnet_fc (M = 32, N = 1000, K = 2048) on one thread
 * 0.87-0.94 -> 0.64 ms in slices of 24 rows in a test program (0.68 ms in a
 * sweep, oneDNN's matmul 0.64). */
#include <cblas.h>

#include "internal.h"

static int run(const cbp_problem *pb, int threads, const float *X, const float *dY, float *dW,
               void *ws) {
  (void)ws;
  const int M = pb->mma.m, N = pb->mma.n, K = pb->mma.k;
  const size_t slice = cbp_small_gemm_slice(K, N, M, 0, threads);
  if (slice) {
    cbp_blas_threads(1); /* one thread inactive: OpenBLAS would thread a refused call */
    /* dW(k0:k0+n, :) = X(:, k0:k0+n)^T dY, a slice of dW's rows each */
    cbp_sgemm_slices(threads, 1, (int)slice, 1, 0, K, N, M, X, K, dY, N, dW, N);
    return CONVBP_OK;
  }
  /* dW = X^T dY, X (M x K) read transposed: rows or columns of dW a thread */
  cbp_sgemm_split_m(threads, 1, 0, K, N, M, X, K, dY, N, dW, N);
  return CONVBP_OK;
}

const cbp_strategy cbp_mma_bpw_gemm = {
    .name = "mma_bpw_gemm",
    .op = CONVBP_MMA_BPW,
    .summary = "MMA backward weights dW = X^T dY as one sgemm (transpose flag, no copy)",
    .run = run,
    .vec_channels = cbp_gemm_vec_channels,
};
