/* mma_bpa_conv1x1_blocked: MMA backward data as a 1x1 forward convolution by
 * the blocked direct engine.
 *
 *   dX(m, k) = sum_n dY(m, n) W(k, n)
 *   O(p, k') = sum_c A(p, c) W'(k', c)              (FWD, 1x1, NHWC / KRSC)
 *
 * The seeds turn convolutions into GEMMs; this turns the GEMM back into the
 * convolution the engine runs, so the MMA ops get the engine's AVX-512 kernel
 * rather than whatever core type OpenBLAS picked.  Two ways to cast it:
 *   M pixels:  A = dY (M x N), W' = W (K x N), O = dX.  All in place; on
 *              one thread the M pixels in one row, along which the tiles run
 *              (bert_qkv on one thread 3.17 -> 2.99 ms against M images of
 *              one pixel).  On more, where W is small and the whole problem
 *              fits in the threads' L2s, each thread runs the engine alone
 *              on its share of the M pixels, in one row (see
 *              share_pixels_along_m); elsewhere, where the channel blocks do
 *              not go round the threads, the engine's split over rows of
 *              about ROW_PX pixels (see row_pixels): in one row with K <= 64
 *              (one block) the second thread had nothing to do, and 2048 x
 *              256 x 64, 4096 x 128 x 64, 8192 x 512 x 64 and 32768 x 64 x
 *              64 ran no faster on two threads than on one, at 0.47-0.49x
 *              of oneDNN.
 *   K pixels:  A = W (K x N), W' = dY (M x N), O = dX^T (K x M), then dX =
 *              O^T.  The pixels in one column, so that the engine can chunk
 *              them.  Each thread runs the engine alone on its share of the
 *              pixels and transposes its own rows of O into its columns of
 *              dX: it reads only the O it wrote, from its own cache, and half
 *              of W.  The engine's own split shares the M channels, and each
 *              thread read all of W and half of O from the other core.  Zen
 *              5, medians of 5 alternating rounds on two threads: resnet_fc
 *              1.07x, gpt_proj 1.03x, M = 64, N = 256, K = 2048 1.23x.  The
 *              M pixels form keeps the engine's split: by pixels, each thread
 *              packs all of W, and bert_ffn_down and small_fc took 1.04x and
 *              1.10x as long (3 rounds).
 * KRSC stores W' as K' rows, so the engine transposes it into its panels, once
 * a call: N*K floats as M pixels, M*N as K pixels, which also writes O and
 * reads it back to transpose M*K floats more.  The K pixels form is taken
 * when it moves no more floats: N*K >= M*N + 2*M*K.  Zen 5 EPYC, medians of
 * 3 alternating rounds with the form forced, threads splitting the K pixels,
 * 1 / 2 threads, K pixels against M pixels: resnet_fc (M = 32, K = 2048)
 * 0.76 / 0.79, gpt_proj (M = 128, K = 4096) 0.91 / 0.82, bert_ffn_up
 * (M = 512, N = 3072, K = 768, where the two counts are equal) 0.93 / 0.91;
 * not taken: bert_ffn_down (M = 512, K = 3072) 1.08 / 1.10, square_1k 1.09 /
 * 1.06, small_fc 1.00 / 1.02, bert_qkv 0.99 / 1.03.  (Until 0c194a8 the rule
 * was N*K > 2 M (N + K), which kept bert_ffn_up, 0.96 / 0.97 then, as M
 * pixels.)
 * Workspace: the engine's per-thread panels and tap lists, and O when K
 * pixels.  Supports every valid problem. */
#include "internal.h"

/* Whether the K pixels form is taken (see the top), in doubles: no overflow. */
static int pixels_along_k(const cbp_problem *pb) {
  const double m = pb->mma.m, n = pb->mma.n, k = pb->mma.k;
  return n * k >= m * n + 2 * m * k;
}

/* The engine's output channels, which its tiles hold in vectors: M in the K
   pixels form, else K. */
static int out_channels(const cbp_problem *pb) {
  return pixels_along_k(pb) ? pb->mma.m : pb->mma.k;
}

static int workspace(const cbp_problem *pb, int threads, size_t *bytes) {
  size_t engine;
  *bytes = 0;
  if ((pixels_along_k(pb) && cbp_ws_add(bytes, pb->out_elems, sizeof(float))) ||
      cbp_dconv_workspace(1, threads, &engine) || cbp_add(*bytes, engine, bytes))
    return CONVBP_ERR_OVERFLOW;
  return CONVBP_OK;
}

typedef struct {
  const float *dY, *W;
  float *dX, *o;   /* O = dX^T */
  void *engine_ws; /* one engine workspace a thread (cbp_dconv_thread_ws) */
  int M, N, K;
} pixel_share;

