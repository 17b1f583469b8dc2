/* Portable microkernels of the blocked direct engine: GCC/Clang vector
 * extensions of 4 floats, for CPUs without AVX2 (and to test the engine's
 * blocking on every machine: CONVBP_ISA=portable). */
#include "internal.h"

typedef float cbp_v4 __attribute__((vector_size(16)));

#define VEC cbp_v4
#define VL 4
#define VMASK int
#define MAXNP 4
#define MAXNV 2
#define MAXKB 4
#define NVREGS 16
#define ISA_NAME "portable"
#define ISA_SYM portable

static inline cbp_v4 vzero(void) { return (cbp_v4){0, 0, 0, 0}; }
static inline cbp_v4 vload(const float *p) {
  cbp_v4 v;
  memcpy(&v, p, sizeof v);
  return v;
}
/* Masked forms touch only the first n floats. */
static inline cbp_v4 vloadm(const float *p, int n) {
  cbp_v4 v = vzero();
  for (int j = 0; j < n; j++) v[j] = p[j];
  return v;
}
static inline void vstore(float *p, cbp_v4 v) { memcpy(p, &v, sizeof v); }
static inline void vstorem(float *p, cbp_v4 v, int n) {
  for (int j = 0; j < n; j++) p[j] = v[j];
}
static inline cbp_v4 vbcast(const float *p) { return (cbp_v4){*p, *p, *p, *p}; }
static inline cbp_v4 vfma(cbp_v4 a, cbp_v4 b, cbp_v4 c) { return a * b + c; }
static inline cbp_v4 vadd(cbp_v4 a, cbp_v4 b) { return a + b; }
static inline int vmask(int n) { return n; }
#define vkeep(v) ((void)0)
static inline float vhsum(cbp_v4 v) { return (v[0] + v[1]) + (v[2] + v[3]); }

#include "direct_kernels.inc"
