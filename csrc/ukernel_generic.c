/* Portable C micro-kernels: any CPU, any C99 compiler.  A "vector" is one
 * element; the 4 x 8 gemm tile is plain scalar code that compilers vectorise
 * with the build's baseline instructions.  Also the table lookup by ISA. */
#include "isa.h"
#include "ukernel.h"

#define MR 4
#define NV 8
#define ROW_STEP 4
#define WG_MR 4
#define WG_NV 4

#define REAL float
#define VEC float
#define FN(name) name##_generic_f32
#define UKERNELS cnnfast_ukernel_table_f32
#include "ukernel_scalar.inc"
#include "ukernel_impl.inc"

#define REAL double
#define VEC double
#define FN(name) name##_generic_f64
#define UKERNELS cnnfast_ukernel_table_f64
#include "ukernel_scalar.inc"
#include "ukernel_impl.inc"

const cnnfast_ukernel_table_f32 *cnnfast_ukernels_generic_f32(void) { return &table_generic_f32; }
const cnnfast_ukernel_table_f64 *cnnfast_ukernels_generic_f64(void) { return &table_generic_f64; }

const cnnfast_ukernel_table_f32 *cnnfast_ukernels_f32(int isa)
{
    switch (isa) {
    case CNNFAST_ISA_GENERIC: return cnnfast_ukernels_generic_f32();
    case CNNFAST_ISA_AVX2: return cnnfast_ukernels_avx2_f32();
    case CNNFAST_ISA_AVX512: return cnnfast_ukernels_avx512_f32();
    case CNNFAST_ISA_NEON: return cnnfast_ukernels_neon_f32();
    default: return NULL;
    }
}

const cnnfast_ukernel_table_f64 *cnnfast_ukernels_f64(int isa)
{
    switch (isa) {
    case CNNFAST_ISA_GENERIC: return cnnfast_ukernels_generic_f64();
    case CNNFAST_ISA_AVX2: return cnnfast_ukernels_avx2_f64();
    case CNNFAST_ISA_AVX512: return cnnfast_ukernels_avx512_f64();
    case CNNFAST_ISA_NEON: return cnnfast_ukernels_neon_f64();
    default: return NULL;
    }
}