/* The first of thread t's K pixels: shares of whole 16-float lines of each dX
   row, so that no two threads write one line. */
static int k_first(int K, int t, int nth) {
  return t >= nth ? K : (int)((long)K * t / nth) / 16 * 16;
}

/* K pixels, thread tid's pixels k0..k1-1: its rows of O, then its columns of dX. */
static void k_pixels(void *ctx, int tid, int nth) {
  const pixel_share *s = ctx;
  const int M = s->M, N = s->N;
  const int k0 = k_first(s->K, tid, nth), k1 = k_first(s->K, tid + 1, nth);
  if (k1 <= k0) return;
  /* O(k, m) = sum_n W(k, n) dY(m, n): W'(m, c) = dY[m*N + c], read transposed */
  const cbp_dtap tap = {0, 0, s->dY};
  float *o = s->o + (size_t)k0 * M;
  cbp_dconv_desc d = {1, k1 - k0, 1, N, k1 - k0, 1, M, 1, 1, (ptrdiff_t)(k1 - k0) * M, M, M,
                      &tap, 1, N, 1};
  cbp_dconv_run(&d, 1, s->W + (size_t)k0 * N, o, cbp_dconv_thread_ws(s->engine_ws, 1, tid));
  /* dX(m, k) = O(k, m) for k0 <= k < k1 */
  cbp_direct_isa_get()->transpose(o, M, k1 - k0, M, s->dX + k0, s->K);
}

/* The length of a row of M pixels on `threads`.  The engine shares out
   (channel block, row) units, whole blocks where they go round evenly; with
   one row and a number of blocks (of up to CBP_BLK_MAX channels) that does
   not, one thread got a block more than another, or all of them.  There,
   on two threads or more, rows of ROW_PX pixels, or of the length within
   ROW_PX_SPAN of it nearest to it that divides M, so that the engine runs
   once; else ROW_PX and a shorter last row, run by a second call (which
   packs W again).  Elsewhere, or when M < 2 ROW_PX, all of M in one row.
   Zen 5 EPYC, two threads, medians of 3 alternating rounds against one row
   (oneDNN 0.96-1.04x in the same rounds): one block, 8192 x 512 x 64
   2.14x, 32768 x 64 x 64 2.02x, 2048 x 256 x 64 and 4096 x 128 x 64 1.89x,
   2101 x 40 x 31 1.33x; three, 1000 x 192 x 192 1.20x.  In rounds of a
   prototype with rows for every K (oneDNN 0.97-1.03x): three, five and
   seven blocks (M = 2048-4096) 1.25x, 1.15x, 1.07x; but two and four
   blocks, which go round, 0.94x (4096 x 256 x 128) and 0.97-0.99x (16384 x
   64 x 256, 5 rounds).  Rows of 48 lost on 256 x 512 x 256 (0.91x against
   one row) and of 384 on 2048 x 256 x 64 (0.83x against rows of 96).
   Blocks go round only when all are full: with a narrower last block (K =
   96, 200, 330: 2, 4, 6 blocks) one thread took the wider share of one
   row.  Zen 4, two threads, medians of 4 alternating rounds against one
   row (oneDNN 0.97-1.00x): 2048 x 64 x 200 1.60x, 4096 x 128 x 96 1.45x,
   512 x 768 x 100 1.16x, 419 x 12 x 334 1.12x, 1000 x 256 x 330 1.09x.
   (419 x 12 x 334 now goes to share_pixels_along_m, as every problem
   within the threads' L2s with a small W.) */
enum { ROW_PX = 96, ROW_PX_SPAN = 32 };
static int row_pixels(int M, int K, int threads) {
  /* full blocks, as many as a multiple of the threads */
  if (threads <= 1 || M < 2 * ROW_PX || K % ((long)CBP_BLK_MAX * threads) == 0) return M;
  for (int d = 0; d <= ROW_PX_SPAN; d++) {
    if (M % (ROW_PX - d) == 0) return ROW_PX - d;
    if (M % (ROW_PX + d) == 0) return ROW_PX + d;
  }
  return ROW_PX;
}

/* M pixels as `rows` rows of `wr`: one image, N input channels, K output
   channels, one tap W'(k, c) = W[k*N + c] read transposed (w_trans). */
static cbp_dconv_desc pixel_rows(int rows, int wr, int N, int K, const cbp_dtap *tap) {
  const cbp_dconv_desc d = {1, rows, wr, N, rows, wr, K, 1, 1, (ptrdiff_t)rows * wr * K,
                            (ptrdiff_t)wr * K, K, tap, 1, N, 1};
  return d;
}

