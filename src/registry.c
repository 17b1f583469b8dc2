/* The strategy registry: the one table of strategies (like FFTW's dft/conf.c),
 * and the public entry points that validate, size the workspace and dispatch.
 *
 * Adding a strategy: one file in strategies/ exporting a `const cbp_strategy`,
 * one line in the table below, one line in CMakeLists.txt (see README). */
#include <stdlib.h>

#include "internal.h"

#define CBP_STRATEGY(sym) extern const cbp_strategy sym;
#define CBP_STRATEGY_TABLE(X)   \
  X(cbp_fwd_direct)             \
  X(cbp_bpa_direct)             \
  X(cbp_bpw_direct)             \
  X(cbp_mma_bpa_direct)         \
  X(cbp_mma_bpw_direct)         \
  X(cbp_fwd_im2col_gemm)        \
  X(cbp_mma_bpa_gemm)           \
  X(cbp_mma_bpw_gemm)           \
  X(cbp_bpa_scatter_gemm)       \
  X(cbp_bpa_zero_insert_gemm)   \
  X(cbp_bpw_im2col_gemm)        \
  X(cbp_bpw_conv_a_do)          \
  X(cbp_bpw_conv_do_a)          \
  X(cbp_fwd_direct_blocked)     \
  X(cbp_fwd_dot_blocked)        \
  X(cbp_fwd_im2col_blocked)     \
  X(cbp_bpa_stride_phase_blocked) \
  X(cbp_bpw_direct_blocked)     \
  X(cbp_mma_bpa_conv1x1_blocked) \
  X(cbp_mma_bpw_conv1x1_blocked)
/* Peers that need an optional library join the table only when it was found. */
#ifdef CONVBP_HAVE_ONEDNN
#define CBP_PEER_TABLE(X)       \
  X(cbp_fwd_onednn)             \
  X(cbp_bpa_onednn)             \
  X(cbp_bpw_onednn)             \
  X(cbp_fwd_onednn_blocked)     \
  X(cbp_bpa_onednn_blocked)     \
  X(cbp_bpw_onednn_blocked)     \
  X(cbp_mma_bpa_onednn)         \
  X(cbp_mma_bpw_onednn)
#else
#define CBP_PEER_TABLE(X)
#endif
/* A deliberately wrong strategy, for the tests of the harness's fault handling. */
#ifdef CONVBP_HAVE_FAULTY
#define CBP_FAULTY_TABLE(X) X(cbp_bpa_seed_as_written)
#else
#define CBP_FAULTY_TABLE(X)
#endif
CBP_STRATEGY_TABLE(CBP_STRATEGY)
CBP_PEER_TABLE(CBP_STRATEGY)
CBP_FAULTY_TABLE(CBP_STRATEGY)
#undef CBP_STRATEGY

static const cbp_strategy *const registry[] = {
#define CBP_STRATEGY_PTR(sym) &sym,
    CBP_STRATEGY_TABLE(CBP_STRATEGY_PTR)
    CBP_PEER_TABLE(CBP_STRATEGY_PTR)
    CBP_FAULTY_TABLE(CBP_STRATEGY_PTR)
#undef CBP_STRATEGY_PTR
};

#define REGISTRY_COUNT ((int)(sizeof registry / sizeof registry[0]))

int cbp_strategy_count(void) { return REGISTRY_COUNT; }

const cbp_strategy *cbp_strategy_at(int i) {
  return (i >= 0 && i < REGISTRY_COUNT) ? registry[i] : NULL;
}

const cbp_strategy *cbp_strategy_lookup(const char *name) {
  if (!name) return NULL;
  for (int i = 0; i < REGISTRY_COUNT; i++)
    if (strcmp(registry[i]->name, name) == 0) return registry[i];
  return NULL;
}

int convbp_strategy_count(void) { return REGISTRY_COUNT; }
const char *convbp_strategy_name(int i) { return cbp_strategy_at(i) ? registry[i]->name : NULL; }
convbp_op convbp_strategy_op(int i) { return cbp_strategy_at(i) ? registry[i]->op : CONVBP_FWD; }
const char *convbp_strategy_summary(int i) {
  return cbp_strategy_at(i) ? registry[i]->summary : NULL;
}
int convbp_strategy_find(const char *name) {
  for (int i = 0; name && i < REGISTRY_COUNT; i++)
    if (strcmp(registry[i]->name, name) == 0) return i;
  return CONVBP_ERR_UNKNOWN_STRATEGY;
}

void *convbp_alloc(size_t bytes) {
  size_t rounded;
  if (bytes == 0 || cbp_round64(bytes, &rounded)) return NULL;
  return aligned_alloc(64, rounded);
}

void convbp_free(void *ptr) { free(ptr); }

/* Resolves a strategy for a conv or MMA problem: lookup, op check, problem
   validation and support, in that order so the status names the first fault. */
