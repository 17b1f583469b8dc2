/* The public API's contract: statuses for every kind of bad call, a registry
 * of unique names with summaries, strerror covering every status, and which
 * kernel set convbp_kernels names for each output width and setting. */
#define _POSIX_C_SOURCE 200809L /* setenv */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h> /* alarm */

#include "convbp.h"
#include "testing.h"

static void set_env(const char *name, const char *value) {
  if (value) setenv(name, value, 1);
  else unsetenv(name);
}

/* convbp_kernels: outputs of at most 8 channels take AVX2's kernels under
   AVX-512 when CONVBP_HALF_VECTORS=avx2 (or the measured rate says so), never
   with =avx512 or a CONVBP_ISA set; wider outputs always take the best set. */
static void check_kernels(void) {
  int avx2, avx512;
  test_cpu_sets(&avx2, &avx512);
  const char *best = avx512 ? "avx512" : avx2 ? "avx2" : "portable";
  const char *narrowed = avx2 ? "avx2" : "portable"; /* CONVBP_ISA=avx2 */
  const char *half = avx512 ? "avx2" : best;         /* an 8-channel output, forced */
  enum { BEST, HALF, NARROWED, PORTABLE };
  static const struct {
    const char *label, *isa, *half;
    int channels, want;
  } cases[] = {
      {"8 channels, forced", NULL, "avx2", 8, HALF},
      {"1 channel, forced", NULL, "avx2", 1, HALF},
      {"9 channels, forced", NULL, "avx2", 9, BEST},
      {"16 channels, forced", NULL, "avx2", 16, BEST},
      {"any width, forced", NULL, "avx2", 0, BEST},
      {"8 channels, kept", NULL, "avx512", 8, BEST},
      {"8 channels under CONVBP_ISA=avx2", "avx2", "avx2", 8, NARROWED},
      {"64 channels under CONVBP_ISA=avx2", "avx2", NULL, 64, NARROWED},
      {"8 channels under CONVBP_ISA=portable", "portable", "avx2", 8, PORTABLE},
      {"any width under CONVBP_ISA=portable", "portable", NULL, 0, PORTABLE},
  };
  char isa_saved[32] = "", half_saved[32] = "";
  const char *isa_env = getenv("CONVBP_ISA"), *half_env = getenv("CONVBP_HALF_VECTORS");
  if (isa_env) snprintf(isa_saved, sizeof isa_saved, "%s", isa_env);
  if (half_env) snprintf(half_saved, sizeof half_saved, "%s", half_env);
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    set_env("CONVBP_ISA", cases[i].isa);
    set_env("CONVBP_HALF_VECTORS", cases[i].half);
    const char *want = (const char *[]){best, half, narrowed, "portable"}[cases[i].want];
    const char *got = convbp_kernels(cases[i].channels);
    CHECK(got && !strcmp(got, want), "convbp_kernels, %s: %s, want %s", cases[i].label,
          got ? got : "NULL", want);
  }
  /* measured: one of the two for 8 channels, the same on every call */
  set_env("CONVBP_ISA", NULL);
  set_env("CONVBP_HALF_VECTORS", NULL);
  const char *measured = convbp_kernels(8);
  CHECK(!strcmp(measured, best) || !strcmp(measured, half), "measured: %s for 8 channels",
        measured);
  for (int i = 0; i < 3; i++)
    CHECK(!strcmp(convbp_kernels(8), measured), "the measured kernels for 8 channels moved");
  CHECK(!strcmp(convbp_kernels(16), best), "measured: %s for 16 channels", convbp_kernels(16));
  set_env("CONVBP_ISA", isa_env ? isa_saved : NULL);
  set_env("CONVBP_HALF_VECTORS", half_env ? half_saved : NULL);
}

/* The oneDNN peers from one thread of a caller's active parallel region, as a
   framework's thread pool would call them: oneDNN runs its parallel sections
   on that thread alone, so a peer asked for two threads there must plan for
   one (its BPW waited forever at a barrier for the second), and a peer
   prepared for two outside the region must refuse to run inside it rather
   than wait.  A hang ends the test by SIGALRM.  The shape is one whose
   oneDNN BPW (blocked) hung on the Zen 4 before 2026-12-06.  Skipped where
   convbp was built without oneDNN. */
