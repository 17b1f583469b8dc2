/* The blocked direct engine: run-time choice of the microkernel set, and the
 * tap-list convolution that fwd_direct_blocked and bpa_stride_phase_blocked call.
 *
 *   out(n, oh, ow, :) = sum_t in(n, oh*sh + dh_t, ow*sw + dw_t, :) . W_t
 *
 * Blocking (BLIS-like, from the outside in):
 *   chunks  = with one tap, an input far beyond L2 and two or more channel
 *             blocks a thread, the rows in chunks of about 8192 output pixels,
 *             each shared out and run over every block before the next (see
 *             row_chunk); else one chunk of all rows;
 *   threads = output-channel blocks (up to 64 channels: one register block on
 *             AVX-512, up to 4 on AVX2, run in turn over each tile) x output
 *             rows, split into equal shares of (register block, row) units, a
 *             contiguous range a thread: a stretch of rows of each channel
 *             block it meets; two threads' shares meet in one channel block,
 *             whose rows they claim from either end as they get there, so
 *             that a slower thread takes fewer; threads write disjoint
 *             outputs (no false sharing but where two ranges meet, one row
 *             apart);
 *   ci      = input-channel blocks so that one block of weights (taps x ci_b x
 *             the channel block) stays in L2 across all rows of
 *             a thread's stretch; later blocks accumulate into the output;
 *   row     = taps whose input row exists, then the row in tiles of about np_max
 *             pixels (balanced: 14 = 5+4+5, not 6+6+2), or thin_np with one
 *             vector of output channels (see cbp_dconv_run); one tap of at most
 *             32 input channels runs a row's tiles in runs, a kernel call for
 *             all tiles of a size (see one_tap_runs); with fewer than 32
 *             input channels, a kernel row's taps that all reach every pixel
 *             run as one tap of S*ci channels (see merge_group); the taps that
 *             reach every pixel of a tile run in one call, those that miss some
 *             (padding) in a second, accumulating call over the pixels they
 *             reach: border pixels keep the speed of the interior, no FLOP is
 *             spent on padding, and no padded copy is made; before each tile,
 *             the next one's output lines are prefetched for writing (not for
 *             a single tap writing whole pixels with AVX-512, see
 *             one_tap_tiles; a single tap's the tile after it too where output
 *             pixels lie a page apart, see far_output), and with one tap and
 *             an input from memory its input rows (see prefetch_in);
 *   narrow    = dense outputs narrower than two tiles (the 7x7 images of
 *             res5), or than three when no tap falls in padding (the 14x14
 *             1x1 layers of res4): tiles run over the flattened pixels of the
 *             chunk, across row ends, and a pixel whose tap falls outside the
 *             input reads a zero row instead.  A 7-wide row otherwise splits
 *             into tiles of 4 and 3 pixels (14: 5+4+5), each with a second call
 *             for the border taps, and every call streams the whole weight
 *             panel from L2.  Measured on the resnet50 layers: the 1x1 layers
 *             of width 7 and 14 ran 15-25% faster; a 3x3 at width 7 broke even
 *             (its zeros are 18% of the FLOPs) and at 14 lost 3-5%, and width
 *             28 (6+6+6+5+5) gained nothing, hence the widths; with
 *             padding and more than a vector of channels, narrower than
 *             two tiles of np_max - 1, and with AVX-512 at half rate (Zen 4)
 *             only rows of at most 4 sums (see plan_engine);
 *   wide row  = padded outputs exactly 7 wide (res5's 3x3 layers): one tile of
 *             7 pixels x 3 vectors (48 channels) a row with AVX-512, 7 x 2
 *             (16) with AVX2, its border taps in calls of 6 pixels.  Every
 *             tap's panel is streamed once a row and no zero is multiplied,
 *             where the narrow tiles spend 18% of their FLOPs on the zero row
 *             and 4+3 tiles stream each panel twice.  res5a_branch2b BPA,
 *             medians of 6 alternating runs of each: 195 -> 212 GFLOP/s on
 *             one thread, 384 -> 411 on two; its FWD did not change (173 /
 *             340).  AVX2 on Zen 3: BPA 1.07x / 1.09x, FWD 1.03x / 1.07x
 *             (direct_avx2.c). */
#define _GNU_SOURCE /* sysconf(_SC_LEVEL2_CACHE_SIZE) */
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>

#include "internal.h"

extern const cbp_direct_isa cbp_direct_portable;
#if defined(__x86_64__) || defined(__i386__)
extern const cbp_direct_isa cbp_direct_avx512, cbp_direct_avx2;
#endif

const cbp_direct_isa *cbp_direct_isa_get(void) {
  const char *want = getenv("CONVBP_ISA");
  if (want && strcmp(want, "portable") == 0) return &cbp_direct_portable;
#if defined(__x86_64__) || defined(__i386__)
  __builtin_cpu_init();
  const int avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  const int avx512 = avx2 && __builtin_cpu_supports("avx512f");
  if (avx512 && !(want && strcmp(want, "avx2") == 0)) return &cbp_direct_avx512;
  if (avx2) return &cbp_direct_avx2;
#endif
  return &cbp_direct_portable;
}

/* Whether a 512-bit FMA issues at half the rate of a 256-bit one: AVX-512 on
   256-bit pipes (Zen 4), or one 512-bit FMA unit beside two 256-bit ones.
   Then an output of at most 8 channels, which fills half of each AVX-512
   vector, does twice the useful FMAs a cycle with the AVX2 kernels, whose
   vectors it fills.  Measured once a process: each set's FMA loop, best of 7
   alternating rounds of 49152 FMAs (about 50 us in all on a Zen 4); half
   rate when the AVX-512 loop takes 1.5x the AVX2 loop's time or more (2.0x
   on the Zen 4 guest; 1.0x expected where both widths issue two a cycle). */
#if defined(__x86_64__) || defined(__i386__)
static int half_rate_512;
static pthread_once_t half_rate_once = PTHREAD_ONCE_INIT;

static void measure_half_rate(void) {
  double t512 = INFINITY, t256 = INFINITY;
  for (int i = 0; i < 7; i++) {
    const double a = cbp_direct_avx512.fma_seconds(4096), b = cbp_direct_avx2.fma_seconds(4096);
    if (a < t512) t512 = a;
    if (b < t256) t256 = b;
  }
  half_rate_512 = t512 >= 1.5 * t256;
}
#endif

/* Whether isa is AVX-512 on a core whose 512-bit FMAs issue at half rate (the
   rate measured above; CONVBP_HALF_VECTORS does not settle it, as it names
   only the kernels of outputs of at most 8 channels). */
static int half_rate_avx512(const cbp_direct_isa *isa) {
#if defined(__x86_64__) || defined(__i386__)
  if (isa != &cbp_direct_avx512) return 0;
  pthread_once(&half_rate_once, measure_half_rate);
  return half_rate_512;
#else
  (void)isa;
  return 0;
#endif
}

const cbp_direct_isa *cbp_direct_isa_for(int channels) {
  const cbp_direct_isa *isa = cbp_direct_isa_get();
#if defined(__x86_64__) || defined(__i386__)
  if (isa == &cbp_direct_avx512 && channels > 0 && channels <= cbp_direct_avx2.vl) {
    /* The environment is read again only here, so that wider outputs (every
       call of the large layers) pay nothing beyond cbp_direct_isa_get.  A
       kernel set named in CONVBP_ISA is kept for every output;
       CONVBP_HALF_VECTORS=avx2 or =avx512 settles the choice unmeasured. */
    const char *want = getenv("CONVBP_ISA"), *half = getenv("CONVBP_HALF_VECTORS");
    if (want && *want) return isa;
    if (half && !strcmp(half, "avx2")) return &cbp_direct_avx2;
    if (half && !strcmp(half, "avx512")) return isa;
    if (half_rate_avx512(isa)) return &cbp_direct_avx2;
  }
#else
  (void)channels;
#endif
  return isa;
}

const char *convbp_kernels(int channels) { return cbp_direct_isa_for(channels)->name; }

/* Weights of one register block of output channels for one ci block, packed
   as panel[t][i][0..blk): the tile reads 256 contiguous bytes per (tap, i)
   instead of rows far apart (KRSC puts R*S*C floats between two k of a tap:
   18 KiB for 3x3x512, a TLB miss per row).  At most panel_cap() floats, or one
   row per tap when the taps alone exceed it.
   The cap is 3/4 of the L2 of a core, within 128-768 KiB (256 KiB when the
   size is unknown): the panel stays in L2 while a stretch of rows reuses it,
   with room for their input and output.  A bigger panel means fewer
   input-channel blocks, i.e. longer reductions per tile call and fewer
   passes over the output: with 1 MiB of L2 (Zen 5) a 512 KiB cap (then half
   of L2) kept C = 128 in one block where 256 KiB split it in two, and the
   3x3 layers of res3a ran 5% faster (7.7 against 8.1 ms for FWD and BPA).
   768 KiB keeps a 3x3 over C = 256 (576 KiB a 64-channel block) in one block
   where 512 split it in two.  Zen 4 EPYC (1 MiB of L2), medians of 5-6
   rounds in one process (null runs 0.99-1.00), time against 512 KiB, 1 / 2
   threads: FWD VGG conv3_2 (56 x 56) 0.98 / 0.99, conv4_1 (C = 256, K =
   512) 0.99 / 0.98, res4a_branch2b 0.99 / 0.99; BPA conv3_2 0.98 / 0.99,
   conv3_1 (engine ci = 256) 0.97 / 0.98, conv4_1 0.995 / 0.98,
   res4a_branch2b 1.00 / 0.98; C = K = 256 at 112 x 112 0.95 / 0.96 and C =
   256, K = 128 at 224 x 224 0.94 / 0.95, whose three input rows (700 KB at
   224) do not fit beside the panel, yet they gained the most; MMA BPA
   gpt_proj (two-register-block panels, 3 ci blocks instead of 4) 0.98 /
   0.99, bert_ffn_up (ci 3072 in one block) 1.00 / 1.00; the 1x1 layers
   over 2048 channels on 7 x 7 rows, now one ci block (a narrow panel also
   holds a zero float a channel), FWD res5b_branch2a 0.99 / 0.97, BPA
   res5a_branch2c 0.99 / 1.00.  With the AVX2
   kernels (4 register blocks a task where the old cap allowed 3): conv3_2
   FWD 0.98 / 0.99, res4a_branch2b FWD 0.99 / 1.02, BPA 1.00 / 0.99.  A
   2 MiB L2 gets 768 KiB too; machines with less than 1 MiB untimed. */
#define BLK_MAX CBP_BLK_MAX /* widest channel block of a task: one or more register blocks */
#define BLK_WIDE (2 * BLK_MAX) /* ... of an input-bound one-tap task (wide_blocks) */
#define ROW_RBS 4 /* register blocks of a one-tap task over wide rows (row_blocks) */
#define BLK_LARGEST (ROW_RBS * BLK_MAX) /* bound of any task's channel block */

size_t cbp_l2_bytes(void) {
  long l2 = -1;
#ifdef _SC_LEVEL2_CACHE_SIZE
  l2 = sysconf(_SC_LEVEL2_CACHE_SIZE);
#endif
  return l2 > 0 ? (size_t)l2 : 0;
}

size_t cbp_l2_bytes_or_1mib(void) {
  const size_t l2 = cbp_l2_bytes();
  return l2 ? l2 : (size_t)1 << 20;
}

int cbp_beyond_l2(size_t bytes, int threads) {
  return bytes > cbp_l2_bytes_or_1mib() * (size_t)(threads > 1 ? threads : 1);
}

static size_t panel_cap(void) {
  size_t l2 = cbp_l2_bytes();
  size_t cap = l2 > 0 ? l2 / 4 * 3 : (size_t)256 << 10;
  if (cap < ((size_t)128 << 10)) cap = (size_t)128 << 10;
  if (cap > ((size_t)768 << 10)) cap = (size_t)768 << 10;
  return cap / sizeof(float);
}

/* Room for one row of weights per tap and one zero float, or the cap. */
static size_t panel_floats(int ntaps, size_t cap) {
  size_t one_row = (size_t)ntaps * BLK_LARGEST + 1;
  return one_row > cap ? one_row : cap;
}

/* Per thread: the weight panel (and after it, on narrow outputs, the zero row),
   the tile's taps, and per tap: valid index, partial tap index and its pixel
   range within a row, the output columns it reaches, and the valid taps of
   the row whose calls are kept (row_memo). */
enum { TAP_INTS = 7, CLAIM_BYTES = 64 /* a pair's shared rows (see claim_rows) */ };
static size_t slice_bytes(int ntaps, size_t cap) {
  size_t b = panel_floats(ntaps, cap) * sizeof(float) +
             (size_t)ntaps * (sizeof(cbp_ktap) + TAP_INTS * sizeof(int));
  return ((b + 63) & ~(size_t)63) + CLAIM_BYTES;
}

/* Bytes of one thread's slice: bounds slice_bytes for any ntaps up to the one
   given (stride phases have fewer taps than the kernel). */