static int resolve(const char *name, int is_mma, const convbp_conv *cp, const convbp_mma *mp,
                   const cbp_strategy **out_s, cbp_problem *pb, const char **reason) {
  if (reason) *reason = NULL;
  if (!name || (is_mma ? !mp : !cp)) return CONVBP_ERR_ARG;
  const cbp_strategy *s = cbp_strategy_lookup(name);
  if (!s) return CONVBP_ERR_UNKNOWN_STRATEGY;
  if (convbp_op_is_mma(s->op) != is_mma) return CONVBP_ERR_WRONG_OP;
  int st = is_mma ? cbp_problem_mma(pb, s->op, mp) : cbp_problem_conv(pb, s->op, cp);
  if (st) return st;
  const char *why = s->supports ? s->supports(pb) : NULL;
  if (why) {
    if (reason) *reason = why;
    return CONVBP_ERR_UNSUPPORTED;
  }
  *out_s = s;
  return CONVBP_OK;
}

int cbp_strategy_threads(const cbp_strategy *s, const cbp_problem *pb, int threads) {
  return s->vec_channels ? cbp_threads_for(pb, threads, s->vec_channels(pb)) : threads;
}

static int workspace_of(const char *name, int is_mma, const convbp_conv *cp, const convbp_mma *mp,
                        int threads, size_t *bytes) {
  if (!bytes || threads < 1) return CONVBP_ERR_ARG;
  const cbp_strategy *s;
  cbp_problem pb;
  int st = resolve(name, is_mma, cp, mp, &s, &pb, NULL);
  if (st) return st;
  *bytes = 0;
  if (!s->workspace) return CONVBP_OK;
  return s->workspace(&pb, cbp_strategy_threads(s, &pb, threads), bytes);
}

struct convbp_prepared {
  const cbp_strategy *s;
  cbp_problem pb;
  int threads;
  size_t ws_bytes;
  void *ws_block;  /* owned: the workspace and its guards */
  size_t ws_guard; /* bytes of guard on each side: WS_GUARD when threads > 1, else 0 */
  void *ws;        /* the workspace, ws_guard bytes into ws_block */
  void *state;     /* prepare()'s state, for strategies that have one */
};

/* Untouched bytes on both sides of a workspace shared by threads (virtual
 * memory only: the pages are never written, so never backed).  Per-thread
 * partials written by one core within about 64 KiB of a buffer another core
 * writes ran up to 1.6x slower on a Zen 5 guest, the cores pulling each
 * other's lines (two 128 KiB partials of res3a_branch2a's BPW, one sgemm per
 * output row into each: 1.6-1.7 ms with 0-16 KiB between them, 1.3 ms with
 * 64 KiB, 1.08-1.15 ms with 128 KiB or more).  mmap puts a new allocation
 * right below the last one, often the caller's output, which thread 0 uses
 * as its partial: 1.62-1.76 ms against 1.05-1.16 with the workspace
 * elsewhere. */
enum { WS_GUARD = 256 << 10 };

/* Under AddressSanitizer the guards are poisoned, so that a strategy writing
   past its workspace is still caught as if the workspace stood alone. */
#if defined(__SANITIZE_ADDRESS__)
#define CBP_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define CBP_ASAN 1
#endif
#endif
#ifdef CBP_ASAN
#include <sanitizer/asan_interface.h>
static void guard_poison(char *block, size_t bytes, size_t guard, int on) {
  if (!guard) return;
  const size_t tail = (guard + bytes + 7) / 8 * 8; /* ASan poisons 8-byte granules */
  if (on) {
    ASAN_POISON_MEMORY_REGION(block, guard);
    ASAN_POISON_MEMORY_REGION(block + tail, 2 * guard + bytes - tail);
  } else {
    ASAN_UNPOISON_MEMORY_REGION(block, 2 * guard + bytes);
  }
}
#else
static void guard_poison(char *block, size_t bytes, size_t guard, int on) {
  (void)block, (void)bytes, (void)guard, (void)on;
}
#endif

static int prepare_any(const char *name, int is_mma, const convbp_conv *cp, const convbp_mma *mp,
                       int threads, convbp_prepared **out) {
  if (!out || threads < 1) return CONVBP_ERR_ARG;
  *out = NULL;
  convbp_prepared *pr = calloc(1, sizeof *pr);
  if (!pr) return CONVBP_ERR_NOMEM;
  int st = resolve(name, is_mma, cp, mp, &pr->s, &pr->pb, NULL);
  threads = pr->threads = st ? threads : cbp_strategy_threads(pr->s, &pr->pb, threads);
  if (!st && pr->s->workspace) st = pr->s->workspace(&pr->pb, threads, &pr->ws_bytes);
  if (!st && pr->ws_bytes) {
    pr->ws_guard = threads > 1 ? WS_GUARD : 0;
    if (pr->ws_bytes > SIZE_MAX - 2 * pr->ws_guard ||
        !(pr->ws_block = convbp_alloc(pr->ws_bytes + 2 * pr->ws_guard))) {
      st = CONVBP_ERR_NOMEM;
    } else {
      pr->ws = (char *)pr->ws_block + pr->ws_guard;
      guard_poison(pr->ws_block, pr->ws_bytes, pr->ws_guard, 1);
    }
  }
  if (!st && pr->s->prepare) st = pr->s->prepare(&pr->pb, threads, &pr->state);
  if (st) {
    convbp_prepared_destroy(pr);
    return st;
  }
  *out = pr;
  return CONVBP_OK;
}