static void check_peers_nested(void) {
  static const char *const peers[] = {"fwd_onednn", "bpa_onednn", "bpw_onednn",
                                      "fwd_onednn_blocked", "bpa_onednn_blocked",
                                      "bpw_onednn_blocked", "mma_bpa_onednn", "mma_bpw_onednn"};
  const convbp_conv p = {8, 16, 7, 7, 16, 3, 3, 1, 1, 1, 1, 1, 1};
  const convbp_mma m = {96, 96, 96};
  alarm(120);
  for (size_t i = 0; i < sizeof peers / sizeof peers[0]; i++) {
    const int idx = convbp_strategy_find(peers[i]);
    if (idx < 0) continue;
    const convbp_op op = convbp_strategy_op(idx);
    const int mma = convbp_op_is_mma(op);
    size_t nx, ny, nout;
    convbp_prepared *outside = NULL;
    CHECK((mma ? convbp_mma_op_sizes(op, &m, &nx, &ny, &nout)
               : convbp_conv_op_sizes(op, &p, &nx, &ny, &nout)) == 0 &&
              (mma ? convbp_mma_prepare(peers[i], &m, 2, &outside)
                   : convbp_conv_prepare(peers[i], &p, 2, &outside)) == 0,
          "%s prepared for 2 threads", peers[i]);
    float *x = calloc(nx, sizeof(float)), *y = calloc(ny, sizeof(float));
    float *out = calloc(nout, sizeof(float));
    CHECK(x && y && out, "buffers for %s", peers[i]);
    int checked = -1, crossed = -1;
    convbp_check c = {0};
    if (outside && x && y && out) {
#pragma omp parallel num_threads(2)
      {
#pragma omp master
        {
          checked = mma ? convbp_mma_check(peers[i], &m, 2, 7, &c)
                        : convbp_conv_check(peers[i], &p, 2, 7, &c);
          crossed = convbp_prepared_run(outside, x, y, out);
        }
      }
      CHECK(checked == 0 && c.passed, "%s asked for 2 threads inside a parallel region: %s, %s",
            peers[i], convbp_strerror(checked), c.passed ? "passed" : "wrong");
      CHECK(crossed == CONVBP_ERR_UNSUPPORTED,
            "%s prepared for 2 threads outside a region, run inside one: %s", peers[i],
            convbp_strerror(crossed));
      CHECK(convbp_prepared_run(outside, x, y, out) == 0, "%s run outside again", peers[i]);
    }
    convbp_prepared_destroy(outside);
    free(x), free(y), free(out);
  }
  alarm(0);
}

