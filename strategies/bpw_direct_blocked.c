/* bpw_direct_blocked: backward weights by the blocked direct engine.
 *
 *   dW(k, r, s, :) = sum_{n, p, q} dO(n, p, q, k) * A(n, p*st_h + r*d_h - pad_h, q*st_w + s*d_w - pad_w, :)
 *
 * For one tap this is dO^T . A_shifted (K x C), reduced over N*P*Q pixels: the
 * microkernel keeps kb x (nv vectors of C) accumulators in registers for a whole
 * chunk of pixels, broadcasting dO (K contiguous) and loading A (C contiguous),
 * and adds them into dW, whose KRSC layout holds each (k, r, s) row of C
 * contiguously: no transposition, no im2col.  For each tap only the rows and
 * columns p, q whose input exists are visited (padding costs nothing).
 *
 * With few input channels (K > C, and C < 16 as in the 7x7 stem's C = 3, or C
 * filling at most half of the tile's vectors: see swap_roles) vectors over C
 * would be mostly empty, so the roles swap: the tile vectorizes over K and
 * broadcasts A, into dW^T(r, s, c, k) in the workspace, transposed into dW at
 * the end.  There, with dilation 1 across the width, a task takes the S taps
 * of a kernel row together (see merge_taps).
 *
 * Threads, either of two ways (see split_pixels):
 * - each owns a fixed set of (k block, tap, c block) outputs, so the reduction
 *   needs neither atomics nor per-thread partials; all threads walk the same
 *   chunks of output rows, or of whole images when they are small (A and dO of
 *   a chunk stay in L2 while every tap and block reads them).  The static
 *   schedule gives a thread the same outputs in every chunk, so chunks need
 *   no barrier.  k blocks vary slowest, so a thread owns whole k blocks over
 *   every tap: it reads only its share of dO, the edge taps (fewer valid
 *   rows) fall evenly to all threads, and dW is written along its KRSC rows;
 * - or, when dW is small, each takes a contiguous range of output rows, runs
 *   every task on its chunks into its own copy of dW, and the copies are
 *   summed in a fixed order: each core reads its share of A and dO, not all.
 * When each float of dO feeds enough FMAs, or a 1x1 kernel's K puts dO's
 * pixels 2 KiB or more apart (see pack_do), each thread first
 * copies the dO of a chunk, for the k blocks it works on, into k-block-major
 * order, so that the broadcasts of a pixel are contiguous; for 1x1 kernels
 * (see pack_a), also its A into c-block-major order.  When C > K and dW is
 * small (see pack_dw), threads that split dW split it by c blocks, each into a
 * contiguous copy of its blocks.
 * Workspace: dW^T when the roles swap, plus threads - 1 copies of dW when they
 * split the pixels, plus a copy of a chunk's dO, and of its A, per thread when
 * packed, and of its blocks of dW.
 * Supports every valid problem. */

#include "internal.h"

static int ceil_div(int a, int b) { return (a + b - 1) / b; }

/* The chunks, the threads' split and the packed dW are sized by the L2 of a
   core, 1 MiB when the system does not say (cbp_l2_bytes_or_1mib). */

/* Bytes of dW a thread owns when the threads split dW. */
static size_t dw_share_bytes(const cbp_problem *pb, int threads) {
  return pb->out_elems * sizeof(float) / (size_t)threads;
}

/* Whether to vectorize over K instead of C (see above), for the kernel set
   that workspace() and run() both get from bpw_isa().  With K > C:
   - C < 16 (any set);
   - C in one vector (C <= 16 on AVX-512): the tile is kb x 1 vector, 6
     accumulators where 24 fit;
   - C in at most half of the tile's vectors (17-32 on AVX-512) while dO is
     not packed (R*S*C <= 512, see pack_do): the tile fills half its
     accumulators, and broadcasts from dO rows of K floats at a stride of K,
     where swapped it broadcasts from A rows of C floats;
   the last two only on more than 4096 output pixels (N*P*Q), where the
   swapped path's transposition of dW^T, one more parallel pass, is paid back.
   bpw_direct_blocked swapped against not, Zen 5 EPYC (AVX-512), N = 8 (4 for
   the 7x7 kernel), medians of 9 and of 15 alternating rounds in one process,
   1 / 2 threads:
     gains:   1x1 56x56 C = 16, K = 64 1.61x, 1.69x / 1.73x; 7x7 112x112 C =
              16, K = 64 1.44x / 1.44x, 1.47x / 1.53x; 5x5 C = 20, K = 64
              1.60x / 1.60x, 1.63x / 1.62x; 1x1 C = 32, K = 128 1.18x, 1.09x
              / 1.06x, 1.07x / 1.05x; 3x3 C = 32, K = 64 1.08x, 1.10x /
              1.07x, at 112x112 1.09x / 1.07x, at stride 2 1.19x / 1.13x;
              3x3 28x28 C = 24, K = 48 1.46x / 1.42x;
     left as they are: 5x5 C = 32 (dO packed) 0.99x / 0.97x; 7x7 images,
              3x3 C = 32, K = 128 0.98x / 0.79x (70 us); 14x14, 1x1 C = 32,
              K = 256 1.03x / 0.98x; C = 40-48 0.96-1.32x (3x3 C = 48, K = 96
              1.02x / 0.98x); C = 60, K = 200 0.97x / 0.96x; C = 64 from 0.86x
              (7x7 images) to 1.19x (res2a_branch1, where bpw_im2col_gemm is
              about as fast).
   AVX2's tile is 2 vectors wide, so only C < 16 swaps there: emulated on the
   same machine (CONVBP_ISA=avx2), swapping lost at C = 16 (0.96x) and C = 32
   (0.81x). */
static int swap_roles(const cbp_problem *pb, const cbp_direct_isa *isa) {
  const convbp_conv *c = &pb->conv;
  if (c->k <= c->c) return 0;
  if (c->c < 16) return 1;
  const int vc = ceil_div(c->c, isa->vl); /* vectors over C */
  return (long)c->n * pb->p * pb->q > 4096 &&
         (vc == 1 || (2 * vc <= isa->nv_max && (long)c->r * c->s * c->c <= 512));
}

