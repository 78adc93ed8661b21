"""The metrics of training and evaluation: counting correct predictions and summing them up.

Metrics are kept as sums (loss times batch size, correct predictions,
samples), never as means of means, so that totals from several batches (or,
later, several processes) add up exactly and the logs divide once.
"""

from __future__ import annotations

import numpy as np

__all__ = ["METRICS", "count_correct", "Totals"]

#: The metric names ``compile(metrics=...)`` accepts ("acc" is Keras's short name).
METRICS = ("accuracy", "acc")


def count_correct(outputs, target, threshold=0.0):
    """Number of correct predictions in a batch.

    Parameters
    ----------
    outputs : ndarray, shape (N, C) or (N,) / (N, 1)
        Model outputs.  With C > 1 the prediction is the argmax; with one
        output per sample (binary) it is ``output > threshold``.
    target : ndarray, shape (N,) or (N, C)
        Integer labels, or one-hot / probability rows (their argmax is the
        label); for binary outputs, ``target > 0.5``.

    threshold : float
        0 for logits, 0.5 for probabilities (a sigmoid's output).

    Returns
    -------
    int
    """
    if outputs.ndim == 2 and outputs.shape[1] > 1:
        predicted = outputs.argmax(axis=1)
        labels = target if target.ndim == 1 else target.argmax(axis=1)
    else:
        predicted = outputs.reshape(len(outputs)) > threshold
        labels = target.reshape(len(target)) > 0.5
    return int(np.count_nonzero(predicted == labels))


class Totals:
    """Running sums over the batches of one epoch or one evaluation.

    Parameters
    ----------
    accuracy : bool
        Whether :meth:`logs` reports ``accuracy`` (the model was compiled with it).

    Attributes
    ----------
    loss_sum : float
        Sum over batches of the batch's mean loss times its size.
    correct : int
        Correct predictions so far.
    seen : int
        Samples so far.
    """

    __slots__ = ("accuracy", "loss_sum", "correct", "seen")

    def __init__(self, accuracy):
        self.accuracy = accuracy
        self.loss_sum = 0.0
        self.correct = 0
        self.seen = 0

    def add(self, loss, correct, size):
        """Count one batch: its mean ``loss``, its ``correct`` predictions, its ``size``."""
        self.loss_sum += loss * size
        self.correct += correct
        self.seen += size

    def logs(self):
        """``{"loss": mean loss}`` plus ``"accuracy"`` when it is tracked (needs ``seen`` > 0)."""
        logs = {"loss": self.loss_sum / self.seen}
        if self.accuracy:
            logs["accuracy"] = self.correct / self.seen
        return logs
