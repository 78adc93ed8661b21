/* AVX-512F micro-kernels (x86-64).  Compiled for AVX-512 whatever the build's
 * baseline (the pragmas below for gcc and clang; setup.py adds /arch:AVX512
 * for MSVC); run only when cnnfast_isa_available says the CPU can.
 *
 * gemm tile: 12 output channels x 32 pixels in float32 (16 x 14 would fit the
 * 32 registers too, but most layers have a multiple of 4 channels), 12 x 16 in
 * float64: 24 accumulators, 2 vector loads and 12 embedded broadcasts per
 * step.  Weight-gradient tile: 6 patch rows x 4 vectors (64 output
 * channels in float32, 32 in float64), again 24 accumulators. */
#include "ukernel.h"

#if defined(__x86_64__) || defined(_M_X64)
#include <immintrin.h>

#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx512f,avx2,fma"))), apply_to = function)
#elif defined(__GNUC__)
#pragma GCC push_options
#pragma GCC target("avx512f,avx2,fma")
#endif

/* dst (16 x 16, rows ldd apart) = the transpose of src (rows lds apart):
 * the classic four rounds of unpack / shuffle / lane permutes. */
CNNFAST_ALWAYS_INLINE void block16_transpose_avx512(const float *src, ptrdiff_t lds, float *dst, ptrdiff_t ldd)
{
    __m512 r[16], t[16];
    for (int i = 0; i < 16; ++i) r[i] = _mm512_loadu_ps(src + i * lds);
    for (int i = 0; i < 16; i += 2) {
        t[i] = _mm512_unpacklo_ps(r[i], r[i + 1]);
        t[i + 1] = _mm512_unpackhi_ps(r[i], r[i + 1]);
    }
    for (int i = 0; i < 16; i += 4) {
        r[i] = _mm512_shuffle_ps(t[i], t[i + 2], 0x44);
        r[i + 1] = _mm512_shuffle_ps(t[i], t[i + 2], 0xee);
        r[i + 2] = _mm512_shuffle_ps(t[i + 1], t[i + 3], 0x44);
        r[i + 3] = _mm512_shuffle_ps(t[i + 1], t[i + 3], 0xee);
    }
    for (int i = 0; i < 4; ++i) {
        t[i] = _mm512_shuffle_f32x4(r[i], r[i + 4], 0x88);
        t[i + 4] = _mm512_shuffle_f32x4(r[i], r[i + 4], 0xdd);
        t[i + 8] = _mm512_shuffle_f32x4(r[i + 8], r[i + 12], 0x88);
        t[i + 12] = _mm512_shuffle_f32x4(r[i + 8], r[i + 12], 0xdd);
    }
    for (int i = 0; i < 4; ++i) {
        r[i] = _mm512_shuffle_f32x4(t[i], t[i + 8], 0x88);
        r[i + 8] = _mm512_shuffle_f32x4(t[i], t[i + 8], 0xdd);
        r[i + 4] = _mm512_shuffle_f32x4(t[i + 4], t[i + 12], 0x88);
        r[i + 12] = _mm512_shuffle_f32x4(t[i + 4], t[i + 12], 0xdd);
    }
    /* r[k] now holds column k of src. */
    for (int k = 0; k < 16; ++k) _mm512_storeu_ps(dst + k * ldd, r[k]);
}

/* Lanes [first, last) of p[0], p[2], ..., p[30] (zero elsewhere): two masked
 * loads of the elements needed, then one permute that keeps the even ones. */
CNNFAST_ALWAYS_INLINE __m512 even_avx512_f32(ptrdiff_t first, ptrdiff_t last, const float *p)
{
    const __mmask32 want = (__mmask32)((((1ull << last) - 1) & ~((1ull << first) - 1)));
    unsigned long long spread = 0; /* lane i -> element 2i */
    for (int i = 0; i < 16; ++i) spread |= ((want >> i) & 1ull) << (2 * i);
    const __m512 lo = _mm512_maskz_loadu_ps((__mmask16)spread, p);
    const __m512 hi = _mm512_maskz_loadu_ps((__mmask16)(spread >> 16), p + 16);
    const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    return _mm512_permutex2var_ps(lo, even, hi);
}

#define VPREFETCH(p) _mm_prefetch((const char *)(p), _MM_HINT_T0)
#define MR 12
#define NV 2
#define ROW_STEP 4
#define WG_MR 6
#define WG_NV 4

#define REAL float
#define FN(name) name##_avx512_f32
#define UKERNELS cnnfast_ukernel_table_f32
#define LANES 16
#define VEC __m512
#define VLOAD(p) _mm512_loadu_ps(p)
#define VSTORE(p, v) _mm512_storeu_ps(p, v)
#define VZERO() _mm512_setzero_ps()
#define VBCAST(p) _mm512_set1_ps(*(p))
#define VFMA(a, b, c) _mm512_fmadd_ps(a, b, c)
#define VSUM(v) _mm512_reduce_add_ps(v)
#define VTRANSPOSE_BLOCK(src, lds, dst, ldd) block16_transpose_avx512(src, lds, dst, ldd)
#define VLOAD_EVEN_MASKZ(first, last, p) even_avx512_f32(first, last, p)
#define VMASK __mmask16
#define VMASK_RANGE(first, last) ((__mmask16)(((1u << (last)) - 1u) & ~((1u << (first)) - 1u)))
#define VLOAD_MASKZ(mask, p) _mm512_maskz_loadu_ps(mask, p)
#define VSTORE_MASK(p, mask, v) _mm512_mask_storeu_ps(p, mask, v)
#include "ukernel_impl.inc"

#define REAL double
#define FN(name) name##_avx512_f64
#define UKERNELS cnnfast_ukernel_table_f64
#define LANES 8
#define VEC __m512d
#define VLOAD(p) _mm512_loadu_pd(p)
#define VSTORE(p, v) _mm512_storeu_pd(p, v)
#define VZERO() _mm512_setzero_pd()
#define VBCAST(p) _mm512_set1_pd(*(p))
#define VFMA(a, b, c) _mm512_fmadd_pd(a, b, c)
#define VSUM(v) _mm512_reduce_add_pd(v)
#define VMASK __mmask8
#define VMASK_RANGE(first, last) ((__mmask8)(((1u << (last)) - 1u) & ~((1u << (first)) - 1u)))
#define VLOAD_MASKZ(mask, p) _mm512_maskz_loadu_pd(mask, p)
#define VSTORE_MASK(p, mask, v) _mm512_mask_storeu_pd(p, mask, v)
#include "ukernel_impl.inc"

#if defined(__clang__)
#pragma clang attribute pop
#elif defined(__GNUC__)
#pragma GCC pop_options
#endif

const cnnfast_ukernel_table_f32 *cnnfast_ukernels_avx512_f32(void) { return &table_avx512_f32; }
const cnnfast_ukernel_table_f64 *cnnfast_ukernels_avx512_f64(void) { return &table_avx512_f64; }

#else
const cnnfast_ukernel_table_f32 *cnnfast_ukernels_avx512_f32(void) { return NULL; }
const cnnfast_ukernel_table_f64 *cnnfast_ukernels_avx512_f64(void) { return NULL; }
#endif
