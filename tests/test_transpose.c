/* The engine's transpose kernel (cbp_direct_isa.transpose) of every kernel set
 * this CPU runs, against the definition
 *   dst[i*dst_ld + j] = src[j*src_ld + i]   for j < rows, i < cols
 * on shapes from a table that walks the blocks the kernel sets move (8 x 8 on
 * AVX2 and AVX-512, in pairs of 8-column blocks, and 16 x 16 tried as well)
 * and every remainder around them, with leading dimensions wider than the
 * matrix.
 * The floats between dst's rows (dst_ld > rows) must stay as they were.  The
 * strategies reach the kernel too, but mostly on few channels. */
#define _POSIX_C_SOURCE 200809L /* setenv */
#include <stdlib.h>
#include <string.h>

#include "kernel_sets.h"
#include "testing.h"

typedef struct {
  const char *why;
  int rows, cols, src_pad, dst_pad; /* src_ld = cols + src_pad, dst_ld = rows + dst_pad */
} shape;

static const shape shapes[] = {
    {"one float", 1, 1, 0, 0},
    {"below one 8 x 8 block", 7, 5, 3, 1},
    {"one 8 x 8 block", 8, 8, 0, 0},
    {"one 8 x 8 block, a row and a column over", 9, 9, 2, 3},
    {"a pair of 8-column blocks", 8, 16, 0, 0},
    {"one 16 x 16 block", 16, 16, 0, 0},
    {"one 16 x 16 block, padded leading dimensions", 16, 16, 5, 7},
    {"16 x 16, a row and a column over", 17, 17, 0, 0},
    {"16 x 16 then 8 rows", 24, 16, 0, 0},
    {"16 x 16 then 8 columns", 16, 24, 0, 0},
    {"16 x 16 then 8 rows, 8 columns and remainders", 31, 29, 3, 1},
    {"2 x 2 blocks of 16", 32, 32, 0, 0},
    {"16 x 16 blocks, 8-row strip, 8-column strip, remainders", 47, 45, 4, 2},
    {"long rows (W of MMA BPA small_fc)", 512, 256, 0, 0},
    {"few rows, leading dimension of res5's 3x3 pack", 64, 100, 4508, 0},
    {"fewer rows than a block", 5, 40, 1, 0},
    {"fewer columns than a block", 40, 3, 0, 1},
};

/* One shape on one kernel set: whether every float of dst is right. */
static void check_shape(const cbp_direct_isa *isa, const shape *s) {
  const int rows = s->rows, cols = s->cols;
  const ptrdiff_t src_ld = cols + s->src_pad, dst_ld = rows + s->dst_pad;
  const size_t src_n = (size_t)rows * (size_t)src_ld, dst_n = (size_t)cols * (size_t)dst_ld;
  float *src = malloc(src_n * sizeof *src), *dst = malloc(dst_n * sizeof *dst);
  CHECK(src && dst, "out of memory");
  if (!src || !dst) goto out;
  for (size_t i = 0; i < src_n; i++) src[i] = (float)(i + 1); /* every float distinct */
  for (size_t i = 0; i < dst_n; i++) dst[i] = -1.0f;
  isa->transpose(src, src_ld, rows, cols, dst, dst_ld);
  int wrong = 0, padding = 0;
  for (int i = 0; i < cols; i++)
    for (ptrdiff_t j = 0; j < dst_ld; j++) {
      const float got = dst[i * dst_ld + j];
      if (j < rows) wrong += got != src[j * src_ld + i];
      else padding += got != -1.0f;
    }
  CHECK(!wrong, "%s, %s (%d x %d, src_ld %td, dst_ld %td): %d floats wrong", isa->name, s->why,
        rows, cols, src_ld, dst_ld, wrong);
  CHECK(!padding, "%s, %s: %d floats written between dst's rows", isa->name, s->why, padding);
out:
  free(src);
  free(dst);
}

int main(void) {
  TEST_EACH_KERNEL_SET(shapes, check_shape);
  TEST_END();
}
