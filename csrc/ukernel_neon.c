/* Advanced SIMD (NEON) micro-kernels for AArch64, where NEON is part of the
 * architecture: no flags, no run-time check.  32 vector registers of 4 floats
 * (2 doubles): gemm tile 8 channels x 3 vectors (24 accumulators), weight
 * gradient 6 patch rows x 4 vectors. */
#include "ukernel.h"

#if defined(__aarch64__) || defined(_M_ARM64)
#include <arm_neon.h>

#define MR 8
#define NV 3
#define ROW_STEP 4
#define WG_MR 6
#define WG_NV 4

#define REAL float
#define FN(name) name##_neon_f32
#define UKERNELS cnnfast_ukernel_table_f32
#define LANES 4
#define VEC float32x4_t
#define VLOAD(p) vld1q_f32(p)
#define VSTORE(p, v) vst1q_f32(p, v)
#define VZERO() vdupq_n_f32(0.0f)
#define VBCAST(p) vld1q_dup_f32(p)
#define VFMA(a, b, c) vfmaq_f32(c, a, b)
#define VSUM(v) vaddvq_f32(v)
#include "ukernel_impl.inc"
#undef MR
#undef NV
#undef ROW_STEP

/* 2 doubles a vector: 6 channels x 4 vectors keeps 24 accumulators. */
#define MR 6
#define NV 4
#define ROW_STEP 2
#define REAL double
#define FN(name) name##_neon_f64
#define UKERNELS cnnfast_ukernel_table_f64
#define LANES 2
#define VEC float64x2_t
#define VLOAD(p) vld1q_f64(p)
#define VSTORE(p, v) vst1q_f64(p, v)
#define VZERO() vdupq_n_f64(0.0)
#define VBCAST(p) vld1q_dup_f64(p)
#define VFMA(a, b, c) vfmaq_f64(c, a, b)
#define VSUM(v) vaddvq_f64(v)
#include "ukernel_impl.inc"

const cnnfast_ukernel_table_f32 *cnnfast_ukernels_neon_f32(void) { return &table_neon_f32; }
const cnnfast_ukernel_table_f64 *cnnfast_ukernels_neon_f64(void) { return &table_neon_f64; }

#else
const cnnfast_ukernel_table_f32 *cnnfast_ukernels_neon_f32(void) { return NULL; }
const cnnfast_ukernel_table_f64 *cnnfast_ukernels_neon_f64(void) { return NULL; }
#endif
