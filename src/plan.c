/* Plans and wisdom: the FFTW planner, for convolution backward.
 *
 * A plan is a strategy chosen for (op, problem, threads) and held prepared.
 * ESTIMATE applies the rules in estimate() below, drawn from the committed
 * sweeps in results/ (see README); MEASURE times every candidate FFTW-style
 * (doubling the repetitions until a run takes 10 ms, best of three) after it
 * passed verification against the reference, and records the winner as wisdom.
 *
 * Wisdom file, text:
 *   convbp-wisdom 1
 *   machine <signature>
 *   entry <op> <threads> <strategy> <canonical descriptor>
 *   ...
 *   end <number of entries>
 * The trailing count catches truncation; import parses and checks every line
 * before it takes any, so a bad file changes nothing. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "internal.h"

#define WISDOM_MAGIC "convbp-wisdom"
#define WISDOM_VERSION 1

typedef struct {
  convbp_op op;
  int threads;
  char strategy[64];
  char desc[160];
} wisdom_entry;

/* The process-wide wisdom (FFTW's model); every access holds the lock. */
static pthread_mutex_t wisdom_lock = PTHREAD_MUTEX_INITIALIZER;
static wisdom_entry *wisdom;
static int wisdom_n, wisdom_cap;

struct convbp_plan {
  convbp_prepared *pr;
  const char *strategy;
};

static int problem_desc(convbp_op op, const convbp_conv *conv, const convbp_mma *mma, char *buf,
                        size_t len) {
  return convbp_op_is_mma(op) ? convbp_mma_format(mma, NULL, buf, len)
                              : convbp_conv_format(conv, NULL, buf, len);
}

/* Machine signature: CPU model, online CPUs, library version. */
static void machine_signature(char *buf, size_t len) {
  char model[128] = "unknown";
  FILE *f = fopen("/proc/cpuinfo", "r");
  if (f) {
    char line[256];
    while (fgets(line, sizeof line, f))
      if (!strncmp(line, "model name", 10) && strchr(line, ':')) {
        char *v = strchr(line, ':') + 1;
        while (*v == ' ') v++;
        v[strcspn(v, "\n")] = 0;
        snprintf(model, sizeof model, "%s", v);
        break;
      }
    fclose(f);
  }
  snprintf(buf, len, "cpu=%s;cpus=%ld;convbp=%s", model, sysconf(_SC_NPROCESSORS_ONLN),
           CONVBP_VERSION);
}

/* Room for `need` entries, so that the adds after it cannot fail half-way. */
static int wisdom_reserve_locked(int need) {
  if (need <= wisdom_cap) return CONVBP_OK;
  if (need > INT_MAX / 2) return CONVBP_ERR_NOMEM; /* the doubling below would overflow */
  int cap = wisdom_cap ? wisdom_cap : 32;
  while (cap < need) cap *= 2;
  wisdom_entry *w = realloc(wisdom, (size_t)cap * sizeof *w);
  if (!w) return CONVBP_ERR_NOMEM;
  wisdom = w;
  wisdom_cap = cap;
  return CONVBP_OK;
}

static int wisdom_add_locked(const wisdom_entry *e) {
  for (int i = 0; i < wisdom_n; i++)
    if (wisdom[i].op == e->op && wisdom[i].threads == e->threads && !strcmp(wisdom[i].desc, e->desc)) {
      wisdom[i] = *e;
      return CONVBP_OK;
    }
  int st = wisdom_reserve_locked(wisdom_n + 1);
  if (!st) wisdom[wisdom_n++] = *e;
  return st;
}

static const char *wisdom_lookup(convbp_op op, int threads, const char *desc) {
  const char *found = NULL;
  pthread_mutex_lock(&wisdom_lock);
  for (int i = 0; i < wisdom_n && !found; i++)
    if (wisdom[i].op == op && wisdom[i].threads == threads && !strcmp(wisdom[i].desc, desc))
      found = cbp_strategy_lookup(wisdom[i].strategy) ? cbp_strategy_lookup(wisdom[i].strategy)->name : NULL;
  pthread_mutex_unlock(&wisdom_lock);
  return found;
}

void convbp_wisdom_forget(void) {
  pthread_mutex_lock(&wisdom_lock);
  free(wisdom);
  wisdom = NULL;
  wisdom_n = wisdom_cap = 0;
  pthread_mutex_unlock(&wisdom_lock);
}

int convbp_wisdom_count(void) {
  pthread_mutex_lock(&wisdom_lock);
  int n = wisdom_n;
  pthread_mutex_unlock(&wisdom_lock);
  return n;
}

int convbp_wisdom_export(const char *path) {
  if (!path) return CONVBP_ERR_ARG;
  char tmp[4096], sig[256];
  if (snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid()) >= (int)sizeof tmp) return CONVBP_ERR_ARG;
  FILE *f = fopen(tmp, "w");
  if (!f) return CONVBP_ERR_IO;
  machine_signature(sig, sizeof sig);
  pthread_mutex_lock(&wisdom_lock);
  fprintf(f, "%s %d\nmachine %s\n", WISDOM_MAGIC, WISDOM_VERSION, sig);
  for (int i = 0; i < wisdom_n; i++)
    fprintf(f, "entry %s %d %s %s\n", convbp_op_name(wisdom[i].op), wisdom[i].threads,
            wisdom[i].strategy, wisdom[i].desc);
  fprintf(f, "end %d\n", wisdom_n);
  pthread_mutex_unlock(&wisdom_lock);
  int bad = ferror(f) != 0;
  bad |= fclose(f) != 0;
  if (bad || rename(tmp, path)) {
    remove(tmp);
    return CONVBP_ERR_IO;
  }
  return CONVBP_OK;
}

