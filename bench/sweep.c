/* convbp sweep: time every selected strategy on every point, threads pinned,
 * one CSV row per (problem, op, strategy, threads, bind).
 *
 * Per point and op: inputs are generated from a seed, the reference runs once,
 * then each strategy runs once into a NaN-filled output and is verified (a
 * failing one gets status=wrong and no time); the verified ones are then timed
 * together by Google Benchmark, randomly interleaved, in wall-clock time.  Rows
 * are written and flushed per point; an interrupted point is dropped whole, so
 * the CSV is always valid and --resume completes it.  Each timed row carries
 * vs_onednn, the best oneDNN variant's median over its own, from the peers timed
 * for the same point (in this run or, with --resume, in the file). */
#define _POSIX_C_SOURCE 200809L
#include <assert.h>
#include <errno.h>
#include <math.h>
#include <omp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "gbench_shim.h"

static volatile sig_atomic_t interrupted;
static void on_signal(int sig) {
  (void)sig;
  interrupted = 1;
}

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec * 1e-9;
}

typedef struct {
  cbp_point_list points;
  int ops[CONVBP_OP_COUNT];
  char *strategies[64]; /* names and patterns, each its own copy; freed by free_opts */
  int nstrategies;
  int *threads, nthreads;
  cbp_bind bind;
  int reps;
  double min_time, budget;
  int cold, resume, force, verify, quiet;
  size_t max_workspace;
  int shard_k, shard_n;
  const char *output;
  uint64_t seed;
  int random; /* --random N: N problems drawn from the seed, made after all options */
  cbp_grid_axis axes[13]; /* one per grid field; freed by free_opts */
  int naxes;
  /* gbench pass-through */
  int gb_argc;
  char **gb_argv;
} sweep_opts;

static int usage_error(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fprintf(stderr, "convbp: ");
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
  return EXIT_USAGE;
}

/* A problem (same canonical descriptor and name) or a thread count given twice,
   by overlapping suites, files, grids or lists, is measured once: two rows with
   one key would make --resume, scripts/merge and best disagree about which
   one counts.  Order is kept; stderr says what was dropped.  O(n^2) over the
   points, which number in the hundreds. */
static void drop_repeats(sweep_opts *o) {
  int kept = 0, dropped = 0;
  for (int i = 0; i < o->points.count; i++) {
    int seen = 0;
    for (int j = 0; j < kept && !seen; j++) seen = !strcmp(o->points.items[j].desc, o->points.items[i].desc);
    if (seen) dropped++;
    else o->points.items[kept++] = o->points.items[i];
  }
  o->points.count = kept;
  if (dropped) fprintf(stderr, "convbp: %d repeated problem(s) will be measured once\n", dropped);
  kept = dropped = 0;
  for (int i = 0; i < o->nthreads; i++) {
    int seen = 0;
    for (int j = 0; j < kept && !seen; j++) seen = o->threads[j] == o->threads[i];
    if (seen) dropped++;
    else o->threads[kept++] = o->threads[i];
  }
  o->nthreads = kept;
  if (dropped) fprintf(stderr, "convbp: %d repeated thread count(s) will be measured once\n", dropped);
}

static int strategy_selected(const sweep_opts *o, const char *name) {
  for (int i = 0; i < o->nstrategies; i++)
    if (cbp_strategy_matches(o->strategies[i], name)) return 1;
  return 0;
}

/* Whether some point, selected op and selected strategy meet: a selection that
   names none (--op bpa on MMA problems, --op bpa --strategy 'bpw_*') would
   otherwise end in exit 0 and an empty CSV, as if all had run. */
static int selection_meets(const sweep_opts *o) {
  for (int s = 0; s < convbp_strategy_count(); s++) {
    const convbp_op op = convbp_strategy_op(s);
    if (!o->ops[op] || !strategy_selected(o, convbp_strategy_name(s))) continue;
    for (int p = 0; p < o->points.count; p++)
      if (o->points.items[p].is_mma == convbp_op_is_mma(op)) return 1;
  }
  return 0;
}

static const char *const grid_fields[] = {"mb", "ic", "oc", "ih", "iw", "kh", "kw",
                                          "sh", "sw", "ph", "pw", "dh", "dw"};

