/* Internal framework interface shared by src/ and strategies/.  Not installed. */
#ifndef CONVBP_INTERNAL_H
#define CONVBP_INTERNAL_H

#include <assert.h>
#include <stddef.h>
#include <string.h>

#include "convbp.h"

/* A validated problem with its derived sizes, as the strategies see it. */
typedef struct {
  convbp_op op;
  convbp_conv conv;  /* when op is FWD, BPA or BPW */
  convbp_mma mma;    /* when op is MMA_BPA or MMA_BPW */
  int p, q;          /* conv output height and width */
  int rem_h, rem_w;  /* (H + 2*pad - d*(R-1) - 1) mod stride: rows the forward pass never reaches */
  size_t x_elems, y_elems, out_elems;
} cbp_problem;

/* One strategy: like an FFTW solver, a file exports one of these and nothing else. */
typedef struct {
  const char *name;     /* stable key used in CSV, wisdom and tests */
  convbp_op op;
  const char *summary;  /* one line for `convbp list` */
  /* NULL when the problem is supported, else a static sentence saying why not. */
  const char *(*supports)(const cbp_problem *pb);
  /* Bytes of workspace run() needs; a status on overflow. */
  int (*workspace)(const cbp_problem *pb, int threads, size_t *bytes);
  /* Computes out from x and y; ws holds workspace() bytes, 64-byte aligned.
     A strategy with prepare() gets its prepared state in ws instead. */
  int (*run)(const cbp_problem *pb, int threads, const float *x, const float *y, float *out,
             void *ws);
  /* Optional set-up kept out of the timed region (e.g. a peer library's primitive
     creation): builds *state for this problem and thread count; release frees it. */
  int (*prepare)(const cbp_problem *pb, int threads, void **state);
  void (*release)(void *state);
  /* Optional, for strategies whose set-up a small problem does not repay on
     many threads: the channels their kernels hold in vectors (0: FLOPs as
     they are, cbp_gemm_vec_channels).  The registry then gives workspace(),
     prepare() and run() cbp_threads_for(pb, threads, vec_channels(pb))
     threads, not the caller's count. */
  int (*vec_channels)(const cbp_problem *pb);
} cbp_strategy;

/* Registry (src/registry.c). */
int cbp_strategy_count(void);
const cbp_strategy *cbp_strategy_at(int i);
const cbp_strategy *cbp_strategy_lookup(const char *name);
/* The threads s runs pb on, of the caller's `threads`: cbp_threads_for with
   its vec_channels, or `threads` when it gives none.  workspace(), prepare()
   and run() get this count; ESTIMATE reads it too. */
int cbp_strategy_threads(const cbp_strategy *s, const cbp_problem *pb, int threads);

/* Problem set-up (src/problem.c): validates and derives sizes. */
int cbp_problem_conv(cbp_problem *pb, convbp_op op, const convbp_conv *p);
int cbp_problem_mma(cbp_problem *pb, convbp_op op, const convbp_mma *p);
/* Kernel rows that tile the width: S > 1 taps at stride S, no padding or
   dilation along W, W a multiple of S.  A kernel row then reads S whole pixels,
   S*C contiguous floats of NHWC, and the same S*C floats of KRSC, so the problem
   is the same memory seen as W/S pixels of S*C channels under an R x 1 kernel:
     A(n, h, q*S + s, c) = A'(n, h, q, s*C + c),  W(k, r, s, c) = W'(k, r, 0, s*C + c)
   (dA and dW alike).  Returns the folded problem in *buf, or pb when it does not fold.
   fwd_direct_blocked and bpa_stride_phase_blocked fold; bpw_direct_blocked does
   not: its reduction runs over pixels, not channels, and folded it lost (Zen 4,
   3x3 at stride 3, C = 8: 0.66-0.70x), where merge_taps already takes a thin
   kernel row's taps together. */
const cbp_problem *cbp_fold_width(const cbp_problem *pb, cbp_problem *buf);

