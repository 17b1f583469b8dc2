/* mma_bpw_conv1x1_blocked: MMA backward weights as a 1x1 convolution by the
 * blocked direct engine's kernels.
 *
 *   dW(k, n) = sum_m X(m, k) dY(m, n)
 *
 * As for mma_bpa_conv1x1_blocked, the GEMM goes back to the convolution the
 * engine runs, and its speed no longer depends on OpenBLAS's core type.  Two
 * forms, both sharing the K rows of dW out to the threads (but for long
 * reductions, where the tiles share M):
 * - BPW tiles in place (cbp_mma_bpw_in_place): dW is the BPW of a 1x1
 *   convolution with M pixels, dY its input (N channels) and X its output
 *   gradient (K channels), which the engine's BPW tile reads as they lie:
 *   dY's rows as vectors, X's as broadcasts, each tile of kb_max k x nv_max
 *   vectors of n.  Nothing is copied.  The tiles reduce over blocks of M
 *   (cbp_mma_bpw_m_block) that keep the block's X and the 64 columns of dY
 *   every tile reads again within a quarter of L2; the first block writes
 *   dW, the others add to it.  Blocks of dY's columns go outside the blocks
 *   of M when a thread's share of X fits in half an L2 (it stays there for
 *   every column block), else the blocks of M go outside when the share's dW
 *   fits in a quarter (it stays there for every block of M).
 *   Zen 5 EPYC, medians of 4 alternating rounds against the engine form, 1 /
 *   2 threads: small_fc (M = 128, N = 256, K = 512) 1.09x / 1.23x, resnet_fc
 *   (32, 1000, 2048) 1.11x / 1.27x, M x N x K = 96 x 640 x 320 1.07x /
 *   1.26x; in rounds of the prototype, 512 x 256 x 128 1.07x / 1.12x, 256 x
 *   512 x 256 1.07x / 1.10x, 64 x 4096 x 512 0.99x / 1.13x, 128 x 1024 x
 *   1024 0.99x / 1.06x.  Where X and dW are larger it lost: bert_qkv (X 1.5
 *   MiB) 0.95-1.04x / 0.91-1.04x, gpt_proj 0.91x / 0.97x, bert_ffn_up 0.95x
 *   / 0.91x, square_1k 0.65x / 0.63x (X read from L3 once for every 64 n).
 *   The blocks of M came with long reductions (Zen 5, medians of 4
 *   alternating rounds against all of M in one block, or the engine where
 *   that was out of place; oneDNN in the same rounds 0.97-1.11x): 2048 x 256
 *   x 64 1.33x / 1.23x, 4096 x 128 x 64 1.44x / 1.41x, 8192 x 64 x 32 1.82x
 *   / 1.99x, 2048 x 512 x 128 1.14x / 1.15x, 8192 x 128 x 512 1.33x / 1.27x,
 *   16384 x 64 x 256 1.35x / 1.39x.  All of M in one block, 2048 x 256 x 64
 *   had the 64 columns of dY (512 KiB, 1 KiB apart) and X fill L2: in
 *   blocks of 128 to 1024 rows, 512 was fastest on one and on two threads
 *   (one: 0.33 ms, 0.35 at 128, 0.41 at 1024).  Now in two blocks on one
 *   thread, 256 x 512 x 256 and 512 x 256 x 128 0.99-1.02x; the rest of the
 *   mma suite 0.97-1.02x, with oneDNN at 0.93-1.05x.
 *   Long reductions (M >= 16 K) with all of dW within a quarter of L2 share
 *   M between the threads instead of k (CBP_BPW_TILES_SPLIT_M): sharing k,
 *   every thread read all of dY.  Each thread reduces its rows of M into a
 *   whole dW of its own (K x N floats, 1/16 of X or less), and the threads
 *   add them up at the end (cbp_sum_partials, as bpw_im2col_gemm does).
 *   Zen 5 EPYC, two threads, medians of 4 alternating rounds against
 *   sharing k (oneDNN 0.99-1.16x in the same rounds): 8192 x 512 x 64
 *   1.33x, 32768 x 64 x 64 1.30x, 16384 x 64 x 256 1.23x, 4096 x 128 x 64
 *   1.18x, 16384 x 128 x 128 1.18x, 2048 x 256 x 64 1.11x, 1024 x 256 x 64
 *   1.10x; with every shape forced to it in a prototype, even (0.98-1.02x)
 *   on 8192 x 64 x 32, 8192 x 128 x 512 and 2048 x 512 x 128, and slower
 *   below M = 16 K: 512 x 256 x 128 (M = 4 K) 0.93x, 256 x 512 x 256 0.90x,
 *   bert_qkv 0.95x, small_fc 0.78x.
 * - X^T in chunks where neither fits but M is short (cbp_mma_bpw_chunk_rows): the same
 *   convolution as the engine form below, K pixels of M input channels, but
 *   each thread transposes chunks of kc rows of k into its own buffer in L2
 *   (kc x M floats, half an L2) and runs each chunk's rows as runs of tiles
 *   (conv_run) over dY's column blocks, packed once for all threads.  The
 *   engine form transposes all of X to memory and reads it back once a
 *   column block of dY; here X^T is written and read in L2, and dY's packed
 *   blocks are read once a chunk.  Zen 4 EPYC, medians of 4-5 alternating
 *   rounds (oneDNN in the same rounds 0.95-1.03x), time of the engine form
 *   over this one, 1 / 2 threads: bert_ffn_down (512 x 768 x 3072) 1.11x /
 *   1.07x, gpt_proj (128 x 4096 x 4096) 1.09x / 1.07x, 128 x 1024 x 8192
 *   1.15x / 1.08x, 256 x 1024 x 4096 1.09x / 1.09x, 768 x 768 x 2304 1.11x
 *   / 1.05x, 500 x 700 x 3001 1.06x / 1.04x, 384 x 1152 x 1536 1.05x /
 *   1.04x, 256 x 2048 x 1024 1.05x / 1.04x; even where N is wide beside K
 *   (the transposition's share of the engine form is about 1/N of its
 *   FLOPs): bert_qkv 1.01x / 1.00x, bert_ffn_up 0.99x / 1.03x, 512 x 1536 x
 *   1536 0.99x / 0.99x, 512 x 512 x 2048 1.04x / 0.99x.  With M of 1024 or
 *   more, chunks of 128 rows or fewer, it lost: square_1k 0.97x / 0.98x,
 *   1024 x 512 x 1024 0.97x / 0.96x, 2048 x 768 x 768 1.00x / 0.97x (but
 *   1024 x 768 x 3072 1.13x / 1.03x); each chunk fetches every packed block
 *   of dY (M x 64 floats) into L2 again for kc / 6 tiles.  So only chunks of
 *   at least CBP_MMA_BPW_CHUNK_MIN rows.
 * - The engine otherwise, with p = k over one row of K pixels, k' = m, c = n:
 *     O(p, c) = sum_k' A(p, k') W'(k', c)     (the engine's BPA form: KRSC rows
 *                                              are its input channels)
 *   A = X^T (K x M), W' = dY (M x N) read in place, O = dW (K x N) written in
 *   place.  The reduction runs over M, which NHWC wants innermost in the
 *   input, so X is transposed first (M*K floats, by 8 x 8 blocks in
 *   registers).  Pixels in one row: Zen 5 EPYC, the engine on gpt_proj's
 *   shape (M = 128, N = K = 4096) 23.4 / 12.3 ms in a row, 24.2 / 12.3 in a
 *   column (1 / 2 threads, without the transpose).
 *   Each thread transposes its own rows of X^T and runs the engine alone on
 *   them, so it reads only the X^T it wrote, from its own cache.  The engine's
 *   own split shares the N channels, and each thread read all of X^T, half of
 *   it written by the other core: Zen 5, medians of 3 alternating rounds on
 *   two threads, time of that split over this one: small_fc 1.42x, resnet_fc
 *   1.20x, bert_ffn_down 1.13x, bert_qkv 1.07x, square_1k 1.05x, gpt_proj
 *   1.04x, bert_ffn_up 1.00x.
 * Workspace: in place, none, or with M shared a dW for each thread but the
 * first; in chunks, dY packed and a chunk of X^T a thread; else X^T + the
 * engine's panels and tap lists, one set a thread.
 * Supports every valid problem. */