/* Parses the options shared by sweep, gbench and run. */
static int parse_opts(int argc, char **argv, sweep_opts *o, int allow_gbench_flags) {
  memset(o, 0, sizeof *o);
  o->bind = CBP_BIND_COMPACT;
  o->reps = 5;
  o->min_time = 0.05;
  o->budget = 120;
  o->verify = 1;
  o->max_workspace = (size_t)8 << 30;
  o->shard_n = 1;
  o->shard_k = 1;
  o->output = "results/sweep.csv";
  o->seed = 1;
  o->gb_argv = calloc((size_t)argc + 4, sizeof *o->gb_argv);
  if (!o->gb_argv) return usage_error("out of memory for the options");
  o->gb_argv[o->gb_argc++] = "convbp";
  int ops_given = 0;
  char err[512];
  for (int i = 0; i < argc; i++) {
    const char *a = argv[i];
    const char *v = i + 1 < argc ? argv[i + 1] : NULL;
#define NEED_VALUE() \
  do {               \
    if (!v) return usage_error("option '%s' needs a value", a); \
    i++;             \
  } while (0)
    if (!strncmp(a, "--benchmark_", 12)) {
      if (!allow_gbench_flags) return usage_error("'%s' belongs to 'convbp gbench'", a);
      o->gb_argv[o->gb_argc++] = argv[i];
    } else if (!strcmp(a, "--problem")) {
      NEED_VALUE();
      cbp_point pt;
      if (cbp_point_parse(v, &pt, err, sizeof err)) return usage_error("--problem: %s", err);
      if (cbp_points_add(&o->points, &pt)) return usage_error("--problem: out of memory");
    } else if (!strcmp(a, "--problems")) {
      NEED_VALUE();
      if (cbp_points_load_file(&o->points, v, err, sizeof err)) return usage_error("%s", err);
    } else if (!strcmp(a, "--random")) {
      NEED_VALUE();
      int *vals = NULL, n = 0;
      if (cbp_parse_int_list(v, 1, &vals, &n, err, sizeof err) || n != 1 || vals[0] > 100000) {
        free(vals);
        return usage_error("--random: needs one whole number of problems, 1 to 100000, got '%s'",
                           v);
      }
      o->random = vals[0];
      free(vals);
    } else if (!strcmp(a, "--suite")) {
      NEED_VALUE();
      if (cbp_points_load_suite(&o->points, v, err, sizeof err)) return usage_error("--suite: %s", err);
    } else if (!strcmp(a, "--op")) {
      NEED_VALUE();
      ops_given = 1;
      char *copy = strdup(v); /* whole, however long: a cut-short list would drop ops */
      if (!copy) return usage_error("--op: out of memory");
      for (char *t = strtok(copy, ","); t; t = strtok(NULL, ",")) {
        convbp_op op;
        if (convbp_op_parse(t, &op)) {
          int rc = usage_error("--op: unknown op '%s' (fwd, bpa, bpw, mma_bpa, mma_bpw)", t);
          free(copy);
          return rc;
        }
        o->ops[op] = 1;
      }
      free(copy);
    } else if (!strcmp(a, "--strategy")) {
      NEED_VALUE();
      char *copy = strdup(v); /* strtok cuts it up; each name is copied out */
      if (!copy) return usage_error("--strategy: out of memory");
      int bad = 0;
      for (char *t = strtok(copy, ","); t && !bad; t = strtok(NULL, ",")) {
        const int max = (int)(sizeof o->strategies / sizeof o->strategies[0]);
        int known = 0;
        for (int s = 0; s < convbp_strategy_count() && !known; s++)
          known = cbp_strategy_matches(t, convbp_strategy_name(s));
        if (o->nstrategies == max)
          bad = usage_error("--strategy: more than %d names or patterns; use a pattern ('bpa_*')", max);
        else if (!known)
          bad = usage_error("--strategy: no strategy matches '%s' (see 'convbp list')", t);
        else if (!(o->strategies[o->nstrategies] = strdup(t)))
          bad = usage_error("--strategy: out of memory");
        else
          o->nstrategies++;
      }
      free(copy);
      if (bad) return bad;
    } else if (!strcmp(a, "--threads")) {
      NEED_VALUE();
      cbp_machine m;
      cbp_machine_read(&m);
      free(o->threads); /* the last --threads wins, as for every other option */
      o->threads = NULL;
      o->nthreads = 0;
      if (!strcmp(v, "all")) {
        o->threads = malloc((size_t)m.cores * sizeof(int));
        if (!o->threads) return usage_error("--threads: out of memory");
        o->nthreads = m.cores;
        for (int t = 0; t < m.cores; t++) o->threads[t] = t + 1;
      } else if (cbp_parse_int_list(v, 1, &o->threads, &o->nthreads, err, sizeof err)) {
        return usage_error("--threads: %s", err);
      }
      const int limit = omp_get_thread_limit(); /* "all" stops there */
      if (!strcmp(v, "all") && o->nthreads > limit) o->nthreads = limit;
      if (cbp_threads_fit(o->threads, o->nthreads, err, sizeof err))
        return usage_error("--threads: %s", err);
    } else if (!strcmp(a, "--bind")) {
      NEED_VALUE();
      if (cbp_bind_parse(v, &o->bind)) return usage_error("--bind: '%s' is not compact, scatter or none", v);
    } else if (!strcmp(a, "--reps")) {
      NEED_VALUE();
      int *vals, n;
      if (cbp_parse_int_list(v, 1, &vals, &n, err, sizeof err) || n != 1)
        return usage_error("--reps: needs one whole number >= 1, got '%s'", v);
      o->reps = vals[0];
      free(vals);
    } else if (!strcmp(a, "--min-time") || !strcmp(a, "--budget")) {
      NEED_VALUE();
      char *end;
      double d = strtod(v, &end);
      if (*end || !(d > 0) || d > 1e6) return usage_error("%s: needs a number of seconds > 0, got '%s'", a, v);
      if (a[2] == 'm') o->min_time = d;
      else o->budget = d;
    } else if (!strcmp(a, "--max-workspace")) {
      NEED_VALUE();
      char *end;
      errno = 0;
      unsigned long long b = strtoull(v, &end, 10);
      if (*end || errno || v[0] == '-' || !v[0]) return usage_error("--max-workspace: needs a byte count, got '%s'", v);
      o->max_workspace = (size_t)b;
    } else if (!strcmp(a, "--shard")) {
      NEED_VALUE();
      int k, n, used;
      if (sscanf(v, "%d/%d%n", &k, &n, &used) != 2 || v[used] || n < 1 || k < 1 || k > n)
        return usage_error("--shard: needs K/N with 1 <= K <= N, got '%s'", v);
      o->shard_k = k, o->shard_n = n;
    } else if (!strcmp(a, "--output") || !strcmp(a, "-o")) {
      NEED_VALUE();
      o->output = v;
    } else if (!strcmp(a, "--seed")) {
      NEED_VALUE();
      char *end;
      errno = 0;
      o->seed = strtoull(v, &end, 10);
      if (*end || errno || !v[0] || v[0] == '-') return usage_error("--seed: needs a whole number >= 0, got '%s'", v);
    } else if (!strcmp(a, "--cold")) {
      o->cold = 1;
    } else if (!strcmp(a, "--resume")) {
      o->resume = 1;
    } else if (!strcmp(a, "--force")) {
      o->force = 1;
    } else if (!strcmp(a, "--no-verify")) {
      o->verify = 0;
    } else if (!strcmp(a, "--quiet")) {
      o->quiet = 1;
    } else if (a[0] == '-' && a[1] == '-') {
      int is_axis = 0;
      for (size_t f = 0; f < sizeof grid_fields / sizeof grid_fields[0]; f++) {
        if (strcmp(a + 2, grid_fields[f])) continue;
        NEED_VALUE();
        is_axis = 1;
        /* One axis per field: a second one would silently win over the first
           (both set the same field), so the user is asked for one list. */
        for (int x = 0; x < o->naxes; x++)
          if (o->axes[x].field == grid_fields[f])
            return usage_error("'%s' given twice; give all its values in one list (%s 1,8)", a, a);
        cbp_grid_axis *axis = &o->axes[o->naxes];
        axis->field = grid_fields[f];
        int min = (a[3] == 'h' || a[3] == 'w') && (a[2] == 'p' || a[2] == 'd') ? 0 : 1;
        if (cbp_parse_int_list(v, min, &axis->values, &axis->count, err, sizeof err))
          return usage_error("%s: %s", a, err);
        o->naxes++;
      }
      if (!is_axis) return usage_error("unknown option '%s' (see 'convbp help')", a);
    } else {
      return usage_error("unexpected argument '%s'", a);
    }
#undef NEED_VALUE
  }
  /* after the loop: --seed may come after --random */
  if (o->random && cbp_points_random(&o->points, o->random, o->seed, err, sizeof err))
    return usage_error("--random: %s", err);
  if (o->naxes && o->points.count == 0) {
    cbp_point base;
    cbp_point_parse("mb1ic16ih14oc16kh3ph1n\"grid\"", &base, err, sizeof err);
    if (cbp_points_add(&o->points, &base)) return usage_error("grid: out of memory");
  }
  if (cbp_grid_expand(&o->points, o->axes, o->naxes, err, sizeof err)) return usage_error("%s", err);
  if (o->points.count == 0)
    return usage_error("no problems: give --problem, --problems, --suite, --random or a grid");
  if (!ops_given)
    for (int op = 0; op < CONVBP_OP_COUNT; op++) o->ops[op] = 1;
  if (!o->nstrategies) {
    if (!(o->strategies[0] = strdup("all"))) return usage_error("out of memory for the options");
    o->nstrategies = 1;
  }
  if (!o->nthreads) {
    o->threads = malloc(sizeof(int));
    if (!o->threads) return usage_error("out of memory for the options");
    o->threads[0] = 1;
    o->nthreads = 1;
  }
  drop_repeats(o);
  if (!selection_meets(o)) {
    char ops[96] = "", names[160] = "";
    for (int op = 0; op < CONVBP_OP_COUNT; op++)
      if (o->ops[op]) snprintf(ops + strlen(ops), sizeof ops - strlen(ops), "%s%s", *ops ? "," : "", convbp_op_name((convbp_op)op));
    for (int i = 0; i < o->nstrategies; i++)
      snprintf(names + strlen(names), sizeof names - strlen(names), "%s%s", i ? "," : "", o->strategies[i]);
    int nmma = 0;
    for (int p = 0; p < o->points.count; p++) nmma += o->points.items[p].is_mma;
    return usage_error("nothing to run: no strategy of --strategy %s does an op of --op %s on the "
                       "%d conv and %d mma problem(s) given (conv: fwd, bpa, bpw; mma: mma_bpa, mma_bpw)",
                       names, ops, o->points.count - nmma, nmma);
  }
  return 0;
}

