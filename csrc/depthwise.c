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
