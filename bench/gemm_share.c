/* convbp_gemm_share: the share of a GEMM strategy's time spent outside its sgemm
 * calls (im2col, col2im, zero insertion, layout moves, reductions).
 *
 * Linked with -Wl,--wrap=cblas_sgemm, so every sgemm the library makes goes
 * through __wrap_cblas_sgemm below, which times it; the library is unchanged.
 * A call inside a parallel region is charged to its thread; a call outside one
 * (OpenBLAS threads it itself) to every thread.  With T threads and wall time
 * t per run:  outside = 1 - (sum over threads of GEMM time / T) / t.
 *
 * usage: convbp_gemm_share [--suite NAME | --problem DESC]... [--threads 1,2]
 *                          [--strategy a,b*,...] [--bind compact|scatter|none]
 * --strategy takes names and patterns as the sweep does.
 * Threads are bound as the sweep binds them (compact unless --bind says
 * otherwise), so the two tools time the same placement.
 * Prints one line per (problem, strategy, threads): ms per run (best of 3
 * measurements of >= 0.2 s), ms in sgemm, percent outside, and the skew:
 * (slowest thread's GEMM time - the mean) / t.  The strategies give threads
 * equal shares, so on unequal cores that much of `outside`, at least, is the
 * faster threads waiting for the slowest one's sgemm (on the Zen 5 guest the
 * second vCPU ran bpw_im2col_gemm's sgemm on res2a_branch2b 13-15% slower
 * while both were busy, with either thread on it). */
#define _POSIX_C_SOURCE 200809L
#include <cblas.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "machine.h"

/* Seconds in sgemm per OpenMP thread, this tool only (not in the library);
   one slot per thread of the largest team asked for. */
static double *gemm_seconds;
static int gemm_slots;

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec * 1e-9;
}

void __real_cblas_sgemm(const enum CBLAS_ORDER order, const enum CBLAS_TRANSPOSE ta,
                        const enum CBLAS_TRANSPOSE tb, const blasint m, const blasint n,
                        const blasint k, const float alpha, const float *a, const blasint lda,
                        const float *b, const blasint ldb, const float beta, float *c,
                        const blasint ldc);

