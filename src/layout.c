/* Layout transforms the strategies use to move a dimension inward or outward.
 * out[j][i][:] = in[i][j][:] for an rows x cols matrix of runs of `inner` floats,
 * done in tiles so both sides stream through cache. */
#include "internal.h"

void cbp_transpose(const float *in, float *out, size_t rows, size_t cols, size_t inner,
                   int threads) {
  enum { TILE = 32 };
  size_t row_tiles = (rows + TILE - 1) / TILE, col_tiles = (cols + TILE - 1) / TILE;
  size_t tiles = row_tiles * col_tiles;
#pragma omp parallel for num_threads(threads) schedule(static) if (threads > 1 && tiles > 1)
  for (size_t t = 0; t < tiles; t++) {
    size_t i0 = (t / col_tiles) * TILE, j0 = (t % col_tiles) * TILE;
    size_t i1 = i0 + TILE < rows ? i0 + TILE : rows, j1 = j0 + TILE < cols ? j0 + TILE : cols;
    for (size_t j = j0; j < j1; j++)
      for (size_t i = i0; i < i1; i++) {
        const float *src = in + (i * cols + j) * inner;
        float *dst = out + (j * rows + i) * inner;
        if (inner == 1)
          *dst = *src;
        else
          memcpy(dst, src, inner * sizeof(float));
      }
  }
}

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