static void free_opts(sweep_opts *o) {
  cbp_points_free(&o->points);
  for (int a = 0; a < o->naxes; a++) free(o->axes[a].values);
  for (int i = 0; i < o->nstrategies; i++) free(o->strategies[i]);
  free(o->threads);
  free(o->gb_argv);
}

/* ---- One point: buffers, verification, timing ---------------------------- */

typedef struct {
  const char *strategy;
  const cbp_point *pt;
  int threads;
  const float *x, *y;
  float *out;
  convbp_prepared *pr; /* workspace allocated and set-up done, outside the timed region */
  double flops;
  float *flush; /* --cold: a buffer larger than the caches, rewritten between iterations */
  size_t flush_len;
  /* results */
  const char *status, *reason;
  char reason_buf[160];
  size_t ws_bytes;
  convbp_check check;
  double first_call_s;
  cbp_gb_result timing;
  int timed;
} bench_case;

static int run_case(const bench_case *c) { return convbp_prepared_run(c->pr, c->x, c->y, c->out); }

static int prepare_case(bench_case *c) {
  return c->pt->is_mma ? convbp_mma_prepare(c->strategy, &c->pt->mma, c->threads, &c->pr)
                       : convbp_conv_prepare(c->strategy, &c->pt->conv, c->threads, &c->pr);
}

/* Whether the case can be timed: its strategy takes the shape, its workspace is
   known and within --max-workspace, and its set-up succeeded.  0 when ready;
   else -1 with c->status ("unsupported", "error", "skipped") and c->reason,
   which sweep writes as the row and gbench as a line on stderr. */
static int admit_case(bench_case *c, const sweep_opts *o) {
  const cbp_point *pt = c->pt;
  const char *why = NULL;
  int st = pt->is_mma ? convbp_mma_supports(c->strategy, &pt->mma, &why)
                      : convbp_conv_supports(c->strategy, &pt->conv, &why);
  if (st == CONVBP_ERR_UNSUPPORTED) {
    c->status = "unsupported";
    c->reason = why ? why : convbp_strerror(st);
    return -1;
  }
  st = st ? st : pt->is_mma ? convbp_mma_workspace(c->strategy, &pt->mma, c->threads, &c->ws_bytes)
                            : convbp_conv_workspace(c->strategy, &pt->conv, c->threads, &c->ws_bytes);
  if (st) {
    c->status = "error";
    c->reason = convbp_strerror(st);
    return -1;
  }
  if (c->ws_bytes > o->max_workspace) {
    c->status = "skipped";
    snprintf(c->reason_buf, sizeof c->reason_buf, "workspace %zu bytes over --max-workspace %zu",
             c->ws_bytes, o->max_workspace);
    c->reason = c->reason_buf;
    return -1;
  }
  if ((st = prepare_case(c))) {
    c->status = st == CONVBP_ERR_UNSUPPORTED ? "unsupported" : "error";
    c->reason = convbp_strerror(st);
    return -1;
  }
  return 0;
}

static void bench_fn(cbp_gb_state *st, void *arg) {
  bench_case *c = arg;
  while (cbp_gb_keep_running(st)) {
    if (interrupted) {
      cbp_gb_skip_with_error(st, "interrupted");
      break;
    }
    if (c->flush) {
      cbp_gb_pause(st);
      for (size_t i = 0; i < c->flush_len; i += 16) c->flush[i] += 1.0f;
      cbp_gb_resume(st);
    }
    int rc = run_case(c);
    if (rc) {
      cbp_gb_skip_with_error(st, convbp_strerror(rc));
      break;
    }
  }
  cbp_gb_set_rate(st, "FLOP/s", c->flops);
}

static void collect(const cbp_gb_result *r, void *ctx) {
  bench_case *cases = ctx;
  cases[r->id].timing = *r;
  cases[r->id].timed = !r->error;
  if (r->error) {
    cases[r->id].status = "error";
    snprintf(cases[r->id].reason_buf, sizeof cases[r->id].reason_buf, "%s", r->error_message);
    cases[r->id].reason = cases[r->id].reason_buf;
  }
}

typedef struct {
  FILE *f;
  const char *bind;
  double peak[256]; /* measured peak GFLOP/s by thread count */
} csv_out;

static void fmt_g(char *buf, size_t len, double v) { snprintf(buf, len, "%.6g", v); }

/* peer_s: the best oneDNN median of the point in seconds, 0 when none was timed */
static int write_row(csv_out *out, const bench_case *c, const char *cpusets, int reps,
                     double peer_s) {
  const cbp_point *pt = c->pt;
  char f[48][64]; /* room for the schema's 40 columns and a few added later */
  const char *cells[48];
  int n = 0;
#define CELL_S(s) (cells[n] = (s), n++)
#define CELL_I(v) (snprintf(f[n], 64, "%d", (int)(v)), cells[n] = f[n], n++)
#define CELL_G(v) (fmt_g(f[n], 64, (v)), cells[n] = f[n], n++)
#define CELL_E() (cells[n] = "", n++)
  int P = 0, Q = 0;
  CELL_S(pt->desc);
  CELL_S(pt->name);
  int idx = convbp_strategy_find(c->strategy);
  convbp_op op = convbp_strategy_op(idx);
  CELL_S(convbp_op_name(op));
  CELL_S(c->strategy);
  CELL_I(c->threads);
  CELL_S(out->bind);
  if (pt->is_mma) {
    CELL_I(pt->mma.n);
    CELL_E(); CELL_E(); CELL_E();
    CELL_I(pt->mma.k);
    for (int i = 0; i < 10; i++) CELL_E();
    CELL_I(pt->mma.m);
  } else {
    const convbp_conv *p = &pt->conv;
    convbp_conv_out_dims(p, &P, &Q);
    CELL_I(p->n); CELL_I(p->c); CELL_I(p->h); CELL_I(p->w); CELL_I(p->k); CELL_I(p->r); CELL_I(p->s);
    CELL_I(p->pad_h); CELL_I(p->pad_w); CELL_I(p->stride_h); CELL_I(p->stride_w);
    CELL_I(p->dil_h); CELL_I(p->dil_w); CELL_I(P); CELL_I(Q);
    CELL_E();
  }
  CELL_S(cpusets);
  double flops = c->flops;
  double flops_nopad = pt->is_mma ? flops : convbp_conv_flops_nopad(&pt->conv);
  if (c->timed) {
    const cbp_gb_result *t = &c->timing;
    CELL_I(t->repetitions);
    CELL_G(t->iterations);
    CELL_G(t->min_s * 1e3); CELL_G(t->median_s * 1e3); CELL_G(t->mean_s * 1e3);
    CELL_G(t->max_s * 1e3); CELL_G(t->stddev_s * 1e3); CELL_G(t->cv);
    if (t->median_s > 0) {
      double gf = flops / t->median_s * 1e-9;
      CELL_G(gf);
      CELL_G(flops_nopad / t->median_s * 1e-9);
      double peak = c->threads < 256 ? out->peak[c->threads] : 0;
      if (peak > 0) CELL_G(100.0 * gf / peak); else CELL_E();
    } else {
      CELL_E(); CELL_E(); CELL_E();
    }
  } else {
    CELL_I(reps);
    for (int i = 0; i < 10; i++) CELL_E();
  }
  CELL_G((double)c->ws_bytes);
  if (c->check.passed || !strcmp(c->status, "wrong")) {
    CELL_G(c->check.max_rel_err);
    CELL_G(c->check.max_err_ratio);
  } else {
    CELL_E(); CELL_E();
  }
  CELL_S(c->status);
  CELL_S(c->reason ? c->reason : "");
  /* above 1: faster than the best oneDNN variant */
  if (c->timed && c->timing.median_s > 0 && peer_s > 0) CELL_G(peer_s / c->timing.median_s);
  else CELL_E();
#undef CELL_S
#undef CELL_I
#undef CELL_G
#undef CELL_E
  assert(n == cbp_csv_column_count()); /* a row has the header's columns, in its order */
  for (int i = 0; i < n; i++) cbp_csv_write_field(out->f, cells[i], i == n - 1);
  return fflush(out->f) || ferror(out->f) ? -1 : 0;
}

