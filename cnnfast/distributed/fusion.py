"""One allreduce per step: every gradient and a few scalars in one buffer (Horovod's tensor fusion).

A LeNet-5 step has 10 gradient arrays; reducing them one by one would pay the
latency of a collective ten times, and the loss, the accuracy counts and the
stop flag would need more.  :class:`GradientReduction` copies them all into one
contiguous buffer of the parameters' dtype, reduces it with one
``MPI_Allreduce(SUM)`` and copies the result back:

    [ w*g_0 | w*g_1 | ... | has_grad_0 ... has_grad_k | scalars ... | w ]

``w`` is this rank's weight (its number of samples in the step), so the
average ``sum_r w_r g_r / sum_r w_r`` is the gradient one process would get on
all the samples of the step, however unevenly they were split.  A rank with
weight 0 (its slice of a last, small batch is empty) or without a gradient for
a parameter adds zeros, and the ``has_grad`` counts tell which parameters got
a gradient anywhere: one that none did keeps ``grad = None``, as the
optimizers expect of a parameter that took no part in the loss.
"""

from __future__ import annotations

import time

import numpy as np

__all__ = ["GradientReduction"]


class GradientReduction:
    """Weighted sum of the gradients of ``params`` over the ranks, plus scalars, in one allreduce.

    Parameters
    ----------
    world : World
    params : sequence of parameters
        Objects with ``.data`` and ``.grad``, all of one floating dtype (a model's).
    scalars : int
        How many extra numbers travel with the gradients.
    profile : bool
        Time the parts of each call into :attr:`timings`, with a barrier
        before the allreduce so that waiting for the slowest rank is measured
        apart (benchmarks only: the barrier is an extra collective).

    Attributes
    ----------
    timings : dict or None
        Seconds summed over calls: ``copies`` (into and out of the buffer),
        ``wait`` (in the barrier), ``allreduce``; None unless ``profile``.
    """

    def __init__(self, world, params, scalars, profile=False):
        self.world = world
        self.params = list(params)
        dtypes = {p.data.dtype for p in self.params}
        if len(dtypes) != 1:
            raise TypeError(
                f"the parameters must share one dtype to be reduced together, got {sorted(map(str, dtypes))}"
            )
        sizes = [p.data.size for p in self.params]
        self._ends = np.cumsum(sizes).tolist()
        self._starts = [end - size for end, size in zip(self._ends, sizes)]
        gradients = self._ends[-1] if self.params else 0
        self._flags = slice(gradients, gradients + len(self.params))
        self._scalars = slice(self._flags.stop, self._flags.stop + scalars)
        self.buffer = np.empty(self._scalars.stop + 1, dtype=dtypes.pop())
        self.timings = {"copies": 0.0, "wait": 0.0, "allreduce": 0.0} if profile else None

    def segment(self, i):
        """Parameter ``i``'s part of the buffer, shaped like it."""
        return self.buffer[self._starts[i] : self._ends[i]].reshape(self.params[i].data.shape)

    def __call__(self, weight, scalars=(), average=True):
        """Sum ``weight * grad`` of every rank; set each ``grad`` to the result.

        Parameters
        ----------
        weight : float >= 0
            This rank's weight; 0 adds nothing (its gradients are not read).
        scalars : sequence of float
            Summed over the ranks alongside (as many as given to the constructor).
        average : bool
            Divide the gradients by the summed weight (the weighted mean);
            False leaves the weighted sum.

        Returns
        -------
        (float, ndarray)
            The summed weight and the summed scalars.
        """
        timings, clock = self.timings, time.perf_counter
        start = clock()
        buffer, flags = self.buffer, self.buffer[self._flags]
        for i, p in enumerate(self.params):
            contributes = weight != 0 and p.grad is not None
            flags[i] = 1 if contributes else 0
            if not contributes:
                self.segment(i).fill(0)
            elif weight == 1:
                np.copyto(self.segment(i), p.grad)
            else:
                np.multiply(p.grad, weight, out=self.segment(i))
        buffer[self._scalars] = scalars
        buffer[-1] = weight
        if timings is not None:
            packed = clock()
            self.world.barrier("the benchmark's barrier")
            reducing = clock()
        self.world.allreduce(buffer, what="the step's gradient allreduce")
        if timings is not None:
            reduced = clock()
        total = float(buffer[-1])
        for i, p in enumerate(self.params):
            if flags[i] == 0:
                p.grad = None
                continue
            if p.grad is None or p.grad.shape != p.data.shape or p.grad.dtype != p.data.dtype:
                p.grad = np.empty_like(p.data)
            if average:
                np.divide(self.segment(i), total, out=p.grad)
            else:
                np.copyto(p.grad, self.segment(i))
        if timings is not None:
            done = clock()
            timings["copies"] += (packed - start) + (done - reduced)
            timings["wait"] += reducing - packed
            timings["allreduce"] += reduced - reducing
        return total, buffer[self._scalars].copy()
