/* bpa_scatter_gemm: backward data by GEMM then strided scatter (col2im).
 *
 *   cols (PQ x RSC) = dO_n (PQ x K) * W (K x RSC)          one sgemm per block of rows
 *   dA(n, p*st_h - pad_h + r*d_h, q*st_w - pad_w + s*d_w, c) += cols[(p,q)][(r,s,c)]
 *
 * Each output pixel of the forward pass scatters its gradient back into the
 * window it read, at stride and dilation; taps that fall in the padding are
 * dropped.  Blocks are rows of P sized so that cols stays about 1 MiB (L2).
 * The adds go through the blocked direct engine's add_runs kernel (whole
 * vectors and one masked tail per run of S*C floats, chosen by CPU features),
 * and each dA row is zeroed just before the first block that reaches it rather
 * than in a pass of its own.  On the stem (runs of 21 floats), Xeon model 167:
 * 130 -> 140 GFLOP/s on one thread, 269 -> 290 on two (medians of 5
 * alternating runs), and the share of the time outside sgemm 20.6 / 21.1% ->
 * 15.1 / 15.7% (convbp_gemm_share); the 3x3 layers within 2%.  Summing 4
 * overlapping runs in registers (AVX-512) then gave the stem 1.04x / 1.01x
 * (medians of 7), 14.5-14.8% -> 13.3-13.7% outside sgemm on one thread and
 * 15.3-15.4% -> 14.0-14.3% on two (three runs each, a noisy hour), and the
 * C = 3 3x3 layer of VGG-16 1.04x / 1.06x.  With those groups' masks compiled
 * in for C = 3 stems (add_runs_grouped), Zen 5, three alternating runs of each
 * binary: the stem's share outside sgemm 16.8-17.2% -> 12.3-13.7% on one
 * thread, 16.2-18.1% -> 12.0-13.1% on two, its time 1.02-1.05x shorter.
 * Threads: with N >= T, OpenMP over images, each thread its own cols block and
 * its own images of dA (no two threads write one element), OpenBLAS
 * single-threaded inside; with N < T, each block's rows of cols split over
 * the T threads, a single-threaded sgemm each (cbp_sgemm_split_m), and the
 * scatter splits over dA rows, again disjoint.  OpenBLAS's own threading of
 * those tall, narrow blocks made two threads slower than one: Zen 4 guest,
 * N = 1, medians of 5 in two alternating rounds, 2 threads, ms before ->
 * after: 3x3 C = 3 K = 64 128x128 0.95 -> 0.34 (one thread 0.66), the 7x7
 * stem 2.21 -> 1.21 (2.35), res2's 3x3 1.62 -> 1.33 (2.45), C = 16 K = 4
 * 64x64 0.27 -> 0.07.
 * 1x1 stride-1 unpadded problems scatter nothing: dA = dO * W is one sgemm, with
 * no workspace.  Other 1x1 problems (strided) give each element of dA at most
 * one contribution, so instead of zeroing dA and scatter-adding, each dA row is
 * written once, right after the GEMM of its block: a row of cols where a pixel
 * was read, zeros elsewhere (3/4 of dA at stride 2).  That halves the memory
 * traffic outside the GEMM, which is all of the time there.
 * Strided 1x1 unpadded problems with wide output rows (cbp_strided_1x1_block)
 * skip cols as well: sgemm writes each output row's gradient in place, Q rows
 * st_w * C apart, and the pixels and rows between them are zeroed (see
 * in_place_rows).
 * Each block's sgemm on one thread goes in row slices small enough for
 * OpenBLAS's small-matrix kernel when K x RSC allows (cbp_sgemm_rows): the stem
 * (K = 64, RSC = 147) 1.18x on one thread and on two.
 * Workspace: min(N, T) * pb * Q * RSC floats, pb = rows of P per block; none
 * for the two in-place paths.
 * Supports every valid problem. */
#include <cblas.h>
#include <omp.h>

#include "internal.h"

enum { BLOCK_BYTES = 1 << 20 };

/* Rows of P per block, and how many threads own a block buffer. */
static void plan(const cbp_problem *pb, int threads, int *rows, int *buffers) {
  const convbp_conv *c = &pb->conv;
  size_t row_bytes = (size_t)pb->q * c->r * c->s * c->c * sizeof(float);
  size_t r = BLOCK_BYTES / row_bytes;
  if (r < 1) r = 1;
  if (r > (size_t)pb->p) r = (size_t)pb->p;
  *rows = (int)r;
  *buffers = threads > 1 && c->n >= threads ? threads : 1;
}

