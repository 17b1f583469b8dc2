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

/* The engine's transpose kernel (8 x 8 blocks in registers) takes int sizes:
   larger slices go in pieces of at most 2^30 rows and columns. */
enum { PIECE = 1 << 30 };

typedef struct {
  const cbp_direct_isa *isa; /* looked up once: it reads the environment */
  const float *in;
  float *out;
  size_t a, b, c;
} swap_args;

/* Slice j of cbp_swap_outer_inner, its rows k0..k1-1 of out:
     out[(k*b + j)*a + i] = in[(i*b + j)*c + k],  i < a,
   an a x (k1 - k0) transpose with leading dimensions b*c and b*a. */
static void swap_slice(const swap_args *s, size_t j, size_t k0, size_t k1) {
  const size_t a = s->a, b = s->b, c = s->c;
  for (size_t i = 0; i < a; i += PIECE)
    for (size_t k = k0; k < k1; k += PIECE)
      s->isa->transpose(s->in + (i * b + j) * c + k, (ptrdiff_t)(b * c),
                        (int)(a - i < PIECE ? a - i : PIECE),
                        (int)(k1 - k < PIECE ? k1 - k : PIECE), s->out + (k * b + j) * a + i,
                        (ptrdiff_t)(b * a));
}

/* Slices j0..j1-1, their out rows k0..k1-1.  Slice by slice, every row of
   out in k0..k1 would take a run of a floats per slice: as many write streams
   as rows, and rows whose distance is a multiple of 4 KiB (b*a floats: 98
   pages for dO of ResNet-50's stem at N = 8) share their L1 sets.  So the
   slices go in blocks whose input stays in L2 (BLOCK_BYTES), and each block in
   groups of GROUP rows of out, one row of the kernel's 8 x 8 blocks: GROUP
   write streams at a time.  Slices under 8 rows or columns have no 8 x 8
   block: they go float by float here, without a call per slice (the stem's
   A at N = 8: 8 x 3 floats a slice). */
enum { BLOCK_BYTES = 512 << 10, GROUP = 8 };
static void swap_slices(const swap_args *s, size_t j0, size_t j1, size_t k0, size_t k1) {
  const size_t a = s->a, b = s->b, c = s->c;
  if (a < 8 || k1 - k0 < 8) {
    for (size_t j = j0; j < j1; j++)
      for (size_t k = k0; k < k1; k++)
        for (size_t i = 0; i < a; i++) s->out[(k * b + j) * a + i] = s->in[(i * b + j) * c + k];
    return;
  }
  const size_t slice = a * (k1 - k0) * sizeof(float);
  const size_t nj = slice < BLOCK_BYTES ? BLOCK_BYTES / slice : 1;
  for (size_t jb = j0; jb < j1; jb += nj) {
    const size_t je = j1 - jb < nj ? j1 : jb + nj;
    for (size_t k = k0; k < k1; k += GROUP) {
      const size_t ke = k1 - k < GROUP ? k1 : k + GROUP;
      for (size_t j = jb; j < je; j++) swap_slice(s, j, k, ke);
    }
  }
}

/* Thread tid's share: whole slices when there are enough of them, else a
   contiguous share of every slice's out rows (the b = 1 transpose), so that no
   two threads write one row. */
static void swap_share(void *ctx, int tid, int nth) {
  const swap_args *s = ctx;
  if (s->b >= (size_t)nth)
    swap_slices(s, s->b * tid / nth, s->b * (tid + 1) / nth, 0, s->c);
  else
    swap_slices(s, 0, s->b, s->c * tid / nth, s->c * (tid + 1) / nth);
}

void cbp_swap_outer_inner(const float *in, float *out, size_t a, size_t b, size_t c, int threads) {
  swap_args s = {cbp_direct_isa_get(), in, out, a, b, c};
  cbp_parallel(threads, swap_share, &s);
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
