/* Which instruction set the convolution engine's micro-kernels use.
 *
 * One wheel serves every CPU: the micro-kernels for each instruction set are
 * compiled into the library (ukernel_*.c, each with its own target flags), and
 * the one to run is chosen at run time from what the CPU reports (CPUID on x86,
 * the architecture itself on AArch64), never from OPENBLAS_CORETYPE.  The
 * choice can be lowered (CNNFAST_ISA, read by cnnfast at import, or
 * cnnfast_set_isa) to run and test the other paths on one machine.
 *
 * Results are bit-identical across thread counts and runs for one ISA; two
 * ISAs round differently (different tile shapes, fused or separate
 * multiply-add), within the tolerances the tests hold them to. */
#ifndef CNNFAST_ISA_H
#define CNNFAST_ISA_H

enum {
    CNNFAST_ISA_GENERIC = 0, /* portable C, any CPU */
    CNNFAST_ISA_AVX2 = 1,    /* x86-64 with AVX2 and FMA3 */
    CNNFAST_ISA_AVX512 = 2,  /* x86-64 with AVX-512F */
    CNNFAST_ISA_NEON = 3,    /* AArch64 (Advanced SIMD is part of the architecture) */
    CNNFAST_ISA_COUNT = 4
};

/* Whether the micro-kernels of `isa` were compiled into this build and this
 * CPU (and its operating system) can run them. */
int cnnfast_isa_available(int isa);

/* The fastest available ISA: what the engine uses unless told otherwise. */
int cnnfast_isa_best(void);

/* The ISA the engine uses now; set it to an available one (returns 0), or get
 * -1 and no change for one that is not available. */
int cnnfast_get_isa(void);
int cnnfast_set_isa(int isa);

/* "generic", "avx2", "avx512", "neon"; NULL outside [0, CNNFAST_ISA_COUNT). */
const char *cnnfast_isa_name(int isa);

#endif
