"""Batch normalisation with torch.nn.BatchNorm semantics: BatchNorm1D and BatchNorm2D."""

from __future__ import annotations

import numpy as np

from .. import _checks as check
from .. import functional as F
from .base import Layer, Parameter, grad_buffer, register

__all__ = ["BatchNorm1D", "BatchNorm2D", "BatchNormalization"]


class _BatchNorm(Layer):
    """Normalise each channel (axis 1) over the batch and the spatial axes (see BatchNorm1D/2D)."""

    _fixed_axes = (0,)
    _owns_parameters = True

    def __init__(self, momentum=0.1, eps=1e-5, freeze_statistics=False, name=None):
        super().__init__(name)
        self.momentum = check.finite("momentum", momentum)
        if not 0.0 <= self.momentum <= 1.0:
            raise ValueError(f"momentum must be in [0, 1], got {momentum!r}")
        self.eps = check.finite("eps", eps)
        if self.eps <= 0.0:
            raise ValueError(f"eps must be > 0, got {eps!r}")
        self.freeze_statistics = check.boolean("freeze_statistics", freeze_statistics)
        self.weight = None
        self.bias = None

    def _build(self, input_shape, rng):
        channels = input_shape[0]
        self.weight = Parameter(np.ones(channels, dtype=self.dtype))
        self.bias = Parameter(np.zeros(channels, dtype=self.dtype))
        self.register_buffer("running_mean", np.zeros(channels, dtype=self.dtype))
        self.register_buffer("running_var", np.ones(channels, dtype=self.dtype))
        self.register_buffer("num_batches_tracked", np.zeros((), dtype=np.int64))

    @staticmethod
    def _axes_and_shape(x):
        """Reduction axes (all but 1) and the (1, C, 1, ...) broadcast shape."""
        axes = (0,) + tuple(range(2, x.ndim))
        return axes, (1, x.shape[1]) + (1,) * (x.ndim - 2)

    def _forward(self, x, training):
        axes, shape = self._axes_and_shape(x)
        if training and not self.freeze_statistics:
            return self._forward_batch_stats(x, axes, shape)
        # Running statistics: an affine map per channel.
        scale = self.weight.data / np.sqrt(self.running_var + self.eps)
        shift = self.bias.data - self.running_mean * scale
        y = F.batch_norm_affine(x, scale, shift, backend=self.backend)
        if training:
            self._cache = ("affine", x, scale)
        return y

    def _forward_batch_stats(self, x, axes, shape):
        count = x.size // x.shape[1]
        if count <= 1:
            raise ValueError(f"{self._label()} needs more than 1 value per channel when training, "
                             f"got x of shape {x.shape}")
        if self.backend == "fast":
            return self._forward_batch_stats_fast(x, count)
        mean = x.mean(axis=axes, keepdims=True)
        centred = x - mean
        var = np.mean(np.square(centred), axis=axes, keepdims=True)
        inv_std = 1.0 / np.sqrt(var + self.eps)
        x_hat = centred
        x_hat *= inv_std
        y = x_hat * self.weight.data.reshape(shape)
        y += self.bias.data.reshape(shape)
        self._update_running_statistics(mean.reshape(-1), var.reshape(-1), count)
        self._cache = ("batch", x_hat, inv_std)
        return y

    def _update_running_statistics(self, mean, var, count):
        """Update the running statistics: ``(1 - momentum) * running + momentum * batch`` (the variance unbiased)."""
        momentum = self.momentum
        self.running_mean *= 1.0 - momentum
        self.running_mean += momentum * mean
        self.running_var *= 1.0 - momentum
        self.running_var += (momentum * count / (count - 1)) * var
        np.add(self.num_batches_tracked, 1, out=self.num_batches_tracked)

    def _forward_batch_stats_fast(self, x, count):
        """The training forward in one kernel (three passes over x, every thread).

        The backward recomputes x_hat from x, mean and inv_std.
        """
        y, mean, var, inv_std = F.batch_norm_train(x, self.weight.data, self.bias.data, self.eps)
        self._update_running_statistics(mean, var, count)
        self._cache = ("batch_fast", x, (mean, inv_std))
        return y

    def _backward(self, grad_y):
        kind, saved, scale = self._cache
        if kind == "batch_fast":
            grad_x, grad_w, grad_b = F.batch_norm_train_backward(grad_y, saved, *scale, self.weight.data)
            grad_buffer(self.weight)[...] = grad_w
            grad_buffer(self.bias)[...] = grad_b
            return grad_x
        axes, shape = self._axes_and_shape(grad_y)
        grad_b = grad_buffer(self.bias)
        np.sum(grad_y, axis=axes, out=grad_b)
        if kind == "affine":
            x = saved
            # y = x * scale + bias - running_mean * scale
            # d/dweight = (x - running_mean) / sqrt(running_var + eps)
            inv_std = 1.0 / np.sqrt(self.running_var + self.eps)
            x_hat = (x - self.running_mean.reshape(shape)) * inv_std.reshape(shape)
            np.sum(grad_y * x_hat, axis=axes, out=grad_buffer(self.weight))
            return grad_y * scale.reshape(shape)
        x_hat, inv_std = saved, scale
        grad_w = grad_buffer(self.weight)
        np.sum(grad_y * x_hat, axis=axes, out=grad_w)
        count = grad_y.size // grad_y.shape[1]
        # grad_x = weight * inv_std / n * (n * grad_y - sum(grad_y) - x_hat * sum(grad_y * x_hat))
        grad_x = x_hat * grad_w.reshape(shape)
        grad_x += grad_b.reshape(shape)
        grad_x *= -1.0 / count
        grad_x += grad_y
        grad_x *= (self.weight.data.reshape(shape) * inv_std)
        return grad_x

    def get_config(self):
        """The constructor's keyword arguments, JSON-able (see :meth:`Layer.get_config`)."""
        return {"momentum": self.momentum, "eps": self.eps, "freeze_statistics": self.freeze_statistics,
                "name": self.name}