/* 1x1, stride 1, no pad: cols already is dA. */
static int is_gemm(const cbp_problem *pb) {
  const convbp_conv *c = &pb->conv;
  return c->r == 1 && c->s == 1 && c->stride_h == 1 && c->stride_w == 1 && c->pad_h == 0 &&
         c->pad_w == 0;
}

static int workspace(const cbp_problem *pb, int threads, size_t *bytes) {
  int rows, buffers;
  if (is_gemm(pb) || cbp_strided_1x1_block(pb)) {
    *bytes = 0;
    return CONVBP_OK;
  }
  plan(pb, threads, &rows, &buffers);
  const convbp_conv *c = &pb->conv;
  size_t elems;
  *bytes = 0;
  if (cbp_mul4((size_t)rows * pb->q, (size_t)c->r * c->s, (size_t)c->c, 1, &elems))
    return CONVBP_ERR_OVERFLOW;
  for (int i = 0; i < buffers; i++)
    if (cbp_ws_add(bytes, elems, sizeof(float))) return CONVBP_ERR_OVERFLOW;
  return CONVBP_OK;
}

/* Adds the cols of output rows p0..p0+np-1 of image n into rows hlo..hhi-1 of
   dA (threads that share an image take disjoint rows: whole rows, so that no
   two threads write one cache line, as splitting the 3 channels of a stem's
   pixels did). */
static void scatter(const cbp_problem *pb, const cbp_direct_isa *isa, const float *cols, int p0,
                    int np, float *dA_n, int hlo, int hhi) {
  const convbp_conv *c = &pb->conv;
  const int C = c->c, SC = c->s * C, rsc = c->r * SC, dh = c->dil_h;
  const ptrdiff_t row = (ptrdiff_t)c->w * C, step = (ptrdiff_t)dh * row;
  /* With dilation 1 across the width, the S taps of a kernel row add one run of
     S*C floats into S neighbouring pixels of dA (7 runs of 21 floats per pixel
     on the stem, not 49 of 3).  Pixels q in [qa, qb) have their whole window
     inside the width: one add_runs call takes all of them, Q*R runs. */
  const int runs = c->dil_w == 1;
  int qa = 0, qb = 0;
  if (runs) cbp_inside_span(-c->pad_w, c->s, 1, c->stride_w, c->w, pb->q, &qa, &qb);
  if (hlo < 0) hlo = 0;
  if (hhi > c->h) hhi = c->h;
  for (int p = p0; p < p0 + np; p++) {
    /* kernel rows r in [rlo, rhi) land in dA rows h0 + r*dh within [hlo, hhi) */
    const long h0 = (long)p * c->stride_h - c->pad_h;
    const long rlo_l = h0 >= hlo ? 0 : (hlo - h0 + dh - 1) / dh;
    const long rhi_l = h0 >= hhi ? 0 : (hhi - h0 + dh - 1) / dh;
    const int rlo = (int)(rlo_l < c->r ? rlo_l : c->r);
    const int rhi = (int)(rhi_l < rlo ? rlo : rhi_l > c->r ? c->r : rhi_l);
    if (rhi == rlo) continue;
    float *dA_r = dA_n + (h0 + (long)rlo * dh) * row; /* first dA row written */
    const float *cols_p = cols + (size_t)(p - p0) * pb->q * rsc + (size_t)rlo * SC;
    if (qb > qa)
      isa->add_runs(dA_r + ((long)qa * c->stride_w - c->pad_w) * C, (ptrdiff_t)c->stride_w * C,
                    step, cols_p + (size_t)qa * rsc, rsc, SC, qb - qa, rhi - rlo, SC);
    for (int q = 0; q < pb->q; q++) {
      if (q == qa && qb > qa) q = qb; /* done above */
      if (q >= pb->q) break;
      const float *col = cols_p + (size_t)q * rsc;
      const long w0 = (long)q * c->stride_w - c->pad_w;
      if (runs) { /* the taps [lo, hi) inside the width */
        int lo, hi;
        cbp_tap_span(w0, c->s, c->w, &lo, &hi);
        if (hi > lo)
          isa->add_runs(dA_r + (w0 + lo) * C, 0, step, col + (size_t)lo * C, 0, SC, 1, rhi - rlo,
                        (hi - lo) * C);
        continue;
      }
      for (int s = 0; s < c->s; s++) {
        const long w = w0 + (long)s * c->dil_w;
        if (w >= 0 && w < c->w)
          isa->add_runs(dA_r + w * C, 0, step, col + (size_t)s * C, 0, SC, 1, rhi - rlo, C);
      }
    }
  }
}

