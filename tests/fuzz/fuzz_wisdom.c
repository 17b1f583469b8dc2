/* libFuzzer target: the wisdom reader; whatever it accepts must export again. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "convbp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char path[64];
  snprintf(path, sizeof path, "/tmp/convbp-fuzz-wisdom-%d", (int)getpid());
  FILE *f = fopen(path, "wb");
  if (!f) return 0;
  fwrite(data, 1, size, f);
  fclose(f);
  char err[512];
  convbp_wisdom_forget();
  if (convbp_wisdom_import(path, err, sizeof err) == 0 && convbp_wisdom_export(path)) abort();
  remove(path);
  return 0;
}
