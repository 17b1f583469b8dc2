/* fwd_im2col_gemm: the forward-convolution engine, im2col + OpenBLAS sgemm.
 *
 *   O (NPQ x K) = cols (NPQ x RSC) * W^T,   cols[(n,p,q)][(r,s,c)] = A(n, p*st - pad_top + r*d, ..., c)
 *
 * NHWC makes each (r,s) tap one contiguous run of C floats, and with dilation 1
 * across the width each kernel row one run of S*C, so im2col is one copy per
 * kernel row (per tap when dilated).  The engine takes asymmetric pads
 * (negative = crop) and explicit output sizes, because bpa_zero_insert_gemm, bpw_conv_a_do and bpw_conv_do_a
 * call it with transformed descriptors.  1x1 stride-1 unpadded convolutions skip
 * im2col: A already is the GEMM operand.
 *
 * Blocking: output pixels go in row blocks of mb, mb chosen so that one block
 * of cols (mb x RSC floats) is about 1 MiB and stays in L2.  With T threads,
 * blocks are shared out by OpenMP, each thread with its own buffer and OpenBLAS
 * single-threaded inside; when there are fewer blocks than threads the blocks
 * run in turn and OpenBLAS uses the T threads.
 * Workspace: T_buffers * mb * RSC floats (none on the GEMM path).
 * Supports every valid problem. */
#include <cblas.h>
#include <omp.h>

#include "internal.h"

enum { BLOCK_BYTES = 1 << 20, MIN_ROWS = 32 };

int cbp_fwd_desc_outdims(cbp_fwd_desc *d, int pad_bottom, int pad_right) {
  long long sh = (long long)d->h + d->pad_top + pad_bottom - (long long)d->dil_h * (d->r - 1) - 1;
  long long sw = (long long)d->w + d->pad_left + pad_right - (long long)d->dil_w * (d->s - 1) - 1;
  if (sh < 0 || sw < 0) return CONVBP_ERR_PROBLEM;
  d->p = (int)(sh / d->stride_h + 1);
  d->q = (int)(sw / d->stride_w + 1);
  return CONVBP_OK;
}

int cbp_fwd_is_gemm(const cbp_fwd_desc *d) {
  return d->r == 1 && d->s == 1 && d->stride_h == 1 && d->stride_w == 1 && d->pad_top == 0 &&
         d->pad_left == 0 && d->p == d->h && d->q == d->w;
}

/* Rows per block and how many buffers (threads that each hold one). */
static void plan(const cbp_fwd_desc *d, int threads, size_t *mb, int *buffers) {
  size_t m = (size_t)d->n * d->p * d->q, kdim = (size_t)d->r * d->s * d->c;
  size_t rows = BLOCK_BYTES / (kdim * sizeof(float));
  if (rows < MIN_ROWS) rows = MIN_ROWS;
  /* Enough blocks to keep every thread busy, where the problem has them. */
  size_t share = (m + 2 * (size_t)threads - 1) / (2 * (size_t)threads);
  if (threads > 1 && share < rows) rows = share < MIN_ROWS ? MIN_ROWS : share;
  if (rows > m) rows = m;
  *buffers = cbp_balance_blocks(m, rows, threads, mb);
}

int cbp_fwd_workspace(const cbp_fwd_desc *d, int threads, size_t *bytes) {
  *bytes = 0;
  if (cbp_fwd_is_gemm(d)) return CONVBP_OK;
  size_t mb, elems;
  int buffers;
  plan(d, threads, &mb, &buffers);
  if (cbp_mul4(mb, (size_t)d->r * d->s, (size_t)d->c, 1, &elems)) return CONVBP_ERR_OVERFLOW;
  for (int i = 0; i < buffers; i++)
    if (cbp_ws_add(bytes, elems, sizeof(float))) return CONVBP_ERR_OVERFLOW;
  return CONVBP_OK;
}