static int slice_bound(int ntaps, size_t *per) {
  size_t taps;
  if (ntaps < 0 ||
      cbp_mul((size_t)ntaps, sizeof(cbp_ktap) + TAP_INTS * sizeof(int) + BLK_LARGEST * sizeof(float),
              &taps) ||
      cbp_add(taps, (panel_cap() + 1) * sizeof(float), per) || cbp_round64(*per, per) ||
      cbp_add(*per, CLAIM_BYTES, per))
    return CONVBP_ERR_OVERFLOW;
  return CONVBP_OK;
}

/* One slice per thread. */
int cbp_dconv_workspace(int ntaps, int threads, size_t *bytes) {
  size_t per;
  *bytes = 0;
  if (threads < 1 || slice_bound(ntaps, &per) || cbp_mul(per, (size_t)threads, bytes))
    return CONVBP_ERR_OVERFLOW;
  return CONVBP_OK;
}

void *cbp_dconv_thread_ws(void *ws, int ntaps, int tid) {
  size_t per = 0;
  slice_bound(ntaps, &per); /* no overflow: ws has room for slices 0 .. tid */
  return (char *)ws + per * (size_t)tid;
}

static int ceil_div(int a, int b) { return (a + b - 1) / b; }

/* Where tap t reads output pixel (oh, ow) of an image: its input channels i0.. */
static const float *tap_input(const cbp_dconv_desc *d, int t, const float *inimg, int oh, int ow,
                              int i0) {
  const cbp_dtap *tp = &d->taps[t];
  return inimg + ((ptrdiff_t)(oh * d->sh + tp->dh) * d->wi + (ptrdiff_t)ow * d->sw + tp->dw) * d->ci +
         i0;
}

/* The pixels [*pa, *pb) of a tile of np pixels from column ow that tap t
   reaches, from the columns [col_lo[t], col_end[t]) it reaches in a row
   (empty when *pa >= *pb). */
static void tap_reach(const int *col_lo, const int *col_end, int t, int ow, int np, int *pa,
                      int *pb) {
  *pa = col_lo[t] > ow ? col_lo[t] - ow : 0;
  *pb = col_end[t] - ow < np ? col_end[t] - ow : np;
}

/* kt: tap t for the tile's pixels from p0 (ow + p0), all reached: the first
   pixel's input, the others being sw * ci floats apart along the row (the
   in_step of row_tiles' calls); its weights are rows of rw floats (one
   register block) of the panel.  A list of every pixel's pointer, written
   here and read back by the tile, took 19% of small_3x3's FWD samples
   (perf; 16 channels, so 16 FMA steps a tap).  Zen 5, medians of 5
   alternating rounds, time against the list, 1 / 2 threads: small_3x3 FWD
   0.89 / 0.93, BPA 0.88 / 0.92, small_dilated 0.90 / 0.94; the stem FWD
   0.94, BPA 0.97 (one thread, 3 rounds); resnet50's 3x3 and 1x1 layers
   0.98-1.00; AVX2 kernels: small_3x3 0.92, the stem 0.97; bpw_conv_a_do,
   whose taps reduce over the batch (8 channels), res3a_branch1 0.84 / 0.89,
   res2a_branch2b 0.94 / 0.96 (3 rounds). */
static void fill_tap(cbp_ktap *kt, const cbp_dconv_desc *d, int t, const float *inimg, int oh,
                     int ow, int p0, int i0, const float *panel, int cn, int rw) {
  kt->in[0] = tap_input(d, t, inimg, oh, ow + p0, i0);
  kt->w = panel + (size_t)t * cn * rw;
  kt->lo = kt->hi = 0;
}

/* A channel block of cw output channels in register sub-blocks of rw (the
   last one narrower).  The panel holds them one after another, soff floats
   apart: panel[s][t][i][0..rw).  A tile's taps are found once and its calls
   repeated for each sub-block while its input rows are in L1. */
typedef struct {
  int rw, cw, vl;
  size_t soff; /* ntaps * cn * rw */
} cbp_subs;

/* One call of a tile: taps kt[start..end) of ci input channels each over
   pixels p0..p0+np-1, accumulating into the output or not; skip: some of
   them skip border pixels (cbp_ktap's lo, hi: the ISA's conv_tile_skip). */
typedef struct {
  int start, end, p0, np, accumulate, ci, skip;
} tile_call;

static void run_subs(const cbp_direct_isa *isa, const cbp_subs *sb, cbp_ktap *kt, int nkt,
                     const tile_call *calls, int ncalls, ptrdiff_t in_step, float *out,
                     ptrdiff_t out_pix) {
  for (int c0 = 0; c0 < sb->cw; c0 += sb->rw) {
    const int sub_cw = sb->cw - c0 < sb->rw ? sb->cw - c0 : sb->rw; /* channels of this sub-block */
    const int nv = ceil_div(sub_cw, sb->vl), last = sub_cw - (nv - 1) * sb->vl;
    if (c0 > 0)
      for (int q = 0; q < nkt; q++) kt[q].w += sb->soff;
    for (int c = 0; c < ncalls; c++)
      (calls[c].skip ? isa->conv_tile_skip : isa->conv_tile)(
          calls[c].np, nv, kt + calls[c].start, calls[c].end - calls[c].start, calls[c].ci,
          in_step, sb->rw, out + c0 + calls[c].p0 * out_pix, out_pix, last, calls[c].accumulate);
  }
}

/* Whether every tap reaches every output pixel (no padding to skip): then
   tiles across row ends multiply no zeros. */
static int taps_reach_all(const cbp_dconv_desc *d) {
  for (int t = 0; t < d->ntaps; t++) {
    const cbp_dtap *tp = &d->taps[t];
    if (tp->dh < 0 || tp->dw < 0 || (long)(d->ho - 1) * d->sh + tp->dh >= d->hi ||
        (long)(d->wo - 1) * d->sw + tp->dw >= d->wi)
      return 0;
  }
  return 1;
}

/* Output row r of the flattened (image, row) index: out(r / ho, r % ho, 0, 0). */
static float *row_out(const cbp_dconv_desc *d, float *out, long r) {
  return out + r / d->ho * d->out_img + r % d->ho * d->out_row;
}

/* Asks for the output lines of the next tile, min(px_left, tile_px) pixels x
   cw channels from o, for writing, before the tile that writes them.  A tile
   writes its output lines once per input-channel block, and in the first
   (usually the only) block they are not in cache: a channel block's output is
   written in one pass over the rows.  Prefetched one tile ahead, their fetch
   overlaps a tile's FMAs rather than holding up its stores.  Zen 3 EPYC
   (AVX2), medians of 41 alternating rounds in one process, 1 / 2 threads: BPA
   res2a_branch2b 1.12x / 1.09x, res3a_branch2b 1.04x / 1.04x, res4a_branch2b
   1.05x / 1.04x, res5a_branch2b 1.02x / 1.02x; with an earlier form of it,
   res2a_branch1 BPA 1.09x / 1.06x, FWD res3a_branch2b 1.05x / 1.04x and
   res5a_branch2b 1.04x / 1.03x, while res2b_branch2a BPA gave 0.92x / 1.13x
   (this guest's noise: code it did not touch moved 0.98x in the same runs).
   The narrow tiles, two runs of the same kind: BPA res4a_branch2c 1.05x /
   1.04x twice, res5a_branch2c 1.00x and 1.02x / 1.03x and 1.02x,
   res5b_branch2a 1.00x and 0.99x / 1.08x and 1.04x, res4b_branch2a 1.15x and
   0.97x / 1.17x twice; FWD res4b_branch2a 1.05x / 1.04x.
   Zen 5 EPYC (AVX-512), the same way (21 rounds; 41 for res3b and the FWD
   and second res4b runs), 1 / 2 threads: BPA res2a_branch2b 1.03x / 1.02x,
   res3a_branch2b 1.03x / 1.01x, res4a_branch2b 1.02x / 1.01x, res5a_branch2b
   1.01x / 1.01x, res2a_branch1 1.00x / 0.97x; the narrow 1x1 tiles within
   this guest's noise: BPA res4b_branch2a 0.98x and 1.00x / 0.98x twice,
   res3b_branch2a 0.98x / 0.99x, res5b_branch2a 1.01x / 1.00x,
   res4a_branch2c 1.01x / 0.99x; FWD res4b_branch2a 1.00x / 0.98x,
   res3b_branch2a 1.01x / 0.99x.  Kept on both. */
static void prefetch_out(const float *o, long px_left, int tile_px, ptrdiff_t out_pix, int cw) {
  const int npx = px_left < tile_px ? (int)px_left : tile_px; /* one tile, or what is left */
  for (int p = 0; p < npx; p++)
    for (int c = 0; c < cw; c += 16) /* a 64-byte line */
      __builtin_prefetch(o + p * out_pix + c, 1, 3);
}

/* row_tiles' prefetch flags, settled once a call (engine_plan.pf) */
enum {
  PF_IN = 1,  /* the next tile's input rows, for one tap (see prefetch_in) */
  PF_FAR = 2, /* the output two tiles ahead as well as one (see far_output) */
  PF_RUN = 4  /* the output a tile ahead in runs of tiles too (see far_runs) */
};

/* The output of a tile that runs later: the row's tile from column ow while
   the row has pixels left, else next_orow's (if any) from column ow - wo. */
static void prefetch_next_out(const cbp_dconv_desc *d, const cbp_subs *sb, const float *orow,
                              int ow, const float *next_orow, int tile_px) {
  if (ow < d->wo)
    prefetch_out(orow + ow * d->out_pix, d->wo - ow, tile_px, d->out_pix, sb->cw);
  else if (next_orow && ow - d->wo < d->wo)
    prefetch_out(next_orow + (ow - d->wo) * d->out_pix, 2 * d->wo - ow, tile_px, d->out_pix,
                 sb->cw);
}

/* Asks for the input rows of the next tile of a one-tap convolution: npx
   pixels, step floats apart, cn floats (the ci block) each, from ip.  With
   one tap a tile reads each pixel's input row once, as np interleaved
   streams of cn floats too short for the hardware prefetcher to ramp up,
   and where they come from memory the tile waits on them.  Fetched one tile
   ahead, they come in under the current tile's FMAs.  Zen 5 EPYC, medians
   of 15-31 alternating rounds in one process, against no prefetch, 1 / 2
   threads: BPA res2a_branch1 (ci 256, co 64) 1.16x, 1.13x / 1.16x, 1.23x;
   FWD res2b_branch2a (256, 64) 1.17x, 1.20x / 1.23x, 1.23x; BPA
   res3a_branch2c (512, 128) 1.04x, 1.06x / 1.05x, 1.00x; FWD res3b_branch2a
   (512, 128) 1.04x, 1.06x / 1.04x, 1.00x; with the AVX2 kernels
   (CONVBP_ISA=avx2) 1.19x / 1.11x, 1.17x / 1.11x, 1.01x / 1.02x and 1.01x /
   1.04x.  With several taps it gained little or lost (the 3x3 layers
   0.96-1.08x, the stem 0.75-0.95x).
   Only for an input of PF_IN_MIN_L2S L2s or more (input_bytes): the gains
   above are from inputs of 12.8-25.7 MB, which come from memory.  A smaller
   one stays in the outer caches, from which the hardware prefetcher keeps
   up, and the prefetches (a line per 16 input channels of a pixel) only
   cost issue slots and miss buffers (perf, MMA BPA 2048 x 256 x 64 on one
   thread: 5.7% of the samples on their loop).  Zen 5 EPYC (1 MiB L2),
   medians of 3 rounds, each timing both forms in one process (a null run
   0.97-1.04), time without the prefetch against with it, 1 / 2 threads:
   MMA BPA 1024 x 256 x 64 (1 MB of input) 0.95 / 0.95, 2048 x 256 x 64 (2
   MB) 0.94 / 0.97, 4096 x 256 x 64 0.96 / 0.97, 2048 x 512 x 128 (4 MB)
   0.97 / 1.01; BPA res2a_branch1 at N = 1 (3.2 MB) 0.96 / 0.95, N = 2
   0.96 / 0.97; but at N = 4 (12.8 MB) 1.12 / 0.98, and MMA BPA 8192 x 256
   x 64 (8 MiB) 1.06 / 0.98, 32768 x 256 x 64 1.13 / 1.16.  With the rule,
   against the prefetch everywhere (a null run 0.95-1.03): MMA BPA 1024 x
   256 x 64 0.97 / 0.94, 2048 x 256 x 64 0.96 / 0.98, 2048 x 512 x 128 0.97
   / 1.04 (two threads each stream all 4 MB for a block of their own); BPA
   res2a_branch1 at N = 1 0.94 / 0.96; FWD res2b_branch2a at N = 1 0.96 /
   0.95 (its null 1.00 / 0.95); from 8 MiB up, where nothing changed,
   0.97-1.02.
   Whatever ci is against co.  Up to 4506a36 the rule also asked for ci
   >= 4 co, from losses at res2a_branch2a (64, 64) 0.97x / 0.95x, FWD
   res3a_branch2c (128, 512) 0.95x / 0.94x and BPA res3b_branch2a (128,
   512) 0.96x / 0.96x: inputs of 3.2-6.4 MB, which the size rule now
   leaves out.  From 8 MiB up ci < 4 co gains as well; same method, medians
   of 5-7 rounds (null 0.95-1.04), time with the prefetch against without,
   1 / 2 threads: FWD res2a_branch1 at N = 32 (64, 256; 25.7 MB) 0.92 /
   0.82, FWD and BPA res2a_branch2a at N = 32 (64, 64) 0.84 / 0.90 and 0.94
   / 0.88, BPA res2b_branch2a at N = 32 (64, 256) 0.91 / 0.78, FWD
   res3a_branch1 at N = 8 (256, 512, stride 2) 0.91-0.93 / 0.91-0.94, its
   BPA 0.96 / 0.99; MMA BPA 32768 x 128 x 256 (16 MiB) 0.73 / 0.72, 16384 x
   256 x 256 0.87 / 0.79, 24576 x 128 x 128 0.77 / 0.77, 16384 x 128 x 128
   (8 MiB) 0.97-1.00 / 0.88-0.94; even at res4a's strided 1x1 FWD (12.8 MB)
   0.99-1.00.  The one loss: ci = co = 64 in a single channel block on two
   threads, MMA BPA 32768 x 64 x 64 1.02-1.06 (0.95-1.01 on one), 49152
   and 65536 x 64 x 64 1.02 (0.98, 0.94 on one). */
