/* convbp's CSV: the one schema (columns are only ever added, at the end), a
 * writer that quotes per RFC 4180, a reader that rejects foreign or truncated
 * files, and `convbp best`, the winner table. */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

const char *const cbp_csv_columns[] = {
    "problem", "name", "op", "strategy", "threads", "bind", "n", "c", "h", "w", "k", "r", "s",
    "pad_h", "pad_w", "stride_h", "stride_w", "dil_h", "dil_w", "p", "q", "m", "cpusets", "reps",
    "iterations", "time_min_ms", "time_median_ms", "time_mean_ms", "time_max_ms",
    "time_stddev_ms", "time_cv", "gflops", "gflops_nopad", "peak_pct", "workspace_bytes",
    "max_rel_err", "err_ratio", "status", "reason", "vs_onednn", NULL};

int cbp_csv_column_count(void) {
  int n = 0;
  while (cbp_csv_columns[n]) n++;
  return n;
}

int cbp_csv_column_index(const char *name) {
  for (int i = 0; cbp_csv_columns[i]; i++)
    if (!strcmp(cbp_csv_columns[i], name)) return i;
  return -1;
}

void cbp_csv_write_field(FILE *f, const char *s, int last) {
  if (strpbrk(s, ",\"\n\r")) {
    fputc('"', f);
    for (; *s; s++) {
      if (*s == '"') fputc('"', f);
      fputc(*s, f);
    }
    fputc('"', f);
  } else {
    fputs(s, f);
  }
  fputc(last ? '\n' : ',', f);
}

void cbp_csv_write_header(FILE *f) {
  int n = cbp_csv_column_count();
  for (int i = 0; i < n; i++) cbp_csv_write_field(f, cbp_csv_columns[i], i == n - 1);
}

static int err_out(char *err, size_t len, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(err, len, fmt, ap);
  va_end(ap);
  return -1;
}

static void free_fields(char **fields, size_t n) {
  for (size_t j = 0; j < n; j++) free(fields[j]);
  free(fields);
}

/* Splits one record starting at *pos; returns fields, or NULL with *nfields
   0 at a quote that never closes (a file cut mid-row), -1 out of memory. */
static char **split_record(const char *text, size_t *pos, int *nfields) {
  size_t cap = 16, n = 0;
  char **fields = malloc(cap * sizeof *fields);
  size_t i = *pos;
  *nfields = -1;
  if (!fields) return NULL;
  for (;;) {
    size_t bcap = 32, blen = 0;
    char *buf = malloc(bcap);
    if (!buf) {
      free_fields(fields, n);
      return NULL;
    }
    int quoted = text[i] == '"';
    if (quoted) i++;
    for (;;) {
      char ch = text[i];
      if (quoted) {
        if (!ch) {
          free(buf);
          free_fields(fields, n);
          *nfields = 0;
          return NULL;
        }
        if (ch == '"') {
          if (text[i + 1] == '"') {
            i += 2;
            ch = '"';
          } else {
            i++;
            quoted = 0;
            continue;
          }
        } else {
          i++;
        }
      } else {
        if (!ch || ch == ',' || ch == '\n' || ch == '\r') break;
        i++;
      }
      if (blen + 1 >= bcap) {
        char *bigger = realloc(buf, bcap *= 2);
        if (!bigger) {
          free(buf);
          free_fields(fields, n);
          return NULL;
        }
        buf = bigger;
      }
      buf[blen++] = ch;
    }
    buf[blen] = 0;
    if (n == cap) {
      char **more = realloc(fields, (cap *= 2) * sizeof *fields);
      if (!more) {
        free(buf);
        free_fields(fields, n);
        return NULL;
      }
      fields = more;
    }
    fields[n++] = buf;
    if (text[i] == ',') {
      i++;
      continue;
    }
    if (text[i] == '\r') i++;
    if (text[i] == '\n') i++;
    break;
  }
  *pos = i;
  *nfields = (int)n;
  return fields;
}

