/* Machine facts for the CSV sidecar, the measured FMA peak, and hwloc binding.
 *
 * Binding: OpenMP worker i of a team is bound to one core (compact: cores in
 * order; scatter: hwloc_distrib spreads them over packages and caches).  libgomp
 * keeps its workers across parallel regions of the same size, and OpenBLAS's
 * OpenMP build runs on those same workers, so binding once per team sticks.  The
 * cpuset each worker really has is read back and recorded, never assumed. */
#define _GNU_SOURCE
#include "machine.h"
#include "cli.h"

#include <cblas.h>
#include <hwloc.h>
#include <immintrin.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#ifdef CONVBP_HAVE_ONEDNN
#include <oneapi/dnnl/dnnl.h>
#endif

#if __has_include("convbp_revision.h") /* written at every build, see cmake/revision.cmake */
#include "convbp_revision.h"
#endif
#ifndef CONVBP_GIT_REVISION
#define CONVBP_GIT_REVISION "unknown"
#endif

static hwloc_topology_t topo;
static int topo_ready;

int cbp_topo_open(void) {
  if (topo_ready) return 0;
  if (hwloc_topology_init(&topo) || hwloc_topology_load(topo)) return -1;
  topo_ready = 1;
  return 0;
}

void cbp_topo_close(void) {
  if (topo_ready) hwloc_topology_destroy(topo);
  topo_ready = 0;
}

static int count_type(hwloc_obj_type_t t) {
  int n = topo_ready ? hwloc_get_nbobjs_by_type(topo, t) : 0;
  return n > 0 ? n : 1;
}

int cbp_threads_fit(const int *threads, int n, char *err, size_t err_len) {
  cbp_topo_open();
  const int pus = count_type(HWLOC_OBJ_PU);
  for (int i = 0; i < n; i++) {
    if (threads[i] > pus) {
      snprintf(err, err_len, "%d threads requested, this machine has %d PUs", threads[i], pus);
      return -1;
    }
    if (cbp_threads_allowed(threads[i], err, err_len)) return -1;
  }
  return 0;
}

/* "L1d 48 KiB x2, L2 2048 KiB x2, L3 ..." from hwloc's data and unified caches;
   "unknown" when hwloc reports none (some containers hide them). */
static void describe_caches(char *buf, size_t len) {
  static const struct {
    hwloc_obj_type_t type;
    const char *name;
  } levels[] = {{HWLOC_OBJ_L1CACHE, "L1d"}, {HWLOC_OBJ_L2CACHE, "L2"}, {HWLOC_OBJ_L3CACHE, "L3"},
                {HWLOC_OBJ_L4CACHE, "L4"}};
  size_t used = 0;
  buf[0] = 0;
  for (size_t i = 0; i < sizeof levels / sizeof levels[0] && topo_ready; i++) {
    int n = hwloc_get_nbobjs_by_type(topo, levels[i].type);
    hwloc_obj_t o = n > 0 ? hwloc_get_obj_by_type(topo, levels[i].type, 0) : NULL;
    if (!o || !o->attr || !o->attr->cache.size) continue;
    int w = snprintf(buf + used, len - used, "%s%s %llu KiB x%d", used ? ", " : "", levels[i].name,
                     (unsigned long long)(o->attr->cache.size / 1024), n);
    if (w < 0 || (size_t)w >= len - used) break;
    used += (size_t)w;
  }
  if (!used) snprintf(buf, len, "unknown");
}