enum { PF_IN_MIN_L2S = 8 };
static void prefetch_in(const float *ip, int npx, ptrdiff_t step, int cn) {
  for (int p = 0; p < npx; p++, ip += step)
    for (int c = 0; c < cn; c += 16) /* a 64-byte line */
      __builtin_prefetch(ip + c, 0, 3);
}

/* Narrow outputs: tiles of tile_px consecutive pixels of the flattened index
   f in [f0, f1) (balanced, as the row tiles), crossing row and image ends.
   Each tap of a tile reads, per pixel, its input channels i0.. or the zero
   row where the tap falls outside the input; a tap that misses every pixel of
   the tile is left out. */
static void narrow_tiles(const cbp_dconv_desc *d, const cbp_direct_isa *isa, const cbp_subs *sb,
                         cbp_ktap *kt, const float *in, float *out, long f0, long f1, int i0,
                         int cn, const float *panel, const float *zeros, int tile_px,
                         int accumulate) {
  /* in locals: the stores into kt below could alias *d, and the compiler
     reloaded every field of it for each (tap, pixel) */
  const long hw = (long)d->ho * d->wo, wo = d->wo, sh = d->sh, sw = d->sw;
  const unsigned long hi = (unsigned long)d->hi, wi = (unsigned long)d->wi;
  const ptrdiff_t ci = d->ci, in_img = (ptrdiff_t)d->hi * d->wi * d->ci;
  const long ntiles = (f1 - f0 + tile_px - 1) / tile_px;
  for (long tile = 0, f = f0; tile < ntiles; tile++) {
    const int np = (int)((f1 - f + (ntiles - tile) - 1) / (ntiles - tile)); /* balanced */
    /* each pixel's input origin, once per tile, not once per tap: its image,
       and its row and column, whose offset in the image a tap's is added to */
    const float *img_in[CBP_TILE_MAX];
    long ih0[CBP_TILE_MAX], iw0[CBP_TILE_MAX];
    ptrdiff_t off0[CBP_TILE_MAX];
    /* divisions for the first pixel only, then a step along the row */
    long n = f / hw, oh = f % hw / wo, ow = f % hw % wo;
    for (int p = 0; p < np; p++) {
      img_in[p] = in + n * in_img + i0;
      ih0[p] = oh * sh;
      iw0[p] = ow * sw;
      off0[p] = (ih0[p] * (long)wi + iw0[p]) * ci;
      if (++ow == wo) {
        ow = 0;
        if (++oh == hw / wo) oh = 0, n++;
      }
    }
    int m = 0;
    for (int t = 0; t < d->ntaps; t++) {
      const long dh = d->taps[t].dh, dw = d->taps[t].dw;
      const ptrdiff_t toff = (dh * (long)wi + dw) * ci;
      const float **kin = kt[m].in;
      long reached = 0;
      /* 0 <= ih < hi and 0 <= iw < wi, each as one unsigned compare, with
         no branch, so that the loop runs in vectors */
      for (int p = 0; p < np; p++) {
        const long inside =
            ((unsigned long)(ih0[p] + dh) < hi) & ((unsigned long)(iw0[p] + dw) < wi);
        kin[p] = inside ? img_in[p] + (off0[p] + toff) : zeros;
        reached |= inside;
      }
      if (!reached) continue;
      kt[m++].w = panel + (size_t)t * cn * sb->rw;
    }
    const tile_call call = {0, m, 0, np, accumulate, cn, 0};
    if (f + np < f1) /* the next tile's output, as the row tiles do */
      prefetch_out(out + (f + np) * d->out_pix, f1 - f - np, tile_px, d->out_pix, sb->cw);
    run_subs(isa, sb, kt, m, &call, 1, 0, out + f * d->out_pix, d->out_pix);
    f += np;
  }
}

/* panel[t][i][j] = W_t(i0 + i, co0 + j), j < cw, in rows of rw floats, from
   weights stored transposed, W_t(i, co) = w[co*w_ld + i] (FWD reading KRSC in
   place): the ISA's transpose, 8 x 8 blocks in registers.  The scalar 16 x 16
   blocks it replaced took 21% of FWD res5a_branch2b's samples on one thread
   (perf; 8% now), where the weights are 9.4 MB and every one is moved once a
   call.  Zen 5 EPYC, medians of 3 alternating rounds, time against the scalar
   blocks, 1 / 2 threads: res5a_branch2b 0.87 / 0.87, res5a_branch2c 0.93 /
   0.92, res4a_branch2b 0.95 / 0.97, res2a's and res3a's 3x3 0.99-1.01, the
   main job's small_s2 0.83 / 0.78; AVX2 kernels, res5a_branch2b 0.88 / 0.89. */
static void pack_transposed(const cbp_dconv_desc *d, const cbp_direct_isa *isa, float *panel,
                            int i0, int cn, int co0, int cw, int rw) {
  for (int t = 0; t < d->ntaps; t++)
    isa->transpose(d->taps[t].w + (ptrdiff_t)co0 * d->w_ld + i0, d->w_ld, cw, cn,
                   panel + (size_t)t * cn * rw, rw);
}

/* dst[0..n) = src[0..n) for a register block's row, n <= 64 floats (nv_max
   x vl): pieces of 32, 32, 16, 8, 4, 2 and 1 floats, each a copy of
   constant size that the compiler inlines as vector moves.  As a memcpy
   call a row (32-256 bytes) the copy was 34% of kernel_larger_than_image's
   BPA samples (perf, Zen 4; 25 taps x 32 rows of 32 floats a call), and
   this way that BPA took 0.97 / 0.91 of the time on 1 / 2 threads; a loop
   of such copies GCC turned back into one memmove call. */
static void copy_row(float *restrict dst, const float *restrict src, int n) {
  assert(n >= 0 && n <= 64);
  int j = 0;
#define CBP_COPY_PIECE(F)                                \
  if (n - j >= (F)) {                                   \
    memcpy(dst + j, src + j, (F) * sizeof(float));      \
    j += (F);                                           \
  }
  CBP_COPY_PIECE(32) CBP_COPY_PIECE(32) CBP_COPY_PIECE(16) CBP_COPY_PIECE(8)
  CBP_COPY_PIECE(4) CBP_COPY_PIECE(2) CBP_COPY_PIECE(1)
#undef CBP_COPY_PIECE
}

/* The panel of channel block co0 .. co0 + sb->cw and input channels i0 ..
   i0 + cn, one register sub-block after another, sb->soff floats apart:
   panel[s][t][i][j] = W_t(i0 + i, co0 + s*rw + j). */
static void pack_panel(const cbp_dconv_desc *d, const cbp_direct_isa *isa, const cbp_subs *sb,
                       float *panel, int i0, int cn, int co0) {
  const int rw = sb->rw;
  for (int s = 0, c0 = 0; c0 < sb->cw; s++, c0 += rw) {
    const int sub_cw = sb->cw - c0 < rw ? sb->cw - c0 : rw;
    float *ps = panel + s * sb->soff;
    if (d->w_trans)
      pack_transposed(d, isa, ps, i0, cn, co0 + c0, sub_cw, rw);
    else
      for (int i = 0; i < cn; i++) /* i outer: one k row of W is one stretch of memory */
        for (int t = 0; t < d->ntaps; t++)
          copy_row(ps + ((size_t)t * cn + i) * rw, d->taps[t].w + (i0 + i) * d->w_ld + co0 + c0,
                   sub_cw);
  }
}

/* The calls of the last row that ran as a single tile, and what they were
   built for: a later row with the same valid taps, ci block, panel and
   accumulate flag runs the same calls, each tap's input moved by as many
   floats as the row's input origin (row_tiles).  ok = 0: none kept. */
typedef struct {
  int ok, nt, i0, cn, accumulate, m, ncalls;
  int *valid;          /* nt valid taps */
  const float *panel, *row_in;
} row_memo;

/* A thread's scratch for row_tiles: a tile's tap list and its calls, the taps
   whose input row exists, the border taps not yet in a call with the pixels
   [part_a, part_b) they reach, and the columns each tap reaches in a row,
   [col_lo[t], col_end[t]) (see tap_reach). */
typedef struct {
  cbp_ktap *kt;
  tile_call *calls;
  int *valid, *part, *part_a, *part_b;
  const int *col_lo, *col_end;
  row_memo *memo;
} row_scratch;

/* Whether the g taps t, t+1, ... (a merged group: input columns rising by
   one) all reach the pixels [0, np) of a tile from column ow: the first has
   the highest first column, the last the lowest last one. */
static int group_reaches_all(const row_scratch *sc, int t, int g, int ow, int np) {
  int pa, pb, qa, qb;
  tap_reach(sc->col_lo, sc->col_end, t, ow, np, &pa, &pb);
  tap_reach(sc->col_lo, sc->col_end, t + g - 1, ow, np, &qa, &qb);
  return pa == 0 && qb == np;
}

/* Pixels of tile `tile` of a row of wo pixels in ntiles tiles.  Balanced
   (14 = 5+4+5), the larger tiles at the two ends: the border taps of an end
   tile run over all its pixels but one, and a 3-pixel call (6 accumulators
   on AVX2) leaves the FMA units idle for want of independent sums.
   Positions ranked 0, 2, 4, ... from the left and 1, 3, ... from the right;
   the rem lowest ranks get a pixel more.  AVX2 res4a_branch2b BPA, one
   thread, medians of 15 alternating rounds in one process (Zen 5): 16.91 ->
   16.38 ms against 5+5+4; res2a's and res3a's rows and the AVX-512 tiles
   unchanged within 1%. */
static int tile_pixels(int wo, int ntiles, int tile) {
  const int rank = tile <= ntiles - 1 - tile ? 2 * tile : 2 * (ntiles - 1 - tile) + 1;
  return wo / ntiles + (rank < wo % ntiles);
}

/* Whether one_tap_tiles runs its row as runs of tiles (one_tap_runs): with
   at most RUN_CI_MAX input channels, the row tiles of np_max - 1 and np_max
   pixels (or the thin tiles' thin_np - 1 and thin_np) and no input
   prefetch (PF_IN, whose prefetches go tile by tile).
   Zen 4, medians of 6 alternating rounds, time against a tile a call, 1 / 2
   threads: MMA BPA 424 x 4 x 264 0.61 / 0.54, 4096 x 4 x 256 0.60 / 0.60,
   491 x 7 x 595 0.70 / 0.69, 564 x 16 x 395 0.82 / 0.79, 2048 x 32 x 256
   0.88 / 0.72; FWD 1x1 at 56 x 56 (N = 8, K = 64), C = 4 0.62 / 0.63, C =
   16 0.82 / 0.79; BPA of K = 16 0.84 / 0.85; thin tiles, 6 rounds
   against a tile a call: MMA BPA 4096 x 8 x 16 0.75 / 0.71, 457 x 12 x 15
   0.87 / 0.84, FWD 1x1 of C = K = 8 at 56 x 56 0.70 / 0.76, C = K = 16
   0.89 / 0.91 (README, "The blocked direct engine"). */
enum { RUN_CI_MAX = 32, RUN_IN_BYTES = 16384 };
static int tile_runs(const cbp_dconv_desc *d, const cbp_direct_isa *isa, int cn, int ntiles,
                     int tile_px, int pf) {
  return cn <= RUN_CI_MAX && (tile_px == isa->np_max || tile_px == isa->thin_np) &&
         d->wo / ntiles >= tile_px - 1 && !(pf & PF_IN);
}

/* one_tap_tiles' row of ntiles tiles as the ISA's runs of tiles (conv_run),
   in two runs: the wo % ntiles tiles of one pixel more first, then the
   others (tile_pixels' sizes, in another order).  With several register
   blocks, the runs go in stretches of RUN_IN_BYTES of input, each block in
   turn over a stretch while its input is in L1.  in: the tap's input at
   the row's first pixel; w: its weights in the panel's first block.  A
   function apart, as tile_again, so that one_tap_tiles' tile loop keeps
   its registers (timed even with it inlined: 0.97-1.08x, 4 rounds). */
