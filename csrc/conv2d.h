/* 2-D convolution by im2col + GEMM, forward and backward, NCHW.
 *
 * Work is split into independent items (image x group x row tile for the
 * forward, image x group for the backward) run by an OpenMP `for`, each thread
 * with its own patch buffer and BLAS pinned to one thread.  The patch buffers
 * of all threads together stay under the workspace limit whatever the batch
 * size: the batch is walked one image (or one row tile) per thread at a time.
 *
 * The weight gradient is summed per fixed "slot" (a contiguous range of
 * images) and the slots are added in slot order, so the result does not depend
 * on the thread count or on scheduling: runs are bitwise reproducible.
 *
 * Transposed convolution needs no kernel of its own: its forward pass is
 * conv2d_backward with only grad_x requested, its input gradient is
 * conv2d_forward and its weight gradient conv2d_backward with only grad_weight. */
#ifndef CNNFAST_CONV2D_H
#define CNNFAST_CONV2D_H

#include <stddef.h>
#include "im2col.h"

enum { CNNFAST_OK = 0, CNNFAST_ENOMEM = 1 };

/* Bytes of scratch memory a convolution call may use (default 64 MiB). */
void conv2d_set_workspace_limit(size_t bytes);
size_t conv2d_get_workspace_limit(void);

/* y (N, K, Ho, Wo) = conv(x (N, C, H, W), weight (K, C/groups, kh, kw)) + bias
 * (K, or NULL).  Returns CNNFAST_OK or CNNFAST_ENOMEM. */
int conv2d_forward_f32(const conv2d_geometry *g, const float *x, const float *weight,
                       const float *bias, float *y);
int conv2d_forward_f64(const conv2d_geometry *g, const double *x, const double *weight,
                       const double *bias, double *y);

/* From grad_y (N, K, Ho, Wo): grad_x (N, C, H, W) and grad_weight (K, C/groups,
 * kh, kw), each overwritten; pass NULL for one not wanted (x may then be NULL
 * when grad_weight is NULL).  Returns CNNFAST_OK or CNNFAST_ENOMEM. */
int conv2d_backward_f32(const conv2d_geometry *g, const float *grad_y, const float *x,
                        const float *weight, float *grad_x, float *grad_weight);
int conv2d_backward_f64(const conv2d_geometry *g, const double *grad_y, const double *x,
                        const double *weight, double *grad_x, double *grad_weight);

/* Which implementation a convolution pass takes (depthwise layers aside):
 * CONV2D_PATH_ENGINE (convgemm.h) or CONV2D_PATH_BLAS (im2col + OpenBLAS).
 * conv2d_path_for gives the choice for a shape; conv2d_set_path forces one
 * path for every shape (CONV2D_PATH_AUTO: back to the rule), for tests and
 * benchmarks. */
enum { CONV2D_PATH_AUTO = 0, CONV2D_PATH_ENGINE = 1, CONV2D_PATH_BLAS = 2 };
enum { CONV2D_PASS_FORWARD = 0, CONV2D_PASS_INPUT_GRAD = 1, CONV2D_PASS_WEIGHT_GRAD = 2 };
int conv2d_path_for(const conv2d_geometry *g, int pass);
const char *conv2d_path_rule(void); /* the rule, in words (for show_config) */
void conv2d_set_path(int path);
int conv2d_get_path(void);

/* grad_bias (K) = sum of grad_y (N, K, Ho, Wo) over N, Ho and Wo. */
void conv2d_bias_grad_f32(const conv2d_geometry *g, const float *grad_y, float *grad_bias);
void conv2d_bias_grad_f64(const conv2d_geometry *g, const double *grad_y, double *grad_bias);

#endif