/* Rows already in the output (for --resume): their keys "problem|op|strategy|threads|bind",
   and the medians of the peers timed there, by point "problem|op|threads|bind". */
typedef struct {
  char **keys;
  int count;
  char **peer_points;
  double *peer_s;
  int npeers;
} key_set;

static void free_key_set(key_set *k) {
  for (int i = 0; i < k->count; i++) free(k->keys[i]);
  for (int i = 0; i < k->npeers; i++) free(k->peer_points[i]);
  free(k->keys), free(k->peer_points), free(k->peer_s);
}

static void point_key_of(char *buf, size_t len, const char *problem, const char *op, int threads,
                         const char *bind) {
  snprintf(buf, len, "%s|%s|%d|%s", problem, op, threads, bind);
}

/* The fastest peer median (s) that the file holds for a point, or 0. */
static double done_peer_s(const key_set *k, const char *point) {
  double best = 0;
  for (int i = 0; i < k->npeers; i++)
    if (!strcmp(k->peer_points[i], point) && (best == 0 || k->peer_s[i] < best)) best = k->peer_s[i];
  return best;
}

static void key_of(char *buf, size_t len, const char *problem, const char *op, const char *strategy,
                   int threads, const char *bind) {
  snprintf(buf, len, "%s|%s|%s|%d|%s", problem, op, strategy, threads, bind);
}

static int key_present(const key_set *k, const char *key) {
  for (int i = 0; i < k->count; i++)
    if (!strcmp(k->keys[i], key)) return 1;
  return 0;
}

static size_t phys_memory(void) {
  long pages = sysconf(_SC_PHYS_PAGES), size = sysconf(_SC_PAGE_SIZE);
  return pages > 0 && size > 0 ? (size_t)pages * (size_t)size : SIZE_MAX;
}

/* Runs one (point, op, threads).  Returns 0, or -1 when a row could not be written. */
static int run_point(const sweep_opts *o, const cbp_point *pt, convbp_op op, int threads,
                     csv_out *out, const key_set *done, int *wrong_count) {
  bench_case cases[64];
  int ncases = 0;
  for (int s = 0; s < convbp_strategy_count() && ncases < 64; s++) {
    if (convbp_strategy_op(s) != op || !strategy_selected(o, convbp_strategy_name(s))) continue;
    char key[512];
    key_of(key, sizeof key, pt->desc, convbp_op_name(op), convbp_strategy_name(s), threads, out->bind);
    if (key_present(done, key)) continue;
    bench_case *c = &cases[ncases++];
    memset(c, 0, sizeof *c);
    c->strategy = convbp_strategy_name(s);
    c->pt = pt;
    c->threads = threads;
    c->status = "ok";
  }
  if (!ncases) return 0;
  size_t nx, ny, nout;
  int st = pt->is_mma ? convbp_mma_op_sizes(op, &pt->mma, &nx, &ny, &nout)
                      : convbp_conv_op_sizes(op, &pt->conv, &nx, &ny, &nout);
  double flops = pt->is_mma ? convbp_mma_flops(&pt->mma) : convbp_conv_flops(&pt->conv);
  /* Inputs, output and the double reference must fit in memory. */
  double need = st ? 0 : ((double)nx + ny + nout) * sizeof(float) + (o->verify ? 2.0 * nout * sizeof(double) : 0);
  const char *point_skip = NULL;
  char point_reason[160];
  if (st) {
    snprintf(point_reason, sizeof point_reason, "%s", convbp_strerror(st));
    point_skip = point_reason;
  } else if (need > 0.8 * (double)phys_memory()) {
    snprintf(point_reason, sizeof point_reason, "tensors need %.3g GB, more than 80%% of this machine's memory", need * 1e-9);
    point_skip = point_reason;
  }
  float *x = NULL, *y = NULL, *res = NULL;
  double *ref = NULL, *abs_ref = NULL;
  char cpusets[256] = "";
  if (!point_skip) {
    x = convbp_alloc(nx * sizeof *x);
    y = convbp_alloc(ny * sizeof *y);
    res = convbp_alloc(nout * sizeof *res);
    if (o->verify) {
      ref = malloc(nout * sizeof *ref);
      abs_ref = malloc(nout * sizeof *abs_ref);
    }
    if (!x || !y || !res || (o->verify && (!ref || !abs_ref))) point_skip = "out of memory for the tensors";
  }
  if (!point_skip) {
    convbp_fill(x, nx, o->seed);
    convbp_fill(y, ny, o->seed + 1);
    if (o->verify) {
      if (pt->is_mma) convbp_mma_reference(op, &pt->mma, x, y, ref, abs_ref);
      else convbp_conv_reference(op, &pt->conv, x, y, ref, abs_ref);
    }
    if (cbp_bind_threads(threads, o->bind, cpusets, sizeof cpusets))
      snprintf(cpusets, sizeof cpusets, "unbound");
  }
  double n_red = pt->is_mma ? convbp_mma_reduction_length(op, &pt->mma)
                            : convbp_conv_reduction_length(op, &pt->conv);
  float *flush = NULL;
  size_t flush_len = 0;
  if (o->cold && !point_skip) {
    flush_len = (size_t)64 << 20; /* 256 MiB of floats: past this machine's L3 */
    flush = calloc(flush_len, sizeof *flush);
    if (!flush) flush_len = 0;
  }
  int timed = 0;
  for (int i = 0; i < ncases; i++) {
    /* A signal drops this point whole: no verification run is worth waiting
       for (the direct loops take 0.6 s each on the stem). */
    if (interrupted) break;
    bench_case *c = &cases[i];
    c->x = x, c->y = y, c->out = res, c->flops = flops;
    c->flush = flush, c->flush_len = flush_len;
    if (point_skip) {
      c->status = "skipped";
      c->reason = point_skip;
      continue;
    }
    if (admit_case(c, o)) continue;
    /* The verification run doubles as warm-up and as the time estimate. */
    for (size_t e = 0; e < nout; e++) res[e] = NAN;
    double t0 = now_s();
    st = run_case(c);
    c->first_call_s = now_s() - t0;
    if (st) {
      c->status = "error";
      c->reason = convbp_strerror(st);
      continue;
    }
    if (o->verify) {
      convbp_compare(res, ref, abs_ref, nout, n_red, &c->check);
      if (!c->check.passed) {
        c->status = "wrong";
        snprintf(c->reason_buf, sizeof c->reason_buf,
                 "%zu elements outside the bound, worst %.3g x bound at #%zu", c->check.bad_count,
                 c->check.max_err_ratio, c->check.worst_index);
        c->reason = c->reason_buf;
        ++*wrong_count;
        /* the seed too when not the default: the rerun must see the same inputs */
        char seed[48] = "";
        if (o->seed != 1) snprintf(seed, sizeof seed, " --seed %llu", (unsigned long long)o->seed);
        fprintf(stderr, "convbp: WRONG %s on %s (%s, %d threads): %s\n  rerun: convbp run --op %s --strategy %s --threads %d%s --problem '%s'\n",
                c->strategy, pt->desc, convbp_op_name(op), threads, c->reason, convbp_op_name(op),
                c->strategy, threads, seed, pt->desc);
        continue;
      }
    } else {
      c->check.passed = 1;
    }
    double estimate = o->reps * (o->min_time > c->first_call_s ? o->min_time : 2 * c->first_call_s);
    if (estimate > o->budget) {
      c->status = "skipped";
      snprintf(c->reason_buf, sizeof c->reason_buf, "estimated %.3g s over the --budget of %.3g s", estimate, o->budget);
      c->reason = c->reason_buf;
      continue;
    }
    char name[400];
    snprintf(name, sizeof name, "%s/%s/%s/threads:%d", convbp_op_name(op), c->strategy, pt->desc, threads);
    cbp_gb_options gopt = {o->reps, o->min_time};
    cbp_gb_register(name, i, bench_fn, c, &gopt);
    timed++;
  }
  if (timed) cbp_gb_run_collect(collect, cases);
  char point[512];
  point_key_of(point, sizeof point, pt->desc, convbp_op_name(op), threads, out->bind);
  double peer_s = done_peer_s(done, point);
  for (int i = 0; i < ncases; i++)
    if (cases[i].timed && cbp_is_peer(cases[i].strategy) && cases[i].timing.median_s > 0 &&
        (peer_s == 0 || cases[i].timing.median_s < peer_s))
      peer_s = cases[i].timing.median_s;
  int rc = 0;
  if (!interrupted)
    for (int i = 0; i < ncases && !rc; i++) rc = write_row(out, &cases[i], cpusets, o->reps, peer_s);
  for (int i = 0; i < ncases; i++) convbp_prepared_destroy(cases[i].pr);
  convbp_free(x), convbp_free(y), convbp_free(res);
  free(ref), free(abs_ref), free(flush);
  return rc;
}