static __attribute__((noinline)) void one_tap_runs(const cbp_dconv_desc *d,
                                                  const cbp_direct_isa *isa, const cbp_subs *sb,
                                                  const float *in, const float *w, float *orow,
                                                  int ntiles, int cn, int pf, int accumulate) {
  const ptrdiff_t in_step = (ptrdiff_t)d->sw * d->ci;
  const int base = d->wo / ntiles, big = d->wo % ntiles, several = sb->cw > sb->rw;
  for (int run = 0, ow = 0; run < 2; run++) {
    const int np = base + (run == 0), n = run == 0 ? big : ntiles - big;
    const size_t tile_bytes = (size_t)np * cn * sizeof(float);
    const int fit = (int)(RUN_IN_BYTES / tile_bytes), per = !several ? n : fit > 1 ? fit : 1;
    for (int j = 0; j < n; j += per) {
      const int count = n - j < per ? n - j : per;
      for (int c0 = 0, s = 0; c0 < sb->cw; c0 += sb->rw, s++) {
        const int sub_cw = sb->cw - c0 < sb->rw ? sb->cw - c0 : sb->rw;
        const int nv = ceil_div(sub_cw, sb->vl), last = sub_cw - (nv - 1) * sb->vl;
        isa->conv_run(count, np, nv, in + ow * in_step, in_step, w + s * sb->soff, sb->rw, cn,
                      orow + (ptrdiff_t)ow * d->out_pix + c0, d->out_pix, last, accumulate, pf);
      }
      ow += count * np;
    }
  }
}

/* row_tiles for a row of several tiles whose one tap t reaches every pixel
   (the 1x1 layers, the MMA ops' rows of M pixels): each tile is one call of
   that tap, built here without the tap lists, ranges and call lists of the
   general case.  And no output prefetch where each tile writes whole output
   pixels with AVX-512 (the channel block is the pixel, out_pix == cw): the
   tiles then write one contiguous stream, which the hardware prefetcher
   follows, and the prefetches only cost.  Zen 5 EPYC, medians of 3 rounds,
   each timing the two forms in one process, time against the general path
   (a null run of the same path twice read 0.98-1.03), 1 / 2 threads:
     contiguous (no prefetch): FWD res2a_branch2a 0.93 / 0.95 and 0.94 /
     0.94, res2b_branch2a 0.93 / 0.94 and 0.87 / 0.95; BPA res2a_branch1
     0.93 / 0.97 and 0.94 / 0.92, res2a_branch2a 0.92 / 0.93 and 0.93 /
     0.94; MMA BPA 512 x 64 x 64 0.94 / 0.89, 32768 x 64 x 64 0.98 / 0.95,
     4096 x 128 x 64 0.96 / 0.96, 2101 x 40 x 31 0.86 / 0.91;
     several channel blocks (prefetch kept): FWD res2a_branch1 0.94 / 0.95,
     res3a_branch2c 0.98 / 0.98, res3b_branch2a 0.97 / 0.98; BPA
     res2b_branch2a 0.97 / 0.94, res3a_branch2c 1.00 / 0.97, res3b_branch2a
     0.99 / 0.97; MMA BPA 16384 x 64 x 256 0.97 / 0.98, 8192 x 128 x 512
     0.98 / 0.97, bert_qkv 1.02 / 1.00.
   Without the prefetch where the channel blocks are strided, 8192 x 128 x
   512 took 1.22x / 1.11x as long.  Contiguous outputs beyond L2 lose too
   where memory is slow: in the 2 of 12 processes in which oneDNN took 1.2x
   its usual time, 32768 x 64 x 64 on one thread took 1.07 and 1.11 (median
   of the 12 0.93; two threads 0.92-0.97 in all 9).  AVX2 keeps the
   prefetch: on Zen 3 it gained 1.09x / 1.06x on BPA res2a_branch1, whose
   output is contiguous (see prefetch_out). */
static void one_tap_tiles(const cbp_dconv_desc *d, const cbp_direct_isa *isa, const cbp_subs *sb,
                          const row_scratch *sc, const float *inimg, int oh, float *orow,
                          float *next_orow, int t, int i0, int cn, const float *panel,
                          int tile_px, int pf, int accumulate) {
  cbp_ktap *kt = sc->kt;
  const int ntiles = ceil_div(d->wo, tile_px);
  const int pf_out = !(isa->vl >= 16 && d->out_pix == sb->cw);
  const ptrdiff_t in_step = (ptrdiff_t)d->sw * d->ci;
  if (tile_runs(d, isa, cn, ntiles, tile_px, pf)) {
    const int ahead = pf_out && (pf & PF_RUN) ? (pf & PF_FAR ? 2 : 1) : 0;
    one_tap_runs(d, isa, sb, tap_input(d, t, inimg, oh, 0, i0), panel + (size_t)t * cn * sb->rw,
                 orow, ntiles, cn, ahead, accumulate);
    if (ahead) prefetch_next_out(d, sb, orow, d->wo, next_orow, tile_px);
    return;
  }
  for (int tile = 0, ow = 0; tile < ntiles; tile++) {
    const int np = tile_pixels(d->wo, ntiles, tile), left = d->wo - ow - np;
    const tile_call call = {0, 1, 0, np, accumulate, cn, 0};
    fill_tap(kt, d, t, inimg, oh, ow, 0, i0, panel, cn, sb->rw);
    if ((pf & PF_IN) && left > 0)
      prefetch_in(tap_input(d, t, inimg, oh, ow + np, i0), left < tile_px ? left : tile_px,
                  in_step, cn);
    if (pf_out) prefetch_next_out(d, sb, orow, ow + np, next_orow, tile_px);
    if (pf_out && (pf & PF_FAR)) /* and the tile after it, here or in next_orow */
      prefetch_next_out(d, sb, orow, ow + np + tile_px, next_orow, tile_px);
    run_subs(isa, sb, kt, 1, &call, 1, in_step, orow + ow * d->out_pix, d->out_pix);
    ow += np;
  }
}

/* row_tiles: the tile of np pixels from column ow after one of prev_np
   pixels whose single call of m full taps is in sc (kt[0..m), calls[0]),
   all of which reach all of this tile's pixels too: the same call, each
   tap's input moved along by prev_np pixels.  A function apart, so that the
   tile loop keeps its registers. */
static __attribute__((noinline)) void tile_again(const cbp_dconv_desc *d,
                                                 const cbp_direct_isa *isa, const cbp_subs *sb,
                                                 const row_scratch *sc, int m, int prev_np, int np,
                                                 float *orow, int ow, float *next_orow,
                                                 int tile_px) {
  const ptrdiff_t step = (ptrdiff_t)prev_np * d->sw * d->ci;
  /* run_subs left each tap's weights at its last register block */
  const size_t back = (size_t)(ceil_div(sb->cw, sb->rw) - 1) * sb->soff;
  for (int q = 0; q < m; q++) sc->kt[q].in[0] += step, sc->kt[q].w -= back;
  sc->calls[0].np = np;
  prefetch_next_out(d, sb, orow, ow + np, next_orow, tile_px);
  run_subs(isa, sb, sc->kt, m, sc->calls, 1, (ptrdiff_t)d->sw * d->ci, orow + ow * d->out_pix,
           d->out_pix);
}

/* Output row r (of the flattened (image, row) index) at orow, channels of the
   block sb, input channels i0 .. i0 + cn, in tiles of about tile_px pixels
   (see the top); next_orow: the row the thread runs next in this block, whose
   first tile is prefetched after this row's last, or NULL.  pf: PF_IN, prefetch
   the next tile's input rows when the row has a single tap; PF_FAR, a single
   tap's output two tiles ahead too. */
static void row_tiles(const cbp_dconv_desc *d, const cbp_direct_isa *isa, const cbp_subs *sb,
                      const row_scratch *sc, const float *in, long r, float *orow,
                      float *next_orow, int i0, int cn, const float *panel, int tile_px, int pf,
                      int g, int accumulate) {
  const int img = (int)(r / d->ho), oh = (int)(r % d->ho);
  const float *inimg = in + img * (ptrdiff_t)d->hi * d->wi * d->ci;
  cbp_ktap *kt = sc->kt;
  int *valid = sc->valid, *part = sc->part, *part_a = sc->part_a, *part_b = sc->part_b;
  int nt = 0;
  for (int t = 0; t < d->ntaps; t++) {
    const int ih = oh * d->sh + d->taps[t].dh;
    if (ih >= 0 && ih < d->hi) valid[nt++] = t;
  }
  const int ntiles = ceil_div(d->wo, tile_px);
  /* A row of one tile (small images) whose calls were built for a row like
     it: the taps, their ranges and calls are the same, only their input
     moves along.  Building them was most of the engine's share of small_3x3
     (15% of its samples, 9 taps of 16 channels a row).  One register block
     only: run_subs moves the taps' weights for the next one. */
  row_memo *mo = sc->memo;
  const float *row_in = inimg + (ptrdiff_t)oh * d->sh * d->wi * d->ci;
  const int one = ntiles == 1 && sb->cw <= sb->rw;
  if (one && mo->ok && mo->nt == nt && mo->i0 == i0 && mo->cn == cn && mo->panel == panel &&
      mo->accumulate == accumulate && !memcmp(mo->valid, valid, (size_t)nt * sizeof(int))) {
    const ptrdiff_t delta = row_in - mo->row_in;
    for (int q = 0; q < mo->m; q++) kt[q].in[0] += delta;
    mo->row_in = row_in;
    if (next_orow) prefetch_out(next_orow, d->wo, tile_px, d->out_pix, sb->cw);
    run_subs(isa, sb, kt, mo->m, sc->calls, mo->ncalls, (ptrdiff_t)d->sw * d->ci, orow,
             d->out_pix);
    return;
  }
  mo->ok = 0;
  if (nt == 1 && g == 1 && ntiles > 1 && sc->col_lo[valid[0]] == 0 &&
      sc->col_end[valid[0]] >= d->wo) {
    one_tap_tiles(d, isa, sb, sc, inimg, oh, orow, next_orow, valid[0], i0, cn, panel, tile_px,
                  pf, accumulate);
    return;
  }
  /* Columns [in_lo, in_end) every valid tap reaches.  A tile inside them
     after one that was runs the same single call of the same taps, each
     tap's input moved along by the earlier tile's pixels (tile_again): only
     the first such tile of a row builds its taps and calls.  With few input
     channels building them cost as much as a tile's FMAs: 15% of a 3x3 FWD
     of C = 3 in run_rows (perf).  Zen 4, medians of 5 alternating rounds, 1
     / 2 threads: fwd_direct_blocked 3x3 at 64 x 64, C = 1 / 3 / 8, 1.04x /
     1.03x, 1.08x / 1.06x, 1.03x / 1.02x, VGG-16 conv1_1 1.05x / 1.09x;
     bpa_stride_phase_blocked 0.98-1.05x; see README for the rest. */
  int in_lo = 0, in_end = ntiles > 1 ? d->wo : 0; /* one tile: nothing to run again */
  for (int j = 0; j < nt && ntiles > 1; j++) {
    in_lo = sc->col_lo[valid[j]] > in_lo ? sc->col_lo[valid[j]] : in_lo;
    in_end = sc->col_end[valid[j]] < in_end ? sc->col_end[valid[j]] : in_end;
  }
  const int pf_in = (pf & PF_IN) && nt == 1;
  int again = 0, m = 0, prev_np = 0; /* again: kt[0..m) and calls[0] are the last tile's */
  for (int tile = 0, ow = 0; tile < ntiles; tile++) {
    const int np = tile_pixels(d->wo, ntiles, tile);
    const int inside = ow >= in_lo && ow + np <= in_end;
    if (again && inside) {
      tile_again(d, isa, sb, sc, m, prev_np, np, orow, ow, next_orow, tile_px);
      prev_np = np;
      ow += np;
      continue;
    }
    /* Taps that reach every pixel of the tile go in one call; a tap that
       misses some (padding) reaches a contiguous range [pa, pb) and joins a
       later, accumulating call with the taps of the same range. */
    int npart = 0, skipped = 0;
    m = 0;
    /* A tile of more than np_max pixels (the thin tiles, the row tile)
       leaves out up to CBP_SKIP_MAX pixels at either end of a tap itself
       (cbp_ktap's lo, hi), so such a border tap joins the call of the full
       ones: the accumulators stay in registers over every tap. */
    const int skips = np > isa->np_max;
    /* Merged groups first (g > 1, see merge_group): a group whose every tap
       reaches every pixel is one tap of g*cn channels. */
    if (g > 1)
      for (int j = 0; j < nt; j += g)
        if (group_reaches_all(sc, valid[j], g, ow, np))
          fill_tap(&kt[m++], d, valid[j], inimg, oh, ow, 0, i0, panel, cn, sb->rw);
    const int merged = m;
    for (int j = 0; j < nt; j++) {
      const int t = valid[j];
      if (merged && j % g == 0 && group_reaches_all(sc, t, g, ow, np)) {
        j += g - 1; /* in the merged call */
        continue;
      }
      int pa, pb;
      tap_reach(sc->col_lo, sc->col_end, t, ow, np, &pa, &pb);
      if (pa == 0 && pb == np)
        fill_tap(&kt[m++], d, t, inimg, oh, ow, 0, i0, panel, cn, sb->rw);
      else if (skips && pa < pb && pa <= CBP_SKIP_MAX && np - pb <= CBP_SKIP_MAX) {
        fill_tap(&kt[m], d, t, inimg, oh, ow, pa, i0, panel, cn, sb->rw);
        kt[m].lo = pa, kt[m++].hi = np - pb;
        skipped = 1;
      } else if (pa < pb)
        part[npart] = t, part_a[npart] = pa, part_b[npart] = pb, npart++;
    }
    int ncalls = 0;
    if (merged) sc->calls[ncalls++] = (tile_call){0, merged, 0, np, accumulate, g * cn, 0};
    if (!merged || m > merged)
      sc->calls[ncalls++] = (tile_call){merged, m, 0, np, merged ? 1 : accumulate, cn, skipped};
    while (npart > 0) {
      const int pa = part_a[0], pb = part_b[0], start = m;
      int keep = 0;
      for (int q = 0; q < npart; q++) {
        if (part_a[q] == pa && part_b[q] == pb)
          fill_tap(&kt[m++], d, part[q], inimg, oh, ow, pa, i0, panel, cn, sb->rw);
        else
          part[keep] = part[q], part_a[keep] = part_a[q], part_b[keep] = part_b[q], keep++;
      }
      npart = keep;
      sc->calls[ncalls++] = (tile_call){start, m, pa, pb - pa, 1, cn, 0};
    }
    const int left = d->wo - ow - np; /* pixels after this tile */
    if ((pf & PF_IN) && nt == 1 && left > 0) { /* its one tap, over the next tile's pixels */
      const int t = valid[0], ow2 = ow + np, nx = left < tile_px ? left : tile_px;
      int pa, pb;
      tap_reach(sc->col_lo, sc->col_end, t, ow2, nx, &pa, &pb);
      if (pa < pb)
        prefetch_in(tap_input(d, t, inimg, oh, ow2 + pa, i0), pb - pa, (ptrdiff_t)d->sw * d->ci,
                    cn);
    }
    prefetch_next_out(d, sb, orow, ow + np, next_orow, tile_px);
    run_subs(isa, sb, kt, m, sc->calls, ncalls, (ptrdiff_t)d->sw * d->ci, orow + ow * d->out_pix,
             d->out_pix);
    if (one) {
      *mo = (row_memo){1, nt, i0, cn, accumulate, m, ncalls, mo->valid, panel, row_in};
      memcpy(mo->valid, valid, (size_t)nt * sizeof(int));
    }
    again = inside && ncalls == 1 && !pf_in;
    prev_np = np;
    ow += np;
  }
}

