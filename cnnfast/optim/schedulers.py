r"""Learning-rate schedules with the semantics of ``torch.optim.lr_scheduler``.

A scheduler changes ``optimizer.lr`` when its :meth:`step` is called, once per
epoch, after the epoch's optimizer steps::

    for epoch in range(epochs):
        train_one_epoch(optimizer)
        scheduler.step()            # ReduceLROnPlateau: scheduler.step(val_loss)

Like torch, StepLR and CosineAnnealingLR compute the new rate *from the current
one* (the recursive form of torch's ``get_lr``), so they compose with other
changes made to ``optimizer.lr`` between steps. ``get_last_lr()`` returns a
one-element list, as torch's does for one parameter group.
"""

from __future__ import annotations

import math

from .._checks import nonnegative, nonnegative_int, one_of, positive_int

__all__ = ["LRScheduler", "StepLR", "CosineAnnealingLR", "ReduceLROnPlateau"]


def _checked_optimizer(optimizer):
    if not hasattr(optimizer, "lr"):
        raise TypeError(f"optimizer must have an lr attribute (an Optimizer), got {type(optimizer).__name__}")
    return optimizer


class LRScheduler:
    """Base of the epoch-level schedules: counts epochs and applies ``_next_lr``.

    Parameters
    ----------
    optimizer : Optimizer
        Anything with an ``lr`` attribute.

    Attributes
    ----------
    optimizer : Optimizer
    base_lr : float
        The optimizer's lr at construction.
    last_epoch : int
        0 after construction, +1 per :meth:`step`.
    """

    def __init__(self, optimizer):
        self.optimizer = _checked_optimizer(optimizer)
        self.base_lr = float(optimizer.lr)
        self.last_epoch = 0
        self._last_lr = [float(optimizer.lr)]

    def step(self) -> None:
        """Advance one epoch and write the new learning rate into ``optimizer.lr``."""
        self.last_epoch += 1
        self.optimizer.lr = self._next_lr(float(self.optimizer.lr))
        self._last_lr = [float(self.optimizer.lr)]

    def _next_lr(self, lr: float) -> float:
        raise NotImplementedError

    def get_last_lr(self) -> list[float]:
        """``[lr]`` as set by the latest :meth:`step` (or at construction)."""
        return list(self._last_lr)


class StepLR(LRScheduler):
    r"""Multiply the learning rate by ``gamma`` every ``step_size`` epochs.

    .. math:: \eta_e = \eta_{e-1} \cdot \gamma \ \text{if } e \bmod \text{step\_size} = 0
              \text{, else } \eta_{e-1}

    so that without outside changes :math:`\eta_e = \eta_0 \gamma^{\lfloor e / \text{step\_size} \rfloor}`.

    Parameters
    ----------
    optimizer : Optimizer
    step_size : int >= 1
    gamma : float >= 0
    """

    def __init__(self, optimizer, step_size: int, gamma: float = 0.1):
        super().__init__(optimizer)
        self.step_size = positive_int("step_size", step_size)
        self.gamma = nonnegative("gamma", gamma)

    def _next_lr(self, lr):
        if self.last_epoch % self.step_size != 0:
            return lr
        return lr * self.gamma


class CosineAnnealingLR(LRScheduler):
    r"""Cosine annealing from the initial rate :math:`\eta_{max}` to ``eta_min`` over ``T_max`` epochs.

    Closed form (what the recursion below gives when nothing else touches the lr):

    .. math:: \eta_e = \eta_{min} + \tfrac12 (\eta_{max} - \eta_{min})(1 + \cos(\pi e / T_{max}))

    Applied as torch's ``get_lr`` does, recursively from the current rate:

    .. math::

        \eta_e &= \eta_{min} + (\eta_{e-1} - \eta_{min})
                  \frac{1 + \cos(\pi e / T_{max})}{1 + \cos(\pi (e-1) / T_{max})} \\
        \eta_e &= \eta_{e-1} + \tfrac12 (\eta_{max} - \eta_{min})(1 - \cos(\pi / T_{max}))
                  \quad \text{when } (e - 1 - T_{max}) \bmod 2T_{max} = 0

    (the second line restarts the climb after a minimum; past ``T_max`` the rate
    rises again, periodically, as torch's does).

    Parameters
    ----------
    optimizer : Optimizer
    T_max : int >= 1
    eta_min : float >= 0
    """

    def __init__(self, optimizer, T_max: int, eta_min: float = 0.0):
        super().__init__(optimizer)
        self.T_max = positive_int("T_max", T_max)
        self.eta_min = nonnegative("eta_min", eta_min)

    def _next_lr(self, lr):
        e, t_max, eta_min = self.last_epoch, self.T_max, self.eta_min
        if (e - 1 - t_max) % (2 * t_max) == 0:
            return lr + (self.base_lr - eta_min) * (1.0 - math.cos(math.pi / t_max)) / 2.0
        return (1.0 + math.cos(math.pi * e / t_max)) / (1.0 + math.cos(math.pi * (e - 1) / t_max)) * (
            lr - eta_min
        ) + eta_min


