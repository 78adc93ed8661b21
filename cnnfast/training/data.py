"""What ``fit`` and ``evaluate`` read: input checks, validation hold-out and batch sources.

The separation of concerns follows Keras 3's epoch iterator:

* this module turns what the user passes into a *batch source*, an object
  whose :meth:`epoch` yields one epoch's ``(x_batch, y_batch)`` pairs in the
  model's dtype.  Arrays are batched and shuffled by
  :class:`cnnfast.datasets.BatchIterator`; a batch iterator (such as
  ``ImageDataGenerator.flow(x, y)``) or any Python generator of ``(x, y)``
  pairs is read as it is;
* :mod:`.loop` owns the epochs, the callbacks and the validation;
* :mod:`.step` owns one update.
"""

from __future__ import annotations

from itertools import islice

import numpy as np

from .. import _checks as check
from ..datasets import BatchIterator, iterate_minibatches

__all__ = ["inputs", "targets", "arrays", "is_batch_stream", "split_validation", "ArrayBatches",
           "in_order", "InOrder", "StreamBatches", "augmented", "Augmented"]


def inputs(model, x, name="x"):
    """``x`` as a C-contiguous array of the model's dtype, checked against the model.

    Parameters
    ----------
    model : Sequential
        Built from ``x``'s shape when it is not built yet.
    x : ndarray, shape (N, *input_shape), float32 or float64
        Converted once (a float64 array given to a float32 model costs one copy).
    name : str
        Named in the errors.

    Raises
    ------
    TypeError
        Not an ndarray, or not float32/float64 (uint8 images get a hint).
    ValueError
        Not a batch, or a shape the model was not built for.
    """
    if not isinstance(x, np.ndarray):
        raise TypeError(f"{name} must be a NumPy array, got {type(x).__name__}")
    if x.dtype not in check.FLOAT_DTYPES:
        hint = f" (for images: {name}.astype(np.float32) / 255)" if x.dtype == np.uint8 else ""
        raise TypeError(f"{name} must be a float32 or float64 array, got dtype {x.dtype} with shape"
                        f" {x.shape}{hint}")
    if x.ndim < 2:
        raise ValueError(f"{name} must be a batch (N, ...) with N first, got shape {x.shape}")
    if not model.built:
        model.build(x.shape[1:])
    elif x.shape[1:] != model.input_shape:
        raise ValueError(f"{name} has shape {x.shape}; the model was built for inputs"
                         f" (N, {', '.join(map(str, model.input_shape))})")
    return np.ascontiguousarray(x, dtype=model.dtype)


def targets(model, y, n, name="y", x_name="x"):
    """Targets for ``n`` samples: integer labels (N,) kept as they are, float targets in the model's dtype."""
    if not isinstance(y, np.ndarray):
        raise TypeError(f"{name} must be a NumPy array, got {type(y).__name__}")
    if y.ndim == 0 or len(y) != n:
        raise ValueError(f"{name} must have one target per sample: {x_name} has {n} samples,"
                         f" {name} has shape {y.shape}")
    if y.dtype.kind == "f":
        return np.ascontiguousarray(y, dtype=model.dtype)
    if y.dtype.kind in "iu":
        return np.ascontiguousarray(y)
    raise TypeError(f"{name} must hold integer class labels or float targets, got dtype {y.dtype}")


def arrays(model, x, y, x_name="x", y_name="y"):
    """``(inputs(x), targets(y))``: checked, converted training or evaluation arrays."""
    x = inputs(model, x, x_name)
    return x, targets(model, y, len(x), y_name, x_name)


def is_batch_stream(x):
    """Whether ``x`` is a source of ready-made batches (an iterable other than an array, list or string)."""
    return not isinstance(x, (np.ndarray, list, tuple, str, bytes)) and hasattr(x, "__iter__")


def split_validation(x, y, validation_split):
    """Hold out the LAST ``validation_split`` of ``x``/``y`` (taken before shuffling, as Keras).

    Returns
    -------
    (x_train, y_train, (x_val, y_val) or None)
    """
    validation_split = check.finite("validation_split", validation_split)
    if not 0.0 <= validation_split < 1.0:
        raise ValueError(f"validation_split must be in [0, 1), got {validation_split}")
    if validation_split == 0.0:
        return x, y, None
    split_at = int(len(x) * (1.0 - validation_split))
    if split_at == 0 or split_at == len(x):
        raise ValueError(f"validation_split={validation_split} of {len(x)} samples leaves"
                         f" {split_at} for training and {len(x) - split_at} for validation; both need one")
    return x[:split_at], y[:split_at], (x[split_at:], y[split_at:])


