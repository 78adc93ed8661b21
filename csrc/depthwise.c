#include <string.h>

#include "depthwise.h"
#include "threads.h"

/* Only for groups > 1: a single-channel input with groups == 1 (LeNet's
 * first layer) measured twice as fast through im2col + GEMM, whose GEMM has
 * all the output channels as rows. */
int depthwise_conv2d_applies(const conv2d_geometry *g)
{
    return g->groups > 1 && g->in_channels == g->groups;
}

/* Least work, in multiply-adds, worth a thread of its own (see
 * cnnfast_threads_for).  Measured on 2 cores, float32, 8 channels, in two
 * sweeps of benchmarks/thread_break_even.py: a second thread broke even at
 * about 70k multiply-adds for the 3x3 forward on 28x28 planes (12 us on one
 * thread) and at 14k-28k on 14x14 planes, forward and backward; the 5x5
 * backward pays from the smallest size tried, 78k.  Between them: 64k. */
#define DEPTHWISE_THREAD_WORK 32768

/* Multiply-adds of the forward (and of each of grad_x and grad_weight). */
static double depthwise_multiply_adds(const conv2d_geometry *g)
{
    return (double)g->batch * (double)g->out_channels * (double)g->out_height * (double)g->out_width *
           (double)g->kernel_height * (double)g->kernel_width;
}

/* The flat 3x3 kernels are called with a literal tap-row mask so that the
 * compiler drops the masked rows and vectorises what is left. */
#if defined(__GNUC__) || defined(__clang__)
#define DW_INLINE static inline __attribute__((always_inline))
#elif defined(_MSC_VER)
#define DW_INLINE static __forceinline
#else
#define DW_INLINE static inline
#endif

#define CNNFAST_TEMPLATE "depthwise_impl.inc"
#include "for_each_real.inc"