#include "internal.h"

static int vec_channels(const cbp_problem *pb) { return pb->mma.n; } /* dW's N */

/* The first of thread t's rows of a length shared by nth threads: its rows
   of k (or of M, when the threads share M) are [first(t), first(t + 1)). */
static int first_row(int len, int t, int nth) { return (int)((long)len * t / nth); }

/* K x N floats of dW, one for each thread but the first when they share M. */
static int partials(const cbp_problem *pb, int threads, size_t *elems) {
  return cbp_mul4((size_t)(threads - 1), (size_t)pb->mma.k, (size_t)pb->mma.n, 1, elems);
}

/* Floats of dY packed for the chunked form: its column blocks of nv_max
   vectors, each M rows of a whole block's width. */
static int packed_dy(const cbp_problem *pb, const cbp_direct_isa *isa, size_t *elems) {
  const size_t cw = (size_t)isa->nv_max * isa->vl, blocks = ((size_t)pb->mma.n + cw - 1) / cw;
  return cbp_mul4(blocks, cw, (size_t)pb->mma.m, 1, elems);
}

static int workspace(const cbp_problem *pb, int threads, size_t *bytes) {
  size_t engine, elems, xt;
  *bytes = 0;
  const int order = cbp_mma_bpw_in_place(pb, threads);
  if (order == CBP_BPW_TILES_SPLIT_M)
    return partials(pb, threads, &elems) || cbp_ws_add(bytes, elems, sizeof(float))
               ? CONVBP_ERR_OVERFLOW
               : CONVBP_OK;
  if (order) return CONVBP_OK;
  const cbp_direct_isa *isa = cbp_direct_isa_get();
  const int kc = cbp_mma_bpw_chunk_rows(pb, threads);
  if (kc)
    return packed_dy(pb, isa, &elems) || cbp_ws_add(bytes, elems, sizeof(float)) ||
                   cbp_mul4((size_t)threads, (size_t)kc, (size_t)pb->mma.m, 1, &xt) ||
                   cbp_ws_add(bytes, xt, sizeof(float))
               ? CONVBP_ERR_OVERFLOW
               : CONVBP_OK;
  if (cbp_ws_add(bytes, pb->x_elems, sizeof(float)) || cbp_dconv_workspace(1, threads, &engine) ||
      cbp_add(*bytes, engine, bytes))
    return CONVBP_ERR_OVERFLOW;
  return CONVBP_OK;
}

