/* fwd_dot_blocked: forward convolution for outputs of a few channels, as dot
 * products along the input channels.
 *
 *   O(n,p,q,k) = sum_{r,s} < A(n, p*st_h - pad_h + r*d_h, q*st_w - pad_w + s*d_w, :), W(k,r,s,:) >
 *
 * The blocked engine (fwd_direct_blocked) holds output channels in vectors:
 * with K = 3 (an RGB output layer) a 16-float vector holds 3 sums, and a tap
 * costs as many FMAs as with 16 channels.  Here the vectors run along C, which
 * NHWC and KRSC both keep contiguous, so each FMA does 16 useful products
 * whatever K is; a tile of up to 6 pixels x 4 output channels (AVX-512; 3 x 3
 * on AVX2) keeps its sums in vector registers for the whole reduction over
 * taps and channels and reduces each across its lanes once.  A pixel whose
 * tap falls in the padding reads a row of zeros; a tap that no pixel of the
 * tile reaches is left out.  Each input vector is loaded once for the tile's
 * kb FMAs (vkeep), not folded into each as a memory operand.  Kernel set
 * chosen at run time by CPU features, as the engine's (cbp_direct_isa_get).
 * Supports K <= 16: beyond that the engine's vectors over K are full (it won
 * up to K = 7 from 32 channels; ESTIMATE in src/plan.c).
 * Threads: the output rows (n, p) in equal contiguous shares, each run a
 * column of tiles at a time, down the rows (see rows()).
 * Workspace: a zero row of C floats, then per thread the taps of a tile. */
#include "internal.h"

enum { DOT_K_MAX = 16 };

static const char *supports(const cbp_problem *pb) {
  return pb->conv.k > DOT_K_MAX ? "K > 16: built for few output channels; with more, "
                                 "fwd_direct_blocked's vectors over K are full"
                               : NULL;
}

/* The channels its kernels hold in vectors: A's C, for the thread floor. */
static int vec_channels(const cbp_problem *pb) { return pb->conv.c; }

static size_t zero_floats(const cbp_problem *pb) { return ((size_t)pb->conv.c + 15) / 16 * 16; }

static size_t taps_bytes(const cbp_problem *pb) {
  return ((size_t)pb->conv.r * pb->conv.s * sizeof(cbp_ktap) + 63) / 64 * 64;
}

static int workspace(const cbp_problem *pb, int threads, size_t *bytes) {
  size_t t;
  if (cbp_mul(taps_bytes(pb), (size_t)(threads > 1 ? threads : 1), &t) ||
      cbp_add(t, zero_floats(pb) * sizeof(float), bytes))
    return CONVBP_ERR_OVERFLOW;
  return CONVBP_OK;
}

typedef struct {
  cbp_run_args ra;
  const cbp_direct_isa *isa;
  char *ws; /* zero row, then each thread's taps */
} dot_ctx;

/* The taps of the tile of np pixels from q0 in output row p of image img:
   each tap's input per pixel, or the zero row where it falls in the
   padding; taps no pixel reaches left out.  Returns how many. */
static int tile_taps(const cbp_problem *pb, const float *img, const float *W, const float *zeros,
                     int p, int q0, int np, cbp_ktap *kt) {
  const convbp_conv *c = &pb->conv;
  int m = 0;
  for (int r = 0; r < c->r; r++) {
    const long h = (long)p * c->stride_h - c->pad_h + (long)r * c->dil_h;
    if (h < 0 || h >= c->h) continue;
    for (int s = 0; s < c->s; s++) {
      int reached = 0;
      for (int j = 0; j < np; j++) {
        const long w = (long)(q0 + j) * c->stride_w - c->pad_w + (long)s * c->dil_w;
        const int inside = w >= 0 && w < c->w;
        kt[m].in[j] = inside ? img + ((size_t)h * c->w + (size_t)w) * c->c : zeros;
        reached |= inside;
      }
      if (!reached) continue;
      kt[m++].w = W + ((size_t)r * c->s + s) * c->c;
    }
  }
  return m;
}

