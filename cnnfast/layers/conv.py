"""Convolution layers: Conv2D and Conv2DTranspose (NCHW, torch.nn weight layouts)."""

from __future__ import annotations

import warnings

from .. import _checks as check
from .. import _geometry
from .. import functional as F
from . import initializers
from .activations import Activated
from .base import Layer, Parameter, register

__all__ = ["Conv2D", "Conv2DTranspose", "Convolution2D"]


class _ConvBase(Layer):
    """What Conv2D and Conv2DTranspose share: arguments, weight creation, config."""

    _input_ndim = 3
    _fixed_axes = (0,)
    _owns_parameters = True

    def __init__(self, filters, kernel_size, stride, dilation, groups, use_bias, kernel_initializer,
                 bias_initializer, name):
        super().__init__(name)
        self.filters = check.positive_int("filters", filters)
        self.kernel_size = check.pair("kernel_size", kernel_size, 1)
        self.stride = check.pair("stride", stride, 1)
        self.dilation = check.pair("dilation", dilation, 1)
        self.groups = check.positive_int("groups", groups)
        if self.filters % self.groups:
            raise ValueError(f"groups={self.groups} must divide filters={self.filters}")
        self.use_bias = check.boolean("use_bias", use_bias)
        initializers.attach(self, kernel_initializer, bias_initializer)

    def _channels(self, input_shape):
        channels = input_shape[0]
        if channels % self.groups:
            raise ValueError(f"{self._label()}: groups={self.groups} must divide the {channels} input "
                             f"channels of input shape {tuple(input_shape)}")
        return channels

    def _create(self, weight_shape, rng):
        fan_in, fan_out = initializers.fans(weight_shape)
        self.weight = Parameter(self._kernel_init(weight_shape, rng, self.dtype, fan_in, fan_out))
        self.bias = (Parameter(self._bias_init((self.filters,), rng, self.dtype, fan_in, fan_out))
                     if self.use_bias else None)

    def _bias_data(self):
        return None if self.bias is None else self.bias.data

    def _set_grads(self, grad_w, grad_b):
        self.weight.grad = grad_w
        if self.bias is not None:
            self.bias.grad = grad_b

    def get_config(self):
        """The constructor's keyword arguments, JSON-able (see :meth:`Layer.get_config`)."""
        return {
            "filters": self.filters,
            "kernel_size": list(self.kernel_size),
            "stride": list(self.stride),
            "padding": self.padding if isinstance(self.padding, str) else list(self.padding),
            "dilation": list(self.dilation),
            "groups": self.groups,
            "use_bias": self.use_bias,
            **initializers.config(self),
            "name": self.name,
        }


