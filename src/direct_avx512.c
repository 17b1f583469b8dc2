/* AVX-512 microkernels of the blocked direct engine (compiled with -mavx512f;
 * called only when the CPU has AVX-512F, see src/direct.c).
 * 16 floats a vector, 32 registers: 6 pixels (or 6 k) x 4 vectors = 24
 * accumulators, 4 weight (or input) vectors and a broadcast.  Rows of exactly 7
 * padded pixels (res5's 3x3 layers) take one 7 x 3 tile instead: 21
 * accumulators, 3 weight vectors.  Outputs of at most 16 channels take thin
 * tiles of up to 14 pixels x 1 vector (src/direct.c). */
#include <immintrin.h>

#include "internal.h"

#define VEC __m512
#define VL 16
#define VMASK __mmask16
#define MAXNP 6
#define MAXNV 4
#define MAXKB 6
#define ROWNP 7
#define ROWNV 3
#define THINNP 14
#define THINKB 16
#define NVREGS 32
#define ISA_NAME "avx512"
#define ISA_SYM avx512
#define vzero() _mm512_setzero_ps()
#define vload(p) _mm512_loadu_ps(p)
#define vloadm(p, m) _mm512_maskz_loadu_ps((m), (p))
#define vstore(p, v) _mm512_storeu_ps((p), (v))
#define vstorem(p, v, m) _mm512_mask_storeu_ps((p), (m), (v))
#define vbcast(p) _mm512_set1_ps(*(p))
#define vfma(a, b, c) _mm512_fmadd_ps((a), (b), (c))
#define vadd(a, b) _mm512_add_ps((a), (b))
#define vmask(n) ((__mmask16)((1u << (n)) - 1u))
/* lanes a <= j < b */
#define vmaskr(a, b) ((__mmask16)(((1u << (b)) - 1u) & ~((1u << (a)) - 1u)))
#define vkeep(v) __asm__("" : "+v"(v))
#define vhsum(v) _mm512_reduce_add_ps(v)
#define CBP_AVX_TRANSPOSE /* transpose_8x8 */

#include "direct_kernels.inc"
