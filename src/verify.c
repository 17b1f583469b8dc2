/* Verification: seeded inputs, per-element error bounds, the adjoint identity.
 *
 * A float sum of n products has |error| <= gamma_n * sum|terms| with
 * gamma_n = n*u / (1 - n*u), u = 2^-24 (Higham, Accuracy and Stability, 3.1).
 * We allow 2*(n+2)*u*sum|terms|: a bound that holds for every summation order a
 * strategy may choose (blocked GEMM, per-thread partial sums), yet is tight
 * enough that a single misplaced term (|term| ~ 1) fails. */
#include <math.h>
#include <stdlib.h>

#include "internal.h"

static const double unit_roundoff = 5.9604644775390625e-08; /* 2^-24 */

/* splitmix64: a bijective hash, so every element depends on (seed, i) only. */
static inline uint64_t mix64(uint64_t z) {
  z += 0x9e3779b97f4a7c15ull;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

void convbp_fill(float *buf, size_t count, uint64_t seed) {
  if (!buf) return;
  uint64_t base = mix64(seed);
  for (size_t i = 0; i < count; i++) {
    /* 24 random bits -> exact float in [-1, 1). */
    uint64_t b = mix64(base + i) >> 40;
    buf[i] = (float)((double)b / 8388608.0 - 1.0);
  }
}

double convbp_conv_reduction_length(convbp_op op, const convbp_conv *p) {
  int pp, qq;
  if (convbp_conv_out_dims(p, &pp, &qq)) return 0;
  switch (op) {
    case CONVBP_FWD: return (double)p->c * p->r * p->s;
    case CONVBP_BPA: return (double)p->k * p->r * p->s;
    case CONVBP_BPW: return (double)p->n * pp * qq;
    default: return 0;
  }
}

double convbp_mma_reduction_length(convbp_op op, const convbp_mma *p) {
  if (!p) return 0;
  return op == CONVBP_MMA_BPA ? (double)p->n : op == CONVBP_MMA_BPW ? (double)p->m : 0;
}

static double element_bound(double reduction_length, double abs_sum) {
  return 2.0 * (reduction_length + 2.0) * unit_roundoff * abs_sum;
}

void convbp_compare(const float *out, const double *ref, const double *abs_ref, size_t count,
                    double n, convbp_check *res) {
  memset(res, 0, sizeof *res);
  for (size_t i = 0; i < count; i++) {
    double err = fabs((double)out[i] - ref[i]);
    double bound = element_bound(n, abs_ref[i]);
    double ratio;
    if (isnan(err)) {
      ratio = INFINITY;
    } else if (bound > 0) {
      ratio = err / bound;
    } else {
      ratio = err > 0 ? INFINITY : 0.0; /* all terms zero: the result must be exactly 0 */
    }
    if (!(ratio <= 1.0)) res->bad_count++;
    if (!(ratio <= res->max_err_ratio)) {
      res->max_err_ratio = ratio;
      res->worst_index = i;
    }
    if (!(err <= res->max_abs_err)) res->max_abs_err = err;
    if (ref[i] != 0) {
      double rel = err / fabs(ref[i]);
      if (!(rel <= res->max_rel_err)) res->max_rel_err = rel;
    }
  }
  res->passed = res->bad_count == 0;
}

/* Buffers for one checked run; freed through one label. */
typedef struct {
  float *x, *y, *out;
  double *ref, *abs;
} check_bufs;

static int bufs_alloc(check_bufs *b, size_t nx, size_t ny, size_t nout) {
  memset(b, 0, sizeof *b);
  b->x = malloc((nx ? nx : 1) * sizeof(float));
  b->y = malloc((ny ? ny : 1) * sizeof(float));
  b->out = malloc((nout ? nout : 1) * sizeof(float));
  b->ref = malloc((nout ? nout : 1) * sizeof(double));
  b->abs = malloc((nout ? nout : 1) * sizeof(double));
  return (b->x && b->y && b->out && b->ref && b->abs) ? CONVBP_OK : CONVBP_ERR_NOMEM;
}

static void bufs_free(check_bufs *b) {
  free(b->x);
  free(b->y);
  free(b->out);
  free(b->ref);
  free(b->abs);
}

static void fill_nan(float *p, size_t count) {
  for (size_t i = 0; i < count; i++) p[i] = NAN;
}

/* strategy's op, CONVBP_ERR_UNKNOWN_STRATEGY, or CONVBP_ERR_WRONG_OP when it is
   not of the kind (mma or conv) a check was asked for. */
static int strategy_op_of_kind(const char *strategy, int mma, convbp_op *op) {
  int idx = convbp_strategy_find(strategy);
  if (idx < 0) return idx;
  *op = convbp_strategy_op(idx);
  return convbp_op_is_mma(*op) == mma ? CONVBP_OK : CONVBP_ERR_WRONG_OP;
}

/* The MMA check; conv checks go through a verifier (below). */
int convbp_mma_check(const char *strategy, const convbp_mma *p, int threads, uint64_t seed,
                     convbp_check *res) {
  if (!res) return CONVBP_ERR_ARG;
  memset(res, 0, sizeof *res);
  convbp_op op;
  int st = strategy_op_of_kind(strategy, 1, &op);
  if (st) return st;
  size_t nx, ny, nout;
  if ((st = convbp_mma_op_sizes(op, p, &nx, &ny, &nout))) return st;
  check_bufs b;
  if ((st = bufs_alloc(&b, nx, ny, nout))) goto done;
  convbp_fill(b.x, nx, seed);
  convbp_fill(b.y, ny, seed + 1);
  fill_nan(b.out, nout);
  if ((st = convbp_mma_run(strategy, p, threads, b.x, b.y, b.out))) goto done;
  if ((st = convbp_mma_reference(op, p, b.x, b.y, b.ref, b.abs))) goto done;
  convbp_compare(b.out, b.ref, b.abs, nout, convbp_mma_reduction_length(op, p), res);
done:
  bufs_free(&b);
  return st;
}

/* sum_i a_i * b_i and the bound sum_i |a_i| * bound(b_i) for a float result b. */
static void dot_with_bound(const float *a, const float *b, const double *b_abs, size_t count,
                           double n, double *dot, double *bound) {
  double d = 0, e = 0;
  for (size_t i = 0; i < count; i++) {
    d += (double)a[i] * b[i];
    e += fabs((double)a[i]) * element_bound(n, b_abs[i]);
  }
  *dot = d;
  *bound = e;
}

int convbp_conv_adjoint(const char *fwd_strategy, const char *back_strategy,
                        const convbp_conv *p, int threads, uint64_t seed, double *rel_gap,
                        int *passed) {
  if (!rel_gap || !passed) return CONVBP_ERR_ARG;
  int fi = convbp_strategy_find(fwd_strategy), bi = convbp_strategy_find(back_strategy);
  if (fi < 0 || bi < 0) return CONVBP_ERR_UNKNOWN_STRATEGY;
  convbp_op bop = convbp_strategy_op(bi);
  if (convbp_strategy_op(fi) != CONVBP_FWD || (bop != CONVBP_BPA && bop != CONVBP_BPW))
    return CONVBP_ERR_WRONG_OP;
  size_t na, nw, no;
  int st = convbp_conv_sizes(p, &na, &nw, &no);
  if (st) return st;
  size_t nback = bop == CONVBP_BPA ? na : nw;
  float *A = malloc(na * sizeof *A), *W = malloc(nw * sizeof *W), *dO = malloc(no * sizeof *dO);
  float *O = malloc(no * sizeof *O), *G = malloc(nback * sizeof *G);
  double *ref_o = malloc(no * sizeof *ref_o), *abs_o = malloc(no * sizeof *abs_o);
  double *ref_g = malloc(nback * sizeof *ref_g), *abs_g = malloc(nback * sizeof *abs_g);
  if (!A || !W || !dO || !O || !G || !ref_o || !abs_o || !ref_g || !abs_g) {
    st = CONVBP_ERR_NOMEM;
    goto done;
  }
  convbp_fill(A, na, seed);
  convbp_fill(W, nw, seed + 1);
  convbp_fill(dO, no, seed + 2);
  if ((st = convbp_conv_run(fwd_strategy, p, threads, A, W, O))) goto done;
  /* lhs = <FWD(A,W), dO> */
  if ((st = convbp_conv_reference(CONVBP_FWD, p, A, W, ref_o, abs_o))) goto done;
  double lhs, lhs_bound, rhs, rhs_bound;
  dot_with_bound(dO, O, abs_o, no, convbp_conv_reduction_length(CONVBP_FWD, p), &lhs, &lhs_bound);
  if (bop == CONVBP_BPA) {
    /* rhs = <A, BPA(dO, W)> */
    if ((st = convbp_conv_run(back_strategy, p, threads, dO, W, G))) goto done;
    if ((st = convbp_conv_reference(CONVBP_BPA, p, dO, W, ref_g, abs_g))) goto done;
    dot_with_bound(A, G, abs_g, na, convbp_conv_reduction_length(CONVBP_BPA, p), &rhs,
                   &rhs_bound);
  } else {
    /* rhs = <W, BPW(A, dO)> */
    if ((st = convbp_conv_run(back_strategy, p, threads, A, dO, G))) goto done;
    if ((st = convbp_conv_reference(CONVBP_BPW, p, A, dO, ref_g, abs_g))) goto done;
    dot_with_bound(W, G, abs_g, nw, convbp_conv_reduction_length(CONVBP_BPW, p), &rhs,
                   &rhs_bound);
  }
  /* The double-precision dot products add their own tiny rounding. */
  double bound = lhs_bound + rhs_bound + 1e-12 * (fabs(lhs) + fabs(rhs)) + 1e-300;
  *rel_gap = fabs(lhs - rhs) / bound;
  *passed = *rel_gap <= 1.0;
done:
  free(A), free(W), free(dO), free(O), free(G);
  free(ref_o), free(abs_o), free(ref_g), free(abs_g);
  return st;
}

/* ---- A verifier: one problem's inputs and references, many strategies ---- */

struct convbp_verifier {
  convbp_conv p;
  size_t na, nw, no;
  /* Each op's first operand from seed and its second from seed + 1, as
     convbp_conv_check and the sweep make them, so that a check reproduces a
     sweep's row: FWD(A, W), BPA(dO_a, W), BPW(A, dO_w).  dO_a and dO_w differ
     (seed, seed + 1); the adjoint tests pair each with FWD's A and W. */
  float *A, *W, *dO_a, *dO_w, *out; /* out holds the largest of A, W and O */
  double *ref[3], *abs[3]; /* per op (FWD, BPA, BPW), made on first use */
  double lhs_a, lhs_w;     /* <FWD(A,W), dO_a> and <FWD(A,W), dO_w>, made with FWD's */
};

void convbp_verifier_destroy(convbp_verifier *v) {
  if (!v) return;
  free(v->A), free(v->W), free(v->dO_a), free(v->dO_w), free(v->out);
  for (int i = 0; i < 3; i++) free(v->ref[i]), free(v->abs[i]);
  free(v);
}

int convbp_verifier_create(const convbp_conv *p, uint64_t seed, convbp_verifier **out) {
  if (!p || !out) return CONVBP_ERR_ARG;
  *out = NULL;
  size_t na, nw, no;
  int st = convbp_conv_sizes(p, &na, &nw, &no);
  if (st) return st;
  convbp_verifier *v = calloc(1, sizeof *v);
  if (!v) return CONVBP_ERR_NOMEM;
  size_t most = na > nw ? na : nw;
  if (no > most) most = no;
  v->p = *p, v->na = na, v->nw = nw, v->no = no;
  v->A = malloc(na * sizeof *v->A);
  v->W = malloc(nw * sizeof *v->W);
  v->dO_a = malloc(no * sizeof *v->dO_a);
  v->dO_w = malloc(no * sizeof *v->dO_w);
  v->out = malloc(most * sizeof *v->out);
  if (!v->A || !v->W || !v->dO_a || !v->dO_w || !v->out) {
    convbp_verifier_destroy(v);
    return CONVBP_ERR_NOMEM;
  }
  convbp_fill(v->A, na, seed);
  convbp_fill(v->W, nw, seed + 1);
  convbp_fill(v->dO_a, no, seed);
  convbp_fill(v->dO_w, no, seed + 1);
  *out = v;
  return CONVBP_OK;
}

/* The operands of op: FWD(A, W) -> O, BPA(dO_a, W) -> dA, BPW(A, dO_w) -> dW. */
static void verifier_operands(const convbp_verifier *v, convbp_op op, const float **x,
                              const float **y, size_t *nout) {
  *x = op == CONVBP_BPA ? v->dO_a : v->A;
  *y = op == CONVBP_BPW ? v->dO_w : v->W;
  *nout = op == CONVBP_FWD ? v->no : op == CONVBP_BPA ? v->na : v->nw;
}

static int verifier_reference(convbp_verifier *v, convbp_op op) {
  if (v->ref[op]) return CONVBP_OK;
  const float *x, *y;
  size_t nout;
  verifier_operands(v, op, &x, &y, &nout);
  double *ref = malloc(nout * sizeof *ref), *abs_ref = malloc(nout * sizeof *abs_ref);
  int st = ref && abs_ref ? convbp_conv_reference(op, &v->p, x, y, ref, abs_ref)
                          : CONVBP_ERR_NOMEM;
  if (st) {
    free(ref), free(abs_ref);
    return st;
  }
  v->ref[op] = ref, v->abs[op] = abs_ref;
  if (op == CONVBP_FWD) /* the adjoint tests' left sides, exact but for double rounding */
    for (size_t i = 0; i < nout; i++) v->lhs_a += ref[i] * v->dO_a[i], v->lhs_w += ref[i] * v->dO_w[i];
  return CONVBP_OK;
}

int convbp_verifier_check(convbp_verifier *v, const char *strategy, int threads,
                          convbp_check *res, double *adjoint_gap) {
  if (!v || !res) return CONVBP_ERR_ARG;
  memset(res, 0, sizeof *res);
  if (adjoint_gap) *adjoint_gap = 0;
  convbp_op op;
  int st = strategy_op_of_kind(strategy, 0, &op);
  if (st) return st;
  const float *x, *y;
  size_t nout;
  verifier_operands(v, op, &x, &y, &nout);
  /* the run first: a strategy that declines the problem costs no reference */
  fill_nan(v->out, nout);
  st = convbp_conv_run(strategy, &v->p, threads, x, y, v->out);
  if (!st) st = verifier_reference(v, op);
  if (!st && adjoint_gap && op != CONVBP_FWD) st = verifier_reference(v, CONVBP_FWD);
  if (st) return st;
  double n = convbp_conv_reduction_length(op, &v->p);
  convbp_compare(v->out, v->ref[op], v->abs[op], nout, n, res);
  if (adjoint_gap && op != CONVBP_FWD) {
    /* rhs = <A, dA> or <W, dW> on the strategy's output, within rhs_bound */
    const double lhs = op == CONVBP_BPA ? v->lhs_a : v->lhs_w;
    double rhs, rhs_bound;
    dot_with_bound(op == CONVBP_BPA ? v->A : v->W, v->out, v->abs[op], nout, n, &rhs,
                   &rhs_bound);
    double bound = rhs_bound + 1e-12 * (fabs(lhs) + fabs(rhs)) + 1e-300;
    *adjoint_gap = fabs(lhs - rhs) / bound;
  }
  return CONVBP_OK;
}

int convbp_conv_check(const char *strategy, const convbp_conv *p, int threads, uint64_t seed,
                      convbp_check *res) {
  if (!res) return CONVBP_ERR_ARG;
  memset(res, 0, sizeof *res);
  /* the strategy's statuses before the problem's, as convbp_conv_run gives them */
  convbp_op op;
  int st = strategy_op_of_kind(strategy, 0, &op);
  if (st) return st;
  convbp_verifier *v;
  st = convbp_verifier_create(p, seed, &v);
  if (!st) st = convbp_verifier_check(v, strategy, threads, res, NULL);
  convbp_verifier_destroy(v);
  return st;
}
