/* Reference implementations, straight from the definitions (ERRATA.md), in double.
 *
 *   FWD: O(n,p,q,k)  = sum_{r,s,c} A(n, p*st_h - pad_h + r*d_h, q*st_w - pad_w + s*d_w, c) W(k,r,s,c)
 *   BPA: dA(n,h,w,c) = sum_{k,r,s} dO(n,p,q,k) W(k,r,s,c) over the (r,s) with
 *                      p = (h + pad_h - r*d_h) / st_h whole and in [0,P) (q likewise)
 *   BPW: dW(k,r,s,c) = sum_{n,p,q} dO(n,p,q,k) A(n, p*st_h - pad_h + r*d_h, ..., c)
 *   MMA: dX = dY W^T, dW = X^T dY.
 *
 * Each output also gets the sum of |terms|, from which verification derives a
 * per-element error bound.  Deliberately unoptimised: clarity is the point. */
#include <math.h>

#include "internal.h"

static inline void put(double *out, double *abs_out, size_t i, double v, double a) {
  out[i] = v;
  if (abs_out) abs_out[i] = a;
}

static void ref_fwd(const cbp_problem *pb, const float *A, const float *W, double *O, double *Oa) {
  const convbp_conv *c = &pb->conv;
  const int P = pb->p, Q = pb->q;
#pragma omp parallel for collapse(2) schedule(static)
  for (int n = 0; n < c->n; n++)
    for (int p = 0; p < P; p++)
      for (int q = 0; q < Q; q++)
        for (int k = 0; k < c->k; k++) {
          double sum = 0, asum = 0;
          for (int r = 0; r < c->r; r++) {
            long h = (long)p * c->stride_h - c->pad_h + (long)r * c->dil_h;
            if (h < 0 || h >= c->h) continue;
            for (int s = 0; s < c->s; s++) {
              long w = (long)q * c->stride_w - c->pad_w + (long)s * c->dil_w;
              if (w < 0 || w >= c->w) continue;
              const float *a = A + (((size_t)n * c->h + h) * c->w + w) * c->c;
              const float *wt = W + (((size_t)k * c->r + r) * c->s + s) * c->c;
              for (int ch = 0; ch < c->c; ch++) {
                double t = (double)a[ch] * wt[ch];
                sum += t;
                asum += fabs(t);
              }
            }
          }
          put(O, Oa, (((size_t)n * P + p) * Q + q) * c->k + k, sum, asum);
        }
}

static void ref_bpa(const cbp_problem *pb, const float *dO, const float *W, double *dA,
                    double *dAa) {
  const convbp_conv *c = &pb->conv;
  const int P = pb->p, Q = pb->q;
#pragma omp parallel for collapse(2) schedule(static)
  for (int n = 0; n < c->n; n++)
    for (int h = 0; h < c->h; h++)
      for (int w = 0; w < c->w; w++)
        for (int ch = 0; ch < c->c; ch++) {
          double sum = 0, asum = 0;
          for (int r = 0; r < c->r; r++) {
            long tp = (long)h + c->pad_h - (long)r * c->dil_h;
            if (tp < 0 || tp % c->stride_h) continue;
            long p = tp / c->stride_h;
            if (p >= P) continue;
            for (int s = 0; s < c->s; s++) {
              long tq = (long)w + c->pad_w - (long)s * c->dil_w;
              if (tq < 0 || tq % c->stride_w) continue;
              long q = tq / c->stride_w;
              if (q >= Q) continue;
              const float *g = dO + (((size_t)n * P + p) * Q + q) * c->k;
              for (int k = 0; k < c->k; k++) {
                double t = (double)g[k] * W[(((size_t)k * c->r + r) * c->s + s) * c->c + ch];
                sum += t;
                asum += fabs(t);
              }
            }
          }
          put(dA, dAa, (((size_t)n * c->h + h) * c->w + w) * c->c + ch, sum, asum);
        }
}

static void ref_bpw(const cbp_problem *pb, const float *A, const float *dO, double *dW,
                    double *dWa) {
  const convbp_conv *c = &pb->conv;
  const int P = pb->p, Q = pb->q;
#pragma omp parallel for collapse(2) schedule(static)
  for (int k = 0; k < c->k; k++)
    for (int r = 0; r < c->r; r++)
      for (int s = 0; s < c->s; s++)
        for (int ch = 0; ch < c->c; ch++) {
          double sum = 0, asum = 0;
          for (int n = 0; n < c->n; n++)
            for (int p = 0; p < P; p++) {
              long h = (long)p * c->stride_h - c->pad_h + (long)r * c->dil_h;
              if (h < 0 || h >= c->h) continue;
              for (int q = 0; q < Q; q++) {
                long w = (long)q * c->stride_w - c->pad_w + (long)s * c->dil_w;
                if (w < 0 || w >= c->w) continue;
                double t = (double)dO[(((size_t)n * P + p) * Q + q) * c->k + k] *
                           A[(((size_t)n * c->h + h) * c->w + w) * c->c + ch];
                sum += t;
                asum += fabs(t);
              }
            }
          put(dW, dWa, (((size_t)k * c->r + r) * c->s + s) * c->c + ch, sum, asum);
        }
}

int convbp_conv_reference(convbp_op op, const convbp_conv *p, const float *x, const float *y,
                          double *out, double *abs_out) {
  if (!x || !y || !out) return CONVBP_ERR_ARG;
  cbp_problem pb;
  int st = cbp_problem_conv(&pb, op, p);
  if (st) return st;
  switch (op) {
    case CONVBP_FWD: ref_fwd(&pb, x, y, out, abs_out); break;
    case CONVBP_BPA: ref_bpa(&pb, x, y, out, abs_out); break;
    case CONVBP_BPW: ref_bpw(&pb, x, y, out, abs_out); break;
    default: return CONVBP_ERR_WRONG_OP;
  }
  return CONVBP_OK;
}

int convbp_mma_reference(convbp_op op, const convbp_mma *p, const float *x, const float *y,
                         double *out, double *abs_out) {
  if (!x || !y || !out) return CONVBP_ERR_ARG;
  cbp_problem pb;
  int st = cbp_problem_mma(&pb, op, p);
  if (st) return st;
  const int M = p->m, N = p->n, K = p->k;
  if (op == CONVBP_MMA_BPA) {
    /* dX(m,k) = sum_n dY(m,n) W(k,n) */
#pragma omp parallel for schedule(static)
    for (int m = 0; m < M; m++)
      for (int k = 0; k < K; k++) {
        double sum = 0, asum = 0;
        for (int n = 0; n < N; n++) {
          double t = (double)x[(size_t)m * N + n] * y[(size_t)k * N + n];
          sum += t;
          asum += fabs(t);
        }
        put(out, abs_out, (size_t)m * K + k, sum, asum);
      }
  } else {
    /* dW(k,n) = sum_m X(m,k) dY(m,n) */
#pragma omp parallel for schedule(static)
    for (int k = 0; k < K; k++)
      for (int n = 0; n < N; n++) {
        double sum = 0, asum = 0;
        for (int m = 0; m < M; m++) {
          double t = (double)x[(size_t)m * K + k] * y[(size_t)m * N + n];
          sum += t;
          asum += fabs(t);
        }
        put(out, abs_out, (size_t)k * N + n, sum, asum);
      }
  }
  return CONVBP_OK;
}
