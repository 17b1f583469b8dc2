/* bpw_direct: backward weights by plain loops.
 *
 *   dW(k,r,s,c) = sum_{n,p,q} dO(n,p,q,k) A(n, p*st_h - pad_h + r*d_h, q*st_w - pad_w + s*d_w, c)
 *
 * Supports every valid problem.  Workspace: none.  Threads: OpenMP over k; each
 * thread owns dW(k,:,:,:), so the reduction over (n,p,q) needs no atomics. */
#include "internal.h"

/* The loops, over the threads of cbp_parallel's region (an orphaned omp for),
   or alone on one thread, where no region is opened. */
static void loops(void *ctx, int tid, int nth) {
  const cbp_run_args *ra = ctx;
  const cbp_problem *pb = ra->pb;
  const float *A = ra->x, *dO = ra->y;
  float *dW = ra->out;
  (void)tid, (void)nth;
  const convbp_conv *c = &pb->conv;
  const int P = pb->p, Q = pb->q;
  const size_t rsc = (size_t)c->r * c->s * c->c;
#pragma omp for schedule(static)
  for (int k = 0; k < c->k; k++) {
    float *out = dW + (size_t)k * rsc;
    for (size_t i = 0; i < rsc; i++) out[i] = 0;
    for (int n = 0; n < c->n; n++)
      for (int p = 0; p < P; p++)
        for (int q = 0; q < Q; q++) {
          const float g = dO[(((size_t)n * P + p) * Q + q) * c->k + k];
          for (int r = 0; r < c->r; r++) {
            long h = (long)p * c->stride_h - c->pad_h + (long)r * c->dil_h;
            if (h < 0 || h >= c->h) continue;
            for (int s = 0; s < c->s; s++) {
              long w = (long)q * c->stride_w - c->pad_w + (long)s * c->dil_w;
              if (w < 0 || w >= c->w) continue;
              const float *a = A + (((size_t)n * c->h + h) * c->w + w) * c->c;
              float *o = out + ((size_t)r * c->s + s) * c->c;
              for (int ch = 0; ch < c->c; ch++) o[ch] += g * a[ch];
            }
          }
        }
  }
}

static int run(const cbp_problem *pb, int threads, const float *A, const float *dO, float *dW,
               void *ws) {
  (void)ws;
  cbp_run_args ra = {pb, A, dO, dW};
  cbp_parallel(threads, loops, &ra);
  return CONVBP_OK;
}

const cbp_strategy cbp_bpw_direct = {
    .name = "bpw_direct",
    .op = CONVBP_BPW,
    .summary = "backward weights by direct loops (baseline)",
    .run = run,
};