static int wisdom_fail(char *err, size_t len, const char *fmt, ...) {
  if (err && len) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, len, fmt, ap);
    va_end(ap);
  }
  return CONVBP_ERR_WISDOM;
}

int convbp_wisdom_import(const char *path, char *err, size_t err_len) {
  if (!path) return CONVBP_ERR_ARG;
  FILE *f = fopen(path, "r");
  if (!f) {
    if (err && err_len) snprintf(err, err_len, "cannot read wisdom '%s': %s", path, strerror(errno));
    return CONVBP_ERR_IO;
  }
  wisdom_entry *entries = NULL;
  int n = 0, cap = 0, lineno = 0, ended = 0, st = CONVBP_OK;
  char line[512], sig[256];
  machine_signature(sig, sizeof sig);
  while (!st && fgets(line, sizeof line, f)) {
    lineno++;
    if (!strchr(line, '\n') && !feof(f)) {
      st = wisdom_fail(err, err_len, "%s:%d: line too long", path, lineno);
      break;
    }
    line[strcspn(line, "\n")] = 0;
    if (ended) {
      st = wisdom_fail(err, err_len, "%s:%d: text after 'end'", path, lineno);
    } else if (lineno == 1) {
      int version, used = 0;
      if (sscanf(line, WISDOM_MAGIC " %d%n", &version, &used) != 1 || line[used])
        st = wisdom_fail(err, err_len, "'%s' is not a convbp wisdom file", path);
      else if (version != WISDOM_VERSION)
        st = wisdom_fail(err, err_len, "'%s' is wisdom version %d; this convbp reads version %d", path, version, WISDOM_VERSION);
    } else if (lineno == 2) {
      if (strncmp(line, "machine ", 8) || strcmp(line + 8, sig))
        st = wisdom_fail(err, err_len, "'%s' was measured on another machine or convbp version ('%s', here '%s')", path,
                         strncmp(line, "machine ", 8) ? line : line + 8, sig);
    } else if (!strncmp(line, "end ", 4)) {
      char *endp;
      long count = strtol(line + 4, &endp, 10);
      if (*endp || count != n) st = wisdom_fail(err, err_len, "%s:%d: 'end' says %s entries, the file has %d", path, lineno, line + 4, n);
      ended = 1;
    } else {
      wisdom_entry e;
      char opname[16], desc[200], strategy[64];
      int used = 0;
      memset(&e, 0, sizeof e);
      if (sscanf(line, "entry %15s %d %63s %199s%n", opname, &e.threads, strategy, desc, &used) != 4 || line[used]) {
        st = wisdom_fail(err, err_len, "%s:%d: malformed line '%s'", path, lineno, line);
        break;
      }
      const cbp_strategy *s = cbp_strategy_lookup(strategy);
      convbp_conv conv;
      convbp_mma mma;
      char perr[160];
      if (convbp_op_parse(opname, &e.op)) {
        st = wisdom_fail(err, err_len, "%s:%d: unknown op '%s'", path, lineno, opname);
      } else if (!s) {
        st = wisdom_fail(err, err_len, "%s:%d: unknown strategy '%s'", path, lineno, strategy);
      } else if (s->op != e.op) {
        st = wisdom_fail(err, err_len, "%s:%d: strategy '%s' does not compute %s", path, lineno, strategy, opname);
      } else if (e.threads < 1) {
        st = wisdom_fail(err, err_len, "%s:%d: threads must be >= 1", path, lineno);
      } else if (convbp_op_is_mma(e.op) ? convbp_mma_parse(desc, &mma, NULL, 0, perr, sizeof perr)
                                        : convbp_conv_parse(desc, &conv, NULL, 0, perr, sizeof perr)) {
        st = wisdom_fail(err, err_len, "%s:%d: %s", path, lineno, perr);
      } else {
        snprintf(e.strategy, sizeof e.strategy, "%s", strategy);
        problem_desc(e.op, &conv, &mma, e.desc, sizeof e.desc);
        if (n == cap) {
          wisdom_entry *ne = realloc(entries, (size_t)(cap = cap ? 2 * cap : 32) * sizeof *ne);
          if (!ne) st = CONVBP_ERR_NOMEM;
          else entries = ne;
        }
        if (!st) entries[n++] = e;
      }
    }
  }
  if (!st && ferror(f)) st = wisdom_fail(err, err_len, "error reading '%s'", path);
  if (!st && lineno < 2) st = wisdom_fail(err, err_len, "'%s' is not a convbp wisdom file (too short)", path);
  if (!st && !ended) st = wisdom_fail(err, err_len, "'%s' is truncated: no 'end' line", path);
  fclose(f);
  if (!st) {
    /* Room for all first: an import is taken whole or not at all. */
    pthread_mutex_lock(&wisdom_lock);
    st = wisdom_reserve_locked(wisdom_n + n);
    for (int i = 0; i < n && !st; i++) st = wisdom_add_locked(&entries[i]);
    pthread_mutex_unlock(&wisdom_lock);
  }
  free(entries);
  return st;
}