/* Checked size arithmetic: 0 on success, CONVBP_ERR_OVERFLOW otherwise. */
static inline int cbp_mul(size_t a, size_t b, size_t *r) {
  return __builtin_mul_overflow(a, b, r) ? CONVBP_ERR_OVERFLOW : CONVBP_OK;
}
static inline int cbp_add(size_t a, size_t b, size_t *r) {
  return __builtin_add_overflow(a, b, r) ? CONVBP_ERR_OVERFLOW : CONVBP_OK;
}
/* r = a*b*c*d (any may be 1), checked. */
int cbp_mul4(size_t a, size_t b, size_t c, size_t d, size_t *r);
/* Rounds bytes up to a multiple of 64 so workspace slices stay aligned. */
static inline int cbp_round64(size_t bytes, size_t *r) {
  if (bytes > SIZE_MAX - 63) return CONVBP_ERR_OVERFLOW;
  *r = (bytes + 63) & ~(size_t)63;
  return CONVBP_OK;
}

/* ---- The forward-convolution engine (strategies/fwd_im2col_gemm.c) -------
   The backward strategies call it with transformed descriptors, so it takes
   asymmetric pads (negative = crop) and explicit output sizes. */
typedef struct {
  int n, c, h, w;        /* input N x H x W x C */
  int k, r, s;           /* kernel K x R x S x C */
  int pad_top, pad_left; /* front pads; may be negative (crop) */
  int stride_h, stride_w, dil_h, dil_w;
  int p, q;              /* output rows/cols to compute (from back pads, or a limit) */
} cbp_fwd_desc;

/* Fills p and q from the front and back pads; returns CONVBP_ERR_PROBLEM when < 1. */
int cbp_fwd_desc_outdims(cbp_fwd_desc *d, int pad_bottom, int pad_right);
/* The engine's descriptor for a plain forward problem (pb's op FWD). */
cbp_fwd_desc cbp_fwd_desc_of(const cbp_problem *pb);
int cbp_fwd_workspace(const cbp_fwd_desc *d, int threads, size_t *bytes);
/* O (n x p x q x k) = conv(A (n x h x w x c), W (k x r x s x c)); ws from cbp_fwd_workspace. */
int cbp_fwd_run(const cbp_fwd_desc *d, int threads, const float *a, const float *w, float *o,
                void *ws);

/* ---- The blocked direct engine (src/direct.c, src/direct_*.c) -------------
   NHWC keeps channels contiguous, so the microkernels vectorize over output
   channels (conv) or input channels (BPW) and keep a register block of
   accumulators for the whole reduction.  One kernel set per instruction set,
   chosen at run time by CPU features (CONVBP_ISA=avx512|avx2|portable narrows
   the choice, for tests and comparisons). */
#define CBP_TILE_MAX 16 /* pixels a conv tile, for every instruction set */
#define CBP_BLK_MAX 64  /* output channels of the widest block a thread of cbp_dconv_run takes */
typedef struct {
  /* input of each pixel of the tile for this tap, at the block's first channel;
     only in[0] when the call passes an in_step (see conv_tile) */
  const float *in[CBP_TILE_MAX];
  const float *w; /* weights of this tap: ci x co matrix at the block's first row and column */
  /* pixels the tap skips at the tile's start and end, in[0] being pixel lo's
     input: read only by conv_tile_skip (tiles of more than np_max pixels
     given an in_step), 0 elsewhere; at most CBP_SKIP_MAX each */
  int lo, hi;
} cbp_ktap;
#define CBP_SKIP_MAX 2

