r"""Gradient clipping by global norm, as ``torch.nn.utils.clip_grad_norm_``."""

from __future__ import annotations

import math

import numpy as np

from .._checks import nonnegative, real
from ._params import checked_grad, parameter_list

__all__ = ["clip_grad_norm"]


def _vector_norm(x: np.ndarray, norm_type: float) -> float:
    """The ``norm_type``-norm of ``x`` flattened, as a Python float."""
    flat = x.reshape(-1)
    if flat.size == 0:
        return 0.0
    if norm_type == 2.0:
        # dot of a contiguous vector with itself: BLAS, no temporary array.
        return math.sqrt(float(np.dot(flat, flat)))
    if math.isinf(norm_type):
        return float(np.max(np.abs(flat))) if norm_type > 0 else float(np.min(np.abs(flat)))
    if norm_type == 0.0:
        return float(np.count_nonzero(flat))
    return float(np.sum(np.abs(flat) ** norm_type) ** (1.0 / norm_type))


def clip_grad_norm(params, max_norm: float, norm_type: float = 2.0, error_if_nonfinite: bool = False) -> float:
    r"""Scale all gradients together so that their global norm is at most ``max_norm``; in place.

    The global norm is the norm of the per-parameter norms,

    .. math:: \|g\| = \big\| \big(\|g_1\|_p, \ldots, \|g_k\|_p\big) \big\|_p ,

    over the parameters whose ``grad`` is not None (``p = norm_type``; ``inf`` gives the
    largest absolute entry). Each gradient is then multiplied by

    .. math:: c = \min\big(1, \text{max\_norm} / (\|g\| + 10^{-6})\big),

    exactly torch's rule (the 1e-6 keeps a zero gradient finite).

    Parameters
    ----------
    params : a parameter or an iterable of parameters (objects with ``.data`` and ``.grad``)
    max_norm : float >= 0
    norm_type : float, default 2.0 (``float("inf")`` for the max-norm)
    error_if_nonfinite : bool
        If True, a NaN/inf total norm raises RuntimeError instead of being used
        (torch's default, False, lets it propagate into the gradients).

    Returns
    -------
    float
        The total norm *before* clipping (0.0 when no parameter has a gradient).
    """
    params = parameter_list(params, allow_empty=True)
    max_norm = nonnegative("max_norm", max_norm)
    norm_type = real("norm_type", norm_type)
    grads = [g for i, p in enumerate(params) if (g := checked_grad(i, p)) is not None]
    if not grads:
        return 0.0
    norms = np.array([_vector_norm(g, norm_type) for g in grads])
    total = _vector_norm(norms, norm_type)
    if error_if_nonfinite and not math.isfinite(total):
        raise RuntimeError(
            f"The total norm of order {norm_type} of the gradients is non-finite ({total}), so it cannot be "
            "clipped; pass error_if_nonfinite=False to scale the gradients by it anyway"
        )
    clip_coef = max_norm / (total + 1e-6)
    # A coefficient of 1 leaves the gradients unchanged, so skip the pass over them;
    # NaN (non-finite total) falls through to the multiply, as in torch.
    if not clip_coef >= 1.0:
        for g in grads:
            g *= clip_coef
    return total
