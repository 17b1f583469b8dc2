/* Out of memory, at every allocation in turn.
 *
 * Each scenario below is called again and again; on the k-th call its k-th heap
 * allocation fails (once, or that one and every later one). The call must then
 * return its out-of-memory status (CONVBP_ERR_NOMEM; the CSV reader's message),
 * keep what it promises to keep (wisdom on a failed import), and free what it
 * took: LeakSanitizer, in CI's sanitizer pass, checks the last at exit. When no
 * allocation was failed the call must succeed, which ends the scenario.
 *
 * malloc, calloc, realloc and aligned_alloc of the library and of the CLI's CSV
 * reader reach the wrappers here through ld --wrap (tests/CMakeLists.txt);
 * OpenBLAS, oneDNN, libgomp and libc are shared libraries, and their own
 * allocations are not counted.
 *
 *   test_nomem FIXTURE.csv */
#define _GNU_SOURCE
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "convbp.h"
#include "testing.h"

/* ---- The failing allocator ---------------------------------------------- */

static atomic_long countdown = -1; /* allocations left before the failure; < 0: none */
static atomic_long failed;         /* allocations failed since arming */
static atomic_int persistent;      /* after the first failure, fail every later one */

static int fail_now(void) {
  if (atomic_load(&persistent) && atomic_load(&failed) > 0) {
    atomic_fetch_add(&failed, 1);
    return 1;
  }
  if (atomic_load(&countdown) < 0) return 0;
  if (atomic_fetch_sub(&countdown, 1) != 0) return 0;
  atomic_fetch_add(&failed, 1);
  return 1;
}

void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t size);
void *__real_realloc(void *p, size_t n);
void *__real_aligned_alloc(size_t align, size_t n);

/* errno as a real allocator sets it: messages quote strerror(errno). */
void *__wrap_malloc(size_t n) { return fail_now() ? (errno = ENOMEM, NULL) : __real_malloc(n); }
void *__wrap_calloc(size_t n, size_t size) {
  return fail_now() ? (errno = ENOMEM, NULL) : __real_calloc(n, size);
}
void *__wrap_realloc(void *p, size_t n) {
  return fail_now() ? (errno = ENOMEM, NULL) : __real_realloc(p, n);
}
void *__wrap_aligned_alloc(size_t align, size_t n) {
  return fail_now() ? (errno = ENOMEM, NULL) : __real_aligned_alloc(align, n);
}

static void arm(long k, int always) {
  atomic_store(&failed, 0);
  atomic_store(&persistent, always);
  atomic_store(&countdown, k);
}

static long disarm(void) {
  atomic_store(&countdown, -1);
  atomic_store(&persistent, 0);
  return atomic_load(&failed);
}

/* ---- Scenarios ---------------------------------------------------------- */

/* A small problem on which every strategy has a workspace to allocate:
   3x3, stride 2, pad 1 (strided BPA, im2col, zero insertion). */
static const convbp_conv conv = {2, 8, 9, 9, 16, 3, 3, 1, 1, 2, 2, 1, 1};
static const convbp_mma mma = {24, 20, 16};

static float x[4096], y[4096], out[4096];
static char wisdom_path[96], wisdom_start[96];
static const char *csv_path;

typedef struct scenario scenario;
struct scenario {
  char name[96];
  int (*call)(const scenario *sc);
  void (*setup)(void);              /* before each call, not counted */
  int (*kept)(const scenario *sc);  /* after a failure: 1 if what must be kept is */
  const char *strategy;             /* the strategy, or one of the op planned */
};

static int run_strategy(const scenario *sc) {
  int idx = convbp_strategy_find(sc->strategy);
  return convbp_op_is_mma(convbp_strategy_op(idx)) ? convbp_mma_run(sc->strategy, &mma, 2, x, y, out)
                                                    : convbp_conv_run(sc->strategy, &conv, 2, x, y, out);
}

static int check_strategy(const scenario *sc) {
  convbp_check res;
  int idx = convbp_strategy_find(sc->strategy);
  int st = convbp_op_is_mma(convbp_strategy_op(idx))
               ? convbp_mma_check(sc->strategy, &mma, 1, 7, &res)
               : convbp_conv_check(sc->strategy, &conv, 1, 7, &res);
  return st ? st : res.passed ? CONVBP_OK : CONVBP_ERR_WRONG_RESULT;
}

static int adjoint(const scenario *sc) {
  double gap;
  int passed;
  int st = convbp_conv_adjoint("fwd_im2col_gemm", sc->strategy, &conv, 1, 3, &gap, &passed);
  return st ? st : passed ? CONVBP_OK : CONVBP_ERR_WRONG_RESULT;
}

