/* What machine and libraries a measurement ran on, the measured FMA peak, and
 * threads pinned with hwloc. */
#ifndef CONVBP_MACHINE_H
#define CONVBP_MACHINE_H

#include <stdio.h>

typedef struct {
  char cpu[128];
  int cores, pus, packages, numa_nodes;
  char openblas[160], hwloc[32], onednn[32], compiler[64], revision[48], isa[16];
  /* Data caches as hwloc sees them, size of one and how many:
     "L1d 32 KiB x2, L2 1024 KiB x2, L3 32768 KiB x1" (the strategies' blocking
     and streaming choices depend on L2, so results of two machines compare only
     with these beside them). */
  char caches[128];
  /* The environment variables that change which code runs, as set:
     "CONVBP_ISA=avx2 CONVBP_STREAM=0", or "none". */
  char overrides[256]; /* sidecar_write reads it back into a buffer of this size */
} cbp_machine;

void cbp_machine_read(cbp_machine *m);
/* Writes "key=value" lines (the CSV sidecar). */
void cbp_machine_write(const cbp_machine *m, FILE *f);

/* fp32 FMA peak in GFLOP/s on `threads` threads, measured by an FMA-bound loop
   with the widest vectors this build has (seconds: time per trial). */
double cbp_measure_peak(int threads, double seconds);

/* Memory bandwidth in GB/s (STREAM triad over 192 MiB) on `threads` threads. */
double cbp_measure_bandwidth(int threads, double seconds);

typedef enum { CBP_BIND_COMPACT, CBP_BIND_SCATTER, CBP_BIND_NONE } cbp_bind;
int cbp_bind_parse(const char *text, cbp_bind *b);
const char *cbp_bind_name(cbp_bind b);

/* Opens the hwloc topology once (the CLI's, not the library's). */
int cbp_topo_open(void);
void cbp_topo_close(void);
/* 0 when a team of each of threads[0..n) can run here as the sweep runs it: at
   most one thread per PU (the binding places one per PU) and within
   OMP_THREAD_LIMIT, so a row labelled T threads ran on T.  Else -1 and the
   first count refused, with why, in err ("--threads: " is the caller's). */
int cbp_threads_fit(const int *threads, int n, char *err, size_t err_len);
/* Binds OpenMP worker i of a team of `threads` to its core by the policy (or
   unbinds for NONE), then reads each worker's actual cpuset back into
   cpusets ("0;1" style, one list per worker, separated by ';').  0 on success. */
int cbp_bind_threads(int threads, cbp_bind policy, char *cpusets, size_t len);
/* Prints the topology and the plan for `threads` with each policy. */
void cbp_topo_print(FILE *f, int threads);

#endif
