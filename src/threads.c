/* Threading glue between OpenMP and OpenBLAS.
 *
 * OpenBLAS's OpenMP build runs single-threaded when called inside a parallel
 * region, and with openblas_set_num_threads() threads outside one.  Strategies
 * call cbp_blas_threads(threads) before a GEMM made outside a parallel region. */
#define _POSIX_C_SOURCE 200809L /* clock_gettime */
#include <cblas.h>
#include <math.h>
#include <omp.h>
#include <pthread.h>
#include <stdlib.h>
#include <time.h>

#include "internal.h"

int cbp_grantable_threads(int threads) {
  const int limit = omp_get_thread_limit();
  if (threads > limit) threads = limit;
  return threads < 1 ? 1 : threads;
}

/* Never more than OpenMP grants: OpenBLAS's level-3 threads wait on each
   other's progress flags, so one asked for two threads under OMP_THREAD_LIMIT=1
   waits forever for the second. */
void cbp_blas_threads(int threads) { openblas_set_num_threads(cbp_grantable_threads(threads)); }

void cbp_parallel(int threads, void (*fn)(void *ctx, int tid, int nth), void *ctx) {
  /* Inside a caller's active region, fn's orphaned constructs would bind to the
     caller's team (an omp for split over it, a barrier waiting for it): there
     fn gets a region of its own, a team of one. */
  if (threads <= 1 && omp_get_num_threads() == 1) {
    fn(ctx, 0, 1);
    return;
  }
#pragma omp parallel num_threads(threads)
  fn(ctx, omp_get_thread_num(), omp_get_num_threads());
}

/* The floor, measured once (calibrate_floor); pthread_once makes every later
   reader see the one value, whichever thread asked first. */
static pthread_once_t floor_once = PTHREAD_ONCE_INIT;
static double floor_measured;

double cbp_seconds(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* With T(n) = T(1)/n + c, two threads pay once T(1) > 2c.  A problem of F
   FLOPs takes T(1) = F * t1 / F_cal, where the calibration problem (F_cal
   FLOPs) takes t1 on one thread and t2 on two, c = t2 - t1/2; so two threads
   pay from F = 2 * F_cal * (t2/t1 - 1/2), i.e. a floor of F_cal * (t2/t1 -
   1/2) a thread, times CAL_MARGIN for the strategies whose threads share
   less evenly than the forward engine's.  t1 and t2 are each the best of
   CAL_ROUNDS runs, taken in turn after warm-up runs (the second thread's
   creation).  The calibration problem is the main job's small_3x3 FWD (1.8
   MFLOP in whole 16-float vectors): Zen 4 EPYC guest, 16.4 us on one
   thread and 10.0 on two (c = 1.8 us), a floor of 0.25 MFLOP a thread; the
   Zen 5 guest the fixed 1 MFLOP was set on took "half plus 5 us", 1.1-1.4
   MFLOP by this rule for one thread's 8-10 us.  Clamped to CAL_MIN..CAL_MAX:
   a noisy calibration can cost small problems their second thread, never a
   large one. */
enum { CAL_WARMUP = 3, CAL_ROUNDS = 15 };
#define CAL_MARGIN 1.25
#define CAL_MIN 0.1e6
#define CAL_MAX 4.0e6

