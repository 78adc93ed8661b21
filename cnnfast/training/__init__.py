"""Training, apart from the model: the loop of ``fit``, its data, its step and its metrics.

The separation of concerns, as in Keras 3's trainer and epoch iterator:

* :mod:`.data` checks the arrays, holds out validation data and turns what
  ``fit`` gets (arrays, a batch iterator such as ``ImageDataGenerator.flow``,
  a generator) into a batch source: one epoch of ``(x, y)`` batches at a time;
* :mod:`.step` makes one update (:class:`TrainStep`: forward, loss, backward,
  gradient hook, clipping, optimizer step);
* :mod:`.objective` decides what the step and ``evaluate`` apply the loss to:
  the output, or the logits when a final softmax / sigmoid is folded into a
  probabilities loss (as Keras does);
* :mod:`.metrics` counts correct predictions and keeps the sums;
* :mod:`.loop` runs the epochs: callbacks, History, validation, stopping, Ctrl-C;
* :mod:`.trainer` is the mixin that gives ``cnnfast.Sequential`` its
  ``compile``, ``fit``, ``evaluate`` and ``train_on_batch``.

Nothing here knows the layers: the model is reached through its public methods.
"""

from . import data, loop, metrics, objective
from .step import TrainStep
from .trainer import Trainer

__all__ = ["Trainer", "TrainStep", "data", "loop", "metrics", "objective"]
