/* convbp compare BASE.csv NEW.csv: did a change make anything faster?
 *
 * Like Google Benchmark's tools/compare.py, for convbp's CSVs: every timed row
 * of BASE that NEW also timed (same problem, op, strategy, threads, bind) gets
 * the speedup base median / new median (above 1: NEW is faster) and a verdict
 * by best's noise rule: "faster" or "slower" only when the two [min, max]
 * ranges are disjoint and neither cv is over --noise; else "same".  The summary
 * gives per op and thread count the geometric mean of the speedups, and the
 * same for the oneDNN peers alone: the peers did not change between the runs,
 * so their mean shows how far the machine itself drifted. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static int key_cmp(const cbp_timed *a, const cbp_timed *b) {
  int c;
  if ((c = strcmp(a->problem, b->problem))) return c;
  if ((c = strcmp(a->op, b->op))) return c;
  if ((c = strcmp(a->strategy, b->strategy))) return c;
  if ((c = strcmp(a->threads, b->threads))) return c;
  return strcmp(a->bind, b->bind);
}

static int key_cmp_void(const void *a, const void *b) { return key_cmp(a, b); }

/* Per (op, threads): the log-speedups of convbp's strategies and of the peers. */
typedef struct {
  const char *op, *threads;
  int rows, faster, slower, peers;
  double log_sum, peer_log_sum;
} summary;

/* A note on stderr when the sidecars name two CPUs; -1 (errno set) when a
   sidecar exists but cannot be read. */
static int machine_note(const char *base, const char *fresh) {
  const char *path[2] = {base, fresh};
  char side[CBP_SIDECAR_PATH_MAX], cpu[2][256];
  char *text[2] = {NULL, NULL};
  int known = 1, rc = 0;
  for (int f = 0; f < 2 && !rc; f++) {
    if (cbp_sidecar_path(path[f], side, sizeof side)) {
      known = 0; /* a path that long has no sidecar sweep could have written */
      continue;
    }
    rc = cbp_sidecar_load(side, &text[f]);
    if (rc) fprintf(stderr, "convbp compare: cannot read the sidecar '%s': %s\n", side, strerror(errno));
    else if (!text[f] || !cbp_sidecar_get(text[f], "cpu", cpu[f], sizeof cpu[f])) known = 0;
  }
  if (!rc && known && strcmp(cpu[0], cpu[1]))
    fprintf(stderr,
            "convbp compare: note: BASE was measured on '%s', NEW on '%s': the speedups include the "
            "change of machine\n",
            cpu[0], cpu[1]);
  free(text[0]);
  free(text[1]);
  return rc;
}