typedef struct {
  const float *X, *dY;
  float *dW, *xt;  /* X^T: the engine's, or the chunks' (kc x M floats a thread) */
  float *dy_packed;   /* in chunks: dY's column blocks (packed_dy) */
  float *const *part; /* M shared: each thread's dW, part[0] = dW (cbp_sum_partials) */
  void *engine_ws; /* one engine workspace a thread (cbp_dconv_thread_ws) */
  int M, N, K;
  int order, mb; /* in place: cbp_mma_bpw_in_place, rows of M a block */
  int kc;        /* in chunks: rows of k a chunk (cbp_mma_bpw_chunk_rows) */
} pixel_share;

/* The vectors of dW's column block from column c0 (nv_max vectors, or what
   is left of N), with the columns of its last vector in *last. */
static int block_vectors(const cbp_direct_isa *isa, int N, int c0, int *last) {
  const int cwmax = isa->nv_max * isa->vl, cw = N - c0 < cwmax ? N - c0 : cwmax;
  const int nv = (cw + isa->vl - 1) / isa->vl;
  *last = cw - (nv - 1) * isa->vl;
  return nv;
}

/* In place, rows m0..m0+mb-1 of M (mb clipped at m1) into the block of dw
   (dW or a thread's own) at columns c0.. (nv_max vectors of n) and rows
   k0..k1-1, in tiles of kb_max rows down its k, so that every tile after the
   first reads the block's columns of dY (mb x 64 floats on AVX-512) from L1
   where they fit, else from L2:
     dw(k + i, c0 + j) (+)= sum_{m0 <= m < m0 + mb} X(m, k + i) dY(m, c0 + j)
   (bpw_tile: X's row m broadcast, g_pix = K; dY's row m as vectors, a_pix =
   N), written by the first block of M, added to by the others. */
static void tile_block(const pixel_share *s, const cbp_direct_isa *isa, float *dw, int c0, int m0,
                       int m1, int k0, int k1, int accumulate) {
  const int N = s->N, K = s->K, mb = m1 - m0 < s->mb ? m1 - m0 : s->mb;
  int last;
  const int nv = block_vectors(isa, N, c0, &last);
  const float *dY = s->dY + (size_t)m0 * N + c0, *X = s->X + (size_t)m0 * K;
  for (int k = k0; k < k1; k += isa->kb_max) {
    const int kb = k1 - k < isa->kb_max ? k1 - k : isa->kb_max;
    /* one row of mb pixels: a_row and g_row as the row's length */
    isa->bpw_tile(kb, nv, dY, (ptrdiff_t)mb * N, N, X + k, (ptrdiff_t)mb * K, K, 1, mb, 1, 0, 0,
                  dw + (size_t)k * N + c0, N, last, accumulate);
  }
}