/* A verifier made, used for a backward strategy (its reference and FWD's for
   the adjoint test), then for a forward one, and destroyed. */
static int verifier(const scenario *sc) {
  convbp_verifier *v;
  int st = convbp_verifier_create(&conv, 5, &v);
  if (st) return st;
  convbp_check res;
  double gap;
  st = convbp_verifier_check(v, sc->strategy, 1, &res, &gap);
  if (!st && (!res.passed || !(gap <= 1.0))) st = CONVBP_ERR_WRONG_RESULT;
  if (!st) st = convbp_verifier_check(v, "fwd_im2col_gemm", 1, &res, NULL);
  if (!st && !res.passed) st = CONVBP_ERR_WRONG_RESULT;
  convbp_verifier_destroy(v);
  return st;
}

/* A plan made, run and destroyed (set up with empty wisdom, so MEASURE measures). */
static int plan(const scenario *sc, convbp_plan_mode mode) {
  convbp_op op = convbp_strategy_op(convbp_strategy_find(sc->strategy));
  convbp_plan *p;
  int st = convbp_plan_create(&p, op, convbp_op_is_mma(op) ? NULL : &conv,
                              convbp_op_is_mma(op) ? &mma : NULL, 1, mode);
  if (st) return st;
  st = convbp_plan_execute(p, x, y, out);
  convbp_plan_destroy(p);
  return st;
}
static int plan_estimate(const scenario *sc) { return plan(sc, CONVBP_ESTIMATE); }
static int plan_measure(const scenario *sc) { return plan(sc, CONVBP_MEASURE); }

/* Wisdom import over one entry already held: a failed import takes nothing. */
static int import_wisdom(const scenario *sc) {
  (void)sc;
  char err[256];
  int st = convbp_wisdom_import(wisdom_path, err, sizeof err);
  if (st && st != CONVBP_ERR_NOMEM) fprintf(stderr, "import: %s\n", err);
  return st;
}
static int wisdom_unchanged(const scenario *sc) {
  (void)sc;
  return convbp_wisdom_count() == 1;
}
static void wisdom_reset(void) {
  char err[256];
  convbp_wisdom_forget();
  if (convbp_wisdom_import(wisdom_start, err, sizeof err))
    fprintf(stderr, "setting up wisdom: %s\n", err);
}

/* A CLI-core call's out-of-memory message as the status the driver expects. */
static int says_nomem(const char *msg) {
  return strstr(msg, "out of memory") || strstr(msg, strerror(ENOMEM));
}
static int cli_status(int rc, const char *what, const char *err) {
  if (!rc) return CONVBP_OK;
  if (says_nomem(err)) return CONVBP_ERR_NOMEM;
  fprintf(stderr, "%s: %s\n", what, err);
  return CONVBP_ERR_IO;
}

/* The CLI's CSV reader on the fixture. */
static int read_csv(const scenario *sc) {
  (void)sc;
  cbp_csv csv;
  char err[512] = "";
  int rc = cbp_csv_read(csv_path, &csv, err, sizeof err);
  if (!rc) cbp_csv_free(&csv);
  return cli_status(rc, "csv", err);
}

static int load_suite(const scenario *sc) {
  (void)sc;
  cbp_point_list l = {0};
  char err[512] = "";
  int rc = cbp_points_load_suite(&l, "resnet50", err, sizeof err);
  cbp_points_free(&l);
  return cli_status(rc, "suite", err);
}

static char problems_path[96];
static char head_path[96], head_side[96]; /* the fixture's header and first 12 rows, a sidecar */
static int load_problems(const scenario *sc) {
  (void)sc;
  cbp_point_list l = {0};
  char err[512] = "";
  int rc = cbp_points_load_file(&l, problems_path, err, sizeof err);
  cbp_points_free(&l);
  return cli_status(rc, "problems file", err);
}

static int int_list(const scenario *sc) {
  (void)sc;
  int *v = NULL, n = 0;
  char err[512] = "";
  int rc = cbp_parse_int_list("1:100", 1, &v, &n, err, sizeof err);
  free(v);
  return cli_status(rc, "int list", err);
}

/* The small suite (one MMA point, kept as is) over a 2 x 4 grid of mb and ic. */
static int grid(const scenario *sc) {
  (void)sc;
  cbp_point_list l = {0};
  char err[512] = "";
  int mb[] = {1, 2}, ic[] = {8, 16, 24, 32};
  cbp_grid_axis axes[] = {{"mb", mb, 2}, {"ic", ic, 4}};
  int rc = cbp_points_load_suite(&l, "small", err, sizeof err);
  if (!rc) rc = cbp_grid_expand(&l, axes, 2, err, sizeof err);
  cbp_points_free(&l);
  return cli_status(rc, "grid", err);
}