typedef struct {
  const char *name;
  int vl, np_max, nv_max, kb_max; /* floats a vector; register block limits */
  int row_np, row_nv; /* a tile for rows of exactly row_np pixels, row_nv vectors wide (0: none) */
  int thin_np; /* pixels of a one-vector conv tile, for outputs of at most vl channels (0: np_max) */
  int thin_kb; /* broadcast channels of a one-vector BPW tile (0: kb_max) */
  /* pixel p of tap t reads taps[t].in[0] + p*in_step, or taps[t].in[p] when
     in_step is 0 (pixels across row ends); with an in_step and np > np_max,
     only pixels lo <= p < np - hi, at taps[t].in[0] + (p - lo)*in_step, in
     conv_tile_skip (conv_tile reads neither lo nor hi) */
  void (*conv_tile)(int np, int nv, const cbp_ktap *taps, int ntaps, int ci, ptrdiff_t in_step,
                    ptrdiff_t w_ld, float *out, ptrdiff_t out_pix, int last, int accumulate);
  /* the same for calls whose taps skip pixels (lo, hi): np > np_max, in_step */
  void (*conv_tile_skip)(int np, int nv, const cbp_ktap *taps, int ntaps, int ci,
                         ptrdiff_t in_step, ptrdiff_t w_ld, float *out, ptrdiff_t out_pix,
                         int last, int accumulate);
  /* a BPW tile (see bpw_tile_n in src/direct_kernels.inc): kb x nv vectors of
     dw, added to it when accumulate, else written over it */
  void (*bpw_tile)(int kb, int nv, const float *a, ptrdiff_t a_row, ptrdiff_t a_pix,
                   const float *g, ptrdiff_t g_row, ptrdiff_t g_pix, int rows, int cols,
                   int imgs, ptrdiff_t a_img, ptrdiff_t g_img, float *dw, ptrdiff_t dw_k,
                   int last, int accumulate);
  /* dst[x*dst_pix + r*dst_row + i] += src[x*src_pix + r*src_row + i] for x < npix,
     r < rows, i < len: the scatter-add of bpa_scatter_gemm (col2im) */
  void (*add_runs)(float *dst, ptrdiff_t dst_pix, ptrdiff_t dst_row, const float *src,
                   ptrdiff_t src_pix, ptrdiff_t src_row, int npix, int rows, int len);
  /* dst[i*dst_ld + j] = src[j*src_ld + i] for j < rows, i < cols: FWD's weight panel */
  void (*transpose)(const float *src, ptrdiff_t src_ld, int rows, int cols, float *dst,
                    ptrdiff_t dst_ld);
  /* seconds that iters steps of 12 independent FMA chains take in this set's
     vectors (cbp_direct_isa_for compares the sets' rates) */
  double (*fma_seconds)(long iters);
  /* a dot tile of up to dot_np pixels x dot_kb output channels (see
     dot_tile_n in src/direct_kernels.inc): out[p*out_pix + k] = the sum over
     the taps of the dot product of in[p] and w + k*w_k over ci channels */
  int dot_np, dot_kb;
  void (*dot_tile)(int np, int kb, const cbp_ktap *taps, int ntaps, int ci, ptrdiff_t w_k,
                   float *out, ptrdiff_t out_pix);
  /* count conv tiles of np pixels (np_max - 1 or np_max, or thin_np - 1 or
     thin_np at one vector) x nv vectors one after another along a row, of
     one tap (see conv_run_n in src/direct_kernels.inc): tile j reads in +
     j*np*in_step, its rows of weights w (w_ld floats apart), and writes
     out + j*np*out_pix; pf > 0: each prefetches the output of the tile pf
     ahead */
  void (*conv_run)(int count, int np, int nv, const float *in, ptrdiff_t in_step, const float *w,
                   ptrdiff_t w_ld, int ci, float *out, ptrdiff_t out_pix, int last,
                   int accumulate, int pf);
} cbp_direct_isa;

/* One core's L2 in bytes as the C library reports it, 0 when unknown. */
size_t cbp_l2_bytes(void);
/* The same, 1 MiB when unknown. */
size_t cbp_l2_bytes_or_1mib(void);
/* Whether an output of `bytes` exceeds the L2 of `threads` cores
   (cbp_l2_bytes_or_1mib each): written once, it goes to memory anyway, and
   streaming stores (cbp_put) save reading each line before writing it. */
int cbp_beyond_l2(size_t bytes, int threads);

