"""One training step: forward, loss, backward, gradient hook, clipping, optimizer update.

:class:`TrainStep` is what ``fit`` and ``train_on_batch`` call once per batch.
Each part is a separate line so that a subclass can replace one of them: the
gradient hook :meth:`TrainStep.reduce` is the place where data-parallel
training combines the gradients and the metric sums of every process (one
fused reduction) before the clipping and the update see them.
"""

from __future__ import annotations

from .. import optim
from .metrics import count_correct
from .objective import Objective

__all__ = ["TrainStep"]


class TrainStep:
    """One optimizer update of a compiled model on one batch.

    Parameters
    ----------
    model : Sequential
        Built and compiled: its ``optimizer``, ``clip_norm`` and ``metrics``
        are read at every call, so a callback may change them; its loss (and
        whether a final softmax / sigmoid is folded into it: :class:`.Objective`)
        is read once, here.
    """

    __slots__ = ("model", "objective")

    def __init__(self, model):
        self.model = model
        self.objective = Objective(model)

    def __call__(self, x, y):
        """Train on the batch ``x`` (B, *input_shape), ``y`` (B,) or (B, C).

        Returns
        -------
        (float, int, int) or None
            The batch's mean loss, its number of correct predictions (0 when
            accuracy is not tracked) and its size, as returned by :meth:`reduce`
            (None: no update was made).
        """
        result = self.reduce(*self.forward_backward(x, y), len(x))
        if result is not None:  # None: no update (data-parallel processes that agreed to stop)
            self.update()
        return result

    def forward_backward(self, x, y):
        """Forward, loss and backward on the batch: the gradients land in ``p.grad``.

        Returns
        -------
        (float, int)
            The batch's mean loss and its number of correct predictions (0
            when accuracy is not tracked).
        """
        model, objective = self.model, self.objective
        output = objective.forward(x, training=True)
        loss, grad = objective.loss(output, y)
        objective.backward(grad, input_grad=False)  # the data needs no gradient
        return float(loss), count_correct(output, y, objective.threshold) if model.metrics else 0

    def update(self):
        """Clip the gradients (``clip_norm``), then let the optimizer update the weights."""
        model = self.model
        if model.clip_norm is not None:
            optim.clip_grad_norm(model.optimizer.params, model.clip_norm)
        model.optimizer.step()

    def reduce(self, loss, correct, size):
        """Gradient hook, between the backward and the update: here, the identity.

        Parameters
        ----------
        loss : float
            This batch's mean loss.
        correct, size : int
            Its correct predictions and its size.

        Returns
        -------
        (float, int, int) or None
            The same figures for the whole batch.  A data-parallel step
            (:class:`cnnfast.training.parallel.DistributedStep`) averages the
            gradients (``p.grad`` of ``model.optimizer.params``) over the
            processes here, weighted by ``size``, and returns the global loss,
            correct count and size; or None when the processes agreed to stop
            before this update, which is then not made.
        """
        return loss, correct, size
