/* Shared pieces of the convbp command-line tool. */
#ifndef CONVBP_CLI_H
#define CONVBP_CLI_H

#include <stdint.h>
#include <stdio.h>

#include "convbp.h"
#include "machine.h"

/* Exit codes: 0 ok, 1 a run failed or found a wrong result, 2 usage or input
   error, 3 output could not be written, 130 interrupted. */
enum { EXIT_WRONG = 1, EXIT_USAGE = 2, EXIT_OUTPUT = 3, EXIT_INTERRUPTED = 130 };

typedef struct {
  int is_mma;
  convbp_conv conv;
  convbp_mma mma;
  char name[64];
  char desc[192]; /* canonical descriptor, with its name */
} cbp_point;

typedef struct {
  cbp_point *items;
  int count, cap;
} cbp_point_list;

/* Parses one descriptor (conv when it has "ic", else mma) into a point. */
int cbp_point_parse(const char *text, cbp_point *pt, char *err, size_t err_len);
int cbp_points_add(cbp_point_list *l, const cbp_point *pt);
void cbp_points_free(cbp_point_list *l);
/* Reads a benchdnn-style shape file: one descriptor per line, '#' comments. */
int cbp_points_load_file(cbp_point_list *l, const char *path, char *err, size_t err_len);
/* Built-in suites: resnet50, vgg16, edge, mma, small. */
int cbp_points_load_suite(cbp_point_list *l, const char *suite, char *err, size_t err_len);
const char *cbp_suite_names(void);
/* count random problems drawn from seed, the same ones on every machine: every
   fifth an MMA, the rest convs biased to the strategies' edges (see cli.c). */
int cbp_points_random(cbp_point_list *l, int count, uint64_t seed, char *err, size_t err_len);

/* Integer lists: "1,8,32", "64:512:x2", "1:4", "1:9:2". */
int cbp_parse_int_list(const char *text, int min_value, int **values, int *count, char *err,
                       size_t err_len);

/* 0 when OpenMP may run `threads` threads; else -1 and a message in err naming
   OMP_THREAD_LIMIT. */
int cbp_threads_allowed(long threads, char *err, size_t err_len);

/* Whether an item of --strategy ("all", a name or a glob such as "bpw_*")
   selects the strategy named name (the sweep's and gemm_share's one rule). */
int cbp_strategy_matches(const char *item, const char *name);

/* Grid over descriptor fields, applied to every conv base point. */
typedef struct {
  const char *field; /* "mb", "ic", ... */
  int *values;
  int count;
} cbp_grid_axis;
int cbp_grid_expand(cbp_point_list *l, const cbp_grid_axis *axes, int naxes, char *err,
                    size_t err_len);

/* CSV (csv.c). */
extern const char *const cbp_csv_columns[];
int cbp_csv_column_count(void);
int cbp_csv_column_index(const char *name);
/* One parsed CSV file: rows of fields. */
typedef struct {
  char ***rows;
  int nrows, ncols;
  int *col; /* col[i]: this file's column for schema column i, or -1 */
} cbp_csv;
/* The whole file, NUL-terminated, its length in len (the NUL not counted);
   NULL with errno set when it cannot be opened or read. */
char *cbp_read_file(const char *path, size_t *len);
int cbp_csv_read(const char *path, cbp_csv *csv, char *err, size_t err_len);
void cbp_csv_free(cbp_csv *csv);
const char *cbp_csv_get(const cbp_csv *csv, int row, const char *column);
void cbp_csv_write_field(FILE *f, const char *s, int last);
void cbp_csv_write_header(FILE *f);
/* 0 when the file's header is exactly the schema this build writes (rows may be
   appended to it), else -1 with a message naming the first column that differs. */
int cbp_csv_check_appendable(const cbp_csv *csv, const char *path, char *err, size_t err_len);
/* The oneDNN peers ("*_onednn*"): compared with, never a winner. */
int cbp_is_peer(const char *strategy);