static void calibrate_floor(void) {
  floor_measured = CBP_THREAD_FLOPS; /* should anything below fail */
  const convbp_conv c = {.n = 2, .c = 16, .h = 14, .w = 14, .k = 16, .r = 3, .s = 3,
                         .pad_h = 1, .pad_w = 1, .stride_h = 1, .stride_w = 1,
                         .dil_h = 1, .dil_w = 1};
  const cbp_strategy *s = cbp_strategy_lookup("fwd_direct_blocked");
  cbp_problem pb;
  size_t ws1 = 0, ws2 = 0;
  if (!s || cbp_problem_conv(&pb, CONVBP_FWD, &c) ||
      (s->workspace && (s->workspace(&pb, 1, &ws1) || s->workspace(&pb, 2, &ws2))))
    return;
  const size_t nx = pb.x_elems, ny = pb.y_elems, nout = pb.out_elems;
  const size_t ws_bytes = ws1 > ws2 ? ws1 : ws2;
  float *x = convbp_alloc(nx * sizeof(float)), *y = convbp_alloc(ny * sizeof(float));
  float *out = convbp_alloc(nout * sizeof(float));
  void *ws = ws_bytes ? convbp_alloc(ws_bytes) : NULL;
  if (x && y && out && (ws || !ws_bytes)) {
    convbp_fill(x, nx, 1);
    convbp_fill(y, ny, 2);
    double best[2] = {INFINITY, INFINITY};
    for (int round = 0; round < CAL_WARMUP + CAL_ROUNDS; round++)
      for (int t = 0; t < 2; t++) {
        const double t0 = cbp_seconds();
        s->run(&pb, t + 1, x, y, out, ws);
        const double dt = cbp_seconds() - t0;
        if (round >= CAL_WARMUP && dt < best[t]) best[t] = dt;
      }
    const double f = CAL_MARGIN * convbp_conv_flops(&c) * (best[1] / best[0] - 0.5);
    floor_measured = f < CAL_MIN ? CAL_MIN : f > CAL_MAX ? CAL_MAX : f;
  }
  convbp_free(x);
  convbp_free(y);
  convbp_free(out);
  convbp_free(ws);
}

double convbp_thread_flops(void) {
  const char *want = getenv("CONVBP_THREAD_FLOPS");
  if (want && *want) {
    char *end;
    const double v = strtod(want, &end);
    if (*end == 0 && v >= 0) return v;
  }
  pthread_once(&floor_once, calibrate_floor);
  return floor_measured;
}

int cbp_threads_for(const cbp_problem *pb, int threads, int vec_channels) {
  if (threads <= 1) return 1;
  const double per_thread = convbp_thread_flops();
  if (per_thread <= 0) return threads;
  /* BPW's engine visits, for each tap, only the pixels whose input exists,
     so its work is the FLOPs of the taps inside the input; FWD's and BPA's
     tiles still walk the padded pixels and the GEMMs multiply zeros. */
  double flops = convbp_op_is_mma(pb->op)                   ? convbp_mma_flops(&pb->mma)
                 : pb->op == CONVBP_BPW && vec_channels > 0 ? convbp_conv_flops_nopad(&pb->conv)
                                                            : convbp_conv_flops(&pb->conv);
  /* the kernels' time goes by whole vectors of the set those channels run on:
     on AVX-512 at full rate, 8 channels cost a vector of 16 */
  const int vl = cbp_direct_isa_for(vec_channels)->vl;
  if (vec_channels > 0) flops *= (double)((vec_channels + vl - 1) / vl * vl) / vec_channels;
  const double worth = flops / per_thread; /* threads that each get their share */
  return worth >= threads ? threads : worth < 2 ? 1 : (int)worth;
}

int cbp_gemm_vec_channels(const cbp_problem *pb) {
  (void)pb;
  return 0;
}

int cbp_balance_blocks(size_t m, size_t rows, int threads, size_t *mb) {
  size_t blocks = (m + rows - 1) / rows;
  const int parts = threads > 1 && blocks >= (size_t)threads ? threads : 1;
  if (parts > 1) {
    blocks = (blocks + parts - 1) / parts * parts;
    rows = (m + blocks - 1) / blocks;
  }
  *mb = rows;
  return parts;
}

void cbp_sum_partials(float *dst, float *const *part, int parts, size_t elems) {
  /* In chunks of 8 KiB (whole cache lines of a 64-byte aligned dst, so no two
     threads write one line), each partial added in turn over a chunk while it
     stays in L1: the loop over i then has one source and vectorizes.  Over i
     with the partials inner it ran scalar, storing dst[i] once per partial
     (dst might alias them): 18% of res5a_branch2a's BPW time (bpw_im2col_gemm,
     2 MiB partials) on two threads. */
  enum { CHUNK = 2048 };
  const size_t chunks = (elems + CHUNK - 1) / CHUNK;
#pragma omp for schedule(static)
  for (size_t ch = 0; ch < chunks; ch++) {
    const size_t i0 = ch * CHUNK, n = elems - i0 < CHUNK ? elems - i0 : CHUNK;
    float *restrict d = dst + i0;
    for (int u = 1; u < parts; u++) {
      const float *restrict src = part[u] + i0;
      for (size_t i = 0; i < n; i++) d[i] += src[i];
    }
  }
}

