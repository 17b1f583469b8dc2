/* mma_bpa_gemm: MMA backward data as one sgemm.
 *
 *   dX (M x K) = dY (M x N) * W^T,  W is K x N row-major: the transpose flag reads it
 *   as N x K in place, so no transposed copy is made.
 *
 * Supports every valid problem.  Workspace: none.  Threads: OpenBLAS's own. */
#include <cblas.h>

#include "internal.h"

static int run(const cbp_problem *pb, int threads, const float *dY, const float *W, float *dX,
               void *ws) {
  (void)ws;
  const int M = pb->mma.m, N = pb->mma.n, K = pb->mma.k;
  cbp_blas_threads(threads);
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, M, K, N, 1.0f, dY, N, W, N, 0.0f, dX, K);
  return CONVBP_OK;
}

const cbp_strategy cbp_mma_bpa_gemm = {
    .name = "mma_bpa_gemm",
    .op = CONVBP_MMA_BPA,
    .summary = "MMA backward data dX = dY W^T as one sgemm (transpose flag, no copy)",
    .run = run,
};
