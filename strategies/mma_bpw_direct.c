/* mma_bpw_direct: MMA backward weights by plain loops.
 *
 *   dW(k,n) = sum_m X(m,k) dY(m,n)      (dW = X^T dY; X m x k, dY m x n)
 *
 * Supports every valid problem.  Workspace: none.  Threads: OpenMP over k; each
 * thread owns the row dW(k,:) and adds X(m,k) * dY(m,:) into it. */
#include "internal.h"

/* The loops, over the threads of cbp_parallel's region (an orphaned omp for),
   or alone on one thread, where no region is opened. */
static void loops(void *ctx, int tid, int nth) {
  const cbp_run_args *ra = ctx;
  const cbp_problem *pb = ra->pb;
  const float *X = ra->x, *dY = ra->y;
  float *dW = ra->out;
  (void)tid, (void)nth;
  const int M = pb->mma.m, N = pb->mma.n, K = pb->mma.k;
#pragma omp for schedule(static)
  for (int k = 0; k < K; k++) {
    float *out = dW + (size_t)k * N;
    for (int n = 0; n < N; n++) out[n] = 0;
    for (int m = 0; m < M; m++) {
      const float x = X[(size_t)m * K + k];
      const float *y = dY + (size_t)m * N;
      for (int n = 0; n < N; n++) out[n] += x * y[n];
    }
  }
}

static int run(const cbp_problem *pb, int threads, const float *X, const float *dY, float *dW,
               void *ws) {
  (void)ws;
  cbp_run_args ra = {pb, X, dY, dW};
  cbp_parallel(threads, loops, &ra);
  return CONVBP_OK;
}

const cbp_strategy cbp_mma_bpw_direct = {
    .name = "mma_bpw_direct",
    .op = CONVBP_MMA_BPW,
    .summary = "MMA backward weights dW = X^T dY by direct loops (baseline)",
    .run = run,
};