/* `convbp best FIXTURE` or `convbp compare FIXTURE FIXTURE` (sc->strategy
   names the command) with its table sent to /dev/null and its stderr read
   back: exit 2 with "out of memory" is the answer to a failed allocation. */
static int table_command(const scenario *sc) {
  const int compare = !strcmp(sc->strategy, "compare");
  /* compare reads two files: the fixture's first rows keep the passes short */
  char *argv[] = {compare ? head_path : (char *)csv_path, head_path, NULL};
  fflush(stdout);
  fflush(stderr);
  int outfd = dup(1), errfd = dup(2);
  FILE *sink = fopen("/dev/null", "w"), *log = tmpfile();
  if (outfd < 0 || errfd < 0 || !sink || !log) return CONVBP_ERR_IO;
  dup2(fileno(sink), 1);
  dup2(fileno(log), 2);
  int rc = compare ? cbp_cmd_compare(2, argv) : cbp_cmd_best(1, argv);
  fflush(stdout);
  fflush(stderr);
  dup2(outfd, 1);
  dup2(errfd, 2);
  close(outfd);
  close(errfd);
  char msg[512] = "";
  rewind(log);
  size_t got = fread(msg, 1, sizeof msg - 1, log);
  msg[got] = 0;
  fclose(log);
  fclose(sink);
  if (rc == 0) return CONVBP_OK;
  if (rc == 2 && says_nomem(msg)) return CONVBP_ERR_NOMEM;
  fprintf(stderr, "%s: exit %d: %s\n", sc->strategy, rc, msg);
  return CONVBP_ERR_IO;
}

/* Writes the wisdom files: wisdom_start holds one entry, wisdom_path 40 others
   (more than the 32 slots wisdom starts with, so both tables must grow). */
static int write_wisdom_files(void) {
  char tmp[64], line[256], machine[256] = "";
  snprintf(tmp, sizeof tmp, "/tmp/convbp-nomem-%d", (int)getpid());
  snprintf(wisdom_start, sizeof wisdom_start, "%s.start", tmp);
  snprintf(wisdom_path, sizeof wisdom_path, "%s.forty", tmp);
  convbp_wisdom_forget();
  if (convbp_wisdom_export(tmp)) return -1;
  FILE *f = fopen(tmp, "r");
  if (!f) return -1;
  while (fgets(line, sizeof line, f))
    if (!strncmp(line, "machine ", 8)) snprintf(machine, sizeof machine, "%s", line);
  fclose(f);
  remove(tmp);
  if (!*machine) return -1;
  FILE *a = fopen(wisdom_start, "w"), *b = a ? fopen(wisdom_path, "w") : NULL;
  if (!b) {
    if (a) fclose(a);
    return -1;
  }
  fprintf(a, "convbp-wisdom 1\n%sentry mma_bpw 1 mma_bpw_gemm m1n1k1\nend 1\n", machine);
  fprintf(b, "convbp-wisdom 1\n%s", machine);
  for (int i = 0; i < 40; i++) fprintf(b, "entry mma_bpw 1 mma_bpw_gemm m%dn8k8\n", i + 2);
  fprintf(b, "end 40\n");
  return (fclose(a) | fclose(b)) ? -1 : 0;
}

/* ---- The driver --------------------------------------------------------- */

