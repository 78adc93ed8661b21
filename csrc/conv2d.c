#include <stdlib.h>
#include <string.h>

#include "blas.h"
#include "conv2d.h"
#include "convgemm.h"
#include "depthwise.h"
#include "fpenv.h"
#include "threads.h"

/* At most this many weight-gradient partial sums per call: enough slots to
 * keep a few threads busy, few enough that their memory stays small. */
#define CONV2D_MAX_WEIGHT_SLOTS 8

/* Work is planned as if for at least this many threads: the split (and so
 * the rounding of every sum) is then the same for any thread count up to it,
 * which makes results bitwise identical at 1, 2, 4 or 8 threads. */
#define CONV2D_PLAN_THREADS 8

/* Least work, in multiply-adds, worth a thread of its own (see
 * cnnfast_threads_for): a second thread measured break-even at about 2^17
 * multiply-adds (waking it costs more than the work below that, much more when
 * the machine is busy).  The split does not depend on the thread count, so
 * neither does the result. */
#define CONV2D_THREAD_WORK (1 << 16)

/* The same for the bias gradient, in elements summed: break-even at 7k-10k
 * elements for 16 channels of 10x10 (LeNet-5's C3), 4k for 64 of 8x8 (3-5 us
 * on one thread; benchmarks/thread_break_even.py). */
#define CONV2D_BIAS_THREAD_WORK 4096

/* Output planes with fewer columns than this are stacked several images to a
 * GEMM, up to about CONV2D_TARGET_COLUMNS columns (see conv2d_block_images). */
#define CONV2D_MIN_COLUMNS 256
#define CONV2D_TARGET_COLUMNS 1024

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

/* The kernel covers the whole unpadded input (LeNet-5's C5): one output pixel,
 * and an image's patch column is the image itself, so a block of images is a
 * strided matrix the GEMM reads in place, one image per row. */
