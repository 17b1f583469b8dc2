/* On one thread no strategy of convbp's opens an OpenMP parallel region, not
 * even an inactive one: libgomp ends every region with a futex syscall, which
 * on a paravirtualized guest cost 1.2-1.4 us a region, a tenth of a small
 * layer (README, the note on threads under the strategy table).  The link
 * wraps GOMP_parallel, libgomp's entry for every region GCC emits with a
 * static schedule (ld --wrap: only calls from the objects linked here,
 * convbp's own, not OpenBLAS's or oneDNN's), and counts its calls around each
 * prepared run, over shapes that reach each strategy's paths.  The same runs
 * on two threads must open regions, or the wrap sees nothing (an OpenMP
 * runtime other than libgomp): then the test reports itself skipped (77).
 * That part sets CONVBP_THREAD_FLOPS=0; without it, the blocked and GEMM
 * strategies must take one thread for problems too small to split, and two
 * above their floor (check_thread_floor): a region, or for a GEMM strategy
 * OpenBLAS asked for two threads (openblas_set_num_threads, wrapped too). */
#define _POSIX_C_SOURCE 200809L /* setenv */
#include <stdlib.h>
#include <string.h>

#include "convbp.h"
#include "testing.h"

static long regions;
static int blas_max; /* the most threads convbp asked OpenBLAS for, since reset */

void __real_GOMP_parallel(void (*fn)(void *), void *data, unsigned threads, unsigned flags);
void __wrap_GOMP_parallel(void (*fn)(void *), void *data, unsigned threads, unsigned flags);
void __wrap_GOMP_parallel(void (*fn)(void *), void *data, unsigned threads, unsigned flags) {
  regions++; /* called on the thread that opens the region */
  __real_GOMP_parallel(fn, data, threads, flags);
}

void __real_openblas_set_num_threads(int n);
void __wrap_openblas_set_num_threads(int n);
void __wrap_openblas_set_num_threads(int n) {
  if (n > blas_max) blas_max = n;
  __real_openblas_set_num_threads(n);
}

typedef struct {
  const char *why;
  convbp_conv p; /* n c h w k r s pad_h pad_w stride_h stride_w dil_h dil_w */
} shape;

static const shape shapes[] = {
    {"3x3 padded (the engine's row tiles, merged taps)", {2, 16, 14, 14, 16, 3, 3, 1, 1, 1, 1, 1, 1}},
    {"3x3 stride 2 (stride phases, narrow tiles)", {2, 16, 15, 15, 32, 3, 3, 1, 1, 2, 2, 1, 1}},
    {"1x1 stride 2 (empty phases zeroed, one-to-one placement)", {2, 32, 14, 14, 16, 1, 1, 0, 0, 2, 2, 1, 1}},
    {"1x1 stride 1 (one GEMM)", {2, 32, 14, 14, 64, 1, 1, 0, 0, 1, 1, 1, 1}},
    {"dilated (scatter tap by tap)", {2, 8, 12, 12, 8, 3, 3, 2, 2, 1, 1, 2, 2}},
    {"one image, wide rows (in-place strided rows)", {1, 8, 40, 40, 8, 1, 1, 0, 0, 2, 2, 1, 1}},
};

static int is_peer(const char *name) { return strstr(name, "onednn") != NULL; }

/* Regions opened by one run of pr on zeroed inputs of nx and ny floats
   (out nout); -1 when the run fails or memory is short. */
static long regions_of_run(convbp_prepared *pr, size_t nx, size_t ny, size_t nout) {
  float *x = calloc(nx, sizeof(float)), *y = calloc(ny, sizeof(float));
  float *out = malloc(nout * sizeof(float));
  long n = -1;
  if (x && y && out) {
    blas_max = 0;
    const long before = regions;
    const int st = convbp_prepared_run(pr, x, y, out);
    n = st ? -1 : regions - before;
  }
  free(x), free(y), free(out);
  convbp_prepared_destroy(pr);
  return n;
}

enum { DECLINED = -2 };

/* The same for strategy s on p with `threads`; DECLINED when s declines p,
   -1 when it cannot be made ready or run. */
static long regions_of(const char *s, const convbp_conv *p, int threads) {
  const convbp_op op = convbp_strategy_op(convbp_strategy_find(s));
  size_t nx, ny, nout;
  convbp_prepared *pr;
  if (convbp_conv_supports(s, p, NULL)) return DECLINED;
  if (convbp_conv_op_sizes(op, p, &nx, &ny, &nout) || convbp_conv_prepare(s, p, threads, &pr))
    return -1;
  return regions_of_run(pr, nx, ny, nout);
}