/* No taps (a stride phase of BPA that no tap reaches, st > R*d: 3 of 4 at a
   1x1 stride 2): the output is zeros, one memset a pixel.  The tiles would
   pack an empty panel and store a register block at a time: 2-8% slower BPA on
   the strided 1x1 layers of resnet50 (res3a_branch1 146 against 142 GFLOP/s
   on one thread, 295 against 274 on two, medians of 5 alternating runs, Xeon
   model 167).  Streaming stores gained nothing more there; on a Zen 4 EPYC
   they did, where the output goes to memory anyway (medians of 7 alternating
   runs, 1 / 2 threads: res3a_branch2a 57.3 -> 82.3 / 111.0 -> 165.0 GFLOP/s,
   res4a_branch2a 86.3 -> 101.2 / 179.0 -> 199.5, res3a_branch1 +11 / +10%,
   res5a_branch2a +6 / +7%; oneDNN in the same runs -2.5..+5.8%), hence
   cbp_stream_between_stores. */
typedef struct {
  const cbp_dconv_desc *d;
  float *out;
  int stream;
} zero_job;

/* Thread tid of nth zeroes its contiguous 1/nth of the rows. */
static void zero_rows(void *ctx, int tid, int nth) {
  const zero_job *z = ctx;
  const cbp_dconv_desc *d = z->d;
  const long rows = (long)d->n * d->ho, r0 = rows * tid / nth, r1 = rows * (tid + 1) / nth;
  for (long r = r0; r < r1; r++) {
    float *row = row_out(d, z->out, r);
    for (int ow = 0; ow < d->wo; ow++) cbp_put(row + ow * d->out_pix, NULL, (size_t)d->co, z->stream);
  }
  if (z->stream) cbp_stream_fence();
}

static int zero_stream(const cbp_dconv_desc *d, int threads) {
  return cbp_stream_between_stores((size_t)d->n * d->out_img * sizeof(float), threads);
}

static void zero_output(const cbp_dconv_desc *d, int threads, float *out) {
  zero_job z = {d, out, zero_stream(d, threads)};
  cbp_parallel(threads, zero_rows, &z);
}

/* The shared channel block of a pair of threads (see run_chunk): its rows
   [sr0, sr1), claimed g or more at a time, the first thread from the top and the
   second (from_bottom) from the bottom, until they meet.  c = {next row from
   the top, end of the rows left, the chunk they are of, the pair's lock, the
   threads that have claimed (bit 1 the first, 2 the second)}: the first claim of
   a later chunk (epoch) starts them over, and a thread still in an earlier
   chunk, whose partner can only have moved on once every row of it was
   claimed, gets none.  0 when none are left.
   The rows are claimed as the first of ncib ci blocks runs them, and each
   costs ncib such passes in all: a thread alone on the block claims rows
   ncib times as fast as it will finish them.  So a thread's first claim
   (first) adds (ncib - 1)/ncib of the rows its partner has claimed before
   it came: those are the passes the partner still owes, and from then on
   the two claim at one pace.  Without it the first to arrive kept up to
   twice its share: res5a_branch2b BPA (two ci blocks) on the Zen 5 guest,
   2 threads, the second thread of the pair came a third of a block ahead
   (its blocks hold 16 fewer channels: the last has 32 of 48), took 39-47
   of the shared block's 56 rows and finished 0.13-0.24 ms after its
   partner; with it, 37-40 rows and within 0.05 ms in most calls.  A thread
   a of a block's work ahead alone claims ncib * a of its rows, more than
   its fair (1 + a) / 2 once a > 1 / (2 ncib - 1) (a third with two ci
   blocks): it then still finishes last.  Medians of 6 alternating rounds, 2 threads:
   res5a_branch2b FWD 1.036x, BPA 1.017x, res5a_branch2c and res5b_branch2a
   BPA 1.014x, res4a_branch2b 1.006x.
   So a thread alone on such a block (its partner has not claimed there yet)
   claims no further than split, the row where the pair's static shares
   meet (split < 0: no limit, see shared_split), and once its passes are
   done returns for the rows still unclaimed (run_block).  The first of a
   pair to reach the shared block is often a whole block ahead: with 96
   output channels (64 + 32 on AVX-512) the first thread starts on the 64,
   the second on the 32, and the first claimed every row of the 64 before
   the second came.  Zen 4 EPYC, 2 threads, BPA 5x5 pad 1-2 (C = 96, K =
   160: two ci blocks) at 5 x 5 and 9 x 9, N = 1 and 4, where the smaller
   share is 2 rows or more: medians of 21 rounds in 3 processes, 0.79-0.87x
   the time of claims without the limit (shares counted in vectors both).
   With one ci block a claim takes a quarter of the rows left when that is
   more than g (guided self-scheduling): each claim takes a lock (then an
   omp critical) on a line the other thread last wrote, and one row at a time the pair
   made a claim or more a row (11% of small_3x3 FWD's 2-thread time in
   GOMP_critical_name_start); the last claims are still g rows, so a slower
   vCPU still takes fewer.  Zen 5 EPYC, 2 threads, medians of 4 alternating
   rounds: the main job's small problems (FWD and BPA) 1.10-1.29x, the
   res2 layers and the stem 1.03-1.19x, res3-res5 0.97-1.06x (six rounds of
   res4 and res5 with the new build first: 0.99-1.02x).  Not with more ci
   blocks, whose claimed rows return in every later block: there a big
   early claim is a big late debt. */
enum { CLAIM_GUIDE = 4 };
#define CLAIM_FLOPS 262144.0 /* about 1.2 us of one core of the Zen 5 (see plan_engine) */

/* The pair's lock, c[3]: a spin on its own claim line, held for a few
   instructions.  An omp critical is one global lock whose waiter sleeps in
   the kernel when it spins too long; woken by the holder, the wake-up took a
   2-vCPU guest several us, and small_s2 BPA on two threads spent 9-25 us a
   call against 8 on one. */
static void claim_lock(long *lock) {
  while (__atomic_exchange_n(lock, 1, __ATOMIC_ACQUIRE))
    while (__atomic_load_n(lock, __ATOMIC_RELAXED)) cbp_spin_pause();
}

static void claim_unlock(long *lock) { __atomic_store_n(lock, 0, __ATOMIC_RELEASE); }

static int claim_rows(long *c, long epoch, long sr0, long sr1, long split, int from_bottom, long g,
                      int first, int ncib, long *r0, long *r1) {
  int got;
  claim_lock(&c[3]);
  {
    if (c[2] < epoch) c[0] = sr0, c[1] = sr1, c[2] = epoch, c[4] = 0;
    const long me = from_bottom ? 2 : 1;
    if (c[2] == epoch) c[4] |= me; /* not from an earlier chunk: the partner's state */
    /* alone on a block of several ci blocks: no further than the static share */
    const int alone = ncib > 1 && split >= 0 && !(c[4] & (3 - me));
    if (ncib == 1 && (c[1] - c[0]) / CLAIM_GUIDE > g) g = (c[1] - c[0]) / CLAIM_GUIDE;
    if (first && ncib > 1) g += (from_bottom ? c[0] - sr0 : sr1 - c[1]) * (ncib - 1) / ncib;
    if (c[2] > epoch) {
      *r0 = *r1 = sr1; /* the partner is in a later chunk: this one's rows are all claimed */
    } else if (from_bottom) {
      *r1 = c[1];
      *r0 = c[1] - g > c[0] ? c[1] - g : c[0];
      if (alone && *r0 < split) *r0 = split < *r1 ? split : *r1;
      c[1] = *r0;
    } else {
      *r0 = c[0];
      *r1 = c[0] + g < c[1] ? c[0] + g : c[1];
      if (alone && *r1 > split) *r1 = split > *r0 ? split : *r0;
      c[0] = *r1;
    }
    got = *r1 > *r0;
  }
  claim_unlock(&c[3]);
  return got;
}

/* Input-channel blocks for a panel of blk channels a tap within cap floats
   (on narrow outputs each channel of the block also needs a float of zero row). */
static int ci_blocks(const cbp_dconv_desc *d, size_t cap, int blk, int narrow) {
  const int cb_max = (int)(cap / ((size_t)d->ntaps * blk + (size_t)narrow));
  return d->ci < 1 ? 1 : ceil_div(d->ci, cb_max > 0 ? cb_max : 1);
}

/* Bytes of d's input, and of its output, in a double: no overflow. */
static double input_bytes(const cbp_dconv_desc *d) {
  return (double)d->n * d->hi * d->wi * d->ci * sizeof(float);
}

static double output_bytes(const cbp_dconv_desc *d) {
  return (double)d->n * d->ho * d->wo * d->co * sizeof(float);
}

/* Whether d's input comes from memory rather than the outer caches:
   PF_IN_MIN_L2S L2s or more (see prefetch_in).  The input prefetch and the
   wide channel blocks (wide_blocks) both pay only there. */
static int input_from_memory(const cbp_dconv_desc *d) {
  return input_bytes(d) >= PF_IN_MIN_L2S * (double)cbp_l2_bytes_or_1mib();
}

/* Whether a one-tap tile's output is prefetched two tiles ahead as well as
   one (PF_FAR): where consecutive output pixels lie a page (4 KiB) or more
   apart, so that each pixel of a tile is in a page of its own (MMA BPW's dW
   rows with N >= 1024, MMA BPA's dX rows with K >= 1024).  On the Zen 5
   guest the host's memory is slow in some minutes (a one-thread read stream
   at 16-21 GB/s against 24-36), and there a tile of a short reduction
   seemingly finished before the lines it writes, prefetched a tile ahead,
   arrived:
   gpt_proj's BPW (M = 128, one tile 1536 cycles) took 1.4x its usual time
   where oneDNN took 1.1x.  The page rule is where the farther prefetch cost
   nothing in fast minutes; that a page walk a pixel is what the nearer one
   misses is a guess.  Medians of rounds each timing both forms in one
   process (a null run of the old form twice 0.98-1.01), time two tiles ahead
   against one, 1 / 2 threads, in minutes of fast memory and of slow:
     gpt_proj BPW         fast 1.03 / 0.99, slow 0.82 / 0.84
     512 x 3072 x 768 BPW 0.98 / 0.99, 512 x 768 x 3072 BPA 0.99 / 0.99,
     1024^3 BPA and BPW 0.99 / 0.99 (no slow minute caught);
   and where pixels are closer, left out: MMA BPA 16384 x 64 x 256 fast 1.03
   / 1.03, slow 0.93 / 0.95, 16384 x 128 x 128 fast 1.03 / 1.02; the 1x1
   layers at N = 8 lost in fast minutes, BPA res2b_branch2a 1.06 / 1.12 (slow
   0.85 / 0.97), FWD res2a_branch1 1.06 / 1.12 (slow 0.84 / 1.11).  Contiguous
   outputs (no output prefetch, see one_tap_tiles) prefetched two tiles ahead:
   MMA BPA 32768 x 64 x 64 1.03, FWD res2a_branch2a 1.03 on one thread.
   With the AVX2 kernels it is neutral in fast minutes (time without it
   against with it, 12 rounds: the page-apart shapes above 1.00-1.01).
   Streaming stores instead (no read of a line before its write, no output
   prefetch) lost on every one-tap output beyond L2 timed but MMA BPW's on
   two threads (README, "The blocked direct engine"). */