/* The channels the tile holds in vectors: C, or K when the roles swap. */
static int vec_channels(const cbp_problem *pb) {
  return swap_roles(pb, cbp_direct_isa_get()) ? pb->conv.k : pb->conv.c;
}

/* The kernel set of workspace() and run(): the one for those channels
   (cbp_direct_isa_for: AVX2's for at most 8 where 512-bit FMAs run at half
   rate).  The roles swap alike under both sets there: K <= C never swaps,
   and C < 16 under K > C always does. */
static const cbp_direct_isa *bpw_isa(const cbp_problem *pb) {
  return cbp_direct_isa_for(vec_channels(pb));
}

/* Channels a tile broadcasts at a time (k, or c when swapped): kb_max, or
   the kernel set's thin_kb (16 on AVX-512, 12 on AVX2) when the vector
   channels (c, or k when swapped) fit one vector, whose tile then has only
   kb accumulators.  Zen 5 EPYC, medians of 3 alternating rounds, 1 / 2
   threads, time against kb_max: 3x3 C = K = 16 at 14x14 0.72 / 0.88, at
   56x56 0.71 / 0.72; C = K = 8 at 56x56 0.62 / 0.63 (AVX2 0.57 / 0.58). */
static int kblk_of(const cbp_problem *pb, const cbp_direct_isa *isa) {
  const int vec_ch = swap_roles(pb, isa) ? pb->conv.k : pb->conv.c;
  return isa->thin_kb > isa->kb_max && vec_ch <= isa->vl ? isa->thin_kb : isa->kb_max;
}

/* Whether the tasks of a swapped problem (broadcasting A) take the S taps of a
   kernel row together: with dilation 1 across the width, the S*C floats they
   read at a pixel are consecutive in A, so they are S*C broadcast rows of one
   tile over the same dO vectors, in blocks of kblk_of (see run_merged_task).
   Tap by tap, a C = 3 stem filled 3 of the tile's 6 rows, each dO vector
   loaded fed 3 FMAs, and each of the 49 taps streamed the chunk's dO from L2;
   merged, 6 rows and 28 passes.  bpw_direct_blocked merged against tap by
   tap, Zen 5 EPYC, medians of 8 alternating rounds, 1 / 2 threads: resnet50
   conv1 (7x7, C = 3) 1.07x / 1.06x, VGG-16 conv1_1 (3x3, C = 3) 1.14x /
   1.06x, 3x3 C = 8 1.05x / 1.08x, 5x5 C = 20 1.04x / 1.03x, 3x3 C = 32
   1.05x / 1.05x; C = 24 (whole groups of 6 a tap) and 3x3 C = 16 even
   (0.98-1.01x); 7x7 C = 16 1.00x / 0.97x, its pixels at the edges of 7 taps
   now in calls of their own.  With AVX2 kernels (CONVBP_ISA=avx2, 6 rounds):
   conv1 1.27x / 1.29x, conv1_1 1.09x / 1.13x, C = 8 1.25x / 1.25x. */
static int merge_taps(const cbp_problem *pb, int swap) {
  return swap && pb->conv.dil_w == 1 && pb->conv.s > 1;
}

/* Whether the threads split the pixels, each summing into its own copy of dW,
   rather than splitting dW.  Splitting dW makes every core read all of A and
   dO; splitting the pixels halves that on 2 cores, for the cost of the copies
   and their sum.  That pays while a copy stays in L2 beside the chunk (each
   chunk adds into all of it) and is small beside the data.  2 threads on the
   model-167 Xeon, medians of 3 alternating runs: res2a_branch2b 375 -> 396
   GFLOP/s, conv1 296 -> 324, res2b_branch2a 258 -> 322; with dW of 1 MB or
   more (res4a_branch2c, res4a_branch1, res5) 3-15% slower.  Where the data
   is over 16 times the copies, up to half of L2 pays as well: res3a_branch1
   (dW 512 KiB, A and dO 38.5 MB) on 2 threads of a Zen 5 EPYC (1 MiB L2),
   medians of 21 alternating rounds, twice: 1.16x and 1.12x, where every core
   had copied all of A for its k blocks; res4a_branch2a (the same dW beside
   14.5 MB) 0.92x, and stays split by k blocks. */
static int split_pixels(const cbp_problem *pb, int threads) {
  if (threads < 2) return 0;
  const convbp_conv *c = &pb->conv;
  const size_t l2 = cbp_l2_bytes_or_1mib();
  const size_t dw = pb->out_elems * sizeof(float);
  const double data =
      ((double)c->h * c->w * c->c + (double)pb->p * pb->q * c->k) * c->n * sizeof(float);
  return (dw <= l2 / 3 && (double)dw * threads <= data / 4) ||
         (dw <= l2 / 2 && (double)dw * threads <= data / 16);
}

