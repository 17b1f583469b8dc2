/* libFuzzer target: the CSV reader used by --resume and best. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "cli.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char path[64];
  snprintf(path, sizeof path, "/tmp/convbp-fuzz-csv-%d", (int)getpid());
  FILE *f = fopen(path, "wb");
  if (!f) return 0;
  fwrite(data, 1, size, f);
  fclose(f);
  cbp_csv csv;
  char err[512];
  if (cbp_csv_read(path, &csv, err, sizeof err) == 0) {
    for (int r = 0; r < csv.nrows; r++) (void)cbp_csv_get(&csv, r, "strategy");
    cbp_csv_free(&csv);
  }
  remove(path);
  return 0;
}
