#include <stdlib.h>
#include <string.h>

#include "conv2d.h"
#include "convgemm.h"
#include "fpenv.h"
#include "isa.h"
#include "threads.h"
#include "ukernel.h"

#ifdef _OPENMP
#include <omp.h>
#endif

/* Least work, in multiply-adds, worth a thread of its own (see
 * cnnfast_threads_for): conv2d.c's CONV2D_THREAD_WORK, the same products. */
#define CONVGEMM_THREAD_WORK (1 << 16)

/* Work is cut as if for at least this many threads, so that no block size
 * (and so no result) depends on the thread count (as conv2d.c). */
#define CONVGEMM_PLAN_THREADS 8

/* A packed panel of patches (kc x nr) is reused from L1 by every row panel of
 * the weights: kc is chosen so that it fits in this many bytes. */
#define CONVGEMM_L1_PANEL (24 * 1024)

/* Bytes of staged source per work item (it stays in L2 while the item's
 * panels are packed from it), and pixels per item at most.  The weight
 * gradient sums each chunk of pixels of an item into its result (see
 * CONVGEMM_L1_DOT): larger items there, for fewer, longer chunks. */
#define CONVGEMM_STAGE_BYTES (384 * 1024)
#define CONVGEMM_WEIGHT_GRAD_STAGE_BYTES (768 * 1024)
#define CONVGEMM_ITEM_PIXELS 4096

/* Bytes of the weight gradient's panel of transposed gradient (pixels x output
 * channels), reused from L1 by every block of patch rows. */
#define CONVGEMM_L1_DOT (32 * 1024)

static ptrdiff_t cg_min(ptrdiff_t a, ptrdiff_t b) { return a < b ? a : b; }
static ptrdiff_t cg_max(ptrdiff_t a, ptrdiff_t b) { return a > b ? a : b; }
static ptrdiff_t cg_round_up(ptrdiff_t n, ptrdiff_t m) { return (n + m - 1) / m * m; }

/* a = q * m + r with 0 <= r < m (m > 0), for negative a too. */
static ptrdiff_t cg_floor_div(ptrdiff_t a, ptrdiff_t m) { return a >= 0 ? a / m : -((-a + m - 1) / m); }

static int cg_thread_num(void)
{
#ifdef _OPENMP
    return omp_get_thread_num();
#else
    return 0;
#endif
}

static int cg_num_threads(void)
{
#ifdef _OPENMP
    return omp_get_num_threads();
#else
    return 1;
#endif
}

/* How a problem is staged and cut into work items.
 *
 * Tap t reads source row a * step + dy: writing dy = qy * step + ry (0 <= ry
 * < step), that is row a + qy of "phase" ry, the source rows ry, ry + step,
 * ...  An item's stage holds, per image, channel and phase used, the rows
 * a0 + qy_min .. a1 - 1 + qy_max of its phase (zero outside the source), each
 * `pitch` long; so patch row r of grid pixel (a, b) sits at
 *     stage[pixel_base(a, b) + row_offset[r]],  pixel_base = image * stage_image + (a - a0) * pitch + b,
 * and a run of pixels in one grid row is contiguous: packing is plain copies,
 * with no bounds to check.  Strided convolutions become stride-1 reads of
 * their phases. */
typedef struct {
    ptrdiff_t reduction, pixels, gplane;
    ptrdiff_t qy_min, qx_min, halo, pitch;
    ptrdiff_t phases;                /* phases some tap uses */
    ptrdiff_t *phase_row, *phase_col; /* per phase slot: ry, rx */
    ptrdiff_t *row_offset;           /* per patch row */
    ptrdiff_t item_images, item_rows; /* images per item (whole planes), or grid rows of one image */
    ptrdiff_t row_blocks;            /* items per image when item_images == 1 */
    ptrdiff_t items;                 /* per group */
    ptrdiff_t stage_rows, stage_phase, stage_channel, stage_image, stage_size;
    int in_place;                    /* the source itself has the stage's layout: no copy */
} cg_layout;

static void cg_free_layout(cg_layout *l)
{
    free(l->phase_row);
    l->phase_row = NULL;
}

/* Items: whole images when planes are small, else blocks of grid rows;
 * staged source within `stage_bytes` (one grid row at least), at most
 * CONVGEMM_ITEM_PIXELS pixels, and at least `min_items` items when the problem
 * allows.  Depends on the shapes only.  Returns 0, or 1 when out of memory. */