static int file_has_data(const char *path) {
  struct stat sb;
  return stat(path, &sb) == 0 && sb.st_size > 0;
}

/* A CSV that mixes rows of two machines would let `best` rank times that were
   never comparable, so --resume refuses a file whose sidecar names another CPU,
   core or PU count.  0 when the machines agree or the sidecar is missing. */
static int sidecar_same_machine(const char *text, const cbp_machine *m, char *err, size_t len) {
  char cores[16], pus[16];
  snprintf(cores, sizeof cores, "%d", m->cores);
  snprintf(pus, sizeof pus, "%d", m->pus);
  const struct {
    const char *key, *here;
  } facts[] = {{"cpu", m->cpu}, {"cores", cores}, {"pus", pus}};
  for (size_t i = 0; i < sizeof facts / sizeof facts[0]; i++) {
    char there[256];
    if (cbp_sidecar_get(text, facts[i].key, there, sizeof there) && strcmp(there, facts[i].here)) {
      snprintf(err, len, "was measured on another machine (%s=%s there, %s here)", facts[i].key, there,
               facts[i].here);
      return -1;
    }
  }
  return 0;
}

/* What this run measured for a thread count, and so writes to the sidecar. */
enum { PEAK_KNOWN, PEAK_AND_BANDWIDTH, PEAK_ONLY };

/* One more peak measurement, half a second after the last (cbp_peak_retry). */
static double remeasure_peak(int threads, void *ctx) {
  (void)ctx;
  const struct timespec half = {0, 500000000L};
  nanosleep(&half, NULL);
  return cbp_measure_peak(threads, 0.1);
}

/* Writes the sidecar through a temporary file renamed over it.  A resumed sweep
   keeps the lines already there (the rows already written were measured
   against those peaks) and adds what is missing: the caches of an older
   sidecar, the peak and bandwidth of a new thread count, and the revision,
   overrides (CONVBP_ISA, ...) and thread floor that resumed it when those
   differ. */
static int sidecar_write(const char *path, const cbp_machine *m, const char *old,
                         const sweep_opts *o, const double *peak, const double *bandwidth,
                         const char *measured) {
  char tmp[CBP_SIDECAR_PATH_MAX + 32]; /* per process: two sweeps must not share it */
  snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
  FILE *f = fopen(tmp, "w");
  if (!f) return -1;
  /* the floor below which the blocked strategies ran on fewer threads than
     a row's thread count (convbp_thread_flops: measured per process, so only
     when a row has more than one thread to spare it) */
  int many = 0;
  for (int t = 0; t < o->nthreads; t++) many |= o->threads[t] > 1;
  char floor_text[32] = "none";
  if (many) snprintf(floor_text, sizeof floor_text, "%.0f", convbp_thread_flops());
  if (old) {
    const size_t len = strlen(old);
    fwrite(old, 1, len, f);
    if (old[len - 1] != '\n') fputc('\n', f);
    char last[sizeof m->overrides]; /* the longest value compared below */
    if (!cbp_sidecar_get(old, "caches", last, sizeof last)) fprintf(f, "caches=%s\n", m->caches);
    const struct {
      const char *key, *resumed, *here;
    } changes[] = {{"revision", "resumed_revision", m->revision},
                   {"overrides", "resumed_overrides", m->overrides},
                   {"thread_flops", "resumed_thread_flops", floor_text},
                   {"kernels_8ch", "resumed_kernels_8ch", convbp_kernels(8)}};
    for (size_t i = 0; i < sizeof changes / sizeof changes[0]; i++) {
      const int known = cbp_sidecar_get(old, changes[i].resumed, last, sizeof last) ||
                        cbp_sidecar_get(old, changes[i].key, last, sizeof last);
      if (strcmp(known ? last : "none", changes[i].here))
        fprintf(f, "%s=%s\n", changes[i].resumed, changes[i].here);
    }
  } else {
    cbp_machine_write(m, f);
    fprintf(f, "thread_flops=%s\n", floor_text);
    /* the blocked strategies' kernels for outputs of 8 channels (convbp_kernels) */
    fprintf(f, "kernels_8ch=%s\n", convbp_kernels(8));
  }
  for (int t = 0; t < o->nthreads; t++) {
    const int n = o->threads[t];
    if (n >= 256 || measured[n] != PEAK_AND_BANDWIDTH) continue;
    fprintf(f, "peak_gflops_%dt=%.1f\nbandwidth_gbs_%dt=%.1f\n", n, peak[n], n, bandwidth[n]);
  }
  /* one thread's peak, measured only to check the others' (see cbp_cmd_sweep) */
  if (measured[1] == PEAK_ONLY) fprintf(f, "peak_gflops_1t=%.1f\n", peak[1]);
  int failed = ferror(f);
  failed |= fclose(f) != 0;
  if (failed || rename(tmp, path)) {
    int e = errno;
    remove(tmp);
    errno = e ? e : EIO;
    return -1;
  }
  return 0;
}