/* The best kernel set this CPU runs (and CONVBP_ISA allows). */
const cbp_direct_isa *cbp_direct_isa_get(void);
/* The kernel set for tiles whose vectors hold `channels` channels (0: any):
   cbp_direct_isa_get()'s, or AVX2's for at most 8 channels where a 512-bit
   FMA costs two 256-bit ones (see src/direct.c). */
const cbp_direct_isa *cbp_direct_isa_for(int channels);

/* A convolution as a list of taps, each a (row, col) offset into the input and
   a ci x co weight matrix with leading dimension w_ld (or its transpose):
     out(n, oh, ow, :) = sum_t in(n, oh*sh + dh_t, ow*sw + dw_t, :) . W_t
   where taps falling outside the input contribute nothing (implicit zero pad).
   The output is addressed with explicit strides so that a stride phase of dA
   (every sh-th row, every sw-th column) is an ordinary output. */
typedef struct {
  int dh, dw;
  const float *w;
} cbp_dtap;

typedef struct {
  int n, hi, wi, ci;                    /* input n x hi x wi x ci, dense */
  int ho, wo, co;                       /* output positions and channels */
  int sh, sw;                           /* input step per output step */
  ptrdiff_t out_img, out_row, out_pix;  /* output strides in floats */
  const cbp_dtap *taps;
  int ntaps;
  ptrdiff_t w_ld;
  int w_trans; /* 0: W_t(i, co) = w[i*w_ld + co];  1: W_t(i, co) = w[co*w_ld + i] */
} cbp_dconv_desc;

/* Workspace of cbp_dconv_run: per-thread weight panels and tap lists. */
int cbp_dconv_workspace(int ntaps, int threads, size_t *bytes);
/* Thread tid's slice of a workspace of cbp_dconv_workspace(ntaps, threads),
   tid < threads: the workspace of a cbp_dconv_run on one thread, for callers
   whose threads each run an engine of their own. */
void *cbp_dconv_thread_ws(void *ws, int ntaps, int tid);
/* Writes every output element of d (zero where no tap reaches). */
void cbp_dconv_run(const cbp_dconv_desc *d, int threads, const float *in, float *out, void *ws);
/* cbp_dconv_run of d[i] into out[i] for i < count, all of the same input and
   with disjoint outputs, in one parallel region with no barrier between them
   (a region costs ~3 us of a 2-vCPU guest's time); ws as for the most taps. */
void cbp_dconv_run_list(const cbp_dconv_desc *d, int count, int threads, const float *in,
                        float *const *out, void *ws);

/* ---- Threading helpers (src/threads.c) ----------------------------------- */
/* A spin-wait hint (x86's PAUSE: the spinning core yields to its sibling and
   leaves the loop without a memory-order flush); nothing elsewhere. */
static inline void cbp_spin_pause(void) {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}

/* Seconds on the monotonic clock: the timers of MEASURE and of the thread floor. */
double cbp_seconds(void);
/* fn(ctx, tid, nth) on each thread of a parallel region of `threads`, or
   fn(ctx, 0, 1) on the caller when threads <= 1: libgomp releases even a
   one-thread region's barrier with a futex syscall, 1.2-1.4 us a region on
   the Zen 5 guest, a tenth of small_3x3's FWD.  Orphaned omp constructs in
   fn (for, barrier, critical) then run as a team of one.  Called from inside
   an active region (a caller's team), fn runs in a region of its own even on
   one thread, so that those constructs do not bind to the caller's team. */
void cbp_parallel(int threads, void (*fn)(void *ctx, int tid, int nth), void *ctx);
/* The threads a blocked strategy wakes for pb, of the `threads` it was given:
   one per convbp_thread_flops() of the problem's FLOPs, counted with its
   vector channels (the channels its kernels hold in vectors, vec_channels)
   rounded up to whole vectors; at least 1, at most `threads`.  Two threads
   take about half of one thread's time plus a cost c of the machine (the
   region's fork and join, and claims that cross cores): 5 us on a 2-vCPU Zen
   5 guest, 1.8 us on a Zen 4 guest, so the floor is measured, once per
   process (convbp_thread_flops).  The registry applies it to the strategies
   that give their vec_channels.  CONVBP_THREAD_FLOPS=N in the environment
   replaces the measured floor (0: always `threads`, as the tests run every
   threaded path on small shapes). */
