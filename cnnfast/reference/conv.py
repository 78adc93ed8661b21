"""Plain-NumPy 2-D convolution and transposed convolution, forward and backward.

This is the readable twin of the compiled convolution kernels: the test oracle
and the benchmark baseline.  Semantics follow ``torch.nn.functional`` (NCHW;
float32 or float64 in, the same dtype out).

Notation: ``x`` is (N, C, H, W), ``weight`` is (K, C/G, kh, kw) for G groups,
``y`` is (N, K, Ho, Wo); ``s``, ``P``, ``d`` are stride, padding and dilation,
``Cg = C/G`` and ``Kg = K/G`` are the channels per group.

All the arithmetic lives in three private helpers, each driven by a
``ConvGeometry`` so that every size comes from the argument checks:

* ``_conv``              y  = conv(x, W)        forward
* ``_conv_input_grad``   dx = conv^T(dy, W)     input gradient = transposed conv
* ``_conv_weight_grad``  dW = corr(x, dy)       weight gradient

Each loops over the kh*kw kernel taps (p, q).  The inputs that meet tap (p, q)
form one strided slice of the padded input, one element per output position
(``_window``), so each tap is a single contraction over the channels of a
group.  Transposed convolution *is* the input gradient of convolution, so
``conv_transpose2d`` and its backward reuse the same three helpers with the
roles of input and output swapped.
"""

import numpy as np

from .. import _checks

__all__ = ["conv2d", "conv2d_backward", "conv_transpose2d", "conv_transpose2d_backward"]


# ------------------------------------------------------------ spatial helpers
# Shared with the pooling module.


def _pad(a, padding, value=0):
    """``a`` with its last two axes padded by ``padding = (ph, pw)`` on both sides."""
    (ph, pw) = padding
    return np.pad(a, ((0, 0),) * (a.ndim - 2) + ((ph, ph), (pw, pw)), constant_values=value)


def _unpad(a, padding):
    """Inverse of ``_pad``: drop the border, as a C-contiguous array."""
    (ph, pw) = padding
    return np.ascontiguousarray(a[..., ph:a.shape[-2] - ph, pw:a.shape[-1] - pw])


def _window(a, start, g):
    """The strided view of the last two axes of ``a`` that one kernel tap sees.

    ``g`` is a ConvGeometry or PoolGeometry.  Row ``i`` of the view is row
    ``start[0] + i * g.stride[0]`` of ``a``, for ``i < g.out_height`` (likewise
    for columns): for a tap at offset ``start`` in the padded input, element
    (i, j) is what that tap meets for output position (i, j).  It is a view,
    so a backward pass can add into it.
    """
    (h0, w0), (sh, sw) = start, g.stride
    return a[..., h0:h0 + sh * (g.out_height - 1) + 1:sh, w0:w0 + sw * (g.out_width - 1) + 1:sw]


# -------------------------------------------------------- convolution helpers