void __wrap_cblas_sgemm(const enum CBLAS_ORDER order, const enum CBLAS_TRANSPOSE ta,
                        const enum CBLAS_TRANSPOSE tb, const blasint m, const blasint n,
                        const blasint k, const float alpha, const float *a, const blasint lda,
                        const float *b, const blasint ldb, const float beta, float *c,
                        const blasint ldc) {
  double t0 = now_s();
  __real_cblas_sgemm(order, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
  double dt = now_s() - t0;
  if (omp_in_parallel()) {
    int tid = omp_get_thread_num();
    if (tid < gemm_slots) gemm_seconds[tid] += dt;
  } else {
    for (int i = 0; i < gemm_slots; i++) gemm_seconds[i] += dt;
  }
}

static const char *const default_strategies =
    "fwd_im2col_gemm,bpa_scatter_gemm,bpa_zero_insert_gemm,bpw_im2col_gemm,bpw_conv_a_do,"
    "bpw_conv_do_a";

/* One measurement: runs until >= 0.2 s; per-run wall and GEMM seconds (the
   threads' mean, and the slowest thread's). */
static void measure(convbp_prepared *pr, int threads, const float *x, const float *y, float *out,
                    double *wall, double *gemm, double *gemm_max) {
  memset(gemm_seconds, 0, (size_t)gemm_slots * sizeof *gemm_seconds);
  int runs = 0;
  double t0 = now_s(), t;
  do {
    convbp_prepared_run(pr, x, y, out);
    runs++;
  } while ((t = now_s() - t0) < 0.2);
  double g = 0, gmax = 0;
  for (int i = 0; i < threads; i++) {
    g += gemm_seconds[i];
    if (gemm_seconds[i] > gmax) gmax = gemm_seconds[i];
  }
  *wall = t / runs;
  *gemm = g / threads / runs;
  *gemm_max = gmax / runs;
}

/* The comma-separated list of names and patterns, as the sweep reads them
   ("all", "bpw_*"), as registry indices: each pattern's matches in registry
   order, none twice.  idx has room for every strategy.  0, or -1 with the
   first item that matches nothing in err. */
static int parse_strategies(const char *list, int *idx, int *count, char *err, size_t len) {
  char *copy = strdup(list);
  if (!copy) {
    snprintf(err, len, "out of memory");
    return -1;
  }
  *count = 0;
  int rc = 0;
  for (char *item = strtok(copy, ","); item && !rc; item = strtok(NULL, ",")) {
    int matched = 0;
    for (int si = 0; si < convbp_strategy_count(); si++) {
      if (!cbp_strategy_matches(item, convbp_strategy_name(si))) continue;
      matched = 1;
      int seen = 0;
      for (int k = 0; k < *count && !seen; k++) seen = idx[k] == si;
      if (!seen) idx[(*count)++] = si;
    }
    if (!matched) {
      snprintf(err, len, "--strategy: no strategy matches '%s' (see 'convbp list')", item);
      rc = -1;
    }
  }
  free(copy);
  return rc;
}

int main(int argc, char **argv) {
  cbp_fix_blas_coretype(argv);
  cbp_point_list points = {0};
  const char *strategies = default_strategies, *thread_list = "1,2";
  cbp_bind bind = CBP_BIND_COMPACT;
  int *threads = NULL, nthreads = 0, *sel = NULL;
  char err[256];
  /* Every bad input is refused here, before the first measurement; each path
     out frees what was read (a sanitized build counts leaks at exit). */
  for (int i = 1; i < argc; i++) {
    const char *val = i + 1 < argc ? argv[i + 1] : NULL;
    int st = 0;
    if (!strcmp(argv[i], "--suite") && val)
      st = cbp_points_load_suite(&points, val, err, sizeof err), i++;
    else if (!strcmp(argv[i], "--problem") && val) {
      cbp_point pt;
      st = cbp_point_parse(val, &pt, err, sizeof err);
      if (!st && cbp_points_add(&points, &pt))
        st = 1, snprintf(err, sizeof err, "out of memory");
      i++;
    } else if (!strcmp(argv[i], "--threads") && val)
      thread_list = val, i++;
    else if (!strcmp(argv[i], "--strategy") && val)
      strategies = val, i++;
    else if (!strcmp(argv[i], "--bind") && val) {
      if (cbp_bind_parse(val, &bind))
        st = 1, snprintf(err, sizeof err, "--bind: '%s' is not compact, scatter or none", val);
      i++;
    } else {
      st = 1, snprintf(err, sizeof err, "unknown or incomplete option '%s'", argv[i]);
    }
    if (st) goto usage;
  }
  if (points.count == 0 && cbp_points_load_suite(&points, "resnet50", err, sizeof err)) goto usage;
  sel = malloc((size_t)convbp_strategy_count() * sizeof *sel);
  if (!sel) {
    snprintf(err, sizeof err, "out of memory");
    goto usage;
  }
  int nsel;
  if (parse_strategies(strategies, sel, &nsel, err, sizeof err)) goto usage;
  char why[200];
  if (cbp_parse_int_list(thread_list, 1, &threads, &nthreads, why, sizeof why)) {
    snprintf(err, sizeof err, "--threads: %s", why);
    goto usage;
  }
  if (cbp_threads_fit(threads, nthreads, why, sizeof why)) {
    snprintf(err, sizeof err, "--threads: %s", why);
    goto usage;
  }
  for (int ti = 0; ti < nthreads; ti++)
    if (threads[ti] > gemm_slots) gemm_slots = threads[ti];
  gemm_seconds = calloc((size_t)gemm_slots, sizeof *gemm_seconds);
  if (!gemm_seconds) {
    snprintf(err, sizeof err, "out of memory");
    goto usage;
  }
  cbp_topo_open();
  printf("%-20s %-22s %3s %10s %10s %8s %8s\n", "problem", "strategy", "thr", "ms/run",
         "sgemm ms", "outside", "skew");
  int status = 0;
  for (int pi = 0; pi < points.count; pi++) {
    const cbp_point *pt = &points.items[pi];
    if (pt->is_mma) continue;
    const char *label = pt->name[0] ? pt->name : pt->desc; /* unnamed: its descriptor */
    for (int k = 0; k < nsel; k++) {
      const int si = sel[k];
      const char *name = convbp_strategy_name(si);
      convbp_op op = convbp_strategy_op(si);
      if (convbp_op_is_mma(op)) continue; /* a pattern's MMA matches: no conv to time */
      size_t na, nw, no, nx, ny, nout;
      if (convbp_conv_sizes(&pt->conv, &na, &nw, &no)) continue;
      /* (x, y) -> out: fwd (A, W) -> O, bpa (dO, W) -> dA, bpw (A, dO) -> dW */
      nx = op == CONVBP_BPA ? no : na;
      ny = op == CONVBP_BPW ? no : nw;
      nout = op == CONVBP_FWD ? no : op == CONVBP_BPA ? na : nw;
      float *x = convbp_alloc(nx * sizeof(float)), *y = convbp_alloc(ny * sizeof(float));
      float *out = convbp_alloc(nout * sizeof(float));
      if (!x || !y || !out) {
        fprintf(stderr, "convbp_gemm_share: %s: out of memory\n", pt->name);
        convbp_free(x), convbp_free(y), convbp_free(out);
        status = 1;
        continue;
      }
      convbp_fill(x, nx, 1), convbp_fill(y, ny, 2);
      for (int ti = 0; ti < nthreads; ti++) {
        cbp_bind_threads(threads[ti], bind, NULL, 0);
        convbp_prepared *pr;
        int st = convbp_conv_prepare(name, &pt->conv, threads[ti], &pr);
        if (st) {
          printf("%-20s %-22s %3d %s\n", label, name, threads[ti], convbp_strerror(st));
          status = 1;
          continue;
        }
        double best_wall = 1e30, best_gemm = 0, best_max = 0, wall, gemm, gmax;
        convbp_prepared_run(pr, x, y, out); /* warm up */
        for (int rep = 0; rep < 3; rep++) {
          measure(pr, threads[ti], x, y, out, &wall, &gemm, &gmax);
          if (wall < best_wall) best_wall = wall, best_gemm = gemm, best_max = gmax;
        }
        printf("%-20s %-22s %3d %10.3f %10.3f %7.1f%% %7.1f%%\n", label, name, threads[ti],
               best_wall * 1e3, best_gemm * 1e3, 100.0 * (1.0 - best_gemm / best_wall),
               100.0 * (best_max - best_gemm) / best_wall);
        fflush(stdout);
        convbp_prepared_destroy(pr);
      }
      convbp_free(x), convbp_free(y), convbp_free(out);
    }
  }
  cbp_topo_close();
  free(gemm_seconds);
  free(sel);
  free(threads);
  cbp_points_free(&points);
  return status;
usage:
  fprintf(stderr, "convbp_gemm_share: %s\n", err);
  cbp_topo_close();
  free(sel);
  free(threads);
  cbp_points_free(&points);
  return EXIT_USAGE;
}