/* ESTIMATE: rules of thumb read off the committed resnet50 sweep (README,
   "Choosing a strategy"); they name convbp's own strategies only (oneDNN is the
   peer to compare with, not a dependency to plan around):
   - a convolution below 2 MFLOP with AVX-512 kernels: the blocked strategy
     of the op when it is dense enough for the engine's tiles (small_dense:
     a kernel of more than one tap that fits in the image, C and K of 8 or
     more, strides of at most 2, 0.25 MFLOP or more; BPW with C or K below 8
     by the fifth rule below), else the GEMM.  Until
     2026-12-06 all of them went to the GEMM, and ESTIMATE picked the
     measured winner on 5-6 of the main job's 24 such points (the small
     suite, results/small_zen4_*), 1.35-1.37x slower than it on average,
     and on 30-32 of the edge suite's 42 (edge_zen4*, edge_zen5); the rule
     picks it on 22-23 and 36-38, 1.00-1.02x slower on average.  The GEMM
     keeps the 1x1 layers, C = 3 or 5 (odd_stem, primes), stride 4
     (remainder_3_stride_4), a 5x5 kernel over a 3x3 image and 0.15 MFLOP
     (remainder_1), where it was 1.04-3.96x faster; the blocked strategies
     took the 3x3 layers of 8-32 channels at strides 1-2 (small_3x3,
     small_s2, small_dilated, dilated_strided) by 1.1-2.3x.  Without
     AVX-512 kernels, untimed there, the GEMM as before.  Since 2026-12-06
     (second rule, from the 128-layer grid results/small_grid_zen4.csv):
     a padded 1x1 is dense too (the GEMMs copy it, the blocked engine won
     254 of its 256 FWD and BPW points), and BPA goes to the GEMM at C = 8
     under K > C and where stride phases split the kernel below C = 32 (the
     GEMM won all 30 such C = 8 points, by 1.04-2.6x, and 15 of 16 at C = 16
     and stride 2); ESTIMATE picks the winner on 601 of that grid's 768
     points, not 296, and the out-of-sample check is results/README.md's.
     After half vectors (e3fbc5a: C = 8 on AVX2's kernels on a Zen 4) the
     GEMM still won 17 of the 22 such 3x3 points of 0.25-2 MFLOP in
     results/small_grid2_zen4_half.csv, all 11 on one thread.  Since
     2026-12-06 (third rule, results/fwd_strided_zen4*.csv) FWD also takes
     strides above 2, a strided 1x1 and, with K >= 32, a kernel larger than
     the image.  On grids of such layers below 2 MFLOP the rule picks the
     faster of the two on 122 of 144 points at strides 3-4, 50 of 72 strided
     1x1 and 62 of 72 kernels larger than the image (at K = 16 the GEMM won
     those by up to 1.71x); the rules before picked it on 52, 22 and 42.
     Since 2026-12-07 (fourth rule, results/bp_strided_zen4*.csv) BPW also
     takes strides above 2, and BPA (C >= 32) and BPW a kernel larger than
     the image, once N*P*Q times all taps over taps inside reaches 40 (a
     flat optimum from 40 to 48; at 32 remainder_3_stride_4's BPW, 38, went
     to the engine, which lost it in every edge run); and BPW a strided 1x1
     with K or C below 16.  BPW right on 119 of 144 points at strides 3-4,
     56 of 72 kernels larger than the image and 59 of 72 strided 1x1 (81, 34
     and 23 before), BPA on 62 of 72 kernels larger than the image (52);
     BPA at strides 3-4 stays with the GEMM, which won 112 of 144.
     Since 2026-12-07 (fifth rule, from the random sweep
     results/random_zen4.csv, where BPW with C or K below 8 went to the GEMM
     and the engine won 37 of 56 such points by up to 3.7x) BPW with C or K
     below 8 is dense from N*P*Q = 16 (8-16 flat), but for 49 taps or more
     over C < 8 (odd_stem, where the GEMM won every edge run); out of
     sample, 196 such points of --random 400 --seed 6: right on 168
     instead of 46;
   - with AVX-512 kernels, FWD with K <= 4 and C >= 16, or K < 8 and C >=
     32 -> fwd_dot_blocked, but for an unpadded 1x1 at stride 1 (since
     2026-12-07, first K <= 4 and C >= 32: on a 3x3 grid,
     C = 3-256 x K = 1-16, it beat the engine and the GEMM on every such
     point, by 1.29-3.51x on one thread; out of sample, the 226 problems
     with K <= 4 and C >= 16 of --random 3000 --seed 48,
     results/fwd_dot_zen4_random_seed48.csv: faster than both on 329 of 366
     points with C >= 32, geometric mean 1.6x, losing most to the GEMM on
     unpadded 1x1 layers, by up to 2.4x; at C = 16-31 on 45 of 86, 1.07x;
     --seed 49, drawn after the rule: 317 of the 358 points it takes, and
     ESTIMATE right on 347 of 438 instead of 64; after 8cb81eb made it
     faster, on the 467 problems with K <= 8 and C >= 8 of --seed 50,
     results/fwd_dot_zen4_random_seed50.csv, it beat both on 292 of 306
     points with K <= 4 and C >= 32, 90 of 110 at C = 16-31, 151 of 186 at K =
     5-7 and C >= 32, 43 of 92 at K = 8 and 45 of 86 at C = 8-15, hence the
     wider rule: ESTIMATE right on 672 of 934 instead of 476 (198 before
     the rule); out of sample, --seed 51, results/
     fwd_dot_zen4_random_seed51.csv: faster than both on 492 of the 582
     points the rule takes, 123 of the 326 it leaves; ESTIMATE right on 640
     of 924 instead of 525);
   - with AVX-512 kernels, FWD with C <= 4 and K >= 8 under a kernel whose
     windows overlap, with at least 70% of its FLOPs inside the input ->
     fwd_im2col_blocked (since 2026-12-07: on 3x3, 5x5 s2 and 7x7 s2 layers
     of C = 1-4 into K = 16-64, results/im2col_blocked_zen4_grid.csv, it
     beat the other convbp strategies at C = 1-2, 1.07-1.15x, and tied at
     C = 3-4; on the 281 problems with C <= 4 and more than one tap of
     --random 3000 --seed 53, results/im2col_blocked_zen4_random_seed53.csv,
     convbp's fastest strategy picked on 255 of 562 points instead of 160,
     the picks' total time 1.08x the fastest instead of 1.19x; at K < 8 it
     was the fastest on 4 of 90 points, with over 30% of the FLOPs in the
     padding on 32 of 129, taking up to 4.3x the time);
   - with AVX-512 kernels, BPA with under 30% of its FLOPs inside the input
     (convbp_conv_flops_nopad) -> bpa_stride_phase_blocked, ahead of every
     other rule for convolutions: the small layers', that of strides above
     2 and that of folded BPA (since 2026-12-07: in the random sweeps of
     seeds 5 and 7 the engine beat the GEMM on all 26 such points; out of
     sample, 168 problems of --random 3000 --seed 8 with under 30% inside,
     results/random_zen4_pad_seed8.csv: the engine faster on 264 of 336
     points, geometric mean 2.38x, and ESTIMATE right on 207 instead of 149;
     folded, where the GEMM of seed 8's misses had been up to 14x slower, 57
     problems of --random 20000 --seed 9, results/
     random_zen4_pad_fold_seed9.csv: the engine faster on 84 of 114 points,
     geometric mean 1.89x);
   - patches that do not overlap (stride >= the kernel's extent), FWD with
     C < 8 and BPW with C < 16 and 128 taps or more or gaps between the
     patches -> the GEMM strategy (since 2026-12-07, results/patch_zen4*.csv:
     C = 3 and 8, patches 4-16 wide at strides 4-16, K 96-768: the GEMM
     ahead of the engine by 1.08-1.44x for FWD at C = 3 (geometric means per
     patch shape), by 1.01-1.24x for BPW at C = 3 and 8 with 16x16 patches
     or gaps, the engine by 1.03-1.33x for FWD at C = 8; ESTIMATE right on
     173 of 216 FWD points instead of 129, 157 of 216 BPW instead of 113;
     on patches of 2x2, 7x7 and 14x14 at C = 1-12, FWD 61 of 96 instead of
     49; the BPW rule without the taps' condition lost 30 points there, so
     that grid shaped it, 63 -> 69);
   - FWD and BPA with AVX-512 kernels read patches that tile the width (more
     than one kernel row) folded, as their blocked strategies run them: W/S
     pixels of S*C channels under R taps (cbp_fold_width), so the patch rule
     above counts S*C; a folded BPA goes to the GEMM unless S*C fills whole
     vectors (since 2026-12-07, results/patch_zen4_fold_*.csv: on 84 patch
     layers at their own stride, C = 1-12 and S = 2-16, the folded engine
     won BPA where S*C was 32, 48, 64 or 128 (GEMM/engine 1.14-1.43x,
     geometric means per shape), lost or tied at 2-28 and 42-84 (0.93-2.44x
     its time) and won at 168 (1.10x), left to the GEMM until the rule
     below; FWD's engine won or tied from S*C = 8 up; ESTIMATE right on 261
     of 336 points instead of 153, ViT-B/16's FWD and BPA and ConvNeXt's
     stem FWD among them);
     from S*C = 128 on a folded BPA follows the rules for any layer,
     part-empty last vector or not (since 2026-12-07: in the random sweep
     results/random_zen4.csv the engine won 9 of 10 such points, by up to
     3.85x; on 48 folded layers drawn for it, S*C = 132-1188, 57 of the 72
     points without whole vectors, so ESTIMATE right on 84 of 96 instead of
     36);
   - MMA, and other convolutions below 2 MFLOP:
     the GEMM strategy of the op; except MMA BPA from 2 MFLOP with AVX-512
     kernels -> mma_bpa_conv1x1_blocked, which won 10 of the mma suite's 12
     BPA points on the Zen 5 EPYC (results/mma_zen5_conv1x1.csv; the GEMM
     won bert_ffn_up's two by 1.01-1.05x); and MMA BPW with N >= 1024 ->
     mma_bpw_conv1x1_blocked: its transpose of X moves M*K floats, 1/N of
     the multiply-adds, and it won where N >= 1024 (gpt_proj, bert_ffn_up,
     square_1k: 1.00-1.21x over the GEMM, two runs) and lost every point
     with N <= 1000 (bert_qkv, bert_ffn_down, resnet_fc, small_fc: 0.63-1.00x);
     and MMA BPW with M >= 64 whose BPW tiles run in place (no transpose,
     cbp_mma_bpw_in_place on the threads it will run) -> the same: Zen 5,
     medians of 3 rounds, 14 such points (1 and 2 threads) with N < 1024 and
     M = 64-2048: the GEMM's time over its own 1.00-1.35x on 13, small_fc
     0.99x on one thread; with M = 32 the GEMM won 5 of 6 (N = 256, K =
     128-2048: 0.76-0.97x) and resnet_fc (32 x 1000 x 2048) both (0.96x);
     since the tiles run in blocks of M, in place with long reductions too:
     12 points (M = 2048-16384, N = 64-512, K = 32-512), the GEMM's time over
     theirs 1.01-3.3x (medians of 4 rounds); and since X^T goes in chunks
     (cbp_mma_bpw_chunk_rows), MMA BPW with M >= 64 in chunks -> the same:
     Zen 4, medians of 3 rounds, 1 / 2 threads, the GEMM's time over its
     own 1.03-1.07x on the 10 points with N < 1024 (bert_qkv 1.05x / 1.03x,
     bert_ffn_down 1.06x / 1.05x, 512 x 512 x 2048, 768 x 768 x 2304, 500 x
     700 x 3001), and 0.99-1.11x on all 24 points of the 12 shapes in chunks
     (results/mma_bpw_chunks_zen4_problems.txt);
   - BPA: the stem (C < 16: a vector of 16 input channels would be mostly
     empty) -> bpa_scatter_gemm; a 1x1 at stride 1 that does not widen (K <=
     C) -> bpa_scatter_gemm unless it has very few pixels (N*P*Q <= 1024), and
     a strided 1x1 with many pixels (N*P*Q > 4096); everything else ->
     bpa_stride_phase_blocked.  Until 2026-12-03 only the narrowing 1x1 with
     N*P*Q <= 4096 went to the GEMM; the latest runs of the three AVX-512
     machines (resnet50_xeon167_cblocks, _grouped, _zen4_stream, _sidecar,
     _zen5_run11, _run12, _run13) had the GEMM ahead at res3b_branch2a (6272
     pixels) on 11 of 12 points, by up to 1.20x (and on both at N = 32,
     resnet50_n32_zen5), and the blocked engine ahead at res5b_branch2a (392)
     on 14 of 14, by 1.00-1.14x.  The widening few-pixel layers (res4a_branch2c,
     res5a_branch2c: a long reduction over K into few output channels) went to
     the GEMM until the latest runs of all three AVX-512 machines had the
     blocked engine ahead on 11 of their 12 points, by 1.03-1.30x
     (resnet50_xeon167_cblocks, _zen4_sidecar, _zen5_run2: ESTIMATE right on
     4, 4 and 2 more of 80);
   - BPW: a 1x1 with N*P*Q <= 4096 -> bpw_im2col_gemm (K split over threads),
     and so does a strided 1x1 whose rows that GEMM reads in place
     (cbp_strided_1x1_block, K x C x Q small enough: res3a_branch1 and
     res3a_branch2a; 61 of 80 points of resnet50_xeon167_inplace.csv right
     instead of 57); everything else -> bpw_direct_blocked;
   - BPA and BPW: an unpadded 1x1 at stride 1 whose C x K is small enough for
     OpenBLAS's small-matrix kernel (cbp_small_gemm_rows: res2a_branch2a,
     res2b_branch2a) -> the GEMM strategy (model-167 Xeon, after the GEMMs went
     in such slices: 60 of 80 resnet50 points right instead of 54);
   - FWD: with AVX-512 kernels a strided 1x1 -> fwd_direct_blocked (the
     GEMM gathers its pixels first: on the Zen 4 the engine was the faster
     on all 12 of resnet50's strided 1x1 points, by 1.12-1.47x where
     ESTIMATE had picked the GEMM and by 1.00-1.02x (a tie) at
     res3a_branch1, results/fwd_strided_zen4_resnet50.csv;
     the Zen 5's committed FWD runs agree but for res3a_branch1, where the
     GEMM won 2 runs of 3 by 1.06-1.13x);
     a 1x1 with N*P*Q <= 4096, or widening (K > C) -> fwd_im2col_gemm
     (one sgemm, no im2col; widening at stride 1 too since 2026-12-03: Zen 5
     EPYC, medians of 3 runs, GEMM / blocked time at 1 / 2 threads,
     res2a_branch1 0.955 / 0.964, res3a_branch2c 0.989 / 0.937,
     res4a_branch2c 0.957 / 0.970, and at N = 32 (resnet50_n32_zen5) 0.91 /
     0.81, 0.85 / 0.74 and 0.99 / 1.03), everything else ->
     fwd_direct_blocked;
   - without AVX-512 kernels (AVX2 or portable; cbp_direct_isa_get()->vl < 16),
     every 1x1 BPA and BPW, and the stem's BPW -> the GEMM strategy: OpenBLAS's
     Haswell sgemm won those points against the engine's AVX2 tiles (16
     channels wide, where AVX-512's are 64) in both resnet50 runs on a Zen 3
     EPYC (resnet50_zen3.csv and _6x2.csv: BPW by 1.02-1.78x, BPA by up to
     1.54x); the 3x3 layers stay with the blocked strategies, which won most
     of them there. */
