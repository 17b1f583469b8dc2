/* The reference against the two worked 5x5 examples of seed 002, transcribed
 * term by term.  Two of the seed's lines are wrong and are corrected here:
 *  - dilation example, dL/dx24 = Y'02*w11 + Y'22*w01 (ERRATA 4; the note says Y'11*w01);
 *  - both examples' dL/dx22 drop a term: the stride example omits Y'10*w02 (Y10 reads
 *    x22 through w02) and the dilation example omits Y'20*w01 (Y20 reads x22 through
 *    w01).  Derived from the note's own forward equations, and checked below by
 *    showing the as-written lines disagree with the reference.
 * Each entry lists, for x_ij in row-major order, the (Y_pq, w_rs) pairs of its gradient. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "convbp.h"
#include "testing.h"

typedef struct {
  const char *why;
  convbp_conv p;
  const char *grad[25];
  int seed_wrong_index;      /* a line of the note that is wrong ... */
  const char *seed_wrong_as_written; /* ... as the note writes it */
} worked_example;

static const worked_example examples[] = {
    {"stride 2 (seed 002, 1.1)",
     {1, 1, 5, 5, 1, 3, 3, 0, 0, 2, 2, 1, 1},
     {"00:00", "00:01", "00:02 01:00", "01:01", "01:02",
      "00:10", "00:11", "00:12 01:10", "01:11", "01:12",
      "00:20 10:00", "00:21 10:01", "00:22 01:20 10:02 11:00", "01:21 11:01", "01:22 11:02",
      "10:10", "10:11", "10:12 11:10", "11:11", "11:12",
      "10:20", "10:21", "10:22 11:20", "11:21", "11:22"},
     12, "00:22 01:20 11:00"},
    {"dilation 2 (seed 002, 1.2)",
     {1, 1, 5, 5, 1, 2, 2, 0, 0, 1, 1, 2, 2},
     {"00:00", "01:00", "00:01 02:00", "01:01", "02:01",
      "10:00", "11:00", "10:01 12:00", "11:01", "12:01",
      "00:10 20:00", "01:10 21:00", "00:11 02:10 20:01 22:00", "01:11 21:01", "02:11 22:01",
      "10:10", "11:10", "12:10 10:11", "11:11", "12:11",
      "20:10", "21:10", "22:10 20:11", "21:11", "22:11"},
     14, "02:11 11:01"},
};

/* Sum of Y'(p,q) * w(r,s) over the pairs listed in text ("pq:rs ..."). */
static double eval_terms(const char *text, const float *dY, int Q, const float *w, int S) {
  double sum = 0;
  int p, q, r, s, used;
  while (sscanf(text, " %1d%1d:%1d%1d%n", &p, &q, &r, &s, &used) == 4) {
    sum += (double)dY[p * Q + q] * w[r * S + s];
    text += used;
  }
  return sum;
}

int main(void) {
  for (size_t e = 0; e < sizeof examples / sizeof examples[0]; e++) {
    const worked_example *ex = &examples[e];
    int P, Q;
    CHECK(convbp_conv_out_dims(&ex->p, &P, &Q) == 0, "%s: dims", ex->why);
    float dY[9], w[9];
    double dA[25], abs_dA[25];
    /* Several seeds: each gradient must match for arbitrary dY and w. */
    for (uint64_t seed = 1; seed <= 5; seed++) {
      convbp_fill(dY, (size_t)P * Q, seed);
      convbp_fill(w, (size_t)ex->p.r * ex->p.s, seed + 100);
      CHECK(convbp_conv_reference(CONVBP_BPA, &ex->p, dY, w, dA, abs_dA) == 0, "%s", ex->why);
      for (int i = 0; i < 25; i++) {
        double want = eval_terms(ex->grad[i], dY, Q, w, ex->p.s);
        CHECK(fabs(dA[i] - want) <= 1e-12, "%s: dL/dx%d%d = %.17g, table gives %.17g", ex->why,
              i / 5, i % 5, dA[i], want);
      }
      double as_written = eval_terms(ex->seed_wrong_as_written, dY, Q, w, ex->p.s);
      CHECK(fabs(dA[ex->seed_wrong_index] - as_written) > 1e-6,
            "%s: the seed's line for x%d%d should disagree with the reference", ex->why,
            ex->seed_wrong_index / 5, ex->seed_wrong_index % 5);
    }
  }
  /* The reference is its own adjoint, to double precision, on an awkward shape. */
  convbp_conv p = {2, 3, 7, 6, 4, 3, 2, 2, 1, 2, 3, 2, 1};
  size_t na, nw, no;
  CHECK(convbp_conv_sizes(&p, &na, &nw, &no) == 0, "sizes");
  float A[2 * 7 * 6 * 3], W[4 * 3 * 2 * 3], dO[256];
  double O[256], dA[2 * 7 * 6 * 3], dW[4 * 3 * 2 * 3];
  CHECK(no <= 256, "dO fits (%zu)", no);
  convbp_fill(A, na, 7);
  convbp_fill(W, nw, 8);
  convbp_fill(dO, no, 9);
  convbp_conv_reference(CONVBP_FWD, &p, A, W, O, NULL);
  convbp_conv_reference(CONVBP_BPA, &p, dO, W, dA, NULL);
  convbp_conv_reference(CONVBP_BPW, &p, A, dO, dW, NULL);
  double l = 0, ra = 0, rw = 0;
  for (size_t i = 0; i < no; i++) l += O[i] * dO[i];
  for (size_t i = 0; i < na; i++) ra += A[i] * dA[i];
  for (size_t i = 0; i < nw; i++) rw += W[i] * dW[i];
  CHECK(fabs(l - ra) <= 1e-10 * fabs(l) && fabs(l - rw) <= 1e-10 * fabs(l),
        "reference adjoint: %.17g %.17g %.17g", l, ra, rw);
  TEST_END();
}
