"""The parameter lists of the optimizers and of gradient clipping.

Parameters are duck-typed: anything with a ``data`` ndarray (updated in place)
and a ``grad`` attribute (an ndarray of the same shape and dtype, or ``None``)
is accepted, so this package does not depend on :mod:`cnnfast.layers`.  The
scalar hyper-parameters are checked by :mod:`cnnfast._checks`.
"""

from __future__ import annotations

import numpy as np

__all__ = ["parameter_list", "checked_grad"]


def _is_parameter(obj) -> bool:
    # ndarray itself has a .data attribute (a memoryview), hence the isinstance on it.
    return isinstance(getattr(obj, "data", None), np.ndarray) and hasattr(obj, "grad")


def parameter_list(params, *, allow_empty: bool = False) -> list:
    """Materialise ``params`` (an iterable of parameters, or one parameter) into a list.

    Raises TypeError for items without ``.data`` ndarray / ``.grad`` or with a
    non-floating ``data``; ValueError for an empty list (unless ``allow_empty``)
    and for a parameter listed twice (it would be updated twice per step).
    """
    if _is_parameter(params):
        params = [params]
    elif isinstance(params, np.ndarray):
        raise TypeError(
            "params must be an iterable of parameters (objects with .data and .grad), "
            f"got a bare ndarray of shape {params.shape}"
        )
    else:
        try:
            params = list(params)
        except TypeError:
            raise TypeError(
                "params must be an iterable of parameters (objects with .data and .grad), "
                f"got {type(params).__name__}"
            ) from None
    if not params and not allow_empty:
        raise ValueError("optimizer got an empty parameter list")
    seen = set()
    for i, p in enumerate(params):
        if not _is_parameter(p):
            raise TypeError(
                f"params[{i}] is a {type(p).__name__}, not a parameter "
                "(an object with a .data ndarray and a .grad attribute)"
            )
        if not np.issubdtype(p.data.dtype, np.floating):
            raise TypeError(f"params[{i}].data must have a floating dtype, got {p.data.dtype}")
        if id(p) in seen:
            raise ValueError(f"params[{i}] appears more than once in the parameter list")
        seen.add(id(p))
    return params


def checked_grad(index: int, p) -> np.ndarray | None:
    """``p.grad`` after checking it matches ``p.data`` in type, shape and dtype (None passes)."""
    grad = p.grad
    if grad is None:
        return None
    if not isinstance(grad, np.ndarray):
        raise TypeError(f"params[{index}].grad must be an ndarray or None, got {type(grad).__name__}")
    if grad.shape != p.data.shape:
        raise ValueError(
            f"params[{index}].grad has shape {grad.shape} but params[{index}].data has shape {p.data.shape}"
        )
    if grad.dtype != p.data.dtype:
        raise TypeError(
            f"params[{index}].grad has dtype {grad.dtype} but params[{index}].data has dtype {p.data.dtype}"
        )
    return grad
