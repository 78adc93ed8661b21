/* AVX2 + FMA3 micro-kernels (x86-64), compiled for that ISA whatever the
 * build's baseline (pragmas for gcc and clang; /arch:AVX2 for MSVC, from
 * setup.py); run only when cnnfast_isa_available says the CPU can.
 *
 * 16 vector registers: the gemm tile is 6 channels x 2 vectors (BLIS's Haswell
 * shape), 12 accumulators, 2 loads and a broadcast per step; weight-gradient
 * tile 4 patch rows x 3 vectors. */
#include "ukernel.h"

#if defined(__x86_64__) || defined(_M_X64)
#include <immintrin.h>

#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx2,fma"))), apply_to = function)
#elif defined(__GNUC__)
#pragma GCC push_options
#pragma GCC target("avx2,fma")
#endif

#define VPREFETCH(p) _mm_prefetch((const char *)(p), _MM_HINT_T0)
#define MR 6
#define NV 2
#define ROW_STEP 2
#define WG_MR 4
#define WG_NV 3

/* The lanes of an 8-float vector summed pairwise in a fixed order. */
static inline float sum_avx2_f32(__m256 v)
{
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

static inline double sum_avx2_f64(__m256d v)
{
    __m128d s = _mm_add_pd(_mm256_castpd256_pd128(v), _mm256_extractf128_pd(v, 1));
    s = _mm_add_sd(s, _mm_unpackhi_pd(s, s));
    return _mm_cvtsd_f64(s);
}

/* Lanes [first, last) of a vector mask (all bits set in a selected lane). */
static inline __m256i range_avx2_32(ptrdiff_t first, ptrdiff_t last)
{
    const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    return _mm256_and_si256(_mm256_cmpgt_epi32(_mm256_set1_epi32((int)last), lane),
                            _mm256_cmpgt_epi32(_mm256_add_epi32(lane, _mm256_set1_epi32(1)),
                                               _mm256_set1_epi32((int)first)));
}

static inline __m256i range_avx2_64(ptrdiff_t first, ptrdiff_t last)
{
    const __m256i lane = _mm256_setr_epi64x(0, 1, 2, 3);
    return _mm256_and_si256(_mm256_cmpgt_epi64(_mm256_set1_epi64x(last), lane),
                            _mm256_cmpgt_epi64(_mm256_add_epi64(lane, _mm256_set1_epi64x(1)),
                                               _mm256_set1_epi64x(first)));
}

#define REAL float
#define FN(name) name##_avx2_f32
#define UKERNELS cnnfast_ukernel_table_f32
#define LANES 8
#define VEC __m256
#define VLOAD(p) _mm256_loadu_ps(p)
#define VSTORE(p, v) _mm256_storeu_ps(p, v)
#define VZERO() _mm256_setzero_ps()
#define VBCAST(p) _mm256_broadcast_ss(p)
#define VFMA(a, b, c) _mm256_fmadd_ps(a, b, c)
#define VSUM(v) sum_avx2_f32(v)
#define VMASK __m256i
#define VMASK_RANGE(first, last) range_avx2_32(first, last)
#define VLOAD_MASKZ(mask, p) _mm256_maskload_ps(p, mask)
#define VSTORE_MASK(p, mask, v) _mm256_maskstore_ps(p, mask, v)
#include "ukernel_impl.inc"

#define REAL double
#define FN(name) name##_avx2_f64
#define UKERNELS cnnfast_ukernel_table_f64
#define LANES 4
#define VEC __m256d
#define VLOAD(p) _mm256_loadu_pd(p)
#define VSTORE(p, v) _mm256_storeu_pd(p, v)
#define VZERO() _mm256_setzero_pd()
#define VBCAST(p) _mm256_broadcast_sd(p)
#define VFMA(a, b, c) _mm256_fmadd_pd(a, b, c)
#define VSUM(v) sum_avx2_f64(v)
#define VMASK __m256i
#define VMASK_RANGE(first, last) range_avx2_64(first, last)
#define VLOAD_MASKZ(mask, p) _mm256_maskload_pd(p, mask)
#define VSTORE_MASK(p, mask, v) _mm256_maskstore_pd(p, mask, v)
#include "ukernel_impl.inc"

#if defined(__clang__)
#pragma clang attribute pop
#elif defined(__GNUC__)
#pragma GCC pop_options
#endif

const cnnfast_ukernel_table_f32 *cnnfast_ukernels_avx2_f32(void) { return &table_avx2_f32; }
const cnnfast_ukernel_table_f64 *cnnfast_ukernels_avx2_f64(void) { return &table_avx2_f64; }

#else
const cnnfast_ukernel_table_f32 *cnnfast_ukernels_avx2_f32(void) { return NULL; }
const cnnfast_ukernel_table_f64 *cnnfast_ukernels_avx2_f64(void) { return NULL; }
#endif