@register
class BatchNorm1D(_BatchNorm):
    """Batch normalisation as torch.nn.BatchNorm1d.

    x (N, C) or (N, C, L) -> y, same shape; statistics per channel over N (and L).
    C is inferred from the first input.  Parameters, attributes and notes as :class:`BatchNorm2D`'s.
    """

    _input_ndim = (1, 2)


@register
class BatchNorm2D(_BatchNorm):
    """Batch normalisation as torch.nn.BatchNorm2d.

    x (N, C, H, W) -> y, same shape; statistics per channel over N, H and W.
    C is inferred from the first input.

    Parameters
    ----------
    momentum : float in [0, 1]
        Weight of the batch statistics in the running ones.
    eps : float > 0
        Added to the variance.
    freeze_statistics : bool
        Normalise with the running statistics also when training (and leave
        them unchanged), like a torch BatchNorm in eval() mode inside a graph
        that is differentiated: its backward is then the affine map.
    name : str, optional

    Attributes
    ----------
    weight, bias : Parameter, shape (C,)
        Initialised to 1 and 0.
    running_mean, running_var : ndarray, shape (C,)
        Buffers, initialised to 0 and 1.
    num_batches_tracked : ndarray, shape (), int64
        Buffer: the training batches seen (torch's names and layouts throughout).

    Notes
    -----
    Training: ``y = (x - mean) / sqrt(var + eps) * weight + bias`` with the
    batch mean and the biased batch variance; the running statistics become
    ``(1 - momentum) * running + momentum * batch``, running_var taking the
    unbiased variance.  Inference: the running statistics replace the batch ones.
    """

    _input_ndim = 3



@register
class BatchNormalization(_BatchNorm):
    """Keras's BatchNormalization: batch normalisation over the channel axis, with Keras's arguments.

    x (N, C, ...) -> y, same shape: (N, C) after a Dense, (N, C, H, W) after
    a Conv2D; statistics per channel over every axis but 1.  The same layer as
    :class:`BatchNorm1D` / :class:`BatchNorm2D` (torch's state_dict names),
    with Keras's meaning of the arguments.

    Parameters
    ----------
    axis : int
        The channel axis: 1 (cnnfast is channels-first, NCHW).  Keras's
        default, -1, is accepted for 2-D inputs (N, C) only, where it is the
        same axis; for images it would be the width, so it is refused.
    momentum : float in [0, 1]
        Keras's meaning: ``running = momentum * running + (1 - momentum) *
        batch`` (torch's ``momentum`` is one minus this).  Default 0.99.
    epsilon : float > 0
        Added to the variance.  Default 1e-3 (Keras's).
    name : str, optional

    Notes
    -----
    The running variance is updated with the unbiased batch variance, as
    torch does (Keras uses the biased one: the two differ by a factor
    ``n / (n - 1)``, n the values per channel in a batch).
    """

    _min_input_ndim = 1

    def __init__(self, axis=1, momentum=0.99, epsilon=1e-3, name=None):
        momentum = check.finite("momentum", momentum)
        if not 0.0 <= momentum <= 1.0:
            raise ValueError(f"momentum must be in [0, 1], got {momentum!r}")
        super().__init__(momentum=1.0 - momentum, eps=epsilon, name=name)
        self.axis = check.integer("axis", axis)
        if self.axis not in (1, -1):
            raise ValueError(f"axis must be 1, the channel axis of NCHW data (or -1 for (N, C) data), got {axis}")

    def output_shape(self, input_shape):
        """The same shape; axis=-1 needs (C,) input (batch dimension excluded)."""
        shape = super().output_shape(input_shape)
        if self.axis == -1 and len(shape) != 1:
            raise ValueError(f"{self._label()}: axis=-1 is the last axis; for input shape {tuple(shape)} "
                             "(channels first) the channel axis is 1: use axis=1")
        return shape

    def get_config(self):
        """The constructor's keyword arguments, JSON-able (see :meth:`Layer.get_config`)."""
        return {"axis": self.axis, "momentum": 1.0 - self.momentum, "epsilon": self.eps, "name": self.name}