int cbp_threads_for(const cbp_problem *pb, int threads, int vec_channels);
/* vec_channels for the strategies whose multiply-adds are OpenBLAS's: 0, the
   FLOPs counted as they are.  Below the floor OpenBLAS's threads, or a region
   of the strategy's own, cost more than they save: Zen 5, below 2 MFLOP,
   two threads had taken bpa_scatter_gemm 1.16-5.25x the time it takes now
   on the edge suite, the MMA GEMMs on 5 x 7 x 9 19x (README, the note on
   threads). */
int cbp_gemm_vec_channels(const cbp_problem *pb);
/* The floor when the calibration cannot run (no memory). */
#define CBP_THREAD_FLOPS 1.0e6

/* A strategy's run arguments, for a thread body under cbp_parallel. */
typedef struct {
  const cbp_problem *pb;
  const float *x, *y;
  float *out;
} cbp_run_args;
/* threads, capped by OMP_THREAD_LIMIT (omp_get_thread_limit()): the most a
   parallel region can get.  For libraries that assume they get every thread
   they ask for (OpenBLAS, oneDNN); convbp's own regions use omp_get_num_threads(). */
int cbp_grantable_threads(int threads);
/* Sets the thread count OpenBLAS uses for calls made outside a parallel region
   (capped by cbp_grantable_threads). */
void cbp_blas_threads(int threads);
/* m rows in blocks of at most `rows` (1 <= rows <= m), shared out to `threads`
   threads with a buffer each: returns how many threads take blocks (all of them
   when there are at least that many blocks, else 1) and sets *mb, the rows of a
   block, so that with more than one the blocks are equal and a multiple of the
   threads in number: 7 blocks on 2 threads left one waiting for the other's
   fourth (a third of the 2-thread time outside sgemm at res3a_branch1). */
int cbp_balance_blocks(size_t m, size_t rows, int threads, size_t *mb);
/* dst[i] += part[1][i] + ... + part[parts-1][i] for i < elems, in that fixed
   order: the per-thread partial sums of a reduction (part[0] is dst itself).
   An orphaned omp for: every thread of the enclosing parallel region calls it,
   after a barrier that ends the partials; outside a region it runs alone. */
void cbp_sum_partials(float *dst, float *const *part, int parts, size_t elems);
/* Whether `threads` threads that each run one sgemm of a slice of an m x n
   output take slices of its rows (else of its columns): rows unless there are
   fewer than 64 a thread or it is over 8 times wider than tall (the figures
   in cbp_sgemm_split_m). */
int cbp_split_rows(size_t m, size_t n, int threads);
/* C = op(A) * op(B) (row-major, op = transpose when trans_a / trans_b), its
   rows or its columns (cbp_split_rows) split over `threads` OpenMP threads
   each running a single-threaded sgemm. */
void cbp_sgemm_split_m(int threads, int trans_a, int trans_b, int m, int n, int k, const float *a,
                       int lda, const float *b, int ldb, float *c, int ldc);
/* The same product in slices of `slice` rows of C (by_rows) or of its
   columns, dealt to `threads` OpenMP threads in contiguous shares, one sgemm
   a slice on the calling thread: for slices sized to OpenBLAS's small-matrix
   kernel (cbp_small_gemm_slice).  The caller sets OpenBLAS to one thread. */
void cbp_sgemm_slices(int threads, int by_rows, int slice, int trans_a, int trans_b, int m, int n,
                      int k, const float *a, int lda, const float *b, int ldb, float *c, int ldc);
