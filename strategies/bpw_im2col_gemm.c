/* bpw_im2col_gemm: backward weights as one GEMM over im2col(A).
 *
 *   dW (K x RSC) = dO^T (K x NPQ) * cols (NPQ x RSC),  cols = im2col(A) as in the forward pass
 *
 * The reduction over NPQ goes in row blocks of about 1 MiB of cols (L2); dO^T is
 * read through the transpose flag, never copied.  1x1 stride-1 unpadded
 * problems use A itself as cols.  Threads: with at least T blocks, each thread
 * reduces its blocks into a private K x RSC partial (thread 0 into dW itself)
 * with OpenBLAS single-threaded, then the partials are summed, no atomics;
 * with fewer, one block a thread the same way where each gets MIN_ROWS rows
 * (on one block OpenBLAS's own threads had made two threads slower than one:
 * Zen 5, medians of 3 alternating rounds, 2 threads, rect_1x5 1.44x,
 * dilation_3 1.84x, pad_beyond_reach 1.92x faster that way); otherwise the
 * blocks run in turn on a T-threaded OpenBLAS.
 * 1x1 problems on T threads split the NPQ rows the same way, with no im2col.
 * Few output pixels (NPQ <= 4096: the deep layers, 392 at res5) and a dW over
 * twice L2 make the partials cost more than they save (8 MiB each for K x C =
 * 2048 x 1024, summed from beyond L2), so there the threads split dW itself,
 * over one shared im2col of all NPQ rows (none for 1x1 stride 1): no partial,
 * no sum.  Which side of dW they split: see split_dw_columns.
 * Every sgemm is itself cut along NPQ into calls of at most 160 rows, or of
 * the depth that lets OpenBLAS use its small-matrix kernel (see depth_chunk).
 * Strided 1x1 unpadded problems with wide enough output rows skip im2col too:
 * the Q pixels an output row reads are every st_w-th pixel of one input row, a
 * GEMM operand with leading dimension st_w * C (see strided_dw); the threads
 * split the output rows, each into its own partial.
 * Workspace: T * mb * RSC + (T-1) * K * RSC floats, mb rows of a block ((T-1) *
 * K * RSC on the GEMM and strided paths; NPQ * RSC, or 0, when splitting dW).
 * Supports every valid problem. */
#include <cblas.h>
#include <omp.h>

#include "internal.h"

enum { BLOCK_BYTES = 1 << 20, MIN_ROWS = 64 };

/* Pixel rows per sgemm call.  The reduction over NPQ goes in calls of at most
 * DEPTH_ROWS rows, split evenly, accumulating into dW: 1.02-1.09x over one
 * call on most 1x1 and strided layers (res4a_branch2c 2 threads 330 -> 360
 * GFLOP/s; measured, mechanism inside OpenBLAS not pinned down).  When dW's
 * block is small enough for OpenBLAS's small-matrix kernel (see
 * cbp_small_gemm_rows), that depth instead: far better on the tall-skinny
 * products, res2b_branch2a (64 x 256) 1.27x, res2a_branch2a (64 x 64)
 * 1.35-1.44x. */
enum { DEPTH_ROWS = 160 };
static size_t depth_chunk(int kk, int n) {
  const size_t small = cbp_small_gemm_rows((size_t)kk, (size_t)n);
  return small ? small : DEPTH_ROWS;
}

/* The same for a call on OpenBLAS's own T threads: one call when T > 1, since
   the small-matrix kernel runs on one thread and every call forks and joins. */
static size_t blas_chunk(int kk, int n, size_t depth, int threads) {
  return threads > 1 ? depth : depth_chunk(kk, n);
}

/* c (kk x n, ldc) = beta * c + sum over pixel rows i < depth of do_[i, :kk]^T * b[i, :n],
   in sgemm calls of at most max_rows rows each, evenly split. */
static void dw_gemm(int kk, int n, size_t depth, size_t max_rows, const float *do_, int ldo,
                    const float *b, int ldb, float beta, float *c, int ldc) {
  const size_t calls = (depth + max_rows - 1) / max_rows;
  const size_t chunk = calls ? (depth + calls - 1) / calls : 1;
  for (size_t r0 = 0; r0 < depth; r0 += chunk) {
    const size_t rows = depth - r0 < chunk ? depth - r0 : chunk;
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, kk, n, (int)rows, 1.0f, do_ + r0 * ldo,
                ldo, b + r0 * ldb, ldb, r0 ? 1.0f : beta, c, ldc);
  }
}

