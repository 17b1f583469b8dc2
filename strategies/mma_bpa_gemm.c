/* mma_bpa_gemm: MMA backward data as one sgemm.
 *
 *   dX (M x K) = dY (M x N) * W^T,  W is K x N row-major: the transpose flag reads it
 *   as N x K in place, so no transposed copy is made.
 *
 * Supports every valid problem.  Workspace: none.  Threads: each a slice of dX's
 * rows or columns with a single-threaded sgemm (cbp_sgemm_split_m), as the 1x1
 * convolutions' GEMMs. */
#include "internal.h"

static int run(const cbp_problem *pb, int threads, const float *dY, const float *W, float *dX,
               void *ws) {
  (void)ws;
  const int M = pb->mma.m, N = pb->mma.n, K = pb->mma.k;
  cbp_sgemm_split_m(threads, 1, M, K, N, dY, N, W, N, dX, K);
  return CONVBP_OK;
}

const cbp_strategy cbp_mma_bpa_gemm = {
    .name = "mma_bpa_gemm",
    .op = CONVBP_MMA_BPA,
    .summary = "MMA backward data dX = dY W^T as one sgemm (transpose flag, no copy)",
    .run = run,
};
