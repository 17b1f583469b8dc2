/* libFuzzer target: the sweep grammar, integer lists and ranges ("1,8", "64:512:x2")
   and their expansion over a grid; the first line is the list, the rest a descriptor. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *text = malloc(size + 1);
  memcpy(text, data, size);
  text[size] = 0;
  char *nl = strchr(text, '\n');
  if (nl) *nl = 0;
  int *values = NULL, count = 0;
  char err[256];
  if (cbp_parse_int_list(text, 0, &values, &count, err, sizeof err) == 0) {
    if (count < 1) abort();
    cbp_point_list l = {0};
    cbp_point pt;
    if (nl && cbp_point_parse(nl + 1, &pt, err, sizeof err) == 0) cbp_points_add(&l, &pt);
    static const char *const fields[] = {"mb", "ic", "kh", "sh", "ph", "dh", "iw"};
    cbp_grid_axis axis = {fields[(unsigned)count % 7], values, count > 64 ? 64 : count};
    if (cbp_grid_expand(&l, &axis, 1, err, sizeof err) == 0)
      for (int i = 0; i < l.count; i++)
        if (!l.items[i].is_mma && convbp_conv_validate(&l.items[i].conv)) abort();
    cbp_points_free(&l);
    free(values);
  }
  free(text);
  return 0;
}