void cbp_machine_read(cbp_machine *m) {
  memset(m, 0, sizeof *m);
  snprintf(m->cpu, sizeof m->cpu, "unknown");
  FILE *f = fopen("/proc/cpuinfo", "r");
  if (f) {
    char line[256];
    while (fgets(line, sizeof line, f))
      if (strncmp(line, "model name", 10) == 0) {
        char *v = strchr(line, ':');
        if (v) {
          v += 1 + (v[1] == ' ');
          v[strcspn(v, "\n")] = 0;
          snprintf(m->cpu, sizeof m->cpu, "%s", v);
        }
        break;
      }
    fclose(f);
  }
  cbp_topo_open();
  m->cores = count_type(HWLOC_OBJ_CORE);
  m->pus = count_type(HWLOC_OBJ_PU);
  m->packages = count_type(HWLOC_OBJ_PACKAGE);
  m->numa_nodes = count_type(HWLOC_OBJ_NUMANODE);
  describe_caches(m->caches, sizeof m->caches);
  /* what changes the kernels timed: convbp's own knobs, OpenBLAS's core and
     oneDNN's ISA cap for the peer (oneDNN 2.x reads either prefix) */
  static const char *const knobs[] = {"CONVBP_ISA",        "CONVBP_STREAM",
                                      "CONVBP_CHUNK_PX",   "CONVBP_THREAD_FLOPS",
                                      "CONVBP_HALF_VECTORS",
                                      "OPENBLAS_CORETYPE",
                                      "CONVBP_KEEP_BLAS_CORETYPE", "DNNL_MAX_CPU_ISA",
                                      "ONEDNN_MAX_CPU_ISA"};
  size_t used = 0;
  for (size_t i = 0; i < sizeof knobs / sizeof knobs[0]; i++) {
    const char *v = getenv(knobs[i]);
    if (!v) continue;
    int w = snprintf(m->overrides + used, sizeof m->overrides - used, "%s%s=%.40s", used ? " " : "",
                     knobs[i], v);
    if (w < 0 || (size_t)w >= sizeof m->overrides - used) break;
    used += (size_t)w;
  }
  if (!used) snprintf(m->overrides, sizeof m->overrides, "none");
  snprintf(m->openblas, sizeof m->openblas, "%s (core %s)", openblas_get_config(),
           cbp_blas_core_now());
  unsigned v = hwloc_get_api_version();
  snprintf(m->hwloc, sizeof m->hwloc, "%u.%u.%u", v >> 16, (v >> 8) & 0xff, v & 0xff);
#ifdef CONVBP_HAVE_ONEDNN
  const dnnl_version_t *dv = dnnl_version();
  snprintf(m->onednn, sizeof m->onednn, "%d.%d.%d", dv->major, dv->minor, dv->patch);
#else
  snprintf(m->onednn, sizeof m->onednn, "none");
#endif
  snprintf(m->compiler, sizeof m->compiler, "gcc %s", __VERSION__);
  snprintf(m->revision, sizeof m->revision, "%s", CONVBP_GIT_REVISION);
  snprintf(m->isa, sizeof m->isa, "%s", cbp_build_isa());
}

void cbp_machine_write(const cbp_machine *m, FILE *f) {
  fprintf(f, "cpu=%s\ncores=%d\npus=%d\npackages=%d\nnuma_nodes=%d\nopenblas=%s\nhwloc=%s\n"
             "onednn=%s\ncompiler=%s\nrevision=%s\nisa=%s\ncaches=%s\noverrides=%s\n",
          m->cpu, m->cores, m->pus, m->packages, m->numa_nodes, m->openblas, m->hwloc, m->onednn,
          m->compiler, m->revision, m->isa, m->caches, m->overrides);
}

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* 12 independent FMA chains hide the 4-cycle latency on two pipes; returns
   FLOPs done.  The result feeds a sink so the loop cannot be removed. */
static double fma_loop(long iters, float *sink) {
#if defined(__AVX512F__)
  enum { LANES = 16 };
  __m512 acc[12], mul = _mm512_set1_ps(0.999999f), add = _mm512_set1_ps(1e-7f);
  for (int i = 0; i < 12; i++) acc[i] = _mm512_set1_ps((float)i);
  for (long it = 0; it < iters; it++)
    for (int i = 0; i < 12; i++) acc[i] = _mm512_fmadd_ps(acc[i], mul, add);
  __m512 s = acc[0];
  for (int i = 1; i < 12; i++) s = _mm512_add_ps(s, acc[i]);
  *sink = _mm512_reduce_add_ps(s);
#elif defined(__AVX2__) && defined(__FMA__)
  enum { LANES = 8 };
  __m256 acc[12], mul = _mm256_set1_ps(0.999999f), add = _mm256_set1_ps(1e-7f);
  for (int i = 0; i < 12; i++) acc[i] = _mm256_set1_ps((float)i);
  for (long it = 0; it < iters; it++)
    for (int i = 0; i < 12; i++) acc[i] = _mm256_fmadd_ps(acc[i], mul, add);
  float out[8];
  __m256 s = acc[0];
  for (int i = 1; i < 12; i++) s = _mm256_add_ps(s, acc[i]);
  _mm256_storeu_ps(out, s);
  *sink = out[0];
#else
  enum { LANES = 1 };
  float acc[12];
  for (int i = 0; i < 12; i++) acc[i] = (float)i;
  for (long it = 0; it < iters; it++)
    for (int i = 0; i < 12; i++) acc[i] = acc[i] * 0.999999f + 1e-7f;
  *sink = acc[0];
#endif
  return 2.0 * LANES * 12 * (double)iters;
}