class ArrayBatches:
    """Mini-batches of checked arrays, one pass per epoch.

    Parameters
    ----------
    x, y : ndarray
        From :func:`arrays`.
    batch_size : int
    shuffle : bool
        A new permutation every epoch, drawn from ``rng``.
    rng : numpy.random.Generator
        The model's shuffling stream (so a seed fixes the order of every epoch).
    steps : int or None
        At most this many batches per epoch (``steps_per_epoch``); None: all.

    Attributes
    ----------
    steps, samples, batch_size : int
        Batches per epoch, training samples and batch size (what callbacks see in ``params``).
    x, y, shuffle, rng
        As given (a data-parallel fit slices the same batches from them:
        :class:`cnnfast.training.sharding.ShardedBatches`).
    """

    def __init__(self, x, y, batch_size, shuffle, rng, steps=None):
        self.x, self.y, self.shuffle, self.rng = x, y, shuffle, rng
        self._batches = BatchIterator(x, y, batch_size, shuffle, seed=rng)
        self.steps = len(self._batches) if steps is None else min(steps, len(self._batches))
        self.samples = len(x)
        self.batch_size = batch_size

    def epoch(self):
        """An iterator over one epoch's ``(x_batch, y_batch)``."""
        batches = iter(self._batches)
        return batches if self.steps == len(self._batches) else islice(batches, self.steps)


def in_order(x, y, batch_size):
    """The batches of an evaluation: in order, views of ``x`` and ``y``."""
    return iterate_minibatches(x, y, batch_size, shuffle=False)


class InOrder:
    """Validation data held as checked arrays: each call starts a pass of :func:`in_order` batches.

    Attributes
    ----------
    x, y : ndarray
    batch_size : int
    """

    def __init__(self, x, y, batch_size):
        self.x, self.y, self.batch_size = x, y, batch_size

    def __call__(self):
        """One pass: an iterator over the ``(x_batch, y_batch)`` views, in order."""
        return in_order(self.x, self.y, self.batch_size)


class StreamBatches:
    """Batches read from a batch iterator or a Python generator of ``(x, y)`` pairs.

    Parameters
    ----------
    model : Sequential
        Each batch goes through :func:`inputs` and :func:`targets` (the first
        one builds an unbuilt model).
    data : iterable
        A re-iterable (each ``iter()`` is a new pass, as
        ``ImageDataGenerator.flow(x, y)`` and ``BatchIterator``) starts again
        every epoch; a one-shot iterator (a generator) goes on where the last
        epoch stopped, as in Keras.
    steps : int or None
        Batches per epoch (``steps_per_epoch``); None: until the data runs
        out (one pass of a re-iterable).
    name : str
        Named in the errors (``"x"`` or ``"validation_data"``).

    Attributes
    ----------
    steps : int or None
        Batches per epoch when known (``steps``, or ``len(data)``).
    samples, batch_size : int or None
        ``data.n`` and ``data.batch_size`` when ``data`` has them (BatchIterator does).
    """

    def __init__(self, model, data, steps=None, name="x"):
        self.model = model
        self.name = name
        self._data = data
        self._reiterable = iter(data) is not data
        if steps is None and self._reiterable and hasattr(data, "__len__"):
            steps = len(data)
        self.steps = steps
        self.samples = getattr(data, "n", None)
        self.batch_size = getattr(data, "batch_size", None)

    def epoch(self):
        """An iterator over one epoch's checked ``(x_batch, y_batch)``."""
        stream = iter(self._data) if self._reiterable else self._data
        if self.steps is not None:
            stream = islice(stream, self.steps)
        return (self._checked(batch) for batch in stream)

    def _checked(self, batch):
        if not isinstance(batch, (tuple, list)) or len(batch) != 2:
            what = (f"a {len(batch)}-tuple (sample weights are not supported)" if isinstance(batch, (tuple, list))
                    else type(batch).__name__)
            raise TypeError(f"{self.name} must yield (x_batch, y_batch) pairs, got {what}")
        xb = inputs(self.model, batch[0], f"{self.name} batch x")
        return xb, targets(self.model, batch[1], len(xb), f"{self.name} batch y", f"{self.name} batch x")


def augmented(batches, transform, dtype):
    """``batches`` with ``transform`` applied to each x batch (the same shape back, in ``dtype``)."""
    for xb, yb in batches:
        out = np.asarray(transform(xb))
        if out.shape != xb.shape:
            raise ValueError(f"augment changed the batch shape from {xb.shape} to {out.shape}")
        yield out.astype(dtype, copy=False), yb


class Augmented:
    """A batch source whose x batches go through ``transform`` (fit's ``augment``).

    Parameters
    ----------
    source : batch source
        Its ``steps``, ``samples`` and ``batch_size`` are passed on.
    transform : callable
        ``transform(x_batch) -> x_batch`` (see :func:`augmented`).
    dtype : numpy dtype
    """

    def __init__(self, source, transform, dtype):
        self._source, self._transform, self._dtype = source, transform, dtype
        self.steps, self.samples, self.batch_size = source.steps, source.samples, source.batch_size

    def epoch(self):
        """An iterator over one epoch's augmented ``(x_batch, y_batch)``."""
        return augmented(self._source.epoch(), self._transform, self._dtype)
