/* convbp: backward propagation of convolution and matrix-multiply layers.
 *
 * Layouts (row-major, innermost last):
 *   conv activations A, dA: N x H x W x C   (NHWC)
 *   conv weights     W, dW: K x R x S x C   (KRSC)
 *   conv outputs     O, dO: N x P x Q x K   (NPQK)
 *   MMA: X is M x K, W is K x N, Y = X W is M x N.
 *
 * Every fallible call returns 0 (CONVBP_OK) or a negative convbp_status;
 * convbp_strerror() names it.  The library never exits, never prints, and keeps
 * no state besides the constant strategy registry. */
#ifndef CONVBP_H
#define CONVBP_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define CONVBP_VERSION "0.1.0" /* CMakeLists.txt reads the project version from here */

typedef enum { CONVBP_FWD, CONVBP_BPA, CONVBP_BPW, CONVBP_MMA_BPA, CONVBP_MMA_BPW } convbp_op;
#define CONVBP_OP_COUNT 5

typedef struct {
  int n, c, h, w;          /* A: n x h x w x c  (NHWC) */
  int k, r, s;             /* W: k x r x s x c  (KRSC); O: n x p x q x k */
  int pad_h, pad_w, stride_h, stride_w, dil_h, dil_w;   /* dil 1 = dense kernel */
} convbp_conv;

typedef struct { int m, n, k; } convbp_mma;  /* X: m x k, W: k x n, Y: m x n, row-major */

/* Status codes: one list, expanded into the enum and into convbp_strerror(). */
#define CONVBP_STATUS_LIST(X)                                                              \
  X(CONVBP_OK, 0, "success")                                                               \
  X(CONVBP_ERR_ARG, -1, "invalid argument (NULL pointer or thread count < 1)")             \
  X(CONVBP_ERR_PROBLEM, -2, "invalid problem (a dimension < 1, a pad < 0, or P/Q < 1)")    \
  X(CONVBP_ERR_OVERFLOW, -3,                                                                 \
    "problem too large: a size in bytes overflows size_t, or N*H*W, N*P*Q, R*S*C, R*S*K "      \
    "or H + 2*pad + stride + dil*(R-1) (W likewise) exceeds INT_MAX")                         \
  X(CONVBP_ERR_UNKNOWN_STRATEGY, -4, "unknown strategy name")                              \
  X(CONVBP_ERR_WRONG_OP, -5, "strategy computes another operation")                        \
  X(CONVBP_ERR_UNSUPPORTED, -6, "strategy does not support this problem")                  \
  X(CONVBP_ERR_NOMEM, -7, "out of memory: a workspace or buffer could not be allocated")     \
  X(CONVBP_ERR_WORKSPACE_LIMIT, -8, "workspace over the limit")                            \
  X(CONVBP_ERR_PARSE, -9, "malformed problem descriptor")                                  \
  X(CONVBP_ERR_WRONG_RESULT, -10, "result outside the error bound of the reference")      \
  X(CONVBP_ERR_INTERNAL, -11, "internal error in a strategy or its library")             \
  X(CONVBP_ERR_NO_WISDOM, -12, "no wisdom for this problem")                               \
  X(CONVBP_ERR_WISDOM, -13, "wisdom file rejected (garbled, foreign or stale)")            \
  X(CONVBP_ERR_IO, -14, "file could not be read or written")

typedef enum {
#define CONVBP_ENUM_ENTRY(name, value, text) name = value,
  CONVBP_STATUS_LIST(CONVBP_ENUM_ENTRY)
#undef CONVBP_ENUM_ENTRY
} convbp_status;

const char *convbp_strerror(int status);

/* The version of the library linked in, which can differ from the
   CONVBP_VERSION of the header a program was compiled with. */
const char *convbp_version(void);

/* ---- Operations ---------------------------------------------------------- */
const char *convbp_op_name(convbp_op op);          /* "fwd", "bpa", ... */
int convbp_op_parse(const char *name, convbp_op *op); /* 0 or CONVBP_ERR_PARSE */
int convbp_op_is_mma(convbp_op op);

/* ---- Problems ------------------------------------------------------------ */
/* P = floor((H + 2*pad_h - dil_h*(R-1) - 1) / stride_h) + 1, Q likewise.
   Validates p first; *out_p and *out_q may be NULL.  CONVBP_ERR_OVERFLOW when
   H + 2*pad_h + stride_h + dil_h*(R-1) (or its W twin) exceeds INT_MAX. */