@register
class Conv2D(Activated, _ConvBase):
    """2-D convolution (cross-correlation, as torch.nn.Conv2d).

    x (N, C, H, W) -> y (N, filters, Ho, Wo) with
    ``Ho = (H + pad_top + pad_bottom - dilation * (kh - 1) - 1) // stride + 1``;
    C is inferred from the first input.

    Parameters
    ----------
    filters : int
    kernel_size, stride, dilation : int or (int, int)
        ``stride`` is also spelled ``strides`` (Keras).
    padding : int, (int, int), "valid" or "same"
        Both sides; "valid" is 0; "same" keeps H and W (stride 1 only, and for
        an even kernel the extra row/column goes to the bottom/right, as in torch).
    groups : int
        Divides C and ``filters``.
    activation : str or None
        A Keras name ("relu", "tanh", ...; see :func:`~cnnfast.layers.Activation`)
        applied to the output; None or "linear": none.
    use_bias : bool
    kernel_initializer, bias_initializer : str or callable
        Names from :mod:`cnnfast.layers.initializers` (callables cannot be serialized).
    name : str, optional

    Attributes
    ----------
    weight : Parameter, shape (filters, C // groups, kh, kw)
    bias : Parameter, shape (filters,), or None

    Examples
    --------
    >>> from cnnfast import layers
    >>> conv = layers.Conv2D(16, 3, stride=2, padding=1)
    >>> y = conv(np.zeros((8, 3, 32, 32), np.float32))      # built for C = 3 on this first input
    >>> y.shape, conv.weight.shape
    ((8, 16, 16, 16), (16, 3, 3, 3))
    """

    def __init__(self, filters, kernel_size, stride=1, padding=0, dilation=1, groups=1, activation=None,
                 use_bias=True, kernel_initializer="torch_default", bias_initializer="torch_default", name=None, *,
                 strides=None):
        stride = check.spelled_twice("stride", stride, 1, "strides", strides)
        super().__init__(filters, kernel_size, stride, dilation, groups, use_bias, kernel_initializer,
                         bias_initializer, name)
        self._set_activation(activation)
        # Refuses a bad string, and "same" with a stride, now rather than at the first call.
        self._pad, self._extra = check.conv_padding(padding, self.kernel_size, self.stride, self.dilation)
        self.padding = padding if isinstance(padding, str) else self._pad

    def output_shape(self, input_shape):
        """(C, H, W) -> (filters, Ho, Wo)."""
        self._check_ndim(input_shape, f"input_shape {tuple(input_shape)} (batch dimension excluded)")
        self._channels(input_shape)
        return (self.filters, *(
            _geometry.output_size(input_shape[1 + axis], self.kernel_size[axis], self.stride[axis],
                                  (self._pad[axis], self._pad[axis] + self._extra[axis]), self.dilation[axis],
                                  axis=kind, what=f"{self._label()} kernel {self.kernel_size}",
                                  input_shape=input_shape)
            for axis, kind in enumerate(("height", "width"))))

    def _build(self, input_shape, rng):
        channels = self._channels(input_shape)
        self._create((self.filters, channels // self.groups) + self.kernel_size, rng)

    def _forward(self, x, training):
        return self._activate(self._forward_logits(x, training), training)

    def _forward_logits(self, x, training):
        y = F.conv2d(x, self.weight.data, self._bias_data(), self.stride, self.padding, self.dilation, self.groups,
                     backend=self.backend)
        if training:
            self._cache = x
        return y

    def _backward(self, grad_y, input_grad=True):
        return self._backward_logits(self._activation_backward(grad_y), input_grad)

    def _backward_logits(self, grad_z, input_grad):
        grad_x, grad_w, grad_b = F.conv2d_backward(grad_z, self._cache, self.weight.data, self.stride, self.padding,
                                                   self.dilation, self.groups, backend=self.backend,
                                                   input_grad=input_grad)
        self._set_grads(grad_w, grad_b)
        return grad_x

    def get_config(self):
        """The constructor's keyword arguments, JSON-able (see :meth:`Layer.get_config`)."""
        return {**super().get_config(), "activation": self.activation}

    def _backward_params(self, grad_y):
        self._backward(grad_y, input_grad=False)



@register
class Conv2DTranspose(_ConvBase):
    """2-D transposed convolution (torch.nn.ConvTranspose2d): the adjoint of Conv2D.

    x (N, C, H, W) -> y (N, filters, Ho, Wo) with
    ``Ho = (H - 1) * stride - 2 * padding + dilation * (kh - 1) + output_padding + 1``;
    C is inferred from the first input.

    Parameters
    ----------
    padding : int, (int, int) or "valid"
    output_padding : int or (int, int)
        Smaller than the stride or the dilation.
    filters, kernel_size, stride, dilation, groups, use_bias, kernel_initializer, bias_initializer, name, strides
        As for :class:`Conv2D`.

    Attributes
    ----------
    weight : Parameter, shape (C, filters // groups, kh, kw)
    bias : Parameter, shape (filters,), or None
    """

    def __init__(self, filters, kernel_size, stride=1, padding=0, output_padding=0, dilation=1, groups=1,
                 use_bias=True, kernel_initializer="torch_default", bias_initializer="torch_default", name=None, *,
                 strides=None):
        stride = check.spelled_twice("stride", stride, 1, "strides", strides)
        super().__init__(filters, kernel_size, stride, dilation, groups, use_bias, kernel_initializer,
                         bias_initializer, name)
        if isinstance(padding, str) and padding != "valid":
            raise ValueError(f"Conv2DTranspose padding must be an int, a pair or 'valid', got {padding!r}")
        self.padding = padding if isinstance(padding, str) else check.pair("padding", padding, 0)
        self._pad = (0, 0) if padding == "valid" else self.padding
        self.output_padding = check.pair("output_padding", output_padding, 0)
        _geometry.check_output_padding(self.output_padding, self.stride, self.dilation)

    def output_shape(self, input_shape):
        """(C, H, W) -> (filters, Ho, Wo)."""
        self._check_ndim(input_shape, f"input_shape {tuple(input_shape)} (batch dimension excluded)")
        self._channels(input_shape)
        where = f"for input shape {tuple(input_shape)} and kernel {self.kernel_size}"
        return (self.filters, *(
            _geometry.transposed_output_size(input_shape[1 + axis], self.kernel_size[axis], self.stride[axis],
                                             self._pad[axis], self.dilation[axis], self.output_padding[axis],
                                             what=f"{self._label()}: padding {self._pad}", where=where)
            for axis in range(2)))

    def _build(self, input_shape, rng):
        channels = self._channels(input_shape)
        self._create((channels, self.filters // self.groups) + self.kernel_size, rng)

    def _forward(self, x, training):
        y = F.conv_transpose2d(x, self.weight.data, self._bias_data(), self.stride, self._pad,
                               self.output_padding, self.groups, self.dilation, backend=self.backend)
        if training:
            self._cache = x
        return y

    def _backward(self, grad_y):
        grad_x, grad_w, grad_b = F.conv_transpose2d_backward(grad_y, self._cache, self.weight.data, self.stride,
                                                             self._pad, self.output_padding, self.groups,
                                                             self.dilation, backend=self.backend)
        self._set_grads(grad_w, grad_b)
        return grad_x

    def get_config(self):
        """The constructor's keyword arguments, JSON-able (see :meth:`Layer.get_config`)."""
        config = super().get_config()
        config["output_padding"] = list(self.output_padding)
        return config


# Keras 1's Convolution2D arguments -> Keras 2's, as Keras 2's legacy interface converted them.
_KERAS1_KEYWORDS = {"border_mode": "padding", "subsample": "strides", "nb_filter": "filters"}


def Convolution2D(*args, **kwargs):  # noqa: N802  (Keras's class name)
    """Keras 2's name of :class:`Conv2D`, reading Keras 1's arguments as Keras 2 did.

    ``Convolution2D(32, (3, 3), padding="same")`` is ``Conv2D(32, (3, 3),
    padding="same")``.  Keras 1's ``Convolution2D(32, 3, 3, border_mode="same",
    subsample=(1, 1))`` (filters, rows, columns) means a 3 x 3 kernel, not
    Conv2D's stride 3: it is converted, with Keras 2's warning, never misread.

    Returns
    -------
    Conv2D
    """
    converted = []
    if len(args) == 3 and all(isinstance(a, int) and not isinstance(a, bool) for a in args[1:]):
        args = (args[0], (args[1], args[2]))
        converted.append("the kernel size as one tuple")
    for old, new in _KERAS1_KEYWORDS.items():
        if old in kwargs:
            if new in kwargs:
                raise TypeError(f"give {new} or Keras 1's {old}, not both")
            kwargs[new] = kwargs.pop(old)
            converted.append(f"{new}= for {old}=")
    if converted:
        warnings.warn(f"Convolution2D: Keras 1 arguments read as Keras 2's ({', '.join(converted)}); update the "
                      f"call to the Keras 2 / cnnfast API: Conv2D(filters, kernel_size, strides, padding)",
                      UserWarning, stacklevel=2)
    return Conv2D(*args, **kwargs)