/* The chunks of pixels: output rows of one image, or whole images when small.
   Output rows a chunk: its dO rows and the A rows they read in ~512 KiB.
   Small images: a chunk holds as many whole ones as fit in half of L2 (at
   least 512 KiB), so that each block of dW is loaded and stored once per
   chunk, not once per image.  res5a_branch2b's dW is 9.4 MB beside 200 KB
   of A and dO per image: 5 images a chunk on a 2 MiB L2 made its BPW 10%
   faster; chunks of the whole L2 made res4a_branch2b's 15% slower.
   Unpadded 1x1 kernels whose dW is over half of L2: every chunk streams dW
   from beyond L2 and back, so chunks are as big as L2 allows, rows or whole
   images in 3/4 of L2, counting the Q pixels of A an output row reads (the
   rows between, at stride 2, are not read).  resnet50 BPW on the model-167
   Xeon, medians of 5 alternating runs, 1 / 2 threads: res5a_branch1 (21 ->
   98 pixels a chunk) +54 / +46%, res5a_branch2a (28 -> 245) +29 / +24%,
   res4a_branch1 (42 -> 196) +8 / +6%, res5a_branch2c (98 -> 147) +2 / +6%,
   res5b_branch2a (98 -> 147) -1.8 / -0.3%.  Where dW stays in L2 the count
   is left as it was: counting res3a_branch2a's rows so made its chunks 3x
   bigger and its BPW 2.6% slower.  Keeping dW in L2 instead, one panel of
   it over all chunks at a time, lost 5-15% on res5b_branch2a: each panel
   copies A (or dO) again.
   When a thread's share of dW is bigger than L2, nothing of it survives from
   one chunk to the next, and a smaller L2 only means more passes over it:
   the chunk then gets at least 1.5 MiB (3/4 of the Xeon's 2 MiB), and a
   chunk over L2 streams its copied A from L3 in order.  Zen 4 EPYC (1 MiB
   L2), medians of 5 alternating runs, 1 / 2 threads: res5b_branch2a (49 ->
   147 pixels a chunk) +4.6 / +1.9%, res5a_branch1 +2.7 / +4.2%,
   res5a_branch2c +4.7 / +3.7%, res5a_branch2a and res4a_branch1 +0.9% and
   +0.3% (1 thread; on 2 their share is 1 MiB), while the layers the rule
   leaves alone moved by -5.7..+2.9%.  In 3 runs, chunks of 1.5 MiB for every
   dW over half of L2 lost up to 5% on res4a_branch2c and res4b_branch2a,
   whose 1 MB of dW a thread on 2 threads stays in L2. */
static void plan_chunks(const cbp_problem *pb, int threads, int *chunk_rows, int *imgs) {
  const convbp_conv *c = &pb->conv;
  const int P = pb->p;
  enum { CHUNK_FLOATS = 512 * 1024 / sizeof(float) };
  const size_t l2 = cbp_l2_bytes_or_1mib();
  const long half_l2 = (long)(l2 / 2 / sizeof(float));
  long row_floats = (long)pb->q * c->k + (long)c->stride_h * c->w * c->c;
  long row_budget = CHUNK_FLOATS, img_budget = half_l2 > CHUNK_FLOATS ? half_l2 : CHUNK_FLOATS;
  if (c->r == 1 && c->s == 1 && c->pad_h == 0 && c->pad_w == 0 &&
      pb->out_elems * sizeof(float) > l2 / 2) {
    row_floats = (long)pb->q * (c->k + c->c);
    row_budget = img_budget = (long)(l2 / 4 * 3 / sizeof(float));
    enum { STREAMED_DW_CHUNK_FLOATS = 3 * 512 * 1024 / sizeof(float) };
    if (dw_share_bytes(pb, threads) > l2 && row_budget < STREAMED_DW_CHUNK_FLOATS)
      row_budget = img_budget = STREAMED_DW_CHUNK_FLOATS;
  }
  int rows = (int)(row_budget / (row_floats > 0 ? row_floats : 1));
  if (rows < 1) rows = 1;
  if (rows > P) rows = P;
  *chunk_rows = rows;
  *imgs = 1;
  if (rows == P) {
    long per_img = img_budget / (row_floats * P > 0 ? row_floats * P : 1);
    *imgs = per_img < 1 ? 1 : per_img > c->n ? c->n : (int)per_img;
  }
}

/* Whether each thread first copies the dO of a chunk into k-block-major order,
   dOk(k block, pixel, kblk): the tile's broadcasts then read kblk contiguous
   floats a pixel, where in NPQK they take a cache line each at a stride of K
   floats, which L1 cannot keep beside the stream of A.  The tile alone on
   res4a_branch2b's shapes, model-167 Xeon: 80.5% of peak from NPQK, 89% from
   the copy.  Only when the roles are not swapped (dO is then broadcast),
   there is more than one k block, and each float of dO feeds more than 512
   FMAs (R*S*C), against which the copy's cost is small.  resnet50 BPW on
   that Xeon, medians of 5 alternating runs, 1 / 2 threads: the 3x3 layers
   (R*S*C = 576..4608) +3.4..9.9%; at 512, res3b_branch2a +2.2 / +3.2% but
   res4a_branch2a -2.3 / -2.5%; below, res3a_branch2c (128) -2.5 / -1.6%
   and res2a_branch1 (64) -12 / -10%.
   Also for 1x1 kernels with K >= 512: dO's pixels then lie 2 KiB or more
   apart, in at most 2 of L1's 64 sets, so the lines a k block broadcasts
   from are gone before the next c block (or the next k block, in the same
   line) reads them again.  Zen 4 EPYC (L1d 32 KiB, 8 ways), medians of 9
   rounds in one process, 1 / 2 threads, time against NPQK: res3a_branch2c
   (C = 128, K = 512) 0.82 / 0.82, res4a_branch2c 0.91 / 0.99, res3a_branch1
   0.92 / 0.97, res4a_branch1 0.95 / 1.01, res5a_branch2c 0.96 / 0.97,
   res5a_branch1, res5a_branch2a and res5b_branch2a 0.99-1.01; with the
   AVX2 kernels (CONVBP_ISA=avx2) res3a_branch2c 1.01 / 1.01, res4a_branch2c
   0.90 / 0.91, res5a_branch2c 0.83 / 0.84.  At K <= 256 it lost or was
   even (5 rounds): res2a_branch1 (K = 256) 1.07 / 1.12, res2a_branch2a (64)
   1.17 / 1.15, res4a_branch2a (256) 1.00 / 1.07, res3a_branch2a (128) 1.02
   / 1.03, res3b_branch2a 0.99 / 1.00, res2b_branch2a 0.97 / 0.99. */
static int pack_do(const cbp_problem *pb, const cbp_direct_isa *isa) {
  const convbp_conv *c = &pb->conv;
  if (swap_roles(pb, isa) || c->k <= kblk_of(pb, isa)) return 0;
  return (long)c->r * c->s * c->c > 512 || (c->r == 1 && c->s == 1 && c->k >= 512);
}