static cbp_fwd_desc im2col_desc(const cbp_problem *pb) {
  const convbp_conv *c = &pb->conv;
  return (cbp_fwd_desc){c->n, c->c, c->h, c->w, c->k, c->r, c->s, c->pad_h, c->pad_w,
                        c->stride_h, c->stride_w, c->dil_h, c->dil_w, pb->p, pb->q};
}

/* Pixel rows of one im2col block: about BLOCK_BYTES of cols, at least MIN_ROWS. */
static size_t block_rows(const cbp_problem *pb) {
  const convbp_conv *c = &pb->conv;
  const size_t m = (size_t)c->n * pb->p * pb->q, rsc = (size_t)c->r * c->s * c->c;
  size_t rows = BLOCK_BYTES / (rsc * sizeof(float));
  if (rows < MIN_ROWS) rows = MIN_ROWS;
  return rows > m ? m : rows;
}

static void plan(const cbp_problem *pb, int threads, size_t *mb, int *parts) {
  const size_t m = (size_t)pb->conv.n * pb->p * pb->q;
  *parts = cbp_balance_blocks(m, block_rows(pb), threads, mb);
  /* fewer blocks than threads: one a thread, if each gets MIN_ROWS rows */
  if (*parts == 1 && threads > 1 && m >= (size_t)threads * MIN_ROWS) {
    *parts = threads;
    *mb = (m + threads - 1) / threads;
  }
}

/* 1x1 stride 1 unpadded: threads that each reduce a slice of the NPQ rows (at
   least 64 each); OpenBLAS's own threading is slower than one thread on these
   tall-skinny products. */
static int gemm_parts(const cbp_problem *pb, int threads) {
  size_t m = (size_t)pb->conv.n * pb->p * pb->q;
  return threads > 1 && m >= 64 * (size_t)threads ? threads : 1;
}

/* Split dW over the threads rather than sum per-thread partials of it: few
 * pixels, and partials (K x RSC floats each) over twice L2, which each thread
 * reads and writes once per depth chunk and the sum reads again from beyond
 * L2.  Zen 5 EPYC, 1 MiB L2, 2 threads, medians of 15 alternating rounds,
 * split time / partials time: the res4 layers (NPQ = 1568, partials 0.5-2.4 MB)
 * res4a_branch2a 1.22x, res4b_branch2a 1.10-1.16x, res4a_branch2b 1.07x,
 * res4a_branch1 1.03x, res4a_branch2c 1.00x, res4b_branch2a at N = 4 1.10x;
 * res5b_branch2a (4 MiB) at N = 8, 16, 24: 0.76x, 0.90-0.93x, 0.92x;
 * res5a_branch2c (4 MiB) 0.80x; res5a_branch2b (9.4 MB) at N = 16: 0.83x.
 * Only res4a_branch2b (2.4 MB), a layer bpw_direct_blocked wins, falls on the
 * wrong side.  One thread has no partials and is unchanged. */
enum { SPLIT_DW_MAX_ROWS = 4096 };
static int split_dw(const cbp_problem *pb, int threads) {
  const size_t m = (size_t)pb->conv.n * pb->p * pb->q;
  const size_t rsc = (size_t)pb->conv.r * pb->conv.s * pb->conv.c;
  const size_t wide = rsc > (size_t)pb->conv.k ? rsc : (size_t)pb->conv.k;
  return threads > 1 && m <= SPLIT_DW_MAX_ROWS && wide >= 64 * (size_t)threads &&
         pb->out_elems * sizeof(float) > 2 * cbp_l2_bytes_or_1mib();
}

/* On the split_dw path: split dW's RSC columns rather than its K rows?  Each
 * thread's sgemm packs all of the operand it shares, so splitting the K rows
 * packs all of cols (NPQ x RSC) T times, and splitting the columns all of dO
 * (NPQ x K): the columns when RSC > K and cols comes from im2col (3x3,
 * res5a_branch2b on 2 threads: 4.93-5.06 ms by columns, 5.23-5.33 by rows).
 * For 1x1 stride 1, where cols is A itself, the rule of a single GEMM
 * (cbp_split_rows: rows unless K < 64 a thread or RSC > 8 K), because there
 * the column split is the fragile one.  Zen 5 EPYC, 2 threads, medians of 15
 * runs on each of 6-12 fresh sets of buffers, columns -> rows, in one hour:
 * res5b_branch2a 2.36-2.49 -> 2.17-2.20 ms, K x C = 512 x 1536 1.84-1.88 ->
 * 1.61-1.64, 1024 x 2048 4.99-5.10 -> 4.27-4.35, 512 x 4096 4.50-4.55 ->
 * 4.42-4.47 (but not on a process's first buffers, nor on 2 MiB pages); an
 * hour later, with the rows as fast as before, the columns were too:
 * 2.04-2.21 -> 2.06-2.18, 1.54-1.59 -> 1.55-1.63, 4.15-4.34 -> 4.19-4.37.  So
 * the rows cost 1-2% at worst and saved 10-17% when the guest's memory made
 * the columns slow (not pinned down: no cycle counters there).  The Xeon model
 * 167 had res4b_branch2a (1x1, 256 x 1024) at 296-320 GFLOP/s by rows and
 * 330-346 by columns, a point that now takes partials there. */