/* In place, thread tid's rows k0..k1-1 of dW, by blocks of columns then of M
   (the thread's X stays in L2 for every column block) or the other way round
   (its dW stays in L2 for every block of M); see cbp_mma_bpw_in_place. */
static void tiles(void *ctx, int tid, int nth) {
  const pixel_share *s = ctx;
  const int k0 = first_row(s->K, tid, nth), k1 = first_row(s->K, tid + 1, nth);
  const cbp_direct_isa *isa = cbp_direct_isa_get();
  const int cwmax = isa->nv_max * isa->vl;
  if (s->order == CBP_BPW_TILES_ROWS_OUTER) {
    for (int m0 = 0; m0 < s->M; m0 += s->mb)
      for (int c0 = 0; c0 < s->N; c0 += cwmax)
        tile_block(s, isa, s->dW, c0, m0, s->M, k0, k1, m0 > 0);
  } else {
    for (int c0 = 0; c0 < s->N; c0 += cwmax)
      for (int m0 = 0; m0 < s->M; m0 += s->mb)
        tile_block(s, isa, s->dW, c0, m0, s->M, k0, k1, m0 > 0);
  }
}

/* In place with M shared: thread tid's rows m0..m1-1 of M into all of its
   own dw (thread 0's is dW), by blocks of M outside blocks of columns; then,
   once every thread is done, dW gets the others' sums (cbp_sum_partials):
     dW(k, n) = sum_t dw_t(k, n)
   Every thread has rows of M (cbp_mma_bpw_in_place), so every dw_t is
   written; a team smaller than asked for only makes the shares longer. */
static void split_m(void *ctx, int tid, int nth) {
  const pixel_share *s = ctx;
  const cbp_direct_isa *isa = cbp_direct_isa_get();
  const int cwmax = isa->nv_max * isa->vl;
  const int m0 = first_row(s->M, tid, nth), m1 = first_row(s->M, tid + 1, nth);
  float *dw = s->part[tid];
  for (int mb0 = m0; mb0 < m1; mb0 += s->mb)
    for (int c0 = 0; c0 < s->N; c0 += cwmax)
      tile_block(s, isa, dw, c0, mb0, m1, 0, s->K, mb0 > m0);
#pragma omp barrier
  cbp_sum_partials(s->dW, s->part, nth, (size_t)s->K * s->N);
}

/* In chunks: dY's column blocks packed by the threads together, then
   thread tid's chunks of kc rows of k (an equal number each), each
   transposed into its buffer and run over every column block c0 as runs of
   np_max-pixel tiles (and one smaller tile for the chunk's last rows):
     dW(k, c0 + j) = sum_m X^T(k, m) dY(m, c0 + j),  X^T(k, m) = X(m, k) */
static void in_chunks(void *ctx, int tid, int nth) {
  (void)nth; /* the omp for loops share the work */
  const pixel_share *s = ctx;
  const cbp_direct_isa *isa = cbp_direct_isa_get();
  const int M = s->M, N = s->N, K = s->K, kc = s->kc, np = isa->np_max;
  const int cwmax = isa->nv_max * isa->vl, blocks = (N + cwmax - 1) / cwmax;
  /* dy_packed(b, m, j) = dY(m, b*cwmax + j): each block's rows contiguous */
#pragma omp for schedule(static)
  for (int b = 0; b < blocks; b++) {
    const int c0 = b * cwmax, cw = N - c0 < cwmax ? N - c0 : cwmax;
    float *dst = s->dy_packed + (size_t)b * M * cwmax;
    for (int m = 0; m < M; m++)
      memcpy(dst + (size_t)m * cwmax, s->dY + (size_t)m * N + c0, (size_t)cw * sizeof(float));
  }
  float *xt = s->xt + (size_t)tid * kc * M;
  const int nchunks = (K + kc - 1) / kc;
#pragma omp for schedule(static) nowait
  for (int ch = 0; ch < nchunks; ch++) {
    const int k0 = ch * kc, rows = K - k0 < kc ? K - k0 : kc, full = rows / np, rem = rows % np;
    isa->transpose(s->X + k0, K, M, rows, xt, M);
    for (int b = 0; b < blocks; b++) {
      const int c0 = b * cwmax;
      int last;
      const int nv = block_vectors(isa, N, c0, &last);
      const float *w = s->dy_packed + (size_t)b * M * cwmax;
      float *out = s->dW + (size_t)k0 * N + c0;
      if (full) isa->conv_run(full, np, nv, xt, M, w, cwmax, M, out, N, last, 0, 0);
      if (rem) {
        const cbp_ktap tap = {{xt + (size_t)full * np * M}, w, 0, 0};
        isa->conv_tile(rem, nv, &tap, 1, M, M, cwmax, out + (size_t)full * np * N, N, last, 0);
      }
    }
  }
}

