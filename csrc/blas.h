/* Matrix products through an optimised BLAS (OpenBLAS from scipy-openblas32).
 *
 * The kernels never link against BLAS: the Python layer opens the library at
 * import, pins it to one thread and registers the addresses of its row-major
 * CBLAS sgemm/dgemm here.  This keeps the build free of link flags and lets the
 * wheel use the BLAS that pip installed beside it. */
#ifndef CNNFAST_BLAS_H
#define CNNFAST_BLAS_H

#include <stddef.h>

/* The CBLAS signature: (order, trans_a, trans_b, m, n, k, alpha, a, lda, b,
 * ldb, beta, c, ldc) with 32-bit integer sizes. */
typedef void (*cnnfast_sgemm_fn)(int, int, int, int, int, int, float,
                                 const float *, int, const float *, int,
                                 float, float *, int);
typedef void (*cnnfast_dgemm_fn)(int, int, int, int, int, int, double,
                                 const double *, int, const double *, int,
                                 double, double *, int);

void cnnfast_blas_register(cnnfast_sgemm_fn sgemm, cnnfast_dgemm_fn dgemm);
int cnnfast_blas_ready(void);

/* Largest size a 32-bit BLAS accepts for m, n, k or a leading dimension. */
#define CNNFAST_BLAS_MAX_DIM 2147483647

/* Row-major C = alpha * op(A) @ op(B) + beta * C, where op transposes when
 * the flag is non-zero.  A is m x k after op, B is k x n after op. */
void cnnfast_gemm_f32(int trans_a, int trans_b, ptrdiff_t m, ptrdiff_t n,
                      ptrdiff_t k, float alpha, const float *a, ptrdiff_t lda,
                      const float *b, ptrdiff_t ldb, float beta, float *c,
                      ptrdiff_t ldc);
void cnnfast_gemm_f64(int trans_a, int trans_b, ptrdiff_t m, ptrdiff_t n,
                      ptrdiff_t k, double alpha, const double *a, ptrdiff_t lda,
                      const double *b, ptrdiff_t ldb, double beta, double *c,
                      ptrdiff_t ldc);

#endif