int main(void) {
  check_kernels();
  check_peers_nested();
  /* Registry: unique names, a summary each, the five baseline strategies present. */
  int count = convbp_strategy_count();
  CHECK(count >= 5, "registry has %d strategies", count);
  for (int i = 0; i < count; i++) {
    const char *name = convbp_strategy_name(i);
    CHECK(name && *name, "strategy %d has no name", i);
    CHECK(convbp_strategy_summary(i) && *convbp_strategy_summary(i), "%s has no summary", name);
    CHECK(convbp_strategy_find(name) == i, "%s found at %d", name, convbp_strategy_find(name));
    for (int j = 0; j < i; j++) CHECK(strcmp(name, convbp_strategy_name(j)) != 0, "dup %s", name);
  }
  static const char *const baselines[] = {"fwd_direct", "bpa_direct", "bpw_direct",
                                          "mma_bpa_direct", "mma_bpw_direct"};
  for (int i = 0; i < 5; i++) {
    int idx = convbp_strategy_find(baselines[i]);
    CHECK(idx >= 0 && convbp_strategy_op(idx) == (convbp_op)i, "%s", baselines[i]);
  }
  CHECK(convbp_strategy_name(-1) == NULL && convbp_strategy_name(count) == NULL, "out of range");

  /* strerror: every status distinct from "unknown", unknown ones say so. */
  for (int st = 0; st >= CONVBP_ERR_IO; st--)
    CHECK(strcmp(convbp_strerror(st), "unknown status") != 0, "status %d has no text", st);
  CHECK(strcmp(convbp_strerror(-1000), "unknown status") == 0, "unknown status");

  /* Ops. */
  convbp_op op;
  CHECK(convbp_op_parse("bpw", &op) == 0 && op == CONVBP_BPW, "op parse");
  CHECK(convbp_op_parse("bwd", &op) == CONVBP_ERR_PARSE, "bad op");
  CHECK(strcmp(convbp_op_name(CONVBP_MMA_BPA), "mma_bpa") == 0, "op name");

  /* Bad calls, each with its own status. */
  convbp_conv p = {2, 3, 6, 5, 4, 3, 3, 1, 0, 2, 1, 1, 2};
  convbp_mma m = {4, 5, 6};
  float x[1024], y[1024], out[1024];
  convbp_fill(x, 1024, 1);
  convbp_fill(y, 1024, 2);
  CHECK(convbp_conv_run("fwd_direct", NULL, 1, x, y, out) == CONVBP_ERR_ARG, "NULL problem");
  CHECK(convbp_conv_run("fwd_direct", &p, 1, NULL, y, out) == CONVBP_ERR_ARG, "NULL x");
  CHECK(convbp_conv_run("fwd_direct", &p, 1, x, NULL, out) == CONVBP_ERR_ARG, "NULL y");
  CHECK(convbp_conv_run("fwd_direct", &p, 1, x, y, NULL) == CONVBP_ERR_ARG, "NULL out");
  CHECK(convbp_conv_run(NULL, &p, 1, x, y, out) == CONVBP_ERR_ARG, "NULL strategy");
  CHECK(convbp_conv_run("fwd_direct", &p, 0, x, y, out) == CONVBP_ERR_ARG, "0 threads");
  CHECK(convbp_conv_run("fwd_magic", &p, 1, x, y, out) == CONVBP_ERR_UNKNOWN_STRATEGY, "unknown");
  CHECK(convbp_conv_run("mma_bpa_direct", &p, 1, x, y, out) == CONVBP_ERR_WRONG_OP, "mma as conv");
  CHECK(convbp_mma_run("bpa_direct", &m, 1, x, y, out) == CONVBP_ERR_WRONG_OP, "conv as mma");
  convbp_conv empty = p;
  empty.h = 1; /* 3x3 kernel, pad 1, stride 2: P = 1, fine; make it empty instead: */
  empty.pad_h = 0;
  CHECK(convbp_conv_run("bpa_direct", &empty, 1, x, y, out) == CONVBP_ERR_PROBLEM, "P < 1");
  convbp_conv huge = {2000000000, 2000000000, 100000, 1, 1, 1, 1, 0, 0, 1, 1, 1, 1};
  CHECK(convbp_conv_run("fwd_direct", &huge, 1, x, y, out) == CONVBP_ERR_OVERFLOW, "overflow");
  convbp_mma bad_m = {0, 1, 1};
  CHECK(convbp_mma_run("mma_bpw_direct", &bad_m, 1, x, y, out) == CONVBP_ERR_PROBLEM, "mma m=0");
  size_t bytes = 1;
  CHECK(convbp_conv_workspace("bpw_direct", &p, 1, &bytes) == 0 && bytes == 0, "no workspace");
  CHECK(convbp_conv_workspace("bpw_direct", &p, 1, NULL) == CONVBP_ERR_ARG, "NULL bytes");
  const char *why = "x";
  CHECK(convbp_conv_supports("bpw_direct", &p, &why) == 0 && why == NULL, "supports");

  /* out is fully overwritten: a run into a NaN-filled buffer leaves no NaN. */
  size_t nx, ny, nout;
  CHECK(convbp_conv_op_sizes(CONVBP_BPA, &p, &nx, &ny, &nout) == 0 && nout <= 1024, "sizes");
  for (size_t i = 0; i < nout; i++) out[i] = NAN;
  float x_copy[1024];
  memcpy(x_copy, x, sizeof x);
  CHECK(convbp_conv_run("bpa_direct", &p, 2, x, y, out) == 0, "bpa run");
  size_t nan_count = 0;
  for (size_t i = 0; i < nout; i++) nan_count += isnan(out[i]) != 0;
  CHECK(nan_count == 0, "%zu elements left unwritten", nan_count);
  CHECK(memcmp(x, x_copy, sizeof x) == 0, "input modified");

  /* A prepared strategy runs repeatedly with no set-up and gives what a one-shot run gives. */
  for (int i = 0; i < count; i++) {
    const char *name = convbp_strategy_name(i);
    convbp_op sop = convbp_strategy_op(i);
    if (convbp_op_is_mma(sop)) continue;
    convbp_prepared *pr = NULL;
    size_t sx, sy, so;
    convbp_conv_op_sizes(sop, &p, &sx, &sy, &so);
    float once[1024], again[1024];
    CHECK(convbp_conv_run(name, &p, 2, x, y, once) == 0, "%s one-shot", name);
    CHECK(convbp_conv_prepare(name, &p, 2, &pr) == 0 && pr, "%s prepare", name);
    for (int rep = 0; rep < 3 && pr; rep++) {
      CHECK(convbp_prepared_run(pr, x, y, again) == 0, "%s prepared run %d", name, rep);
      CHECK(memcmp(once, again, so * sizeof(float)) == 0, "%s: prepared run %d differs", name, rep);
    }
    convbp_prepared_destroy(pr);
  }
  convbp_prepared *pr = (convbp_prepared *)&p;
  CHECK(convbp_conv_prepare("fwd_magic", &p, 1, &pr) == CONVBP_ERR_UNKNOWN_STRATEGY && !pr, "prepare unknown");
  CHECK(convbp_conv_prepare("fwd_direct", &empty, 1, &pr) == CONVBP_ERR_PROBLEM, "prepare invalid");
  CHECK(convbp_conv_prepare("fwd_direct", &p, 0, &pr) == CONVBP_ERR_ARG, "prepare 0 threads");
  CHECK(convbp_prepared_run(NULL, x, y, out) == CONVBP_ERR_ARG, "run NULL prepared");
  convbp_prepared_destroy(NULL);

  /* Verification catches a wrong result: compare with a perturbed reference. */
  double ref[4] = {1, 2, 3, 0}, abs_ref[4] = {1, 2, 3, 0};
  float good[4] = {1, 2, 3, 0}, bad[4] = {1, 2.001f, 3, 0}, nonzero[4] = {1, 2, 3, 1e-30f};
  convbp_check c;
  convbp_compare(good, ref, abs_ref, 4, 10, &c);
  CHECK(c.passed && c.bad_count == 0, "exact result fails");
  convbp_compare(bad, ref, abs_ref, 4, 10, &c);
  CHECK(!c.passed && c.bad_count == 1 && c.worst_index == 1, "wrong element passes");
  convbp_compare(nonzero, ref, abs_ref, 4, 10, &c);
  CHECK(!c.passed && c.worst_index == 3, "nonzero where every term is zero passes");

  /* A verifier: its statuses; right strategies pass (FWD's adjoint gap is 0).
     That it catches wrong ones is test_strategies' (bpa_seed_as_written). */
  convbp_verifier *v = (convbp_verifier *)&p;
  CHECK(convbp_verifier_create(NULL, 1, &v) == CONVBP_ERR_ARG, "verifier of NULL");
  CHECK(convbp_verifier_create(&p, 1, NULL) == CONVBP_ERR_ARG, "verifier into NULL");
  CHECK(convbp_verifier_create(&empty, 1, &v) == CONVBP_ERR_PROBLEM && !v, "verifier of invalid");
  CHECK(convbp_verifier_create(&p, 1, &v) == 0 && v, "verifier");
  double gap = -1;
  CHECK(convbp_verifier_check(v, "fwd_direct", 1, &c, &gap) == 0 && c.passed && gap == 0,
        "verifier FWD");
  CHECK(convbp_verifier_check(v, "bpw_direct", 2, &c, &gap) == 0 && c.passed && gap <= 1,
        "verifier BPW: passed %d, adjoint gap %g", c.passed, gap);
  CHECK(convbp_verifier_check(v, "bpa_direct", 1, &c, NULL) == 0 && c.passed, "verifier BPA");
  CHECK(convbp_verifier_check(v, "fwd_magic", 1, &c, &gap) == CONVBP_ERR_UNKNOWN_STRATEGY,
        "verifier unknown");
  CHECK(convbp_verifier_check(v, "mma_bpa_direct", 1, &c, &gap) == CONVBP_ERR_WRONG_OP,
        "verifier MMA");
  CHECK(convbp_verifier_check(v, "fwd_direct", 0, &c, &gap) == CONVBP_ERR_ARG, "verifier 0 threads");
  CHECK(convbp_verifier_check(NULL, "fwd_direct", 1, &c, &gap) == CONVBP_ERR_ARG, "NULL verifier");
  CHECK(convbp_verifier_check(v, "fwd_direct", 1, NULL, &gap) == CONVBP_ERR_ARG, "NULL result");
  convbp_verifier_destroy(v);
  convbp_verifier_destroy(NULL);
  TEST_END();
}