/* 1x1: each output pixel (p, q) read exactly one input pixel (p*sh - ph, q*sw - pw). */
static int is_one_to_one(const cbp_problem *pb) { return pb->conv.r == 1 && pb->conv.s == 1; }

/* The dA rows [*h0, *h1) owned by the block of output rows p0..p0+np-1: the rows
   its pixels read and the unread rows up to the next block's first, so that the
   blocks of an image partition its H rows. */
static void place_rows(const cbp_problem *pb, int p0, int np, int *h0, int *h1) {
  const convbp_conv *c = &pb->conv;
  long lo = p0 == 0 ? 0 : (long)p0 * c->stride_h - c->pad_h;
  long hi = p0 + np == pb->p ? c->h : (long)(p0 + np) * c->stride_h - c->pad_h;
  *h0 = (int)(lo < 0 ? 0 : lo > c->h ? c->h : lo);
  *h1 = (int)(hi < 0 ? 0 : hi > c->h ? c->h : hi);
}

/* 1x1: writes dA rows h0..h1-1 of image n, every element once:
 *   dA(n, h, w, :) = cols[(p - p0, q)][:]  if h = p*sh - ph and w = q*sw - pw,  else 0.
 * With `stream`, by streaming stores (see run). */
static void place(const cbp_problem *pb, const float *cols, int p0, int np, float *dA_n, int h0,
                  int h1, int stream) {
  const convbp_conv *c = &pb->conv;
  const size_t C = (size_t)c->c, row = (size_t)c->w * C;
  for (int h = h0; h < h1; h++) {
    float *dst = dA_n + (size_t)h * row;
    const long t = (long)h + c->pad_h;
    const long p = t / c->stride_h;
    if (t % c->stride_h != 0 || p < p0 || p >= p0 + np) {
      cbp_put(dst, NULL, row, stream);
      continue;
    }
    const float *src = cols + (size_t)(p - p0) * pb->q * C;
    for (int w = 0; w < c->w; w++) {
      const long u = (long)w + c->pad_w, q = u / c->stride_w;
      const int read = u % c->stride_w == 0 && q < pb->q;
      cbp_put(dst + (size_t)w * C, read ? src + (size_t)q * C : NULL, C, stream);
    }
  }
  if (stream) cbp_stream_fence();
}

/* Strided 1x1 unpadded, output rows [g0, g1) of all images (g = n*P + p): each
 * writes the dA rows it owns (place_rows), every element once:
 *   dA(n, p*st_h, q*st_w, j0:j1) = dO(n, p, q, :) . W(:, j0:j1)  for q < Q
 *     (one sgemm of Q rows with ldc = st_w * C)
 *   every other pixel of those rows = 0
 * in column blocks j0:j1 of C that fit OpenBLAS's small-matrix kernel.  No
 * cols buffer, so neither its copy nor its second pass over dA.  Xeon model
 * 167, medians of 4 alternating runs, GFLOP/s at 1 / 2 threads: res3a_branch2a
 * 115 -> 138 / 226 -> 269, res3a_branch1 (C in four blocks) 153 -> 175 /
 * 306 -> 344.
 * The zeros go by streaming stores when dA goes to memory anyway and the CPU
 * gains by it (cbp_stream_between_stores), else by plain stores.
 * On that Xeon streaming them made res3a_branch2a 13-15% slower.  On a Zen 4
 * EPYC, medians of 7 alternating runs: res3a_branch2a 74.9 -> 87.6 / 157.8 ->
 * 197.4 GFLOP/s, res3a_branch1 92.6 -> 95.8 / 173.7 -> 187.3, and the time
 * outside sgemm 16-18% -> 7.2-9.2% and 7.0% -> 3.2-3.7% (convbp_gemm_share). */
