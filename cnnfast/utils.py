"""Small helpers users bring from Keras and PyTorch: ``to_categorical`` and ``to_torch``."""

from __future__ import annotations

import numpy as np

from ._checks import positive_int

__all__ = ["to_categorical", "to_torch"]


def to_categorical(y, num_classes=None, dtype="float32"):
    """One-hot rows of integer class labels (Keras's ``keras.utils.to_categorical``).

    Parameters
    ----------
    y : array of int, shape (N,) or (N, 1) (or any shape ending in 1)
        Labels in ``[0, num_classes)``; floats holding whole numbers are accepted.
    num_classes : int, optional
        Default: ``max(y) + 1``.
    dtype : str or numpy dtype
        Of the result.

    Returns
    -------
    ndarray, shape (N, num_classes)
        (``y``'s shape without a trailing 1, plus ``num_classes``.)

    Raises
    ------
    ValueError
        A negative label, one ``>= num_classes`` (the first is named), or a fractional one.
    TypeError
        ``y`` not an array of numbers.
    """
    if not isinstance(y, (np.ndarray, list, tuple)):
        raise TypeError(f"y must be an array of class labels, got {type(y).__name__}")
    labels = np.asarray(y)
    if labels.dtype.kind not in "iuf":
        raise TypeError(f"y must hold integer class labels, got dtype {labels.dtype}")
    if labels.dtype.kind == "f":
        if not np.all(np.isfinite(labels)) or np.any(labels != np.round(labels)):
            raise ValueError("y must hold whole-number class labels, got fractional or non-finite values")
        labels = labels.astype(np.int64)
    if labels.ndim > 1 and labels.shape[-1] == 1:
        labels = labels.reshape(labels.shape[:-1])
    if labels.size and labels.min() < 0:
        raise ValueError(f"y holds a negative label, {int(labels.min())}")
    if num_classes is None:
        num_classes = int(labels.max()) + 1 if labels.size else 0
        if num_classes == 0:
            raise ValueError("to_categorical of an empty y needs num_classes")
    num_classes = positive_int("num_classes", num_classes, None)
    bad = np.flatnonzero(labels.reshape(-1) >= num_classes)
    if bad.size:
        raise ValueError(
            f"label {int(labels.reshape(-1)[bad[0]])} at index {int(bad[0])} is out of range for "
            f"num_classes={num_classes} ({bad.size} labels out of range)"
        )
    return np.eye(num_classes, dtype=dtype)[labels]


def to_torch(state):
    """A cnnfast state dict as torch tensors, for ``torch_module.load_state_dict(..., strict=True)``.

    ``model.state_dict()`` holds NumPy arrays under torch's names; torch's
    ``load_state_dict`` wants tensors.  This is ``{k: torch.from_numpy(v) for
    k, v in state.items()}``.

    Parameters
    ----------
    state : dict of str to ndarray, or a cnnfast layer / model
        A layer or model gives its ``state_dict()`` (copies: the tensors share
        no memory with the model).

    Returns
    -------
    dict of str to torch.Tensor

    Raises
    ------
    ImportError
        PyTorch is not installed (cnnfast does not need it otherwise).
    """
    try:
        import torch
    except ImportError as error:
        raise ImportError("to_torch needs PyTorch (pip install torch); cnnfast itself does not") from error
    if hasattr(state, "state_dict") and callable(state.state_dict):
        state = state.state_dict()
    if not hasattr(state, "items"):
        raise TypeError(f"state must be a dict of arrays or a cnnfast layer, got {type(state).__name__}")
    return {key: torch.from_numpy(np.asarray(value)) for key, value in state.items()}
