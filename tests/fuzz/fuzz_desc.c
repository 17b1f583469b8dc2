/* libFuzzer target: the conv and MMA descriptor parsers, and the round trip of
   whatever they accept (format must succeed and parse back to the same problem). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "convbp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *text = malloc(size + 1);
  memcpy(text, data, size);
  text[size] = 0;
  char name[64], err[256], buf[512];
  convbp_conv p, back;
  if (convbp_conv_parse(text, &p, name, sizeof name, err, sizeof err) == 0) {
    if (convbp_conv_validate(&p)) abort();
    if (convbp_conv_format(&p, name, buf, sizeof buf)) abort();
    if (convbp_conv_parse(buf, &back, NULL, 0, err, sizeof err) || memcmp(&p, &back, sizeof p)) abort();
  }
  convbp_mma m, mback;
  if (convbp_mma_parse(text, &m, name, sizeof name, err, sizeof err) == 0) {
    if (convbp_mma_format(&m, name, buf, sizeof buf)) abort();
    if (convbp_mma_parse(buf, &mback, NULL, 0, err, sizeof err) || memcmp(&m, &mback, sizeof m)) abort();
  }
  free(text);
  return 0;
}