/* A convolution below 2 MFLOP whose taps and channels fill the engine's
   tiles well enough to beat the GEMM (see above). */
static int small_dense(convbp_op op, const cbp_problem *pb) {
  const convbp_conv *c = &pb->conv;
  if (cbp_direct_isa_get()->vl < 16) return 0;
  /* BPW with C or K below 8: dW is as thin a GEMM output as it is an engine
     tile, and the GEMM first gathers the pixels the engine reads in place;
     the engine won once its reduction, N*P*Q, reaches 16 pixels, but for a
     stem's 49 taps or more over C < 8 (odd_stem), R*S slices of K x C that
     the GEMM reduces as one. */
  if (op == CONVBP_BPW && (c->c < 8 || c->k < 8))
    return (long)c->n * pb->p * pb->q >= 16 && !(c->c < 8 && c->r * c->s >= 49);
  if (c->c < 8 || c->k < 8) return 0;
  const int fwd = op == CONVBP_FWD, bpw = op == CONVBP_BPW;
  const int strided = c->stride_h > 1 || c->stride_w > 1;
  const int wide_stride = c->stride_h > 2 || c->stride_w > 2;
  const int clipped = c->r > c->h || c->s > c->w; /* a kernel larger than the image */
  /* BPA at strides above 2: a 3x3's stride phases hold one tap each, 1x1
     convolutions the engine's tiles fill worse than the GEMM does. */
  if (op == CONVBP_BPA && wide_stride) return 0;
  /* BPA's engine writes C channels a vector: C = 8 over a longer reduction
     (K > C) leaves half of each vector empty, and stride phases that split a
     kernel (dilation not a multiple of the stride) cut it into convolutions
     of 1-4 taps, each too small to fill a tile below 32 channels. */
  if (op == CONVBP_BPA) {
    const int split = (c->stride_h > 1 && c->r > 1 && c->dil_h % c->stride_h) ||
                      (c->stride_w > 1 && c->s > 1 && c->dil_w % c->stride_w);
    if ((c->c < 16 && c->k > c->c) || (split && c->c < 32)) return 0;
  }
  /* A strided 1x1 is no GEMM operand in place: im2col gathers its pixels
     first, which the engine reads in place.  FWD takes it; BPW where dW (K x
     C) has a side below 16, too thin for the GEMM's tiles.  A padded 1x1 the
     GEMMs copy like any kernel, zero border included. */
  if (c->r == 1 && c->s == 1)
    return c->pad_h || c->pad_w || (strided && (fwd || (bpw && (c->k < 16 || c->c < 16))));
  if (fwd) {
    /* FWD's engine reads a strided input in place and skips the taps that
       fall in the padding; the GEMM's im2col copies every pixel a stride
       apart and writes those taps' zeros.  So FWD takes any stride, and a
       kernel larger than the image when K fills two vectors or more (at
       K = 16 the one-vector tiles lost that case to the GEMM). */
    if (clipped && c->k < 32) return 0;
  } else if (wide_stride || clipped) {
    /* BPW at strides above 2, and BPA and BPW with a kernel larger than
       the image: the engine once the GEMM's rows N*P*Q, times its waste on
       padding zeros (all taps over those inside the image), reach 40; and
       BPA's output C fills two vectors, as FWD's K must. */
    const double inside = convbp_conv_flops_nopad(c);
    if (inside > 0 && (double)c->n * pb->p * pb->q * convbp_conv_flops(c) / inside < 40) return 0;
    if (op == CONVBP_BPA && c->c < 32) return 0;
  }
  return convbp_conv_flops(c) >= 0.25e6;
}