int cbp_cmd_sweep(int argc, char **argv) {
  sweep_opts o;
  int rc = parse_opts(argc, argv, &o, 0);
  if (rc) {
    free_opts(&o);
    return rc;
  }
  /* how often a short peak is measured again (see below); 0 in the tests,
     whose sweeps share the CPUs with other tests */
  int peak_retries = 3;
  const char *retries_env = getenv("CONVBP_PEAK_RETRIES");
  if (retries_env && *retries_env) {
    char *end;
    const long v = strtol(retries_env, &end, 10);
    if (*end || v < 0 || v > 20) {
      free_opts(&o);
      return usage_error("CONVBP_PEAK_RETRIES must be a whole number from 0 to 20, got '%.40s'",
                         retries_env);
    }
    peak_retries = (int)v;
  }
  key_set done = {0};
  cbp_machine m;
  cbp_machine_read(&m);
  char side[CBP_SIDECAR_PATH_MAX];
  if (cbp_sidecar_path(o.output, side, sizeof side)) {
    free_opts(&o);
    return usage_error("--output: path too long (its sidecar needs at most %d characters)",
                       CBP_SIDECAR_PATH_MAX - 1);
  }
  struct stat out_sb;
  if (stat(o.output, &out_sb) == 0 && S_ISDIR(out_sb.st_mode)) {
    free_opts(&o);
    return usage_error("--output: '%s' is a directory; name a CSV file", o.output);
  }
  char *old_side = NULL; /* the sidecar a resumed sweep keeps */
  if (o.resume && file_has_data(o.output)) {
    cbp_csv old;
    char err[512];
    if (cbp_csv_read(o.output, &old, err, sizeof err) ||
        cbp_csv_check_appendable(&old, o.output, err, sizeof err)) {
      cbp_csv_free(&old);
      free_opts(&o);
      return usage_error("--resume: %s", err);
    }
    if (cbp_sidecar_load(side, &old_side)) { /* NULL: none to keep, this run writes a new one */
      const int e = errno;
      cbp_csv_free(&old);
      free_opts(&o);
      return usage_error("--resume: cannot read the sidecar '%s': %s", side, strerror(e));
    }
    if (old_side && sidecar_same_machine(old_side, &m, err, sizeof err)) {
      cbp_csv_free(&old);
      free(old_side);
      free_opts(&o);
      return usage_error("--resume: '%s' %s; finish it there or start a new file", o.output, err);
    }
    done.keys = malloc(((size_t)old.nrows + 1) * sizeof *done.keys);
    done.peer_points = malloc(((size_t)old.nrows + 1) * sizeof *done.peer_points);
    done.peer_s = malloc(((size_t)old.nrows + 1) * sizeof *done.peer_s);
    int oom = !done.keys || !done.peer_points || !done.peer_s;
    for (int r = 0; r < old.nrows && !oom; r++) {
      char key[512];
      const char *problem = cbp_csv_get(&old, r, "problem"), *op = cbp_csv_get(&old, r, "op");
      const char *strategy = cbp_csv_get(&old, r, "strategy"), *bind = cbp_csv_get(&old, r, "bind");
      const int threads = atoi(cbp_csv_get(&old, r, "threads"));
      key_of(key, sizeof key, problem, op, strategy, threads, bind);
      if (!(done.keys[done.count] = strdup(key))) {
        oom = 1;
        break;
      }
      done.count++;
      const double ms = atof(cbp_csv_get(&old, r, "time_median_ms"));
      if (cbp_is_peer(strategy) && !strcmp(cbp_csv_get(&old, r, "status"), "ok") && ms > 0) {
        point_key_of(key, sizeof key, problem, op, threads, bind);
        if (!(done.peer_points[done.npeers] = strdup(key))) {
          oom = 1;
          break;
        }
        done.peer_s[done.npeers++] = ms * 1e-3;
      }
    }
    cbp_csv_free(&old);
    if (oom) {
      free_key_set(&done);
      free(old_side);
      free_opts(&o);
      return usage_error("--resume: out of memory reading '%s'", o.output);
    }
  } else if (!o.resume && !o.force && file_has_data(o.output)) {
    free_opts(&o);
    return usage_error("output '%s' exists; --resume completes it, --force overwrites it", o.output);
  }
  csv_out out = {0};
  out.bind = cbp_bind_name(o.bind);
  int appending = o.resume && file_has_data(o.output);
  out.f = fopen(o.output, appending ? "a" : "w");
  if (!out.f) {
    fprintf(stderr, "convbp: cannot write '%s': %s\n", o.output, strerror(errno));
    free_key_set(&done);
    free(old_side);
    free_opts(&o);
    return EXIT_OUTPUT;
  }
  if (!appending) {
    cbp_csv_write_header(out.f);
    if (fflush(out.f) || ferror(out.f)) {
      fprintf(stderr, "convbp: cannot write '%s': %s\n", o.output, strerror(errno));
      fclose(out.f);
      free_key_set(&done);
      free(old_side);
      free_opts(&o);
      return EXIT_OUTPUT;
    }
  }
  /* Machine facts and the measured peak, in the sidecar; a resumed sweep
     reuses the peaks its earlier rows were measured against. */
  double bandwidth[256] = {0};
  char measured[256] = {PEAK_KNOWN};
  for (int t = 0; t < o.nthreads; t++) {
    const int n = o.threads[t];
    if (n >= 256) continue;
    char key[32];
    snprintf(key, sizeof key, "peak_gflops_%dt", n);
    char known[64];
    if (old_side && cbp_sidecar_get(old_side, key, known, sizeof known) && atof(known) > 0) {
      out.peak[n] = atof(known);
    } else {
      out.peak[n] = cbp_measure_peak(n, 0.1);
      bandwidth[n] = cbp_measure_bandwidth(n, 0.2);
      measured[n] = PEAK_AND_BANDWIDTH;
    }
  }
  /* A thread count whose peak falls short of its share (a vCPU the host is
     using) is named before any timing: its rows would mislead.  Without one
     thread in the sweep, its peak is measured for the test and recorded
     (PEAK_ONLY), so that best can repeat the test. */
  for (int t = 0; t < o.nthreads; t++) {
    const int n = o.threads[t];
    if (n < 2 || n >= 256) continue;
    char msg[320], known[64];
    if (out.peak[1] <= 0) {
      if (old_side && cbp_sidecar_get(old_side, "peak_gflops_1t", known, sizeof known) && atof(known) > 0) {
        out.peak[1] = atof(known);
      } else {
        out.peak[1] = cbp_measure_peak(1, 0.1);
        measured[1] = PEAK_ONLY;
      }
    }
    /* A peak measured now and short is measured again, half a second
       apart, up to CONVBP_PEAK_RETRIES times: a sweep started while the last
       one was still exiting measured 287.3 GFLOP/s on two threads of a Zen 5
       guest (1.26x one thread) where 459.6 was there seconds later, and
       every two-thread row's percent of peak would have been 1.6x too high. */
    const double first = out.peak[n], first_1 = out.peak[1];
    int tries = 0;
    if (measured[n] == PEAK_AND_BANDWIDTH) {
      out.peak[n] = cbp_peak_retry(n, first, out.peak[1], peak_retries, remeasure_peak, NULL, &tries);
      if (tries) { /* the triads, and one thread's peak measured now, ran under that load too */
        bandwidth[n] = cbp_measure_bandwidth(n, 0.2);
        if (measured[1] != PEAK_KNOWN) {
          const double again_1 = cbp_measure_peak(1, 0.1);
          if (again_1 > out.peak[1]) out.peak[1] = again_1;
          if (measured[1] == PEAK_AND_BANDWIDTH) bandwidth[1] = cbp_measure_bandwidth(1, 0.2);
        }
      }
    }
    if (cbp_peak_shortfall(n, out.peak[n], out.peak[1], msg, sizeof msg))
      fprintf(stderr, "convbp: warning: %s\n", msg);
    else if (tries)
      fprintf(stderr, "convbp: note: the FMA loop first reached %.1f GFLOP/s on %d threads "
                      "and %.1f on one, a load that ended; measured again: %.1f and %.1f\n",
              first, n, first_1, out.peak[n], out.peak[1]);
  }
  if (sidecar_write(side, &m, old_side, &o, out.peak, bandwidth, measured)) {
    fprintf(stderr, "convbp: cannot write '%s': %s\n", side, strerror(errno));
    fclose(out.f);
    free_key_set(&done);
    free(old_side);
    free_opts(&o);
    return EXIT_OUTPUT;
  }
  free(old_side);
  /* Google Benchmark interleaves the strategies of a point in random order. */
  char *gb_args[] = {"convbp", "--benchmark_enable_random_interleaving=true", NULL};
  int gb_argc = 2;
  cbp_gb_initialize(&gb_argc, gb_args);

  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);

  int items = 0;
  for (int p = 0; p < o.points.count; p++)
    for (int op = 0; op < CONVBP_OP_COUNT; op++)
      if (o.ops[op] && convbp_op_is_mma((convbp_op)op) == o.points.items[p].is_mma) items++;
  int show_progress = !o.quiet && isatty(2);
  int item = 0, wrong = 0, write_failed = 0, ran = 0;
  double t_start = now_s();
  for (int p = 0; p < o.points.count && !interrupted && !write_failed; p++) {
    const cbp_point *pt = &o.points.items[p];
    for (int op = 0; op < CONVBP_OP_COUNT && !interrupted && !write_failed; op++) {
      if (!o.ops[op] || convbp_op_is_mma((convbp_op)op) != pt->is_mma) continue;
      /* Shards split the (point, op) items round-robin: disjoint, and together all. */
      int mine = item % o.shard_n == o.shard_k - 1;
      item++;
      if (!mine) continue;
      for (int t = 0; t < o.nthreads && !interrupted; t++) {
        if (show_progress) {
          double el = now_s() - t_start;
          double eta = ran ? el / ran * ((double)items / o.shard_n - ran) : 0;
          fprintf(stderr, "\r[%d/%d] %-8s %-48.48s ETA %4.0fs", item, items, convbp_op_name((convbp_op)op), pt->desc, eta > 0 ? eta : 0);
        }
        if (run_point(&o, pt, (convbp_op)op, o.threads[t], &out, &done, &wrong)) {
          fprintf(stderr, "\nconvbp: cannot write '%s': %s\n", o.output, strerror(errno));
          write_failed = 1;
          break;
        }
      }
      ran++;
    }
  }
  if (show_progress) fprintf(stderr, "\n");
  if (fclose(out.f) && !write_failed) {
    fprintf(stderr, "convbp: cannot write '%s': %s\n", o.output, strerror(errno));
    write_failed = 1;
  }
  free_key_set(&done);
  free_opts(&o);
  if (write_failed) return EXIT_OUTPUT;
  if (interrupted) {
    fprintf(stderr, "convbp: interrupted; the rows written are valid, --resume completes the sweep\n");
    return EXIT_INTERRUPTED;
  }
  return wrong ? EXIT_WRONG : 0;
}