/* A timed row of a CSV (status ok, median > 0); the strings point into it. */
typedef struct {
  const char *problem, *op, *strategy, *threads, *bind;
  double median, min, max, cv, gflops; /* ms, ms, ms, -, GFLOP/s */
} cbp_timed;
/* Appends csv's timed rows to rows, which has room for csv->nrows; returns how many. */
size_t cbp_timed_rows(const cbp_csv *csv, cbp_timed *rows);
/* Whether two timings differ beyond noise: their [min, max] ranges are disjoint
   and neither cv is over cv_limit (best's "clear", compare's "faster"/"slower"). */
int cbp_timings_differ(const cbp_timed *a, const cbp_timed *b, double cv_limit);

/* The tables of best and compare: aligned text, CSV or Markdown on stdout. */
typedef enum { CBP_TABLE_TEXT, CBP_TABLE_CSV, CBP_TABLE_MARKDOWN } cbp_table_format;
void cbp_table_header(cbp_table_format fmt, const char *const *cells, int ncells, const int *widths);
void cbp_table_row(cbp_table_format fmt, const char *const *cells, int ncells, const int *widths);
/* argv[*i] as one of --csv, --markdown, --noise CV (moving *i past the value):
   1 when it was one, 0 when not, -1 after a message on stderr when its value is bad. */
int cbp_table_option(const char *cmd, int argc, char **argv, int *i, cbp_table_format *fmt,
                     double *cv_limit);

/* The sidecar X.machine.txt beside X.csv: what machine the rows were measured on. */
enum { CBP_SIDECAR_PATH_MAX = 4096 }; /* Linux's PATH_MAX */
/* The widest kernel set this build targets (-march=native): "avx512", "avx2"
   or "scalar", as the sidecar's isa= line says. */
const char *cbp_build_isa(void);
int cbp_sidecar_path(const char *csv, char *buf, size_t len);
int cbp_sidecar_load(const char *path, char **text);
int cbp_sidecar_get(const char *text, const char *key, char *out, size_t len);
/* Whether `threads` threads reached less than 3/4 of `threads` times one
   thread's FMA peak (peak_n against peak_1): other load on these CPUs (a
   busy host under a VM's vCPU), or fewer CPUs allowed than threads.  Then
   the timings on that many threads, and their percent of peak, do not show
   what the code does; msg gets a one-line account of it. */
int cbp_peak_shortfall(int threads, double peak_n, double peak_1, char *msg, size_t len);
/* While peak_n falls short (cbp_peak_shortfall), measures again with
   measure(threads, ctx), up to `retries` times; returns the highest peak seen
   and sets *tries to the measurements made.  A load that is ending (the last
   sweep exiting) then no longer sets the peak every row is divided by. */
double cbp_peak_retry(int threads, double peak_n, double peak_1, int retries,
                      double (*measure)(int threads, void *ctx), void *ctx, int *tries);
/* The same test on the peaks a sidecar records, a note on stderr per thread
   count that falls short, prefixed by who (e.g. "convbp best") and the CSV. */
void cbp_sidecar_peak_notes(const char *who, const char *csv, const char *text);
/* NAME of a sidecar's "openblas=... (core NAME)" value into out (0 when none), and
   the kernel set OpenBLAS runs in this process. */
int cbp_blas_core(const char *openblas, char *out, size_t len);
const char *cbp_blas_core_now(void);

/* Runs the program again with OPENBLAS_CORETYPE set when OpenBLAS fell back to
   its generic kernels on a CPU it does not know (see cli.c). */
void cbp_fix_blas_coretype(char **argv);
int cbp_cmd_sweep(int argc, char **argv);
int cbp_cmd_gbench(int argc, char **argv);
int cbp_cmd_best(int argc, char **argv);
int cbp_cmd_compare(int argc, char **argv);
int cbp_cmd_run(int argc, char **argv);
int cbp_cmd_tune(int argc, char **argv);

#endif
