#include "blas.h"

/* CBLAS enumerations (cblas.h): fixed by the standard, repeated here so the
 * kernels need no BLAS header at build time. */
enum { CBLAS_ROW_MAJOR = 101, CBLAS_NO_TRANS = 111, CBLAS_TRANS = 112 };

static cnnfast_sgemm_fn registered_sgemm = NULL;
static cnnfast_dgemm_fn registered_dgemm = NULL;

void cnnfast_blas_register(cnnfast_sgemm_fn sgemm, cnnfast_dgemm_fn dgemm)
{
    registered_sgemm = sgemm;
    registered_dgemm = dgemm;
}

int cnnfast_blas_ready(void)
{
    return registered_sgemm != NULL && registered_dgemm != NULL;
}

/* Sizes were checked against CNNFAST_BLAS_MAX_DIM by the callers' planners. */
void cnnfast_gemm_f32(int trans_a, int trans_b, ptrdiff_t m, ptrdiff_t n,
                      ptrdiff_t k, float alpha, const float *a, ptrdiff_t lda,
                      const float *b, ptrdiff_t ldb, float beta, float *c,
                      ptrdiff_t ldc)
{
    registered_sgemm(CBLAS_ROW_MAJOR, trans_a ? CBLAS_TRANS : CBLAS_NO_TRANS,
                     trans_b ? CBLAS_TRANS : CBLAS_NO_TRANS, (int)m, (int)n,
                     (int)k, alpha, a, (int)lda, b, (int)ldb, beta, c, (int)ldc);
}

void cnnfast_gemm_f64(int trans_a, int trans_b, ptrdiff_t m, ptrdiff_t n,
                      ptrdiff_t k, double alpha, const double *a, ptrdiff_t lda,
                      const double *b, ptrdiff_t ldb, double beta, double *c,
                      ptrdiff_t ldc)
{
    registered_dgemm(CBLAS_ROW_MAJOR, trans_a ? CBLAS_TRANS : CBLAS_NO_TRANS,
                     trans_b ? CBLAS_TRANS : CBLAS_NO_TRANS, (int)m, (int)n,
                     (int)k, alpha, a, (int)lda, b, (int)ldb, beta, c, (int)ldc);
}
