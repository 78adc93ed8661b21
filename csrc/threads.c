#include "threads.h"

#ifdef _OPENMP
#include <omp.h>
#endif

/* Written by set_num_threads, read at the start of each kernel.  A plain int:
 * a kernel that races with a change sees either the old or the new count, and
 * either is correct. */
static int kernel_num_threads = 1;

int cnnfast_openmp_enabled(void)
{
#ifdef _OPENMP
    return 1;
#else
    return 0;
#endif
}

int cnnfast_openmp_version(void)
{
#ifdef _OPENMP
    return _OPENMP;
#else
    return 0;
#endif
}

int cnnfast_default_num_threads(void)
{
#ifdef _OPENMP
    return omp_get_max_threads();
#else
    return 1;
#endif
}

void cnnfast_set_num_threads(int num_threads)
{
#ifdef _OPENMP
    kernel_num_threads = num_threads < 1 ? 1 : num_threads;
#else
    (void)num_threads;
    kernel_num_threads = 1;
#endif
}

int cnnfast_get_num_threads(void)
{
    return kernel_num_threads;
}

int cnnfast_threads_for(double work, double min_parallel_work, ptrdiff_t items)
{
    if (work < min_parallel_work || items < 2) return 1;
    return items < kernel_num_threads ? (int)items : kernel_num_threads;
}

#define CNNFAST_STR2(x) #x
#define CNNFAST_STR(x) CNNFAST_STR2(x)

const char *cnnfast_compiler(void)
{
#if defined(__clang__)
    return "clang " __clang_version__;
#elif defined(__GNUC__)
    return "gcc " __VERSION__;
#elif defined(_MSC_VER)
    return "msvc " CNNFAST_STR(_MSC_FULL_VER);
#else
    return "unknown C compiler";
#endif
}