/* Whether each thread also copies the chunk's A into c-block-major order,
   Ak(c block, pixel, cblk), for a 1x1 unpadded kernel, whose tasks read
   exactly the chunk's pixels.  In NHWC a c block's pixels lie st_w*C floats
   apart: at 1024 floats or more each is in another 4 KiB page and all fall
   in the same 4 of L1's 64 sets.  The 6x4 tile alone over 98 pixels,
   model-167 Xeon: C = 1024 84% of peak in NHWC, 92% from the copy; C = 2048
   76% and 87%.  The copy costs a pass over A, against the K / 6 passes of the
   k blocks.  resnet50 BPW, medians of 3 alternating runs, 1 / 2 threads:
   res5b_branch2a +11 / +9%, res4b_branch2a +6 / +1%, res4a_branch1 +4 /
   +4%, the other K >= 512 layers -1.0..+3.3%; copying every 1x1 layer, not
   only these, lost where K is small and the step short: res2a_branch2a
   (K = 64) -9 / -6%, res3a_branch2a (K = 128) -4 / -4%. */
static int pack_a(const cbp_problem *pb, const cbp_direct_isa *isa) {
  const convbp_conv *c = &pb->conv;
  return !swap_roles(pb, isa) && c->r == 1 && c->s == 1 && c->pad_h == 0 && c->pad_w == 0 &&
         (c->k >= 512 || (long)c->stride_w * c->c >= 1024);
}

/* Whether threads that split dW run their tasks c block by c block, each
   adding into a private, contiguous copy of its blocks of dW that goes to
   dW at the end: on 2 threads or more, when C > K and a thread's share of dW
   fits in a quarter of L2.  By c block, a thread's share covers only its
   part of the c blocks, so it copies only that part of each chunk's A (by
   k block, every thread copied all of it), and consecutive tasks reuse one
   c block of A from L1.  In place, a c block's tasks would step through dW
   C floats a row, in the same few L1 sets.  resnet50 BPW on the model-167
   Xeon, 2 threads, medians of 3 alternating runs: res4b_branch2a (512 KB of
   dW a thread) +7.6% and +8.9% in two sets; with shares of 1 MB or more it lost, res5a_branch2a
   -2.4% and on one thread res4b_branch2a -1.7%, res5a_branch2a -9%.  Tasks
   by c block into dW in place, the threads splitting the c blocks:
   res4b_branch2a -3.8%.  (C > K never swaps the roles: swap_roles needs K > C.) */
static int pack_dw(const cbp_problem *pb, int threads) {
  const size_t l2 = cbp_l2_bytes_or_1mib();
  const convbp_conv *c = &pb->conv;
  return threads > 1 && !split_pixels(pb, threads) && c->c > c->k &&
         dw_share_bytes(pb, threads) <= l2 / 4;
}

/* Floats of one thread's blocks of dW when packed: the most tasks a thread
   runs, kblk x cblk each. */
static size_t packed_dw_floats(const cbp_problem *pb, int threads, const cbp_direct_isa *isa) {
  const convbp_conv *c = &pb->conv;
  const size_t cblk = (size_t)isa->nv_max * isa->vl, kblk = (size_t)kblk_of(pb, isa);
  const size_t tasks = (size_t)c->r * c->s * ((c->k + kblk - 1) / kblk) * ((c->c + cblk - 1) / cblk);
  return (tasks + threads - 1) / threads * kblk * cblk;
}

/* Floats of one thread's copy of a chunk's A (width C, blocks of cblk) or dO
   (width K, blocks of kblk): every block of every pixel, padded to bw. */
static size_t packed_floats(const cbp_problem *pb, int threads, int width, int bw) {
  int chunk_rows, imgs;
  plan_chunks(pb, threads, &chunk_rows, &imgs);
  const size_t blocks = (size_t)(width + bw - 1) / bw;
  return (size_t)imgs * chunk_rows * pb->q * blocks * bw;
}

static int workspace(const cbp_problem *pb, int threads, size_t *bytes) {
  *bytes = 0;
  const cbp_direct_isa *isa = bpw_isa(pb);
  /* dW^T when the roles swap, and the copies of the threads after the first */
  const int copies =
      (swap_roles(pb, isa) ? 1 : 0) + (split_pixels(pb, threads) ? threads - 1 : 0);
  for (int i = 0; i < copies; i++)
    if (cbp_ws_add(bytes, pb->out_elems, sizeof(float))) return CONVBP_ERR_OVERFLOW;
  /* each thread's copy of a chunk's dO */
  if (pack_do(pb, isa)) {
    const size_t dok_floats = packed_floats(pb, threads, pb->conv.k, kblk_of(pb, isa));
    for (int i = 0; i < threads; i++)
      if (cbp_ws_add(bytes, dok_floats, sizeof(float))) return CONVBP_ERR_OVERFLOW;
  }
  /* each thread's copy of a chunk's A */
  if (pack_a(pb, isa)) {
    const size_t ak_floats = packed_floats(pb, threads, pb->conv.c, isa->nv_max * isa->vl);
    for (int i = 0; i < threads; i++)
      if (cbp_ws_add(bytes, ak_floats, sizeof(float))) return CONVBP_ERR_OVERFLOW;
  }
  /* and its blocks of dW */
  if (pack_dw(pb, threads))
    for (int i = 0; i < threads; i++)
      if (cbp_ws_add(bytes, packed_dw_floats(pb, threads, isa), sizeof(float)))
        return CONVBP_ERR_OVERFLOW;
  return CONVBP_OK;
}

/* What every task of every chunk shares. */
typedef struct {
  const convbp_conv *c;
  const cbp_direct_isa *isa;
  const float *A, *dO;
  int P, Q, T, swap;
  int vc, bc;         /* channels in vectors, channels broadcast */
  int cblk, kblk, ncb, nkb;
  ptrdiff_t acc_row, a_img, g_img;
  long tasks;
  int chunk_rows, imgs; /* a chunk: output rows of one image, or whole images */
  int packed;           /* whether dO is read from a thread's k-block-major copy */
  int packed_a;         /* whether A is read from a thread's c-block-major copy */
  int packed_dw;        /* task order (c block, k block, tap), into a thread's blocks of dW */
  int merged;           /* a task's tap is a kernel row of S*C broadcast rows (merge_taps) */
} bpw_plan;