/* The same for MMA strategy s on m; -1 when it cannot be made ready or run. */
static long regions_of_mma(const char *s, const convbp_mma *m, int threads) {
  size_t nx, ny, nout;
  convbp_prepared *pr;
  if (convbp_mma_op_sizes(convbp_strategy_op(convbp_strategy_find(s)), m, &nx, &ny, &nout) ||
      convbp_mma_prepare(s, m, threads, &pr))
    return -1;
  return regions_of_run(pr, nx, ny, nout);
}

/* The blocked strategies wake a second thread only for problems worth it
   (cbp_threads_for): twice the floor, counted with their vector channels
   rounded up to whole vectors (4 floats or more on every kernel set), BPW's
   without the taps that fall in the padding, which its engine never visits.
   Regions on two threads at a floor of 1 MFLOP a thread (CONVBP_THREAD_FLOPS,
   the value the calibration falls back on). */
static void check_thread_floor(void) {
  static const struct {
    const char *why;
    convbp_conv p;
    int two;      /* whether two threads open a region */
    int gemm_two; /* the same for the GEMM strategies, which count FLOPs as they are */
    int bpw_two;  /* the same for bpw_direct_blocked */
  } sizes[] = {
      {"1.8 MFLOP of 16 channels", {2, 16, 14, 14, 16, 3, 3, 1, 1, 1, 1, 1, 1}, 0, 0, 0},
      {"2.4 MFLOP of 16 channels", {2, 16, 16, 16, 16, 3, 3, 1, 1, 1, 1, 1, 1}, 1, 1, 1},
      {"1.2 MFLOP of 2 channels, 2.4 or more in whole vectors",
       {16, 2, 32, 32, 2, 3, 3, 1, 1, 1, 1, 1, 1}, 1, 0, 1},
      {"0.33 MFLOP of 8 channels", {2, 8, 12, 12, 8, 3, 3, 2, 2, 1, 1, 2, 2}, 0, 0, 0},
      {"2.56 MFLOP of 16 channels, 0.92 of them inside the input",
       {2, 16, 6, 6, 16, 5, 5, 4, 4, 1, 1, 1, 1}, 1, 1, 0},
  };
  static const char *const blocked[] = {"fwd_direct_blocked", "fwd_dot_blocked",
                                        "fwd_im2col_blocked", "bpa_stride_phase_blocked",
                                        "bpw_direct_blocked"};
  setenv("CONVBP_THREAD_FLOPS", "1000000", 1);
  for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++)
    for (size_t i = 0; i < sizeof blocked / sizeof blocked[0]; i++) {
      const int want = strstr(blocked[i], "bpw") ? sizes[k].bpw_two : sizes[k].two;
      const long n = regions_of(blocked[i], &sizes[k].p, 2);
      if (n == DECLINED && !strcmp(blocked[i], "fwd_im2col_blocked")) continue; /* C > 4 */
      CHECK(n >= 0 && (n > 0) == want, "%s, %s on two threads: %ld region(s), want %s", blocked[i],
            sizes[k].why, n, want ? "some" : "none");
    }
  /* The GEMM strategies take the same floor on their FLOPs as they are: two
     threads below it open no region of convbp's and ask OpenBLAS for one
     thread; above it they do one or the other. */
  static const char *const gemms[] = {"fwd_im2col_gemm", "bpa_scatter_gemm", "bpw_im2col_gemm"};
  for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++)
    for (size_t i = 0; i < sizeof gemms / sizeof gemms[0]; i++) {
      const int want = sizes[k].gemm_two;
      const long n = regions_of(gemms[i], &sizes[k].p, 2);
      CHECK(n >= 0 && (n > 0 || blas_max > 1) == want,
            "%s, %s on two threads: %ld region(s), OpenBLAS asked for %d thread(s), want %s",
            gemms[i], sizes[k].why, n, blas_max, want ? "two" : "one");
    }
  static const struct {
    convbp_mma m;
    int want;
  } mmas[] = {{{128, 96, 64}, 0}, {{256, 256, 256}, 1}};
  for (size_t k = 0; k < sizeof mmas / sizeof mmas[0]; k++)
    for (int i = 0; i < convbp_strategy_count(); i++) {
      const char *s = convbp_strategy_name(i);
      if (!convbp_op_is_mma(convbp_strategy_op(i)) || is_peer(s) || strstr(s, "_direct")) continue;
      const long n = regions_of_mma(s, &mmas[k].m, 2);
      CHECK(n >= 0 && (n > 0 || blas_max > 1) == mmas[k].want,
            "%s, m%dn%dk%d on two threads: %ld region(s), OpenBLAS asked for %d thread(s) (-1: "
            "the run failed)",
            s, mmas[k].m.m, mmas[k].m.n, mmas[k].m.k, n, blas_max);
    }
}