char *cbp_read_file(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  size_t cap = 1 << 16, n = 0, got;
  char *buf = malloc(cap + 1);
  while (buf && (got = fread(buf + n, 1, cap - n, f)) > 0) {
    n += got;
    if (n == cap) {
      char *bigger = realloc(buf, (cap *= 2) + 1);
      if (!bigger) free(buf);
      buf = bigger;
    }
  }
  const int failed = ferror(f);
  fclose(f);
  if (failed) {
    free(buf);
    errno = EIO;
    return NULL;
  }
  if (buf) buf[n] = 0;
  *len = n;
  return buf;
}

void cbp_csv_free(cbp_csv *csv) {
  for (int r = 0; r < csv->nrows; r++) {
    for (int c = 0; c < csv->ncols; c++) free(csv->rows[r][c]);
    free(csv->rows[r]);
  }
  free(csv->rows);
  free(csv->col);
  memset(csv, 0, sizeof *csv);
}

int cbp_csv_read(const char *path, cbp_csv *csv, char *err, size_t err_len) {
  memset(csv, 0, sizeof *csv);
  size_t len;
  char *text = cbp_read_file(path, &len);
  if (!text) return err_out(err, err_len, "cannot read '%s': %s", path, strerror(errno));
  if (memchr(text, 0, len)) {
    free(text);
    return err_out(err, err_len, "'%s' is not a convbp CSV (binary data)", path);
  }
  size_t pos = 0;
  int ncols = 0;
  char **header = len ? split_record(text, &pos, &ncols) : NULL;
  if (!header) {
    free(text);
    if (ncols < 0) return err_out(err, err_len, "'%s': out of memory reading it", path);
    return err_out(err, err_len, "'%s' is not a convbp CSV (no header)", path);
  }
  int schema = cbp_csv_column_count();
  csv->ncols = ncols;
  csv->col = malloc((size_t)schema * sizeof *csv->col);
  if (!csv->col) {
    free_fields(header, (size_t)ncols);
    free(text);
    return err_out(err, err_len, "'%s': out of memory reading it", path);
  }
  int rc = 0;
  for (int i = 0; i < schema; i++) {
    csv->col[i] = -1;
    for (int c = 0; c < ncols; c++)
      if (!strcmp(header[c], cbp_csv_columns[i])) csv->col[i] = c;
  }
  static const char *const required[] = {"problem", "op", "strategy", "threads", "bind",
                                         "time_median_ms", "status"};
  for (size_t i = 0; i < sizeof required / sizeof required[0] && !rc; i++)
    if (csv->col[cbp_csv_column_index(required[i])] < 0)
      rc = err_out(err, err_len, "'%s' is not a convbp CSV: no column '%s'", path, required[i]);
  int cap = 0, line = 1;
  while (!rc && pos < len) {
    line++;
    int nf;
    char **fields = split_record(text, &pos, &nf);
    if (!fields) {
      rc = nf < 0 ? err_out(err, err_len, "'%s' line %d: out of memory reading it", path, line)
                  : err_out(err, err_len, "'%s' line %d: truncated (a quoted field never ends)",
                            path, line);
      break;
    }
    if (nf == 1 && !fields[0][0]) { /* blank line */
      free_fields(fields, 1);
      continue;
    }
    int cut = pos == len && text[len - 1] != '\n'; /* the last row has no end of line */
    if (nf != ncols || cut) {
      free_fields(fields, (size_t)nf);
      rc = err_out(err, err_len, "'%s' line %d: %s (%d fields, header has %d)", path, line,
                   cut ? "truncated mid-row" : "wrong number of fields", nf, ncols);
      break;
    }
    if (csv->nrows == cap) {
      char ***more = realloc(csv->rows, (size_t)(cap ? 2 * cap : 64) * sizeof *csv->rows);
      if (!more) {
        free_fields(fields, (size_t)nf);
        rc = err_out(err, err_len, "'%s' line %d: out of memory reading it", path, line);
        break;
      }
      csv->rows = more;
      cap = cap ? 2 * cap : 64;
    }
    csv->rows[csv->nrows++] = fields;
  }
  free_fields(header, (size_t)ncols);
  free(text);
  if (rc) cbp_csv_free(csv);
  return rc;
}

