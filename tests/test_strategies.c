/* Every registered strategy against the reference, on shapes generated from a
 * table: named edge cases first, then a grid that walks strides 1..4,
 * dilations 1..3, pads from 0 to beyond (R-1)*d, every remainder, R != S,
 * H != W, and N, C, K of 1 and odd primes.  Threads 1 and 2, and 3 for the
 * shapes of the table three_threads.  Each BPA/BPW
 * strategy also passes the adjoint test paired with fwd_direct.
 *
 * A strategy may decline a problem only where the may_skip table says so; any
 * other skip fails, and the number of skips is printed.
 *
 * Usage: test_strategies [GRID] [NAMES]: NAMES (comma-separated substrings)
 * restricts the run to matching strategies, e.g. to run the blocked direct
 * engine's kernels (and bpa_scatter_gemm's, which uses its add_runs) again
 * under CONVBP_ISA=avx2 and =portable. */
#define _POSIX_C_SOURCE 200809L /* setenv */
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "convbp.h"
#include "testing.h"

typedef struct {
  const char *why;
  convbp_conv p; /* n c h w k r s pad_h pad_w stride_h stride_w dil_h dil_w */
} shape;

static const shape edges[] = {
    {"seed 002 stride example", {1, 1, 5, 5, 1, 3, 3, 0, 0, 2, 2, 1, 1}},
    {"seed 002 dilation example", {1, 1, 5, 5, 1, 2, 2, 0, 0, 1, 1, 2, 2}},
    {"ERRATA 2: H=6 R=3 stride 2 loses a row", {1, 2, 6, 6, 3, 3, 3, 0, 0, 2, 2, 1, 1}},
    {"remainder 3 at stride 4", {2, 3, 14, 11, 2, 3, 3, 1, 0, 4, 4, 1, 1}},
    {"pad beyond the kernel reach", {1, 2, 4, 5, 3, 3, 3, 5, 4, 1, 1, 1, 1}},
    {"pad beyond reach, strided and dilated", {2, 3, 5, 4, 2, 2, 3, 4, 6, 3, 2, 2, 3}},
    /* Pads, strides and dilations up to the bound convbp_conv_out_dims puts on
       them, H + 2*pad + stride + dil*(R-1) <= INT_MAX (the second at it): the
       strategies' index arithmetic in int must stay defined (UBSan in CI), on
       tensors of a few floats.  Past it, before the bound, 2*pad, pad + stride
       and (R-1)*dil overflowed int in bpa_zero_insert_gemm, bpa_scatter_gemm,
       bpa_stride_phase_blocked and the blocked engine's tap spans
       (cbp_out_span); these rows hold every strategy to it. */
    {"int limit: pad and dilation", {1, 2, 1, 3, 2, 3, 1, 536870910, 0, 1, 1, 536870910, 1}},
    {"int limit: pad and stride", {1, 2, 1, 3, 2, 1, 1, 536870911, 0, 1073741824, 1, 1, 1}},
    {"int limit: pad and dilation across", {1, 2, 3, 1, 2, 1, 3, 0, 536870910, 1, 1, 1, 536870910}},
    {"int limit: pad and stride across", {2, 3, 5, 1, 2, 2, 1, 0, 536870911, 1, 1073741823, 1, 1}},
    {"kernel larger than the image, padded", {1, 3, 2, 3, 2, 5, 4, 2, 1, 1, 1, 1, 1}},
    {"1x1", {3, 5, 4, 3, 7, 1, 1, 0, 0, 1, 1, 1, 1}},
    {"1x1 stride 2", {2, 5, 7, 6, 3, 1, 1, 0, 0, 2, 2, 1, 1}},
    {"1x1, rows split over threads (N*H*W >= 128)", {2, 9, 11, 8, 5, 1, 1, 0, 0, 1, 1, 1, 1}},
    /* cbp_sgemm_split_m: 128 pixels, fewer than C or K but over an 8th of
       them, split by rows; BPA's 1100 columns, over 8 times 128, by columns. */
    {"1x1, GEMM rows split though C, K > N*H*W", {2, 300, 8, 8, 200, 1, 1, 0, 0, 1, 1, 1, 1}},
    {"1x1, GEMM columns split, C > 8 N*H*W", {2, 1100, 8, 8, 20, 1, 1, 0, 0, 1, 1, 1, 1}},
    /* bpw_im2col_gemm reduces N*P*Q = 286 rows in several sgemm calls: 2 of 143
       on one thread; on two, each thread 143 into its partial (dW is small). */
    {"1x1, BPW reduction in several sgemm calls", {2, 64, 13, 11, 400, 1, 1, 0, 0, 1, 1, 1, 1}},
    /* Few pixels (3: more cost time and test nothing more) and a dW over twice
       L2 (6.6-6.9 MB, for an L2 up to 3 MiB): two threads split dW itself.
       1x1 stride 1 splits its K rows, also where C = 1400 > K, unless C > 8 K
       (8200 columns); after im2col (3x3) the longer side, RSC = 1440 columns
       (on 16-float lines) or K = 1400 rows. */
    {"1x1 few pixels, BPW threads split dW rows, C > K", {1, 1400, 1, 3, 1200, 1, 1, 0, 0, 1, 1, 1, 1}},
    {"1x1 few pixels, BPW threads split dW columns, C > 8 K", {1, 8200, 1, 3, 200, 1, 1, 0, 0, 1, 1, 1, 1}},
    {"1x1 few pixels, BPW threads split dW rows", {1, 1200, 1, 3, 1400, 1, 1, 0, 0, 1, 1, 1, 1}},
    {"3x3 few pixels, BPW threads split dW columns", {1, 160, 1, 3, 1200, 3, 3, 1, 1, 1, 1, 1, 1}},
    {"3x3 few pixels, BPW threads split dW rows", {1, 150, 1, 3, 1400, 3, 3, 1, 1, 1, 1, 1, 1}},
    /* OpenBLAS small-matrix slices (cbp_sgemm_rows, bpw_im2col_gemm): 1x1 with
       C = K = 64 gives slices of 244 rows, 323 rows per thread on two; the
       stem's K x RSC = 64 x 147 gives 106 rows per slice of 256-row blocks. */
    {"1x1 C = K = 64, GEMMs in small-kernel slices", {2, 64, 17, 19, 64, 1, 1, 0, 0, 1, 1, 1, 1}},
    {"stem with K = 64, col2im GEMMs in slices", {2, 3, 31, 31, 64, 7, 7, 3, 3, 2, 2, 1, 1}},
    /* Strided 1x1 with Q >= 24 (cbp_strided_1x1_block): sgemm reads A (BPW) and
       writes dA (BPA) in place at leading dimension st_w * C.  With Q = 25 and
       K x C = 400 x 250 the small kernel takes dA in column blocks of 84, 84, 82
       and dW in row blocks of 134, 134, 132; H = 8 at stride 3 leaves row 7
       unread (zeroed).  A single output row gives a thread of two nothing. */
    {"1x1 strided in place, column and row blocks", {2, 250, 8, 50, 400, 1, 1, 0, 0, 3, 2, 1, 1}},
    {"1x1 strided in place, one output row", {1, 16, 2, 49, 32, 1, 1, 0, 0, 2, 2, 1, 1}},
    /* The same over the L2 of 2 threads up to 4 MiB (dA 5.9 MB): on AMD CPUs
       the zeros between sgemm's pixels (bpa_scatter_gemm) and those of the
       stride phases no tap reaches (bpa_stride_phase_blocked) go by streaming
       stores, and C = 125 leaves every pixel's floats off a line boundary. */
    {"1x1 strided in place, dA over L2", {3, 125, 62, 63, 8, 1, 1, 0, 0, 2, 2, 1, 1}},
    {"1x1 padded", {1, 3, 3, 4, 2, 1, 1, 1, 2, 1, 1, 1, 1}},
    {"1x1 stride 3 padded, unread rows and columns", {2, 5, 8, 7, 3, 1, 1, 2, 1, 3, 2, 1, 1}},
    /* 1x1 strided with rows of cols over 256 KiB: bpa_scatter_gemm places dA in
       several row blocks, per image (N >= T) and with a threaded GEMM (N < T),
       by streaming stores (dA is 9.4 MB, over the L2 of 2 threads up to 4 MiB). */
    {"1x1 stride 2, row blocks, one image", {1, 2048, 9, 128, 3, 1, 1, 1, 0, 2, 2, 1, 1}},
    {"1x1 stride 2, row blocks, two images", {2, 1024, 9, 128, 3, 1, 1, 1, 0, 2, 2, 1, 1}},
    {"R != S, H != W", {2, 3, 9, 5, 4, 1, 5, 0, 2, 1, 1, 1, 1}},
    {"single pixel", {1, 1, 1, 1, 1, 1, 1, 0, 0, 1, 1, 1, 1}},
    /* fwd_dot_blocked: C = 37 is two full vectors (AVX-512; four on AVX2)
       and a masked tail, K = 5 two channel blocks (4 + 1; 3 + 2 on AVX2),
       Q = 13 tiles of 5 + 4 + 4 (AVX-512); K = 16 is the most it takes. */
    {"few output channels: dot tiles, a channel tail, two K blocks",
     {2, 37, 6, 13, 5, 3, 3, 1, 1, 1, 1, 1, 1}},
    {"K = 16, strided, the widest dot tiles", {1, 20, 5, 9, 16, 3, 2, 1, 0, 1, 2, 1, 1}},
    /* fwd_dot_blocked moves a tile's taps down from row to row where every
       kernel row is inside (stride_h input rows on, zero rows kept), and
       builds them anew at the top and bottom and in each new image */
    {"dot taps moved down the rows: stride 2, dilation 2, padded W",
     {2, 33, 11, 9, 2, 3, 3, 1, 2, 2, 1, 2, 1}},
    /* fwd_im2col_blocked: 10000 pixels of 25 floats of cols (C = 1, 5x5) are
       four 256 KiB blocks on one thread, two a thread on two, whose shares
       meet at pixel 4992 (whole 16-pixel groups); K = 5 is one masked vector. */
    {"C = 1, 5x5 s2: im2col blocks, several a thread", {2, 1, 200, 100, 5, 5, 5, 2, 2, 2, 2, 1, 1}},
    /* cbp_im2col_rows (the GEMM strategies, fwd_im2col_blocked): kernel rows
       of 1 to 8 floats inside (a fixed move of S*C floats each) and cut by
       the padding at both ends (overlapping moves of 4 and 2, or one float). */
    {"C = 1, 7x7, padding cuts kernel rows to 4-6", {1, 1, 9, 20, 17, 7, 7, 3, 3, 1, 1, 1, 1}},
    {"C = 2, 1x4, kernel rows of 8, cut to 2-6", {2, 2, 3, 11, 33, 1, 4, 0, 3, 1, 2, 1, 1}},
    {"C = 1, 2x3 dilated across, runs of one float", {1, 1, 6, 9, 7, 2, 3, 1, 2, 1, 1, 1, 2}},
    {"stride larger than the kernel", {2, 3, 9, 9, 2, 2, 2, 0, 0, 3, 3, 1, 1}},
    {"dilation 3 stride 4", {1, 2, 13, 12, 3, 3, 2, 2, 1, 4, 3, 3, 2}},
    /* bpa_stride_phase_blocked runs its phases in lists of 64: 9 x 8 = 72
       phases make two, most of them phases no tap reaches (zeros). */
    {"stride 9 x 8, stride phases beyond one list", {2, 3, 20, 17, 4, 3, 2, 1, 0, 9, 8, 1, 1}},
    {"resnet-like 3x3 (small)", {2, 16, 8, 8, 16, 3, 3, 1, 1, 1, 1, 1, 1}},
    {"stem-like 7x7 stride 2", {1, 3, 15, 15, 8, 7, 7, 3, 3, 2, 2, 1, 1}},
    /* C = 3 stems whose col2im runs (stride*C floats apart, S*C long) have
       compiled-in masks (add_runs_grouped, AVX-512): interior pixels in groups of
       4 and a tail of 3, 1, 1 and 1. */
    {"C = 3, 7x7 stride 2, col2im groups and a tail", {1, 3, 9, 45, 5, 7, 7, 3, 3, 2, 2, 1, 1}},
    {"C = 3, 3x3 stride 1, col2im groups and a tail", {2, 3, 6, 23, 4, 3, 3, 1, 1, 1, 1, 1, 1}},
    {"C = 3, 3x3 stride 2, col2im groups and a tail", {1, 3, 7, 29, 6, 3, 3, 1, 1, 2, 2, 1, 1}},
    {"C = 3, 7x7 stride 1, col2im groups and a tail", {1, 3, 8, 31, 4, 7, 7, 3, 3, 1, 1, 1, 1}},
    {"C=1 K=1 N=1", {1, 1, 7, 5, 1, 3, 2, 1, 0, 2, 1, 1, 2}},
    {"odd primes", {3, 7, 11, 13, 5, 3, 5, 2, 1, 2, 3, 1, 1}},
    /* Large R*S*C: the GEMM strategies split into several L2-sized blocks, so the
       threaded paths with private buffers and partial sums run. */
    {"many GEMM blocks", {2, 512, 8, 8, 4, 3, 3, 1, 1, 1, 1, 1, 1}},
    {"many GEMM blocks, strided, one image", {1, 300, 13, 9, 3, 3, 3, 1, 0, 2, 1, 1, 1}},
    /* bpa_scatter_gemm zeroes dA rows as its blocks first reach them: with the
       stride beyond the kernel (3 > R = 2) and 2 output rows per block, dA row 5
       lies between two blocks and is read by none. */
    {"stride beyond the kernel between GEMM blocks", {1, 2048, 11, 32, 3, 2, 1, 0, 0, 3, 1, 1, 1}},
    /* The blocked direct engine: several register blocks of channels with a
       masked tail (C, K > 64, not multiples of 16), several stride phases over
       them, and BPW chunks of rows (wide rows of many channels). */
    {"channel blocks with tails", {2, 70, 6, 7, 100, 3, 3, 1, 1, 1, 1, 1, 1}},
    {"channel blocks with tails, stride phases", {1, 37, 9, 8, 83, 3, 3, 1, 1, 2, 2, 1, 1}},
    /* A channel block of the engine holds several register blocks (AVX2: 4 x
       16 channels, portable: 8 x 8), run one after another over each tile:
       53 and 61 channels end in a narrower register block, in rows wide
       enough for border calls (W = 10, the narrowest padded rows that take
       them, see plan_engine) and in narrow rows tiled across row ends
       (W = 5; on AVX-512 at half rate, a Zen 4, those take row tiles too,
       so W = 1, whose one pixel and 130 channels are 4 sums, keeps the
       tiles across row ends with three register blocks there). */
    {"register blocks of a channel block, border calls", {2, 53, 9, 10, 61, 3, 3, 1, 1, 1, 1, 1, 1}},
    {"register blocks of a channel block, narrow rows", {2, 61, 5, 5, 53, 3, 3, 1, 1, 1, 1, 1, 1}},
    {"register blocks, narrow rows 1 wide", {2, 130, 5, 1, 131, 3, 3, 1, 1, 1, 1, 1, 1}},
    {"several row chunks per image", {1, 512, 8, 64, 16, 3, 3, 1, 1, 1, 1, 1, 1}},
    /* Small images of many channels: BPW chunks of several whole images (7 at
       a 2 MiB L2, 3 at 1 MiB or less), the last group short; the padded rows
       each tap skips repeat in every image of a chunk. */
    {"BPW chunks of whole images, last one short", {8, 16, 6, 6, 1024, 3, 1, 1, 0, 1, 1, 1, 1}},
    /* bpw_direct_blocked copies dO into k-block-major order (R*S*C > 512, K > 6):
       K = 13 ends in a block of 1; a 256-wide image gives chunks of 6 and 3
       rows, which 2 threads split by pixels (each copies its own chunks); the
       second's dW is large beside its data, so 2 threads split the 63 tasks,
       the second starting inside k block 3, over chunks of two whole images. */
    {"BPW dO copied by k blocks, row chunks", {1, 64, 9, 256, 13, 3, 3, 1, 1, 1, 1, 1, 1}},
    {"BPW dO copied by k blocks, tasks split", {2, 64, 12, 9, 40, 3, 3, 1, 0, 2, 2, 1, 1}},
    /* bpw_direct_blocked copies A into c-block-major order (1x1 unpadded, and
       K >= 512 or a pixel step of 1024 floats or more): C = 520 and 70 end in
       a block of 8 and of 6; the first, at stride 2, gives chunks of 6 and 2
       rows, split by pixels on 2 threads; the second's dW is large beside its
       data, so 2 threads split its tasks over chunks of whole images, and
       its K = 512 (a 1x1 kernel) has dO copied by k blocks as well, K ending
       in a block of 2. */
    {"BPW A copied by c blocks, stride 2", {2, 520, 15, 20, 13, 1, 1, 0, 0, 2, 2, 1, 1}},
    {"BPW A copied by c blocks, K >= 512", {5, 70, 8, 8, 512, 1, 1, 0, 0, 1, 1, 1, 1}},
    /* bpw_direct_blocked on 2 threads, C > K and dW over a third of L2 (2 MiB)
       but a thread's share under a quarter: tasks by c block into per-thread
       copies of dW; the threads' shares meet inside a c block (the second),
       C ends in a block of 22 and 26, K in one of 4.  The 3x3 copies dO; the
       1x1 also copies the c blocks of A its share covers. */
    {"BPW dW packed per thread, 3x3", {1, 150, 5, 5, 100, 3, 3, 1, 1, 1, 1, 1, 1}},
    {"BPW dW packed per thread, 1x1", {1, 1050, 3, 3, 190, 1, 1, 0, 0, 1, 1, 1, 1}},
    /* bpw_direct_blocked with AVX-512 kernels swaps the roles (vectors over
       K, dW^T transposed at the end) beyond C < 16 when K > C, over 4096
       output pixels, and C fills one vector (C = 16; K = 40 ends in half a
       vector) or at most half of the tile's four, dO not copied (C = 20,
       R*S*C = 180; K = 36 ends in a vector of 4).  With AVX2 or portable
       kernels both run unswapped. */
    {"BPW roles swapped, C in one vector", {2, 16, 48, 48, 40, 1, 1, 0, 0, 1, 1, 1, 1}},
    {"BPW roles swapped, C in half the vectors, 3x3", {1, 20, 66, 64, 36, 3, 3, 1, 1, 1, 1, 1, 1}},
    /* Swapped with dilation 1 across the width, the S taps of a kernel row are
       S*C broadcast rows of one task (merge_taps), in groups of kb_max that
       straddle taps (C = 5): the pixels where a group's every tap is inside
       the width in one call, the edges tap by tap; rows dilated, columns
       strided.  Then no pixel with every tap inside (W = 1), and columns
       dilated, which keeps the tasks tap by tap. */
    {"BPW swapped, a kernel row's taps merged, rows dilated", {2, 5, 13, 17, 24, 3, 4, 2, 1, 1, 2, 3, 1}},
    {"BPW swapped, taps merged, no pixel inside them all", {1, 3, 3, 1, 8, 1, 5, 0, 2, 1, 1, 1, 1}},
    {"BPW swapped, columns dilated: taps one by one", {1, 4, 11, 12, 20, 2, 3, 1, 2, 2, 1, 1, 2}},
    /* The conv engine with fewer than 32 input channels (FWD's C, BPA's K)
       runs a kernel row's S taps as one tap of S*ci channels where all of
       them reach every pixel of a tile (merge_group): rows wider than two
       tiles, pads that leave some of a row's taps short of the end tiles,
       and a stride-2 BPA whose phases merge sub-kernel rows of 3 and 4
       taps; then rows dilated with columns merged, and a width where the
       taps of a row reach no tile in full. */
    {"engine: a kernel row's taps merged, 7x7 stride 2", {1, 3, 30, 40, 20, 7, 7, 3, 3, 2, 2, 1, 1}},
    {"engine: taps merged, rows dilated", {2, 5, 9, 33, 17, 3, 4, 1, 2, 1, 1, 2, 1}},
    {"engine: taps merged, no tile in reach of a whole row", {1, 6, 5, 14, 9, 2, 9, 0, 8, 1, 1, 1, 1}},
    /* A 1x1 layer whose dW (1.07 MB) is over half of an L2 of 2 MiB or less:
       bpw_direct_blocked sizes its chunks by 3/4 of L2, counting only the
       pixels a stride-2 row reads (one chunk here: splitting one needs some
       380 pixels, 100 M multiply-adds a run).  Its K = 514 also has dO
       copied by k blocks, at stride 2, K ending in a block of 4. */
    {"BPW dW over half of L2, stride 2", {2, 520, 6, 6, 514, 1, 1, 0, 0, 2, 2, 1, 1}},
    /* Unpadded outputs under three tiles wide: the engine's tiles run across
       row and image ends (narrower ones with padding are all over the grid). */
    {"tiles across row ends, 1x1 to width 14", {2, 20, 14, 14, 70, 1, 1, 0, 0, 1, 1, 1, 1}},
    {"tiles across row ends, 1x1 stride 2 to width 14", {2, 19, 28, 27, 35, 1, 1, 0, 0, 2, 2, 1, 1}},
    /* One-tap rows of at most 32 input channels (FWD's C, BPA's K) run as
       runs of tiles (one_tap_runs in src/direct.c): tiles of np_max and
       np_max - 1 pixels (200 = 30 x 6 + 4 x 5 on AVX-512), channel blocks
       of several register blocks (K = 200: 64 + 64 + 64 + 8) over
       stretches of the row; BPA's 100 channels from 20 (64 + 36, a last
       vector of 4); a stride of 2 along the row, K = 50 (a last vector of
       2). */
    {"runs of tiles, blocks of a row", {1, 32, 4, 200, 200, 1, 1, 0, 0, 1, 1, 1, 1}},
    {"runs of tiles, BPA from 20 channels", {2, 100, 3, 97, 20, 1, 1, 0, 0, 1, 1, 1, 1}},
    {"runs of tiles, stride 2 along rows", {2, 7, 9, 61, 50, 1, 1, 0, 0, 2, 2, 1, 1}},
    /* ... and of thin tiles (one vector of output channels): 131 = 3 x 14 +
       7 x 13 on AVX-512 (K = 16, and BPA's 9), 10 x 12 + 11 on AVX2's (K = 8,
       which AVX2's kernels take where AVX-512 runs at half rate). */
    {"runs of thin tiles", {2, 9, 3, 131, 16, 1, 1, 0, 0, 1, 1, 1, 1}},
    {"runs of thin tiles, 8 output channels", {1, 12, 2, 131, 8, 1, 1, 0, 0, 1, 1, 1, 1}},
    /* Padded rows exactly 7 wide: one 7-pixel tile a row (7 x 3 vectors on
       AVX-512, 7 x 2 on AVX2), its border taps in 6-pixel calls, channel
       blocks with tails (60 = 48 + 12 on AVX-512, 16 + 16 + 16 + 12 on AVX2),
       and (FWD, C = 310) two input-channel blocks accumulating into the
       output.  A 7 x 2 tile that drops its last pixel fails 18 checks. */
    {"7-wide padded rows, channel blocks with tails", {1, 310, 4, 7, 60, 3, 3, 1, 1, 1, 1, 1, 1}},
    /* Rows of one tile run the calls kept from a row like them (row_memo):
       in one-row images 13 wide (narrow below 12) every row has the same
       valid taps, and FWD's 1100 input channels make 4 or more ci blocks
       for 8 output channels, whose rows differ only in where the block
       starts (i0). */
    {"one-tile rows over several ci blocks", {2, 1100, 1, 13, 8, 3, 3, 1, 1, 1, 1, 1, 1}},
    /* An input-bound 1x1 (wide_blocks in src/direct.c): FWD reads 13 MB of
       input (8 L2s of 1.5 MiB or less) for 200 KB of output, so its 100
       output channels run as one block of two register blocks (AVX-512:
       64 + 36; a panel of 768 KiB holds 1524 of the 1600 input channels of
       such a block on these narrow rows, so two ci blocks), rather than two
       blocks in one ci block each. */
    {"input-bound 1x1, channel blocks of 128", {2, 1600, 32, 32, 100, 1, 1, 0, 0, 2, 2, 1, 1}},
    /* Two threads on channel blocks of unequal width and two ci blocks (BPA:
       96 output channels as 64 + 32 on AVX-512, 160 input channels of 25
       taps beyond a panel of 768 KiB).  The threads' shares meet inside the
       64-channel block; the thread alone on it claims rows no further than
       that, and once its passes are done claims what its partner has not
       (run_block).  At stride 2 the four stride phases run in one region, a
       pair's claims starting over at each (the 9-tap phase in two ci blocks):
       a thread that left a phase with rows unclaimed would lose them. */
    {"unequal channel blocks, two ci blocks", {2, 96, 9, 9, 160, 5, 5, 1, 1, 1, 1, 1, 1}},
    {"unequal channel blocks, two ci blocks, phases", {2, 96, 9, 9, 400, 5, 5, 2, 2, 2, 2, 1, 1}},
    /* Kernel rows that tile the width (stride_w = S, no pad or dilation
       across, W a multiple of S): fwd_direct_blocked and
       bpa_stride_phase_blocked see W/S pixels of S*C channels under an R x 1
       kernel (cbp_fold_width).  A patch embedding with K past a vector, rows
       padded, dilated and strided under folded columns, a 1 x S kernel whose
       folded C fills one vector, folded channels past a channel block; and a
       width one short of a multiple and a padded width, which do not fold. */
    {"folded width: 4x4 patches at stride 4", {2, 3, 8, 16, 20, 4, 4, 0, 0, 4, 4, 1, 1}},
    {"folded width, rows padded, dilated and strided", {1, 5, 11, 12, 7, 3, 3, 2, 0, 2, 3, 2, 1}},
    {"folded width, 1x4 kernel into one vector", {2, 4, 3, 20, 9, 1, 4, 0, 0, 1, 4, 1, 1}},
    {"folded width, channels past a block", {1, 96, 4, 8, 40, 2, 2, 0, 0, 2, 2, 1, 1}},
    {"width one short of the patches: not folded", {1, 3, 8, 15, 6, 4, 4, 0, 0, 4, 4, 1, 1}},
    {"width padded under patches: not folded", {1, 3, 8, 16, 6, 4, 4, 0, 1, 4, 4, 1, 1}},
};

