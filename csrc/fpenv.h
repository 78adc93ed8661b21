/* Flush subnormal floats to zero for the duration of a kernel call.
 *
 * Arithmetic on subnormal values (|x| < 1.2e-38 in float32) takes a slow
 * microcode path on x86 (about a hundred cycles an operation).  Training makes
 * them: a momentum buffer whose gradient is zero decays by 0.9 a step and
 * reaches the subnormal range after ~800 steps (measured on `cnnfast train`:
 * 40 % of LeNet-5's momentum buffers are subnormal from epoch 6 on, and the
 * optimizer step gets 6x slower).  Their contribution to any result is below
 * float32 rounding, so the kernels set FTZ (results that would be subnormal are
 * 0) and DAZ (subnormal inputs read as 0) for their own work and restore the
 * caller's mode before returning, as TensorFlow does around every op.  The mode
 * is per thread: each OpenMP thread of a region sets and restores its own.
 *
 * x86 (SSE/AVX): MXCSR bits FTZ (15) and DAZ (6).  AArch64: FPCR.FZ (bit 24),
 * which covers both.  Elsewhere: nothing (the results are then exact, as in
 * NumPy, and only the speed differs). */
#ifndef CNNFAST_FPENV_H
#define CNNFAST_FPENV_H

#if defined(__x86_64__) || defined(_M_X64) || defined(__i386__) || defined(_M_IX86)
#include <xmmintrin.h>
typedef unsigned int cnnfast_fpmode;
static inline cnnfast_fpmode cnnfast_flush_denormals(void)
{
    const cnnfast_fpmode saved = _mm_getcsr();
    _mm_setcsr(saved | 0x8040u);
    return saved;
}
static inline void cnnfast_restore_fpmode(cnnfast_fpmode saved) { _mm_setcsr(saved); }
#elif defined(__aarch64__) && (defined(__GNUC__) || defined(__clang__))
typedef unsigned long long cnnfast_fpmode;
static inline cnnfast_fpmode cnnfast_flush_denormals(void)
{
    cnnfast_fpmode saved;
    __asm__ volatile("mrs %0, fpcr" : "=r"(saved));
    __asm__ volatile("msr fpcr, %0" : : "r"(saved | (1ull << 24)));
    return saved;
}
static inline void cnnfast_restore_fpmode(cnnfast_fpmode saved) { __asm__ volatile("msr fpcr, %0" : : "r"(saved)); }
#else
typedef int cnnfast_fpmode;
static inline cnnfast_fpmode cnnfast_flush_denormals(void) { return 0; }
static inline void cnnfast_restore_fpmode(cnnfast_fpmode saved) { (void)saved; }
#endif

#endif
