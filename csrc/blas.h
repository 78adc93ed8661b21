/* Matrix products through an optimised BLAS (OpenBLAS from scipy-openblas32).
 *
 * The kernels never link against BLAS: the Python layer opens the library at
 * import and registers the addresses of its row-major CBLAS sgemm/dgemm and
 * of its thread-count getter and setter here.  This keeps the build free of
 * link flags and lets the wheel use the BLAS that pip installed beside it.
 *
 * The kernels call BLAS from inside their OpenMP regions, so BLAS must run
 * each call on the calling thread: an OpenBLAS built with pthreads (as
 * scipy-openblas32 is) would otherwise hand the work to its own threads,
 * beside OpenMP's (and print "Detect OpenMP Loop").  Its thread count is one
 * process-wide number that anyone may change (threadpoolctl does), and its
 * openblas_set_num_threads_local is no more local in such a build (nor
 * exported by scipy-openblas32), so every GEMM below first checks the count
 * and sets it back to 1 if someone raised it: a load and a compare per call,
 * under 0.1% of the smallest GEMM LeNet-5 makes. */
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
/* openblas_get_num_threads / openblas_set_num_threads */
typedef int (*cnnfast_blas_get_threads_fn)(void);
typedef void (*cnnfast_blas_set_threads_fn)(int);

void cnnfast_blas_register(cnnfast_sgemm_fn sgemm, cnnfast_dgemm_fn dgemm,
                           cnnfast_blas_get_threads_fn get_threads,
                           cnnfast_blas_set_threads_fn set_threads);
int cnnfast_blas_ready(void);

/* Test hook: the largest BLAS thread count any GEMM call ran with since the
 * last reset (read from BLAS itself just before the call), 0 if none ran. */
int cnnfast_blas_largest_threads(void);
void cnnfast_blas_reset_largest_threads(void);

/* Largest size a 32-bit BLAS accepts for m, n, k or a leading dimension. */
#define CNNFAST_BLAS_MAX_DIM 2147483647

/* Row-major C = alpha * op(A) @ op(B) + beta * C, where op transposes when
 * the flag is non-zero.  A is m x k after op, B is k x n after op.  Runs on
 * the calling thread. */
void cnnfast_gemm_f32(int trans_a, int trans_b, ptrdiff_t m, ptrdiff_t n,
                      ptrdiff_t k, float alpha, const float *a, ptrdiff_t lda,
                      const float *b, ptrdiff_t ldb, float beta, float *c,
                      ptrdiff_t ldc);
void cnnfast_gemm_f64(int trans_a, int trans_b, ptrdiff_t m, ptrdiff_t n,
                      ptrdiff_t k, double alpha, const double *a, ptrdiff_t lda,
                      const double *b, ptrdiff_t ldb, double beta, double *c,
                      ptrdiff_t ldc);

#endif
