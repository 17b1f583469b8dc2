/* Layout transforms the strategies share: moving a dimension inward or outward,
 * zero insertion, and the rotated, K<->C swapped kernel of the transposed
 * convolution.  Copies only, no arithmetic. */
#include "internal.h"

void cbp_swap_outer_inner(const float *in, float *out, size_t a, size_t b, size_t c, int threads) {
  /* out[k][j][i] = in[i][j][k] for in of a x b x c: each j is one a x c transpose. */
  enum { TILE = 16 };
#pragma omp parallel for num_threads(threads) schedule(static) if (threads > 1 && b > 1)
  for (size_t j = 0; j < b; j++)
    for (size_t i0 = 0; i0 < a; i0 += TILE)
      for (size_t k0 = 0; k0 < c; k0 += TILE) {
        size_t i1 = i0 + TILE < a ? i0 + TILE : a, k1 = k0 + TILE < c ? k0 + TILE : c;
        for (size_t k = k0; k < k1; k++)
          for (size_t i = i0; i < i1; i++) out[(k * b + j) * a + i] = in[(i * b + j) * c + k];
      }
}

void cbp_zero_insert(const float *src, float *dst, size_t batch, int p, int q, size_t inner,
                     int st_h, int st_w, int off_h, int off_w, int zh, int zw, int threads) {
  /* dst(b, off_h + i*st_h, off_w + j*st_w, :) = src(b, i, j, :); zeros elsewhere. */
  const size_t image = (size_t)zh * zw * inner;
#pragma omp parallel for num_threads(threads) schedule(static) if (threads > 1)
  for (size_t b = 0; b < batch; b++) {
    float *zb = dst + b * image;
    memset(zb, 0, image * sizeof(float));
    for (int i = 0; i < p; i++)
      for (int j = 0; j < q; j++)
        memcpy(zb + ((size_t)(off_h + i * st_h) * zw + (size_t)(off_w + j * st_w)) * inner,
               src + ((b * p + (size_t)i) * q + (size_t)j) * inner, inner * sizeof(float));
  }
}

void cbp_rotate_swap(const float *w, float *out, int k, int r, int s, int c, int threads) {
  /* out(c, r', s', k) = w(k, R-1-r', S-1-s', c). */
#pragma omp parallel for num_threads(threads) schedule(static) if (threads > 1)
  for (int ch = 0; ch < c; ch++)
    for (int y = 0; y < r; y++)
      for (int x = 0; x < s; x++)
        for (int kk = 0; kk < k; kk++)
          out[(((size_t)ch * r + y) * s + x) * k + kk] =
              w[(((size_t)kk * r + (r - 1 - y)) * s + (s - 1 - x)) * c + ch];
}
