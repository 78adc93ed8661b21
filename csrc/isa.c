#include "isa.h"
#include "ukernel.h"

#if defined(__x86_64__) || defined(_M_X64) || defined(__i386__) || defined(_M_IX86)
#define CNNFAST_X86 1
#if defined(_MSC_VER) && !defined(__clang__)
#include <intrin.h>
#else
#include <cpuid.h>
#endif
#endif

#ifdef CNNFAST_X86
/* CPUID leaf `leaf`, sub-leaf `sub` into regs[0..3] = eax, ebx, ecx, edx. */
static void cpuid(unsigned leaf, unsigned sub, unsigned regs[4])
{
#if defined(_MSC_VER) && !defined(__clang__)
    int r[4];
    __cpuidex(r, (int)leaf, (int)sub);
    for (int i = 0; i < 4; ++i) regs[i] = (unsigned)r[i];
#else
    regs[0] = regs[1] = regs[2] = regs[3] = 0;
    __get_cpuid_count(leaf, sub, &regs[0], &regs[1], &regs[2], &regs[3]);
#endif
}

/* The register state the operating system saves on a context switch (XCR0):
 * a CPU may have AVX-512 that the OS does not enable. */
static unsigned long long xcr0(void)
{
#if defined(_MSC_VER) && !defined(__clang__)
    return _xgetbv(0);
#else
    unsigned lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return ((unsigned long long)hi << 32) | lo;
#endif
}

static int x86_supports(int isa)
{
    unsigned r1[4], r7[4];
    cpuid(0, 0, r1);
    const unsigned max_leaf = r1[0];
    cpuid(1, 0, r1);
    const int osxsave = (r1[2] >> 27) & 1, avx = (r1[2] >> 28) & 1, fma = (r1[2] >> 12) & 1;
    if (!osxsave || !avx || max_leaf < 7) return 0;
    cpuid(7, 0, r7);
    const unsigned long long xcr = xcr0();
    const int ymm_state = (xcr & 0x6) == 0x6;              /* XMM and YMM */
    const int zmm_state = (xcr & 0xe6) == 0xe6;            /* and opmask, ZMM0-15 upper, ZMM16-31 */
    const int avx2 = (r7[1] >> 5) & 1, avx512f = (r7[1] >> 16) & 1;
    if (isa == CNNFAST_ISA_AVX2) return ymm_state && avx2 && fma;
    if (isa == CNNFAST_ISA_AVX512) return zmm_state && avx512f && avx2 && fma;
    return 0;
}
#endif

int cnnfast_isa_available(int isa)
{
    if (isa < 0 || isa >= CNNFAST_ISA_COUNT || cnnfast_ukernels_f32(isa) == 0) return 0;
    if (isa == CNNFAST_ISA_GENERIC || isa == CNNFAST_ISA_NEON) return 1; /* compiled in => runs */
#ifdef CNNFAST_X86
    return x86_supports(isa);
#else
    return 0;
#endif
}

int cnnfast_isa_best(void)
{
    static const int order[] = {CNNFAST_ISA_AVX512, CNNFAST_ISA_AVX2, CNNFAST_ISA_NEON};
    for (int i = 0; i < (int)(sizeof order / sizeof order[0]); ++i)
        if (cnnfast_isa_available(order[i])) return order[i];
    return CNNFAST_ISA_GENERIC;
}

/* -1 until first asked: detection runs once, on first use.  Like the thread
 * count, a plain int that a kernel reads once at its start. */
static int selected_isa = -1;

int cnnfast_get_isa(void)
{
    if (selected_isa < 0) selected_isa = cnnfast_isa_best();
    return selected_isa;
}

int cnnfast_set_isa(int isa)
{
    if (!cnnfast_isa_available(isa)) return -1;
    selected_isa = isa;
    return 0;
}

const char *cnnfast_isa_name(int isa)
{
    static const char *const names[CNNFAST_ISA_COUNT] = {"generic", "avx2", "avx512", "neon"};
    return isa >= 0 && isa < CNNFAST_ISA_COUNT ? names[isa] : 0;
}
