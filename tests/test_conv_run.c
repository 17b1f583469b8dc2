/* The engine's run-of-tiles kernel (cbp_direct_isa.conv_run) of every kernel
 * set this CPU runs, against its tile kernel (conv_tile) called once a tile on
 * the same tiles:
 *   out[(j*np + p)*out_pix + c] (=, or += when accumulate)
 *       sum_{i<ci} in[(j*np + p)*in_step + i] * w[i*w_ld + c]
 * for tile j < count, pixel p < np, channel c < (nv - 1)*VL + last.  Both sum
 * in the same order, so every float must be the same bit for bit; the floats
 * between the pixels' outputs (out_pix wider than the tile's channels) and
 * after the last tile must stay as they were.  The shapes walk the tile sizes
 * the kernel is built for (np_max - 1 and np_max pixels, 1 to nv_max vectors,
 * the last one full or not; thin_np and thin_np - 1 pixels of one vector
 * where the set has thin tiles), the output prefetch one and two tiles ahead
 * (which must write nothing), accumulation, and strides wider than the
 * channels. */
#define _POSIX_C_SOURCE 200809L /* setenv */
#include <stdlib.h>
#include <string.h>

#include "kernel_sets.h"
#include "testing.h"

typedef struct {
  const char *why;
  int count;     /* tiles */
  int thin;      /* thin tiles: one vector (only on the sets that have them) */
  int np_less;   /* pixels a tile: np_max (thin: thin_np) - np_less */
  int nv_less;   /* vectors: nv_max - nv_less (at least 1) */
  int last_less; /* floats of the last vector: vl - last_less (at least 1) */
  int ci, in_pad, out_pad, accumulate, pf; /* in_step = ci + in_pad; out_pix = channels + out_pad */
} shape;

static const shape shapes[] = {
    {"one tile of np_max pixels, nv_max full vectors", 1, 0, 0, 0, 0, 7, 0, 0, 0, 0},
    {"one tile of np_max - 1 pixels", 1, 0, 1, 0, 0, 7, 0, 0, 0, 0},
    {"a run of tiles, one input channel", 9, 0, 0, 0, 0, 1, 0, 0, 0, 0},
    {"a run, the last vector one float", 5, 0, 0, 0, 15, 3, 2, 5, 0, 0},
    {"a run, one vector of one float", 4, 0, 1, 3, 15, 4, 0, 3, 0, 0},
    {"a run, two vectors, the last partial", 6, 0, 1, 2, 5, 9, 0, 0, 0, 0},
    {"a run, three vectors, input stride of stride 2", 7, 0, 0, 1, 0, 12, 12, 0, 0, 0},
    {"a run onto earlier sums (accumulate)", 6, 0, 0, 0, 3, 5, 1, 7, 1, 0},
    {"accumulate, np_max - 1 pixels, one vector", 3, 0, 1, 3, 0, 32, 0, 0, 1, 0},
    {"output lines prefetched one tile ahead", 8, 0, 0, 0, 0, 6, 0, 100, 0, 1},
    {"output lines prefetched two tiles ahead, partial", 8, 0, 1, 1, 9, 6, 0, 1000, 0, 2},
    {"thirty-two input channels, wide output stride", 12, 0, 0, 0, 0, 32, 3, 531, 0, 1},
    {"thin tiles of thin_np pixels", 5, 1, 0, 0, 0, 7, 0, 0, 0, 0},
    {"thin tiles of thin_np - 1, the vector partial", 4, 1, 1, 0, 13, 3, 0, 9, 0, 0},
    {"thin tiles onto earlier sums, prefetched", 3, 1, 0, 0, 6, 20, 5, 40, 1, 2},
};

static float value(size_t i, unsigned salt) {
  return (float)((i * 2654435761u + salt) % 2001) / 1000.0f - 1.0f;
}

/* One shape on one kernel set: conv_run's output against conv_tile's. */
static void check_shape(const cbp_direct_isa *isa, const shape *s) {
  if (s->thin && isa->thin_np <= isa->np_max) return; /* a set without thin tiles */
  const int np = (s->thin ? isa->thin_np : isa->np_max) - s->np_less;
  const int nv = s->thin ? 1 : isa->nv_max - s->nv_less < 1 ? 1 : isa->nv_max - s->nv_less;
  const int last = isa->vl - s->last_less < 1 ? 1 : isa->vl - s->last_less;
  const int ch = (nv - 1) * isa->vl + last, w_ld = nv * isa->vl;
  const ptrdiff_t in_step = s->ci + s->in_pad, out_pix = ch + s->out_pad;
  const int px = s->count * np;
  /* pixels beyond the run, to see that nothing past it is written */
  const size_t in_n = (size_t)(px + 1) * (size_t)in_step, w_n = (size_t)s->ci * (size_t)w_ld;
  const size_t out_n = (size_t)(px + 2) * (size_t)out_pix;
  float *in = malloc(in_n * sizeof *in), *w = malloc(w_n * sizeof *w);
  float *got = malloc(out_n * sizeof *got), *want = malloc(out_n * sizeof *want);
  CHECK(in && w && got && want, "out of memory");
  if (!in || !w || !got || !want) goto out;
  for (size_t i = 0; i < in_n; i++) in[i] = value(i, 1);
  for (size_t i = 0; i < w_n; i++) w[i] = value(i, 2);
  for (size_t i = 0; i < out_n; i++) got[i] = want[i] = value(i, 3);
  isa->conv_run(s->count, np, nv, in, in_step, w, w_ld, s->ci, got, out_pix, last, s->accumulate,
                s->pf);
  for (int j = 0; j < s->count; j++) {
    cbp_ktap tap = {{in + (size_t)j * np * in_step}, w, 0, 0};
    isa->conv_tile(np, nv, &tap, 1, s->ci, in_step, w_ld, want + (size_t)j * np * out_pix,
                   out_pix, last, s->accumulate);
  }
  size_t wrong = 0, first = out_n;
  for (size_t i = 0; i < out_n; i++)
    if (memcmp(&got[i], &want[i], sizeof(float)) != 0) {
      wrong++;
      if (first == out_n) first = i;
    }
  CHECK(!wrong, "%s, %s (%d tiles of %d x %d vectors, last %d, ci %d, in_step %td, out_pix %td, "
        "accumulate %d, pf %d): %zu floats differ from conv_tile's, the first at %zu",
        isa->name, s->why, s->count, np, nv, last, s->ci, in_step, out_pix, s->accumulate, s->pf,
        wrong, first);
out:
  free(in);
  free(w);
  free(got);
  free(want);
}

int main(void) {
  TEST_EACH_KERNEL_SET(shapes, check_shape);
  TEST_END();
}
