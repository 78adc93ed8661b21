#include "blas.h"

/* CBLAS enumerations (cblas.h): fixed by the standard, repeated here so the
 * kernels need no BLAS header at build time. */
enum { CBLAS_ROW_MAJOR = 101, CBLAS_NO_TRANS = 111, CBLAS_TRANS = 112 };

static cnnfast_sgemm_fn registered_sgemm = NULL;
static cnnfast_dgemm_fn registered_dgemm = NULL;
static cnnfast_blas_get_threads_fn registered_get_threads = NULL;
static cnnfast_blas_set_threads_fn registered_set_threads = NULL;
static int largest_threads = 0;

void cnnfast_blas_register(cnnfast_sgemm_fn sgemm, cnnfast_dgemm_fn dgemm,
                           cnnfast_blas_get_threads_fn get_threads,
                           cnnfast_blas_set_threads_fn set_threads)
{
    registered_sgemm = sgemm;
    registered_dgemm = dgemm;
    registered_get_threads = get_threads;
    registered_set_threads = set_threads;
}

int cnnfast_blas_ready(void)
{
    return registered_sgemm != NULL && registered_dgemm != NULL &&
           registered_get_threads != NULL && registered_set_threads != NULL;
}

/* BLAS back on one thread if anyone raised it (see blas.h).  Several kernel
 * threads may find it raised at once: each then stores the same 1, which is
 * all openblas_set_num_threads(1) does once the pool exists. */
static void blas_on_this_thread(void)
{
    int threads = registered_get_threads();
    if (threads != 1) {
        registered_set_threads(1);
        threads = registered_get_threads();
    }
    /* The test hook: read on every call, written only when it grows. */
    if (threads > largest_threads) largest_threads = threads;
}

int cnnfast_blas_largest_threads(void) { return largest_threads; }
void cnnfast_blas_reset_largest_threads(void) { largest_threads = 0; }

/* Sizes were checked against CNNFAST_BLAS_MAX_DIM by the callers' planners. */
void cnnfast_gemm_f32(int trans_a, int trans_b, ptrdiff_t m, ptrdiff_t n,
                      ptrdiff_t k, float alpha, const float *a, ptrdiff_t lda,
                      const float *b, ptrdiff_t ldb, float beta, float *c,
                      ptrdiff_t ldc)
{
    blas_on_this_thread();
    registered_sgemm(CBLAS_ROW_MAJOR, trans_a ? CBLAS_TRANS : CBLAS_NO_TRANS,
                     trans_b ? CBLAS_TRANS : CBLAS_NO_TRANS, (int)m, (int)n,
                     (int)k, alpha, a, (int)lda, b, (int)ldb, beta, c, (int)ldc);
}

void cnnfast_gemm_f64(int trans_a, int trans_b, ptrdiff_t m, ptrdiff_t n,
                      ptrdiff_t k, double alpha, const double *a, ptrdiff_t lda,
                      const double *b, ptrdiff_t ldb, double beta, double *c,
                      ptrdiff_t ldc)
{
    blas_on_this_thread();
    registered_dgemm(CBLAS_ROW_MAJOR, trans_a ? CBLAS_TRANS : CBLAS_NO_TRANS,
                     trans_b ? CBLAS_TRANS : CBLAS_NO_TRANS, (int)m, (int)n,
                     (int)k, alpha, a, (int)lda, b, (int)ldb, beta, c, (int)ldc);
}