/* OpenBLAS 0.3.21 on SkylakeX multiplies products of m * n * k <= 100^3 with
   an unpacked small-matrix kernel (sgemm_small_kernel_nn/_nt, single-threaded;
   the permit is in kernel/x86_64/sgemm_small_kernel_permit_skylakex.c), far
   faster on the tall-skinny products of 1x1 layers than its packed path.  The
   slice of a long side m that makes one such product of n x k: at least
   CBP_SMALL_MIN_ROWS, else 0 (not worth the calls); 0 as well when OpenBLAS
   runs a kernel set without that kernel. */
enum { CBP_SMALL_MNK = 1000000, CBP_SMALL_MIN_ROWS = 48 };
size_t cbp_small_gemm_rows(size_t n, size_t k);
/* The block of a side of length len that, split evenly, makes products of
   block x m x k fit that kernel: len itself when it fits, else a block of at
   least CBP_SMALL_MIN_ROWS, else 0 (and 0 without that kernel). */
size_t cbp_small_gemm_block(size_t len, size_t m, size_t k);
/* The same for the MMA GEMMs, whose short side (a batch of 32 rows) leaves
   slices of a few dozen: a multiple of 8 rather than an even split, which
   makes the kernel's remainder loops run (resnet_fc, 32 x 1000 x 2048, BPW on
   one thread in slices of 31 rows 0.673 ms, of 24 0.637, one call 0.87-0.94;
   of 15, at M = 64, 1.71 against 1.52 in one call: hence at least 16); cap,
   when not 0, bounds it too (the permit for B transposed, below); and no
   longer than a thread's share of len, so that every one of `threads` gets
   slices. */
size_t cbp_small_gemm_slice(size_t len, size_t m, size_t k, size_t cap, int threads);
/* Strided 1x1 unpadded problems whose output rows hold at least
   CBP_STRIDED_MIN_Q pixels.  Output row (n, p) reads (forward, BPW) or is the
   gradient of (BPA) the input pixels (n, p*st_h, q*st_w), q < Q: Q rows
   st_w * C floats apart, an operand sgemm takes in place with that leading
   dimension, so no im2col copy or col2im placement is needed.  Each product is
   then only Q rows long; at Q = 14 (res4a) it ran up to 2x slower than the
   copies, at Q = 28 (res3a) 1.1-1.2x faster (bpw_im2col_gemm.c,
   bpa_scatter_gemm.c).
   For such a problem, the block of its in-place GEMM that fits the small
   kernel: BPA writes dA in column blocks of C (products Q x cb x K), BPW
   reduces dW in row blocks of K (kb x C x Q).  0 when the problem is not one of
   these (or another op), or no block fits: then the strategies copy, and
   ESTIMATE reads the same answer. */
enum { CBP_STRIDED_MIN_Q = 24 };
size_t cbp_strided_1x1_block(const cbp_problem *pb);
/* How mma_bpw_conv1x1_blocked on `threads` threads (as the registry gives
   them) runs, with L2 one core's (cbp_l2_bytes_or_1mib) and a thread's share
   of k, ceil(K / threads) rows of dW:
   - CBP_BPW_TILES_SPLIT_M: BPW tiles in place, the threads sharing M, each
     into a whole dW of its own (the first thread's is dW, the others' in the
     workspace, added to dW at the end), by blocks of M outside blocks of dY's
     columns; on two threads or more where M >= CBP_MMA_BPW_SPLIT_M x K,
     every thread gets CBP_MMA_BPW_MIN_ROWS rows of M or more, and dW (K x N
     floats) fits in a quarter of L2;
   - CBP_BPW_TILES_COLUMNS_OUTER: BPW tiles in place, the threads sharing k,
     blocks of dY's columns outside blocks of M, when the share's X (M x
     share floats) fits in half an L2, where it stays while every column
     block reads it again;
   - CBP_BPW_TILES_ROWS_OUTER: the same with blocks of M outside, when the
     share's dW (share x N floats) fits in a quarter of L2, where it stays
     while every block of M adds to it;
   - 0 (none): X^T, in chunks (cbp_mma_bpw_chunk_rows) or by the engine.
   ESTIMATE reads the same answer. */