/* Strategies that may decline a problem, and the words their reason contains. */
static const struct {
  const char *strategy;
  const char *reason;
} may_skip[] = {
    {"bpa_seed_as_written", "recipe as written"},
    {"bpa_onednn", "oneDNN"},
    {"bpw_onednn", "oneDNN"},
    {"fwd_onednn", "oneDNN"},
    {"bpa_onednn_blocked", "oneDNN"},
    {"bpw_onednn_blocked", "oneDNN"},
    {"fwd_onednn_blocked", "oneDNN"},
    {"fwd_dot_blocked", "K > 16"},
    {"fwd_im2col_blocked", "C > 4"},
};

/* Strategies that are wrong on purpose: verification must catch them somewhere. */
static const char *const expected_wrong[] = {"bpa_seed_as_written"};

static int is_expected_wrong(const char *strategy) {
  for (size_t i = 0; i < sizeof expected_wrong / sizeof expected_wrong[0]; i++)
    if (!strcmp(strategy, expected_wrong[i])) return 1;
  return 0;
}

static int skip_allowed(const char *strategy, const char *reason) {
  for (size_t i = 0; i < sizeof may_skip / sizeof may_skip[0]; i++)
    if (strcmp(strategy, may_skip[i].strategy) == 0 && reason &&
        strstr(reason, may_skip[i].reason))
      return 1;
  return 0;
}

