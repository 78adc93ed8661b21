/* 2-D max and average pooling, forward and backward, over NCHW planes.
 *
 * Every (image, channel) plane is independent, so the OpenMP loops run over
 * planes: a backward pass writes only into its own plane of grad_x, and no
 * two threads ever add into the same element. */
#ifndef CNNFAST_POOL2D_H
#define CNNFAST_POOL2D_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    ptrdiff_t planes; /* batch * channels */
    ptrdiff_t in_height, in_width, out_height, out_width;
    ptrdiff_t kernel_height, kernel_width;
    ptrdiff_t stride_height, stride_width;
    ptrdiff_t pad_height, pad_width;
} pool2d_geometry;

/* y = max over each window; argmax = its flat index h * in_width + w in the
 * input plane.  Ties go to the first maximum in row-major window order, a NaN
 * wins (the first NaN), and padding never wins.  Windows must hold at least one
 * input element (padding at most half the window guarantees it). */
void max_pool2d_forward_f32(const pool2d_geometry *g, const float *x, float *y, int64_t *argmax);
void max_pool2d_forward_f64(const pool2d_geometry *g, const double *x, double *y, int64_t *argmax);

/* grad_x = 0, then grad_x[plane][argmax] += grad_y for every output element.
 * Returns 0, or -1 without writing grad_x when an argmax lies outside
 * [0, in_height * in_width) (all are checked first). */
int max_pool2d_backward_f32(const pool2d_geometry *g, const float *grad_y,
                            const int64_t *argmax, float *grad_x);
int max_pool2d_backward_f64(const pool2d_geometry *g, const double *grad_y,
                            const int64_t *argmax, double *grad_x);

/* y = window sum / divisor: kernel_height * kernel_width when
 * count_include_pad, else the number of input elements in the window. */
void avg_pool2d_forward_f32(const pool2d_geometry *g, int count_include_pad,
                            const float *x, float *y);
void avg_pool2d_forward_f64(const pool2d_geometry *g, int count_include_pad,
                            const double *x, double *y);

/* grad_x = each grad_y / divisor spread over its window (adjoint of the forward). */
void avg_pool2d_backward_f32(const pool2d_geometry *g, int count_include_pad,
                             const float *grad_y, float *grad_x);
void avg_pool2d_backward_f64(const pool2d_geometry *g, int count_include_pad,
                             const double *grad_y, double *grad_x);

#endif