/* A kernel's extent along one axis: (taps - 1) * dilation + 1 input pixels. */
static int64_t extent(int taps, int dil) { return (int64_t)(taps - 1) * dil + 1; }

/* Whether neighbouring windows share input pixels along either axis (a
   stride below the kernel's extent); a 1x1 kernel's never do. */
static int windows_overlap(const convbp_conv *c) {
  return c->stride_h < extent(c->r, c->dil_h) || c->stride_w < extent(c->s, c->dil_w);
}

const char *convbp_plan_estimate(convbp_op op, const convbp_conv *conv, const convbp_mma *mma,
                                 int threads) {
  cbp_problem pb;
  if (convbp_op_is_mma(op) ? cbp_problem_mma(&pb, op, mma) : cbp_problem_conv(&pb, op, conv))
    return NULL;
  static const char *const gemm[CONVBP_OP_COUNT] = {"fwd_im2col_gemm", "bpa_scatter_gemm",
                                                    "bpw_im2col_gemm", "mma_bpa_gemm", "mma_bpw_gemm"};
  static const char *const blocked[3] = {"fwd_direct_blocked", "bpa_stride_phase_blocked",
                                         "bpw_direct_blocked"};
  /* the kernel set, read once: every rule below that depends on it */
  const int vl = cbp_direct_isa_get()->vl, avx512 = vl >= 16;
  if (convbp_op_is_mma(op) && convbp_mma_flops(mma) >= 2e6 && avx512) {
    if (op == CONVBP_MMA_BPA) return "mma_bpa_conv1x1_blocked";
    const char *bpw = "mma_bpw_conv1x1_blocked";
    const int t = cbp_strategy_threads(cbp_strategy_lookup(bpw), &pb, threads);
    if (mma->n >= 1024 ||
        (mma->m >= 64 && (cbp_mma_bpw_in_place(&pb, t) || cbp_mma_bpw_chunk_rows(&pb, t))))
      return bpw;
  }
  if (convbp_op_is_mma(op)) return gemm[op];
  /* FWD into at most 4 output channels from 16 or more, or into fewer than
     8 from 32 or more: fwd_dot_blocked's vectors run along C, where the
     engine's over K would hold K sums of 16 (of 8 on AVX2's kernels) and
     OpenBLAS's sgemm is as thin; not an unpadded 1x1 at stride 1, one sgemm
     on A in place. */
  const int gemm_in_place = conv->r == 1 && conv->s == 1 && !conv->pad_h && !conv->pad_w &&
                            conv->stride_h == 1 && conv->stride_w == 1;
  const int few_k = (conv->k <= 4 && conv->c >= 16) || (conv->k < 8 && conv->c >= 32);
  if (op == CONVBP_FWD && avx512 && few_k && !gemm_in_place)
    return "fwd_dot_blocked";
  /* FWD from at most 4 input channels into 8 or more, under a kernel of
     more than one tap whose windows overlap (patches keep the patch rule
     below), with at least 70% of its FLOPs inside the input:
     fwd_im2col_blocked, whose engine reduces R*S*C channels a tap where
     fwd_direct_blocked's taps reduce C (or a kernel row's S*C).  With more
     padding its cols are mostly zeros that it multiplies, where the
     engine's taps skip them. */
  if (op == CONVBP_FWD && avx512 && conv->c <= 4 && conv->k >= 8 && windows_overlap(conv) &&
      convbp_conv_flops_nopad(conv) >= 0.7 * convbp_conv_flops(conv))
    return "fwd_im2col_blocked";
  /* BPA with over 70% of its multiply-adds in the padding (a small image
     under a wide kernel or wide padding): col2im's GEMM multiplies those
     zeros, the engine's stride phases never visit them, folded or not. */
  if (op == CONVBP_BPA && avx512 && convbp_conv_flops_nopad(conv) < 0.3 * convbp_conv_flops(conv))
    return blocked[op];
  /* FWD and BPA as their blocked strategies run them: kernel rows that tile
     the width folded into S*C channels under R taps (cbp_fold_width), which
     is what their engine's tiles fill.  Not where R = 1, whose fold is a 1x1
     the GEMMs would not read in place as the rules for 1x1 layers assume,
     nor without AVX-512 kernels (untimed). */
  cbp_problem folded;
  if ((op == CONVBP_FWD || op == CONVBP_BPA) && avx512) {
    const cbp_problem *fp = cbp_fold_width(&pb, &folded);
    if (fp != &pb && fp->conv.r > 1) {
      pb = *fp;
      conv = &pb.conv;
      /* Folded, BPA's engine writes S*C channels a vector: where they end in
         a part-empty vector (S*C = 12, 24, 28, 42, 56, 84 on AVX-512) the
         GEMM won or tied; on whole vectors (32-128) the engine won, and from
         128 channels on, where the part-empty vector is at most 1 in 9, it
         won either way (the rules below then decide). */
      if (op == CONVBP_BPA && conv->c < 128 && conv->c % vl)
        return gemm[op];
    }
  }
  /* Patches that do not overlap (each stride at least the kernel's extent,
     more than one tap: ViT's 16x16 at stride 16, ConvNeXt's 4x4 stem) over
     few channels: im2col copies each input pixel once at most.  FWD below 8
     channels: the GEMM reduces R*S*C at once, the engine C per tap.  BPW
     below 16 channels with 128 taps or more, or gaps between the patches:
     the engine's outputs are R*S slices of K x C, each too thin to fill. */
  const int patches = conv->r * conv->s > 1 && !windows_overlap(conv);
  const int gaps = conv->stride_h > extent(conv->r, conv->dil_h) ||
                   conv->stride_w > extent(conv->s, conv->dil_w);
  if (patches && ((op == CONVBP_FWD && conv->c < 8) ||
                  (op == CONVBP_BPW && conv->c < 16 && (conv->r * conv->s >= 128 || gaps))))
    return gemm[op];
  if (convbp_conv_flops(conv) < 2e6) return small_dense(op, &pb) ? blocked[op] : gemm[op];
  const int one_by_one = conv->r == 1 && conv->s == 1;
  const int padded = conv->pad_h || conv->pad_w;
  /* The 1x1 layers the 1x1 rules below take: the GEMM strategies read an
     unpadded 1x1's operands in place, but copy a padded one like any other
     kernel, so with AVX-512 kernels a padded 1x1 follows the rules of the
     others (without them, untimed, every 1x1 keeps the 1x1 rules). */
  const int gemm_1x1 = one_by_one && (!padded || !avx512);
  const int strided = conv->stride_h > 1 || conv->stride_w > 1;
  const long pixels = (long)conv->n * pb.p * pb.q; /* N*P*Q: the GEMMs' rows */
  const int few_pixels = pixels <= 4096, tiny_pixels = pixels <= 1024;
  if ((op == CONVBP_BPA || op == CONVBP_BPW) && one_by_one && !padded && !strided &&
      cbp_small_gemm_rows((size_t)conv->c, (size_t)conv->k))
    return gemm[op];
  if (!avx512 && ((op == CONVBP_BPA && one_by_one) ||
                  (op == CONVBP_BPW && (one_by_one || conv->c < 16))))
    return gemm[op];
  switch (op) {
    case CONVBP_BPA:
      if (conv->c < 16 ||
          (gemm_1x1 && (strided ? !few_pixels : conv->k <= conv->c && !tiny_pixels)))
        return gemm[op];
      return blocked[op];
    case CONVBP_BPW:
      if (cbp_strided_1x1_block(&pb)) return gemm[op];
      return gemm_1x1 && few_pixels ? gemm[op] : blocked[op];
    default:
      /* a strided 1x1 is no GEMM operand in place: im2col gathers it first */
      if (avx512 && strided) return blocked[op];
      return gemm_1x1 && (few_pixels || conv->k > conv->c) ? gemm[op] : blocked[op];
  }
}

