/* The convolution engine: a convolution as a matrix product over packed
 * operands, in the BLIS design, on the micro-kernels of ukernel.h.
 *
 * One description (convgemm_problem) covers the three products of a
 * convolution layer:
 *
 *   result (rows x pixels) = weights (rows x channels * taps) @ patches (channels * taps x pixels)
 *
 * where patch row (channel, tap t) of output pixel (a, b) is the source element
 * (a * step_h + tap_dy[t], b * step_w + tap_dx[t]), zero outside the source
 * plane.  The forward pass is that product on x; the input gradient is the same
 * product on grad_y with the kernel flipped (one problem for stride 1, one per
 * output phase for larger strides: "sub-pixel" decomposition), so no col2im
 * scatter is ever needed; the weight gradient is the other product,
 * weights_grad = grad_result @ patches^T, done by inner products along the
 * pixels (convgemm_weight_grad).
 *
 * Packing: the patches are packed straight from the image into the
 * micro-kernel's panel layout (kc x nr per panel, no im2col matrix), a block
 * of pixels at a time sized for the L2 cache, and reused by every row panel of
 * the weights; the weights are packed once per call.  Work items are blocks of
 * pixels (forward) or blocks of patch rows (weight gradient); every result
 * element is computed by one thread, in an order that depends on the shapes
 * and the ISA only, so results are bit-identical at any thread count.
 *
 * Memory: the packed weights (as large as the weights) plus, per thread, one
 * packed block of patches and one of results (a few hundred KiB), whatever
 * the batch size. */
#ifndef CNNFAST_CONVGEMM_H
#define CNNFAST_CONVGEMM_H

#include <stddef.h>

typedef struct {
    ptrdiff_t groups;
    /* Source: per image and group, `channels` planes of src_height x src_width
     * (contiguous); images src_image_stride, groups src_group_stride apart. */
    ptrdiff_t channels, src_height, src_width, src_image_stride, src_group_stride;
    /* Taps: patch row r = channel * taps + t. */
    ptrdiff_t taps;
    const ptrdiff_t *tap_dy, *tap_dx;
    ptrdiff_t step_height, step_width;
    /* Output pixels: images x grid_height x grid_width. */
    ptrdiff_t images, grid_height, grid_width;
    /* Weights: `rows` per group; element (m, channel, t) at
     * g * weight_group_stride + m * weight_row_stride + channel * weight_channel_stride + tap_offset[t]. */
    ptrdiff_t rows, weight_group_stride, weight_row_stride, weight_channel_stride;
    const ptrdiff_t *tap_offset;
    /* Result: pixel (n, a, b) of row m of group g at
     * n * dst_image_stride + g * dst_group_stride + m * dst_plane_stride
     *   + (a * out_step_height + out_offset_height) * dst_width + b * out_step_width + out_offset_width. */
    ptrdiff_t dst_image_stride, dst_group_stride, dst_plane_stride, dst_width;
    ptrdiff_t out_step_height, out_step_width, out_offset_height, out_offset_width;
} convgemm_problem;

/* dst = weights @ patches(src) (+ bias[g * rows + m] when bias is not NULL),
 * at every output pixel of the grid (overwritten; other elements of dst are
 * left alone).  Returns 0, or 1 when out of memory (dst then undefined). */
int convgemm_forward_f32(const convgemm_problem *p, const float *src, const float *weights,
                         const float *bias, float *dst);
int convgemm_forward_f64(const convgemm_problem *p, const double *src, const double *weights,
                         const double *bias, double *dst);

/* grad_weights (laid out as the weights) = sum over every output pixel of
 * grad(m, pixel) * patch(r, pixel), where grad is read through the result
 * mapping (it is the gradient of the forward result).  Overwritten.  Returns
 * 0, or 1 when out of memory. */
int convgemm_weight_grad_f32(const convgemm_problem *p, const float *src, const float *grad,
                             float *grad_weights);
int convgemm_weight_grad_f64(const convgemm_problem *p, const double *src, const double *grad,
                             double *grad_weights);

/* Bytes of scratch the engine would use for the forward product (weight_grad
 * 0) or the weight gradient (1) of `p`, planned for CONVGEMM_PLAN_THREADS
 * threads (so the answer does not depend on the thread count); (size_t)-1
 * when out of memory to plan.  conv2d.c takes the OpenBLAS path when this
 * exceeds the workspace limit. */
size_t convgemm_workspace_bytes(const convgemm_problem *p, size_t element_size, int weight_grad);

#endif