static void in_place_rows(const cbp_problem *pb, const float *dO, const float *W, float *dA,
                          long g0, long g1, int stream) {
  const convbp_conv *c = &pb->conv;
  const int C = c->c, K = c->k, Q = pb->q;
  const size_t cb = cbp_strided_1x1_block(pb);
  const size_t row = (size_t)c->w * C, image = (size_t)c->h * row;
  for (long g = g0; g < g1; g++) {
    const int n = (int)(g / pb->p), p = (int)(g % pb->p);
    float *dA_n = dA + (size_t)n * image;
    int h0, h1;
    place_rows(pb, p, 1, &h0, &h1);
    for (int h = h0; h < h1; h++) {
      float *dst = dA_n + (size_t)h * row;
      if (h != p * c->stride_h) { /* a row no output pixel read */
        cbp_put(dst, NULL, row, stream);
        continue;
      }
      const float *src = dO + (size_t)g * Q * K;
      for (size_t j0 = 0; j0 < (size_t)C; j0 += cb) {
        const int jn = (int)((size_t)C - j0 < cb ? (size_t)C - j0 : cb);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Q, jn, K, 1.0f, src, K, W + j0, C,
                    0.0f, dst + j0, c->stride_w * C);
      }
      for (int w = 0; w < c->w; w++)
        if (w % c->stride_w != 0) /* unpadded: every other w was read, q = w / st_w < Q */
          cbp_put(dst + (size_t)w * C, NULL, (size_t)C, stream);
    }
  }
  if (stream) cbp_stream_fence();
}

/* The dA rows [*h0, *h1) that output rows p0..p0+np-1 scatter into: p*sh - ph
   + r*dh, clipped to the image. */
static void scatter_rows(const cbp_problem *pb, int p0, int np, int *h0, int *h1) {
  const convbp_conv *c = &pb->conv;
  long lo = (long)p0 * c->stride_h - c->pad_h;
  long hi = (long)(p0 + np - 1) * c->stride_h - c->pad_h + (long)(c->r - 1) * c->dil_h + 1;
  *h0 = (int)(lo < 0 ? 0 : lo > c->h ? c->h : lo);
  *h1 = (int)(hi < *h0 ? *h0 : hi > c->h ? c->h : hi);
}

/* dA rows [h0, h1) of one image = 0 (nothing when h1 <= h0).  The scatter
   zeroes each row just before its first contribution, while it is about to be
   in cache anyway, instead of all of dA in a pass of its own. */
static void zero_rows(const cbp_problem *pb, float *dA_n, int h0, int h1) {
  const size_t row = (size_t)pb->conv.w * pb->conv.c;
  if (h1 > h0) memset(dA_n + (size_t)h0 * row, 0, (size_t)(h1 - h0) * row * sizeof(float));
}

/* dA rows [a, b) of image dA_n from the block of output rows p0 .. p0 + np
   in cols: placed (one_to_one), or zeroed from fresh on and scattered into. */
static void finish_rows(const cbp_problem *pb, const cbp_direct_isa *isa, const float *cols, int p0,
                        int np, float *dA_n, int a, int b, int fresh, int one_to_one, int stream) {
  if (one_to_one) {
    place(pb, cols, p0, np, dA_n, a, b, stream);
  } else {
    zero_rows(pb, dA_n, a > fresh ? a : fresh, b);
    scatter(pb, isa, cols, p0, np, dA_n, a, b);
  }
}

