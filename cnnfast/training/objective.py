"""What training minimises: the model's output, the loss applied to it, and the way back.

Keras's probabilities losses (``categorical_crossentropy``,
``sparse_categorical_crossentropy``, ``binary_crossentropy``) read the output
of a softmax or a sigmoid.  When the model ends with that activation, the
step does what Keras does: it computes the loss from the activation's input
(the logits, ``model.forward_logits``) with the loss's ``on_logits()`` twin,
and starts the backward there (``model.backward_logits``).  The result is the
same loss and the same gradient, without the clipping of probabilities that
stalls a confidently wrong prediction, and without overflow.

The opposite mistake, a logits loss (``cross_entropy``, ``bce_with_logits``)
after a final Softmax / Sigmoid, applies the activation twice: training
still runs (it is what torch does with such a model) but learns worse, so
it warns, naming the loss that fits.
"""

from __future__ import annotations

import warnings

__all__ = ["Objective"]

# The logits losses, and the probabilities loss that fits after each activation.
_LOGITS_LOSSES = {"cross_entropy", "bce_with_logits"}
_PROBABILITY_LOSS = {
    "softmax": "'categorical_crossentropy' (one-hot targets) or 'sparse_categorical_crossentropy' (integer labels)",
    "sigmoid": "'binary_crossentropy'",
}


class Objective:
    """The loss of a compiled model and the forward / backward it goes with.

    Parameters
    ----------
    model : Sequential
        Compiled; its ``loss`` and ``final_activation`` are read once, here.

    Attributes
    ----------
    loss : callable
        ``loss(output, y) -> (value, grad)``: the model's loss, or its
        ``on_logits()`` twin when the final activation is folded into it.
    forward, backward : callable
        ``model.forward`` / ``model.backward``, or ``model.forward_logits`` /
        ``model.backward_logits`` when folded.
    threshold : float
        What a one-output (binary) prediction is compared with for accuracy:
        0 for logits, 0.5 for probabilities.
    folded : bool
    """

    __slots__ = ("loss", "forward", "backward", "threshold", "folded")

    def __init__(self, model):
        loss, activation = model.loss, model.final_activation
        expects = getattr(loss, "activation", None) if getattr(loss, "from_logits", True) is False else None
        self.folded = expects is not None and activation == expects
        if self.folded:
            self.loss, self.forward, self.backward = loss.on_logits(), model.forward_logits, model.backward_logits
            self.threshold = 0.0
            return
        if activation in _PROBABILITY_LOSS and _takes_logits(loss):
            warnings.warn(
                f"the model ends with a {activation} (its outputs are probabilities) but the loss "
                f"{getattr(loss, 'name', type(loss).__name__)!r} takes logits: the {activation} is applied twice "
                f"and training suffers.  Use loss={_PROBABILITY_LOSS[activation]}, which takes probabilities (and "
                f"is computed from the logits, stably), or remove the final {activation}",
                UserWarning,
                stacklevel=4,
            )
        self.loss, self.forward, self.backward = loss, model.forward, model.backward
        self.threshold = 0.5 if expects is not None or activation == "sigmoid" else 0.0


def _takes_logits(loss):
    return getattr(loss, "name", None) in _LOGITS_LOSSES or getattr(loss, "from_logits", False) is True