/* OpenBLAS 0.3.21 has the small-matrix kernel in its SkylakeX kernel set,
   which it also runs on Cooper Lake and Sapphire Rapids (and which the CLI
   asks for on every AVX-512 CPU: cbp_fix_blas_coretype); elsewhere the
   slices would go through the packed path, in more and shorter calls. */
static int small_kernel_core(void) {
  const char *core = openblas_get_corename();
  return core && (!strcmp(core, "SkylakeX") || !strcmp(core, "Cooperlake") ||
                  !strcmp(core, "SapphireRapids"));
}

/* The longest third side that keeps a product with sides m and k in that
   kernel, 0 when OpenBLAS has no such kernel. */
static size_t small_gemm_limit(size_t m, size_t k) {
  return m && k && small_kernel_core() ? CBP_SMALL_MNK / m / k : 0;
}

size_t cbp_small_gemm_rows(size_t n, size_t k) {
  const size_t rows = small_gemm_limit(n, k);
  return rows >= CBP_SMALL_MIN_ROWS ? rows : 0;
}

size_t cbp_small_gemm_slice(size_t len, size_t m, size_t k, size_t cap, int threads) {
  size_t lim = small_gemm_limit(m, k);
  if (cap && lim > cap) lim = cap;
  const size_t share = threads > 1 ? (len + threads - 1) / threads : len;
  if (lim >= share) {
    const size_t whole = (share + 7) / 8 * 8; /* a multiple of 8 where it fits */
    return share == len ? len : whole <= lim ? whole : share;
  }
  lim = lim / 8 * 8;
  return lim >= 16 ? lim : 0;
}

size_t cbp_small_gemm_block(size_t len, size_t m, size_t k) {
  const size_t lim = small_gemm_limit(m, k);
  if (lim >= len) return len;
  if (lim < CBP_SMALL_MIN_ROWS) return 0;
  const size_t calls = (len + lim - 1) / lim;
  return (len + calls - 1) / calls;
}

/* Rows of dW (of k) in one thread's share: ceil(K / threads). */
static size_t mma_bpw_share(const cbp_problem *pb, int threads) {
  const size_t nth = threads > 1 ? (size_t)threads : 1;
  return ((size_t)pb->mma.k + nth - 1) / nth;
}

int cbp_mma_bpw_in_place(const cbp_problem *pb, int threads) {
  const double l2 = (double)cbp_l2_bytes_or_1mib(), share = (double)mma_bpw_share(pb, threads);
  const double m = pb->mma.m, n = pb->mma.n, k = pb->mma.k;
  /* every thread a block of M or more, so that each writes its dW */
  if (threads > 1 && m >= CBP_MMA_BPW_SPLIT_M * k && m >= (double)threads * CBP_MMA_BPW_MIN_ROWS &&
      k * n * sizeof(float) <= l2 / 4)
    return CBP_BPW_TILES_SPLIT_M;                                             /* all of dW */
  if (m * share * sizeof(float) <= l2 / 2) return CBP_BPW_TILES_COLUMNS_OUTER; /* X */
  if (share * n * sizeof(float) <= l2 / 4) return CBP_BPW_TILES_ROWS_OUTER;    /* dW */
  return 0;
}

int cbp_mma_bpw_m_block(const cbp_problem *pb, int threads) {
  const cbp_direct_isa *isa = cbp_direct_isa_get();
  const int split_m = cbp_mma_bpw_in_place(pb, threads) == CBP_BPW_TILES_SPLIT_M;
  const size_t nth = split_m ? (size_t)threads : 1; /* threads sharing M */
  const size_t k = split_m ? (size_t)pb->mma.k : mma_bpw_share(pb, threads);
  const size_t cols = (size_t)isa->nv_max * isa->vl;
  size_t rows = cbp_l2_bytes_or_1mib() / 4 / ((k + cols) * sizeof(float));
  if (rows < CBP_MMA_BPW_MIN_ROWS) rows = CBP_MMA_BPW_MIN_ROWS;
  const size_t m = ((size_t)pb->mma.m + nth - 1) / nth, blocks = (m + rows - 1) / rows;
  return (int)((m + blocks - 1) / blocks);
}