static int conv2d_is_dense(const conv2d_geometry *g)
{
    return g->pad_height == 0 && g->pad_width == 0 && g->kernel_height == g->in_height &&
           g->kernel_width == g->in_width && (g->dilation_height == 1 || g->kernel_height == 1) &&
           (g->dilation_width == 1 || g->kernel_width == 1) && g->out_height == 1 && g->out_width == 1;
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

static ptrdiff_t conv2d_min(ptrdiff_t a, ptrdiff_t b) { return a < b ? a : b; }

/* How a call splits its work, shared by the forward and the backward. */
typedef struct {
    int threads;                /* threads started (<= the thread setting) */
    int plan_threads;           /* the count the split is planned for (>= threads) */
    ptrdiff_t group_in, group_out, patch;
    int use_col;                /* patches copied by im2col (else read in place) */
    int dense;                  /* conv2d_is_dense: images are the patch columns */
    ptrdiff_t block_images;     /* images per GEMM; > 1 only with whole images */
    ptrdiff_t tile_rows, tiles; /* output rows per GEMM, tiles per image */
    ptrdiff_t blocks;           /* blocks of block_images images per group */
    ptrdiff_t slots;            /* backward: work items (weight-gradient slots) */
    int weight_slots;           /* backward: slots split the images evenly */
    size_t col_size;            /* elements of one patch matrix buffer */
    size_t block_size;          /* elements of one (group_out x block) buffer */
} conv2d_plan;

static conv2d_plan conv2d_plan_common(const conv2d_geometry *g, int threads)
{
    conv2d_plan p;
    memset(&p, 0, sizeof p);
    p.plan_threads = threads > CONV2D_PLAN_THREADS ? threads : CONV2D_PLAN_THREADS;
    p.group_in = g->in_channels / g->groups;
    p.group_out = g->out_channels / g->groups;
    p.patch = p.group_in * g->kernel_height * g->kernel_width;
    return p;
}

/* Threads actually started for `items` work items of the call's
 * multiply-adds (the forward's count; each backward product has as many). */
static int conv2d_active_threads(const conv2d_geometry *g, const conv2d_plan *p, ptrdiff_t items)
{
    const double work = (double)g->batch * (double)g->out_channels * (double)g->out_height *
                        (double)g->out_width * (double)p->patch;
    return cnnfast_threads_for(work, CONV2D_THREAD_WORK, items);
}

/* Most images per block that still leave a block for every planned thread:
 * each group's images are shared among ceil(plan_threads / groups) threads. */
static ptrdiff_t conv2d_images_per_thread(const conv2d_geometry *g, const conv2d_plan *p)
{
    const ptrdiff_t share = (p->plan_threads + g->groups - 1) / g->groups;
    return (g->batch + share - 1) / share;
}

/* Images whose patch matrices share one GEMM.  A small output plane makes a
 * thin GEMM that BLAS runs far below its peak (LeNet-5's C3 has 100 columns
 * per image, C5 one), so images are stacked side by side up to about
 * CONV2D_TARGET_COLUMNS columns, at most max_images, and within the budget:
 * per image and thread, `col_buffers` patch matrices and one output block. */
static ptrdiff_t conv2d_block_images(const conv2d_geometry *g, const conv2d_plan *p,
                                     size_t element_size, int col_buffers, size_t budget,
                                     ptrdiff_t max_images)
{
    const ptrdiff_t out_plane = g->out_height * g->out_width;
    /* A pointwise convolution reads its images in place: stacking them would
     * add the copy it avoids (pw-1x1 measured 20 % slower stacked). */
    if (out_plane >= CONV2D_MIN_COLUMNS || max_images < 2 || conv2d_is_pointwise(g)) return 1;
    ptrdiff_t images = conv2d_min((CONV2D_TARGET_COLUMNS + out_plane - 1) / out_plane, max_images);
    const size_t per_image = (size_t)(p->patch * col_buffers + p->group_out) * (size_t)out_plane *
                             element_size * (size_t)p->plan_threads;
    const size_t fit = budget / per_image;
    if (fit < (size_t)images) images = (ptrdiff_t)fit;
    return images < 1 ? 1 : images;
}


static void conv2d_plan_buffers(const conv2d_geometry *g, conv2d_plan *p)
{
    p->dense = conv2d_is_dense(g);
    p->use_col = !p->dense && (p->block_images > 1 || !conv2d_is_pointwise(g));
    p->col_size = (size_t)p->patch * (size_t)(p->block_images * p->tile_rows * g->out_width);
    p->block_size = (size_t)p->group_out * (size_t)(p->block_images * p->tile_rows * g->out_width);
}

/* Forward: items are (group, block of images, row tile). */
static conv2d_plan conv2d_plan_forward(const conv2d_geometry *g, size_t element_size,
                                       int threads, size_t budget)
{
    conv2d_plan p = conv2d_plan_common(g, threads);
    const ptrdiff_t images = g->batch * g->groups;
    p.block_images = conv2d_block_images(g, &p, element_size, 1, budget,
                                         conv2d_images_per_thread(g, &p));
    if (p.block_images > 1) {
        p.tile_rows = g->out_height;
    } else {
        /* Too few images for the threads (batch 1): cut each image into row tiles. */
        const ptrdiff_t min_tiles = images >= p.plan_threads ? 1
                                    : (p.plan_threads + images - 1) / images;
        p.tile_rows = conv2d_tile_rows(g, element_size, conv2d_is_pointwise(g) ? 0 : 1,
                                       p.plan_threads, budget, min_tiles);
    }
    p.tiles = (g->out_height + p.tile_rows - 1) / p.tile_rows;
    p.blocks = (g->batch + p.block_images - 1) / p.block_images;
    conv2d_plan_buffers(g, &p);
    p.threads = conv2d_active_threads(g, &p, g->groups * p.blocks * p.tiles);
    return p;
}

/* Backward: items are slots of images.  With a weight gradient the slots are a
 * fixed split of the images (their partial sums are reduced in slot order, so
 * the result does not depend on the thread count), and blocks of images are
 * formed inside each slot; without one, every block is its own slot. */
static conv2d_plan conv2d_plan_backward(const conv2d_geometry *g, size_t element_size,
                                        int threads, size_t limit, int want_x, int want_weight)
{
    conv2d_plan p = conv2d_plan_common(g, threads);
    const ptrdiff_t images = g->batch * g->groups;
    const size_t budget = want_weight ? limit / 2 : limit;
    const int buffers = want_x + want_weight;
    ptrdiff_t max_images;
    p.weight_slots = want_weight;
    if (want_weight) {
        p.slots = conv2d_weight_slots(images, element_size * (size_t)(g->out_channels * p.patch));
        max_images = (images + p.slots - 1) / p.slots;
    } else {
        max_images = conv2d_images_per_thread(g, &p);
    }
    p.block_images = conv2d_block_images(g, &p, element_size, buffers, budget, max_images);
    p.tile_rows = p.block_images > 1 ? g->out_height
                  : conv2d_tile_rows(g, element_size, conv2d_is_pointwise(g) ? 0 : buffers,
                                     p.plan_threads, budget, 1);
    p.blocks = (g->batch + p.block_images - 1) / p.block_images;
    if (!want_weight)
        p.slots = g->groups * p.blocks;
    conv2d_plan_buffers(g, &p);
    p.threads = conv2d_active_threads(g, &p, p.slots);
    return p;
}

/* Images [*first, *last) of a backward slot, numbered group-major. */
static void conv2d_slot_images(const conv2d_geometry *g, const conv2d_plan *p, ptrdiff_t slot,
                               ptrdiff_t *first, ptrdiff_t *last)
{
    if (p->weight_slots) {
        const ptrdiff_t images = g->batch * g->groups;
        *first = slot * images / p->slots;
        *last = (slot + 1) * images / p->slots;
    } else {
        const ptrdiff_t grp = slot / p->blocks, begin = slot % p->blocks * p->block_images;
        *first = grp * g->batch + begin;
        *last = grp * g->batch + conv2d_min(begin + p->block_images, g->batch);
    }
}

/* ------------------------------------------------------------------ engine
 *
 * Which implementation runs a convolution (besides the depthwise kernels):
 * the engine (convgemm.h: packed operands, the micro-kernels of the CPU's ISA)
 * or im2col + OpenBLAS below.  The choice is a fixed rule of the shape, the
 * pass and the ISA -- never a timing taken at run time, which would make the
 * results (the two round differently) depend on the machine's load.  The rule
 * and the measurements behind it: benchmarks/results/dispatch.md. */

static int conv2d_path_override = CONV2D_PATH_AUTO;

void conv2d_set_path(int path) { conv2d_path_override = path; }
int conv2d_get_path(void) { return conv2d_path_override; }

/* Rows of a pass's product below which im2col + OpenBLAS is faster: the
 * engine's tiles are 12 rows by 32 pixels (AVX-512), and a thinner product
 * (LeNet's 6 output channels, the 1 or 3 input channels of a first layer's
 * input gradient) wastes most of each tile.  Measured per pass on the nine
 * benchmark convolutions: benchmarks/results/dispatch.md. */
#define CONV2D_ENGINE_MIN_ROWS 16

const char *conv2d_path_rule(void)
{
    return "the engine when the pass's product has at least 16 rows (output channels per group for the "
           "forward pass and the weight gradient, input channels per group for the input gradient), else "
           "im2col + OpenBLAS; OpenBLAS also for a kernel as large as its unpadded input (one output pixel); "
           "depthwise layers: direct kernels";
}

int conv2d_path_for(const conv2d_geometry *g, int pass)
{
    if (conv2d_path_override != CONV2D_PATH_AUTO) return conv2d_path_override;
    /* The dense case (the kernel covers the whole input: one output pixel per
     * image) is a plain matrix product OpenBLAS reads in place; the engine
     * would gather one pixel per image into its panels. */
    if (conv2d_is_dense(g)) return CONV2D_PATH_BLAS;
    const ptrdiff_t rows = pass == CONV2D_PASS_INPUT_GRAD ? g->in_channels / g->groups
                                                          : g->out_channels / g->groups;
    return rows >= CONV2D_ENGINE_MIN_ROWS ? CONV2D_PATH_ENGINE : CONV2D_PATH_BLAS;
}

/* Tap t = ki * kernel_width + kj of a forward problem reads source offset
 * (ki * dilation - pad, kj * dilation - pad); its weights sit at offset t.
 * `taps` holds dy, dx and the weight offset, kh * kw each. */
static void conv2d_forward_taps(const conv2d_geometry *g, ptrdiff_t *taps)
{
    const ptrdiff_t count = g->kernel_height * g->kernel_width;
    for (ptrdiff_t t = 0; t < count; ++t) {
        const ptrdiff_t ki = t / g->kernel_width, kj = t % g->kernel_width;
        taps[t] = ki * g->dilation_height - g->pad_height;
        taps[count + t] = kj * g->dilation_width - g->pad_width;
        taps[2 * count + t] = t;
    }
}

/* The forward product (and the weight gradient's): x -> y. */
static convgemm_problem conv2d_forward_problem(const conv2d_geometry *g, const ptrdiff_t *taps)
{
    const ptrdiff_t count = g->kernel_height * g->kernel_width;
    const ptrdiff_t group_in = g->in_channels / g->groups, group_out = g->out_channels / g->groups;
    const ptrdiff_t in_plane = g->in_height * g->in_width, out_plane = g->out_height * g->out_width;
    convgemm_problem p;
    memset(&p, 0, sizeof p);
    p.groups = g->groups;
    p.channels = group_in;
    p.src_height = g->in_height;
    p.src_width = g->in_width;
    p.src_image_stride = g->in_channels * in_plane;
    p.src_group_stride = group_in * in_plane;
    p.taps = count;
    p.tap_dy = taps;
    p.tap_dx = taps + count;
    p.tap_offset = taps + 2 * count;
    p.step_height = g->stride_height;
    p.step_width = g->stride_width;
    p.images = g->batch;
    p.grid_height = g->out_height;
    p.grid_width = g->out_width;
    p.rows = group_out;
    p.weight_row_stride = group_in * count;
    p.weight_group_stride = group_out * p.weight_row_stride;
    p.weight_channel_stride = count;
    p.dst_image_stride = g->out_channels * out_plane;
    p.dst_group_stride = group_out * out_plane;
    p.dst_plane_stride = out_plane;
    p.dst_width = g->out_width;
    p.out_step_height = p.out_step_width = 1;
    return p;
}

/* One phase (rh, rw) of the input gradient: the inputs i = rh + stride * a
 * (and likewise along the width) receive grad_y from the taps ki with
 * (rh + pad - ki * dilation) divisible by the stride, at grad_y row
 * a + (rh + pad - ki * dilation) / stride.  That is a stride-1 product of
 * grad_y with those taps of the kernel, its rows being the input channels:
 * the transposed convolution without a col2im scatter.  Returns the number of
 * taps (0: nothing reaches these inputs). */
static ptrdiff_t conv2d_input_grad_problem(const conv2d_geometry *g, ptrdiff_t rh, ptrdiff_t rw, ptrdiff_t *taps,
                                           convgemm_problem *p)
{
    const ptrdiff_t kh = g->kernel_height, kw = g->kernel_width, sh = g->stride_height, sw = g->stride_width;
    const ptrdiff_t group_in = g->in_channels / g->groups, group_out = g->out_channels / g->groups;
    const ptrdiff_t in_plane = g->in_height * g->in_width, out_plane = g->out_height * g->out_width;
    const ptrdiff_t room = kh * kw;
    ptrdiff_t count = 0;
    memset(p, 0, sizeof *p);
    for (ptrdiff_t ki = 0; ki < kh; ++ki) {
        const ptrdiff_t v = rh + g->pad_height - ki * g->dilation_height;
        if (v % sh != 0) continue;
        for (ptrdiff_t kj = 0; kj < kw; ++kj) {
            const ptrdiff_t u = rw + g->pad_width - kj * g->dilation_width;
            if (u % sw != 0) continue;
            taps[count] = v / sh;
            taps[room + count] = u / sw;
            taps[2 * room + count] = ki * kw + kj;
            ++count;
        }
    }
    p->groups = g->groups;
    p->channels = group_out;
    p->src_height = g->out_height;
    p->src_width = g->out_width;
    p->src_image_stride = g->out_channels * out_plane;
    p->src_group_stride = group_out * out_plane;
    p->taps = count;
    p->tap_dy = taps;
    p->tap_dx = taps + room;
    p->tap_offset = taps + 2 * room;
    p->step_height = p->step_width = 1;
    p->images = g->batch;
    p->grid_height = rh < g->in_height ? (g->in_height - rh + sh - 1) / sh : 0;
    p->grid_width = rw < g->in_width ? (g->in_width - rw + sw - 1) / sw : 0;
    p->rows = group_in;
    p->weight_row_stride = room;
    p->weight_channel_stride = group_in * room;
    p->weight_group_stride = group_out * group_in * room;
    p->dst_image_stride = g->in_channels * in_plane;
    p->dst_group_stride = group_in * in_plane;
    p->dst_plane_stride = in_plane;
    p->dst_width = g->in_width;
    p->out_step_height = sh;
    p->out_step_width = sw;
    p->out_offset_height = rh;
    p->out_offset_width = rw;
    return count;
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
