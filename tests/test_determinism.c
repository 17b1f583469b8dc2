/* Run-to-run determinism: every convbp strategy, given the same problem,
 * inputs and thread count, writes the same bits on every run (README, "How
 * results are verified").  Threads that take work as they free up, or sum
 * partial results in the order they finish, would break it; each shape below
 * names the parallel path it runs.  Every run starts from an output full of
 * a different garbage pattern, so an element left unwritten shows too.
 *
 * The oneDNN peers are left out: their determinism is oneDNN's to state (and
 * its plain-layout BPW takes seconds a run).  Such a failure can be timing
 * dependent: each (problem, strategy, threads) runs RUNS times. */
#define _POSIX_C_SOURCE 200809L /* setenv */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "convbp.h"
#include "testing.h"

enum { RUNS = 4 };

typedef struct {
  const char *path; /* what the threads do there */
  convbp_conv p;    /* n c h w k r s pad_h pad_w stride_h stride_w dil_h dil_w */
} shape;

static const shape shapes[] = {
    {"stem: im2col blocks reduced into per-thread partials of dW; col2im images per thread",
     {2, 3, 56, 56, 16, 7, 7, 3, 3, 2, 2, 1, 1}},
    {"1x1 stride 1, many pixels: row ranges into partials",
     {4, 16, 28, 28, 24, 1, 1, 0, 0, 1, 1, 1, 1}},
    {"strided 1x1, wide rows: output rows into partials, dA rows in place",
     {2, 32, 56, 56, 64, 1, 1, 0, 0, 2, 2, 1, 1}},
    {"3x3: the blocked engine's shared channel block, claimed from either end",
     {2, 64, 14, 14, 64, 3, 3, 1, 1, 1, 1, 1, 1}},
    {"3x3, 320 channels: the shared channel block in two ci blocks, its first claims weighted",
     {2, 320, 7, 7, 320, 3, 3, 1, 1, 1, 1, 1, 1}},
    {"3x3, few pixels, dW over 2 MiB: threads split dW's columns",
     {2, 256, 7, 7, 256, 3, 3, 1, 1, 1, 1, 1, 1}},
    {"1x1, few pixels, dW of 4 MiB: threads split dW's rows",
     {1, 1024, 7, 7, 1024, 1, 1, 0, 0, 1, 1, 1, 1}},
    {"3x3 stride 2: stride phases of dA", {2, 32, 15, 15, 48, 3, 3, 1, 1, 2, 2, 1, 1}},
    {"engine: unequal channel blocks (the 3-thread pairing)",
     {2, 80, 7, 9, 80, 3, 3, 1, 1, 1, 1, 1, 1}},
};

static const convbp_mma mmas[] = {{64, 300, 200}, {32, 1000, 100}, {3, 200, 129}, {80, 2100, 70},
                                   {20, 2100, 70}, {2100, 40, 30}};

/* out filled with a pattern that depends on the run, then run; 0 or a status */
static int run_once(int si, const convbp_conv *p, const convbp_mma *m, int threads, int run,
                    const float *x, const float *y, float *out, size_t nout) {
  for (size_t i = 0; i < nout; i++) out[i] = (float)(run + 1) * 1e30f * (i % 2 ? -1.0f : 1.0f);
  const char *name = convbp_strategy_name(si);
  return p ? convbp_conv_run(name, p, threads, x, y, out) : convbp_mma_run(name, m, threads, x, y, out);
}

/* One (problem, strategy, threads): RUNS runs, each compared bit for bit with the first. */
static void check_point(int si, const convbp_conv *p, const convbp_mma *m, int threads,
                        const char *what, int *points) {
  const convbp_op op = convbp_strategy_op(si);
  size_t nx, ny, nout;
  if (p ? convbp_conv_op_sizes(op, p, &nx, &ny, &nout) : convbp_mma_op_sizes(op, m, &nx, &ny, &nout))
    return;
  const char *reason = NULL;
  if (p ? convbp_conv_supports(convbp_strategy_name(si), p, &reason)
        : convbp_mma_supports(convbp_strategy_name(si), m, &reason))
    return; /* declining is test_strategies' business */
  float *x = convbp_alloc(nx * sizeof(float)), *y = convbp_alloc(ny * sizeof(float));
  float *first = convbp_alloc(nout * sizeof(float)), *again = convbp_alloc(nout * sizeof(float));
  CHECK(x && y && first && again, "out of memory");
  if (x && y && first && again) {
    convbp_fill(x, nx, 11);
    convbp_fill(y, ny, 12);
    int st = run_once(si, p, m, threads, 0, x, y, first, nout);
    CHECK(st == 0, "%s on %s, %d threads: %s", convbp_strategy_name(si), what, threads,
          convbp_strerror(st));
    for (int r = 1; r < RUNS && st == 0; r++) {
      st = run_once(si, p, m, threads, r, x, y, again, nout);
      size_t diff = 0, at = 0;
      for (size_t i = 0; i < nout; i++)
        if (memcmp(&first[i], &again[i], sizeof(float)) && diff++ == 0) at = i;
      CHECK(st == 0 && diff == 0,
            "%s on %s, %d threads: run %d differs from run 0 in %zu of %zu elements, first #%zu "
            "(%.9g vs %.9g)",
            convbp_strategy_name(si), what, threads, r, diff, nout, at, (double)first[at],
            (double)again[at]);
      if (diff) break;
    }
    ++*points;
  }
  convbp_free(x), convbp_free(y), convbp_free(first), convbp_free(again);
}

/* Usage: test_determinism [STRATEGY_SUBSTRINGS]: the strategies whose names
   contain one of them (default: all), as test_strategies takes them. */
int main(int argc, char **argv) {
  setenv("CONVBP_THREAD_FLOPS", "0", 0); /* threads on the small shapes too */
  const char *only = argc > 1 ? argv[1] : NULL;
  int points = 0;
  for (int si = 0; si < convbp_strategy_count(); si++) {
    const char *name = convbp_strategy_name(si);
    if (strstr(name, "onednn") || !test_selected(name, only)) continue;
    for (int threads = 2; threads <= 3; threads++) {
      if (convbp_op_is_mma(convbp_strategy_op(si))) {
        for (size_t i = 0; i < sizeof mmas / sizeof mmas[0]; i++) {
          char what[64];
          snprintf(what, sizeof what, "m%dn%dk%d", mmas[i].m, mmas[i].n, mmas[i].k);
          check_point(si, NULL, &mmas[i], threads, what, &points);
        }
        continue;
      }
      for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
        char what[256], desc[128];
        convbp_conv_format(&shapes[i].p, NULL, desc, sizeof desc);
        snprintf(what, sizeof what, "%s (%s)", desc, shapes[i].path);
        check_point(si, &shapes[i].p, NULL, threads, what, &points);
      }
    }
  }
  printf("%d (problem, strategy, threads) points, %d runs each\n", points, RUNS);
  CHECK(points >= (only ? 20 : 100), "only %d points ran", points);
  TEST_END();
}