/* Whether, as M pixels on more than one thread, each thread takes its share
   of the M pixels and runs the engine alone on them, in one row
   (m_pixels): where W is at most a quarter of an L2 (each thread packs all
   of it, where the engine's split packs each block once) and dY, W and dX
   together fit in the threads' L2s.  One engine call and one region, its
   halves even to a pixel, where the engine's (channel block, row) units
   left a thread idle (one block, one row), went round unevenly (blocks of
   64 and a narrower last one) or took a second call for the rows' rest.
   Zen 4, two threads, medians of 5 alternating rounds against the engine's
   split: 150 x 64 x 64 1.82x, 180 x 300 x 40 1.81x, 295 x 192 x 12 1.40x,
   300 x 384 x 64 1.28x, 419 x 12 x 334 1.16-1.22x, 733 x 96 x 160 1.22x,
   100 x 128 x 200 1.20x, 1024 x 64 x 256 1.16x, 2101 x 40 x 31 1.13x, 384 x
   64 x 200, 960 x 32 x 100 and 576 x 128 x 130 0.95-1.00x; in 10 rounds
   329 x 540 x 7 1.36-1.40x, 500 x 4 x 300 0.99-1.17x, but 424 x 4 x 264
   and 424 x 8 x 264 (in 4 rows of 106, 20 units) 0.84-0.90x.  On 60
   random MMA problems (seed 58, 3 rounds) the 21 it reaches took 1.23x
   less time (geometric mean; oneDNN 1.09x in the same rounds, the host's
   drift), the 39 others 1.00x.  Left to the engine: with 512 KB of W (128
   x 256 x 512, 256 x 512 x 256) it took 0.95-0.98x; beyond L2 (dY and dX
   of 8 MB, 32768 x 64 x 64 and 32767 x 64 x 64) 0.82-0.85x.  In doubles:
   no overflow. */
static int share_pixels_along_m(const cbp_problem *pb, int threads) {
  if (threads <= 1 || pixels_along_k(pb)) return 0;
  /* dY, W and dX: the problem's x, y and out */
  const double l2 = (double)cbp_l2_bytes_or_1mib(), w_bytes = (double)pb->y_elems * sizeof(float);
  const double all = ((double)pb->x_elems + pb->y_elems + pb->out_elems) * sizeof(float);
  return w_bytes <= l2 / 4 && all <= l2 * threads;
}

/* M pixels, thread tid's pixels m0..m1-1 in one row: its rows of dX. */
static void m_pixels(void *ctx, int tid, int nth) {
  const pixel_share *s = ctx;
  const int m0 = (int)((long)s->M * tid / nth), m1 = (int)((long)s->M * (tid + 1) / nth);
  if (m1 <= m0) return;
  const cbp_dtap tap = {0, 0, s->W};
  const cbp_dconv_desc d = pixel_rows(1, m1 - m0, s->N, s->K, &tap);
  cbp_dconv_run(&d, 1, s->dY + (size_t)m0 * s->N, s->dX + (size_t)m0 * s->K,
                cbp_dconv_thread_ws(s->engine_ws, 1, tid));
}

static int run(const cbp_problem *pb, int threads, const float *dY, const float *W, float *dX,
               void *ws) {
  const int M = pb->mma.m, N = pb->mma.n, K = pb->mma.k;
  cbp_arena ar = {ws, 0};
  if (share_pixels_along_m(pb, threads)) {
    pixel_share s = {dY, W, dX, NULL, ws, M, N, K};
    cbp_parallel(threads, m_pixels, &s);
    return CONVBP_OK;
  }
  if (!pixels_along_k(pb)) {
    /* rows x wr pixels, then the rest in one row */
    const cbp_dtap tap = {0, 0, W};
    const int wr = row_pixels(M, K, threads), rows = M / wr, rest = M - rows * wr;
    const cbp_dconv_desc d = pixel_rows(rows, wr, N, K, &tap);
    cbp_dconv_run(&d, threads, dY, dX, ws);
    if (rest) {
      const cbp_dconv_desc e = pixel_rows(1, rest, N, K, &tap);
      cbp_dconv_run(&e, threads, dY + (size_t)rows * wr * N, dX + (size_t)rows * wr * K, ws);
    }
    return CONVBP_OK;
  }
  pixel_share s = {dY, W, dX, NULL, NULL, M, N, K};
  s.o = cbp_take(&ar, pb->out_elems * sizeof(float));
  s.engine_ws = cbp_take(&ar, 0);
  cbp_parallel(threads, k_pixels, &s);
  return CONVBP_OK;
}

const cbp_strategy cbp_mma_bpa_conv1x1_blocked = {
    .name = "mma_bpa_conv1x1_blocked",
    .op = CONVBP_MMA_BPA,
    .summary = "MMA backward data dX = dY W^T as a 1x1 convolution over M or K pixels, blocked direct engine",
    .workspace = workspace,
    .run = run,
    .vec_channels = out_channels,
};
