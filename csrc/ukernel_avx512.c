/* AVX-512F micro-kernels (x86-64).  Compiled for AVX-512 whatever the build's
 * baseline (the pragmas below for gcc and clang; setup.py adds /arch:AVX512
 * for MSVC); run only when cnnfast_isa_available says the CPU can.
 *
 * gemm tile: 12 output channels x 32 pixels in float32 (16 x 14 would fit the
 * 32 registers too, but most layers have a multiple of 4 channels), 12 x 16 in
 * float64: 24 accumulators, 2 vector loads and 12 embedded broadcasts per
 * step.  dot tile: 4 x 6 accumulators. */
#include "ukernel.h"

#if defined(__x86_64__) || defined(_M_X64)
#include <immintrin.h>

#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx512f,avx2,fma"))), apply_to = function)
#elif defined(__GNUC__)
#pragma GCC push_options
#pragma GCC target("avx512f,avx2,fma")
#endif

#define MR 12
#define NV 2
#define ROW_STEP 4
#define DOT_MR 4
#define DOT_NR 6

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
#define VMASK __mmask16
#define VMASK_RANGE(first, last) ((__mmask16)(((1u << (last)) - 1u) & ~((1u << (first)) - 1u)))
#define VLOAD_MASKZ(mask, p) _mm512_maskz_loadu_ps(mask, p)
#define VSTORE_MASK(p, mask, v) _mm512_mask_storeu_ps(p, mask, v)
#include "ukernel_impl.inc"
#undef REAL
#undef FN
#undef UKERNELS
#undef LANES
#undef VEC
#undef VLOAD
#undef VSTORE
#undef VZERO
#undef VBCAST
#undef VFMA
#undef VSUM
#undef VMASK
#undef VMASK_RANGE
#undef VLOAD_MASKZ
#undef VSTORE_MASK

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