/* Also run on 3 threads.  The engine's threads take equal shares of
   (vector, row) units: 80 output channels are channel blocks of 64 + 16,
   4 + 1 vectors on AVX-512 (8 + 2 on AVX2), so on 3 threads shares start
   inside a block, at rows rounded up from a unit count.  Threads 0 and 1
   pair up and claim the rows of the block that holds the boundary between
   them (the first) from either end, and the third thread runs its share
   alone: the rest of the first block and the whole second.  Width 9 runs
   the tiles across row ends, width 16 the row tiles. */
static const shape three_threads[] = {
    {"engine: shares of unequal channel blocks", {2, 80, 7, 9, 80, 3, 3, 1, 1, 1, 1, 1, 1}},
    {"engine: shares of unequal channel blocks, wide rows", {1, 80, 5, 16, 80, 3, 3, 1, 1, 1, 1, 1, 1}},
};

/* The grid: index i picks each parameter from a small cycle, with co-prime
   cycle lengths so the combinations spread out. */
static shape grid_shape(int i) {
  static const int odd[] = {1, 3, 5, 7, 2};
  shape s = {"grid", {0}};
  convbp_conv *p = &s.p;
  p->stride_h = 1 + i % 4;
  p->stride_w = 1 + (i / 4) % 4;
  p->dil_h = 1 + (i / 2) % 3;
  p->dil_w = 1 + (i / 3) % 3;
  p->r = 1 + (i / 5) % 4;
  p->s = 1 + (i / 7) % 4;
  int reach_h = (p->r - 1) * p->dil_h, reach_w = (p->s - 1) * p->dil_w;
  p->pad_h = (i / 11) % (reach_h + 3);  /* 0 .. reach+2 */
  p->pad_w = (i / 13) % (reach_w + 3);
  /* Heights walk through every remainder mod the stride. */
  p->h = reach_h + 1 + (i / 3) % (2 * p->stride_h + 3);
  p->w = reach_w + 1 + (i / 5) % (2 * p->stride_w + 2);
  if (i % 9 == 0) p->h = 1 + i % 3; /* occasionally smaller than the kernel: pads rescue it */
  p->n = odd[i % 5];
  p->c = odd[(i / 2) % 5];
  p->k = odd[(i / 3) % 5];
  return s;
}