static int far_output(const cbp_dconv_desc *d) {
  return (double)d->out_pix * sizeof(float) >= 4096.0;
}

/* Whether the runs of tiles (one_tap_runs) prefetch the output lines of the
   tile ahead, where the output's pixels are apart (strided channel blocks;
   see one_tap_tiles): for an output of more than RUN_PF_MIN_L2S L2s.  On
   one that stays in the outer caches their 24 prefetches a tile (AVX-512)
   only took issue slots from tiles of few FMAs.  Zen 4, MMA BPA, one
   build with the prefetch forced off and on, medians of 3 rounds, time
   without against with, 1 / 2 threads: 491 x 7 x 595 (1.2 MB of dX) 0.95
   / 0.67, 424 x 4 x 264 0.94 / 0.66, 146 x 9 x 409 0.96 / 0.70, 1024 x 8
   x 512 (2 MB) 0.94 / 0.85, 4096 x 4 x 256 (4 MB) 0.92 / 0.92, 2048 x 16
   x 512 0.96 / 0.80, 8192 x 4 x 256 (8 MB) 0.92 / 0.92 (two threads: the
   fastest rounds) and 4096 x 16 x 512 1.01 / 1.03; but 8192 x 16 x 512 (16
   MB) 1.27 / 1.07, and 16384 x 4 x 256 1.35 / 0.72 (noisy). */
enum { RUN_PF_MIN_L2S = 8 };
static int far_runs(const cbp_dconv_desc *d) {
  return output_bytes(d) > RUN_PF_MIN_L2S * (double)cbp_l2_bytes_or_1mib();
}

/* Row chunks (see the top): a thread that owns several channel blocks reads
   its input once per block.  When the input is beyond the cache that keeps it
   between blocks, each block streams it from memory again; run every block
   over one chunk of rows, then the next chunk, and the re-reads come from
   cache.  Chunks of about CHUNK_PX output pixels (the rows split evenly), only
   for a single tap (a 1x1, or a stride phase of one tap: 2 x 64 FLOPs a
   float of input a block, where a 3x3 has 9 times as many and was no faster
   chunked, res3a_branch2b at N = 32 on one thread 0.98-1.05x), two channel
   blocks or more a thread, an input over CHUNK_MIN_L2S times L2 and a chunk's
   input within CHUNK_MAX_L2S times L2 (else the chunk itself is not kept).
   Zen 5 EPYC (1 MiB L2), N = 32, res2a_branch1 FWD (64 -> 256 channels, 25.7
   MB input) on one thread 26.2 -> 20.4 ms with chunks of 8192 pixels (2 MB of
   input), 21.7 with 16384, 22.9 with 32768; but at N = 8 (6.4 MB, kept
   between blocks unchunked) 4.47 -> 4.79 ms with 8192 and 4.91 with 2048:
   each chunk costs its blocks' panels and a cold start, and pays only where
   the input misses the cache.  Returns rows a
   chunk, total when not chunked.  CONVBP_CHUNK_PX=N chunks every problem at N
   pixels instead (0: never), for tests and experiments. */
enum { CHUNK_PX = 8192, CHUNK_MIN_L2S = 8, CHUNK_MAX_L2S = 4 };
static long row_chunk(const cbp_dconv_desc *d, long total, int threads, int blocks) {
  const double l2 = (double)cbp_l2_bytes_or_1mib();
  const double in_bytes = input_bytes(d);
  const double in_px = in_bytes / ((double)total * d->wo); /* input bytes an output pixel */
  long px = CHUNK_PX;
  int chunked = d->ntaps == 1 && blocks >= 2 * threads && in_bytes > CHUNK_MIN_L2S * l2 &&
                in_px * CHUNK_PX <= CHUNK_MAX_L2S * l2;
  const char *want = getenv("CONVBP_CHUNK_PX");
  if (want && *want) {
    char *end;
    const long v = strtol(want, &end, 10);
    if (*end == 0 && v >= 0) px = v, chunked = v > 0;
  }
  const long chunks = chunked ? total * d->wo / px : 1;
  return chunks > 1 ? (total + chunks - 1) / chunks : total;
}

/* One tap and two rows a thread or more: where a task's channel block may
   grow (row_blocks, wide_blocks) without idling a thread. */
static int one_tap_rows(const cbp_dconv_desc *d, int threads) {
  return d->ntaps == 1 && (long)d->n * d->ho >= 2L * threads;
}

/* Whether a one-tap task's channel block takes up to ROW_RBS register blocks
   (256 channels with AVX-512, where BLK_MAX is one; AVX2's and the portable
   set's BLK_MAX already holds 4 and 8): one tap, rows not narrow (the
   one-tap rows of one_tap_tiles, not narrow_tiles'), at least two rows a
   thread.  A tile then writes up to 1 KiB of each output pixel in a row
   (all of it up to 256 channels, which the hardware prefetcher follows)
   rather than 256 bytes a pass, and reads its input once for all of them.
   Zen 5 EPYC, medians of rounds each timing both forms in one process (a
   null run of the old form twice 0.98-1.03), time against one register
   block, 1 / 2 threads, in fast-memory minutes, then in slow ones (see
   far_output): BPA res2b_branch2a at N = 8 (engine 64 -> 256, 56 x 56)
   0.99-1.00 / 0.87, slow 0.85-0.87 / 0.92; FWD res2a_branch1 (64 -> 256)
   1.00 / 0.87, slow 0.86-0.98 / 0.76; BPA res3b_branch2a (engine 128 ->
   512, 28 x 28) 0.95 / 0.94, slow 0.92 / 0.93; FWD res3a_branch2c (128 ->
   512) 0.95 / 0.94, slow 0.94 / 0.90; with 128 channels (two register
   blocks, the whole pixel) BPA res3a_branch2c (engine 512 -> 128) 0.97 /
   0.90-0.91, FWD res3b_branch2a (512 -> 128) 0.97-0.98 / 0.90-0.92.  Two
   register blocks of a 256-channel pixel (half of it a pass) lost
   (1.01-1.07).
   The rows: MMA BPA's single row of M pixels, run as one block of 256
   channels, left the second thread idle (16384 x 64 x 256, 16384 x 128 x
   128: 1.95-1.98x the time on two threads); on one thread it lost too
   (1.04, 1.01).  A single row on one thread, the call each thread of
   mma_bpw_conv1x1_blocked's engine form makes over its rows of K, gained
   nothing either (4 blocks against one, 10 rounds: 512 x 768 x 768 1.01 /
   1.03, 512 x 768 x 3072 1.02 / 1.02, 512 x 3072 x 768 and 1024^3 1.00 /
   1.00, gpt_proj 1.02 / 0.96).  Narrow outputs (14 x 14, 7 x 7) gained nothing: 4 blocks
   (3 where ci_blocks allows no more) against one, medians of 25-40 rounds,
   BPA res4b_branch2a (engine 256 -> 1024, 14 x 14) 1.01 / 1.01, FWD
   res4a_branch2c (256 -> 1024) 1.01 / 1.01, BPA res5b_branch2a (512 ->
   2048, 7 x 7) 0.99-1.00 / 0.96-1.00, FWD res5a_branch2c 1.00-1.01 / 0.97-0.98
   (null runs 0.99-1.01), so they keep one register block. */
static int row_blocks(const cbp_dconv_desc *d, int threads, int narrow) {
  return one_tap_rows(d, threads) && !narrow;
}

/* Whether a task's channel block may be BLK_WIDE channels rather than
   BLK_MAX: one tap, an input of PF_IN_MIN_L2S L2s or more (from memory) and
   8 times the output or more, and at least two rows a thread.  Each channel
   block streams the whole input once (the 1x1 and stride phases read each
   input row once a block); where the input dwarfs the output, halving the
   blocks halves that traffic, and the ci blocks the wider panel adds (each a
   pass over the output) cost less.  Zen 5 EPYC, AVX-512 (blocks of 128
   channels, two register blocks), medians of 6 rounds, each timing both
   forms in one process (null runs 0.98-1.01), time against blocks of 64, 1 /
   2 threads: MMA BPA gpt_proj (128 x 4096 x 4096, K pixels: 64 MB of W
   against 2 MB of dX^T) 0.95 / 0.99, 256 x 8192 x 1024 0.95 / 0.98; FWD
   res3a_branch2a at N = 8 (256 -> 128, stride 2) 0.94 / 0.81,
   res4a_branch2a (512 -> 256) 0.98 / 0.99.  Without the size rule FWD
   res5a_branch2a (6.4 MB of input, in the outer caches) lost 1.00 / 1.05;
   blocks of 256 channels gained more on 256 x 8192 x 1024 (0.92 / 0.96)
   but lost on res4a_branch2a (1.03 / 0.99).  With the AVX2 kernels (blocks
   of 8 register blocks, medians of 5 rounds): gpt_proj 0.84 / 0.87, 256 x
   8192 x 1024 0.92 / 1.01, res3a_branch2a 0.96 / 0.92, res4a_branch2a 0.98
   / 1.00.  The rows: a single row (MMA BPA's M pixels where the blocks go
   round the threads) in one block would leave every thread but one idle. */
static int wide_blocks(const cbp_dconv_desc *d, int threads) {
  return one_tap_rows(d, threads) && input_bytes(d) >= 8.0 * output_bytes(d) &&
         input_from_memory(d);
}

/* Taps of a merged group, 1 for none.  With few input channels a tap is a
   short reduction (3 steps on the 7x7 stem), and a tile call spends as much
   on setting up each tap's pixel pointers as on its FMAs.  But the S taps of
   a kernel row at dilation 1 read, at each pixel, S*ci consecutive floats of
   NHWC input, and with one ci block their weights are S*ci consecutive rows
   of the panel (panel[t][i]): one tap of S*ci channels.  So when the taps
   fall into runs of g, each of one row (same dh) at input columns dw, dw+1,
   ..., the tiles run such a group as one tap wherever all g reach every
   pixel (row_tiles); the rest go tap by tap.  Not on narrow outputs, whose
   tiles read a zero row for a tap outside the input.  Zen 5 EPYC, medians
   of 4 alternating rounds, 1 / 2 threads, speed-up of fwd_direct_blocked:
   the resnet50 stem (7x7 s2, C = 3) 1.36x / 1.31x (14.25 -> 10.47 ms; oneDNN
   12.73), VGG-16 conv1_1 (3x3, C = 3) 1.16x / 1.21x, 3x3 C = 8 1.04x /
   1.09x, C = 16 1.03x / 1.02x; with the AVX2 kernels the stem 1.24x / 1.23x,
   conv1_1 1.14x / 1.13x; bpa_stride_phase_blocked at K = 8-24 1.04-1.08x.
   At ci = 32 and 64 it was even (0.97-1.01x), hence MERGE_CI_MAX: from there
   a tap's reduction is long enough to hide its setup. */
enum { MERGE_CI_MAX = 32 };
static int merge_group(const cbp_dconv_desc *d, int ncib, int narrow) {
  if (ncib != 1 || narrow || d->ci >= MERGE_CI_MAX || d->ntaps < 2) return 1;
  int g = 1;
  while (g < d->ntaps && d->taps[g].dh == d->taps[0].dh && d->taps[g].dw == d->taps[0].dw + g) g++;
  if (g < 2 || d->ntaps % g) return 1;
  for (int t = 0; t < d->ntaps; t++) {
    const cbp_dtap *first = &d->taps[t - t % g];
    if (d->taps[t].dh != first->dh || d->taps[t].dw != first->dw + t % g) return 1;
  }
  return g;
}

/* What cbp_dconv_run settles once a call and every thread reads. */
typedef struct {
  const cbp_direct_isa *isa;
  int rw, tile_px; /* channels of a register block, pixels of a row tile */
  int narrow;      /* tiles across row ends (see the top) */
  int nrb, nrbt;   /* register blocks of a channel block; in all */
  int ncib, cb;    /* input-channel blocks, and the channels of each */
  int pf;          /* prefetch flags: PF_IN, PF_FAR */
  int merge;       /* taps a merged group, 1: none (see merge_group) */
  long grain;      /* rows of a shared block claimed at a time */
} engine_plan;