class ReduceLROnPlateau:
    r"""Multiply the learning rate by ``factor`` when a metric has stopped improving.

    Each :meth:`step(metric) <step>` compares ``metric`` with the best value so far:

    - better means, for ``mode="min"``: ``metric < best * (1 - threshold)``
      (``threshold_mode="rel"``) or ``metric < best - threshold`` ("abs");
      for ``mode="max"``: ``metric > best * (1 + threshold)`` or ``metric > best + threshold``;
    - a better metric becomes ``best`` and resets the count of bad epochs, any
      other (also NaN) adds one; during the ``cooldown`` epochs that follow a
      reduction, bad epochs are not counted;
    - after more than ``patience`` bad epochs,
      :math:`\eta \leftarrow \max(\eta \cdot \text{factor}, \text{min\_lr})` (skipped when that
      changes it by no more than ``eps``), the cooldown starts and the count restarts.

    ``factor`` must be < 1 (ValueError), ``mode`` "min"|"max", ``threshold_mode`` "rel"|"abs".

    Parameters
    ----------
    optimizer : Optimizer
    mode : {"min", "max"}
    factor : float in [0, 1)
    patience, cooldown : int >= 0
    threshold : float >= 0
    threshold_mode : {"rel", "abs"}
    min_lr, eps : float >= 0
    """

    def __init__(self, optimizer, mode: str = "min", factor: float = 0.1, patience: int = 10,
                 threshold: float = 1e-4, threshold_mode: str = "rel", cooldown: int = 0,
                 min_lr: float = 0.0, eps: float = 1e-8):
        self.optimizer = _checked_optimizer(optimizer)
        self.mode = one_of("mode", mode, ("min", "max"))
        self.threshold_mode = one_of("threshold_mode", threshold_mode, ("rel", "abs"))
        self.factor = nonnegative("factor", factor)
        if self.factor >= 1.0:
            raise ValueError(f"factor should be < 1.0, got {self.factor}")
        self.threshold = nonnegative("threshold", threshold)
        self.patience = nonnegative_int("patience", patience)
        self.cooldown = nonnegative_int("cooldown", cooldown)
        self.min_lr = nonnegative("min_lr", min_lr)
        self.eps = nonnegative("eps", eps)
        self.last_epoch = 0
        self.best = math.inf if mode == "min" else -math.inf
        self.num_bad_epochs = 0
        self.cooldown_counter = 0
        self._last_lr = [float(optimizer.lr)]

    def _is_better(self, metric: float) -> bool:
        if self.mode == "min":
            if self.threshold_mode == "rel":
                return metric < self.best * (1.0 - self.threshold)
            return metric < self.best - self.threshold
        if self.threshold_mode == "rel":
            return metric > self.best * (1.0 + self.threshold)
        return metric > self.best + self.threshold

    def step(self, metric) -> None:
        """Record this epoch's ``metric`` and reduce the lr if it has plateaued.

        Parameters
        ----------
        metric : float
            E.g. the validation loss.
        """
        metric = float(metric)
        self.last_epoch += 1
        if self._is_better(metric):
            self.best = metric
            self.num_bad_epochs = 0
        else:
            self.num_bad_epochs += 1
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.num_bad_epochs = 0  # bad epochs right after a reduction do not count
        if self.num_bad_epochs > self.patience:
            old_lr = float(self.optimizer.lr)
            new_lr = max(old_lr * self.factor, self.min_lr)
            # torch skips changes below eps, so a rate already at min_lr stays put exactly.
            if old_lr - new_lr > self.eps:
                self.optimizer.lr = new_lr
            self.cooldown_counter = self.cooldown
            self.num_bad_epochs = 0
        self._last_lr = [float(self.optimizer.lr)]

    def get_last_lr(self) -> list[float]:
        """``[lr]`` after the latest :meth:`step` (or at construction)."""
        return list(self._last_lr)

    @property
    def in_cooldown(self) -> bool:
        """True while bad epochs are being ignored after a reduction."""
        return self.cooldown_counter > 0