static int split_dw_columns(const cbp_problem *pb, const cbp_fwd_desc *d, int threads) {
  const size_t rsc = (size_t)pb->conv.r * pb->conv.s * pb->conv.c, K = (size_t)pb->conv.k;
  return cbp_fwd_is_gemm(d) ? !cbp_split_rows(K, rsc, threads) : rsc > K;
}

/* Threads of the strided path: each reduces whole output rows into its partial. */
static int strided_parts(const cbp_problem *pb, int threads) {
  const size_t rows = (size_t)pb->conv.n * pb->p;
  return rows < (size_t)threads ? (int)rows : threads;
}

/* Strided 1x1 unpadded with wide output rows (cbp_strided_1x1_block): no
 * im2col, which at stride 2 gathers a quarter of A from memory.  Per output row
 * and block of K, in place:
 *   dW(k0:k1, :) += dO(n, p, :, k0:k1)^T (kn x Q) * A(n, p*st_h, q*st_w, :) (Q x C, q < Q)
 * the blocks of K as few as let kn x C x Q fit OpenBLAS's small-matrix kernel
 * (which reads its operands unpacked).  Xeon model 167, medians of 3
 * alternating runs, GFLOP/s at 1 / 2 threads: res3a_branch2a (K = 128, one
 * block) 137 -> 165 / 276 -> 321; res3a_branch1 (K = 512, four blocks)
 * 173 -> 174 / 342 -> 340.
 * dW (or a thread's partial) = that sum over output rows [g0, g1). */
static void strided_dw(const cbp_problem *pb, const float *A, const float *dO, size_t g0, size_t g1,
                       float *dw, float *cols) {
  (void)cols;
  const convbp_conv *c = &pb->conv;
  const int K = c->k, C = c->c, Q = pb->q;
  const int kb = (int)cbp_strided_1x1_block(pb);
  for (size_t g = g0; g < g1; g++) {
    const size_t n = g / (size_t)pb->p, p = g % (size_t)pb->p;
    const float *b = A + ((size_t)n * c->h + (size_t)p * c->stride_h) * c->w * C;
    const float *g_row = dO + (size_t)g * Q * K;
    for (int k0 = 0; k0 < K; k0 += kb) {
      const int kn = K - k0 < kb ? K - k0 : kb;
      cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, kn, C, Q, 1.0f, g_row + k0, K, b,
                  c->stride_w * C, g == g0 ? 0.0f : 1.0f, dw + (size_t)k0 * C, C);
    }
  }
}

/* dW of pixel rows [m0, m1) of a 1x1 stride-1 unpadded problem, whose cols is A itself */
static void pixel_rows_dw(const cbp_problem *pb, const float *A, const float *dO, size_t m0,
                          size_t m1, float *dw, float *cols) {
  (void)cols;
  const int K = pb->conv.k, C = pb->conv.c;
  dw_gemm(K, C, m1 - m0, depth_chunk(K, C), dO + m0 * K, K, A + m0 * C, C, 0.0f, dw, C);
}

/* dW of pixel rows [m0, m1) through im2col, in blocks of at most block_rows
   rows (evenly split) copied to the thread's cols; the first block writes dw
   with beta = 0 (no faster than zeroing dw first, res5a_branch2a on two
   threads 1.17-1.19 ms either way, as OpenBLAS zeroes C for beta = 0 itself,
   but the zeroing then counts inside sgemm). */