double cbp_measure_peak(int threads, double seconds) {
  double best = 0;
  for (int trial = 0; trial < 3; trial++) {
    double flops = 0, t0 = now_s();
    float sink = 0;
#pragma omp parallel num_threads(threads) reduction(+ : flops)
    {
      float local = 0;
      long iters = 1 << 20;
      double t_start = now_s();
      while (now_s() - t_start < seconds) flops += fma_loop(iters, &local);
#pragma omp critical
      sink += local;
    }
    double gflops = flops / (now_s() - t0) * 1e-9;
    if (sink == 12345.f) gflops += 0; /* keep sink alive */
    if (gflops > best) best = gflops;
  }
  return best;
}

double cbp_measure_bandwidth(int threads, double seconds) {
  /* STREAM triad a = b + s*c over 3 x 64 MiB, well past the caches: 12 bytes a element. */
  const size_t n = (size_t)16 << 20;
  float *a = malloc(n * sizeof *a), *b = malloc(n * sizeof *b), *c = malloc(n * sizeof *c);
  double best = 0;
  if (a && b && c) {
#pragma omp parallel for num_threads(threads) schedule(static)
    for (size_t i = 0; i < n; i++) a[i] = 0, b[i] = 1, c[i] = 2;
    double t_end = now_s() + seconds;
    do {
      double t0 = now_s();
#pragma omp parallel for num_threads(threads) schedule(static)
      for (size_t i = 0; i < n; i++) a[i] = b[i] + 0.5f * c[i];
      double gbs = 3.0 * n * sizeof(float) / (now_s() - t0) * 1e-9;
      if (gbs > best) best = gbs;
    } while (now_s() < t_end);
  }
  free(a), free(b), free(c);
  return best;
}

static const char *const bind_names[] = {"compact", "scatter", "none"};

int cbp_bind_parse(const char *text, cbp_bind *b) {
  for (int i = 0; i < 3; i++)
    if (strcmp(text, bind_names[i]) == 0) {
      *b = (cbp_bind)i;
      return 0;
    }
  return -1;
}

const char *cbp_bind_name(cbp_bind b) { return bind_names[b]; }

/* cpusets[i] for worker i of `threads`: one core each, wrapping if there are fewer cores. */
static int plan(int threads, cbp_bind policy, hwloc_bitmap_t *sets) {
  int cores = hwloc_get_nbobjs_by_type(topo, HWLOC_OBJ_CORE);
  if (cores < 1) return -1;
  if (policy == CBP_BIND_SCATTER) {
    /* hwloc_distrib allocates the sets it hands out (hwloc_bitmap_dup), so it
       gets an array of its own, copied into sets and freed: given sets
       itself, it overwrote the caller's bitmaps, which then leaked. */
    hwloc_obj_t root = hwloc_get_root_obj(topo);
    hwloc_bitmap_t dist[threads];
    for (int i = 0; i < threads; i++) dist[i] = NULL;
    const int err = hwloc_distrib(topo, &root, 1, dist, (unsigned)threads, INT32_MAX, 0);
    for (int i = 0; i < threads; i++) {
      if (!err && dist[i]) hwloc_bitmap_copy(sets[i], dist[i]);
      hwloc_bitmap_singlify(sets[i]);
      hwloc_bitmap_free(dist[i]);
    }
    return err ? -1 : 0;
  }
  for (int i = 0; i < threads; i++) {
    hwloc_obj_t core = hwloc_get_obj_by_type(topo, HWLOC_OBJ_CORE, (unsigned)(i % cores));
    hwloc_bitmap_copy(sets[i], core->cpuset);
    hwloc_bitmap_singlify(sets[i]);
  }
  return 0;
}

