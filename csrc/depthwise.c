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

#define REAL float
#define FN(name) name##_f32
#include "depthwise_impl.inc"
#undef REAL
#undef FN

#define REAL double
#define FN(name) name##_f64
#include "depthwise_impl.inc"
#undef REAL
#undef FN
