#include <string.h>

#include "pool2d.h"
#include "threads.h"

/* The window of output (oh, ow) clipped to the input: rows [*h0, *h1), columns
 * [*w0, *w1).  Without ceil mode a window never reaches past the padding, so
 * the unclipped window always has kernel_height * kernel_width elements. */
static void pool2d_window(const pool2d_geometry *g, ptrdiff_t oh, ptrdiff_t ow,
                          ptrdiff_t *h0, ptrdiff_t *h1, ptrdiff_t *w0, ptrdiff_t *w1)
{
    const ptrdiff_t hs = oh * g->stride_height - g->pad_height;
    const ptrdiff_t ws = ow * g->stride_width - g->pad_width;
    const ptrdiff_t he = hs + g->kernel_height, we = ws + g->kernel_width;
    *h0 = hs < 0 ? 0 : hs;
    *w0 = ws < 0 ? 0 : ws;
    *h1 = he > g->in_height ? g->in_height : he;
    *w1 = we > g->in_width ? g->in_width : we;
}

#define REAL float
#define FN(name) name##_f32
#include "pool2d_impl.inc"
#undef REAL
#undef FN

#define REAL double
#define FN(name) name##_f64
#include "pool2d_impl.inc"
#undef REAL
#undef FN