/* Output rows [f0, f1) of the flattened (n, p), a column of tiles of up to
   dot_np pixels (balanced: 10 = 5 + 5, not 6 + 4) at a time, down the rows,
   by blocks of up to dot_kb channels.  Down the rows of one image whose
   kernel rows all fall inside, a tile's taps are the row before's moved
   stride_h input rows on (the zero rows staying): building them anew was
   22% of an RGB output layer's time (perf). */
static void rows(void *arg, int tid, int nth) {
  const dot_ctx *x = arg;
  const cbp_problem *pb = x->ra.pb;
  const convbp_conv *c = &pb->conv;
  const cbp_direct_isa *isa = x->isa;
  const float *A = x->ra.x, *W = x->ra.y, *zeros = (const float *)x->ws;
  cbp_ktap *kt =
      (cbp_ktap *)(x->ws + zero_floats(pb) * sizeof(float) + (size_t)tid * taps_bytes(pb));
  const int P = pb->p, Q = pb->q, K = c->k, C = c->c;
  const ptrdiff_t w_k = (ptrdiff_t)c->r * c->s * C, down = (ptrdiff_t)c->stride_h * c->w * C;
  const long nrows = (long)c->n * P, f0 = nrows * tid / nth, f1 = nrows * (tid + 1) / nth;
  const int ntiles = (Q + isa->dot_np - 1) / isa->dot_np;
  for (int tile = 0, q0 = 0; tile < ntiles; tile++) {
    const int np = (Q - q0 + (ntiles - tile) - 1) / (ntiles - tile);
    int m = 0, moved = 0; /* moved: kt holds row f - 1's taps, all kernel rows inside */
    for (long f = f0; f < f1; f++) {
      const int n = (int)(f / P), p = (int)(f % P);
      const long h0 = (long)p * c->stride_h - c->pad_h;
      const int all_rows = h0 >= 0 && h0 + (long)(c->r - 1) * c->dil_h < c->h;
      if (moved && all_rows && p > 0) {
        for (int t = 0; t < m; t++)
          for (int j = 0; j < np; j++)
            if (kt[t].in[j] != zeros) kt[t].in[j] += down;
      } else {
        m = tile_taps(pb, A + (size_t)n * c->h * c->w * C, W, zeros, p, q0, np, kt);
      }
      moved = all_rows;
      float *o = x->ra.out + (size_t)f * Q * K + (size_t)q0 * K;
      if (m == 0) { /* every tap in the padding */
        for (int j = 0; j < np; j++)
          for (int k = 0; k < K; k++) o[(size_t)j * K + k] = 0;
        continue;
      }
      for (int k0 = 0; k0 < K; k0 += isa->dot_kb) {
        const int kb = K - k0 < isa->dot_kb ? K - k0 : isa->dot_kb;
        isa->dot_tile(np, kb, kt, m, C, w_k, o + k0, K);
        for (int t = 0; t < m; t++) kt[t].w += (ptrdiff_t)kb * w_k; /* the next block's rows */
      }
      for (int t = 0; t < m; t++) kt[t].w -= (ptrdiff_t)K * w_k; /* back to k = 0 */
    }
    q0 += np;
  }
}

static int run(const cbp_problem *pb, int threads, const float *A, const float *W, float *O,
               void *ws) {
  memset(ws, 0, zero_floats(pb) * sizeof(float));
  dot_ctx x = {{pb, A, W, O}, cbp_direct_isa_get(), ws};
  cbp_parallel(threads, rows, &x);
  return CONVBP_OK;
}

const cbp_strategy cbp_fwd_dot_blocked = {
    .name = "fwd_dot_blocked",
    .op = CONVBP_FWD,
    .summary = "forward for few output channels: vectors along C, a dot product per pixel and "
               "channel over the taps, reduced across lanes once",
    .supports = supports,
    .workspace = workspace,
    .run = run,
    .vec_channels = vec_channels,
};