/* One thread's panel, the zero row after it (narrow outputs), row_tiles' scratch. */
typedef struct {
  float *panel;
  const float *zeros;
  row_scratch sc;
} thread_bufs;

/* Rows base + [c0, c1) of the channel block at co0 in ci block i0 .. i0 + cn,
   whose panel is packed; accumulate: onto the earlier ci blocks' sums. */
static void run_rows(const cbp_dconv_desc *d, const engine_plan *pl, const thread_bufs *tb,
                     const cbp_subs *sb, const float *in, float *out, long base, int co0, int i0,
                     int cn, long c0, long c1, int accumulate) {
  if (pl->narrow)
    narrow_tiles(d, pl->isa, sb, tb->sc.kt, in, out + co0, (base + c0) * d->wo, (base + c1) * d->wo,
                 i0, cn, tb->panel, tb->zeros, pl->tile_px, accumulate);
  else
    for (long r = base + c0; r < base + c1; r++)
      row_tiles(d, pl->isa, sb, &tb->sc, in, r, row_out(d, out, r) + co0,
                r + 1 < base + c1 ? row_out(d, out, r + 1) + co0 : NULL, i0, cn, tb->panel,
                pl->tile_px, pl->pf, pl->merge, accumulate);
}

/* Packs ci block cib's panel of the channel block co0 .. co0 + cw into the
   thread's buffer: its input channels [*i0, *i0 + *cn), and the sub-blocks'
   layout returned. */
static cbp_subs pack_ci_block(const cbp_dconv_desc *d, const engine_plan *pl,
                              const thread_bufs *tb, int cib, int co0, int cw, int *i0, int *cn) {
  *i0 = cib * pl->cb;
  *cn = d->ci - *i0 < pl->cb ? d->ci - *i0 : pl->cb;
  const cbp_subs sb = {pl->rw, cw, pl->isa->vl, (size_t)d->ntaps * *cn * pl->rw};
  pack_panel(d, pl->isa, &sb, tb->panel, *i0, *cn, co0);
  return sb;
}

/* This thread's rows base + [r0, r1) of the channel block of register blocks
   rb0 .. rb1, in every ci block in turn.  A block the thread shares with its
   pair (claim != NULL) has [r0, r1) as the pair's rows, claimed grain at a
   time in the first ci block; the later ci blocks run the rows this thread
   got, which it must finish.  Alone on the block, a thread claims no further
   than split, the row where the pair's static shares meet (claim_rows); the
   rows its partner has still not claimed when this thread's passes are done
   it then claims again, running every ci block on each claim. */
static void run_block(const cbp_dconv_desc *d, const engine_plan *pl, const thread_bufs *tb,
                      const float *in, float *out, long base, int rb0, int rb1, long r0, long r1,
                      long split, long *claim, long epoch, int from_bottom) {
  const long sr0 = r0, sr1 = r1; /* the shared block's rows */
  const int rw = pl->rw, co0 = rb0 * rw, cw = (rb1 * rw < d->co ? rb1 * rw : d->co) - co0;
  if (claim ? claim_rows(claim, epoch, sr0, sr1, split, from_bottom, pl->grain, 1, pl->ncib, &r0,
                         &r1)
            : r0 < r1) {
    long lo = r0, hi = r1; /* the rows this thread runs in every ci block */
    for (int cib = 0; cib < pl->ncib; cib++) {
      int i0, cn;
      const cbp_subs sb = pack_ci_block(d, pl, tb, cib, co0, cw, &i0, &cn);
      /* rows [c0, c1): in the shared block's first ci block one claim after
         another (a failed claim leaves c1 <= c0), else all of them at once */
      for (long c0 = cib ? lo : r0, c1 = cib ? hi : r1; c0 < c1;
           c1 = claim && !cib &&
                        claim_rows(claim, epoch, sr0, sr1, split, from_bottom, pl->grain, 0,
                                   pl->ncib, &c0, &c1)
                    ? c1
                    : c0) {
        lo = c0 < lo ? c0 : lo; /* the rows the later ci blocks run */
        hi = c1 > hi ? c1 : hi;
        run_rows(d, pl, tb, &sb, in, out, base, co0, i0, cn, c0, c1, cib > 0);
      }
    }
  }
  if (!claim || pl->ncib == 1) return;
  /* Claims now owe no later passes (as with one ci block: ncib 1 to
     claim_rows, no split), and the pair leaves no row of the block unclaimed. */
  long c0, c1;
  while (claim_rows(claim, epoch, sr0, sr1, -1, from_bottom, pl->grain, 0, 1, &c0, &c1))
    for (int cib = 0; cib < pl->ncib; cib++) {
      int i0, cn;
      const cbp_subs sb = pack_ci_block(d, pl, tb, cib, co0, cw, &i0, &cn);
      run_rows(d, pl, tb, &sb, in, out, base, co0, i0, cn, c0, c1, cib > 0);
    }
}

/* Packing a float of the weight panel costs about as much time as this many
   FLOPs of the tiles: Zen 4 EPYC, BPA 5x5 at 5 x 5 (C = 96, K = 160, N =
   1), one thread, whose 1.5 MB of weights are packed once for 6.9 MFLOP:
   pack_panel 49% of the samples (perf), 19 FLOPs a float. */
enum { PANEL_FLOAT_FLOPS = 20 };

/* The row where a pair's static shares meet in the block they share, rows
   [r0, r1), for claim_rows; or -1, no limit, where the smaller share would
   compute less than the FLOPs of packing the block's panel again, which
   its thread must do to run it: each row is 2 * wo FLOPs a panel float.
   Zen 4, 2 threads, BPA 5x5 at 5 x 5 (C = 96, K = 160, N = 1: shares of 4
   and 1 rows of the 64 channels), medians of 21 rounds in 3 processes:
   1.17x the time of claims without a limit where the limit held, 1.01x
   now; the layers of 7-9 rows a share 0.79-0.87x either way. */
static long shared_split(const cbp_dconv_desc *d, long r0, long r1, long split) {
  const long piece = split - r0 < r1 - split ? split - r0 : r1 - split;
  return (double)piece * 2.0 * d->wo < PANEL_FLOAT_FLOPS ? -1 : split;
}

/* Thread tid's share of the rows base .. base + rows, chunk epoch, in every
   channel block.  Work is (vector, output row) units: channel block cob
   holds nrb register blocks of rw / vl vectors (the last block fewer, and
   its last register block may hold fewer vectors), and each thread takes a
   contiguous 1/nth of the units in (cob, row) order, i.e. a stretch of rows
   of each channel block it meets, whose panel it then packs once.  Splitting
   by units rather than by equal (block, row chunk) tasks keeps two threads
   even when the blocks differ in width (AVX2 with 3 register blocks a block:
   48 + 48 + 32 channels at C = 128 gave one of two threads 56% of the work).
   Threads 2i and 2i+1 pair up and take their two shares [ua, ub) together:
   the first runs the channel blocks below the one holding the midpoint
   forward, the second those above it backward, and they finish on that
   block, claiming its rows from either end (claim_rows, on the claim state
   of the pair).  A thread that runs slower (a vCPU the host shares) then
   takes fewer of those rows rather than holding the other up: res5a_branch2b
   BPA on the Zen 5 guest, 2 threads, the thread on the second vCPU took
   1.06-1.20x the other's time for the same units (most of it in packing the
   panels).  With two ci blocks a thread must run the rows it claimed in the
   first one in the second as well, so the claims balance only what is left
   when they start.  Medians of 5 alternating runs against static shares:
   4.36-4.48 against 4.48-4.55 ms (oneDNN 1.00x in the same runs); the other
   layers' BPA and FWD within the noise.  An odd last thread runs its share
   alone.  Counted in register blocks, 96 channels on AVX-512 (64 + 32) were
   two units, and the thread on the 64 had two thirds of the work: Zen 4
   EPYC, 2 threads, medians of 5 alternating processes, time of vector units
   against register-block units, FWD 5x5 pad 1 at 9 x 9 (C = 96, K = 160)
   0.85x, BPA (C = 96, K = 48) 0.78x. */
static void run_chunk(const cbp_dconv_desc *d, const engine_plan *pl, const thread_bufs *tb,
                      const float *in, float *out, long base, long rows, long epoch, int tid,
                      int nth, long *claim) {
  const int vl = pl->isa->vl, rb_vecs = pl->rw / vl;
  const int last_vecs = ceil_div(d->co - (pl->nrbt - 1) * pl->rw, vl);
  const long vecs = (long)(pl->nrbt - 1) * rb_vecs + last_vecs;
  const long units = vecs * rows, per_cob = (long)pl->nrb * rb_vecs * rows;
  const int paired = (tid | 1) < nth, second = paired && (tid & 1);
  const int lead = paired ? tid & ~1 : tid;
  const long ua = units * lead / nth, ub = units * (lead + 1 + paired) / nth;
  const long c_first = ua / per_cob, c_last = ub > ua ? (ub - 1) / per_cob : c_first - 1;
  const long mid = units * (lead + 1) / nth;
  const long shared = !paired ? -1 : (mid < ub ? mid : ub - 1) / per_cob;
  /* the first of a pair walks up to the shared block, the second down to it */
  const long from = second ? c_last : c_first;
  const long to = !paired ? c_last : shared;
  for (long cob = from; second ? cob >= to : cob <= to; cob += second ? -1 : 1) {
    const int rb0 = (int)cob * pl->nrb, rb1 = rb0 + pl->nrb < pl->nrbt ? rb0 + pl->nrb : pl->nrbt;
    const long nb = (long)(rb1 - rb0 - 1) * rb_vecs + (rb1 == pl->nrbt ? last_vecs : rb_vecs);
    const long off = cob * per_cob, a = (ua > off ? ua : off) - off;
    const long b = (ub < off + nb * rows ? ub : off + nb * rows) - off;
    /* rows [ceil(a/nb), ceil(b/nb)): the neighbouring thread's range starts
       where this one ends; empty when the share misses the block (b <= a) */
    const long m = (mid > off ? mid : off) - off, r0 = (a + nb - 1) / nb, r1 = (b + nb - 1) / nb;
    const long split = shared_split(d, r0, r1, (m + nb - 1) / nb);
    run_block(d, pl, tb, in, out, base, rb0, rb1, r0, r1, split, cob == shared ? claim : NULL, epoch,
              second);
  }
}

/* The claim state of the pair led by thread t, at the end of its slice. */
static long *claim_state(char *slices, size_t per, int t) {
  return (long *)(slices + per * (size_t)(t + 1) - CLAIM_BYTES);
}

/* What every thread of cbp_dconv_run reads. */
typedef struct {
  const cbp_dconv_desc *d;
  const engine_plan *pl;
  const float *in;
  float *out;
  char *slices;        /* one slice of workspace a thread */
  size_t per, cap;     /* bytes a slice; floats of a panel */
  int blk;             /* channels of a channel block */
  long total_rows, chunk_rows;
  long epoch0;         /* the first chunk's epoch (see cbp_dconv_run_list) */
} engine_run;

/* Thread tid of nth: its slice of the workspace, then its share of every chunk. */
static void engine_thread(void *ctx, int tid, int nth) {
  const engine_run *er = ctx;
  const cbp_dconv_desc *d = er->d;
  /* a copy of its own, which the compiler keeps in registers (read through a
     shared pointer, it was loaded in every loop) */
  const engine_plan pl = *er->pl;
  const size_t per = er->per;
  float *panel = (float *)(er->slices + per * (size_t)tid);
  cbp_ktap *kt = (cbp_ktap *)(panel + panel_floats(d->ntaps, er->cap));
  /* the zero row: cb floats after the largest panel, within panel_floats */
  float *zeros = panel + (size_t)d->ntaps * pl.cb * er->blk;
  if (pl.narrow) memset(zeros, 0, (size_t)pl.cb * sizeof(float));
  int *valid = (int *)(kt + d->ntaps), *part = valid + d->ntaps;
  int *part_a = part + d->ntaps, *part_b = part_a + d->ntaps;
  /* Tap t reaches output columns [col_lo[t], col_end[t]) (0 <= ow*sw + dw < wi),
     found once here: two divisions a tap rather than a test a pixel a tile,
     which was 29% of the engine's instructions outside the microkernels
     (callgrind, res3a_branch2b BPA). */
  int *col_lo = part_b + d->ntaps, *col_end = col_lo + d->ntaps, *memo_valid = col_end + d->ntaps;
  for (int t = 0; t < d->ntaps; t++)
    cbp_out_span(d->taps[t].dw, d->sw, d->wi, &col_lo[t], &col_end[t]);
  /* the merged call, the full call, then one per distinct pixel range of
     the border taps */
  tile_call calls[2 + CBP_TILE_MAX * (CBP_TILE_MAX + 1) / 2];
  row_memo memo = {0};
  memo.valid = memo_valid;
  const thread_bufs tb = {panel, zeros,
                          {kt, calls, valid, part, part_a, part_b, col_lo, col_end, &memo}};
  long *claim = (tid | 1) < nth ? claim_state(er->slices, per, tid & ~1) : NULL;
  const long total_rows = er->total_rows, chunk_rows = er->chunk_rows;
  for (long base = 0, epoch = er->epoch0; base < total_rows; base += chunk_rows, epoch++)
    run_chunk(d, &pl, &tb, er->in, er->out, base,
              total_rows - base < chunk_rows ? total_rows - base : chunk_rows, epoch, tid, nth,
              claim);
}