static void im2col_rows_dw(const cbp_problem *pb, const float *A, const float *dO, size_t m0,
                           size_t m1, float *dw, float *cols) {
  const cbp_fwd_desc d = im2col_desc(pb);
  const int K = pb->conv.k, rsc = pb->conv.r * pb->conv.s * pb->conv.c;
  const size_t cap = block_rows(pb), blocks = (m1 - m0 + cap - 1) / cap;
  const size_t mb = (m1 - m0 + blocks - 1) / blocks;
  for (size_t r0 = m0; r0 < m1; r0 += mb) {
    const size_t rows = m1 - r0 < mb ? m1 - r0 : mb;
    cbp_im2col_rows(&d, A, r0, rows, cols);
    dw_gemm(K, rsc, rows, depth_chunk(K, rsc), dO + r0 * K, K, cols, rsc, r0 > m0 ? 1.0f : 0.0f,
            dw, rsc);
  }
}

/* dW = the sum of fn over `units` (pixel or output rows) split into `parts`
   contiguous ranges, each reduced by its thread into a partial (the first
   thread's is dW, the others in ws), then the partials summed: no atomics,
   and each partial summed in a fixed order.  fn writes its partial whole
   (beta = 0 on its first call) over a non-empty range, on one OpenBLAS
   thread; an empty range's partial is zeroed here.  With cols_floats, each
   thread also gets that many floats of its own for fn's im2col. */
typedef void (*range_dw_fn)(const cbp_problem *pb, const float *A, const float *dO, size_t u0,
                            size_t u1, float *dw, float *cols);
static void reduce_range(const cbp_problem *pb, range_dw_fn fn, const float *A, const float *dO,
                         size_t u0, size_t u1, float *dw, float *cols) {
  if (u1 > u0)
    fn(pb, A, dO, u0, u1, dw, cols);
  else
    memset(dw, 0, pb->out_elems * sizeof(float));
}

static void reduce_ranges(const cbp_problem *pb, int parts, size_t units, range_dw_fn fn,
                          const float *A, const float *dO, float *dW, void *ws,
                          size_t cols_floats) {
  cbp_arena ar = {ws, 0};
  const int n = parts > 1 ? parts : 1;
  float *part[n], *cols[n];
  for (int t = 0; t < n; t++) {
    cols[t] = cols_floats ? cbp_take(&ar, cols_floats * sizeof(float)) : NULL;
    part[t] = t == 0 ? dW : cbp_take(&ar, pb->out_elems * sizeof(float));
  }
  if (parts <= 1) {
    /* outside a parallel region: OpenBLAS would thread any call its small kernel refuses */
    cbp_blas_threads(1);
    reduce_range(pb, fn, A, dO, 0, units, dW, cols[0]);
    return;
  }
  /* split by the threads OpenMP grants, which may be fewer than asked (say,
     called from a parallel region of the caller's) */
#pragma omp parallel num_threads(parts)
  {
    const int t = omp_get_thread_num(), nt = omp_get_num_threads();
    reduce_range(pb, fn, A, dO, units * t / nt, units * (t + 1) / nt, part[t], cols[t]);
#pragma omp barrier
    cbp_sum_partials(dW, part, nt, pb->out_elems);
  }
}

static int workspace(const cbp_problem *pb, int threads, size_t *bytes) {
  cbp_fwd_desc d = im2col_desc(pb);
  *bytes = 0;
  if (split_dw(pb, threads)) {
    size_t m = (size_t)pb->conv.n * pb->p * pb->q, rsc = (size_t)pb->conv.r * pb->conv.s * pb->conv.c;
    return cbp_fwd_is_gemm(&d) ? CONVBP_OK
           : cbp_mul(m, rsc, &m) ? CONVBP_ERR_OVERFLOW
                                 : cbp_ws_add(bytes, m, sizeof(float));
  }
  /* the partials of the threads after the first */
  if (cbp_fwd_is_gemm(&d) || cbp_strided_1x1_block(pb)) {
    const int parts = cbp_fwd_is_gemm(&d) ? gemm_parts(pb, threads) : strided_parts(pb, threads);
    for (int t = 1; t < parts; t++)
      if (cbp_ws_add(bytes, pb->out_elems, sizeof(float))) return CONVBP_ERR_OVERFLOW;
    return CONVBP_OK;
  }
  const convbp_conv *c = &pb->conv;
  size_t mb, rsc = (size_t)c->r * c->s * c->c;
  int parts;
  plan(pb, threads, &mb, &parts);
  /* one thread: blocks of mb rows; several: each thread's blocks of up to block_rows */
  const size_t cols = (parts > 1 ? block_rows(pb) : mb) * rsc;
  for (int t = 0; t < parts; t++) {
    if (cbp_ws_add(bytes, cols, sizeof(float))) return CONVBP_ERR_OVERFLOW;
    if (t > 0 && cbp_ws_add(bytes, pb->out_elems, sizeof(float))) return CONVBP_ERR_OVERFLOW;
  }
  return CONVBP_OK;
}

