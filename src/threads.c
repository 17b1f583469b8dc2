/* Threading glue between OpenMP and OpenBLAS.
 *
 * OpenBLAS's OpenMP build runs single-threaded when called inside a parallel
 * region, and with openblas_set_num_threads() threads outside one.  Strategies
 * call cbp_blas_threads(threads) before a GEMM made outside a parallel region. */
#include <cblas.h>

#include "internal.h"

void cbp_blas_threads(int threads) { openblas_set_num_threads(threads < 1 ? 1 : threads); }

void cbp_sgemm_split_m(int threads, int trans_b, int m, int n, int k, const float *a, int lda,
                       const float *b, int ldb, float *c, int ldc) {
  /* C (m x n) = A (m x k) * op(B): rows of A and C are independent, so each
     thread takes a contiguous slice with a single-threaded sgemm.  OpenBLAS's
     own threading splits tall-skinny products (m >> n, k: 1x1 convolutions) so
     that two threads ran slower than one (25088x64x256: 104 vs 125 GFLOP/s). */
  const CBLAS_TRANSPOSE tb = trans_b ? CblasTrans : CblasNoTrans;
  int parts = threads < m / 64 ? threads : m / 64;
  if (parts <= 1) {
    cbp_blas_threads(threads);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, tb, m, n, k, 1.0f, a, lda, b, ldb, 0.0f, c, ldc);
    return;
  }
#pragma omp parallel for num_threads(parts) schedule(static)
  for (int t = 0; t < parts; t++) {
    int m0 = (int)((long)m * t / parts), m1 = (int)((long)m * (t + 1) / parts);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, tb, m1 - m0, n, k, 1.0f, a + (size_t)m0 * lda, lda,
                b, ldb, 0.0f, c + (size_t)m0 * ldc, ldc);
  }
}