/* Fails allocation k = 0, 1, 2, ... until a call goes through with none failed. */
static void exercise(const scenario *sc, int always) {
  const long limit = 100000;
  long k;
  for (k = 0; k < limit; k++) {
    if (sc->setup) sc->setup();
    arm(k, always);
    int st = sc->call(sc);
    long n_failed = disarm();
    if (!n_failed) {
      CHECK(st == CONVBP_OK, "%s: %s with no allocation failed", sc->name, convbp_strerror(st));
      break;
    }
    /* MEASURE passes over a candidate whose workspace it cannot have: a plan
       from another candidate is a success too, when one allocation failed. */
    int ok = st == CONVBP_ERR_NOMEM || (st == CONVBP_OK && sc->call == plan_measure && !always);
    CHECK(ok, "%s: allocation %ld failed%s: %s", sc->name, k, always ? " (and all after)" : "",
          convbp_strerror(st));
    if (sc->kept) CHECK(sc->kept(sc), "%s: allocation %ld failed: changed what it keeps", sc->name, k);
    if (!ok) break;
  }
  CHECK(k < limit, "%s: still failing after %ld allocations", sc->name, limit);
  if (always) printf("%-44s %ld allocations\n", sc->name, k);
}

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: test_nomem FIXTURE.csv\n");
    return 2;
  }
  csv_path = argv[1];
  convbp_fill(x, 4096, 1);
  convbp_fill(y, 4096, 2);
  snprintf(problems_path, sizeof problems_path, "/tmp/convbp-nomem-%d.problems", (int)getpid());
  FILE *pf = fopen(problems_path, "w");
  for (int i = 0; pf && i < 20; i++) fprintf(pf, "mb1ic%dih8oc8kh3ph1 # line %d\n", i + 1, i + 1);
  snprintf(head_path, sizeof head_path, "/tmp/convbp-nomem-%d.head.csv", (int)getpid());
  FILE *fixture = fopen(csv_path, "r"), *hf = fixture ? fopen(head_path, "w") : NULL;
  char line[4096];
  for (int i = 0; hf && i < 13 && fgets(line, sizeof line, fixture); i++) fputs(line, hf);
  if (fixture) fclose(fixture);
  snprintf(head_side, sizeof head_side, "/tmp/convbp-nomem-%d.head.machine.txt", (int)getpid());
  FILE *sf = fopen(head_side, "w");
  if (sf) fputs("cpu=The fixture's CPU\ncores=2\n", sf);
  if (!pf || fclose(pf) || !hf || fclose(hf) || !sf || fclose(sf) || write_wisdom_files()) {
    fprintf(stderr, "cannot read the fixture, or write the problems and wisdom files in /tmp\n");
    return 1;
  }

  /* The thread floor is measured on first use (convbp_thread_flops), in
     buffers of its own; with none to be had it keeps 1 MFLOP a thread, which
     every later call then gets, the scenarios below included. */
  unsetenv("CONVBP_THREAD_FLOPS");
  arm(0, 1);
  const double floor = convbp_thread_flops();
  const long floor_failed = disarm();
  CHECK(floor == 1e6 && floor_failed > 0,
        "thread floor with every allocation failing: %.0f FLOPs a thread after %ld failed "
        "allocation(s), want 1000000 after one or more",
        floor, floor_failed);

  /* Every strategy that supports the problems, run; then the calls that
     allocate beyond a workspace. */
  static scenario table[64 + 16]; /* the strategies, then `more` */
  int n = 0;
  for (int i = 0; i < convbp_strategy_count() && n < 64; i++) {
    const char *name = convbp_strategy_name(i);
    int is_mma = convbp_op_is_mma(convbp_strategy_op(i));
    if (is_mma ? convbp_mma_supports(name, &mma, NULL) : convbp_conv_supports(name, &conv, NULL))
      continue;
    table[n] = (scenario){"", run_strategy, NULL, NULL, name};
    snprintf(table[n].name, sizeof table[n].name, "run %s", name);
    n++;
  }
  const scenario more[] = {
      {"check bpw_im2col_gemm", check_strategy, NULL, NULL, "bpw_im2col_gemm"},
      {"check mma_bpa_gemm", check_strategy, NULL, NULL, "mma_bpa_gemm"},
      {"adjoint bpa_scatter_gemm", adjoint, NULL, NULL, "bpa_scatter_gemm"},
      {"verifier bpw_im2col_gemm", verifier, NULL, NULL, "bpw_im2col_gemm"},
      {"plan ESTIMATE bpa", plan_estimate, convbp_wisdom_forget, NULL, "bpa_direct"},
      {"plan MEASURE mma_bpw", plan_measure, convbp_wisdom_forget, NULL,
       "mma_bpw_direct"},
      {"wisdom import of 40 entries", import_wisdom, wisdom_reset,
       wisdom_unchanged, NULL},
      {"csv read of the fixture", read_csv, NULL, NULL, NULL},
      {"suite resnet50", load_suite, NULL, NULL, NULL},
      {"problems file of 20 lines", load_problems, NULL, NULL, NULL},
      {"integer list 1:100", int_list, NULL, NULL, NULL},
      {"grid of mb x ic over the small suite", grid, NULL, NULL, NULL},
      {"best over the fixture", table_command, NULL, NULL, "best"},
      {"compare of the fixture's first rows", table_command, NULL, NULL, "compare"},
  };
  for (size_t i = 0; i < sizeof more / sizeof more[0] && n < 64 + 16; i++) table[n++] = more[i];

  for (int i = 0; i < n; i++) {
    exercise(&table[i], 0);
    exercise(&table[i], 1);
  }
  convbp_wisdom_forget();
  remove(wisdom_start);
  remove(wisdom_path);
  remove(problems_path);
  remove(head_path);
  remove(head_side);
  TEST_END();
}
