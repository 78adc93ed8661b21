"""Optimizers, learning-rate schedules and gradient clipping, with torch.optim's semantics.

Optimizers update ``p.data`` in place from ``p.grad`` for any objects carrying
those two arrays (``cnnfast.layers.Parameter`` or your own)::

    opt = cnnfast.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, nesterov=True)
    sched = cnnfast.optim.StepLR(opt, step_size=10, gamma=0.1)
    ...backward...
    cnnfast.optim.clip_grad_norm(model.parameters(), max_norm=5.0)
    opt.step()

``get("adam", params, lr=1e-3)`` builds an optimizer from its name.  Keras's
way works too: ``SGD(learning_rate=0.05, momentum=0.9, nesterov=True)`` without
parameters, given to ``model.compile(optimizer=...)``, which binds it to the
model's parameters (``lr=`` and ``learning_rate=`` are the same argument).
"""

from __future__ import annotations

from .clip import clip_grad_norm
from .optimizers import SGD, Adadelta, Adagrad, Adam, AdamW, Optimizer, RMSprop
from .schedulers import CosineAnnealingLR, LRScheduler, ReduceLROnPlateau, StepLR

__all__ = [
    "Optimizer",
    "SGD",
    "Adagrad",
    "Adadelta",
    "RMSprop",
    "Adam",
    "AdamW",
    "LRScheduler",
    "StepLR",
    "CosineAnnealingLR",
    "ReduceLROnPlateau",
    "clip_grad_norm",
    "get",
]

_BY_NAME = {"sgd": SGD, "adagrad": Adagrad, "adadelta": Adadelta, "rmsprop": RMSprop, "adam": Adam, "adamw": AdamW}


def get(name_or_instance, params=None, **kwargs) -> Optimizer:
    """An optimizer from its name, class or instance.

    Parameters
    ----------
    name_or_instance : str, Optimizer subclass or Optimizer
        A name ("sgd", "adagrad", "adadelta", "rmsprop", "adam", "adamw"; any
        case) or a subclass is built on ``params`` with ``kwargs``
        (``get("sgd", params, lr=0.1, momentum=0.9)`` is ``SGD(params, lr=0.1,
        momentum=0.9)``; ``learning_rate=`` is ``lr=``); SGD's default rate is
        Keras's, 0.01.  An :class:`Optimizer` instance is returned as it is, so
        ``kwargs`` are refused.
    params : iterable of parameters
    **kwargs
        For the constructor.

    Returns
    -------
    Optimizer

    Raises
    ------
    ValueError
        An unknown name (listing the known ones).
    TypeError
        Anything else, or ``kwargs`` with an instance.
    """
    if isinstance(name_or_instance, Optimizer):
        if kwargs:
            raise TypeError(
                f"cannot apply {sorted(kwargs)} to an existing {type(name_or_instance).__name__}; "
                "pass a name or class to build a new optimizer"
            )
        return name_or_instance
    if isinstance(name_or_instance, str):
        key = name_or_instance.lower()
        if key not in _BY_NAME:
            raise ValueError(f"unknown optimizer {name_or_instance!r}; known: {', '.join(_BY_NAME)}")
        cls = _BY_NAME[key]
    elif isinstance(name_or_instance, type) and issubclass(name_or_instance, Optimizer):
        cls = name_or_instance
    else:
        raise TypeError(
            f"optimizer must be a name, an Optimizer or an Optimizer subclass, got {type(name_or_instance).__name__}"
        )
    if params is None:
        raise TypeError(f"get({name_or_instance!r}) needs the parameters to optimize")
    return cls(params, **kwargs)
