/* mma_bpa_direct: MMA backward data by plain loops.
 *
 *   dX(m,k) = sum_n dY(m,n) W(k,n)      (dX = dY W^T; dY m x n, W k x n)
 *
 * Supports every valid problem.  Workspace: none.  Threads: OpenMP over m.
 * Both operands are read along n, their contiguous dimension. */
#include "internal.h"

/* The loops, over the threads of cbp_parallel's region (an orphaned omp for),
   or alone on one thread, where no region is opened. */
static void loops(void *ctx, int tid, int nth) {
  const cbp_run_args *ra = ctx;
  const cbp_problem *pb = ra->pb;
  const float *dY = ra->x, *W = ra->y;
  float *dX = ra->out;
  (void)tid, (void)nth;
  const int M = pb->mma.m, N = pb->mma.n, K = pb->mma.k;
#pragma omp for schedule(static)
  for (int m = 0; m < M; m++)
    for (int k = 0; k < K; k++) {
      const float *y = dY + (size_t)m * N, *w = W + (size_t)k * N;
      float sum = 0;
      for (int n = 0; n < N; n++) sum += y[n] * w[n];
      dX[(size_t)m * K + k] = sum;
    }
}

static int run(const cbp_problem *pb, int threads, const float *dY, const float *W, float *dX,
               void *ws) {
  (void)ws;
  cbp_run_args ra = {pb, dY, W, dX};
  cbp_parallel(threads, loops, &ra);
  return CONVBP_OK;
}

const cbp_strategy cbp_mma_bpa_direct = {
    .name = "mma_bpa_direct",
    .op = CONVBP_MMA_BPA,
    .summary = "MMA backward data dX = dY W^T by direct loops (baseline)",
    .run = run,
};