/* FFTW's timer: double the repetitions until one measurement takes 10 ms, then
   the best per-run time of three such measurements. */
static double time_prepared(convbp_prepared *pr, const float *x, const float *y, float *out) {
  int reps = 1;
  double best = INFINITY;
  for (;;) {
    double t0 = cbp_seconds();
    for (int i = 0; i < reps; i++) convbp_prepared_run(pr, x, y, out);
    double t = cbp_seconds() - t0;
    if (t >= 0.01 || reps >= (1 << 20)) {
      best = t / reps;
      break;
    }
    reps *= 2;
  }
  for (int trial = 0; trial < 2; trial++) {
    double t0 = cbp_seconds();
    for (int i = 0; i < reps; i++) convbp_prepared_run(pr, x, y, out);
    double t = (cbp_seconds() - t0) / reps;
    if (t < best) best = t;
  }
  return best;
}

/* MEASURE: every candidate that supports the problem and passes verification. */
static int measure(convbp_op op, const convbp_conv *conv, const convbp_mma *mma, int threads,
                   const char **winner) {
  int is_mma = convbp_op_is_mma(op);
  size_t nx, ny, nout;
  int st = is_mma ? convbp_mma_op_sizes(op, mma, &nx, &ny, &nout)
                  : convbp_conv_op_sizes(op, conv, &nx, &ny, &nout);
  if (st) return st;
  float *x = convbp_alloc(nx * sizeof(float)), *y = convbp_alloc(ny * sizeof(float));
  float *out = convbp_alloc(nout * sizeof(float));
  double *ref = malloc(nout * sizeof *ref), *abs_ref = malloc(nout * sizeof *abs_ref);
  double best = INFINITY;
  int short_of_memory = 0;
  *winner = NULL;
  if (!x || !y || !out || !ref || !abs_ref) {
    st = CONVBP_ERR_NOMEM;
    goto done;
  }
  convbp_fill(x, nx, 1);
  convbp_fill(y, ny, 2);
  st = is_mma ? convbp_mma_reference(op, mma, x, y, ref, abs_ref)
              : convbp_conv_reference(op, conv, x, y, ref, abs_ref);
  if (st) goto done;
  double n_red = is_mma ? convbp_mma_reduction_length(op, mma) : convbp_conv_reduction_length(op, conv);
  for (int i = 0; i < cbp_strategy_count(); i++) {
    const cbp_strategy *s = cbp_strategy_at(i);
    if (s->op != op) continue;
    convbp_prepared *pr;
    int pst = is_mma ? convbp_mma_prepare(s->name, mma, threads, &pr)
                     : convbp_conv_prepare(s->name, conv, threads, &pr);
    if (pst == CONVBP_ERR_NOMEM) short_of_memory = 1;
    if (pst) continue; /* unsupported, or its workspace cannot be had: not a candidate */
    for (size_t e = 0; e < nout; e++) out[e] = NAN;
    convbp_check check;
    if (convbp_prepared_run(pr, x, y, out) == 0) {
      convbp_compare(out, ref, abs_ref, nout, n_red, &check);
      if (check.passed) {
        double t = time_prepared(pr, x, y, out);
        if (t < best) best = t, *winner = s->name;
      }
    }
    convbp_prepared_destroy(pr);
  }
  /* No candidate: say so truly when it was memory, not the problem. */
  if (!*winner) st = short_of_memory ? CONVBP_ERR_NOMEM : CONVBP_ERR_UNSUPPORTED;
done:
  convbp_free(x), convbp_free(y), convbp_free(out);
  free(ref), free(abs_ref);
  return st;
}

