/* Status names and operation names, generated from the lists in convbp.h,
 * and the library's version. */
#include <string.h>

#include "convbp.h"

const char *convbp_version(void) { return CONVBP_VERSION; }

const char *convbp_strerror(int status) {
  switch (status) {
#define CONVBP_STRERROR_CASE(name, value, text) \
  case value:                                   \
    return text;
    CONVBP_STATUS_LIST(CONVBP_STRERROR_CASE)
#undef CONVBP_STRERROR_CASE
  }
  return "unknown status";
}

static const char *const op_names[CONVBP_OP_COUNT] = {"fwd", "bpa", "bpw", "mma_bpa", "mma_bpw"};

const char *convbp_op_name(convbp_op op) {
  if ((int)op < 0 || (int)op >= CONVBP_OP_COUNT) return "unknown";
  return op_names[op];
}

int convbp_op_parse(const char *name, convbp_op *op) {
  if (!name || !op) return CONVBP_ERR_ARG;
  for (int i = 0; i < CONVBP_OP_COUNT; i++)
    if (strcmp(name, op_names[i]) == 0) {
      *op = (convbp_op)i;
      return CONVBP_OK;
    }
  return CONVBP_ERR_PARSE;
}

int convbp_op_is_mma(convbp_op op) { return op == CONVBP_MMA_BPA || op == CONVBP_MMA_BPW; }