/* One chunk as a task sees it: images [n, n + nimg), output rows [p0, p1), and
   when packed, the thread's copy of its dO for k blocks kb0 on: block kb at
   dok + (kb - kb0) * blk, pixel (img, p, q) at ((img * (p1 - p0) + p - p0) * Q + q) * kblk. */
typedef struct {
  int n, nimg, p0, p1, kb0;
  const float *dok;
  ptrdiff_t blk;
  int cb0;         /* when A is packed: c block cb at ak + (cb - cb0) * ablk, pixel x at x * cblk */
  const float *ak;
  ptrdiff_t ablk;
} bpw_chunk;

/* d[j] = s[j] for j < n: one block of one pixel.  The kb_max of the kernel
   sets (6 for AVX-512 and AVX2, 4 for portable) get constant sizes, which
   the compiler turns into two or one moves instead of a call of memcpy. */
static inline void copy_block(float *d, const float *s, int n) {
  if (n == 6)
    memcpy(d, s, 6 * sizeof(float));
  else if (n == 4)
    memcpy(d, s, 4 * sizeof(float));
  else
    memcpy(d, s, (size_t)n * sizeof(float));
}

/* The chunk's pixels x = (img * rows + row) * cols + col, each `width` floats
   at src + img * s_img + row * s_row + col * s_pix, copied in blocks of bw
   for blocks [b0, b1]:
     dst[(b - b0) * blk + x * bw + j] = pixel x's float b * bw + j,
   j < bw and b * bw + j < width.  Returns blk, the floats a block. */
static ptrdiff_t copy_by_blocks(float *dst, const float *src, ptrdiff_t s_img, ptrdiff_t s_row,
                                ptrdiff_t s_pix, int imgs, int rows, int cols, int width, int bw,
                                int b0, int b1) {
  const ptrdiff_t blk = (ptrdiff_t)imgs * rows * cols * bw;
  for (int img = 0; img < imgs; img++)
    for (int row = 0; row < rows; row++) {
      const float *sp = src + img * s_img + row * s_row;
      float *dp = dst + ((ptrdiff_t)(img * rows + row) * cols) * bw;
      for (int col = 0; col < cols; col++, sp += s_pix, dp += bw)
        for (int b = b0; b <= b1; b++) {
          const int j0 = b * bw, n = width - j0 < bw ? width - j0 : bw;
          copy_block(dp + (b - b0) * blk, sp + j0, n);
        }
    }
  return blk;
}

/* The thread's copy of the chunk's dO for k blocks [kb0, kb1]:
     dok[(kb - kb0) * blk + x * kblk + j] = dO(n + img, p, q, kb * kblk + j). */
static void copy_do(const bpw_plan *z, bpw_chunk *ch, int kb1, float *dok) {
  const ptrdiff_t g_row = (ptrdiff_t)z->Q * z->c->k;
  ch->dok = dok;
  ch->blk = copy_by_blocks(dok, z->dO + ch->n * z->g_img + ch->p0 * g_row, z->g_img, g_row,
                           z->c->k, ch->nimg, ch->p1 - ch->p0, z->Q, z->c->k, z->kblk, ch->kb0,
                           kb1);
}

/* The thread's copy of the chunk's A (1x1, unpadded) for c blocks [cb0, cb1]:
     ak[(cb - cb0) * ablk + x * cblk + j] = A(n + img, p * st_h, q * st_w, cb * cblk + j). */
static void copy_a(const bpw_plan *z, bpw_chunk *ch, int cb1, float *ak) {
  const convbp_conv *c = z->c;
  const ptrdiff_t a_row = (ptrdiff_t)c->stride_h * c->w * c->c;
  ch->ak = ak;
  ch->ablk = copy_by_blocks(ak, z->A + ch->n * z->a_img + ch->p0 * a_row, z->a_img, a_row,
                            (ptrdiff_t)c->stride_w * c->c, ch->nimg, ch->p1 - ch->p0, z->Q, c->c,
                            z->cblk, ch->cb0, cb1);
}

/* A task's k block, tap and c block, in the order (k block, tap, c block),
   or (c block, k block, tap) when dW is packed. */
static inline void task_coords(const bpw_plan *z, long task, int *kb, int *t, int *cb) {
  if (z->packed_dw) {
    *cb = (int)(task / ((long)z->nkb * z->T));
    *kb = (int)(task / z->T % z->nkb);
    *t = (int)(task % z->T);
  } else {
    *kb = (int)(task / ((long)z->ncb * z->T));
    *t = (int)(task / z->ncb % z->T);
    *cb = (int)(task % z->ncb);
  }
}

/* Where the block of acc of task (kb, t, cb) starts: kn rows of cw floats,
   acc_row apart. */
static inline float *task_block(const bpw_plan *z, int kb, int t, int cb, float *acc, int *kn,
                                int *cw) {
  const int k0 = kb * z->kblk, c0 = cb * z->cblk; /* first broadcast and vector channel */
  *kn = z->bc - k0 < z->kblk ? z->bc - k0 : z->kblk;
  *cw = z->vc - c0 < z->cblk ? z->vc - c0 : z->cblk;
  if (!z->swap) return acc + ((ptrdiff_t)k0 * z->T + t) * z->c->c + c0;
  return acc + ((ptrdiff_t)t * z->bc + k0) * z->c->k + c0;
}

/* cbp_out_span within [lo0, hi0): the output positions [*lo, *hi) of a tap
   at offset o whose input lies inside [0, in) at stride st.  Empty as
   *lo == *hi. */
static void inside(int o, int st, int in, int lo0, int hi0, int *lo, int *hi) {
  cbp_out_span(o, st, in, lo, hi);
  if (*lo < lo0) *lo = lo0;
  if (*hi > hi0) *hi = hi0;
  if (*lo > *hi) *lo = *hi;
}