/* Independent sums that keep one 512-bit FMA a cycle of 4 cycles' latency busy. */
enum { HALF_RATE_SUMS = 4 };

/* d's plan for a team of threads, and the run every thread reads (*er points
   at *pl).  The same for every thread that computes it. */
static void plan_engine(const cbp_dconv_desc *d, int threads, const float *in, float *out,
                        void *ws, engine_plan *plp, engine_run *er) {
  engine_plan pl;
  const cbp_direct_isa *isa = pl.isa = cbp_direct_isa_for(d->co);
  const int reach_all = taps_reach_all(d);
  /* Padded rows of exactly row_np pixels: one longer, thinner tile a row (see the top). */
  const int wide_row = isa->row_np > 0 && d->wo == isa->row_np && !reach_all;
  const int rw = pl.rw = (wide_row ? isa->row_nv : isa->nv_max) * isa->vl;
  /* Outputs of at most one vector of channels (co <= 16 on AVX-512, 8 on
     AVX2): thin tiles of up to thin_np pixels (14, 12), so that the FMAs have
     enough independent sums: 6 pixels x 1 vector leave two FMA pipes of 4
     cycles' latency a quarter idle, and a 14-wide row went as 5 + 4 + 5.
     Zen 5 EPYC, medians of 3 alternating rounds, 1 / 2 threads, time
     against 6-pixel tiles: C = K = 16 3x3 at 14 x 14 (the main job's
     small_3x3) FWD 0.79 / 0.84, BPA 0.77 / 0.83; at 56 x 56 FWD and BPA
     0.90 / 0.92-0.96; the stem's BPA (co = 3) 0.93 / 0.97; AVX2, C = K = 8 at
     56 x 56, 0.82-0.86, the stem's BPA 0.88 / 0.90.  Wider outputs keep
     their tiles; FWD res5a_branch2b on one thread took 1.03-1.07x, from the
     longer pixel lists of CBP_TILE_MAX (a build without thin tiles but with
     the lists at 16 timed the same as with them). */
  const int thin = !wide_row && isa->thin_np > isa->np_max && d->co <= isa->vl;
  pl.tile_px = wide_row ? isa->row_np : thin ? isa->thin_np : isa->np_max;
  /* ci block: the panel (taps x cb x blk floats) within the cap. */
  const size_t cap = panel_cap();
  /* Tiles across row ends (see the top): a narrow output whose pixel f of the
     flattened (image, row, column) index is at out + f * out_pix. */
  const int dense = d->out_row == (ptrdiff_t)d->wo * d->out_pix &&
                    d->out_img == (ptrdiff_t)d->ho * d->out_row;
  /* Padded rows of 10 or 11 pixels (np_max 6) are not narrow unless thin:
     as two row tiles of 5-6 pixels with border calls, their taps skip the
     padding, where the narrow tiles multiply zeros (12-23% of the FLOPs
     here).  Zen 4 EPYC, medians of 9 rounds in one process (null runs
     0.99-1.01), time against narrow tiles, 1 / 2 threads: FWD 3x3 pad 1
     at N = 8, C = K = 64, 11 x 11 0.92 / 0.92, 10 x 10 0.92 / 0.93, C = K =
     256 at 10 x 10 0.94 / 0.94 (its BPA 0.94 / 0.93), 5x5 pad 2 at 11 x 11
     (C = 32, K = 48) 0.91 / 0.91; the edge suite's dilation_3 0.88 / 0.91,
     odd_stem 0.94 / 0.95.  With the AVX2 kernels: 0.97 / 0.96, 1.00 /
     0.99, 1.00 / 0.98 (BPA 0.99 / 0.98), 0.94 / 0.97; dilation_3 0.95 /
     0.90, odd_stem 0.97 / 0.98.
     Narrower padded rows take row tiles too where AVX-512's FMAs issue at
     half rate (Zen 4: one 512-bit FMA a cycle, 4 cycles' latency), once a
     row holds more than HALF_RATE_SUMS independent sums (pixels x vectors
     of the row tile).  Zen 4 EPYC, 3x3 pad 1 at N = 8, medians of 9
     rounds in one process (null runs 0.98-1.02), time against narrow
     tiles, 1 / 2 threads: C = K = 32, 64 and 256 at 4 to 9 wide 0.73-0.92
     / 0.73-0.94 (FWD and BPA alike), C = K = 16 (thin) at 5 to 11 wide
     0.74-0.91 / 0.73-0.89, but at 4 wide 1.10 / 0.99 (BPA 1.00 / 1.12)
     and at 3 wide 1.46 / 1.43 (BPA 1.21 / 1.22): 3-4 sums leave the pipe
     waiting.  The edge suite's kernel_larger_than_image (3 wide, 32
     channels: 6 sums) FWD 0.81 / 0.78, BPA 0.81 / 0.83;
     remainder_3_stride_4 FWD (4 wide) 0.91 / 0.90; small_s2 FWD (8 wide)
     0.94 / 0.97.  Elsewhere the narrow tiles stay: with AVX2's kernels on
     this Zen 4, row tiles of 3-4 pixels lost (small_s2 1.10 / 1.05, the
     edge suite's 4 and 3 wide 1.01 / 1.03 and 1.03 / 1.00), as 256-bit
     FMAs two a cycle need twice the sums; so may AVX-512 on two 512-bit
     pipes (Zen 5, Xeon), untimed. */
  const int row_vecs = ceil_div(d->co < rw ? d->co : rw, isa->vl);
  const int narrow = pl.narrow =
      !wide_row && dense &&
      d->wo < (reach_all ? 3 * isa->np_max : 2 * isa->np_max - (thin ? 0 : 2)) &&
      !(!reach_all && d->wo * row_vecs > HALF_RATE_SUMS && half_rate_avx512(isa));
  /* A task's channel block: up to BLK_MAX channels of register blocks, run one
     after another over each tile while its input is in L1 (see cbp_subs), so
     the input is streamed once a channel block rather than once a register
     block; but no more of them than keep the input channels in as few blocks
     as one register block needs, since each further ci block adds a pass over
     the output.  On AVX2 (16 channels a register block), Zen 3, medians of
     7 alternating rounds in one process, 1 / 2 threads: BPA res2b_branch2a
     1.49x / 1.54x, res2a_branch1 1.90x / 1.93x against one register block a
     task; res4a_branch2b (two register blocks would need two ci blocks)
     keeps one.  Input-bound one-tap tasks take up to BLK_WIDE channels
     whatever the ci blocks (wide_blocks); other one-tap tasks over wide rows
     up to ROW_RBS register blocks (row_blocks: AVX-512's 64-channel register
     block is all of BLK_MAX). */
  pl.nrbt = ceil_div(d->co, rw);
  int nrb;
  if (wide_blocks(d, threads)) {
    nrb = BLK_WIDE / rw > 1 ? BLK_WIDE / rw : 1;
    if (nrb > pl.nrbt) nrb = pl.nrbt;
  } else {
    const int ncib_one = ci_blocks(d, cap, rw, narrow);
    nrb = BLK_MAX / rw > 1 ? BLK_MAX / rw : 1;
    if (row_blocks(d, threads, narrow) && nrb < ROW_RBS) {
      nrb = ROW_RBS;
      if (nrb > pl.nrbt) nrb = pl.nrbt;
    }
    while (nrb > 1 && ci_blocks(d, cap, rw * nrb, narrow) > ncib_one) nrb--;
  }
  const int blk = rw * nrb;
  assert(blk <= BLK_LARGEST);
  pl.nrb = nrb;
  pl.ncib = ci_blocks(d, cap, blk, narrow);
  pl.pf = (d->ntaps == 1 && input_from_memory(d) ? PF_IN : 0) | (far_output(d) ? PF_FAR : 0) |
          (far_runs(d) ? PF_RUN : 0);
  pl.merge = merge_group(d, pl.ncib, narrow);
  pl.cb = d->ci < 1 ? 0 : ceil_div(d->ci, pl.ncib);
  /* rows of the shared block claimed at a time: one, or on narrow outputs
     enough for two tiles across row ends; and at least CLAIM_FLOPS of a
     block's work.  A claim hands the pair's claim line from one core to the
     other, and on the Zen 5 guest a round trip between its two vCPUs took
     430-500 ns (a ping-pong of two threads), longer than a row of
     small_3x3 (64.5 kFLOP, about 0.3 us), whose last claims went a row at a
     time.  Two threads, medians of 8 alternating rounds: small_3x3 FWD and
     BPA 1.08x and 1.07x, small_s2 BPA 14.50 -> 11.30 us, small_s2 FWD 0.97x.
     Where a row holds that much work (every resnet50 layer) the grain is
     as it was. */
  pl.grain = narrow ? ceil_div(2 * isa->np_max, d->wo) : 1;
  const double row_flops = 2.0 * d->wo * (d->co < blk ? d->co : blk) * d->ci * d->ntaps;
  if (row_flops > 0 && CLAIM_FLOPS / row_flops > pl.grain) {
    const double rows = CLAIM_FLOPS / row_flops; /* at most CLAIM_FLOPS */
    pl.grain = (long)rows + ((double)(long)rows < rows);
  }
  const long total_rows = (long)d->n * d->ho;
  const long chunk_rows = row_chunk(d, total_rows, threads, ceil_div(pl.nrbt, nrb));
  *plp = pl;
  *er = (engine_run){d, plp, in, out, ws, slice_bytes(d->ntaps, cap), cap, blk, total_rows,
                     chunk_rows, 0};
}

/* Each pair's claim state, at the end of slices of per bytes: no chunk yet
   (epoch -1), unlocked.  Written before the region, which publishes it. */
static void reset_claims(size_t per, int threads, void *ws) {
  for (int t = 0; t + 1 < threads; t += 2) {
    long *c = claim_state(ws, per, t);
    c[2] = -1;
    c[3] = 0;
  }
}

static int empty_output(const cbp_dconv_desc *d) {
  return d->n < 1 || d->ho < 1 || d->wo < 1 || d->co < 1;
}

void cbp_dconv_run(const cbp_dconv_desc *d, int threads, const float *in, float *out, void *ws) {
  if (empty_output(d)) return;
  if (d->ntaps == 0) {
    zero_output(d, threads, out);
    return;
  }
  engine_plan pl;
  engine_run er;
  plan_engine(d, threads, in, out, ws, &pl, &er);
  reset_claims(er.per, threads, ws);
  /* One thread runs on the caller, also inside the caller's active region (the
     MMA strategies run one engine a thread over their own pixels): the body
     has no omp construct (a pair's claims spin on a lock of their own, which
     a lone thread never takes), so it needs no team of its own (cbp_parallel
     would open one). */
  if (threads <= 1)
    engine_thread(&er, 0, 1);
  else
    cbp_parallel(threads, engine_thread, &er);
}

typedef struct {
  const cbp_dconv_desc *d;
  const float *in;
  float *const *out;
  int count, threads;
  void *ws;
  size_t per; /* bytes of a thread's slice, the same for every desc */
} engine_list;

/* Thread tid of nth runs its share of every desc in turn, with no barrier
   between them: their outputs are disjoint.  Each thread keeps one slice of
   the workspace, sized for the desc with the most taps: with a slice a desc,
   a thread's panel for one desc could overlap its neighbour's for another.
   Chunk epochs go on rising from one desc to the next, so a pair's claim
   state starts over at each desc's first claim, as at each chunk
   (claim_rows). */
static void list_thread(void *ctx, int tid, int nth) {
  const engine_list *el = ctx;
  long epoch0 = 0;
  for (int i = 0; i < el->count; i++) {
    const cbp_dconv_desc *d = &el->d[i];
    if (empty_output(d)) continue;
    if (d->ntaps == 0) {
      zero_job z = {d, el->out[i], zero_stream(d, el->threads)};
      zero_rows(&z, tid, nth);
      continue;
    }
    engine_plan pl;
    engine_run er;
    plan_engine(d, nth, el->in, el->out[i], el->ws, &pl, &er);
    er.per = el->per;
    er.epoch0 = epoch0;
    engine_thread(&er, tid, nth);
    epoch0 += (er.total_rows + er.chunk_rows - 1) / er.chunk_rows;
  }
}

void cbp_dconv_run_list(const cbp_dconv_desc *d, int count, int threads, const float *in,
                        float *const *out, void *ws) {
  if (count < 1) return;
  if (threads <= 1 || count == 1) {
    for (int i = 0; i < count; i++) cbp_dconv_run(&d[i], threads, in, out[i], ws);
    return;
  }
  size_t per = 0;
  for (int i = 0; i < count; i++) {
    const size_t b = slice_bytes(d[i].ntaps, panel_cap());
    per = b > per ? b : per;
  }
  reset_claims(per, threads, ws);
  engine_list el = {d, in, out, count, threads, ws, per};
  cbp_parallel(threads, list_thread, &el);
}