int convbp_conv_prepare(const char *strategy, const convbp_conv *p, int threads,
                        convbp_prepared **out) {
  return prepare_any(strategy, 0, p, NULL, threads, out);
}
int convbp_mma_prepare(const char *strategy, const convbp_mma *p, int threads,
                       convbp_prepared **out) {
  return prepare_any(strategy, 1, NULL, p, threads, out);
}

int convbp_prepared_run(convbp_prepared *pr, const float *x, const float *y, float *out) {
  if (!pr || !x || !y || !out) return CONVBP_ERR_ARG;
  return pr->s->run(&pr->pb, pr->threads, x, y, out, pr->s->prepare ? pr->state : pr->ws);
}

size_t convbp_prepared_workspace(const convbp_prepared *pr) { return pr ? pr->ws_bytes : 0; }

void convbp_prepared_destroy(convbp_prepared *pr) {
  if (!pr) return;
  if (pr->state && pr->s->release) pr->s->release(pr->state);
  if (pr->ws_block) guard_poison(pr->ws_block, pr->ws_bytes, pr->ws_guard, 0);
  convbp_free(pr->ws_block);
  free(pr);
}

/* ws == NULL with own_ws: allocate here, once, and free before returning. */
static int run_any(const char *name, int is_mma, const convbp_conv *cp, const convbp_mma *mp,
                   int threads, const float *x, const float *y, float *out, void *ws,
                   int own_ws) {
  if (!x || !y || !out || threads < 1) return CONVBP_ERR_ARG;
  const cbp_strategy *s;
  cbp_problem pb;
  int st = resolve(name, is_mma, cp, mp, &s, &pb, NULL);
  if (st) return st;
  if (own_ws || s->prepare) { /* one-shot: prepare, run, release */
    convbp_prepared *pr;
    if ((st = prepare_any(name, is_mma, cp, mp, threads, &pr))) return st;
    st = convbp_prepared_run(pr, x, y, out);
    convbp_prepared_destroy(pr);
    return st;
  }
  size_t bytes = 0;
  threads = cbp_strategy_threads(s, &pb, threads);
  if (s->workspace && (st = s->workspace(&pb, threads, &bytes))) return st;
  if (bytes > 0 && !ws) return CONVBP_ERR_ARG;
  return s->run(&pb, threads, x, y, out, ws);
}

int convbp_conv_supports(const char *strategy, const convbp_conv *p, const char **reason) {
  const cbp_strategy *s;
  cbp_problem pb;
  return resolve(strategy, 0, p, NULL, &s, &pb, reason);
}
int convbp_mma_supports(const char *strategy, const convbp_mma *p, const char **reason) {
  const cbp_strategy *s;
  cbp_problem pb;
  return resolve(strategy, 1, NULL, p, &s, &pb, reason);
}
int convbp_conv_workspace(const char *strategy, const convbp_conv *p, int threads, size_t *b) {
  return workspace_of(strategy, 0, p, NULL, threads, b);
}
int convbp_mma_workspace(const char *strategy, const convbp_mma *p, int threads, size_t *b) {
  return workspace_of(strategy, 1, NULL, p, threads, b);
}
int convbp_conv_run(const char *strategy, const convbp_conv *p, int threads, const float *x,
                    const float *y, float *out) {
  return run_any(strategy, 0, p, NULL, threads, x, y, out, NULL, 1);
}
int convbp_mma_run(const char *strategy, const convbp_mma *p, int threads, const float *x,
                   const float *y, float *out) {
  return run_any(strategy, 1, NULL, p, threads, x, y, out, NULL, 1);
}
int convbp_conv_run_ws(const char *strategy, const convbp_conv *p, int threads, const float *x,
                       const float *y, float *out, void *ws) {
  return run_any(strategy, 0, p, NULL, threads, x, y, out, ws, 0);
}
int convbp_mma_run_ws(const char *strategy, const convbp_mma *p, int threads, const float *x,
                      const float *y, float *out, void *ws) {
  return run_any(strategy, 1, NULL, p, threads, x, y, out, ws, 0);
}