int cbp_cmd_compare(int argc, char **argv) {
  cbp_table_format fmt = CBP_TABLE_TEXT;
  double cv_limit = 0.05;
  const char *files[2];
  int nfiles = 0;
  for (int i = 0; i < argc; i++) {
    const int table_opt = cbp_table_option("compare", argc, argv, &i, &fmt, &cv_limit);
    if (table_opt < 0) return EXIT_USAGE;
    if (table_opt) continue;
    if (argv[i][0] == '-') {
      fprintf(stderr, "convbp compare: unknown option '%s'\n", argv[i]);
      return EXIT_USAGE;
    }
    if (nfiles == 2) {
      fprintf(stderr, "convbp compare: takes two CSVs, BASE and NEW; '%s' is a third\n", argv[i]);
      return EXIT_USAGE;
    }
    files[nfiles++] = argv[i];
  }
  if (nfiles < 2) {
    fprintf(stderr, "usage: convbp compare [--csv|--markdown] [--noise CV] BASE.csv NEW.csv\n");
    return EXIT_USAGE;
  }
  cbp_csv csv[2] = {{0}};
  cbp_timed *rows[2] = {NULL, NULL};
  size_t n[2] = {0, 0};
  summary *sums = NULL;
  int rc = 0;
  for (int f = 0; f < 2 && !rc; f++) {
    char err[512];
    if (cbp_csv_read(files[f], &csv[f], err, sizeof err)) {
      fprintf(stderr, "convbp compare: %s\n", err);
      rc = EXIT_USAGE;
    } else if (!(rows[f] = malloc(((size_t)csv[f].nrows + 1) * sizeof *rows[f]))) {
      fprintf(stderr, "convbp compare: out of memory for %d rows\n", csv[f].nrows);
      rc = EXIT_USAGE;
    } else {
      n[f] = cbp_timed_rows(&csv[f], rows[f]);
    }
  }
  /* One summary per (op, threads) at most; a BASE row starts at most one. */
  if (!rc && !(sums = calloc(n[0] + 1, sizeof *sums))) {
    fprintf(stderr, "convbp compare: out of memory for %zu rows\n", n[0]);
    rc = EXIT_USAGE;
  }
  if (!rc) {
    /* NEW sorted by key, looked up by every BASE row in BASE's order. */
    qsort(rows[1], n[1], sizeof *rows[1], key_cmp_void);
    size_t common = 0;
    for (size_t i = 0; i < n[0]; i++) common += bsearch(&rows[0][i], rows[1], n[1], sizeof *rows[1], key_cmp_void) != NULL;
    if (common == 0) {
      fprintf(stderr, "convbp compare: no timed row (status ok) of '%s' is timed in '%s' too\n", files[0],
              files[1]);
      rc = EXIT_USAGE;
    }
  }
  if (!rc && machine_note(files[0], files[1])) rc = EXIT_USAGE;
  if (!rc) {
    static const char *const head[] = {"problem", "op",     "strategy", "thr",
                                       "base_ms", "new_ms", "speedup",  "verdict"};
    enum { NC = 8 };
    int widths[NC] = {7, 7, 24, 3, 10, 10, 8, 7};
    for (size_t i = 0; i < n[0]; i++)
      if ((int)strlen(rows[0][i].problem) > widths[0]) widths[0] = (int)strlen(rows[0][i].problem);
    cbp_table_header(fmt, head, NC, widths);
    int nsums = 0;
    size_t only_base = 0;
    for (size_t i = 0; i < n[0]; i++) {
      const cbp_timed *b = &rows[0][i];
      const cbp_timed *w = bsearch(b, rows[1], n[1], sizeof *rows[1], key_cmp_void);
      if (!w) {
        only_base++;
        continue;
      }
      const double speedup = b->median / w->median;
      const char *verdict = !cbp_timings_differ(b, w, cv_limit) ? "same" : speedup > 1 ? "faster" : "slower";
      char bm[32], nm[32], sp[32];
      snprintf(bm, sizeof bm, "%.4g", b->median);
      snprintf(nm, sizeof nm, "%.4g", w->median);
      snprintf(sp, sizeof sp, "%.3fx", speedup);
      const char *cells[NC] = {b->problem, b->op, b->strategy, b->threads, bm, nm, sp, verdict};
      cbp_table_row(fmt, cells, NC, widths);
      int s = 0;
      while (s < nsums && (strcmp(sums[s].op, b->op) || strcmp(sums[s].threads, b->threads))) s++;
      if (s == nsums) sums[nsums++] = (summary){.op = b->op, .threads = b->threads};
      if (cbp_is_peer(b->strategy)) {
        sums[s].peers++;
        sums[s].peer_log_sum += log(speedup);
      } else {
        sums[s].rows++;
        sums[s].log_sum += log(speedup);
        sums[s].faster += !strcmp(verdict, "faster");
        sums[s].slower += !strcmp(verdict, "slower");
      }
    }
    if (fmt != CBP_TABLE_CSV) {
      printf("\nspeedup of NEW over BASE (geometric mean of base/new medians; above 1: NEW is faster)\n");
      printf("%-8s %-3s  %5s  %8s  %6s  %6s  %s\n", "op", "thr", "rows", "geomean", "faster", "slower",
             "peers (the machine's drift)");
      for (int s = 0; s < nsums; s++) {
        char g[32] = "-", pg[32] = "-";
        if (sums[s].rows) snprintf(g, sizeof g, "%.3fx", exp(sums[s].log_sum / sums[s].rows));
        if (sums[s].peers) snprintf(pg, sizeof pg, "%.3fx over %d", exp(sums[s].peer_log_sum / sums[s].peers), sums[s].peers);
        printf("%-8s %-3s  %5d  %8s  %6d  %6d  %s\n", sums[s].op, sums[s].threads, sums[s].rows, g,
               sums[s].faster, sums[s].slower, pg);
      }
      size_t only_new = 0; /* NEW's rows whose key BASE lacks (BASE sorted now: printed) */
      qsort(rows[0], n[0], sizeof *rows[0], key_cmp_void);
      for (size_t i = 0; i < n[1]; i++)
        only_new += bsearch(&rows[1][i], rows[0], n[0], sizeof *rows[0], key_cmp_void) == NULL;
      if (only_base || only_new)
        printf("\n%zu timed row(s) only in BASE, %zu only in NEW (not compared)\n", only_base, only_new);
    }
  }
  for (int f = 0; f < 2; f++) {
    free(rows[f]);
    cbp_csv_free(&csv[f]);
  }
  free(sums);
  return rc;
}