static int run_all(int argc, char **argv);

/* CONVBP_TEST_NESTED=1: every check runs on one thread of an active parallel
   region of the caller's, as a framework's thread pool would call convbp.
   Nested regions are then inactive: each parallel region of a strategy
   gets one thread where it asked for two, and must still be right. */
int main(int argc, char **argv) {
  /* every thread count runs its threaded paths, however small the shape
     (the blocked strategies otherwise run small problems on one thread) */
  setenv("CONVBP_THREAD_FLOPS", "0", 0);
  const char *nested = getenv("CONVBP_TEST_NESTED");
  if (!nested || strcmp(nested, "1")) return run_all(argc, argv);
  omp_set_max_active_levels(1);
  int rc = 0;
#pragma omp parallel num_threads(2)
  {
#pragma omp master
    rc = run_all(argc, argv);
  }
  return rc;
}

static int run_all(int argc, char **argv) {
  int grid = argc > 1 ? atoi(argv[1]) : 320;
  const char *only = argc > 2 ? argv[2] : NULL;
  int shapes = 0, runs = 0, skipped = 0, adjoints = 0, caught = 0, faulty_present = 0;
  const int nedges = (int)(sizeof edges / sizeof edges[0]);
  const int nthree = (int)(sizeof three_threads / sizeof three_threads[0]);
  const int total = nedges + nthree + grid;
  for (int i = 0; i < total; i++) {
    const int three = i >= nedges && i < nedges + nthree;
    shape sh = i < nedges ? edges[i] : three ? three_threads[i - nedges] : grid_shape(i - nthree);
    const convbp_conv *p = &sh.p;
    if (convbp_conv_validate(p)) continue; /* the grid may produce an empty output */
    shapes++;
    char desc[160];
    convbp_conv_format(p, NULL, desc, sizeof desc);
    /* One verifier a shape: its references are made once for every strategy
       and thread count (they were three quarters of this test's time). */
    convbp_verifier *v;
    int vst = convbp_verifier_create(p, 1000 + (uint64_t)i, &v);
    CHECK(vst == 0, "verifier for %s: %s", desc, convbp_strerror(vst));
    if (vst) continue;
    for (int si = 0; si < convbp_strategy_count(); si++) {
      const char *name = convbp_strategy_name(si);
      convbp_op op = convbp_strategy_op(si);
      if (convbp_op_is_mma(op) || !test_selected(name, only)) continue;
      for (int threads = 1; threads <= (three ? 3 : 2); threads++) {
        convbp_check res;
        double gap;
        int st = convbp_verifier_check(v, name, threads, &res, &gap);
        if (st == CONVBP_ERR_UNSUPPORTED) {
          const char *reason = NULL;
          convbp_conv_supports(name, p, &reason);
          CHECK(skip_allowed(name, reason), "%s skipped %s (%s): %s", name, desc, sh.why,
                reason ? reason : "?");
          skipped++;
          continue;
        }
        runs++;
        if (is_expected_wrong(name)) {
          faulty_present = 1;
          CHECK(st == 0, "%s on %s: %s", name, desc, convbp_strerror(st));
          caught += st == 0 && !res.passed;
          continue;
        }
        CHECK(st == 0, "%s on %s (%s), %d threads: %s", name, desc, sh.why, threads,
              convbp_strerror(st));
        CHECK(st || res.passed,
              "%s on %s (%s), %d threads: %zu bad elements, worst #%zu at %.3g x bound, "
              "max abs err %.3g\n  rerun: convbp run --op %s --strategy %s --threads %d --problem %s",
              name, desc, sh.why, threads, res.bad_count, res.worst_index, res.max_err_ratio,
              res.max_abs_err, convbp_op_name(op), name, threads, desc);
        if (op != CONVBP_FWD && st == 0) {
          adjoints++;
          CHECK(gap <= 1.0, "adjoint of %s on %s (%s), %d threads: gap %.3g x bound", name,
                desc, sh.why, threads, gap);
        }
      }
    }
    convbp_verifier_destroy(v);
  }
  /* MMA shapes: 1s, primes, tall, wide; on 2 threads {3, 200, 129} splits BPA's
     dX by columns and BPW's dW by rows, {40, 300, 20} BPW's dW by columns;
     {32, 1000, 100} goes in slices of 24 (and a last of 4) for OpenBLAS's
     small-matrix kernel where it has one (cbp_small_gemm_slice).  For the
     engine: mma_bpa_conv1x1_blocked (N input channels, pixels along K where
     N K >= M N + 2 M K, else along M): {300, 150, 500} M pixels, 8 register
     blocks of 64 to share (the last of 52); {70, 300, 900} K pixels, 2
     blocks (the last of 6); {80, 2100, 70} and {20, 2100, 70} M and K
     pixels with more input channels than one panel holds with 1 MiB of L2
     (two ci blocks); {3, 200, 129}, {32, 1000, 100} and {1, 7, 3} K pixels
     too, the last with fewer pixels than two threads' 16-float shares (the
     first thread has none).  M pixels on more than one thread where W is
     within a quarter of L2 and dY, W and dX within the threads' L2s: each
     thread its own pixels in one row (m_pixels), {480, 50, 150} (3 blocks,
     the last of 22 channels), {2101, 40, 31} (also on three threads),
     {257, 31, 7}, {1, 1, 1} (the first thread has none).  Beyond the L2s
     (with up to 2 MiB a core), where the channel blocks of 64 do not go
     round the threads, the engine's split over rows: {16001, 40, 31} (4.5
     MB) in 166 rows of 96 and a last call for 65 pixels.
     mma_bpw_conv1x1_blocked (cbp_mma_bpw_in_place), with 1 MiB of L2: BPW
     tiles in place by blocks of dY's columns outside blocks of M where a
     thread's share of X (M x K / threads floats) fits in half an L2: every
     shape here but {2101, 40, 31}, {1100, 20, 1000}, {1600, 40, 120} and
     {70, 70, 16384} ({257, 31, 7} on one thread only), and {300, 150, 500}
     on two threads (two blocks of 150 rows), {2101, 40, 31} on one (four
     blocks of 526 rows, the last of 523) and {1600, 40, 120} on two (four
     blocks of 400 rows); with partial tiles of k and n ({64, 33, 65}, {13,
     17, 1}) and threads of no k ({1, 7, 3}).  By blocks of M
     outside where instead the share's dW fits in a quarter of L2: {1100, 20,
     1000} (X is 4.4 MB; nine blocks of 123 rows, the last of 116), {1600,
     40, 120} on one thread (five blocks of 320).  With M shared between the
     threads (M >= 16 K, dW within a quarter of L2, 128 rows of M a thread or
     more): {2101, 40, 31} on two threads (rows 0-1049 in blocks of 526 and
     524, 1050-2100 in 526 and 525; partial tiles of k and n) and on three
     (mma_three: two dWs added), {257, 31, 7} on two (one block of 128 rows
     and one of 129).  Where neither fits, X^T in chunks (K pixels, M input
     channels, N out) when M leaves a chunk 160 rows or more: {70, 70,
     16384} with any L2 up to 4 MiB a core (X and dW are 4.6 MB each; with
     1 MiB, 8 chunks of 1824 rows and a last of 1792 on one thread, 9 of
     1644 and one of 1588 on two, 8 of 1824 and one of 1792 on three
     (mma_three): a last tile of 4 rows, and a column block of 6), on one
     thread {300, 150, 500} (chunks of 252 and 248 rows, column blocks of
     64, 64 and 22), {300, 1100, 500} and {300, 64, 1050} (chunks of 354,
     354 and 342 rows); else the engine: {1000, 64, 1050} on one thread
     with 1 MiB of L2.  {72, 2048, 1024}: K pixels with 8 MiB of W, 28
     times dX, so on one thread (up to 1 MiB of L2) the engine's 72 output
     channels run as one block of 64 + 8 in three ci blocks (wide_blocks),
     rather than two blocks in two ci blocks each.
     Output pixels a page apart (the engine's PF_FAR prefetch two tiles
     ahead, far_output): {300, 64, 1050} BPA as M pixels (dX rows of 4200
     bytes), on two threads 150 a thread; {1000, 64, 1050} the same with dX
     of 4.2 MB, beyond the L2s, so on two threads in rows of 100 (17 blocks
     of K do not go round): the far tile falls in the next row at each
     row's end. */
  static const convbp_mma mmas[] = {{1, 1, 1},       {1, 7, 3},       {5, 1, 11},
                                    {13, 17, 1},     {64, 33, 65},    {3, 200, 129},
                                    {257, 31, 7},    {96, 96, 96},    {40, 300, 20},
                                    {32, 1000, 100}, {300, 150, 500}, {70, 300, 900},
                                    {80, 2100, 70},  {20, 2100, 70},  {2101, 40, 31},
                                    {1100, 20, 1000}, {1600, 40, 120}, {70, 70, 16384},
                                    {480, 50, 150},  {72, 2048, 1024}, {300, 64, 1050},
                                    {300, 1100, 500}, {16001, 40, 31},
                                    {1000, 64, 1050}};
  /* shapes also run on three threads */
  static const convbp_mma mma_three[] = {{2101, 40, 31}, {70, 70, 16384}};
  const size_t nmma = sizeof mmas / sizeof mmas[0];
  for (size_t i = 0; i < nmma + sizeof mma_three / sizeof mma_three[0]; i++) {
    const convbp_mma *mm = i < nmma ? &mmas[i] : &mma_three[i - nmma];
    for (int si = 0; si < convbp_strategy_count(); si++) {
      const char *name = convbp_strategy_name(si);
      if (!convbp_op_is_mma(convbp_strategy_op(si)) || !test_selected(name, only)) continue;
      for (int threads = i < nmma ? 1 : 3; threads <= (i < nmma ? 2 : 3); threads++) {
        convbp_check res;
        int st = convbp_mma_check(name, mm, threads, 5 + (int)i, &res);
        runs++;
        CHECK(st == 0 && res.passed, "%s on m%dn%dk%d, %d threads: %s, ratio %.3g", name, mm->m,
              mm->n, mm->k, threads, convbp_strerror(st), res.max_err_ratio);
      }
    }
  }
  printf("%d conv shapes, %d strategy runs, %d adjoint tests, %d skipped, %d faulty runs caught\n",
         shapes, runs, adjoints, skipped, caught);
  CHECK(!faulty_present || caught > 0, "the deliberately wrong strategy was never caught");
  /* All the named edges and nearly all the grid are valid (317 of 320). */
  const int n_edges = (int)(sizeof edges / sizeof edges[0]);
  CHECK(shapes >= n_edges + grid * 9 / 10, "only %d valid shapes of %d", shapes, n_edges + grid);
  TEST_END();
}