int convbp_plan_create(convbp_plan **plan, convbp_op op, const convbp_conv *conv,
                       const convbp_mma *mma, int threads, convbp_plan_mode mode) {
  if (!plan || threads < 1 || (int)op < 0 || (int)op >= CONVBP_OP_COUNT ||
      (convbp_op_is_mma(op) ? !mma : !conv) || (int)mode < 0 || mode > CONVBP_WISDOM_ONLY)
    return CONVBP_ERR_ARG;
  *plan = NULL;
  char desc[160];
  int st = problem_desc(op, conv, mma, desc, sizeof desc);
  if (st) return st;
  const char *name = wisdom_lookup(op, threads, desc);
  if (!name) {
    if (mode == CONVBP_WISDOM_ONLY) return CONVBP_ERR_NO_WISDOM;
    if (mode == CONVBP_ESTIMATE) {
      name = convbp_plan_estimate(op, conv, mma, threads);
    } else {
      if ((st = measure(op, conv, mma, threads, &name))) return st;
      wisdom_entry e = {op, threads, "", ""};
      snprintf(e.strategy, sizeof e.strategy, "%s", name);
      snprintf(e.desc, sizeof e.desc, "%s", desc);
      pthread_mutex_lock(&wisdom_lock);
      st = wisdom_add_locked(&e);
      pthread_mutex_unlock(&wisdom_lock);
      if (st) return st;
    }
  }
  convbp_plan *p = calloc(1, sizeof *p);
  if (!p) return CONVBP_ERR_NOMEM;
  st = convbp_op_is_mma(op) ? convbp_mma_prepare(name, mma, threads, &p->pr)
                            : convbp_conv_prepare(name, conv, threads, &p->pr);
  if (st) {
    free(p);
    return st;
  }
  p->strategy = name;
  *plan = p;
  return CONVBP_OK;
}

int convbp_plan_execute(convbp_plan *plan, const float *x, const float *y, float *out) {
  if (!plan) return CONVBP_ERR_ARG;
  return convbp_prepared_run(plan->pr, x, y, out);
}

const char *convbp_plan_strategy(const convbp_plan *plan) { return plan ? plan->strategy : NULL; }

void convbp_plan_destroy(convbp_plan *plan) {
  if (!plan) return;
  convbp_prepared_destroy(plan->pr);
  free(plan);
}
