/* convbp: the command-line tool.  Subcommands: list, run, sweep, gbench, best,
 * compare, tune, topo, peak, version, help. */
#define _GNU_SOURCE
#include <cblas.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

static void print_help(FILE *f) {
  fprintf(f,
          "usage: convbp COMMAND [options]\n"
          "\n"
          "commands:\n"
          "  list                 strategies, their op and a one-line summary\n"
          "  run    PROBLEMS...   verify strategies against the reference (PASSED/FAILED per case)\n"
          "  sweep  PROBLEMS...   verify, then time every strategy; one CSV row per measurement\n"
          "  gbench PROBLEMS...   the same points as Google Benchmark benchmarks (--benchmark_* flags)\n"
          "  best   FILE.csv...   winner table per (problem, op, threads) [--csv|--markdown] [--noise CV]\n"
          "                       [--estimate: how often the ESTIMATE heuristic picks the measured winner]\n"
          "  compare BASE.csv NEW.csv  speedup of NEW over BASE per timed row, faster/slower/same\n"
          "                       by the noise rule, geometric means per op [--csv|--markdown] [--noise CV]\n"
          "  tune   PROBLEMS...   MEASURE a plan per point and write wisdom [--wisdom FILE]\n"
          "  topo   [--threads N] hwloc topology and the binding plan\n"
          "  peak   [--threads N] measured fp32 FMA peak (GFLOP/s) and memory bandwidth (GB/s)\n"
          "  version              convbp's version, then the build and machine a sweep's sidecar records\n"
          "                       (also --version)\n"
          "\n"
          "problems:  --problem DESC (repeatable)   --problems FILE   --suite %s\n"
          "           grids: --mb --ic --oc --ih --iw --kh --kw --sh --sw --ph --pw --dh --dw LIST (each once)\n"
          "           LIST: 1,8,32 | 1:4 | 1:9:2 | 64:512:x2\n"
          "           --random N: N problems drawn from --seed, biased to the strategies' edges\n"
          "selection: --op fwd,bpa,bpw,mma_bpa,mma_bpw   --strategy all|NAME|GLOB,...\n"
          "           --threads 1,2|all   --bind compact|scatter|none\n"
          "timing:    --reps N (5)   --min-time S (0.05)   --cold   --budget S per point (120)\n"
          "           --max-workspace BYTES (8 GiB)   --no-verify   --seed N\n"
          "output:    --output FILE (results/sweep.csv)   --resume   --force   --shard K/N   --quiet\n"
          "\n"
          "environment (recorded in the sidecar's overrides= line):\n"
          "  CONVBP_ISA=avx2|portable     narrower kernels for the blocked strategies\n"
          "  CONVBP_STREAM=0|1            plain or streaming stores for a strided BPA's zeros\n"
          "                               (default: streaming on AMD when dA exceeds L2)\n"
          "  CONVBP_CHUNK_PX=N            the blocked engine's row chunks, N output pixels each\n"
          "                               (0: none; default: only for inputs far beyond L2)\n"
          "  CONVBP_THREAD_FLOPS=N        blocked strategies: a thread per N FLOPs of the problem\n"
          "                               (0: every thread given; default: measured once per\n"
          "                               process, the sidecar's thread_flops= line)\n"
          "  CONVBP_KEEP_BLAS_CORETYPE=1  keep OpenBLAS's own kernel choice\n"
          "  CONVBP_PEAK_RETRIES=N        sweep: times a peak short of its threads' share is\n"
          "                               measured again, 0.5 s apart (3; 0-20; not recorded)\n"
          "  OPENBLAS_CORETYPE=NAME       OpenBLAS's kernels (the GEMM strategies)\n"
          "  DNNL_MAX_CPU_ISA=AVX2|...    oneDNN's widest ISA, for the peer (or ONEDNN_...)\n"
          "\n"
          "exit codes: 0 ok, 1 a strategy was wrong or failed, 2 usage or input error,\n"
          "            3 output not writable, 130 interrupted (rows written stay valid)\n",
          cbp_suite_names());
}

static int cmd_list(void) {
  for (int i = 0; i < convbp_strategy_count(); i++)
    printf("%-24s %-8s %s\n", convbp_strategy_name(i), convbp_op_name(convbp_strategy_op(i)),
           convbp_strategy_summary(i));
  return 0;
}

/* What a bug report needs: the version first, then the sidecar's lines
   (CPU, caches, libraries, compiler, revision, the ISA built for, overrides). */
