/* bpa_direct: backward data by plain loops, in gather form.
 *
 *   dA(n,h,w,c) = sum_{k,r,s} dO(n,p,q,k) W(k,r,s,c)
 *   over the (r,s) with p = (h + pad_h - r*d_h) / st_h whole and in [0,P), q likewise.
 *
 * Supports every valid problem.  Workspace: none.  Threads: OpenMP over (n, h);
 * each thread owns whole rows of dA, so no two threads write one element. */
#include "internal.h"

/* The loops, over the threads of cbp_parallel's region (an orphaned omp for),
   or alone on one thread, where no region is opened. */
static void loops(void *ctx, int tid, int nth) {
  const cbp_run_args *ra = ctx;
  const cbp_problem *pb = ra->pb;
  const float *dO = ra->x, *W = ra->y;
  float *dA = ra->out;
  (void)tid, (void)nth;
  const convbp_conv *c = &pb->conv;
  const int P = pb->p, Q = pb->q;
#pragma omp for collapse(2) schedule(static)
  for (int n = 0; n < c->n; n++)
    for (int h = 0; h < c->h; h++)
      for (int w = 0; w < c->w; w++) {
        float *out = dA + (((size_t)n * c->h + h) * c->w + w) * c->c;
        for (int ch = 0; ch < c->c; ch++) out[ch] = 0;
        for (int r = 0; r < c->r; r++) {
          long tp = (long)h + c->pad_h - (long)r * c->dil_h;
          if (tp < 0 || tp % c->stride_h || tp / c->stride_h >= P) continue;
          long p = tp / c->stride_h;
          for (int s = 0; s < c->s; s++) {
            long tq = (long)w + c->pad_w - (long)s * c->dil_w;
            if (tq < 0 || tq % c->stride_w || tq / c->stride_w >= Q) continue;
            long q = tq / c->stride_w;
            const float *g = dO + (((size_t)n * P + p) * Q + q) * c->k;
            for (int k = 0; k < c->k; k++) {
              const float *wt = W + (((size_t)k * c->r + r) * c->s + s) * c->c;
              const float gk = g[k];
              for (int ch = 0; ch < c->c; ch++) out[ch] += gk * wt[ch];
            }
          }
        }
      }
}

static int run(const cbp_problem *pb, int threads, const float *dO, const float *W, float *dA,
               void *ws) {
  (void)ws;
  cbp_run_args ra = {pb, dO, W, dA};
  cbp_parallel(threads, loops, &ra);
  return CONVBP_OK;
}

const cbp_strategy cbp_bpa_direct = {
    .name = "bpa_direct",
    .op = CONVBP_BPA,
    .summary = "backward data by direct loops in gather form (baseline)",
    .run = run,
};
