/* The strategy registry: the one table of strategies (like FFTW's dft/conf.c),
 * and the public entry points that validate, size the workspace and dispatch.
 *
 * Adding a strategy: one file in strategies/ exporting a `const cbp_strategy`,
 * one line in the table below, one line in CMakeLists.txt. */
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
  X(cbp_bpw_conv_do_a)
CBP_STRATEGY_TABLE(CBP_STRATEGY)
#undef CBP_STRATEGY

static const cbp_strategy *const registry[] = {
#define CBP_STRATEGY_PTR(sym) &sym,
    CBP_STRATEGY_TABLE(CBP_STRATEGY_PTR)
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

static int workspace_of(const char *name, int is_mma, const convbp_conv *cp, const convbp_mma *mp,
                        int threads, size_t *bytes) {
  if (!bytes || threads < 1) return CONVBP_ERR_ARG;
  const cbp_strategy *s;
  cbp_problem pb;
  int st = resolve(name, is_mma, cp, mp, &s, &pb, NULL);
  if (st) return st;
  *bytes = 0;
  return s->workspace ? s->workspace(&pb, threads, bytes) : CONVBP_OK;
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
  size_t bytes = 0;
  if (s->workspace && (st = s->workspace(&pb, threads, &bytes))) return st;
  void *mem = ws;
  if (own_ws && bytes > 0) {
    mem = convbp_alloc(bytes);
    if (!mem) return CONVBP_ERR_NOMEM;
  } else if (bytes > 0 && !ws) {
    return CONVBP_ERR_ARG;
  }
  st = s->run(&pb, threads, x, y, out, mem);
  if (own_ws) convbp_free(mem);
  return st;
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
