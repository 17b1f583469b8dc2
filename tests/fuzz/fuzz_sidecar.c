/* libFuzzer target: the sidecar reader (X.machine.txt) that best, compare and
 * --resume consult: key lookup, OpenBLAS's core name, the peak-shortfall notes.
 * Checks what a lookup promises: the value is the text after "key=" on a line
 * of the input, and a core name is non-empty and has no ')'. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static void lookup(const char *text, const char *key) {
  char v[64];
  if (!cbp_sidecar_get(text, key, v, sizeof v)) return;
  /* "key=" then the value (cut to fit v) must occur in the text */
  char needle[96];
  snprintf(needle, sizeof needle, "%s=%s", key, v);
  if (!strstr(text, needle)) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *text = malloc(size + 1); /* the sidecar as cbp_sidecar_load returns it: NUL-ended */
  if (!text) return 0;
  memcpy(text, data, size);
  text[size] = 0;
  static const char *const keys[] = {"cpu", "cores", "pus", "isa", "openblas", "peak_gflops_1t",
                                     "peak_gflops_2t"};
  for (size_t i = 0; i < sizeof keys / sizeof *keys; i++) lookup(text, keys[i]);
  char blas[512], core[64];
  if (cbp_sidecar_get(text, "openblas", blas, sizeof blas) && cbp_blas_core(blas, core, sizeof core) &&
      (!core[0] || strchr(core, ')')))
    abort();
  cbp_sidecar_peak_notes("fuzz_sidecar", "fuzz.csv", text); /* notes go to stderr (closed) */
  free(text);
  return 0;
}
