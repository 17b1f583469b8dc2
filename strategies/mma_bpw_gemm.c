/* mma_bpw_gemm: MMA backward weights as one sgemm.
 *
 *   dW (K x N) = X^T * dY,  X is M x K row-major, read transposed in place by the flag.
 *
 * Supports every valid problem.  Workspace: none.  Threads: OpenBLAS's own. */
#include <cblas.h>

#include "internal.h"

static int run(const cbp_problem *pb, int threads, const float *X, const float *dY, float *dW,
               void *ws) {
  (void)ws;
  const int M = pb->mma.m, N = pb->mma.n, K = pb->mma.k;
  cbp_blas_threads(threads);
  cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, K, N, M, 1.0f, X, K, dY, N, 0.0f, dW, N);
  return CONVBP_OK;
}

const cbp_strategy cbp_mma_bpw_gemm = {
    .name = "mma_bpw_gemm",
    .op = CONVBP_MMA_BPW,
    .summary = "MMA backward weights dW = X^T dY as one sgemm (transpose flag, no copy)",
    .run = run,
};