enum { CBP_BPW_TILES_COLUMNS_OUTER = 1, CBP_BPW_TILES_ROWS_OUTER = 2, CBP_BPW_TILES_SPLIT_M = 3 };
enum { CBP_MMA_BPW_SPLIT_M = 16 };
int cbp_mma_bpw_in_place(const cbp_problem *pb, int threads);
/* Rows of M in a block of those tiles: the block's X (rows x the thread's k
   floats) and the columns of dY every tile reads (rows x nv_max*vl) within a
   quarter of L2, in blocks of equal size (of a thread's share of M when the
   threads share it), at least CBP_MMA_BPW_MIN_ROWS rows (the tiles load and
   store dW once a block: 2048 x 256 x 64 ran 5% / 14% slower in blocks of 64
   rows than of 128, one / two threads). */
enum { CBP_MMA_BPW_MIN_ROWS = 128 };
int cbp_mma_bpw_m_block(const cbp_problem *pb, int threads);
/* Where not in place: rows of k in a chunk of X^T for mma_bpw_conv1x1_blocked
   on `threads` threads, as many as keep the chunk (kc x M floats) within
   half an L2, in a number of chunks that the threads share evenly, each a
   whole number of the kernel set's tiles (np_max rows); 0 where that would
   be under CBP_MMA_BPW_CHUNK_MIN rows (M over 819 with 1 MiB of L2): the
   engine over all of X^T then.  ESTIMATE reads the same answer. */
enum { CBP_MMA_BPW_CHUNK_MIN = 160 };
int cbp_mma_bpw_chunk_rows(const cbp_problem *pb, int threads);
/* Rows [i0, i1) of C = op(A) * op(B) on the calling thread, in slices of that size
   when B is untransposed and n x k allows, else in one sgemm. */
void cbp_sgemm_rows(int trans_a, int trans_b, int i0, int i1, int n, int k, const float *a,
                    int lda, const float *b, int ldb, float *c, int ldc);
/* C = A * op(B) outside any parallel region, on OpenBLAS's own `threads`: in
   those slices on one thread, in one call on more (the small kernel runs on one
   thread, and every call would fork and join). */
void cbp_sgemm_blas(int threads, int trans_a, int trans_b, int m, int n, int k, const float *a,
                    int lda, const float *b, int ldb, float *c, int ldc);


/* dst[0..n) = src[0..n), or 0 when src is NULL, by streaming stores that skip
   reading dst's lines first: for outputs too big to stay in cache.  The stores
   are weakly ordered: cbp_stream_fence() before another thread reads dst. */
void cbp_stream_put(float *dst, const float *src, size_t n);
void cbp_stream_fence(void);
/* The same by streaming stores when `stream`, else by memcpy / memset. */
void cbp_put(float *dst, const float *src, size_t n, int stream);
/* Whether to write by streaming stores the zeros that lie between another
   writer's ordinary stores into the same rows of an output of `out_bytes`:
   the gaps of dA around the pixels sgemm writes in place (bpa_scatter_gemm)
   or a stride phase computes (bpa_stride_phase_blocked).  Only when the
   output exceeds the threads' L2 (cbp_beyond_l2), and then by vendor, as
   measured: on AMD (Zen 4) res3a_branch2a BPA ran 1.17-1.49x faster on 1 and
   2 threads that way; on an Intel Xeon (model 167) 13-15% slower in
   bpa_scatter_gemm and no faster in the stride phases.  So AMD only.
   CONVBP_STREAM=1 or =0 overrides the vendor (where streaming stores exist),
   so that the tests run both paths on any CPU and a user can time both on
   theirs. */
int cbp_stream_between_stores(size_t out_bytes, int threads);

/* out (c x b x a) from in (a x b x c): moves the outer dimension innermost and
   back, e.g. NHWC -> CHWN with a=N, b=H*W, c=C.  b transposes of a x c by the
   engine's transpose kernel (8 x 8 blocks in registers); threaded over b, or
   within each transpose over out's rows when b < threads. */
