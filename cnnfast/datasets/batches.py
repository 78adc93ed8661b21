"""Mini-batches over in-memory arrays, with per-epoch shuffling."""

from __future__ import annotations

import numpy as np

from .._checks import positive_int

__all__ = ["iterate_minibatches", "BatchIterator"]


def _check(x, y, batch_size):
    batch_size = positive_int("batch_size", batch_size, maximum=None)
    n = len(x)
    if y is not None and len(y) != n:
        raise ValueError(f"x has {n} samples but y has {len(y)}")
    return n, batch_size


def iterate_minibatches(x, y=None, batch_size=32, shuffle=True, rng=None, drop_last=False):
    """Yield one epoch of mini-batches.

    Parameters
    ----------
    x : array of shape (N, ...)
    y : array of shape (N, ...) or None
    batch_size : int
    shuffle : bool
        Visit the samples in a random order drawn from ``rng``.
    rng : numpy.random.Generator, int or None
        Source of the permutation (an int seeds a new Generator).
    drop_last : bool
        Leave out the final batch if it is smaller than ``batch_size``.

    Yields
    ------
    (x_batch, y_batch), or x_batch alone when ``y`` is None
        ``x_batch`` of shape (B, ...), B = ``batch_size`` except possibly for
        the last batch.  Every sample appears exactly once per epoch (unless
        ``drop_last`` drops the tail).  Without shuffling the batches are views
        of ``x`` and ``y``; with shuffling they are copies.
    """
    n, batch_size = _check(x, y, batch_size)
    order = np.random.default_rng(rng).permutation(n) if shuffle else None
    stop = n - n % batch_size if drop_last else n
    for start in range(0, stop, batch_size):
        end = min(start + batch_size, n)
        idx = slice(start, end) if order is None else order[start:end]
        xb = x[idx]
        yield xb if y is None else (xb, y[idx])


class BatchIterator:
    """Re-iterable mini-batches: each ``for`` loop over it is one epoch.

    Each new epoch draws a fresh permutation from one Generator created from
    ``seed``, so a seeded iterator gives the same sequence of epochs every time
    it is rebuilt.  ``len()`` is the number of batches per epoch.  Yields
    ``(x_batch, y_batch)``, or ``x_batch`` alone when ``y`` is None.  ``fit``
    and ``evaluate`` take it as their data.

    Parameters
    ----------
    x : array, shape (N, ...)
    y : array, shape (N, ...), optional
    batch_size : int
    shuffle : bool
    seed : int or numpy.random.Generator, optional
    drop_last : bool
        Leave out a final batch smaller than ``batch_size``.
    transform : callable, optional
        ``transform(x_batch, rng) -> x_batch``, applied to each x batch with the
        iterator's Generator (used by :class:`~cnnfast.datasets.ImageDataGenerator`),
        so that random augmentation follows the same seed.
    """

    def __init__(self, x, y=None, batch_size=32, shuffle=True, seed=None, drop_last=False,
                 transform=None):
        self.n, self.batch_size = _check(x, y, batch_size)
        self.x, self.y = x, y
        self.shuffle, self.drop_last = bool(shuffle), bool(drop_last)
        self.rng = np.random.default_rng(seed)
        self.transform = transform

    def __len__(self):
        if self.drop_last:
            return self.n // self.batch_size
        return -(-self.n // self.batch_size)

    def __iter__(self):
        for batch in iterate_minibatches(self.x, self.y, self.batch_size, self.shuffle,
                                         self.rng, self.drop_last):
            if self.transform is None:
                yield batch
            elif self.y is None:
                yield self.transform(batch, self.rng)
            else:
                yield self.transform(batch[0], self.rng), batch[1]