static int cmd_version(int argc, char **argv) {
  if (argc > 0) {
    fprintf(stderr, "convbp: version takes no options, got '%s'\n", argv[0]);
    return EXIT_USAGE;
  }
  cbp_machine m;
  cbp_machine_read(&m);
  printf("convbp %s\n", convbp_version());
  cbp_machine_write(&m, stdout);
  return 0;
}

static int threads_arg(int argc, char **argv, int *threads) {
  *threads = 1;
  for (int i = 0; i < argc; i++) {
    if (!strcmp(argv[i], "--threads") && i + 1 < argc) {
      char *end;
      long t = strtol(argv[++i], &end, 10);
      if (*end || t < 1 || t > 4096) {
        fprintf(stderr, "convbp: --threads needs a whole number >= 1, got '%s'\n", argv[i]);
        return EXIT_USAGE;
      }
      char err[128];
      if (cbp_threads_allowed(t, err, sizeof err)) {
        fprintf(stderr, "convbp: --threads: %s\n", err);
        return EXIT_USAGE;
      }
      *threads = (int)t;
    } else {
      fprintf(stderr, "convbp: unknown option '%s'\n", argv[i]);
      return EXIT_USAGE;
    }
  }
  return 0;
}

int main(int argc, char **argv) {
  if (argc < 2 || !strcmp(argv[1], "help") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
    print_help(argc < 2 ? stderr : stdout);
    return argc < 2 ? EXIT_USAGE : 0;
  }
  const char *cmd = !strcmp(argv[1], "--version") ? "version" : argv[1];
  /* `convbp CMD --help` (or -h) after a known command: the help, exit 0, as
     `convbp help`; the options of every command are listed there. */
  static const char *const commands[] = {"list", "run",  "sweep", "gbench", "best",
                                         "compare", "tune", "topo", "peak", "version"};
  int known = 0;
  for (size_t c = 0; c < sizeof commands / sizeof commands[0] && !known; c++)
    known = !strcmp(cmd, commands[c]);
  for (int i = 2; known && i < argc; i++)
    if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
      print_help(stdout);
      return 0;
    }
  /* version too, so that its openblas= line is the one a sweep records */
  if (!strcmp(cmd, "sweep") || !strcmp(cmd, "gbench") || !strcmp(cmd, "tune") || !strcmp(cmd, "peak") ||
      !strcmp(cmd, "version"))
    cbp_fix_blas_coretype(argv);
  int sub_argc = argc - 2;
  char **sub_argv = argv + 2;
  if (!strcmp(cmd, "list")) return cmd_list();
  if (!strcmp(cmd, "version")) return cmd_version(sub_argc, sub_argv);
  if (!strcmp(cmd, "run")) return cbp_cmd_run(sub_argc, sub_argv);
  if (!strcmp(cmd, "sweep")) return cbp_cmd_sweep(sub_argc, sub_argv);
  if (!strcmp(cmd, "gbench")) return cbp_cmd_gbench(sub_argc, sub_argv);
  if (!strcmp(cmd, "best")) return cbp_cmd_best(sub_argc, sub_argv);
  if (!strcmp(cmd, "compare")) return cbp_cmd_compare(sub_argc, sub_argv);
  if (!strcmp(cmd, "tune")) return cbp_cmd_tune(sub_argc, sub_argv);
  if (!strcmp(cmd, "topo") || !strcmp(cmd, "peak")) {
    int threads, rc = threads_arg(sub_argc, sub_argv, &threads);
    if (rc) return rc;
    if (cmd[0] == 't') {
      cbp_topo_print(stdout, threads);
    } else {
      cbp_machine m;
      cbp_machine_read(&m);
      const double peak = cbp_measure_peak(threads, 0.25);
      printf("fp32 FMA peak, %d thread(s), %s: %.1f GFLOP/s\n", threads, m.isa, peak);
      char msg[320];
      if (threads > 1 && cbp_peak_shortfall(threads, peak, cbp_measure_peak(1, 0.1), msg, sizeof msg))
        fprintf(stderr, "convbp: warning: %s\n", msg);
      printf("memory bandwidth (STREAM triad), %d thread(s): %.1f GB/s\n", threads,
             cbp_measure_bandwidth(threads, 0.5));
    }
    return 0;
  }
  fprintf(stderr, "convbp: unknown command '%s'\n", cmd);
  print_help(stderr);
  return EXIT_USAGE;
}
