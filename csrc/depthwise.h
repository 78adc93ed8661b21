/* Direct convolution for one input channel per group: depthwise convolution.
 *
 * With one input channel per group the im2col GEMM degenerates to a product
 * with inner dimension kh * kw and one or few output rows: BLAS cannot reach
 * speed on it, while a direct loop over the kernel taps streams each plane
 * through the cache a few times and vectorises along the rows.
 *
 * Internal to conv2d.c: conv2d_forward / conv2d_backward call these only when
 * depthwise_conv2d_applies (in_channels == groups > 1) and no NaN or inf
 * would meet the zero padding these kernels skip (see depthwise_is_exact in
 * conv2d_impl.inc).  Shapes, and NULL for a gradient not wanted, are as in
 * conv2d.h; unlike conv2d, these need no workspace and cannot fail, so they
 * return nothing. */
#ifndef CNNFAST_DEPTHWISE_H
#define CNNFAST_DEPTHWISE_H

#include "im2col.h"

int depthwise_conv2d_applies(const conv2d_geometry *g);

void depthwise_conv2d_forward_f32(const conv2d_geometry *g, const float *x, const float *weight,
                                  const float *bias, float *y);
void depthwise_conv2d_forward_f64(const conv2d_geometry *g, const double *x, const double *weight,
                                  const double *bias, double *y);

void depthwise_conv2d_backward_f32(const conv2d_geometry *g, const float *grad_y, const float *x,
                                   const float *weight, float *grad_x, float *grad_weight);
void depthwise_conv2d_backward_f64(const conv2d_geometry *g, const double *grad_y, const double *x,
                                   const double *weight, double *grad_x, double *grad_weight);

#endif
