/* A minimal test harness: CHECK counts, failures print where and why, and
 * TEST_END prints the closing line "N passed, M failed" and sets the exit code;
 * test_selected filters strategies by name. */
#ifndef CONVBP_TESTING_H
#define CONVBP_TESTING_H

#include <stdio.h>
#include <string.h>

static int tests_passed, tests_failed;

/* Whether name contains one of the comma-separated substrings of list (NULL:
   all): the strategy filter test_strategies and test_determinism take. */
static inline int test_selected(const char *name, const char *list) {
  if (!list) return 1;
  char buf[256];
  snprintf(buf, sizeof buf, "%s", list);
  for (char *tok = strtok(buf, ","); tok; tok = strtok(NULL, ","))
    if (strstr(name, tok)) return 1;
  return 0;
}

/* The engine's kernel sets this CPU runs besides the portable one (as
   src/direct.c detects them): AVX2 with FMA, and AVX-512F on top. */
static inline void test_cpu_sets(int *avx2, int *avx512) {
  *avx2 = *avx512 = 0;
#if defined(__x86_64__) || defined(__i386__)
  __builtin_cpu_init();
  *avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  *avx512 = *avx2 && __builtin_cpu_supports("avx512f");
#endif
}

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
