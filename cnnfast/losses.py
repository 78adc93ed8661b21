r"""Loss functions that return the loss and its gradient with respect to the prediction.

Every loss is a callable ``loss_fn(pred, target) -> (loss, grad)``:

- ``loss`` is a Python float;
- ``grad`` is :math:`\partial\,\text{loss} / \partial\,\text{pred}`, an ndarray with the
  shape and dtype of ``pred`` (ready for the last layer's ``backward``).

``reduction="mean"`` (default) averages as ``torch.nn.functional`` does
(over the batch for cross-entropy, over every element for MSE and BCE);
``reduction="sum"`` adds. Values and gradients agree with ``torch.nn.functional``
(see ``tests/test_losses.py``). ``pred`` must have a floating dtype (TypeError),
and shapes must match exactly (ValueError naming both shapes: no broadcasting,
which would hide a transposed or flattened target).

``get(name_or_instance)`` resolves the names used in ``compile(loss=...)``.
"""

from __future__ import annotations

import numpy as np

from ._checks import one_of, real

__all__ = ["Loss", "CrossEntropyLoss", "MSELoss", "BCEWithLogitsLoss", "get"]

_REDUCTIONS = ("mean", "sum")


def _floating_pred(pred) -> np.ndarray:
    pred = np.asarray(pred)
    if not np.issubdtype(pred.dtype, np.floating):
        raise TypeError(f"pred must have a floating dtype, got {pred.dtype}")
    if pred.size == 0:
        raise ValueError(f"pred is empty (shape {pred.shape}); a loss needs at least one element")
    return pred


def _real_target_like(pred: np.ndarray, target) -> np.ndarray:
    """``target`` as an array of ``pred``'s shape and dtype (bool/int/float accepted)."""
    target = np.asarray(target)
    if target.shape != pred.shape:
        raise ValueError(f"target shape {target.shape} does not match pred shape {pred.shape}")
    if not (np.issubdtype(target.dtype, np.number) or target.dtype == np.bool_) or np.iscomplexobj(target):
        raise TypeError(f"target must have a real numeric dtype, got {target.dtype}")
    return target.astype(pred.dtype, copy=False)


class Loss:
    """Base class of the losses: ``loss_fn(pred, target) -> (loss, grad)``.

    Subclasses implement ``_loss_and_grad(pred, target)`` returning the *summed*
    loss (float), the gradient of the sum, and the count the mean divides by.

    Parameters
    ----------
    reduction : {"mean", "sum"}
    """

    name = "loss"

    def __init__(self, reduction: str = "mean"):
        self.reduction = one_of("reduction", reduction, _REDUCTIONS)

    def __call__(self, pred, target) -> tuple[float, np.ndarray]:
        """The loss of ``pred`` against ``target`` and its gradient.

        Parameters
        ----------
        pred : ndarray, floating
            The model's output.
        target : array
            As the subclass describes.

        Returns
        -------
        loss : float
        grad : ndarray
            dloss/dpred, with ``pred``'s shape and dtype.
        """
        pred = _floating_pred(pred)
        total, grad, count = self._loss_and_grad(pred, target)
        if self.reduction == "mean":
            total /= count
            grad /= count  # a Python int: grad keeps pred's dtype (NEP 50)
        return total, grad

    def _loss_and_grad(self, pred, target):
        raise NotImplementedError

    def get_config(self) -> dict:
        """The constructor's keyword arguments, JSON-able: ``type(self)(**get_config())`` is a twin."""
        return {"reduction": self.reduction}

    def __repr__(self) -> str:
        kwargs = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({kwargs})"


