"""``DistributedOptimizer``: average the gradients over the processes, then update (for hand-written loops)."""

from __future__ import annotations

import math

from .. import optim
from . import world as _world
from .collectives import check_same
from .fusion import GradientReduction

__all__ = ["DistributedOptimizer"]


class DistributedOptimizer:
    """Wrap an optimizer so that its update uses the gradient averaged over all processes.

    As Horovod's ``DistributedOptimizer``: every process computes gradients on
    its own samples; :meth:`step` first averages them over the processes (one
    fused allreduce of every gradient, :mod:`.fusion`) and then lets the
    wrapped optimizer update, so that every process makes the same update and
    the weights stay identical (start them identical with
    :func:`~cnnfast.distributed.broadcast_model`).

    **The average comes before any clipping.**  Clipping each process's own
    gradient and averaging afterwards is another algorithm (the norm of an
    average is not the average of norms).  To clip, average explicitly, clip,
    then step -- :meth:`step` does not average twice::

        opt = distributed.DistributedOptimizer(optim.Adam(model.parameters(), lr=1e-3))
        distributed.broadcast_model(model)
        for xb, yb in my_part_of_the_batches:          # each process its own samples
            logits = model.forward(xb, training=True)
            loss, grad = loss_fn(logits, yb)
            model.backward(grad)
            opt.synchronize(samples=len(xb))            # 1. average over the processes
            optim.clip_grad_norm(opt.params, 1.0)      # 2. clip the average
            opt.step()                                  # 3. update (no second average)

    ``fit(distributed=True)`` needs none of this: it averages, clips
    (``compile(clip_norm=...)``) and updates in that order itself.

    Parameters
    ----------
    optimizer : Optimizer
        Any cnnfast optimizer; its parameters share one dtype.

    Attributes
    ----------
    optimizer : Optimizer
        The wrapped one.  ``params``, ``state``, ``lr`` (readable and
        writable, for schedules), ``zero_grad``, ``state_dict`` and
        ``load_state_dict`` are the wrapped optimizer's.
    """

    def __init__(self, optimizer):
        if isinstance(optimizer, DistributedOptimizer):
            raise TypeError("optimizer is a DistributedOptimizer already: wrap the plain optimizer once")
        if not isinstance(optimizer, optim.Optimizer):
            raise TypeError(f"optimizer must be a cnnfast Optimizer, got {type(optimizer).__name__}")
        self.optimizer = optimizer
        self._reduction = None
        self._synchronized = False

    @property
    def params(self):
        """The wrapped optimizer's parameter list."""
        return self.optimizer.params

    @property
    def state(self):
        """The wrapped optimizer's per-parameter state."""
        return self.optimizer.state

    @property
    def lr(self):
        """The wrapped optimizer's learning rate."""
        return self.optimizer.lr

    @lr.setter
    def lr(self, value):
        self.optimizer.lr = value

    def zero_grad(self, set_to_none=True):
        """The wrapped optimizer's ``zero_grad``."""
        self.optimizer.zero_grad(set_to_none)

    def state_dict(self):
        """The wrapped optimizer's ``state_dict``."""
        return self.optimizer.state_dict()

    def load_state_dict(self, state_dict):
        """The wrapped optimizer's ``load_state_dict``."""
        self.optimizer.load_state_dict(state_dict)

    def synchronize(self, samples=None):
        """Replace every ``p.grad`` by its average over the processes.  Collective.

        Parameters
        ----------
        samples : int >= 0, optional
            The number of samples this process's gradient is the mean over.
            Given (on every process), the average is weighted by it -- the
            gradient of the mean loss over everyone's samples, however
            unevenly they are split; a process with 0 samples adds nothing.
            None: a plain mean of the processes' gradients.

        Notes
        -----
        A parameter whose ``grad`` is None on every process keeps None (the
        optimizer then skips it, as in one process).  A second call before
        :meth:`step` does nothing.
        """
        if self._synchronized:
            return
        weight = 1.0 if samples is None else float(samples)
        if not weight >= 0 or math.isinf(weight):
            raise ValueError(f"samples must be a finite count >= 0, got {samples!r}")
        world = _world.current()
        if self._reduction is None or self._reduction.params != self.optimizer.params:
            check_same(
                world,
                "the optimizer's parameters (shape, dtype)",
                [(p.data.shape, p.data.dtype.str) for p in self.optimizer.params],
            )
            self._reduction = GradientReduction(world, self.optimizer.params, scalars=0)
        total, _ = self._reduction(weight)
        if total == 0:
            raise ValueError("DistributedOptimizer.synchronize: every process gave samples=0")
        self._synchronized = True

    def step(self):
        """Average the gradients (unless :meth:`synchronize` already did), then update.  Collective."""
        self.synchronize()
        self._synchronized = False
        self.optimizer.step()

    def __repr__(self):
        return f"DistributedOptimizer({self.optimizer!r})"
