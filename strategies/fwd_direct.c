/* fwd_direct: forward convolution by plain loops.
 *
 *   O(n,p,q,k) = sum_{r,s,c} A(n, p*st_h - pad_h + r*d_h, q*st_w - pad_w + s*d_w, c) W(k,r,s,c)
 *
 * Supports every valid problem.  Workspace: none.  Threads: OpenMP over (n, p).
 * The inner loop runs over C, contiguous in both A (NHWC) and W (KRSC). */
#include "internal.h"

/* The loops, over the threads of cbp_parallel's region (an orphaned omp for),
   or alone on one thread, where no region is opened. */
static void loops(void *ctx, int tid, int nth) {
  const cbp_run_args *ra = ctx;
  const cbp_problem *pb = ra->pb;
  const float *A = ra->x, *W = ra->y;
  float *O = ra->out;
  (void)tid, (void)nth;
  const convbp_conv *c = &pb->conv;
  const int P = pb->p, Q = pb->q;
#pragma omp for collapse(2) schedule(static)
  for (int n = 0; n < c->n; n++)
    for (int p = 0; p < P; p++)
      for (int q = 0; q < Q; q++)
        for (int k = 0; k < c->k; k++) {
          float sum = 0;
          for (int r = 0; r < c->r; r++) {
            long h = (long)p * c->stride_h - c->pad_h + (long)r * c->dil_h;
            if (h < 0 || h >= c->h) continue;
            for (int s = 0; s < c->s; s++) {
              long w = (long)q * c->stride_w - c->pad_w + (long)s * c->dil_w;
              if (w < 0 || w >= c->w) continue;
              const float *a = A + (((size_t)n * c->h + h) * c->w + w) * c->c;
              const float *wt = W + (((size_t)k * c->r + r) * c->s + s) * c->c;
              for (int ch = 0; ch < c->c; ch++) sum += a[ch] * wt[ch];
            }
          }
          O[(((size_t)n * P + p) * Q + q) * c->k + k] = sum;
        }
}

static int run(const cbp_problem *pb, int threads, const float *A, const float *W, float *O,
               void *ws) {
  (void)ws;
  cbp_run_args ra = {pb, A, W, O};
  cbp_parallel(threads, loops, &ra);
  return CONVBP_OK;
}

const cbp_strategy cbp_fwd_direct = {
    .name = "fwd_direct",
    .op = CONVBP_FWD,
    .summary = "forward convolution by direct loops (baseline)",
    .run = run,
};