int cbp_csv_check_appendable(const cbp_csv *csv, const char *path, char *err, size_t err_len) {
  const int schema = cbp_csv_column_count();
  for (int i = 0; i < schema; i++)
    if (csv->col[i] != i)
      return err_out(err, err_len,
                     "'%s' has another header than this convbp writes (column %d should be '%s'; "
                     "%d columns, this version writes %d): finish it with the convbp that "
                     "started it, or sweep into a new file",
                     path, i + 1, cbp_csv_columns[i], csv->ncols, schema);
  if (csv->ncols != schema)
    return err_out(err, err_len,
                   "'%s' has %d columns, this convbp writes %d: finish it with the convbp that "
                   "started it, or sweep into a new file",
                   path, csv->ncols, schema);
  return 0;
}

int cbp_is_peer(const char *strategy) { return strstr(strategy, "onednn") != NULL; }

const char *cbp_csv_get(const cbp_csv *csv, int row, const char *column) {
  int i = cbp_csv_column_index(column);
  if (i < 0 || csv->col[i] < 0) return "";
  return csv->rows[row][csv->col[i]];
}

/* ---- convbp best ---------------------------------------------------------- */

size_t cbp_timed_rows(const cbp_csv *csv, cbp_timed *rows) {
  size_t n = 0;
  for (int r = 0; r < csv->nrows; r++) {
    if (strcmp(cbp_csv_get(csv, r, "status"), "ok")) continue;
    cbp_timed x = {cbp_csv_get(csv, r, "problem"), cbp_csv_get(csv, r, "op"),
                   cbp_csv_get(csv, r, "strategy"), cbp_csv_get(csv, r, "threads"),
                   cbp_csv_get(csv, r, "bind"),
                   atof(cbp_csv_get(csv, r, "time_median_ms")),
                   atof(cbp_csv_get(csv, r, "time_min_ms")),
                   atof(cbp_csv_get(csv, r, "time_max_ms")),
                   atof(cbp_csv_get(csv, r, "time_cv")),
                   atof(cbp_csv_get(csv, r, "gflops"))};
    if (x.median > 0) rows[n++] = x;
  }
  return n;
}

int cbp_timings_differ(const cbp_timed *a, const cbp_timed *b, double cv_limit) {
  return (a->max < b->min || b->max < a->min) && a->cv <= cv_limit && b->cv <= cv_limit;
}

static int same_group(const cbp_timed *a, const cbp_timed *b) {
  return !strcmp(a->problem, b->problem) && !strcmp(a->op, b->op) &&
         !strcmp(a->threads, b->threads) && !strcmp(a->bind, b->bind);
}

/* The plain loops are named after their op alone ("bpa_direct"); "fwd_direct_blocked"
   and the like are optimized strategies, not the baseline. */
static int is_direct(const char *strategy) {
  static const char *const loops[] = {"fwd_direct", "bpa_direct", "bpw_direct", "mma_bpa_direct",
                                      "mma_bpw_direct"};
  for (size_t i = 0; i < sizeof loops / sizeof loops[0]; i++)
    if (strcmp(strategy, loops[i]) == 0) return 1;
  return 0;
}

typedef struct {
  const char *op, *strategy;
  int wins;
} win_tally;

