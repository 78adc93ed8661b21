"""Finite-difference check of a layer's (or model's) backward, in float64.

The scalar checked is f(x, params) = sum(forward(x) * R) for a fixed random
projection R, so one backward with grad_y = R gives the whole gradient, and
each entry of x and of every parameter is compared with the central
difference (f(v + eps) - f(v - eps)) / (2 eps).
"""

from __future__ import annotations

import copy

import numpy as np

from .layers.base import Layer

__all__ = ["gradcheck"]


def _generators(layer, found=None, seen=None):
    """Every np.random.Generator of ``layer`` and its children (e.g. Dropout's): each forward replays their draws."""
    found = [] if found is None else found
    seen = set() if seen is None else seen
    if id(layer) in seen:
        return found
    seen.add(id(layer))
    for value in vars(layer).values():
        if isinstance(value, np.random.Generator) and all(value is not g for g in found):
            found.append(value)
    for _, child in layer.named_children():
        _generators(child, found, seen)
    return found


def _entry_name(name, shape, flat_index):
    index = np.unravel_index(flat_index, shape) if shape else ()
    return f"{name}[{', '.join(str(int(i)) for i in index)}]"


def gradcheck(layer_or_model, x, eps=1e-6, atol=1e-5, rtol=1e-4, seed=0):
    """Check the backward of ``layer_or_model`` on input ``x`` by central differences.

    The scalar checked is ``sum(forward(x) * R)`` for a fixed random projection
    ``R``; every entry of x and of every parameter is compared with
    ``(f(v + eps) - f(v - eps)) / (2 eps)``.  Forward runs with training=True
    (the mode that has a backward: BatchNorm uses batch statistics); random
    draws such as Dropout's are replayed identically for every evaluation.
    Costs two forward passes per entry of x and of the parameters: use small inputs.

    Parameters
    ----------
    layer_or_model : Layer
        Deep-copied and converted to float64; the original is left untouched.
        An unbuilt layer is built on the copy for x's shape with
        ``np.random.default_rng(seed)``.
    x : array, shape (N, ...), real
        Converted to float64.
    eps : float > 0
    atol, rtol : float >= 0
        Each entry must satisfy ``|numeric - analytic| <= atol + rtol * |numeric|``.
    seed : int

    Returns
    -------
    bool
        True.

    Raises
    ------
    AssertionError
        Naming the worst entry (e.g. "0.weight[2, 0, 1, 1]") with both values.

    Examples
    --------
    >>> from cnnfast import layers
    >>> x = np.random.default_rng(0).standard_normal((2, 3, 6, 6))
    >>> cnnfast.gradcheck(layers.Conv2D(4, 3, padding=1), x)
    True
    """
    if not isinstance(layer_or_model, Layer):
        raise TypeError(f"gradcheck expects a cnnfast.layers.Layer, got {type(layer_or_model).__name__}")
    x = np.asarray(x)
    if x.dtype.kind not in "iuf":
        raise TypeError(f"x must hold real numbers, got dtype {x.dtype}")
    for arg, value in (("eps", eps), ("atol", atol), ("rtol", rtol)):
        if not (isinstance(value, (int, float)) and value >= 0):
            raise ValueError(f"{arg} must be a non-negative number, got {value!r}")
    if eps <= 0:
        raise ValueError(f"eps must be > 0, got {eps!r}")
    x = np.array(x, dtype=np.float64)  # a private copy: it is perturbed in place below
    if x.ndim == 0:
        raise ValueError("x must be a batch (N, ...), got a 0-d array")

    net = copy.deepcopy(layer_or_model).astype(np.float64)
    if not net.built:
        net.build(x.shape[1:], np.random.default_rng(seed))
    generators = _generators(net)
    states = [g.bit_generator.state for g in generators]

    def forward():
        for g, state in zip(generators, states):
            g.bit_generator.state = state
        return net.forward(x, training=True)

    y = forward()
    projection = np.random.default_rng(seed).standard_normal(y.shape)
    grad_x = net.backward(projection)
    named = net.named_parameters()
    analytic = [("x", x, np.asarray(grad_x))]
    for name, p in named:
        if p.grad is None:
            raise AssertionError(f"backward did not set the gradient of parameter {name!r}")
        analytic.append((name, p.data, p.grad.copy()))

    def objective():
        return float(np.sum(forward() * projection))

    worst = None  # (excess, name, numeric, analytic)
    for name, value, grad in analytic:
        if grad.shape != value.shape:
            raise AssertionError(f"gradient of {name} has shape {grad.shape}, expected {value.shape}")
        flat_value = value.reshape(-1)  # a view: value is contiguous (x copied above, params owned)
        flat_grad = grad.reshape(-1)
        for i in range(flat_value.size):
            original = flat_value[i]
            flat_value[i] = original + eps
            plus = objective()
            flat_value[i] = original - eps
            minus = objective()
            flat_value[i] = original
            numeric = (plus - minus) / (2.0 * eps)
            error = abs(numeric - flat_grad[i])
            excess = error - (atol + rtol * abs(numeric))
            if not np.isfinite(error):
                excess = np.inf
            if excess > 0 and (worst is None or excess > worst[0]):
                worst = (excess, _entry_name(name, value.shape, i), numeric, float(flat_grad[i]))
    if worst is not None:
        _, where, numeric, computed = worst
        raise AssertionError(f"gradcheck failed for {type(layer_or_model).__name__}: worst entry {where}: "
                             f"numeric {numeric:.10g}, analytic {computed:.10g}, difference "
                             f"{abs(numeric - computed):.3g} > atol {atol} + rtol {rtol} * |numeric|")
    return True
