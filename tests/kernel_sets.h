/* For the tests of the engine's kernels themselves, which call a kernel set's
 * functions (src/internal.h) directly; the includer defines _POSIX_C_SOURCE
 * (setenv). */
#ifndef CONVBP_KERNEL_SETS_H
#define CONVBP_KERNEL_SETS_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* The engine's kernel sets this CPU runs, each once, into sets: the portable
   one, AVX2, then the best (CONVBP_ISA narrows cbp_direct_isa_get's choice;
   left unset after).  Returns how many; for the tests of a kernel itself
   (test_transpose, test_conv_run). */
static inline int test_kernel_sets(const cbp_direct_isa *sets[3]) {
  const char *const names[] = {"portable", "avx2", NULL};
  int n = 0;
  for (int k = 0; k < 3; k++) {
    if (names[k]) setenv("CONVBP_ISA", names[k], 1);
    else unsetenv("CONVBP_ISA");
    const cbp_direct_isa *isa = cbp_direct_isa_get();
    if (n == 0 || strcmp(sets[n - 1]->name, isa->name) != 0) sets[n++] = isa;
  }
  unsetenv("CONVBP_ISA");
  return n;
}

/* check(set, &shapes[i]) for every kernel set of test_kernel_sets and every
   shape of the array shapes, the set's name printed first: the main loop of
   the kernel tests, whose shape tables differ in type. */
#define TEST_EACH_KERNEL_SET(shapes, check)                                                        \
  do {                                                                                             \
    const cbp_direct_isa *sets_[3];                                                                \
    const int nsets_ = test_kernel_sets(sets_);                                                    \
    for (int k_ = 0; k_ < nsets_; k_++) {                                                          \
      printf("kernel set %s\n", sets_[k_]->name);                                                  \
      for (size_t i_ = 0; i_ < sizeof(shapes) / sizeof((shapes)[0]); i_++)                        \
        check(sets_[k_], &(shapes)[i_]);                                                           \
    }                                                                                              \
  } while (0)

#endif