/* convbp gbench: the same points as ordinary Google Benchmark benchmarks. */
int cbp_cmd_gbench(int argc, char **argv) {
  sweep_opts o;
  int rc = parse_opts(argc, argv, &o, 1);
  if (rc) {
    free_opts(&o);
    return rc;
  }
  cbp_gb_initialize(&o.gb_argc, o.gb_argv);
  /* At most one case per (point, strategy, threads): each strategy has one op. */
  const size_t per_point = (size_t)convbp_strategy_count() * (size_t)o.nthreads;
  const size_t cap = per_point * (size_t)o.points.count;
  bench_case *cases = cap / per_point == (size_t)o.points.count ? calloc(cap, sizeof *cases) : NULL;
  if (!cases) {
    free_opts(&o);
    return usage_error("gbench: out of memory for %d problems x %d thread counts",
                       o.points.count, o.nthreads);
  }
  size_t n = 0;
  for (int p = 0; p < o.points.count; p++) {
    const cbp_point *pt = &o.points.items[p];
    for (int op = 0; op < CONVBP_OP_COUNT; op++) {
      if (!o.ops[op] || convbp_op_is_mma((convbp_op)op) != pt->is_mma) continue;
      size_t nx, ny, nout;
      if (pt->is_mma ? convbp_mma_op_sizes(op, &pt->mma, &nx, &ny, &nout)
                     : convbp_conv_op_sizes(op, &pt->conv, &nx, &ny, &nout))
        continue;
      float *x = convbp_alloc(nx * 4), *y = convbp_alloc(ny * 4), *out = convbp_alloc(nout * 4);
      if (!x || !y || !out) {
        fprintf(stderr, "convbp: gbench: %s %s skipped: out of memory for the tensors\n",
                convbp_op_name((convbp_op)op), pt->desc);
        convbp_free(x), convbp_free(y), convbp_free(out);
        continue;
      }
      convbp_fill(x, nx, o.seed);
      convbp_fill(y, ny, o.seed + 1);
      const size_t first = n; /* the cases of this (point, op) share x, y and out */
      for (int s = 0; s < convbp_strategy_count(); s++) {
        if (convbp_strategy_op(s) != (convbp_op)op || !strategy_selected(&o, convbp_strategy_name(s))) continue;
        for (int t = 0; t < o.nthreads; t++) {
          bench_case *c = &cases[n];
          c->strategy = convbp_strategy_name(s), c->pt = pt, c->threads = o.threads[t];
          c->x = x, c->y = y, c->out = out;
          c->flops = pt->is_mma ? convbp_mma_flops(&pt->mma) : convbp_conv_flops(&pt->conv);
          char name[400];
          snprintf(name, sizeof name, "%s/%s/%s/threads:%d", convbp_op_name((convbp_op)op), c->strategy, pt->desc, c->threads);
          /* as sweep's unsupported, error and skipped rows: said, not silently left out */
          if (admit_case(c, &o)) {
            fprintf(stderr, "convbp: gbench: %s %s: %s\n", name, c->status, c->reason);
            continue;
          }
          cbp_gb_options gopt = {0, 0};
          cbp_gb_register(name, (int)n, bench_fn, c, &gopt);
          n++;
        }
      }
      if (n == first) convbp_free(x), convbp_free(y), convbp_free(out);
    }
  }
  cbp_topo_open();
  cbp_bind_threads(o.nthreads ? o.threads[o.nthreads - 1] : 1, o.bind, NULL, 0);
  const int ran = cbp_gb_run_default();
  for (size_t i = 0; i < n; i++) {
    convbp_prepared_destroy(cases[i].pr);
    if (i == 0 || cases[i].x != cases[i - 1].x) /* the first case of its (point, op) */
      convbp_free((void *)cases[i].x), convbp_free((void *)cases[i].y), convbp_free(cases[i].out);
  }
  free(cases);
  free_opts(&o);
  /* Google Benchmark only prints why when --benchmark_filter matches none of
     the cases or is no regular expression, and returns 0 benchmarks run: a
     run that timed nothing must not exit as if it had. */
  if (n > 0 && ran == 0)
    return usage_error("gbench: no benchmark ran: --benchmark_filter matched none of the %zu "
                       "cases, or is not a valid regular expression (see above)",
                       n);
  return 0;
}