int cbp_mma_bpw_chunk_rows(const cbp_problem *pb, int threads) {
  const size_t K = (size_t)pb->mma.k, np = (size_t)cbp_direct_isa_get()->np_max;
  const size_t fit = cbp_l2_bytes_or_1mib() / 2 / ((size_t)pb->mma.m * sizeof(float));
  if (fit < CBP_MMA_BPW_CHUNK_MIN) return 0;
  const size_t nth = threads > 1 ? (size_t)threads : 1;
  const size_t chunks = ((K + fit - 1) / fit + nth - 1) / nth * nth;
  const size_t kc = ((K + chunks - 1) / chunks + np - 1) / np * np;
  return (int)(kc < K ? kc : K);
}

size_t cbp_strided_1x1_block(const cbp_problem *pb) {
  const convbp_conv *c = &pb->conv;
  if (!(c->r == 1 && c->s == 1 && c->pad_h == 0 && c->pad_w == 0 &&
        (c->stride_h > 1 || c->stride_w > 1) && pb->q >= CBP_STRIDED_MIN_Q))
    return 0;
  const size_t C = (size_t)c->c, K = (size_t)c->k, Q = (size_t)pb->q;
  return pb->op == CONVBP_BPA   ? cbp_small_gemm_block(C, Q, K)
         : pb->op == CONVBP_BPW ? cbp_small_gemm_block(K, C, Q)
                                : 0;
}

/* Rows [i0, i1) of C = A * B on the calling thread: in slices of OpenBLAS's
   small-matrix size when n x k allows (res2a_branch2a BPA on 2 threads 272 ->
   417 GFLOP/s, res2a_branch1 308 -> 368, res2b_branch2a 280 -> 322), else in
   one call.  Only for B untransposed: with it transposed, OpenBLAS permits the
   small kernel only for n * rows <= 1200. */
void cbp_sgemm_rows(int trans_a, int trans_b, int i0, int i1, int n, int k, const float *a,
                    int lda, const float *b, int ldb, float *c, int ldc) {
  const CBLAS_TRANSPOSE ta = trans_a ? CblasTrans : CblasNoTrans;
  const CBLAS_TRANSPOSE tb = trans_b ? CblasTrans : CblasNoTrans;
  const size_t small = trans_b ? 0 : cbp_small_gemm_rows((size_t)n, (size_t)k);
  const int slice = small && small < (size_t)(i1 - i0) ? (int)small : i1 - i0;
  for (int r0 = i0; r0 < i1; r0 += slice) {
    const int rows = i1 - r0 < slice ? i1 - r0 : slice;
    /* row r0 of op(A): a column of A when transposed, else a row */
    cblas_sgemm(CblasRowMajor, ta, tb, rows, n, k, 1.0f, a + (trans_a ? (size_t)r0 : (size_t)r0 * lda),
                lda, b, ldb, 0.0f, c + (size_t)r0 * ldc, ldc);
  }
}

void cbp_sgemm_blas(int threads, int trans_a, int trans_b, int m, int n, int k, const float *a,
                    int lda, const float *b, int ldb, float *c, int ldc) {
  cbp_blas_threads(threads);
  if (threads <= 1)
    cbp_sgemm_rows(trans_a, trans_b, 0, m, n, k, a, lda, b, ldb, c, ldc);
  else
    cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans,
                trans_b ? CblasTrans : CblasNoTrans, m, n, k, 1.0f, a, lda, b, ldb, 0.0f, c, ldc);
}

int cbp_split_rows(size_t m, size_t n, int threads) {
  return m >= n || (m >= 64 * (size_t)threads && n <= 8 * m);
}

/* Columns [i0, i1) of C = op(A) * op(B), one single-threaded sgemm: those
   columns of op(B) are rows of B when transposed, else its columns. */
static void sgemm_columns(int trans_a, int trans_b, int i0, int i1, int m, int k, const float *a,
                          int lda, const float *b, int ldb, float *c, int ldc) {
  cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans,
              trans_b ? CblasTrans : CblasNoTrans, m, i1 - i0, k, 1.0f, a, lda,
              b + (trans_b ? (size_t)i0 * ldb : (size_t)i0), ldb, 0.0f, c + i0, ldc);
}

