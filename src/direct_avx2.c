/* AVX2 + FMA microkernels of the blocked direct engine (compiled with
 * -mavx2 -mfma; called only when the CPU has both, see src/direct.c).
 * 8 floats a vector, 16 registers: 6 pixels (or 6 k) x 2 vectors = 12
 * accumulators, 2 weight (or input) vectors and a broadcast, the shape of
 * BLIS's Haswell sgemm kernel (6 x 16).  Against 4 x 3 (24 channels), each
 * weight vector streamed from L2 serves 6 pixels instead of 4, and 16
 * channels divide every layer's C and K, where 64 = 24 + 24 + 16 left a
 * third of the register blocks 2 vectors wide.  Zen 3 EPYC, one process
 * alternating the two builds' kernels, best of 9-15 rounds, 1 / 2 threads
 * (with the engine's channel blocks of several register blocks, direct.c):
 * BPA res2a_branch2b 1.25x / 1.26x, res3a_branch2b 1.06x / 1.08x,
 * res4a_branch2b 1.00x / 0.99x, res5a_branch2b 0.94x / 0.94x; FWD
 * res2a_branch1 1.22x / 1.28x; BPW res3a_branch2b 1.25x / 1.28x,
 * res5a_branch2b 1.07x / 1.11x, the 1x1 layers 0.89-1.02x.
 * Rows of exactly 7 padded pixels (res5's 3x3 layers) take one 7 x 2 tile a
 * row, as the AVX-512 set's 7 x 3: 14 accumulators leave one register for the
 * broadcast and one weight vector, so the other weight vector is read by the
 * FMAs from L1 (see vkeep in direct_kernels.inc).  Against the narrow tiles
 * across row ends (18% of their FLOPs on the zero row at 7 x 7), Zen 3 EPYC,
 * res5a_branch2b, medians of 21 alternating rounds in one process: BPA 1.07x
 * twice on one thread, 1.09x on two; FWD 1.03x / 1.07x.  Rows of 14, 28 and
 * 56 in 7-pixel tiles instead of 5-6 gained nothing (0.98-1.01x).
 * Outputs of at most 8 channels take thin tiles of up to 12 pixels x 1
 * vector: 12 accumulators, the weight vector and a broadcast (src/direct.c). */
#include <immintrin.h>

#include "internal.h"

#define VEC __m256
#define VL 8
#define VMASK __m256i
#define MAXNP 6
#define MAXNV 2
#define MAXKB 6
#define ROWNP 7
#define ROWNV 2
#define THINNP 12
#define THINKB 12
#define NVREGS 16
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
/* the sum of the 8 lanes: halves, then pairs, then the last two */
static inline float vhsum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  return _mm_cvtss_f32(_mm_add_ss(s, _mm_movehdup_ps(s)));
}
#define CBP_AVX_TRANSPOSE /* transpose_8x8 */

#include "direct_kernels.inc"