class CrossEntropyLoss(Loss):
    r"""Softmax cross-entropy on logits, as ``torch.nn.functional.cross_entropy``.

    ``pred``: logits, shape (N, C), floating. ``target``: either class indices,
    shape (N,), any integer dtype, each in ``[0, C)`` (ValueError naming the first
    one out of range), or class probabilities / one-hot rows, shape (N, C)
    (bool, int or float; converted to ``pred``'s dtype).

    With :math:`\log p = \text{log\_softmax}(x)` (computed stably: the row maximum is
    subtracted first, so logits of :math:`\pm 10^4` are fine), label smoothing
    :math:`\varepsilon` turns the target row :math:`t` into
    :math:`t' = (1-\varepsilon)\,t + \varepsilon / C` (:math:`t` = one-hot of the index),
    and per sample

    .. math::

        \ell_n = -\sum_c t'_{nc} \log p_{nc}, \qquad
        \frac{\partial \ell_n}{\partial x_{nc}} = p_{nc} \sum_k t'_{nk} - t'_{nc}

    (the familiar :math:`p - t'` when rows sum to 1). "mean" divides by N.

    Parameters
    ----------
    label_smoothing : float in [0, 1]
    reduction : {"mean", "sum"}
    """

    name = "cross_entropy"

    def __init__(self, label_smoothing: float = 0.0, reduction: str = "mean"):
        super().__init__(reduction)
        label_smoothing = real("label_smoothing", label_smoothing)
        if not 0.0 <= label_smoothing <= 1.0:
            raise ValueError(f"label_smoothing must be in [0, 1], got {label_smoothing}")
        self.label_smoothing = label_smoothing

    def _loss_and_grad(self, pred, target):
        if pred.ndim != 2:
            raise ValueError(f"pred (logits) must have shape (N, C), got shape {pred.shape}")
        n, c = pred.shape
        eps = self.label_smoothing
        target = np.asarray(target)
        if target.ndim == 1:
            labels = self._checked_labels(target, n, c)
        elif target.ndim == 2:
            soft = _real_target_like(pred, target).copy()  # smoothed in place below
        else:
            raise ValueError(
                f"target must be class indices of shape ({n},) or probabilities of shape {pred.shape}, "
                f"got shape {target.shape}"
            )

        log_probs = pred - pred.max(axis=1, keepdims=True)
        probs = np.exp(log_probs)
        sum_exp = probs.sum(axis=1, keepdims=True)
        probs /= sum_exp
        log_probs -= np.log(sum_exp)

        if target.ndim == 1:
            rows = np.arange(n)
            total = -(1.0 - eps) * float(log_probs[rows, labels].sum(dtype=np.float64))
            if eps:
                total -= eps / c * float(log_probs.sum(dtype=np.float64))
            grad = probs
            grad[rows, labels] -= 1.0 - eps
            if eps:
                grad -= eps / c
        else:
            if eps:
                soft *= 1.0 - eps
                soft += eps / c
            total = -float(np.sum(soft * log_probs, dtype=np.float64))
            grad = probs
            grad *= soft.sum(axis=1, keepdims=True)
            grad -= soft
        return total, grad, n

    @staticmethod
    def _checked_labels(target, n, c):
        if not np.issubdtype(target.dtype, np.integer):
            raise TypeError(
                f"class-index target must have an integer dtype, got {target.dtype} "
                f"(pass probabilities as an (N, C) array)"
            )
        if target.shape != (n,):
            raise ValueError(f"class-index target shape {target.shape} does not match pred shape {(n, c)}")
        bad = np.flatnonzero((target < 0) | (target >= c))
        if bad.size:
            i = int(bad[0])
            raise ValueError(
                f"target label {int(target[i])} at index {i} is out of range for {c} classes "
                f"(expected 0 <= label < {c}; {bad.size} labels out of range)"
            )
        return target.astype(np.intp, copy=False)

    def get_config(self):
        """The constructor's keyword arguments, JSON-able."""
        return {"label_smoothing": self.label_smoothing, "reduction": self.reduction}