/* The pixels q of a row whose tap s of a kernel row, dilation 1 across the
   width (merged tasks), is inside the width. */
static void tap_cols(const convbp_conv *c, int Q, int s, int *lo, int *hi) {
  inside(s - c->pad_w, c->stride_w, c->w, 0, Q, lo, hi);
}

/* A merged task over one chunk (roles swapped, dilation 1 across the width):
 * kernel row r, broadcast rows j in [j0, j0 + kn) of the S*C that the row's
 * taps read side by side,
 *   dW^T(r*S*C + j, k) += sum_{n, p, q} A(n, h, q*st_w - pad_w + j / C, j % C) * dO(n, p, q, k),
 *   h = p*st_h + r*d_h - pad_h,
 * the j of a pixel being consecutive floats of A from its first tap on.  The
 * pixels whose every tap of the group is inside the width go in one tile
 * call; the few at the edges, tap by tap, each over its own rows of j. */
static void run_merged_task(const bpw_plan *z, int r, int j0, int kn, int c0, int cw,
                            const bpw_chunk *ch, float *out) {
  const convbp_conv *c = z->c;
  const cbp_direct_isa *isa = z->isa;
  const int C = c->c, K = c->k, oh = r * c->dil_h - c->pad_h;
  int plo, phi;
  inside(oh, c->stride_h, c->h, ch->p0, ch->p1, &plo, &phi);
  if (plo >= phi) return;
  const int nv = ceil_div(cw, isa->vl), last = cw - (nv - 1) * isa->vl;
  const ptrdiff_t a_row = (ptrdiff_t)c->stride_h * c->w * C, a_pix = (ptrdiff_t)c->stride_w * C;
  const ptrdiff_t g_row = (ptrdiff_t)z->Q * K;
  const float *a_at = z->A + ch->n * z->a_img + (ptrdiff_t)(plo * c->stride_h + oh) * c->w * C;
  const float *g_at = z->dO + ch->n * z->g_img + plo * g_row + c0;
  /* rows [ja, jb) over pixels [qa, qb): A at pixel q's tap ja / C, channel ja % C */
#define MERGED_CALL(ja, jb, qa, qb)                                                             \
  isa->bpw_tile((jb) - (ja), nv, g_at + (ptrdiff_t)(qa) * K, g_row, K,                            \
                a_at + ((ptrdiff_t)(qa) * c->stride_w + (ja) / C - c->pad_w) * C + (ja) % C,      \
                a_row, a_pix, phi - plo, (qb) - (qa), ch->nimg, z->g_img, z->a_img,               \
                out + (ptrdiff_t)((ja) - j0) * K, K, last, 1)
  const int s0 = j0 / C, s1 = (j0 + kn - 1) / C;
  int qa, qb, lo, hi;
  tap_cols(c, z->Q, s0, &qa, &lo); /* the first tap starts latest */
  tap_cols(c, z->Q, s1, &lo, &qb); /* the last ends earliest */
  if (qb < qa) qb = qa;
  if (qb > qa) MERGED_CALL(j0, j0 + kn, qa, qb);
  for (int s = s0; s <= s1; s++) {
    const int ja = s * C > j0 ? s * C : j0, jb = (s + 1) * C < j0 + kn ? (s + 1) * C : j0 + kn;
    tap_cols(c, z->Q, s, &lo, &hi);
    if (lo < (hi < qa ? hi : qa)) MERGED_CALL(ja, jb, lo, hi < qa ? hi : qa);
    if ((lo > qb ? lo : qb) < hi) MERGED_CALL(ja, jb, lo > qb ? lo : qb, hi);
  }
#undef MERGED_CALL
}

/* One task, a (k block, tap, c block) of dW, over one chunk; adds into acc
   (dW(k, t, c), or dW^T(t, c, k)).  Task order k block, tap, c block
   (fastest): against tap, k block, c block, 9
   alternating runs on the model-167 Xeon gave res5a_branch2b +2.5% (1 thread)
   and +2.8% (2), res4a_branch2b +1.2% on 2 threads and res3a_branch2b -1.2%
   on 1 (both near the noise), and the 1x1 layers, whose order is unchanged,
   moved by -1.6% to +0.6% (the noise). */