int convbp_conv_validate(const convbp_conv *p);
int convbp_conv_out_dims(const convbp_conv *p, int *out_p, int *out_q);
/* Element counts of A (NHWC), W (KRSC) and O (NPQK); checked against overflow:
   CONVBP_ERR_OVERFLOW when a count's bytes (times 4) overflow size_t, or
   N*H*W, N*P*Q, R*S*C or R*S*K exceeds INT_MAX (the GEMMs' int dimensions). */
int convbp_conv_sizes(const convbp_conv *p, size_t *a_elems, size_t *w_elems, size_t *o_elems);
/* Useful FLOPs, 2*N*K*C*R*S*P*Q, for FWD, BPA and BPW alike. */
double convbp_conv_flops(const convbp_conv *p);
/* FLOPs without the taps that fall in the padding (as benchdnn counts them). */
double convbp_conv_flops_nopad(const convbp_conv *p);
int convbp_mma_validate(const convbp_mma *p);
double convbp_mma_flops(const convbp_mma *p);   /* 2*M*N*K */

/* Element counts of the two inputs (x, y) and the output of op on a problem. */
int convbp_conv_op_sizes(convbp_op op, const convbp_conv *p, size_t *x, size_t *y, size_t *out);
int convbp_mma_op_sizes(convbp_op op, const convbp_mma *p, size_t *x, size_t *y, size_t *out);

/* ---- Descriptors (oneDNN benchdnn syntax) --------------------------------
   conv: mb2ic16ih14iw14oc32oh14ow14kh3kw3sh1sw1ph1pw1dh0dw0n"name"
     ic, ih, oc, kh are required; mb defaults to 2; iw=ih, kw=kh, sw=sh, pw=ph,
     dw=dh, ow=oh when omitted; sh defaults to 1, dh to 0, ph to 0, unless oh is
     given without ph, then ph is deduced.  dh/dw are 0-based (dh0 = dense):
     convbp's dil_h = dh + 1.  g1 is accepted; other groups are not supported.
   mma:  m64n128k256n"name"  (all three dimensions required).
   On error the message names the field and value; name may be NULL (the
   name is then ignored), else a name of name_len characters or more is an
   error rather than cut short.  */
int convbp_conv_parse(const char *text, convbp_conv *p, char *name, size_t name_len,
                      char *err, size_t err_len);
int convbp_conv_format(const convbp_conv *p, const char *name, char *buf, size_t len);
int convbp_mma_parse(const char *text, convbp_mma *p, char *name, size_t name_len,
                     char *err, size_t err_len);
int convbp_mma_format(const convbp_mma *p, const char *name, char *buf, size_t len);

/* ---- Strategies ---------------------------------------------------------- */
int         convbp_strategy_count(void);
const char *convbp_strategy_name(int i);
convbp_op   convbp_strategy_op(int i);
const char *convbp_strategy_summary(int i);
int         convbp_strategy_find(const char *name);  /* index or CONVBP_ERR_UNKNOWN_STRATEGY */
/* 0 when the strategy supports the problem, else a status; *reason (may be NULL)
   gets a static sentence saying why not. */
int convbp_conv_supports(const char *strategy, const convbp_conv *p, const char **reason);
int convbp_mma_supports(const char *strategy, const convbp_mma *p, const char **reason);
/* Workspace in bytes the strategy allocates for this problem and thread count. */
int convbp_conv_workspace(const char *strategy, const convbp_conv *p, int threads, size_t *bytes);
int convbp_mma_workspace(const char *strategy, const convbp_mma *p, int threads, size_t *bytes);

/* Runs the named strategy. x, y, out by op:
   FWD: A, W -> O     BPA: dO, W -> dA     BPW: A, dO -> dW
   MMA_BPA: dY, W -> dX (m x k)            MMA_BPW: X, dY -> dW (k x n)
   out is fully overwritten, never accumulated into; x and y are not modified.
   threads >= 1. Returns 0, or a negative status. */
int convbp_conv_run(const char *strategy, const convbp_conv *p, int threads,
                    const float *x, const float *y, float *out);
int convbp_mma_run(const char *strategy, const convbp_mma *p, int threads,
                   const float *x, const float *y, float *out);
/* As above, with the workspace given by the caller (NULL when 0 bytes are needed);
   it must be 64-byte aligned and hold convbp_*_workspace() bytes.  With several
   threads, keep it 256 KiB away from the output (see convbp_conv_prepare). */
int convbp_conv_run_ws(const char *strategy, const convbp_conv *p, int threads,
                       const float *x, const float *y, float *out, void *workspace);