static int cg_make_layout(const convgemm_problem *p, size_t element_size, size_t stage_bytes, ptrdiff_t min_items,
                          cg_layout *l)
{
    const ptrdiff_t sh = p->step_height, sw = p->step_width, taps = p->taps;
    memset(l, 0, sizeof *l);
    l->reduction = p->channels * taps;
    l->gplane = p->grid_height * p->grid_width;
    l->pixels = p->images * l->gplane;
    /* One allocation: phase_row, phase_col (taps slots at most), slot per tap, row offsets. */
    ptrdiff_t *mem = (ptrdiff_t *)malloc(sizeof(ptrdiff_t) * (size_t)(3 * taps + l->reduction));
    if (mem == NULL) return 1;
    l->phase_row = mem;
    l->phase_col = mem + taps;
    ptrdiff_t *slot = mem + 2 * taps;
    l->row_offset = mem + 3 * taps;
    ptrdiff_t qy_max = 0, qx_max = 0;
    for (ptrdiff_t t = 0; t < taps; ++t) {
        const ptrdiff_t qy = cg_floor_div(p->tap_dy[t], sh), qx = cg_floor_div(p->tap_dx[t], sw);
        const ptrdiff_t ry = p->tap_dy[t] - qy * sh, rx = p->tap_dx[t] - qx * sw;
        if (t == 0 || qy < l->qy_min) l->qy_min = qy;
        if (t == 0 || qx < l->qx_min) l->qx_min = qx;
        if (t == 0 || qy > qy_max) qy_max = qy;
        if (t == 0 || qx > qx_max) qx_max = qx;
        ptrdiff_t s = 0;
        while (s < l->phases && (l->phase_row[s] != ry || l->phase_col[s] != rx)) ++s;
        if (s == l->phases) {
            l->phase_row[s] = ry;
            l->phase_col[s] = rx;
            ++l->phases;
        }
        slot[t] = s;
    }
    l->halo = qy_max - l->qy_min;
    l->pitch = p->grid_width + qx_max - l->qx_min;

    const ptrdiff_t gw = p->grid_width, gh = p->grid_height;
    /* Stride 1 and every tap inside the source (no padding: pointwise, or a
     * "valid" convolution such as LeNet's): the source rows are the stage rows,
     * read where they are, and the stage costs no memory. */
    l->in_place = sh == 1 && sw == 1 && l->qx_min == 0 && l->pitch == p->src_width && l->qy_min >= 0 &&
                  gh - 1 + qy_max < p->src_height;
    const size_t row_bytes = l->in_place ? 1 : element_size * (size_t)(p->channels * l->phases * l->pitch);
    const size_t image_bytes = row_bytes * (size_t)(gh + l->halo);
    const ptrdiff_t want = min_items;
    if (l->gplane < CONVGEMM_ITEM_PIXELS / 4 && 2 * image_bytes <= stage_bytes) {
        ptrdiff_t images = cg_min((ptrdiff_t)(stage_bytes / image_bytes),
                                  CONVGEMM_ITEM_PIXELS / cg_max(1, l->gplane));
        images = cg_min(images, cg_max(1, p->images * p->groups / want));
        l->item_images = cg_max(1, cg_min(images, p->images));
    } else {
        l->item_images = 1;
    }
    if (l->item_images > 1) {
        l->item_rows = gh;
        l->row_blocks = 1;
        l->items = (p->images + l->item_images - 1) / l->item_images;
    } else {
        ptrdiff_t rows = (ptrdiff_t)(stage_bytes / row_bytes) - l->halo;
        rows = cg_min(rows, CONVGEMM_ITEM_PIXELS / cg_max(1, gw));
        /* Enough items for the threads: split images into row blocks. */
        const ptrdiff_t blocks_needed = (want + p->images * p->groups - 1) / (p->images * p->groups);
        rows = cg_min(rows, (gh + blocks_needed - 1) / blocks_needed);
        l->item_rows = cg_max(1, cg_min(rows, gh));
        l->row_blocks = (gh + l->item_rows - 1) / l->item_rows;
        l->items = p->images * l->row_blocks;
    }
    l->stage_rows = l->item_rows + l->halo;
    if (l->in_place) {
        l->stage_phase = l->stage_channel = p->src_height * p->src_width;
        l->stage_image = p->src_image_stride;
        l->stage_size = 0;
    } else {
        l->stage_phase = l->stage_rows * l->pitch;
        l->stage_channel = l->phases * l->stage_phase;
        l->stage_image = p->channels * l->stage_channel;
        l->stage_size = l->item_images * l->stage_image;
    }
    for (ptrdiff_t r = 0; r < l->reduction; ++r) {
        const ptrdiff_t c = r / taps, t = r % taps;
        const ptrdiff_t qy = cg_floor_div(p->tap_dy[t], sh), qx = cg_floor_div(p->tap_dx[t], sw);
        l->row_offset[r] = c * l->stage_channel + slot[t] * l->stage_phase + (qy - l->qy_min) * l->pitch +
                           (qx - l->qx_min);
    }
    return 0;
}