int cbp_bind_threads(int threads, cbp_bind policy, char *cpusets, size_t len) {
  if (cbp_topo_open()) return -1;
  hwloc_bitmap_t sets[threads];
  for (int i = 0; i < threads; i++) sets[i] = hwloc_bitmap_alloc();
  int err = policy == CBP_BIND_NONE ? 0 : plan(threads, policy, sets);
  char lists[threads][64];
  int failures = 0;
  if (!err) {
#pragma omp parallel num_threads(threads) reduction(+ : failures)
    {
      int i = omp_get_thread_num();
      if (policy == CBP_BIND_NONE)
        failures += hwloc_set_cpubind(topo, hwloc_topology_get_complete_cpuset(topo),
                                      HWLOC_CPUBIND_THREAD) != 0;
      else
        failures += hwloc_set_cpubind(topo, sets[i], HWLOC_CPUBIND_THREAD) != 0;
      hwloc_bitmap_t got = hwloc_bitmap_alloc();
      if (hwloc_get_cpubind(topo, got, HWLOC_CPUBIND_THREAD) == 0)
        hwloc_bitmap_list_snprintf(lists[i], sizeof lists[i], got);
      else
        snprintf(lists[i], sizeof lists[i], "?");
      hwloc_bitmap_free(got);
    }
  }
  if (cpusets && len) {
    cpusets[0] = 0;
    size_t pos = 0;
    for (int i = 0; i < threads && !err; i++) {
      int n = snprintf(cpusets + pos, pos < len ? len - pos : 0, "%s%s", i ? ";" : "", lists[i]);
      if (n > 0) pos += (size_t)n;
      if (pos >= len) break;
    }
  }
  for (int i = 0; i < threads; i++) hwloc_bitmap_free(sets[i]);
  return err || failures ? -1 : 0;
}

void cbp_topo_print(FILE *f, int threads) {
  if (cbp_topo_open()) {
    fprintf(f, "hwloc: cannot load the topology\n");
    return;
  }
  static const struct {
    hwloc_obj_type_t type;
    const char *name;
  } kinds[] = {{HWLOC_OBJ_PACKAGE, "packages"}, {HWLOC_OBJ_NUMANODE, "NUMA nodes"},
               {HWLOC_OBJ_L3CACHE, "L3 caches"}, {HWLOC_OBJ_L2CACHE, "L2 caches"},
               {HWLOC_OBJ_L1CACHE, "L1d caches"}, {HWLOC_OBJ_CORE, "cores"},
               {HWLOC_OBJ_PU, "PUs"}};
  for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
    int n = hwloc_get_nbobjs_by_type(topo, kinds[i].type);
    fprintf(f, "%-11s %d", kinds[i].name, n);
    hwloc_obj_t o = n > 0 ? hwloc_get_obj_by_type(topo, kinds[i].type, 0) : NULL;
    if (o && hwloc_obj_type_is_cache(o->type))
      fprintf(f, "  (%llu KiB each)", (unsigned long long)o->attr->cache.size / 1024);
    fputc('\n', f);
  }
  for (int c = 0; c < hwloc_get_nbobjs_by_type(topo, HWLOC_OBJ_CORE); c++) {
    hwloc_obj_t core = hwloc_get_obj_by_type(topo, HWLOC_OBJ_CORE, (unsigned)c);
    char set[64];
    hwloc_bitmap_list_snprintf(set, sizeof set, core->cpuset);
    fprintf(f, "core %d: PUs %s\n", c, set);
  }
  for (int p = 0; p < 2; p++) {
    fprintf(f, "plan --bind %s --threads %d:", bind_names[p], threads);
    hwloc_bitmap_t sets[threads];
    for (int i = 0; i < threads; i++) sets[i] = hwloc_bitmap_alloc();
    if (plan(threads, (cbp_bind)p, sets) == 0)
      for (int i = 0; i < threads; i++) {
        char set[64];
        hwloc_bitmap_list_snprintf(set, sizeof set, sets[i]);
        fprintf(f, " worker%d->PU%s", i, set);
      }
    fputc('\n', f);
    for (int i = 0; i < threads; i++) hwloc_bitmap_free(sets[i]);
  }
}