void cbp_table_row(cbp_table_format fmt, const char *const *cells, int ncells, const int *widths) {
  for (int i = 0; i < ncells; i++) {
    if (fmt == CBP_TABLE_CSV) {
      cbp_csv_write_field(stdout, cells[i], i == ncells - 1);
    } else if (fmt == CBP_TABLE_MARKDOWN) {
      printf("| %s ", cells[i]);
      if (i == ncells - 1) printf("|\n");
    } else {
      printf("%-*s%s", widths[i], cells[i], i == ncells - 1 ? "\n" : "  ");
    }
  }
}

void cbp_table_header(cbp_table_format fmt, const char *const *cells, int ncells, const int *widths) {
  cbp_table_row(fmt, cells, ncells, widths);
  if (fmt != CBP_TABLE_MARKDOWN) return;
  for (int i = 0; i < ncells; i++) printf("|---");
  printf("|\n");
}

int cbp_table_option(const char *cmd, int argc, char **argv, int *i, cbp_table_format *fmt,
                     double *cv_limit) {
  const char *a = argv[*i];
  if (!strcmp(a, "--csv")) *fmt = CBP_TABLE_CSV;
  else if (!strcmp(a, "--markdown")) *fmt = CBP_TABLE_MARKDOWN;
  else if (!strcmp(a, "--noise")) {
    char *end = NULL;
    if (*i + 1 < argc) *cv_limit = strtod(argv[++*i], &end);
    if (!end || *end || !(*cv_limit >= 0)) {
      fprintf(stderr, "convbp %s: --noise needs a number >= 0, got %s%s%s\n", cmd, end ? "'" : "",
              end ? argv[*i] : "nothing", end ? "'" : "");
      return -1;
    }
  } else {
    return 0;
  }
  return 1;
}