/* Images [*n0, *n0 + *ni) and grid rows [*a0, *a1) of item k of a group. */
static void cg_item(const convgemm_problem *p, const cg_layout *l, ptrdiff_t k, ptrdiff_t *n0, ptrdiff_t *ni,
                    ptrdiff_t *a0, ptrdiff_t *a1)
{
    if (l->item_images > 1) {
        *n0 = k * l->item_images;
        *ni = cg_min(l->item_images, p->images - *n0);
        *a0 = 0;
        *a1 = p->grid_height;
    } else {
        *n0 = k / l->row_blocks;
        *ni = 1;
        *a0 = k % l->row_blocks * l->item_rows;
        *a1 = cg_min(p->grid_height, *a0 + l->item_rows);
    }
}

/* The pieces of pixels [j0, j0 + count) of an item (numbered from its first
 * pixel): one per grid row crossed (per image when the stage rows have no
 * halo: consecutive rows are then contiguous), with destinations from 0.
 * Returns the number of pieces. */
static ptrdiff_t cg_pieces(const convgemm_problem *p, const cg_layout *l, ptrdiff_t j0, ptrdiff_t count,
                           cnnfast_piece *pieces)
{
    const ptrdiff_t gw = p->grid_width, per_image = l->item_rows * gw;
    ptrdiff_t n = 0, done = 0;
    while (done < count) {
        const ptrdiff_t j = j0 + done, image = j / per_image, rem = j - image * per_image;
        const ptrdiff_t a = rem / gw, b = rem - a * gw;
        const ptrdiff_t len = cg_min(l->pitch == gw ? per_image - rem : gw - b, count - done);
        pieces[n].src_offset = image * l->stage_image + a * l->pitch + b;
        pieces[n].len = len;
        pieces[n].dst_offset = done;
        ++n;
        done += len;
    }
    return n;
}

/* Where an item's stage starts: the source itself (group base `src`) when in
 * place, else the thread's buffer. */
static const void *cg_stage_base(const convgemm_problem *p, const cg_layout *l, const void *src,
                                 size_t element_size, ptrdiff_t n0, ptrdiff_t a0, void *buffer)
{
    if (!l->in_place) return buffer;
    return (const char *)src + element_size * (size_t)(n0 * p->src_image_stride + (a0 + l->qy_min) * p->src_width);
}

size_t convgemm_workspace_bytes(const convgemm_problem *p, size_t element_size, int weight_grad)
{
    const cnnfast_ukernel_table_f32 *uk = cnnfast_ukernels_f32(cnnfast_get_isa());
    const ptrdiff_t reduction = p->channels * p->taps, threads = CONVGEMM_PLAN_THREADS;
    if (p->images * p->grid_height * p->grid_width == 0) return 0;
    cg_layout l;
    if (cg_make_layout(p, element_size, weight_grad ? CONVGEMM_WEIGHT_GRAD_STAGE_BYTES : CONVGEMM_STAGE_BYTES,
                       weight_grad ? 1 : CONVGEMM_PLAN_THREADS, &l))
        return (size_t)-1;
    size_t elements;
    if (weight_grad) {
        const ptrdiff_t cols = cg_round_up(p->rows, uk->lanes);
        const ptrdiff_t kp = cg_max(1, CONVGEMM_L1_DOT / (cols * (ptrdiff_t)element_size));
        elements = (size_t)(p->groups * reduction * cols + threads * (l.stage_size + kp * cols));
    } else {
        const ptrdiff_t mpad = cg_round_up(p->rows, uk->mr);
        const ptrdiff_t kc = cg_max(1, CONVGEMM_L1_PANEL / (uk->nr * (ptrdiff_t)element_size));
        elements = (size_t)(p->groups * mpad * reduction + threads * (l.stage_size + (kc + mpad) * uk->nr));
    }
    cg_free_layout(&l);
    return elements * element_size;
}

#define REAL float
#define FN(name) name##_f32
#define UKERNEL_TABLE cnnfast_ukernel_table_f32
#define UKERNELS cnnfast_ukernels_f32
#include "convgemm_impl.inc"
#undef REAL
#undef FN
#undef UKERNEL_TABLE
#undef UKERNELS

#define REAL double
#define FN(name) name##_f64
#define UKERNEL_TABLE cnnfast_ukernel_table_f64
#define UKERNELS cnnfast_ukernels_f64
#include "convgemm_impl.inc"
#undef REAL
#undef FN
#undef UKERNEL_TABLE
#undef UKERNELS