void cbp_sgemm_split_m(int threads, int trans_a, int trans_b, int m, int n, int k, const float *a,
                       int lda, const float *b, int ldb, float *c, int ldc) {
  /* C (m x n) = op(A) (m x k) * op(B): rows of C are independent, and so are its
     columns, so each thread takes a contiguous slice of them with a
     single-threaded sgemm.  OpenBLAS's own threading splits tall-skinny
     products (m >> n, k: 1x1 convolutions) so that two threads ran slower than
     one (25088x64x256: 104 vs 125 GFLOP/s).
     Rows, unless there are too few to split or C is over 8 times wider than
     tall.  A column split packs less (all of A per thread, not all of B), but
     its threads write every row of C side by side, and on the Zen 5 EPYC that
     was 1.04-1.23x slower in some hours (medians of 15 runs on fresh buffers,
     sets alternating, 2 threads, columns -> rows): the deep layers' BPA,
     392 x 512 (k = 2048, res5a_branch2c) 2.41-2.60 -> 2.25-2.34 ms, 392 x 1024
     1.31-1.58 -> 1.15-1.21, 784 x 1024 2.56-2.69 -> 2.13-2.20, 392 x 2048
     (res5b_branch2a) 2.35-2.90 -> 2.17-2.33; FWD 392 x 512 2.42-2.60 ->
     2.36-2.47.  In other hours the columns ran as fast or, at 392 x 2048,
     about 1.07x faster (2.09-2.15 against 2.25-2.31 ms).  Sweeps of the res5
     layers, the builds alternating: BPA 1.01-1.08x faster, FWD of
     res5b_branch2a 1.03-1.05x, of res5a_branch2c (392 x 2048) 0.96-0.98x. */
  const int by_rows = cbp_split_rows((size_t)m, (size_t)n, threads);
  const int len = by_rows ? m : n;
  int parts = threads < len / 64 ? threads : len / 64;
  if (parts <= 1) {
    cbp_sgemm_blas(threads, trans_a, trans_b, m, n, k, a, lda, b, ldb, c, ldc);
    return;
  }
#pragma omp parallel for num_threads(parts) schedule(static)
  for (int t = 0; t < parts; t++) {
    int i0 = (int)((long)len * t / parts), i1 = (int)((long)len * (t + 1) / parts);
    if (by_rows)
      cbp_sgemm_rows(trans_a, trans_b, i0, i1, n, k, a, lda, b, ldb, c, ldc);
    else
      sgemm_columns(trans_a, trans_b, i0, i1, m, k, a, lda, b, ldb, c, ldc);
  }
}

/* Slice i of cbp_sgemm_slices: rows (by_rows) or columns [i*slice, min(len, i*slice + slice)). */
static void sgemm_slice(int i, int by_rows, int slice, int len, int trans_a, int trans_b, int m,
                        int n, int k, const float *a, int lda, const float *b, int ldb, float *c,
                        int ldc) {
  const int i0 = i * slice, i1 = len - i0 < slice ? len : i0 + slice;
  if (by_rows) /* a slice the small kernel takes is one call there */
    cbp_sgemm_rows(trans_a, trans_b, i0, i1, n, k, a, lda, b, ldb, c, ldc);
  else
    sgemm_columns(trans_a, trans_b, i0, i1, m, k, a, lda, b, ldb, c, ldc);
}

void cbp_sgemm_slices(int threads, int by_rows, int slice, int trans_a, int trans_b, int m, int n,
                      int k, const float *a, int lda, const float *b, int ldb, float *c, int ldc) {
  const int len = by_rows ? m : n, slices = (len + slice - 1) / slice;
  if (threads <= 1) { /* no region, not even an inactive one (cbp_parallel) */
    for (int i = 0; i < slices; i++)
      sgemm_slice(i, by_rows, slice, len, trans_a, trans_b, m, n, k, a, lda, b, ldb, c, ldc);
    return;
  }
  /* schedule(static): each thread a contiguous run of slices, so that the
     operand panels its neighbouring slices share stay in its cache */
#pragma omp parallel for num_threads(threads) schedule(static)
  for (int i = 0; i < slices; i++)
    sgemm_slice(i, by_rows, slice, len, trans_a, trans_b, m, n, k, a, lda, b, ldb, c, ldc);
}
