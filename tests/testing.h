/* A minimal test harness: CHECK counts, failures print where and why, and
 * TEST_END prints the closing line "N passed, M failed" and sets the exit code. */
#ifndef CONVBP_TESTING_H
#define CONVBP_TESTING_H

#include <stdio.h>

static int tests_passed, tests_failed;

#define CHECK(cond, ...)                                        \
  do {                                                          \
    if (cond) {                                                 \
      tests_passed++;                                           \
    } else {                                                    \
      tests_failed++;                                           \
      fprintf(stderr, "%s:%d: FAILED: ", __FILE__, __LINE__);   \
      fprintf(stderr, __VA_ARGS__);                             \
      fputc('\n', stderr);                                      \
    }                                                           \
  } while (0)

#define TEST_END()                                              \
  do {                                                          \
    printf("%d passed, %d failed\n", tests_passed, tests_failed); \
    return tests_failed ? 1 : 0;                                \
  } while (0)

#endif