static int run(const cbp_problem *pb, int threads, const float *A, const float *dO, float *dW,
               void *ws) {
  const convbp_conv *c = &pb->conv;
  cbp_fwd_desc d = im2col_desc(pb);
  const size_t m = (size_t)c->n * pb->p * pb->q, rsc = (size_t)c->r * c->s * c->c;
  const int K = c->k;
  if (split_dw(pb, threads)) {
    const int no_copy = cbp_fwd_is_gemm(&d);
    float *cols = ws;
#pragma omp parallel num_threads(threads)
    {
      const int t = omp_get_thread_num(), nt = omp_get_num_threads();
      const size_t m0 = m * t / nt, m1 = m * (t + 1) / nt;
      if (!no_copy && m1 > m0) cbp_im2col_rows(&d, A, m0, m1 - m0, cols + m0 * rsc);
#pragma omp barrier
      const float *b = no_copy ? A : cols;
      if (split_dw_columns(pb, &d, threads)) {
        /* dW(:, j0:j1) = dO^T * cols(:, j0:j1), bounds on 16-float lines */
        const size_t j0 = rsc * t / nt / 16 * 16, j1 = t + 1 == nt ? rsc : rsc * (t + 1) / nt / 16 * 16;
        if (j1 > j0)
          /* one call: chunked, these ran 1-5% slower (res4a_branch2a, res5a_branch2a) */
          dw_gemm(K, (int)(j1 - j0), m, m, dO, K, b + j0, (int)rsc, 0.0f, dW + j0, (int)rsc);
      } else {
        /* dW(k0:k1, :) = dO(:, k0:k1)^T * cols */
        const int k0 = (int)((long)K * t / nt), k1 = (int)((long)K * (t + 1) / nt);
        dw_gemm(k1 - k0, (int)rsc, m, depth_chunk(k1 - k0, (int)rsc), dO + k0, K, b, (int)rsc, 0.0f,
                dW + (size_t)k0 * rsc, (int)rsc);
      }
    }
    return CONVBP_OK;
  }
  if (cbp_fwd_is_gemm(&d)) {
    const int gparts = gemm_parts(pb, threads);
    if (gparts == 1) {
      cbp_blas_threads(threads);
      dw_gemm(K, (int)rsc, m, blas_chunk(K, (int)rsc, m, threads), dO, K, A, (int)rsc, 0.0f, dW,
              (int)rsc);
      return CONVBP_OK;
    }
    reduce_ranges(pb, gparts, m, pixel_rows_dw, A, dO, dW, ws, 0);
    return CONVBP_OK;
  }
  if (cbp_strided_1x1_block(pb)) {
    reduce_ranges(pb, strided_parts(pb, threads), (size_t)c->n * pb->p, strided_dw, A, dO, dW, ws,
                  0);
    return CONVBP_OK;
  }
  size_t mb;
  int parts;
  plan(pb, threads, &mb, &parts);
  if (parts > 1) {
    /* each thread's pixel rows through its own cols into its partial */
    reduce_ranges(pb, parts, m, im2col_rows_dw, A, dO, dW, ws, block_rows(pb) * rsc);
    return CONVBP_OK;
  }
  /* Outside any parallel region, so OpenBLAS runs on its T threads (inside even an
     inactive region it would start a nested team of its own). */
  cbp_blas_threads(threads);
  for (size_t m0 = 0; m0 < m; m0 += mb) {
    const size_t rows = m - m0 < mb ? m - m0 : mb;
    cbp_im2col_rows(&d, A, m0, rows, ws);
    dw_gemm(K, (int)rsc, rows, blas_chunk(K, (int)rsc, rows, threads), dO + m0 * K, K, ws,
            (int)rsc, m0 ? 1.0f : 0.0f, dW, (int)rsc);
  }
  return CONVBP_OK;
}

const cbp_strategy cbp_bpw_im2col_gemm = {
    .name = "bpw_im2col_gemm",
    .op = CONVBP_BPW,
    .summary = "backward weights: dW = dO^T * im2col(A) by sgemm over L2-sized row blocks",
    .workspace = workspace,
    .run = run,
    .vec_channels = cbp_gemm_vec_channels,
};