static inline void run_task(const bpw_plan *z, long task, const bpw_chunk *ch, float *acc,
                            float *blk) {
  const convbp_conv *c = z->c;
  const cbp_direct_isa *isa = z->isa;
  int kb, t, cb, kn, cw;
  task_coords(z, task, &kb, &t, &cb);
  float *out = task_block(z, kb, t, cb, acc, &kn, &cw);
  ptrdiff_t out_row = z->acc_row;
  if (z->merged) {
    assert(!blk); /* merged tasks swap the roles (K > C); dW is packed only for C > K */
    run_merged_task(z, t, kb * z->kblk, kn, cb * z->cblk, cw, ch, out);
    return;
  }
  if (blk) { /* the task's block of the thread's copy of dW */
    out = blk;
    out_row = z->cblk;
  }
  const int r = t / c->s, s = t % c->s;
  const int oh = r * c->dil_h - c->pad_h, ow = s * c->dil_w - c->pad_w;
  /* p with 0 <= p*st_h + oh <= H-1, within the chunk; q likewise */
  int plo, phi, qlo, qhi;
  inside(oh, c->stride_h, c->h, ch->p0, ch->p1, &plo, &phi);
  inside(ow, c->stride_w, c->w, 0, z->Q, &qlo, &qhi);
  if (plo >= phi || qlo >= qhi) return;
  const int k0 = kb * z->kblk, c0 = cb * z->cblk; /* first broadcast and vector channel */
  const int nv = ceil_div(cw, isa->vl);
  const float *a_at = z->A + ch->n * z->a_img +
                      ((ptrdiff_t)(plo * c->stride_h + oh) * c->w + qlo * c->stride_w + ow) * c->c;
  ptrdiff_t a_row = (ptrdiff_t)c->stride_h * c->w * c->c;
  ptrdiff_t a_pix = (ptrdiff_t)c->stride_w * c->c, a_img = z->a_img;
  int a_c0 = c0;
  if (z->packed_a) { /* the copy holds exactly pixels [p0, p1) x [0, Q) */
    a_pix = z->cblk;
    a_row = (ptrdiff_t)z->Q * a_pix;
    a_img = (ptrdiff_t)(ch->p1 - ch->p0) * a_row;
    a_at = ch->ak + (cb - ch->cb0) * ch->ablk + (plo - ch->p0) * a_row + qlo * a_pix;
    a_c0 = 0;
  }
  const int last = cw - (nv - 1) * isa->vl;
  /* dO at this task's first pixel: in NPQK from the chunk's first image, or
     in the copy from its first row (kblk floats a pixel, at k block kb, so
     no k0 to add) */
  ptrdiff_t g_pix = c->k, g_img = z->g_img;
  const float *g_at = z->dO + ch->n * g_img;
  int row0 = 0, g_k0 = k0;
  if (z->packed) {
    g_pix = z->kblk;
    g_img = (ptrdiff_t)(ch->p1 - ch->p0) * z->Q * g_pix;
    g_at = ch->dok + (kb - ch->kb0) * ch->blk;
    row0 = ch->p0;
    g_k0 = 0;
  }
  const ptrdiff_t g_row = (ptrdiff_t)z->Q * g_pix;
  g_at += (plo - row0) * g_row + qlo * g_pix;
  if (!z->swap)
    isa->bpw_tile(kn, nv, a_at + a_c0, a_row, a_pix, g_at + g_k0, g_row, g_pix, phi - plo,
                  qhi - qlo, ch->nimg, a_img, g_img, out, out_row, last, 1);
  else
    isa->bpw_tile(kn, nv, g_at + c0, g_row, g_pix, a_at + k0, a_row, a_pix, phi - plo, qhi - qlo,
                  ch->nimg, g_img, z->a_img, out, out_row, last, 1);
}

/* The blocks of tasks [t0, t1) in acc: block x, row i = pw + x * blk, row i
   (rows of cblk floats), or zeros when pw is NULL. */
static void put_blocks(const bpw_plan *z, long t0, long t1, float *acc, const float *pw,
                       ptrdiff_t blk) {
  for (long task = t0; task < t1; task++) {
    int kb, t, cb, kn, cw;
    task_coords(z, task, &kb, &t, &cb);
    float *o = task_block(z, kb, t, cb, acc, &kn, &cw);
    for (int i = 0; i < kn; i++) {
      if (pw)
        memcpy(o + i * z->acc_row, pw + (task - t0) * blk + (ptrdiff_t)i * z->cblk,
               (size_t)cw * sizeof(float));
      else
        memset(o + i * z->acc_row, 0, (size_t)cw * sizeof(float));
    }
  }
}

/* The walks take the plan by value: a private copy stays in registers across
   the tile calls, where the shared one was reloaded (3% on res5a_branch1). */

/* Threads split dW: thread `me` of nt runs its contiguous share of the tasks on
   every chunk (the same share each time), after copying the dO of the k
   blocks and the A of the c blocks that share covers, when packed.  With dW
   packed, task x of the share adds into its block of the thread's copy, pw
   + x * kblk * cblk (rows of cblk floats), which goes to dW at the end; the
   copy holds pw_floats, the share of `threads` threads, so if OpenMP gave
   fewer, the tasks add into dW in place. */
static void walk_all_chunks(const bpw_plan z, int me, int nt, float *acc, float *dok,
                            float *ak, float *pw, size_t pw_floats) {
  const int P = z.P, N = z.c->n;
  const int chunks_per_img = ceil_div(P, z.chunk_rows), groups = ceil_div(N, z.imgs);
  const long t0 = z.tasks * me / nt, t1 = z.tasks * (me + 1) / nt;
  if (t0 >= t1) return;
  const ptrdiff_t blk = (ptrdiff_t)z.kblk * z.cblk;
  int kb0 = z.nkb, kb1 = -1, cb0 = z.ncb, cb1 = -1; /* the blocks the share covers */
  for (long task = t0; task < t1; task++) {
    int kb, t, cb;
    task_coords(&z, task, &kb, &t, &cb);
    kb0 = kb < kb0 ? kb : kb0;
    kb1 = kb > kb1 ? kb : kb1;
    cb0 = cb < cb0 ? cb : cb0;
    cb1 = cb > cb1 ? cb : cb1;
  }
  if (pw && (size_t)(t1 - t0) * blk > pw_floats) pw = NULL;
  if (pw) memset(pw, 0, (size_t)(t1 - t0) * blk * sizeof(float));
  else if (z.packed_dw) /* dW was not zeroed beforehand: each thread zeroes its blocks */
    put_blocks(&z, t0, t1, acc, NULL, blk);
  for (long chunk = 0; chunk < (long)groups * chunks_per_img; chunk++) {
    bpw_chunk ch = {.n = (int)(chunk / chunks_per_img) * z.imgs,
                    .p0 = (int)(chunk % chunks_per_img) * z.chunk_rows,
                    .kb0 = kb0,
                    .cb0 = cb0};
    ch.nimg = N - ch.n < z.imgs ? N - ch.n : z.imgs;
    ch.p1 = ch.p0 + z.chunk_rows < P ? ch.p0 + z.chunk_rows : P;
    if (z.packed) copy_do(&z, &ch, kb1, dok);
    if (z.packed_a) copy_a(&z, &ch, cb1, ak);
    for (long task = t0; task < t1; task++)
      run_task(&z, task, &ch, acc, pw ? pw + (task - t0) * blk : NULL);
  }
  if (pw) put_blocks(&z, t0, t1, acc, pw, blk);
}

/* Threads split the pixels: thread `me` of nt runs every task on the chunks of
   its contiguous range of output rows (n, p), adding into its own copy of dW. */
