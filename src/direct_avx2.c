/* AVX2 + FMA microkernels of the blocked direct engine (compiled with
 * -mavx2 -mfma; called only when the CPU has both, see src/direct.c).
 * 8 floats a vector, 16 registers: 4 pixels (or 4 k) x 3 vectors = 12
 * accumulators, 3 weight (or input) vectors and a broadcast. */
#include <immintrin.h>

#include "internal.h"

#define VEC __m256
#define VL 8
#define VMASK __m256i
#define MAXNP 4
#define MAXNV 3
#define MAXKB 4
#define ISA_NAME "avx2"
#define ISA_SYM avx2
#define vzero() _mm256_setzero_ps()
#define vload(p) _mm256_loadu_ps(p)
#define vloadm(p, m) _mm256_maskload_ps((p), (m))
#define vstore(p, v) _mm256_storeu_ps((p), (v))
#define vstorem(p, v, m) _mm256_maskstore_ps((p), (m), (v))
#define vbcast(p) _mm256_broadcast_ss(p)
#define vfma(a, b, c) _mm256_fmadd_ps((a), (b), (c))
#define vadd(a, b) _mm256_add_ps((a), (b))
/* lane j is on when j < n */
#define vmask(n) _mm256_cmpgt_epi32(_mm256_set1_epi32(n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7))
#define vkeep(v) __asm__("" : "+x"(v))

#include "direct_kernels.inc"
