/* A small C API over Google Benchmark (after IREE's iree/testing/benchmark.h):
 * an opaque state, keep_running, pause/resume, counters, register, run.
 * Only gbench_shim.cc is C++; everything else in convbp talks to this. */
#ifndef CONVBP_GBENCH_SHIM_H
#define CONVBP_GBENCH_SHIM_H

#ifdef __cplusplus
extern "C" {
#endif

typedef struct cbp_gb_state cbp_gb_state;
typedef void (*cbp_gb_fn)(cbp_gb_state *state, void *arg);

int cbp_gb_keep_running(cbp_gb_state *state);
void cbp_gb_pause(cbp_gb_state *state);
void cbp_gb_resume(cbp_gb_state *state);
void cbp_gb_skip_with_error(cbp_gb_state *state, const char *message);
/* A rate counter: value per iteration, divided by time (e.g. FLOPs -> FLOP/s). */
void cbp_gb_set_rate(cbp_gb_state *state, const char *name, double per_iteration);

typedef struct {
  int repetitions;   /* timed repetitions, each of Google Benchmark's chosen iterations */
  double min_time;   /* seconds each repetition runs at least */
} cbp_gb_options;

/* Registers fn(arg) as a benchmark timed in wall-clock time, with min, max,
   median, mean, stddev and cv over repetitions.  id is returned in reports. */
void cbp_gb_register(const char *name, int id, cbp_gb_fn fn, void *arg,
                     const cbp_gb_options *opts);

/* One finished benchmark: statistics of the per-iteration wall time, seconds. */
typedef struct {
  int id;
  int error;                 /* the benchmark called skip_with_error */
  const char *error_message;
  int repetitions;
  double iterations;         /* per repetition */
  double min_s, max_s, median_s, mean_s, stddev_s, cv;
} cbp_gb_result;
typedef void (*cbp_gb_report_fn)(const cbp_gb_result *result, void *ctx);

/* Google Benchmark's own flag parsing (--benchmark_*), removing what it used. */
void cbp_gb_initialize(int *argc, char **argv);
/* Runs every registered benchmark (randomly interleaved when the flag
   --benchmark_enable_random_interleaving is on), hands each finished one to
   report, then unregisters them all.  Prints nothing.  Returns the count run. */
int cbp_gb_run_collect(cbp_gb_report_fn report, void *ctx);
/* Runs the registered benchmarks with Google Benchmark's own reporters
   (console, --benchmark_format, --benchmark_out), so its tooling applies. */
int cbp_gb_run_default(void);

#ifdef __cplusplus
}
#endif
#endif