/* Without CONVBP_THREAD_FLOPS the floor is measured once per process
   (convbp_thread_flops): within its clamps (0.1-4 MFLOP a thread), the same
   on every later call, and replaced by the variable whenever it is set.
   Whatever it measured, a problem under two of the lowest floors keeps one
   thread and one over two of the highest gets two. */
static void check_calibrated_floor(void) {
  unsetenv("CONVBP_THREAD_FLOPS");
  const double f = convbp_thread_flops();
  CHECK(f >= 0.1e6 && f <= 4e6, "measured floor %.0f FLOPs a thread, want 0.1-4 MFLOP", f);
  CHECK(convbp_thread_flops() == f, "the floor moved from %.0f to %.0f between two calls", f,
        convbp_thread_flops());
  static const struct {
    const char *value;
    double want; /* -1: the measured floor */
  } env[] = {{"250000", 250000}, {"0", 0}, {"1e6", 1e6}, {"-5", -1}, {"many", -1}, {"", -1}};
  for (size_t i = 0; i < sizeof env / sizeof env[0]; i++) {
    setenv("CONVBP_THREAD_FLOPS", env[i].value, 1);
    const double want = env[i].want < 0 ? f : env[i].want, got = convbp_thread_flops();
    CHECK(got == want, "CONVBP_THREAD_FLOPS='%s': floor %.0f, want %.0f", env[i].value, got, want);
  }
  unsetenv("CONVBP_THREAD_FLOPS");
  static const struct {
    const char *why;
    convbp_conv p;
    int two;
  } sizes[] = {
      {"0.15 MFLOP of 32 channels", {2, 32, 6, 6, 32, 3, 3, 0, 0, 2, 2, 1, 1}, 0},
      {"9.4 MFLOP of 16 channels", {2, 16, 32, 32, 16, 3, 3, 1, 1, 1, 1, 1, 1}, 1},
  };
  for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
    const long n = regions_of("fwd_direct_blocked", &sizes[k].p, 2);
    CHECK(n >= 0 && (n > 0) == sizes[k].two,
          "fwd_direct_blocked, %s on two threads, measured floor %.0f: %ld region(s), want %s",
          sizes[k].why, f, n, sizes[k].two ? "some" : "none");
  }
}

int main(void) {
  /* below: every strategy's threaded paths, small shapes included */
  setenv("CONVBP_THREAD_FLOPS", "0", 0);
  long two = 0; /* regions on two threads, over every strategy and shape */
  int runs = 0;
  for (int i = 0; i < convbp_strategy_count(); i++) {
    const char *s = convbp_strategy_name(i);
    if (convbp_op_is_mma(convbp_strategy_op(i)) || is_peer(s)) continue;
    for (size_t k = 0; k < sizeof shapes / sizeof shapes[0]; k++) {
      const long one = regions_of(s, &shapes[k].p, 1);
      if (one == DECLINED) continue;
      runs++;
      CHECK(one == 0, "%s, %s: %ld parallel region(s) on one thread (-1: the run failed)", s,
            shapes[k].why, one);
      const long n2 = regions_of(s, &shapes[k].p, 2);
      if (n2 > 0) two += n2;
    }
  }
  for (int i = 0; i < convbp_strategy_count(); i++) {
    const char *s = convbp_strategy_name(i);
    if (!convbp_op_is_mma(convbp_strategy_op(i)) || is_peer(s)) continue;
    const convbp_mma m = {128, 96, 64};
    const long one = regions_of_mma(s, &m, 1);
    CHECK(one == 0, "%s: %ld parallel region(s) on one thread (-1: the run failed)", s, one);
    runs++;
  }
  if (two == 0) {
    printf("SKIPPED: no GOMP_parallel call seen on two threads (not libgomp)\n");
    return 77;
  }
  CHECK(runs > 20, "only %d runs", runs);
  check_thread_floor();
  check_calibrated_floor();
  printf("%d one-thread runs; %ld regions over the same on two threads\n", runs, two);
  TEST_END();
}