int convbp_mma_run_ws(const char *strategy, const convbp_mma *p, int threads,
                      const float *x, const float *y, float *out, void *workspace);

/* FLOPs each thread must get before a strategy that names its vector channels
   (the blocked and GEMM strategies) wakes it: a problem of F FLOPs runs on
   min(threads, F / floor) threads, one below 2 * floor.  CONVBP_THREAD_FLOPS
   when set (0: every thread), else measured once per process, on the first
   call that needs it: a 1.8 MFLOP convolution timed on one and on two
   threads, T(2) = T(1)/2 + c giving the FLOPs a core does in the time c two
   threads cost over one.  Fixed from then on, so that workspace, prepare and
   run always agree on the count. */
double convbp_thread_flops(void);

/* The kernel set ("avx512", "avx2" or "portable") the blocked strategies run
   for an output whose vectors hold `channels` channels (0: any number): the
   best the CPU has (CONVBP_ISA=avx2|portable narrows it), except that an
   output of at most 8 channels runs AVX2's where a 512-bit FMA issues at half
   the rate of a 256-bit one (AVX-512 on 256-bit pipes, as on Zen 4): half of
   each AVX-512 vector would be empty.  That rate is measured once per process
   on the first call that needs it (about 50 us); CONVBP_HALF_VECTORS=avx2 or
   =avx512 settles it unmeasured, and a CONVBP_ISA set keeps its set. */
const char *convbp_kernels(int channels);

/* A strategy made ready for one problem and thread count: its workspace
   allocated and any set-up (such as a peer library's primitive creation) done,
   so that runs do nothing else.  What the harness times.  With several threads
   the workspace has 256 KiB of untouched address space on each side, so that
   per-thread partials are not written next to the caller's buffers.  The
   oneDNN peers plan their kernels for the threads they will get where they
   are prepared (one inside a caller's active parallel region), and their run
   returns CONVBP_ERR_UNSUPPORTED where it would get others: prepare them
   where they will run. */
typedef struct convbp_prepared convbp_prepared;
int convbp_conv_prepare(const char *strategy, const convbp_conv *p, int threads,
                        convbp_prepared **out);
int convbp_mma_prepare(const char *strategy, const convbp_mma *p, int threads,
                       convbp_prepared **out);
int convbp_prepared_run(convbp_prepared *pr, const float *x, const float *y, float *out);
size_t convbp_prepared_workspace(const convbp_prepared *pr);
void convbp_prepared_destroy(convbp_prepared *pr);

/* ---- Plans and wisdom (the FFTW planner, for convolution backward) ------
   A plan picks a strategy for (op, problem, threads) and holds it prepared, so
   repeated executes allocate nothing.
     CONVBP_ESTIMATE     a documented heuristic from the problem's shape, no timing
     CONVBP_MEASURE      times every candidate that supports the problem, keeps the
                         fastest one that passes verification, adds it to wisdom
     CONVBP_WISDOM_ONLY  the strategy wisdom holds for this problem, else
                         CONVBP_ERR_NO_WISDOM
   A plan made with MEASURE, ESTIMATE or WISDOM_ONLY first consults wisdom.
   Wisdom is process-wide (as FFTW's), guarded by a mutex: the one piece of state
   besides the registry.  conv is used for conv ops, mma for MMA ops. */
typedef enum { CONVBP_ESTIMATE, CONVBP_MEASURE, CONVBP_WISDOM_ONLY } convbp_plan_mode;
typedef struct convbp_plan convbp_plan;
int convbp_plan_create(convbp_plan **plan, convbp_op op, const convbp_conv *conv,
                       const convbp_mma *mma, int threads, convbp_plan_mode mode);
int convbp_plan_execute(convbp_plan *plan, const float *x, const float *y, float *out);
const char *convbp_plan_strategy(const convbp_plan *plan);
void convbp_plan_destroy(convbp_plan *plan);
/* The ESTIMATE choice alone (static name), or NULL for an invalid problem. */
const char *convbp_plan_estimate(convbp_op op, const convbp_conv *conv, const convbp_mma *mma,
                                 int threads);
/* Wisdom files are text, versioned, and carry the machine they were measured on;
   import validates the whole file before it takes anything (a garbled, truncated,
   foreign-version, other-machine or unknown-strategy file changes nothing and
   returns CONVBP_ERR_WISDOM with a message in err).  export writes a temporary
   file and renames it over path. */
