/* Layout transforms the strategies share: moving a dimension inward or outward,
 * zero insertion, and the rotated, K<->C swapped kernel of the transposed
 * convolution; streaming stores.  Copies only, no arithmetic. */
#if defined(__SSE2__)
#include <immintrin.h>
#endif

#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* Streaming (non-temporal) stores write whole lines to memory without first
   reading them into the cache (the read for ownership of an ordinary store).
   A line is written whole by one 64-byte store where the build has AVX-512F
   (-march=native on such a CPU): 16-byte stores gained about half as much on
   the strided 1x1 BPA layers.  SSE2 is part of x86-64; elsewhere these are
   plain copies. */
#if defined(__AVX512F__)
#define STREAM_FLOATS 16
#define stream_zero() _mm512_setzero_ps()
#define stream_load(p) _mm512_loadu_ps(p)
#define stream_store(p, v) _mm512_stream_ps((p), (v))
#elif defined(__SSE2__)
#define STREAM_FLOATS 4
#define stream_zero() _mm_setzero_ps()
#define stream_load(p) _mm_loadu_ps(p)
#define stream_store(p, v) _mm_stream_ps((p), (v))
#endif

void cbp_stream_put(float *dst, const float *src, size_t n) {
  size_t i = 0;
#ifdef STREAM_FLOATS
  const uintptr_t align = STREAM_FLOATS * sizeof(float) - 1;
  for (; i < n && ((uintptr_t)(dst + i) & align); i++) dst[i] = src ? src[i] : 0.0f;
  if (src)
    for (; i + STREAM_FLOATS <= n; i += STREAM_FLOATS) stream_store(dst + i, stream_load(src + i));
  else
    for (; i + STREAM_FLOATS <= n; i += STREAM_FLOATS) stream_store(dst + i, stream_zero());
#endif
  for (; i < n; i++) dst[i] = src ? src[i] : 0.0f;
}

void cbp_put(float *dst, const float *src, size_t n, int stream) {
  if (stream)
    cbp_stream_put(dst, src, n);
  else if (src)
    memcpy(dst, src, n * sizeof(float));
  else
    memset(dst, 0, n * sizeof(float));
}

int cbp_stream_between_stores(size_t out_bytes, int threads) {
#if defined(STREAM_FLOATS) && (defined(__x86_64__) || defined(__i386__))
  if (!cbp_beyond_l2(out_bytes, threads)) return 0;
  const char *want = getenv("CONVBP_STREAM");
  if (want && (!strcmp(want, "0") || !strcmp(want, "1"))) return want[0] == '1';
  __builtin_cpu_init();
  return __builtin_cpu_is("amd");
#else
  (void)out_bytes, (void)threads;
  return 0;
#endif
}

void cbp_stream_fence(void) {
#ifdef STREAM_FLOATS
  _mm_sfence();
#endif
}

/* Slice j of cbp_swap_outer_inner: out[k][j][i] = in[i][j][k], one a x c transpose. */
static void swap_slice(const float *in, float *out, size_t a, size_t b, size_t c, size_t j) {
  enum { TILE = 16 };
  for (size_t i0 = 0; i0 < a; i0 += TILE)
    for (size_t k0 = 0; k0 < c; k0 += TILE) {
      size_t i1 = i0 + TILE < a ? i0 + TILE : a, k1 = k0 + TILE < c ? k0 + TILE : c;
      for (size_t k = k0; k < k1; k++)
        for (size_t i = i0; i < i1; i++) out[(k * b + j) * a + i] = in[(i * b + j) * c + k];
    }
}

/* Each loop below runs without a parallel region on one thread, not in an
   inactive one: libgomp's costs a futex syscall even then (cbp_parallel). */
void cbp_swap_outer_inner(const float *in, float *out, size_t a, size_t b, size_t c, int threads) {
  if (threads > 1 && b > 1) {
#pragma omp parallel for num_threads(threads) schedule(static)
    for (size_t j = 0; j < b; j++) swap_slice(in, out, a, b, c, j);
  } else {
    for (size_t j = 0; j < b; j++) swap_slice(in, out, a, b, c, j);
  }
}

typedef struct {
  const float *src;
  float *dst;
  int rows, cols;
} transpose_args;

/* dst(i0:i1, :) = src(:, i0:i1)^T: thread tid's share of dst's rows. */
static void transpose_share(void *ctx, int tid, int nth) {
  const transpose_args *a = ctx;
  const int i0 = (int)((long)a->cols * tid / nth), i1 = (int)((long)a->cols * (tid + 1) / nth);
  cbp_direct_isa_get()->transpose(a->src + i0, a->cols, a->rows, i1 - i0,
                                  a->dst + (size_t)i0 * a->rows, a->rows);
}

void cbp_transpose(const float *src, int rows, int cols, float *dst, int threads) {
  transpose_args a = {src, dst, rows, cols};
  cbp_parallel(threads, transpose_share, &a);
}

/* Image b of cbp_zero_insert. */
static void zero_insert_image(const float *src, float *dst, size_t b, int p, int q, size_t inner,
                              int st_h, int st_w, int off_h, int off_w, int zh, int zw) {
  const size_t image = (size_t)zh * zw * inner;
  float *zb = dst + b * image;
  memset(zb, 0, image * sizeof(float));
  for (int i = 0; i < p; i++)
    for (int j = 0; j < q; j++)
      memcpy(zb + ((size_t)(off_h + i * st_h) * zw + (size_t)(off_w + j * st_w)) * inner,
             src + ((b * p + (size_t)i) * q + (size_t)j) * inner, inner * sizeof(float));
}

void cbp_zero_insert(const float *src, float *dst, size_t batch, int p, int q, size_t inner,
                     int st_h, int st_w, int off_h, int off_w, int zh, int zw, int threads) {
  /* dst(b, off_h + i*st_h, off_w + j*st_w, :) = src(b, i, j, :); zeros elsewhere. */
  if (threads > 1) {
#pragma omp parallel for num_threads(threads) schedule(static)
    for (size_t b = 0; b < batch; b++)
      zero_insert_image(src, dst, b, p, q, inner, st_h, st_w, off_h, off_w, zh, zw);
  } else {
    for (size_t b = 0; b < batch; b++)
      zero_insert_image(src, dst, b, p, q, inner, st_h, st_w, off_h, off_w, zh, zw);
  }
}

/* Channel ch of cbp_rotate_swap. */
static void rotate_channel(const float *w, float *out, int k, int r, int s, int c, int ch) {
  for (int y = 0; y < r; y++)
    for (int x = 0; x < s; x++)
      for (int kk = 0; kk < k; kk++)
        out[(((size_t)ch * r + y) * s + x) * k + kk] =
            w[(((size_t)kk * r + (r - 1 - y)) * s + (s - 1 - x)) * c + ch];
}

void cbp_rotate_swap(const float *w, float *out, int k, int r, int s, int c, int threads) {
  /* out(c, r', s', k) = w(k, R-1-r', S-1-s', c). */
  if (threads > 1) {
#pragma omp parallel for num_threads(threads) schedule(static)
    for (int ch = 0; ch < c; ch++) rotate_channel(w, out, k, r, s, c, ch);
  } else {
    for (int ch = 0; ch < c; ch++) rotate_channel(w, out, k, r, s, c, ch);
  }
}