/* dst[0..len) = src[0..len), inline for runs of up to 32 floats (a border
   pixel's kernel rows on the 7x7 stem, C = 3, or a dilated tap's C floats;
   see inside_runs for the pixels inside): from 8 floats, up to three moves
   of 8 and one of the 8 ending at len, which may overlap what is already
   copied; below 8, two overlapping moves of 4 or of 2 (kernel rows of a
   C = 1 input cut by the padding), or one float.  A memcpy call per run
   cost as much as the copy.  Straight-line on purpose: a loop of 8-float
   moves is turned back into a memmove call by the compiler.  Longer runs:
   memcpy. */
static inline void copy_run(float *restrict dst, const float *restrict src, size_t len) {
  if (len > 32) {
    memcpy(dst, src, len * sizeof(float));
    return;
  }
  if (len < 8) {
    if (len >= 4) {
      memcpy(dst, src, 4 * sizeof(float));
      memcpy(dst + len - 4, src + len - 4, 4 * sizeof(float));
    } else if (len >= 2) {
      memcpy(dst, src, 2 * sizeof(float));
      memcpy(dst + len - 2, src + len - 2, 2 * sizeof(float));
    } else if (len == 1) {
      *dst = *src;
    }
    return;
  }
  memcpy(dst, src, 8 * sizeof(float));
  if (len > 16) memcpy(dst + 8, src + 8, 8 * sizeof(float));
  if (len > 24) memcpy(dst + 16, src + 16, 8 * sizeof(float));
  memcpy(dst + len - 8, src + len - 8, 8 * sizeof(float));
}

/* One kernel row r of the cols row `dst` (S*C floats) for the pixel whose
   window starts at input row h, column w0 of image n, zeros outside. */
static void im2col_kernel_row(const cbp_fwd_desc *d, const float *a, size_t n, long h, long w0,
                              int lo, int hi, float *dst) {
  const size_t C = (size_t)d->c, S = (size_t)d->s;
  if (h < 0 || h >= d->h) {
    memset(dst, 0, S * C * sizeof(float));
    return;
  }
  const float *src = a + (n * d->h + (size_t)h) * d->w * C;
  if (d->dil_w == 1) {
    /* Interior pixels have nothing to zero: no call for an empty fill. */
    if (lo > 0) memset(dst, 0, (size_t)lo * C * sizeof(float));
    if (hi > lo)
      copy_run(dst + (size_t)lo * C, src + (size_t)(w0 + lo) * C, (size_t)(hi - lo) * C);
    if ((size_t)hi < S) memset(dst + (size_t)hi * C, 0, (S - (size_t)hi) * C * sizeof(float));
    return;
  }
  for (int s = 0; s < d->s; s++) {
    long w = w0 + (long)s * d->dil_w;
    if (w < 0 || w >= d->w)
      memset(dst + (size_t)s * C, 0, C * sizeof(float));
    else
      memcpy(dst + (size_t)s * C, src + (size_t)w * C, C * sizeof(float));
  }
}

/* npix cols rows, kdim floats apart, of pixels whose windows lie inside the
   image, their sources pix_step floats apart: per kernel row one run of SC =
   S*C floats (dilation 1: the S taps read S neighbouring NHWC pixels, 7
   copies a pixel on the 7x7 stem instead of 49 of C = 3 floats), the kernel
   rows' sources `step` floats apart.  nm: the run as nm moves of 8 floats,
   the last one ending at SC (8 < SC <= 8*nm), a constant where called so
   that each run is straight-line loads, then stores. */
static inline void inside_runs(float *restrict row, const float *restrict src, long npix,
                               size_t kdim, size_t pix_step, int r_taps, size_t SC, size_t step,
                               const int nm) {
  for (long px = 0; px < npix; px++, row += kdim, src += pix_step)
    for (int r = 0; r < r_taps; r++) {
      float t[4][8];
      const float *s = src + (size_t)r * step;
      float *o = row + (size_t)r * SC;
      for (int j = 0; j < nm; j++) memcpy(t[j], j + 1 < nm ? s + 8 * j : s + SC - 8, sizeof t[j]);
      for (int j = 0; j < nm; j++) memcpy(j + 1 < nm ? o + 8 * j : o + SC - 8, t[j], sizeof t[j]);
    }
}

