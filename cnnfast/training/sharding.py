"""Each process's part of the data in a data-parallel fit: slices of the same batches.

Every process holds the whole training set and draws the same permutation
(the shuffling generator is made equal on all of them first), so all of them
see the same sequence of *global* batches of ``batch_size`` samples.  Process
``r`` of ``P`` trains on its contiguous slice of each global batch; the slices
differ in size by at most one, a last batch smaller than the others included
(a slice may then be empty).  Every process therefore runs the same number of
steps, and averaging the gradients weighted by the slice sizes gives the
gradient of the whole global batch: 2 processes with ``batch_size=64`` train
as 1 process with ``batch_size=64``.

Evaluation is split at batch boundaries instead: process ``r`` evaluates a
contiguous block of the batches one process would evaluate, so each batch's
loss is the one a single process computes and only the final sums are
combined.

Nothing here talks to MPI: ranks are plain integers, so this is tested in one process.
"""

from __future__ import annotations

from .data import InOrder

__all__ = ["bounds", "ShardedBatches", "shard_in_order"]


def bounds(n, rank, size):
    """``(start, stop)`` of part ``rank`` of ``size`` near-equal contiguous parts of ``range(n)``.

    Parts differ in length by at most one (the later ones are the longer);
    with ``n < size`` some are empty.
    """
    return n * rank // size, n * (rank + 1) // size


class ShardedBatches:
    """The slices of the global batches of an :class:`~cnnfast.training.data.ArrayBatches` this process trains on.

    Parameters
    ----------
    source : ArrayBatches
        The whole training set, its global ``batch_size``, ``shuffle``, its
        generator (equal on every process) and ``steps``.
    rank, size : int
        This process and the number of processes.

    Attributes
    ----------
    steps, samples, batch_size : int
        Those of ``source``: global figures, as the callbacks should see them.
    """

    def __init__(self, source, rank, size):
        self.x, self.y = source.x, source.y
        self.shuffle, self.rng = source.shuffle, source.rng
        self.steps, self.samples, self.batch_size = source.steps, source.samples, source.batch_size
        self.rank, self.size = rank, size

    def epoch(self):
        """An iterator over this process's ``(x_slice, y_slice)`` of one epoch's global batches.

        The permutation is drawn exactly as one process draws it
        (:func:`cnnfast.datasets.iterate_minibatches`), so with ``size == 1``
        the batches are those of a plain fit, bit for bit.
        """
        n, batch_size = len(self.x), self.batch_size
        order = self.rng.permutation(n) if self.shuffle else None
        for start in range(0, n, batch_size)[: self.steps]:
            lo, hi = bounds(min(batch_size, n - start), self.rank, self.size)
            part = slice(start + lo, start + hi) if order is None else order[start + lo : start + hi]
            yield self.x[part], self.y[part]


def shard_in_order(batches, rank, size):
    """The block of the evaluation batches of ``batches`` this process evaluates (an :class:`InOrder`).

    Returns
    -------
    InOrder
        The batches ``bounds(number of batches, rank, size)`` of ``batches``,
        each the same samples as in a one-process pass (possibly none).
    """
    count = -(-len(batches.x) // batches.batch_size)
    first, stop = bounds(count, rank, size)
    part = slice(first * batches.batch_size, stop * batches.batch_size)
    return InOrder(batches.x[part], batches.y[part], batches.batch_size)