static void walk_own_rows(const bpw_plan z, int me, int nt, float *mine, float *dok,
                          float *ak) {
  const int P = z.P;
  const long rows = (long)z.c->n * P, g1 = rows * (me + 1) / nt;
  for (long g = rows * me / nt; g < g1;) {
    const int n = (int)(g / P), p0 = (int)(g % P);
    /* whole images left in the range, when chunks are whole images */
    const long whole = p0 == 0 && z.chunk_rows == P ? (g1 - g) / P : 0;
    int nimg = 1, p1;
    if (whole > 0) {
      nimg = whole < z.imgs ? (int)whole : z.imgs;
      p1 = P;
    } else {
      p1 = (p0 / z.chunk_rows + 1) * z.chunk_rows;
      if (p1 > P) p1 = P;
      if (p1 - p0 > g1 - g) p1 = p0 + (int)(g1 - g);
    }
    bpw_chunk ch = {.n = n, .nimg = nimg, .p0 = p0, .p1 = p1, .kb0 = 0};
    if (z.packed) copy_do(&z, &ch, z.nkb - 1, dok);
    if (z.packed_a) copy_a(&z, &ch, z.ncb - 1, ak);
    for (long task = 0; task < z.tasks; task++) run_task(&z, task, &ch, mine, NULL);
    g += (long)nimg * (p1 - p0);
  }
}

/* What every thread of run reads: the plan, and each thread's buffers. */
typedef struct {
  const bpw_plan *z;
  const cbp_problem *pb;
  int split; /* the threads split the pixels, each into its part[me] */
  float *acc, **part, **dok, **ak, **pw;
  size_t pw_floats;
} bpw_run;

static void bpw_thread(void *ctx, int me, int nt) {
  const bpw_run *r = ctx;
  if (!r->split) {
    walk_all_chunks(*r->z, me, nt, r->acc, r->dok[me], r->ak[me], r->pw[me], r->pw_floats);
  } else {
    memset(r->part[me], 0, r->pb->out_elems * sizeof(float));
    walk_own_rows(*r->z, me, nt, r->part[me], r->dok[me], r->ak[me]);
#pragma omp barrier
    cbp_sum_partials(r->acc, r->part, nt, r->pb->out_elems);
  }
}

static int run(const cbp_problem *pb, int threads, const float *A, const float *dO, float *dW,
               void *ws) {
  const convbp_conv *c = &pb->conv;
  bpw_plan z = {.c = c, .isa = bpw_isa(pb), .A = A, .dO = dO, .P = pb->p, .Q = pb->q,
                .T = c->r * c->s};
  z.swap = swap_roles(pb, z.isa);
  z.merged = merge_taps(pb, z.swap);
  if (z.merged) z.T = c->r;
  const int P = z.P, Q = z.Q;
  z.vc = z.swap ? c->k : c->c;
  z.bc = z.merged ? c->s * c->c : z.swap ? c->c : c->k;
  z.acc_row = z.swap ? c->k : (ptrdiff_t)z.T * c->c;
  z.cblk = z.isa->nv_max * z.isa->vl;
  z.kblk = kblk_of(pb, z.isa);
  z.ncb = ceil_div(z.vc, z.cblk);
  z.nkb = ceil_div(z.bc, z.kblk);
  z.a_img = (ptrdiff_t)c->h * c->w * c->c;
  z.g_img = (ptrdiff_t)P * Q * c->k;
  z.tasks = (long)z.T * z.nkb * z.ncb;
  plan_chunks(pb, threads, &z.chunk_rows, &z.imgs);
  z.packed = pack_do(pb, z.isa);
  z.packed_a = pack_a(pb, z.isa);
  z.packed_dw = pack_dw(pb, threads);
  float *acc = z.swap ? ws : dW; /* dW(k, t, c), or dW^T(t, c, k) */
  const int split = split_pixels(pb, threads);
  /* the threads' copies of acc when they split the pixels: the first is acc */
  float *part[split ? threads : 1];
  cbp_arena ar = {ws, 0};
  if (z.swap) cbp_take(&ar, pb->out_elems * sizeof(float)); /* acc itself */
  part[0] = acc;
  for (int t = 1; t < (split ? threads : 1); t++)
    part[t] = cbp_take(&ar, pb->out_elems * sizeof(float));
  /* each thread's copy of a chunk's dO, when packed */
  const size_t dok_bytes = z.packed ? packed_floats(pb, threads, c->k, z.kblk) * sizeof(float) : 0;
  float *dok[threads];
  for (int t = 0; t < threads; t++) dok[t] = z.packed ? cbp_take(&ar, dok_bytes) : NULL;
  /* and of its A */
  const size_t ak_bytes = z.packed_a ? packed_floats(pb, threads, c->c, z.cblk) * sizeof(float) : 0;
  float *ak[threads];
  for (int t = 0; t < threads; t++) ak[t] = z.packed_a ? cbp_take(&ar, ak_bytes) : NULL;
  /* and its blocks of dW */
  const size_t pw_bytes = z.packed_dw ? packed_dw_floats(pb, threads, z.isa) * sizeof(float) : 0;
  float *pw[threads];
  for (int t = 0; t < threads; t++) pw[t] = z.packed_dw ? cbp_take(&ar, pw_bytes) : NULL;

  if (!split && !z.packed_dw) memset(acc, 0, pb->out_elems * sizeof(float));
  bpw_run r = {&z, pb, split, acc, part, dok, ak, pw, pw_bytes / sizeof(float)};
  cbp_parallel(threads, bpw_thread, &r);
  /* dW(k, t, c) = dW^T(t, c, k) */
  if (z.swap) cbp_swap_outer_inner(acc, dW, (size_t)c->r * c->s * c->c, 1, (size_t)c->k, threads);
  return CONVBP_OK;
}

const cbp_strategy cbp_bpw_direct_blocked = {
    .name = "bpw_direct_blocked",
    .op = CONVBP_BPW,
    .summary = "backward weights: register-blocked dO^T . A per tap over NHWC channels, no im2col",
    .workspace = workspace,
    .run = run,
    .vec_channels = vec_channels,
};