/* The same for runs of at most 8 floats, SC a constant where called: one
   fixed-size move a kernel row (5 floats a row of a 5x5 kernel at C = 1). */
static inline void inside_runs_short(float *restrict row, const float *restrict src, long npix,
                                     size_t kdim, size_t pix_step, int r_taps, size_t step,
                                     const int SC) {
  for (long px = 0; px < npix; px++, row += kdim, src += pix_step)
    for (int r = 0; r < r_taps; r++)
      memcpy(row + (size_t)r * SC, src + (size_t)r * step, SC * sizeof(float));
}

/* The same for any run length and dilation: copy_run per kernel row, or per
   tap of C floats when dilated. */
static void inside_runs_any(const cbp_fwd_desc *d, float *row, const float *src, long npix,
                            size_t kdim, size_t pix_step, size_t step) {
  const size_t C = (size_t)d->c, SC = (size_t)d->s * C;
  for (long px = 0; px < npix; px++, row += kdim, src += pix_step)
    for (int r = 0; r < d->r; r++) {
      float *o = row + (size_t)r * SC;
      const float *s = src + (size_t)r * step;
      if (d->dil_w == 1)
        copy_run(o, s, SC);
      else
        for (int t = 0; t < d->s; t++) copy_run(o + t * C, s + (size_t)t * d->dil_w * C, C);
    }
}

void cbp_im2col_rows(const cbp_fwd_desc *d, const float *a, size_t m0, size_t rows, float *buf) {
  const size_t C = (size_t)d->c, SC = (size_t)d->s * C, kdim = (size_t)d->r * SC;
  const size_t pq = (size_t)d->p * d->q, step = (size_t)d->dil_h * d->w * C;
  const size_t pix_step = (size_t)d->stride_w * C; /* input floats from one output column to the next */
  int qa, qb; /* the output columns whose window lies inside the width */
  cbp_inside_span(-d->pad_left, d->s, d->dil_w, d->stride_w, d->w, d->q, &qa, &qb);
  /* The pixel (n, p, q) of row m0, then stepped: no division per row. */
  size_t n = m0 / pq;
  long p = (long)(m0 % pq / d->q), q = (long)(m0 % pq % d->q);
  for (size_t i = 0; i < rows;) {
    const long h0 = p * d->stride_h - d->pad_top;
    const int rows_inside = h0 >= 0 && h0 + (long)(d->r - 1) * d->dil_h < d->h;
    const long q_end = (long)(rows - i) < d->q - q ? q + (long)(rows - i) : d->q;
    while (q < q_end) {
      float *row = buf + i * kdim;
      const long w0 = q * d->stride_w - d->pad_left;
      if (rows_inside && q >= qa && q < qb) {
        /* A run of pixels whose windows lie inside (most of them): no test
           a pixel, pointers stepped, and runs of 9 to 32 floats as fixed
           moves.  Zen 5 EPYC, the stem's cols (7x7 s2, C = 3) in 1 MiB
           blocks, one thread: 1.20 -> 0.88-0.90 ms (5 alternating runs);
           its share of bpw_im2col_gemm's time outside sgemm 13.4-13.7% ->
           10.3-10.6% on one thread, 15.2-16.5% -> 13.1-14.2% on two (3
           alternating runs of convbp_gemm_share). */
        const long npix = (qb < q_end ? qb : q_end) - q;
        const float *src = a + ((n * d->h + (size_t)h0) * d->w + (size_t)w0) * C;
        const int nm = d->dil_w == 1 && SC > 8 ? (int)((SC + 7) / 8) : 0;
        if (d->dil_w == 1 && SC <= 8) {
          switch (SC) {
#define CBP_SHORT_CASE(L) \
  case L: inside_runs_short(row, src, npix, kdim, pix_step, d->r, step, L); break;
            CBP_SHORT_CASE(1) CBP_SHORT_CASE(2) CBP_SHORT_CASE(3) CBP_SHORT_CASE(4)
            CBP_SHORT_CASE(5) CBP_SHORT_CASE(6) CBP_SHORT_CASE(7) CBP_SHORT_CASE(8)
#undef CBP_SHORT_CASE
          }
        } else if (nm == 2)
          inside_runs(row, src, npix, kdim, pix_step, d->r, SC, step, 2);
        else if (nm == 3)
          inside_runs(row, src, npix, kdim, pix_step, d->r, SC, step, 3);
        else if (nm == 4)
          inside_runs(row, src, npix, kdim, pix_step, d->r, SC, step, 4);
        else
          inside_runs_any(d, row, src, npix, kdim, pix_step, step);
        q += npix, i += (size_t)npix;
        continue;
      }
      /* A window across the border: zeros where it leaves the image. */
      int lo = 0, hi = 0;
      if (d->dil_w == 1) cbp_tap_span(w0, d->s, d->w, &lo, &hi);
      for (int r = 0; r < d->r; r++)
        im2col_kernel_row(d, a, n, h0 + (long)r * d->dil_h, w0, lo, hi, row + (size_t)r * SC);
      q++, i++;
    }
    if (q == d->q) {
      q = 0;
      if (++p == d->p) {
        p = 0;
        n++;
      }
    }
  }
}

