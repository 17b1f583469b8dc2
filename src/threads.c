/* Threading glue between OpenMP and OpenBLAS.
 *
 * OpenBLAS's OpenMP build runs single-threaded when called inside a parallel
 * region, and with openblas_set_num_threads() threads outside one.  Strategies
 * call cbp_blas_threads(threads) before a GEMM made outside a parallel region. */
#include <cblas.h>

#include "internal.h"

void cbp_blas_threads(int threads) { openblas_set_num_threads(threads < 1 ? 1 : threads); }