void cbp_swap_outer_inner(const float *in, float *out, size_t a, size_t b, size_t c, int threads);

/* Zero insertion: dst (batch x zh x zw x inner) is zero but for
   dst(b, off_h + i*st_h, off_w + j*st_w, :) = src(b, i, j, :), src batch x p x q x inner. */
void cbp_zero_insert(const float *src, float *dst, size_t batch, int p, int q, size_t inner,
                     int st_h, int st_w, int off_h, int off_w, int zh, int zw, int threads);
/* The kernel rotated 180 degrees with K and C swapped: out(c, r', s', k) = w(k, R-1-r', S-1-s', c). */
void cbp_rotate_swap(const float *w, float *out, int k, int r, int s, int c, int threads);

/* im2col of `rows` output pixels starting at flat pixel m0 (n, p, q order):
   buf[i][(r*S + s)*C + c] = A(n, p*st - pad_top + r*dil, ..., c), or 0 outside. */
void cbp_im2col_rows(const cbp_fwd_desc *d, const float *a, size_t m0, size_t rows, float *buf);
/* With dilation 1, the taps s in [*lo, *hi) of a kernel row of s_taps taps whose
   first tap reads input column w0 land inside an input of width w (*lo == *hi
   when none does): im2col copies and col2im adds them as one run of floats. */
static inline void cbp_tap_span(long w0, int s_taps, int w, int *lo, int *hi) {
  long l = w0 < 0 ? -w0 : 0, h = (long)w - w0;
  if (l > s_taps) l = s_taps;
  if (h > s_taps) h = s_taps;
  if (h < l) h = l;
  *lo = (int)l;
  *hi = (int)h;
}
/* The output positions x in [*lo, *hi) of a tap at input offset o (r*d_h -
   pad_h, or s*d_w - pad_w) whose input x*st + o lies in [0, in):
   lo = ceil(-o / st) for o < 0, else 0; hi = floor((in - 1 - o) / st) + 1.
   Empty when *hi <= *lo (hi may be below lo, even below 0). */
static inline void cbp_out_span(int o, int st, int in, int *lo, int *hi) {
  const int last = in - 1 - o; /* the largest x*st that stays inside */
  *lo = o >= 0 ? 0 : (-o + st - 1) / st;
  *hi = (last >= 0 ? last / st : -((-last + st - 1) / st)) + 1;
}
/* The output positions x in [*lo, *hi), within [0, out), whose whole window
   lies inside [0, in): taps at input offsets o, o + d, ..., o + (taps-1)*d
   from x*st, so from where the first tap enters to where the last leaves
   (cbp_out_span of each).  Empty as *lo == *hi.  im2col copies and col2im
   adds the windows of those positions without a test a pixel. */
static inline void cbp_inside_span(int o, int taps, int d, int st, int in, int out, int *lo,
                                   int *hi) {
  int unused;
  cbp_out_span(o, st, in, lo, &unused);
  cbp_out_span(o + (taps - 1) * d, st, in, &unused, hi);
  *hi = *hi < 0 ? 0 : *hi > out ? out : *hi;
  if (*lo > *hi) *lo = *hi;
}
/* Whether the engine's input already is the GEMM operand (1x1, stride 1, no pad, no crop). */
int cbp_fwd_is_gemm(const cbp_fwd_desc *d);

/* Workspace slicing: hands out 64-byte aligned pieces of one allocation. */
typedef struct {
  char *base;
  size_t used;
} cbp_arena;
static inline void *cbp_take(cbp_arena *ar, size_t bytes) {
  void *p = ar->base + ar->used;
  ar->used += (bytes + 63) & ~(size_t)63;
  return p;
}
/* *total += elems * elem_size rounded up to 64 bytes, checked. */
int cbp_ws_add(size_t *total, size_t elems, size_t elem_size);

#endif
