#include <stdint.h>
#include <string.h>

#include "pool2d.h"
#include "threads.h"

/* Force inlining of the row kernels: each is called with literal window sizes
 * (2x2 and 3x3, stride 2) so that the compiler specialises it, unrolls the
 * window and vectorises along the output columns.  Without the attribute GCC
 * may keep one out-of-line generic copy and lose all of that. */
#if defined(__GNUC__) || defined(__clang__)
#define POOL_INLINE static inline __attribute__((always_inline))
#elif defined(_MSC_VER)
#define POOL_INLINE static __forceinline
#else
#define POOL_INLINE static inline
#endif

/* Output rows per work item when a plane is split into row blocks.  The
 * split depends on the shapes only, never on the thread count; pooling
 * outputs are computed independently of each other, so it could not change a
 * bit of the result anyway, but it keeps every schedule reproducible. */
#define POOL_MIN_ITEMS 64

/* Least work worth a thread of its own (see cnnfast_threads_for): window
 * taps for the forward, elements written plus taps for the backward.
 * Measured on 2 cores, float32 28x28 planes, 2x2 windows, in two sweeps of
 * benchmarks/thread_break_even.py: a second thread breaks even at 12k-16k
 * taps for max pooling (about 10 us on one thread), 10k-12k for average
 * pooling, and at 16k-24k for either backward. */
#define POOL_FORWARD_THREAD_WORK 8192
#define POOL_BACKWARD_THREAD_WORK 12288

/* Window taps of the whole call: the work of the forward. */
static double pool2d_taps(const pool2d_geometry *g)
{
    return (double)g->planes * (double)g->out_height * (double)g->out_width *
           (double)g->kernel_height * (double)g->kernel_width;
}

/* Work items per dynamically scheduled chunk: about 8192 input elements.
 * Dynamic, not static: on a shared machine the second thread often starts
 * late (its vCPU is busy or asleep); with a static split the first thread
 * then waits for it to do its whole half, while with dynamic chunks it takes
 * on the work the late thread has not started.  Results cannot depend on the
 * schedule: every output element is computed by one item, independently. */
static int pool2d_chunk(ptrdiff_t item_elements)
{
    const ptrdiff_t chunk = item_elements >= 8192 ? 1 : 8192 / (item_elements > 0 ? item_elements : 1);
    return (int)chunk;
}

/* Output row blocks per plane: one when there are plenty of planes (the
 * common case: batch * channels in the hundreds), else enough blocks that
 * both threads of a small batch have work. */
static ptrdiff_t pool2d_row_blocks(ptrdiff_t planes, ptrdiff_t rows)
{
    if (planes >= POOL_MIN_ITEMS || rows <= 1) return 1;
    ptrdiff_t blocks = (POOL_MIN_ITEMS + planes - 1) / planes;
    return blocks < rows ? blocks : rows;
}

/* Output rows [*begin, *end) of row block `block` out of `blocks`. */
static void pool2d_block_rows(ptrdiff_t rows, ptrdiff_t blocks, ptrdiff_t block,
                              ptrdiff_t *begin, ptrdiff_t *end)
{
    *begin = rows * block / blocks;
    *end = rows * (block + 1) / blocks;
}

/* Window rows of output row oh clipped to the input: [*h0, *h1).  Without
 * ceil mode a window never reaches past the padding. */
static void pool2d_window_rows(const pool2d_geometry *g, ptrdiff_t oh, ptrdiff_t *h0, ptrdiff_t *h1)
{
    const ptrdiff_t hs = oh * g->stride_height - g->pad_height, he = hs + g->kernel_height;
    *h0 = hs < 0 ? 0 : hs;
    *h1 = he > g->in_height ? g->in_height : he;
}

/* Output columns [*lo, *hi) whose window lies entirely inside the input
 * columns: those get the branch-free, vectorisable row kernels; the few
 * others (at most pad_width / stride on each side) are clipped one by one. */
static void pool2d_interior_columns(const pool2d_geometry *g, ptrdiff_t *lo, ptrdiff_t *hi)
{
    const ptrdiff_t sw = g->stride_width, pw = g->pad_width;
    ptrdiff_t first = (pw + sw - 1) / sw;
    ptrdiff_t last = g->in_width - g->kernel_width + pw < 0
                         ? 0 : (g->in_width - g->kernel_width + pw) / sw + 1;
    if (last > g->out_width) last = g->out_width;
    if (first > last) first = last;
    *lo = first;
    *hi = last;
}

/* Output columns ow in [c0, c1) whose tap column ow * stride + offset lies
 * inside [0, in_width): [*first, *last). */
static void pool2d_tap_columns(ptrdiff_t offset, ptrdiff_t stride, ptrdiff_t in_width, ptrdiff_t c0,
                               ptrdiff_t c1, ptrdiff_t *first, ptrdiff_t *last)
{
    ptrdiff_t f = offset >= 0 ? 0 : (-offset + stride - 1) / stride;
    ptrdiff_t l = offset > in_width - 1 ? 0 : (in_width - 1 - offset) / stride + 1;
    if (f < c0) f = c0;
    if (l > c1) l = c1;
    if (l < f) l = f;
    *first = f;
    *last = l;
}

/* Output columns per chunk of the average-pooling backward's share buffer
 * (on the stack: no allocation per call). */
#define POOL_CHUNK 256

/* Columns of output column ow clipped to the input: [*w0, *w1). */
static void pool2d_window_columns(const pool2d_geometry *g, ptrdiff_t ow, ptrdiff_t *w0, ptrdiff_t *w1)
{
    const ptrdiff_t ws = ow * g->stride_width - g->pad_width, we = ws + g->kernel_width;
    *w0 = ws < 0 ? 0 : ws;
    *w1 = we > g->in_width ? g->in_width : we;
}

/* Whether the windows tile the input without overlap or padding (stride ==
 * kernel, or one window across, as in global average pooling): then every
 * input element lies in one window at most. */
static int pool2d_windows_tile(const pool2d_geometry *g)
{
    return g->pad_height == 0 && g->pad_width == 0
           && (g->stride_height == g->kernel_height || g->out_height == 1)
           && (g->stride_width == g->kernel_width || g->out_width == 1);
}

/* The row kernels index a window with 32-bit offsets in float32 (so that the
 * offset and the value share one vector lane width) when the window spans
 * fewer than 2^31 elements of the plane; planes that wide take the generic
 * 64-bit path. */
static int pool2d_narrow_windows(const pool2d_geometry *g)
{
    return g->in_width < (ptrdiff_t)(INT32_MAX / 4);
}

#define REAL float
#define IDX int32_t
#define FN(name) name##_f32
#include "pool2d_impl.inc"
#undef REAL
#undef IDX
#undef FN

#define REAL double
#define IDX int64_t
#define FN(name) name##_f64
#include "pool2d_impl.inc"
#undef REAL
#undef IDX
#undef FN