int cbp_fwd_run(const cbp_fwd_desc *d, int threads, const float *a, const float *w, float *o,
                void *ws) {
  const size_t m = (size_t)d->n * d->p * d->q, kdim = (size_t)d->r * d->s * d->c;
  const int K = d->k;
  if (cbp_fwd_is_gemm(d)) {
    cbp_sgemm_split_m(threads, 0, 1, (int)m, K, (int)kdim, a, (int)kdim, w, (int)kdim, o, K);
    return CONVBP_OK;
  }
  size_t mb;
  int buffers;
  plan(d, threads, &mb, &buffers);
  const size_t blocks = (m + mb - 1) / mb, buf_stride = (mb * kdim * sizeof(float) + 63) / 64 * 16;
  if (buffers > 1) {
#pragma omp parallel num_threads(buffers)
    {
      float *buf = (float *)ws + (size_t)omp_get_thread_num() * buf_stride;
#pragma omp for schedule(dynamic)
      for (size_t b = 0; b < blocks; b++) {
        size_t m0 = b * mb, rows = m - m0 < mb ? m - m0 : mb;
        cbp_im2col_rows(d, a, m0, rows, buf);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)rows, K, (int)kdim, 1.0f, buf,
                    (int)kdim, w, (int)kdim, 0.0f, o + m0 * K, K);
      }
    }
  } else {
    cbp_blas_threads(threads);
    for (size_t b = 0; b < blocks; b++) {
      size_t m0 = b * mb, rows = m - m0 < mb ? m - m0 : mb;
      cbp_im2col_rows(d, a, m0, rows, ws);
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)rows, K, (int)kdim, 1.0f, ws,
                  (int)kdim, w, (int)kdim, 0.0f, o + m0 * K, K);
    }
  }
  return CONVBP_OK;
}

/* The engine's descriptor for a plain forward problem. */
cbp_fwd_desc cbp_fwd_desc_of(const cbp_problem *pb) {
  const convbp_conv *c = &pb->conv;
  return (cbp_fwd_desc){c->n, c->c, c->h, c->w, c->k, c->r, c->s, c->pad_h, c->pad_w,
                        c->stride_h, c->stride_w, c->dil_h, c->dil_w, pb->p, pb->q};
}

static int workspace(const cbp_problem *pb, int threads, size_t *bytes) {
  cbp_fwd_desc d = cbp_fwd_desc_of(pb);
  return cbp_fwd_workspace(&d, threads, bytes);
}

static int run(const cbp_problem *pb, int threads, const float *A, const float *W, float *O,
               void *ws) {
  cbp_fwd_desc d = cbp_fwd_desc_of(pb);
  return cbp_fwd_run(&d, threads, A, W, O, ws);
}

const cbp_strategy cbp_fwd_im2col_gemm = {
    .name = "fwd_im2col_gemm",
    .op = CONVBP_FWD,
    .summary = "forward: im2col in L2-sized row blocks + sgemm (the engine the backward strategies reuse)",
    .workspace = workspace,
    .run = run,
    .vec_channels = cbp_gemm_vec_channels,
};
