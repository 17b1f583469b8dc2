/* bpa_scatter_gemm: backward data by GEMM then strided scatter (col2im).
 *
 *   cols (PQ x RSC) = dO_n (PQ x K) * W (K x RSC)          one sgemm per block of rows
 *   dA(n, p*st_h - pad_h + r*d_h, q*st_w - pad_w + s*d_w, c) += cols[(p,q)][(r,s,c)]
 *
 * Each output pixel of the forward pass scatters its gradient back into the
 * window it read, at stride and dilation; taps that fall in the padding are
 * dropped.  Blocks are rows of P sized so that cols stays about 1 MiB (L2).
 * Threads: with N >= T, OpenMP over images, each thread its own cols block and
 * its own images of dA (no two threads write one element), OpenBLAS
 * single-threaded inside; with N < T, OpenBLAS uses the T threads and the
 * scatter splits over channel ranges, again disjoint.
 * 1x1 stride-1 unpadded problems scatter nothing: dA = dO * W is one sgemm, with
 * no workspace.  Other 1x1 problems (strided) give each element of dA at most
 * one contribution, so instead of zeroing dA and scatter-adding, each dA row is
 * written once, right after the GEMM of its block: a row of cols where a pixel
 * was read, zeros elsewhere (3/4 of dA at stride 2).  That halves the memory
 * traffic outside the GEMM, which is all of the time there.
 * Workspace: min(N, T) * pb * Q * RSC floats, pb = rows of P per block.
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
  if (is_gemm(pb)) {
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

/* Adds the cols of output rows p0..p0+np-1 of image n into dA, channels c0..c1. */
static void scatter(const cbp_problem *pb, const float *cols, int p0, int np, float *dA_n, int c0,
                    int c1) {
  const convbp_conv *c = &pb->conv;
  const size_t C = (size_t)c->c, rsc = (size_t)c->r * c->s * C;
  /* With dilation 1 across the width and every channel, the S taps of a kernel
     row add one run of S*C floats into S neighbouring pixels of dA: one add
     loop per kernel row (7 of 21 floats per pixel on the stem, not 49 of 3). */
  const int runs = c->dil_w == 1 && c0 == 0 && (size_t)c1 == C;
  const size_t SC = (size_t)c->s * C, step = (size_t)c->dil_h * c->w * C;
  for (int p = p0; p < p0 + np; p++) {
    const long h0 = (long)p * c->stride_h - c->pad_h;
    const int rows_in = h0 >= 0 && h0 + (long)(c->r - 1) * c->dil_h < c->h;
    for (int q = 0; q < pb->q; q++) {
      const float *col = cols + ((size_t)(p - p0) * pb->q + q) * rsc;
      const long w0 = (long)q * c->stride_w - c->pad_w;
      /* The span depends on q only: once per pixel, not per kernel row. */
      int lo = 0, hi = 0;
      if (runs) {
        cbp_tap_span(w0, c->s, c->w, &lo, &hi);
        if (hi == lo) continue;
        if (rows_in && hi - lo == c->s) {
          /* The whole window inside the image (most pixels): R runs of S*C
             floats, a fixed number of rows apart, without the tests below. */
          float *dst0 = dA_n + ((size_t)h0 * c->w + (size_t)w0) * C;
          for (int r = 0; r < c->r; r++) {
            float *restrict dst = dst0 + (size_t)r * step;
            const float *restrict src = col + (size_t)r * SC;
            for (size_t i = 0; i < SC; i++) dst[i] += src[i];
          }
          continue;
        }
      }
      for (int r = 0; r < c->r; r++) {
        long h = (long)p * c->stride_h - c->pad_h + (long)r * c->dil_h;
        if (h < 0 || h >= c->h) continue;
        float *dA_row = dA_n + (size_t)h * c->w * C;
        const float *col_r = col + (size_t)r * c->s * C;
        if (runs) {
          float *restrict dst = dA_row + (size_t)(w0 + lo) * C;
          const float *restrict src = col_r + (size_t)lo * C;
          const size_t len = (size_t)(hi - lo) * C;
          for (size_t i = 0; i < len; i++) dst[i] += src[i];
          continue;
        }
        for (int s = 0; s < c->s; s++) {
          long w = w0 + (long)s * c->dil_w;
          if (w < 0 || w >= c->w) continue;
          float *dst = dA_row + (size_t)w * C;
          const float *src = col_r + (size_t)s * C;
          for (int ch = c0; ch < c1; ch++) dst[ch] += src[ch];
        }
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
 *   dA(n, h, w, :) = cols[(p - p0, q)][:]  if h = p*sh - ph and w = q*sw - pw,  else 0. */
static void place(const cbp_problem *pb, const float *cols, int p0, int np, float *dA_n, int h0,
                  int h1) {
  const convbp_conv *c = &pb->conv;
  const size_t C = (size_t)c->c, row = (size_t)c->w * C;
  for (int h = h0; h < h1; h++) {
    float *dst = dA_n + (size_t)h * row;
    const long t = (long)h + c->pad_h;
    const long p = t / c->stride_h;
    if (t % c->stride_h != 0 || p < p0 || p >= p0 + np) {
      memset(dst, 0, row * sizeof(float));
      continue;
    }
    const float *src = cols + (size_t)(p - p0) * pb->q * C;
    for (int w = 0; w < c->w; w++) {
      const long u = (long)w + c->pad_w, q = u / c->stride_w;
      if (u % c->stride_w == 0 && q < pb->q)
        memcpy(dst + (size_t)w * C, src + (size_t)q * C, C * sizeof(float));
      else
        memset(dst + (size_t)w * C, 0, C * sizeof(float));
    }
  }
}

static int run(const cbp_problem *pb, int threads, const float *dO, const float *W, float *dA,
               void *ws) {
  const convbp_conv *c = &pb->conv;
  const int K = c->k, rsc = c->r * c->s * c->c;
  const size_t image = (size_t)c->h * c->w * c->c, out_image = (size_t)pb->p * pb->q * K;
  if (is_gemm(pb)) {
    cbp_sgemm_split_m(threads, 0, c->n * pb->p * pb->q, c->c, K, dO, K, W, c->c, dA, c->c);
    return CONVBP_OK;
  }
  int rows, buffers;
  plan(pb, threads, &rows, &buffers);
  const size_t buf_floats = ((size_t)rows * pb->q * rsc * sizeof(float) + 63) / 64 * 16;
  const int one_to_one = is_one_to_one(pb);
  if (buffers > 1) {
#pragma omp parallel num_threads(buffers)
    {
      float *cols = (float *)ws + (size_t)omp_get_thread_num() * buf_floats;
#pragma omp for schedule(static)
      for (int n = 0; n < c->n; n++) {
        float *dA_n = dA + (size_t)n * image;
        if (!one_to_one) memset(dA_n, 0, image * sizeof(float));
        for (int p0 = 0; p0 < pb->p; p0 += rows) {
          int np = pb->p - p0 < rows ? pb->p - p0 : rows, h0, h1;
          cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, np * pb->q, rsc, K, 1.0f,
                      dO + n * out_image + (size_t)p0 * pb->q * K, K, W, rsc, 0.0f, cols, rsc);
          if (one_to_one) {
            place_rows(pb, p0, np, &h0, &h1);
            place(pb, cols, p0, np, dA_n, h0, h1);
          } else {
            scatter(pb, cols, p0, np, dA_n, 0, c->c);
          }
        }
      }
    }
    return CONVBP_OK;
  }
  /* Few images: threaded GEMM, then the scatter split over channel ranges (or
     the placement over dA rows), disjoint between threads. */
  if (!one_to_one) memset(dA, 0, (size_t)c->n * image * sizeof(float));
  const int chunks = threads < c->c ? threads : c->c;
  for (int n = 0; n < c->n; n++)
    for (int p0 = 0; p0 < pb->p; p0 += rows) {
      int np = pb->p - p0 < rows ? pb->p - p0 : rows, h0, h1;
      float *dA_n = dA + (size_t)n * image;
      cbp_blas_threads(threads);
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, np * pb->q, rsc, K, 1.0f,
                  dO + n * out_image + (size_t)p0 * pb->q * K, K, W, rsc, 0.0f, ws, rsc);
      place_rows(pb, p0, np, &h0, &h1);
#pragma omp parallel for num_threads(chunks) schedule(static) if (chunks > 1)
      for (int t = 0; t < chunks; t++) {
        if (one_to_one)
          place(pb, ws, p0, np, dA_n, h0 + (int)((long)(h1 - h0) * t / chunks),
                h0 + (int)((long)(h1 - h0) * (t + 1) / chunks));
        else
          scatter(pb, ws, p0, np, dA_n, c->c * t / chunks, c->c * (t + 1) / chunks);
      }
    }
  return CONVBP_OK;
}

const cbp_strategy cbp_bpa_scatter_gemm = {
    .name = "bpa_scatter_gemm",
    .op = CONVBP_BPA,
    .summary = "backward data: cols = dO * W by sgemm, then col2im scatter-add at stride and dilation",
    .workspace = workspace,
    .run = run,
};