/* The engine, thread tid's pixels k0..k1-1: its rows of X^T, then its rows of dW. */
static void pixels(void *ctx, int tid, int nth) {
  const pixel_share *s = ctx;
  const int M = s->M, N = s->N;
  const int k0 = first_row(s->K, tid, nth), k1 = first_row(s->K, tid + 1, nth);
  if (k1 <= k0) return;
  float *xt = s->xt + (size_t)k0 * M;
  /* X^T(k, m) = X(m, k) for k0 <= k < k1 */
  cbp_direct_isa_get()->transpose(s->X + k0, s->K, M, k1 - k0, xt, M);
  /* one tap, W'(m, n) = dY[m*N + n] (w_trans 0) */
  const cbp_dtap tap = {0, 0, s->dY};
  const ptrdiff_t out = (ptrdiff_t)(k1 - k0) * N;
  cbp_dconv_desc d = {1, 1, k1 - k0, M, 1, k1 - k0, N, 1, 1, out, out, N, &tap, 1, N, 0};
  cbp_dconv_run(&d, 1, xt, s->dW + (size_t)k0 * N, cbp_dconv_thread_ws(s->engine_ws, 1, tid));
}

static int run(const cbp_problem *pb, int threads, const float *X, const float *dY, float *dW,
               void *ws) {
  cbp_arena ar = {ws, 0};
  pixel_share s = {X, dY, dW, NULL, NULL, NULL, NULL, pb->mma.m, pb->mma.n, pb->mma.k, 0, 0, 0};
  s.order = cbp_mma_bpw_in_place(pb, threads);
  if (s.order) {
    s.mb = cbp_mma_bpw_m_block(pb, threads);
    if (s.order != CBP_BPW_TILES_SPLIT_M) {
      cbp_parallel(threads, tiles, &s);
      return CONVBP_OK;
    }
    size_t elems;
    if (partials(pb, threads, &elems)) return CONVBP_ERR_OVERFLOW;
    /* one dW a thread: dW itself, then K x N floats each from the workspace */
    float *part[threads], *const rest = cbp_take(&ar, elems * sizeof(float));
    part[0] = dW;
    for (int t = 1; t < threads; t++) part[t] = rest + (size_t)(t - 1) * pb->mma.k * pb->mma.n;
    s.part = part;
    cbp_parallel(threads, split_m, &s);
    return CONVBP_OK;
  }
  const cbp_direct_isa *isa = cbp_direct_isa_get();
  s.kc = cbp_mma_bpw_chunk_rows(pb, threads);
  if (s.kc) {
    size_t packed;
    if (packed_dy(pb, isa, &packed)) return CONVBP_ERR_OVERFLOW;
    s.dy_packed = cbp_take(&ar, packed * sizeof(float));
    s.xt = cbp_take(&ar, (size_t)threads * s.kc * pb->mma.m * sizeof(float));
    cbp_parallel(threads, in_chunks, &s);
    return CONVBP_OK;
  }
  s.xt = cbp_take(&ar, pb->x_elems * sizeof(float));
  s.engine_ws = cbp_take(&ar, 0);
  cbp_parallel(threads, pixels, &s);
  return CONVBP_OK;
}

const cbp_strategy cbp_mma_bpw_conv1x1_blocked = {
    .name = "mma_bpw_conv1x1_blocked",
    .op = CONVBP_MMA_BPW,
    .summary = "MMA backward weights dW = X^T dY as a 1x1 convolution: BPW tiles in place, "
               "or K pixels of X^T (in chunks, or by the engine)",
    .workspace = workspace,
    .run = run,
    .vec_channels = vec_channels,
};
