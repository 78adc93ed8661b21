#include <stdlib.h>
#include <string.h>

#include "blas.h"
#include "conv2d.h"
#include "depthwise.h"
#include "threads.h"

/* At most this many weight-gradient partial sums per call: enough slots to
 * keep a few threads busy, few enough that their memory stays small. */
#define CONV2D_MAX_WEIGHT_SLOTS 8

static size_t workspace_limit = (size_t)64 << 20;

void conv2d_set_workspace_limit(size_t bytes) { workspace_limit = bytes; }
size_t conv2d_get_workspace_limit(void) { return workspace_limit; }

/* A 1x1, stride 1, unpadded convolution: the image itself is the patch matrix,
 * so no im2col copy is needed.  (The output can still be cropped smaller than
 * the input, for a transposed convolution with output_padding.) */
static int conv2d_is_pointwise(const conv2d_geometry *g)
{
    return g->kernel_height == 1 && g->kernel_width == 1 && g->stride_height == 1 &&
           g->stride_width == 1 && g->pad_height == 0 && g->pad_width == 0 &&
           g->out_height == g->in_height && g->out_width == g->in_width;
}

/* Output rows per tile so that `buffers` patch buffers per thread, for all
 * threads, fit in `budget` bytes; at least one row, and small enough to give
 * `min_tiles` tiles and a BLAS-sized column count. */
static ptrdiff_t conv2d_tile_rows(const conv2d_geometry *g, size_t element_size,
                                  int buffers, int threads, size_t budget,
                                  ptrdiff_t min_tiles)
{
    const ptrdiff_t out_h = g->out_height, out_w = g->out_width;
    const ptrdiff_t patch = g->in_channels / g->groups * g->kernel_height * g->kernel_width;
    ptrdiff_t rows = out_h;
    if (buffers > 0) {
        const size_t row_bytes = (size_t)patch * (size_t)out_w * element_size *
                                 (size_t)buffers * (size_t)threads;
        const size_t fit = budget / row_bytes;
        if (fit < (size_t)rows) rows = (ptrdiff_t)fit;
    }
    if (min_tiles > 1) {
        const ptrdiff_t split = (out_h + min_tiles - 1) / min_tiles;
        if (split < rows) rows = split;
    }
    if (rows > CNNFAST_BLAS_MAX_DIM / out_w) rows = CNNFAST_BLAS_MAX_DIM / out_w;
    return rows < 1 ? 1 : rows;
}

/* Number of weight-gradient slots: bounded by the images, by the constant
 * above, and by half the workspace for the slots' own partial sums. */
static ptrdiff_t conv2d_weight_slots(ptrdiff_t images, size_t weight_bytes)
{
    ptrdiff_t slots = images < CONV2D_MAX_WEIGHT_SLOTS ? images : CONV2D_MAX_WEIGHT_SLOTS;
    while (slots > 1 && (size_t)(slots - 1) * weight_bytes > workspace_limit / 2)
        --slots;
    return slots < 1 ? 1 : slots;
}

#define REAL float
#define FN(name) name##_f32
#define GEMM cnnfast_gemm_f32
#include "conv2d_impl.inc"
#undef REAL
#undef FN
#undef GEMM

#define REAL double
#define FN(name) name##_f64
#define GEMM cnnfast_gemm_f64
#include "conv2d_impl.inc"
#undef REAL
#undef FN
#undef GEMM