def _split_groups(a, groups, axis):
    """Split ``axis`` of ``a`` into (groups, size / groups)."""
    return a.reshape(a.shape[:axis] + (groups, a.shape[axis] // groups) + a.shape[axis + 1:])


def _taps(g):
    """``(p, q, start)`` for every kernel tap, ``start`` its offset in the padded input."""
    for p, q in np.ndindex(*g.kernel):
        yield p, q, (p * g.dilation[0], q * g.dilation[1])


def _conv(x, weight, g):
    """Bias-free convolution of ``x`` (``g.input_shape``) into ``g.output_shape``."""
    xs = _split_groups(_pad(x, g.padding), g.groups, 1)   # (N, G, Cg, Hp, Wp)
    ws = _split_groups(weight, g.groups, 0)               # (G, Kg, Cg, kh, kw)
    y = np.zeros(g.output_shape, x.dtype)
    ys = _split_groups(y, g.groups, 1)                    # (N, G, Kg, Ho, Wo), a view
    for p, q, start in _taps(g):
        patch = _window(xs, start, g)                     # (N, G, Cg, Ho, Wo)
        ys += np.einsum("ngcij,gkc->ngkij", patch, ws[..., p, q])
    return y


def _conv_input_grad(grad_y, weight, g):
    """Adjoint of ``_conv`` in its input: ``grad_y`` (``g.output_shape``) to ``g.input_shape``."""
    gys = _split_groups(grad_y, g.groups, 1)              # (N, G, Kg, Ho, Wo)
    ws = _split_groups(weight, g.groups, 0)               # (G, Kg, Cg, kh, kw)
    # Accumulate into a padded buffer so that taps falling on the padding need
    # no special case; the padding's share is thrown away by _unpad.
    grad_x = _pad(np.zeros(g.input_shape, grad_y.dtype), g.padding)
    grad_xs = _split_groups(grad_x, g.groups, 1)          # (N, G, Cg, Hp, Wp), a view
    for p, q, start in _taps(g):
        patch = _window(grad_xs, start, g)                # (N, G, Cg, Ho, Wo)
        patch += np.einsum("ngkij,gkc->ngcij", gys, ws[..., p, q])
    return _unpad(grad_x, g.padding)


def _conv_weight_grad(grad_y, x, g):
    """Gradient of ``sum(_conv(x, W, g) * grad_y)`` with respect to ``W``."""
    xs = _split_groups(_pad(x, g.padding), g.groups, 1)   # (N, G, Cg, Hp, Wp)
    gys = _split_groups(grad_y, g.groups, 1)              # (N, G, Kg, Ho, Wo)
    grad_w = np.empty(g.weight_shape, x.dtype)
    grad_ws = _split_groups(grad_w, g.groups, 0)          # (G, Kg, Cg, kh, kw), a view
    for p, q, start in _taps(g):
        patch = _window(xs, start, g)                     # (N, G, Cg, Ho, Wo)
        grad_ws[..., p, q] = np.einsum("ngkij,ngcij->gkc", gys, patch)
    return grad_w


def _bias_grad(grad_y):
    return grad_y.sum(axis=(0, 2, 3))


def _add_bias(y, bias):
    if bias is not None:
        y += bias[:, None, None]
    return y


# --------------------------------------------------------------- convolution


def conv2d(x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """2-D convolution (cross-correlation, as in PyTorch), NCHW.

    Arguments and results: those of :func:`cnnfast.functional.conv2d` (without ``backend``).
    ``Ho = (H + 2*P - d*(kh - 1) - 1) // s + 1``, likewise ``Wo``.

    Notes
    -----
    For output channel ``k`` in group ``g = k // Kg``::

        y[n,k,i,j] = b[k] + sum_{c,p,q} W[k,c,p,q] * x_pad[n, g*Cg + c, i*s + p*d, j*s + q*d]

    where ``x_pad`` is ``x`` zero-padded by ``P`` (for ``padding="same"`` with an
    odd ``d*(kh - 1)``, one more zero row at the bottom, column at the right).  For a fixed tap (p, q) the
    ``x_pad`` elements used form a strided slice, so the sum is kh*kw channel
    contractions.
    """
    x, weight, bias, g = _checks.conv2d_args(x, weight, bias, stride, padding, dilation, groups)
    return _add_bias(_conv(x, weight, g), bias)


def conv2d_backward(grad_y, x, weight, stride=1, padding=0, dilation=1, groups=1, input_grad=True):
    """Gradients of :func:`conv2d`.

    Arguments and results: those of :func:`cnnfast.functional.conv2d_backward` (without ``backend``).

    Notes
    -----
    Differentiating the forward formula:

    * input: ``x_pad[n, g*Cg + c, u, v]`` appears in every output (k, i, j)
      with ``i*s + p*d = u`` and ``j*s + q*d = v``, multiplied by
      ``W[k,c,p,q]``; so each input element collects the ``grad_y`` of exactly
      the outputs it touched, through the same weights.  That scatter is the
      transposed convolution of ``grad_y`` by ``W``; for stride 1 it is the
      "full" convolution of ``grad_y`` by ``W`` flipped in both spatial axes
      with its channel axes swapped (for stride s, of ``grad_y`` with s - 1
      zeros inserted between its elements).  The share that lands on the
      padding is dropped.
    * weight: ``dL/dW[k,c,p,q] = sum_{n,i,j} grad_y[n,k,i,j] *
      x_pad[n, g*Cg + c, i*s + p*d, j*s + q*d]``, the correlation of the
      (strided, dilated) input with ``grad_y``, summed over the batch.
    * bias: ``b[k]`` enters every output of channel k with coefficient 1, so
      ``grad_bias[k] = sum_{n,i,j} grad_y[n,k,i,j]``.
    """
    grad_y, x, weight, g = _checks.conv2d_backward_args(grad_y, x, weight, stride, padding, dilation, groups)
    grad_x = _conv_input_grad(grad_y, weight, g) if input_grad else None
    return _checks.same_crop(grad_x, padding, g), _conv_weight_grad(grad_y, x, g), _bias_grad(grad_y)


# ---------------------------------------------------- transposed convolution


def conv_transpose2d(x, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1):
    """2-D transposed convolution, NCHW, weight laid out as in PyTorch.

    Arguments and results: those of :func:`cnnfast.functional.conv_transpose2d` (without ``backend``).
    ``Hout = (H - 1)*s - 2*P + d*(kh - 1) + output_padding + 1``, likewise ``Wout``.

    Notes
    -----
    This is the input gradient of the convolution ``A`` that maps
    (N, Cout, Hout, Wout) to (N, Cin, H, W) with the same stride, padding,
    dilation and groups, reading ``weight`` as a conv weight (Cin outputs,
    Cout/G inputs per group): ``y = A^T x + b``.  Every ``x[n,k,i,j]`` is
    scattered, weighted by ``W[k,c,p,q]``, to ``y_pad[n, g*Cg + c, i*s + p*d,
    j*s + q*d]``, and the border ``P`` of ``y_pad`` is cropped.
    ``output_padding`` chooses among the sizes ``Hout`` that such a
    convolution maps to ``H`` (with stride > 1 several do).  When it is not
    smaller than the stride (allowed if the dilation is larger), ``A`` is
    that convolution limited to its first H x W output positions.
    """
    x, weight, bias, g = _checks.conv_transpose2d_args(x, weight, bias, stride, padding, output_padding,
                                                       groups, dilation)
    return _add_bias(_conv_input_grad(x, weight, g), bias)


def conv_transpose2d_backward(grad_y, x, weight, stride=1, padding=0, output_padding=0, groups=1, dilation=1):
    """Gradients of :func:`conv_transpose2d`.

    Arguments and results: those of :func:`cnnfast.functional.conv_transpose2d_backward` (without ``backend``).

    Notes
    -----
    With ``y = A^T x + b`` (see :func:`conv_transpose2d`):

    * input: ``grad_x = A grad_y``, the plain convolution of ``grad_y`` by
      ``weight``, limited to x's H x W output positions;
    * weight: ``L = <grad_y, A^T x> = <A grad_y, x>``, the loss of the
      convolution ``A`` applied to ``grad_y`` with output gradient ``x``; so
      ``grad_weight`` is the conv weight gradient with ``grad_y`` as the
      conv's input and ``x`` as its output gradient: the correlation of
      ``grad_y`` with ``x``;
    * bias: ``grad_bias[c] = sum_{n,u,v} grad_y[n,c,u,v]``.
    """
    grad_y, x, weight, g = _checks.conv_transpose2d_backward_args(grad_y, x, weight, stride, padding,
                                                                  output_padding, groups, dilation)
    return (_conv(grad_y, weight, g), _conv_weight_grad(x, grad_y, g), _bias_grad(grad_y))