/* convbp run: verify strategies on problems, benchdnn style.  A conv point's
   checks share one verifier, which makes each op's reference once; its inputs
   are the sweep's (same seeds), so this reproduces a sweep's wrong row. */
int cbp_cmd_run(int argc, char **argv) {
  sweep_opts o;
  int rc = parse_opts(argc, argv, &o, 0);
  if (rc) {
    free_opts(&o);
    return rc;
  }
  int failed = 0;
  for (int p = 0; p < o.points.count; p++) {
    const cbp_point *pt = &o.points.items[p];
    convbp_verifier *v = NULL;
    int vst = pt->is_mma ? 0 : convbp_verifier_create(&pt->conv, o.seed, &v);
    int have_ref[CONVBP_OP_COUNT] = {0};
    for (int s = 0; s < convbp_strategy_count(); s++) {
      const char *name = convbp_strategy_name(s);
      convbp_op op = convbp_strategy_op(s);
      if (!o.ops[op] || convbp_op_is_mma(op) != pt->is_mma || !strategy_selected(&o, name)) continue;
      for (int t = 0; t < o.nthreads; t++) {
        convbp_check res;
        double gap = 0, t0 = now_s();
        int st = pt->is_mma ? convbp_mma_check(name, &pt->mma, o.threads[t], o.seed, &res)
                 : vst      ? vst
                            : convbp_verifier_check(v, name, o.threads[t], &res, &gap);
        double el = now_s() - t0;
        const int passed = !st && res.passed && gap <= 1.0;
        const char *state = st == CONVBP_ERR_UNSUPPORTED ? "SKIPPED" : st ? "ERROR" : passed ? "PASSED" : "FAILED";
        printf("%-7s %s %s threads=%d %s", state, convbp_op_name(op), name, o.threads[t], pt->desc);
        if (!st) {
          printf(" max_rel_err=%.3g err/bound=%.3g", res.max_rel_err, res.max_err_ratio);
          if (op == CONVBP_BPA || op == CONVBP_BPW) printf(" adjoint_gap/bound=%.3g", gap);
          /* a check's first of its op (pt->is_mma: every one) made the reference;
             a BPA or BPW check made FWD's too, for its adjoint test */
          printf(" (%.3fs%s)", el, pt->is_mma || !have_ref[op] ? " incl. reference" : "");
          have_ref[op] = 1;
          if (op == CONVBP_BPA || op == CONVBP_BPW) have_ref[CONVBP_FWD] = 1;
        } else {
          printf(" (%s)", convbp_strerror(st));
        }
        printf("\n");
        failed |= (st && st != CONVBP_ERR_UNSUPPORTED) || (!st && !passed);
      }
    }
    convbp_verifier_destroy(v);
  }
  free_opts(&o);
  return failed ? EXIT_WRONG : 0;
}

/* convbp tune: MEASURE a plan for every (point, op, threads) and write wisdom. */
int cbp_cmd_tune(int argc, char **argv) {
  const char *path = "results/wisdom.txt";
  char **rest = calloc((size_t)argc + 1, sizeof *rest);
  if (!rest) return usage_error("out of memory for the options");
  int nrest = 0;
  for (int i = 0; i < argc; i++) {
    if (!strcmp(argv[i], "--wisdom")) {
      if (i + 1 >= argc) {
        free(rest);
        return usage_error("option '--wisdom' needs a value");
      }
      path = argv[++i];
    } else {
      rest[nrest++] = argv[i];
    }
  }
  sweep_opts o;
  int rc = parse_opts(nrest, rest, &o, 0);
  free(rest);
  if (!rc && (o.nstrategies != 1 || strcmp(o.strategies[0], "all")))
    rc = usage_error("tune: --strategy does not apply; MEASURE times every strategy that takes the problem");
  if (rc) {
    free_opts(&o);
    return rc;
  }
  char err[512];
  if (file_has_data(path) && convbp_wisdom_import(path, err, sizeof err)) {
    free_opts(&o);
    return usage_error("%s", err);
  }
  /* The wisdom is written after minutes of timing: find out now, not then,
     that its directory takes no file (the export writes PATH.tmp.PID there). */
  char probe[4096];
  FILE *pf = NULL;
  errno = ENAMETOOLONG;
  if (snprintf(probe, sizeof probe, "%s.probe.%ld", path, (long)getpid()) < (int)sizeof probe)
    pf = fopen(probe, "w");
  if (!pf) {
    fprintf(stderr, "convbp: cannot write wisdom '%s': %s\n", path, strerror(errno));
    free_opts(&o);
    return EXIT_OUTPUT;
  }
  fclose(pf);
  remove(probe);
  printf("%-48s %-8s %-3s %-24s %s\n", "problem", "op", "thr", "measured", "estimate");
  for (int p = 0; p < o.points.count && !rc; p++) {
    const cbp_point *pt = &o.points.items[p];
    for (int op = 0; op < CONVBP_OP_COUNT && !rc; op++) {
      if (!o.ops[op] || convbp_op_is_mma((convbp_op)op) != pt->is_mma) continue;
      for (int t = 0; t < o.nthreads; t++) {
        cbp_bind_threads(o.threads[t], o.bind, NULL, 0);
        convbp_plan *plan;
        int st = convbp_plan_create(&plan, (convbp_op)op, &pt->conv, &pt->mma, o.threads[t], CONVBP_MEASURE);
        const char *est = convbp_plan_estimate((convbp_op)op, &pt->conv, &pt->mma, o.threads[t]);
        printf("%-48s %-8s %-3d %-24s %s\n", pt->desc, convbp_op_name((convbp_op)op), o.threads[t],
               st ? convbp_strerror(st) : convbp_plan_strategy(plan), est ? est : "-");
        convbp_plan_destroy(plan);
      }
    }
  }
  free_opts(&o);
  if (convbp_wisdom_export(path)) {
    fprintf(stderr, "convbp: cannot write wisdom '%s': %s\n", path, strerror(errno));
    return EXIT_OUTPUT;
  }
  fprintf(stderr, "convbp: %d wisdom entries in %s\n", convbp_wisdom_count(), path);
  return 0;
}