class MSELoss(Loss):
    r"""Mean squared error, as ``torch.nn.functional.mse_loss``.

    ``pred`` and ``target``: the same shape, any. With :math:`M` elements,

    .. math:: \text{loss} = \frac1M \sum_i (x_i - y_i)^2, \qquad
              \frac{\partial\,\text{loss}}{\partial x_i} = \frac2M (x_i - y_i)

    ("sum": without the :math:`1/M`).

    Parameters
    ----------
    reduction : {"mean", "sum"}
    """

    name = "mse"

    def _loss_and_grad(self, pred, target):
        target = _real_target_like(pred, target)
        diff = pred - target
        total = float(np.dot(diff.reshape(-1), diff.reshape(-1)))
        diff *= 2.0
        return total, diff, pred.size


class BCEWithLogitsLoss(Loss):
    r"""Sigmoid + binary cross-entropy on logits, as ``torch.nn.functional.binary_cross_entropy_with_logits``.

    ``pred``: logits, any shape; ``target``: the same shape, values in [0, 1]. Per element,
    in the overflow-free form (:math:`\sigma` the logistic function):

    .. math:: \ell_i = \max(x_i, 0) - x_i y_i + \log(1 + e^{-|x_i|}), \qquad
              \frac{\partial \ell_i}{\partial x_i} = \sigma(x_i) - y_i

    "mean" divides by the number of elements.

    Parameters
    ----------
    reduction : {"mean", "sum"}
    """

    name = "bce_with_logits"

    def _loss_and_grad(self, pred, target):
        target = _real_target_like(pred, target)
        exp_neg_abs = np.exp(-np.abs(pred))  # in (0, 1]: never overflows
        elementwise = np.maximum(pred, 0.0) - pred * target + np.log1p(exp_neg_abs)
        total = float(elementwise.sum(dtype=np.float64))
        # sigma(x) = 1 / (1 + e^-x) for x >= 0 and e^x / (1 + e^x) for x < 0, both from e^-|x|.
        grad = np.where(pred >= 0, 1.0, exp_neg_abs).astype(pred.dtype, copy=False)
        grad /= 1.0 + exp_neg_abs
        grad -= target
        return total, grad, pred.size


_BY_NAME = {
    "cross_entropy": CrossEntropyLoss,
    "crossentropy": CrossEntropyLoss,
    "categorical_crossentropy": CrossEntropyLoss,
    "sparse_categorical_crossentropy": CrossEntropyLoss,
    "mse": MSELoss,
    "mean_squared_error": MSELoss,
    "bce_with_logits": BCEWithLogitsLoss,
}


def get(name_or_instance, **kwargs):
    """A loss from its name, class or instance.

    Parameters
    ----------
    name_or_instance : str, Loss subclass, Loss or callable
        Names (any case): "cross_entropy" (aliases "categorical_crossentropy",
        "sparse_categorical_crossentropy": both target kinds are accepted, and
        the model's outputs are logits), "mse" ("mean_squared_error"),
        "bce_with_logits".  A Loss subclass is instantiated; a :class:`Loss`
        instance, or any other callable with the ``(pred, target) -> (loss, grad)``
        protocol, is returned as it is.
    **kwargs
        For the constructor, e.g. ``get("cross_entropy", label_smoothing=0.1)``.

    Returns
    -------
    callable

    Raises
    ------
    ValueError, TypeError
        An unknown name (the known ones are listed), or anything else.
    """
    if isinstance(name_or_instance, str):
        key = name_or_instance.lower()
        if key not in _BY_NAME:
            raise ValueError(f"unknown loss {name_or_instance!r}; known: {', '.join(_BY_NAME)}")
        return _BY_NAME[key](**kwargs)
    if isinstance(name_or_instance, type):
        if issubclass(name_or_instance, Loss):
            return name_or_instance(**kwargs)
        raise TypeError(f"loss class must subclass cnnfast.losses.Loss, got {name_or_instance.__name__}")
    if callable(name_or_instance):
        if kwargs:
            raise TypeError(f"cannot apply {sorted(kwargs)} to an existing loss {name_or_instance!r}")
        return name_or_instance
    raise TypeError(f"loss must be a name, a Loss or a callable, got {type(name_or_instance).__name__}")
