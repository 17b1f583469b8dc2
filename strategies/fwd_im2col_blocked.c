/* fwd_im2col_blocked: forward convolution from few input channels, im2col in
 * L2-sized blocks of pixels, each block a 1x1 convolution by the blocked engine.
 *
 *   cols[(n,p,q)][(r*S + s)*C + c] = A(n, p*st_h + r*d_h - pad_h, q*st_w + s*d_w - pad_w, c)
 *   O(n,p,q,k) = sum_i cols[(n,p,q)][i] * W[k*R*S*C + i]
 *
 * With C = 1 (a grayscale or spectrogram input) each of fwd_direct_blocked's
 * taps reduces one channel, or S*C where it merges a kernel row (5 on a 5x5):
 * a tap of a 6-pixel x 32-channel tile is 12 FMAs beside its pointers, and
 * setting up the taps took 23% of a 5x5 layer's time (perf).  After im2col a
 * pixel is one tap of R*S*C channels.  fwd_im2col_gemm makes the same cols but
 * hands them to sgemm, whose inner dimension R*S*C (9 at 3x3, C = 1) is too
 * short for it: 32 GFLOP/s where the engine makes 60-100.  KRSC holds each
 * output channel's R*S*C weights in cols' order, so there is no weight copy.
 * cols are copied by fwd_im2col_gemm's cbp_im2col_rows, a block at a time, so
 * that the engine reads them from L2 (R*S*C / (st_h*st_w) times A's size:
 * at C = 1 a fraction of O's K floats a pixel).
 * Threads: contiguous shares of the pixels, each thread its own blocks and
 * cols buffer and a one-thread engine.  Blocks of 256 KiB of cols: 64 KiB
 * took up to 1.3x as long on C = 1 layers, 1 MiB the same.
 * Workspace: a cols block and an engine workspace a thread.
 * Supports C <= 4.  On 3x3, 5x5 and 7x7 layers (the last two at stride 2)
 * of C = 1-16 into K = 16-64 (Zen 4) it beat fwd_direct_blocked at C = 1 and
 * 2, tied at 3 and 4 and lost from 6 on: there a tap reduces enough channels
 * and cols only cost (results/im2col_blocked_zen4_grid.csv). */
#include "internal.h"

enum { C_MAX = 4, MIN_ROWS = 16 };
static const size_t BLOCK_BYTES = (size_t)256 << 10; /* of cols a block (see the top) */

static const char *supports(const cbp_problem *pb) {
  return pb->conv.c > C_MAX ? "C > 4: built for few input channels; with more, each of "
                              "fwd_direct_blocked's taps reduces enough of them"
                            : NULL;
}

static int vec_channels(const cbp_problem *pb) { return pb->conv.k; } /* O's K */

static size_t kdim(const cbp_problem *pb) {
  return (size_t)pb->conv.r * pb->conv.s * pb->conv.c;
}

/* Pixels of a cols block: BLOCK_BYTES of cols, at most a thread's share. */
static size_t block_rows(const cbp_problem *pb, int threads) {
  const size_t m = (size_t)pb->conv.n * pb->p * pb->q, t = threads > 1 ? (size_t)threads : 1;
  size_t rows = BLOCK_BYTES / (kdim(pb) * sizeof(float)), share = (m + t - 1) / t;
  if (rows < MIN_ROWS) rows = MIN_ROWS;
  return rows < share ? rows : share;
}

static size_t buf_bytes(const cbp_problem *pb, int threads) {
  return (block_rows(pb, threads) * kdim(pb) * sizeof(float) + 63) / 64 * 64;
}

static int workspace(const cbp_problem *pb, int threads, size_t *bytes) {
  size_t engine, bufs;
  const int t = threads > 1 ? threads : 1;
  if (cbp_mul(buf_bytes(pb, t), (size_t)t, &bufs) || cbp_dconv_workspace(1, t, &engine) ||
      cbp_add(bufs, engine, bytes))
    return CONVBP_ERR_OVERFLOW;
  return CONVBP_OK;
}

typedef struct {
  cbp_run_args ra;
  cbp_fwd_desc fd; /* cbp_im2col_rows' view of the problem */
  char *bufs;      /* a cols block a thread */
  size_t buf_bytes, rows;
  void *engine_ws; /* an engine workspace a thread (cbp_dconv_thread_ws) */
} i2c_ctx;

/* Thread tid's pixels [m0, m1), whole 16-pixel groups apart from the last
   share: 16*K floats are whole 64-byte lines, so no line of an aligned O is
   written by two threads.  In balanced blocks of at most x->rows. */
static void pixels(void *arg, int tid, int nth) {
  const i2c_ctx *x = arg;
  const cbp_problem *pb = x->ra.pb;
  const size_t m = (size_t)pb->conv.n * pb->p * pb->q, K = (size_t)pb->conv.k, kd = kdim(pb);
  const size_t m0 = tid == 0 ? 0 : m * tid / nth / 16 * 16;
  const size_t m1 = tid + 1 == nth ? m : m * (tid + 1) / nth / 16 * 16;
  if (m1 <= m0) return;
  float *buf = (float *)(x->bufs + (size_t)tid * x->buf_bytes);
  void *ews = cbp_dconv_thread_ws(x->engine_ws, 1, tid);
  const cbp_dtap tap = {0, 0, x->ra.y}; /* W'(i, k) = W[k*kd + i], read transposed */
  const size_t nb = (m1 - m0 + x->rows - 1) / x->rows;
  for (size_t b = 0; b < nb; b++) {
    const size_t b0 = m0 + (m1 - m0) * b / nb, b1 = m0 + (m1 - m0) * (b + 1) / nb;
    const int px = (int)(b1 - b0);
    cbp_im2col_rows(&x->fd, x->ra.x, b0, (size_t)px, buf);
    /* one row of px pixels of kd channels under one 1x1 tap */
    const cbp_dconv_desc d = {1, 1, px, (int)kd, 1, px, (int)K, 1, 1, (ptrdiff_t)(px * K),
                              (ptrdiff_t)(px * K), (ptrdiff_t)K, &tap, 1, (ptrdiff_t)kd, 1};
    cbp_dconv_run(&d, 1, buf, x->ra.out + b0 * K, ews);
  }
}

static int run(const cbp_problem *pb, int threads, const float *A, const float *W, float *O,
               void *ws) {
  const int t = threads > 1 ? threads : 1;
  size_t bufs;
  if (cbp_mul(buf_bytes(pb, t), (size_t)t, &bufs)) return CONVBP_ERR_OVERFLOW;
  i2c_ctx x = {{pb, A, W, O}, cbp_fwd_desc_of(pb), ws, buf_bytes(pb, t), block_rows(pb, t),
               (char *)ws + bufs};
  cbp_parallel(t, pixels, &x);
  return CONVBP_OK;
}

const cbp_strategy cbp_fwd_im2col_blocked = {
    .name = "fwd_im2col_blocked",
    .op = CONVBP_FWD,
    .summary = "forward from few input channels: im2col in L2-sized pixel blocks, each a 1x1 "
               "convolution of R*S*C channels by the blocked engine",
    .supports = supports,
    .workspace = workspace,
    .run = run,
    .vec_channels = vec_channels,
};
