/* Fully connected (linear) layer, forward and backward, row-major.
 *
 * x is (N, in), weight (out, in) as in torch.nn.Linear, y (N, out).  Every
 * product is one cnnfast_gemm call per fixed-size block of rows, the blocks
 * shared out by an OpenMP `for` with BLAS pinned to one thread (threads.h):
 * the batch is cut into blocks for y and grad_x, the output units for
 * grad_weight and grad_bias.  Each output element is written by exactly one
 * block, so there is no reduction and no race, and as the blocks depend only
 * on the shapes, results are bitwise the same for any thread count.  Small
 * products run on one thread: waking a second costs more than it saves.
 *
 * No scratch memory is allocated.  Sizes must fit a 32-bit BLAS (at most
 * CNNFAST_BLAS_MAX_DIM each); the bindings check this. */
#ifndef CNNFAST_LINEAR_H
#define CNNFAST_LINEAR_H

#include <stddef.h>

/* y (N, out) = x (N, in) @ weight^T + bias (out, or NULL), y overwritten. */
void linear_forward_f32(ptrdiff_t batch, ptrdiff_t in_features, ptrdiff_t out_features,
                        const float *x, const float *weight, const float *bias, float *y);
void linear_forward_f64(ptrdiff_t batch, ptrdiff_t in_features, ptrdiff_t out_features,
                        const double *x, const double *weight, const double *bias, double *y);

/* From grad_y (N, out): grad_x (N, in) = grad_y @ weight, grad_weight (out, in)
 * = grad_y^T @ x and grad_bias (out) = grad_y summed over N, each overwritten
 * (zeros for an empty batch).  Pass NULL for an output not wanted; x may then
 * be NULL when grad_weight is, and weight when grad_x is. */
void linear_backward_f32(ptrdiff_t batch, ptrdiff_t in_features, ptrdiff_t out_features,
                         const float *grad_y, const float *x, const float *weight,
                         float *grad_x, float *grad_weight, float *grad_bias);
void linear_backward_f64(ptrdiff_t batch, ptrdiff_t in_features, ptrdiff_t out_features,
                         const double *grad_y, const double *x, const double *weight,
                         double *grad_x, double *grad_weight, double *grad_bias);

#endif