static int run(const cbp_problem *pb, int threads, const float *dO, const float *W, float *dA,
               void *ws) {
  const convbp_conv *c = &pb->conv;
  const int K = c->k, rsc = c->r * c->s * c->c;
  const size_t image = (size_t)c->h * c->w * c->c, out_image = (size_t)pb->p * pb->q * K;
  if (is_gemm(pb)) {
    cbp_sgemm_split_m(threads, 0, 0, c->n * pb->p * pb->q, c->c, K, dO, K, W, c->c, dA, c->c);
    return CONVBP_OK;
  }
  if (cbp_strided_1x1_block(pb)) {
    const long g = (long)c->n * pb->p;
    const int stream = cbp_stream_between_stores(pb->out_elems * sizeof(float), threads);
    if (threads <= 1) {
      /* Not inside an inactive parallel region, where OpenBLAS may thread a
         call its small kernel does not take: with its Haswell kernels (no
         small kernel) and this path forced on, res3a_branch2a ran at 0.7
         GFLOP/s on one thread that way. */
      cbp_blas_threads(1);
      in_place_rows(pb, dO, W, dA, 0, g, stream);
      return CONVBP_OK;
    }
#pragma omp parallel num_threads(threads)
    {
      const int t = omp_get_thread_num(), nt = omp_get_num_threads();
      in_place_rows(pb, dO, W, dA, g * t / nt, g * (t + 1) / nt, stream);
    }
    return CONVBP_OK;
  }
  int rows, buffers;
  plan(pb, threads, &rows, &buffers);
  const size_t buf_floats = ((size_t)rows * pb->q * rsc * sizeof(float) + 63) / 64 * 16;
  const int one_to_one = is_one_to_one(pb);
  const cbp_direct_isa *isa = cbp_direct_isa_get();
  /* Placing dA by streaming stores when it goes to memory anyway
     (cbp_beyond_l2), Xeon model 167, medians of 6 alternating runs: one thread
     4-17% faster on the five strided 1x1 layers of resnet50 (res3a_branch1 122
     -> 143 GFLOP/s, res4a_branch2a 127 -> 140); two threads, with twice the
     bandwidth, -2% to +5%.  The price: dA is not left in a shared cache for
     its next reader. */
  const int stream = one_to_one && cbp_beyond_l2(pb->out_elems * sizeof(float), threads);
  if (buffers > 1) {
#pragma omp parallel num_threads(buffers)
    {
      float *cols = (float *)ws + (size_t)omp_get_thread_num() * buf_floats;
#pragma omp for schedule(static)
      for (int n = 0; n < c->n; n++) {
        float *dA_n = dA + (size_t)n * image;
        int zeroed = 0;
        for (int p0 = 0; p0 < pb->p; p0 += rows) {
          int np = pb->p - p0 < rows ? pb->p - p0 : rows, h0, h1;
          cbp_sgemm_rows(0, 0, 0, np * pb->q, rsc, K, dO + n * out_image + (size_t)p0 * pb->q * K, K,
                         W, rsc, cols, rsc);
          if (one_to_one) {
            place_rows(pb, p0, np, &h0, &h1);
            place(pb, cols, p0, np, dA_n, h0, h1, stream);
          } else {
            scatter_rows(pb, p0, np, &h0, &h1);
            zero_rows(pb, dA_n, zeroed, h1);
            zeroed = zeroed > h1 ? zeroed : h1;
            scatter(pb, isa, cols, p0, np, dA_n, 0, c->h);
          }
        }
        if (!one_to_one) zero_rows(pb, dA_n, zeroed, c->h);
      }
    }
    return CONVBP_OK;
  }
  /* Few images: the GEMM's rows split over the threads, then the scatter (or
     the placement) split over the dA rows the block writes, disjoint between
     threads.  The scatter was
     split over channel ranges before: on the stem (C = 3) two threads then
     wrote the same cache lines, and one image took 7.0 ms on two threads
     against 2.5 ms on one. */
  for (int n = 0; n < c->n; n++) {
    float *dA_n = dA + (size_t)n * image;
    int zeroed = 0;
    for (int p0 = 0; p0 < pb->p; p0 += rows) {
      int np = pb->p - p0 < rows ? pb->p - p0 : rows, h0, h1;
      cbp_sgemm_split_m(threads, 0, 0, np * pb->q, rsc, K,
                        dO + n * out_image + (size_t)p0 * pb->q * K, K, W, rsc, ws, rsc);
      if (one_to_one) {
        place_rows(pb, p0, np, &h0, &h1);
      } else { /* rows below the block that no block reads (stride beyond the kernel) */
        scatter_rows(pb, p0, np, &h0, &h1);
        zero_rows(pb, dA_n, zeroed, h0);
      }
      const int fresh = zeroed; /* rows from here on get their first contribution now */
      if (threads <= 1) { /* no region, not even an inactive one (cbp_parallel) */
        finish_rows(pb, isa, ws, p0, np, dA_n, h0, h1, fresh, one_to_one, stream);
      } else {
#pragma omp parallel for num_threads(threads) schedule(static)
        for (int t = 0; t < threads; t++) {
          const int a = h0 + (int)((long)(h1 - h0) * t / threads);
          const int b = h0 + (int)((long)(h1 - h0) * (t + 1) / threads);
          finish_rows(pb, isa, ws, p0, np, dA_n, a, b, fresh, one_to_one, stream);
        }
      }
      zeroed = zeroed > h1 ? zeroed : h1;
    }
    if (!one_to_one) zero_rows(pb, dA_n, zeroed, c->h);
  }
  return CONVBP_OK;
}

const cbp_strategy cbp_bpa_scatter_gemm = {
    .name = "bpa_scatter_gemm",
    .op = CONVBP_BPA,
    .summary = "backward data: cols = dO * W by sgemm, then col2im scatter-add at stride and dilation",
    .workspace = workspace,
    .run = run,
    .vec_channels = cbp_gemm_vec_channels,
};