int convbp_wisdom_import(const char *path, char *err, size_t err_len);
int convbp_wisdom_export(const char *path);
void convbp_wisdom_forget(void);
int convbp_wisdom_count(void);

/* ---- Reference and verification ----------------------------------------- */
/* Straight from the definitions, accumulating in double.  out gets each output
   element, abs_out (may be NULL) the sum of |terms| that formed it. */
int convbp_conv_reference(convbp_op op, const convbp_conv *p, const float *x, const float *y,
                          double *out, double *abs_out);
int convbp_mma_reference(convbp_op op, const convbp_mma *p, const float *x, const float *y,
                         double *out, double *abs_out);

/* Deterministic inputs: uniform in [-1, 1), a function of (seed, i) only. */
void convbp_fill(float *buf, size_t count, uint64_t seed);

/* Length of the sum that forms one output element of op (the bound's n). */
double convbp_conv_reduction_length(convbp_op op, const convbp_conv *p);
double convbp_mma_reduction_length(convbp_op op, const convbp_mma *p);

typedef struct {
  double max_abs_err;       /* max |out - ref| */
  double max_rel_err;       /* max |out - ref| / |ref| over ref != 0 */
  double max_err_ratio;     /* max |out - ref| / bound; <= 1 passes */
  size_t worst_index;       /* element with the largest ratio */
  size_t bad_count;         /* elements over their bound (NaN counts) */
  int passed;
} convbp_check;

/* Error bound per element: |out - ref| <= 2 * (n + 2) * 2^-24 * sum|terms|,
   the classic gamma_n bound for a float sum of n products, doubled for slack.
   Compares count elements; fills *res. */
void convbp_compare(const float *out, const double *ref, const double *abs_ref, size_t count,
                    double reduction_length, convbp_check *res);

/* Generates inputs from seed (an op's first operand from seed, its second from
   seed + 1), runs the reference and the strategy (output prefilled with NaN),
   compares.  Returns 0 when it could run (see res->passed), else the
   strategy's status.  The conv check is one use of a convbp_verifier (below). */
int convbp_conv_check(const char *strategy, const convbp_conv *p, int threads, uint64_t seed,
                      convbp_check *res);
int convbp_mma_check(const char *strategy, const convbp_mma *p, int threads, uint64_t seed,
                     convbp_check *res);

/* Adjoint identity <FWD(A,W), dO> = <A, BPA(dO,W)> = <W, BPW(A,dO)>, in double.
   Runs fwd_strategy and back_strategy (a BPA or BPW strategy) on seeded inputs
   and compares the two inner products; *rel_gap = |lhs - rhs| / bound, passes
   when <= 1.  The bound sums each side's element bounds weighted by |partner|. */
int convbp_conv_adjoint(const char *fwd_strategy, const char *back_strategy,
                        const convbp_conv *p, int threads, uint64_t seed, double *rel_gap,
                        int *passed);

/* A verifier for one problem, to check many strategies against it as benchdnn
   does: it holds the seeded inputs and makes each operation's double reference
   once, on first use.  The inputs are convbp_conv_check's (and the sweep's):
   an op's first operand from seed, its second from seed + 1, so FWD(A, W),
   BPA(dO, W) and BPW(A, dO) each see exactly what convbp_conv_check would give
   them.  convbp_verifier_check runs strategy on them (output prefilled with
   NaN) and compares it element by element.  For BPA and BPW it also tests the
   adjoint identity on that same output, <FWD(A,W), dO> = <A, dA> or <W, dW>,
   with FWD's A and W and the left side from FWD's reference: *adjoint_gap (may
   be NULL) = |lhs - rhs| / bound, the bound summing the output's element
   bounds weighted by |A| or |W|; <= 1 passes.  It is 0 for FWD.  Returns 0
   when the strategy ran, else its status (CONVBP_ERR_WRONG_OP for an MMA
   strategy); a strategy that declines the problem costs no reference. */
typedef struct convbp_verifier convbp_verifier;
int convbp_verifier_create(const convbp_conv *p, uint64_t seed, convbp_verifier **out);
int convbp_verifier_check(convbp_verifier *v, const char *strategy, int threads,
                          convbp_check *res, double *adjoint_gap);
void convbp_verifier_destroy(convbp_verifier *v); /* NULL is a no-op */

/* Aligned allocation the library uses for workspaces (64-byte aligned). */
void *convbp_alloc(size_t bytes);
void convbp_free(void *ptr);

#ifdef __cplusplus
}
#endif
#endif
