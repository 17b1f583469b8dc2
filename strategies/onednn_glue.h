/* Shared glue of the oneDNN peer strategies (fwd/bpa/bpw_onednn[_blocked],
 * mma_bpa/mma_bpw_onednn).
 * Not a strategy itself: each peer strategy file exports its descriptor and
 * calls these with its op and layout choice. */
#ifndef CONVBP_ONEDNN_GLUE_H
#define CONVBP_ONEDNN_GLUE_H

#include "internal.h"

/* blocked = 0: oneDNN reads and writes convbp's buffers directly (nhwc, ohwi).
   blocked = 1: oneDNN picks its layouts (format_tag_any); reorders from and to
   the canonical buffers run inside each call, as a user holding NHWC pays them. */
const char *cbp_onednn_supports(const cbp_problem *pb, int blocked);
int cbp_onednn_prepare(const cbp_problem *pb, int threads, int blocked, void **state);
int cbp_onednn_run(const cbp_problem *pb, int threads, const float *x, const float *y, float *out,
                   void *state);
void cbp_onednn_release(void *state);

/* One descriptor per (op, layout): the eight peer strategies differ only in these. */
#define CBP_ONEDNN_STRATEGY(sym, sname, sop, blocked_flag, text)                              \
  static const char *sym##_supports(const cbp_problem *pb) {                                  \
    return cbp_onednn_supports(pb, blocked_flag);                                             \
  }                                                                                           \
  static int sym##_prepare(const cbp_problem *pb, int threads, void **state) {                \
    return cbp_onednn_prepare(pb, threads, blocked_flag, state);                              \
  }                                                                                           \
  const cbp_strategy sym = {.name = sname,                                                    \
                            .op = sop,                                                        \
                            .summary = text,                                                  \
                            .supports = sym##_supports,                                       \
                            .run = cbp_onednn_run,                                            \
                            .prepare = sym##_prepare,                                         \
                            .release = cbp_onednn_release};

#endif
