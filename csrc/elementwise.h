/* Element-wise kernels of the training step: ReLU forward and backward, and
 * the SGD update (momentum, Nesterov, dampening, weight decay: torch.optim.SGD).
 *
 * Each is one pass over its arrays, shared out among threads in fixed chunks
 * (an element's result does not depend on the chunking), with subnormals
 * flushed (fpenv.h): a momentum buffer whose gradient is zero decays into the
 * subnormal range, where every NumPy operation on it is a slow microcode
 * assist (measured: `cnnfast train` 15 % slower from epoch 6 on). */
#ifndef CNNFAST_ELEMENTWISE_H
#define CNNFAST_ELEMENTWISE_H

#include <stddef.h>

/* y = max(x, 0), NaN kept (as np.maximum). */
void relu_forward_f32(ptrdiff_t count, const float *x, float *y);
void relu_forward_f64(ptrdiff_t count, const double *x, double *y);

/* grad_x = grad_y * (y > 0): a product, so inf or NaN in grad_y stays NaN where y <= 0, as NumPy. */
void relu_backward_f32(ptrdiff_t count, const float *grad_y, const float *y, float *grad_x);
void relu_backward_f64(ptrdiff_t count, const double *grad_y, const double *y, double *grad_x);

/* One SGD step on `count` parameters, in place, with the operations (and the
 * roundings) of cnnfast.optim.SGD: g = grad + weight_decay * data; with
 * momentum, buf = g on the first step, else momentum * buf + (1 - dampening) * g,
 * and g = g + momentum * buf (Nesterov) or buf; data += -lr * g.  `buf` may be
 * NULL without momentum. */
void sgd_update_f32(ptrdiff_t count, float *data, const float *grad, float *buf, double lr, double momentum,
                    double dampening, int nesterov, double weight_decay, int first_step);
void sgd_update_f64(ptrdiff_t count, double *data, const double *grad, double *buf, double lr, double momentum,
                    double dampening, int nesterov, double weight_decay, int first_step);

#endif