int cbp_cmd_best(int argc, char **argv) {
  cbp_table_format fmt = CBP_TABLE_TEXT;
  int estimate = 0;
  double cv_limit = 0.05;
  int nfiles = 0;
  const char **files = calloc((size_t)argc + 1, sizeof *files);
  if (!files) {
    fprintf(stderr, "convbp best: out of memory\n");
    return EXIT_USAGE;
  }
  for (int i = 0; i < argc; i++) {
    const int table_opt = cbp_table_option("best", argc, argv, &i, &fmt, &cv_limit);
    if (table_opt < 0) {
      free(files);
      return EXIT_USAGE;
    } else if (table_opt) {
      continue;
    } else if (!strcmp(argv[i], "--estimate")) {
      estimate = 1;
    } else if (argv[i][0] == '-') {
      fprintf(stderr, "convbp best: unknown option '%s'\n", argv[i]);
      free(files);
      return EXIT_USAGE;
    } else {
      files[nfiles++] = argv[i];
    }
  }
  cbp_csv *csvs = nfiles ? calloc((size_t)nfiles, sizeof *csvs) : NULL;
  if (!csvs) {
    if (nfiles) fprintf(stderr, "convbp best: out of memory\n");
    else fprintf(stderr, "usage: convbp best [--csv|--markdown] [--noise CV] [--estimate] FILE.csv...\n");
    free(files);
    return EXIT_USAGE;
  }
  int rc = 0, loaded = 0;
  size_t total = 0;
  for (int f = 0; f < nfiles; f++) {
    char err[512];
    if (cbp_csv_read(files[f], &csvs[f], err, sizeof err)) {
      fprintf(stderr, "convbp best: %s\n", err);
      rc = EXIT_USAGE;
      break;
    }
    loaded++;
    total += (size_t)csvs[f].nrows;
    /* ESTIMATE's rules depend on the kernel sets (src/plan.c): convbp's, and
       OpenBLAS's, whose small-matrix kernel decides some 1x1 layers.  Say so
       when the file was measured with others than this process runs. */
    char side[CBP_SIDECAR_PATH_MAX], isa[16], blas[256], core[64];
    char *text = NULL;
    if (!cbp_sidecar_path(files[f], side, sizeof side) && cbp_sidecar_load(side, &text)) {
      /* there, but unreadable (or no memory for it): say so, as compare does */
      fprintf(stderr, "convbp best: cannot read the sidecar '%s': %s\n", side, strerror(errno));
      rc = EXIT_USAGE;
      break;
    }
    cbp_sidecar_peak_notes("convbp best", files[f], text);
    if (estimate && text) {
      if (cbp_sidecar_get(text, "isa", isa, sizeof isa) && strcmp(isa, cbp_build_isa()))
        fprintf(stderr,
                "convbp best: note: %s was measured with %s kernels, this build has %s; the "
                "estimate column is this build's ESTIMATE, whose rules differ by kernel set\n",
                files[f], isa, cbp_build_isa());
      if (cbp_sidecar_get(text, "openblas", blas, sizeof blas) && cbp_blas_core(blas, core, sizeof core) &&
          strcmp(core, cbp_blas_core_now()))
        fprintf(stderr,
                "convbp best: note: %s was measured with OpenBLAS's %s kernels, this process runs "
                "its %s; the estimate column is this process's ESTIMATE, whose rules differ by "
                "kernel set (run it with OPENBLAS_CORETYPE=%s for the rules the sweep ran under)\n",
                files[f], core, cbp_blas_core_now(), core);
    }
    free(text);
  }
  cbp_timed *e = rc ? NULL : calloc(total ? total : 1, sizeof *e);
  char *done = rc ? NULL : calloc(total ? total : 1, 1); /* rows already in a group */
  if (!rc && (!e || !done)) {
    fprintf(stderr, "convbp best: out of memory for %zu rows\n", total);
    free(e), free(done);
    e = NULL;
    rc = EXIT_USAGE;
  }
  size_t n = 0;
  for (int f = 0; f < loaded && e; f++) n += cbp_timed_rows(&csvs[f], e + n);
  if (e && n == 0) { /* an empty table would read as "no winner"; say why */
    if (nfiles > 1) fprintf(stderr, "convbp best: no timed row (status ok) in the %d files given\n", nfiles);
    else fprintf(stderr, "convbp best: no timed row (status ok) in '%s'\n", files[0]);
    free(e), free(done);
    e = NULL;
    rc = EXIT_USAGE;
  }
  if (e) {
    /* With --estimate, two more columns: ESTIMATE's pick, and how much slower it
       measured than the fastest of all, peers included, as in the summary. */
    static const char *const head[] = {"problem",  "op",        "thr",      "winner",
                                       "median_ms", "GFLOP/s",  "vs_2nd",   "vs_direct",
                                       "vs_onednn", "verdict",  "estimate", "est_vs_fastest"};
    enum { NC = 12 };
    const int ncols = estimate ? NC : NC - 2;
    int widths[NC] = {7, 7, 3, 24, 10, 8, 7, 9, 9, 10, 24, 14};
    for (size_t i = 0; i < n; i++) /* the problem column fits its longest descriptor */
      if ((int)strlen(e[i].problem) > widths[0]) widths[0] = (int)strlen(e[i].problem);
    cbp_table_header(fmt, head, ncols, widths);
    int est_total = 0, est_agree = 0, est_measured = 0;
    double est_lost_log = 0, est_worst = 1;
    /* Wins per op and strategy, for the summary. */
    win_tally tally[256];
    int ntally = 0;
    for (size_t i = 0; i < n; i++) {
      if (done[i]) continue;
      const size_t none = (size_t)-1;
      size_t best = none, second = none, direct = none, peer = none;
      for (size_t j = i; j < n; j++) {
        if (done[j] || !same_group(&e[i], &e[j])) continue;
        done[j] = 1;
        double t = e[j].median;
        if (is_direct(e[j].strategy) && (direct == none || t < e[direct].median)) direct = j;
        if (cbp_is_peer(e[j].strategy)) { /* the peer is compared with, never crowned */
          if (peer == none || t < e[peer].median) peer = j;
        } else if (best == none || t < e[best].median) {
          second = best;
          best = j;
        } else if (second == none || t < e[second].median) {
          second = j;
        }
      }
      if (best == none) continue; /* only peers measured */
      const char *guess = NULL;
      char est_slower[32] = "-"; /* no estimate */
      if (estimate) {
        /* The ESTIMATE heuristic against the fastest of all (peers included, as plans are). */
        size_t fastest = peer != none && e[peer].median < e[best].median ? peer : best;
        cbp_point pt;
        char perr[256];
        convbp_op op;
        if (!cbp_point_parse(e[best].problem, &pt, perr, sizeof perr) && !convbp_op_parse(e[best].op, &op))
          guess = convbp_plan_estimate(op, &pt.conv, &pt.mma, atoi(e[best].threads));
        est_total++;
        if (guess && !strcmp(guess, e[fastest].strategy)) {
          snprintf(est_slower, sizeof est_slower, "fastest");
          est_agree++;
        } else {
          double guess_t = 0;
          for (size_t j = i; j < n; j++)
            if (same_group(&e[i], &e[j]) && guess && !strcmp(e[j].strategy, guess)) guess_t = e[j].median;
          if (guess_t > 0) {
            const double slower = guess_t / e[fastest].median;
            snprintf(est_slower, sizeof est_slower, "%.2fx", slower);
            est_lost_log += log(slower);
            est_measured++;
            if (slower > est_worst) est_worst = slower;
          } else {
            snprintf(est_slower, sizeof est_slower, "not timed"); /* not in the CSV */
          }
        }
      }
      const cbp_timed *w = &e[best];
      char med[32], gf[32], v2[32] = "-", vd[32] = "-", vp[32] = "-";
      snprintf(med, sizeof med, "%.4g", w->median);
      snprintf(gf, sizeof gf, "%.1f", w->gflops);
      const char *verdict = "clear";
      if (second != (size_t)-1) {
        snprintf(v2, sizeof v2, "%.2fx", e[second].median / w->median);
        if (!cbp_timings_differ(w, &e[second], cv_limit)) verdict = "tie";
      } else {
        verdict = "only one";
      }
      if (direct != (size_t)-1) snprintf(vd, sizeof vd, "%.2fx", e[direct].median / w->median);
      if (peer != (size_t)-1) snprintf(vp, sizeof vp, "%.2fx", e[peer].median / w->median);
      const char *cells[NC] = {w->problem, w->op, w->threads, w->strategy, med, gf, v2, vd, vp,
                               verdict,    guess ? guess : "-", est_slower};
      cbp_table_row(fmt, cells, ncols, widths);
      int t = 0;
      while (t < ntally && (strcmp(tally[t].op, w->op) || strcmp(tally[t].strategy, w->strategy))) t++;
      if (t == ntally && ntally < 256) tally[ntally++] = (win_tally){w->op, w->strategy, 0};
      if (t < 256) tally[t].wins++;
    }
    if (fmt != CBP_TABLE_CSV) {
      printf("\nwins per op:\n");
      for (int op = 0; op < CONVBP_OP_COUNT; op++) {
        const char *name = convbp_op_name((convbp_op)op);
        int any = 0;
        for (int t = 0; t < ntally; t++) {
          if (strcmp(tally[t].op, name)) continue;
          printf("%s %s %d", any ? "," : name, tally[t].strategy, tally[t].wins);
          any = 1;
        }
        if (any) printf("\n");
      }
    }
    if (estimate && est_total)
      printf("\nESTIMATE picks the measured winner (peers included) in %d of %d cases; where it does not,\n"
             "its pick is %.2fx slower (geometric mean of %d measured cases), %.2fx at worst\n",
             est_agree, est_total, est_measured ? exp(est_lost_log / est_measured) : 1.0, est_measured, est_worst);
    free(done);
    free(e);
  }
  for (int f = 0; f < loaded; f++) cbp_csv_free(&csvs[f]);
  free(csvs);
  free(files);
  return rc;
}
