/* Batch normalisation over (N, C, S) data, S the spatial size (H * W for
 * BatchNorm2D, L or 1 for BatchNorm1D), with torch.nn.BatchNorm semantics:
 * the training pass normalises with the batch statistics (biased variance).
 *
 * One pass for the mean, one for the variance (about the mean, as NumPy and
 * torch: a one-pass sum of squares loses digits when the mean is large), one
 * that writes y = x * scale + shift: three passes over x instead of NumPy's
 * eight.  The backward reads grad_y and x twice and writes grad_x once.
 * Channels are shared out among threads; each channel's sums run in double,
 * in a fixed order, so results are bitwise the same for any thread count.
 * Subnormals are flushed (fpenv.h). */
#ifndef CNNFAST_BATCHNORM_H
#define CNNFAST_BATCHNORM_H

#include <stddef.h>

/* y = (x - mean) * inv_std * weight + bias per channel, where mean and the
 * biased variance var are the channel's over N and S, inv_std =
 * 1 / sqrt(var + eps).  Writes y (N, C, S) and mean, var, inv_std (C). */
void batchnorm_train_forward_f32(ptrdiff_t n, ptrdiff_t channels, ptrdiff_t spatial, const float *x,
                                 const float *weight, const float *bias, double eps, float *y, float *mean,
                                 float *var, float *inv_std);
void batchnorm_train_forward_f64(ptrdiff_t n, ptrdiff_t channels, ptrdiff_t spatial, const double *x,
                                 const double *weight, const double *bias, double eps, double *y, double *mean,
                                 double *var, double *inv_std);

/* From grad_y and the forward's x, mean and inv_std: grad_bias = sum grad_y,
 * grad_weight = sum grad_y * x_hat, and
 * grad_x = weight * inv_std * (grad_y - (grad_bias + x_hat * grad_weight) / count),
 * x_hat = (x - mean) * inv_std, count = N * S.  Each output overwritten. */
void batchnorm_train_backward_f32(ptrdiff_t n, ptrdiff_t channels, ptrdiff_t spatial, const float *grad_y,
                                  const float *x, const float *mean, const float *inv_std, const float *weight,
                                  float *grad_x, float *grad_weight, float *grad_bias);
void batchnorm_train_backward_f64(ptrdiff_t n, ptrdiff_t channels, ptrdiff_t spatial, const double *grad_y,
                                  const double *x, const double *mean, const double *inv_std, const double *weight,
                                  double *grad_x, double *grad_weight, double *grad_bias);

/* y = x * scale[c] + shift[c] per channel: batch norm with fixed statistics
 * (inference), one pass.  y may be x. */
void batchnorm_affine_f32(ptrdiff_t n, ptrdiff_t channels, ptrdiff_t spatial, const float *x, const float *scale,
                          const float *shift, float *y);
void batchnorm_affine_f64(ptrdiff_t n, ptrdiff_t channels, ptrdiff_t spatial, const double *x, const double *scale,
                          const double *shift, double *y);

#endif
