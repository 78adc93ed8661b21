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

Two families, as users bring them:

* PyTorch's, on **logits**: :class:`CrossEntropyLoss` ("cross_entropy", integer
  labels or probability rows), :class:`BCEWithLogitsLoss` ("bce_with_logits"),
  :class:`MSELoss` ("mse");
* Keras's, on **probabilities** unless ``from_logits=True``:
  :class:`CategoricalCrossentropy` ("categorical_crossentropy", one-hot rows),
  :class:`SparseCategoricalCrossentropy` ("sparse_categorical_crossentropy",
  integer labels), :class:`BinaryCrossentropy` ("binary_crossentropy").
  Probabilities are clipped to ``[1e-7, 1 - 1e-7]`` as Keras does (so a
  confidently wrong prediction gets no gradient); a model whose last layer is
  the matching ``Softmax`` / ``Sigmoid`` is trained from that layer's input
  instead (:meth:`ProbabilityLoss.on_logits`: ``compile`` folds the activation
  into the loss, as Keras does), which is exact and stable.

``get(name_or_instance)`` resolves the names used in ``compile(loss=...)``.
"""

from __future__ import annotations

import numpy as np

from ._checks import one_of, real

__all__ = [
    "Loss",
    "CrossEntropyLoss",
    "MSELoss",
    "BCEWithLogitsLoss",
    "ProbabilityLoss",
    "CategoricalCrossentropy",
    "SparseCategoricalCrossentropy",
    "BinaryCrossentropy",
    "get",
]

_REDUCTIONS = ("mean", "sum")
#: Keras's fuzz factor: probabilities are clipped to [EPSILON, 1 - EPSILON] before the logarithm.
EPSILON = 1e-7


def _floating_pred(pred) -> np.ndarray:
    if not isinstance(pred, np.ndarray):
        raise TypeError(f"pred must be a NumPy array, got {type(pred).__name__}")
    if not np.issubdtype(pred.dtype, np.floating):
        raise TypeError(f"pred must have a floating dtype, got {pred.dtype}")
    if pred.size == 0:
        raise ValueError(f"pred is empty (shape {pred.shape}); a loss needs at least one element")
    return pred


def _target_array(target) -> np.ndarray:
    if not isinstance(target, np.ndarray):
        raise TypeError(f"target must be a NumPy array, got {type(target).__name__}")
    return target


def _real_target_like(pred: np.ndarray, target) -> np.ndarray:
    """``target`` as an array of ``pred``'s shape and dtype (bool/int/float accepted)."""
    target = _target_array(target)
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

    Examples
    --------
    >>> from cnnfast.losses import CrossEntropyLoss
    >>> logits = np.array([[2.0, 0.0, 0.0], [0.0, 0.0, 0.0]])
    >>> loss, grad = CrossEntropyLoss()(logits, np.array([0, 2]))
    >>> round(loss, 4)                  # mean of -log softmax at the targets
    0.6691
    >>> grad                            # (softmax - one_hot) / N
    array([[-0.1065,  0.0533,  0.0533],
           [ 0.1667,  0.1667, -0.3333]])
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
        target = _target_array(target)
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
        return (*_bce_on_logits(pred, _real_target_like(pred, target)), pred.size)


def _bce_on_logits(pred, target):
    """Summed sigmoid binary cross-entropy of logits ``pred`` and its gradient (see BCEWithLogitsLoss)."""
    exp_neg_abs = np.exp(-np.abs(pred))  # in (0, 1]: never overflows
    elementwise = np.maximum(pred, 0.0) - pred * target + np.log1p(exp_neg_abs)
    total = float(elementwise.sum(dtype=np.float64))
    # sigma(x) = 1 / (1 + e^-x) for x >= 0 and e^x / (1 + e^x) for x < 0, both from e^-|x|.
    grad = np.where(pred >= 0, 1.0, exp_neg_abs).astype(pred.dtype, copy=False)
    grad /= 1.0 + exp_neg_abs
    grad -= target
    return total, grad


class ProbabilityLoss(Loss):
    r"""Base of Keras's cross-entropies: probabilities in, or logits with ``from_logits=True``.

    With ``from_logits=False`` (Keras's default) ``pred`` must hold
    probabilities: a value below 0 or above 1 is a ValueError naming the fix
    (such values are logits, which the loss would otherwise clip into
    nonsense).  They are clipped to ``[EPSILON, 1 - EPSILON]`` before the
    logarithm, as Keras does; the gradient is the derivative of that
    clipped formula (zero where the clip is active).

    Attributes
    ----------
    activation : str
        The output activation whose output this loss reads ("softmax" or
        "sigmoid"): a model ending with it is trained through
        :meth:`on_logits` instead.
    """

    activation = None

    def __init__(self, from_logits=False, reduction="mean"):
        super().__init__(reduction)
        if not isinstance(from_logits, (bool, np.bool_)):
            raise TypeError(f"from_logits must be True or False, got {from_logits!r}")
        self.from_logits = bool(from_logits)

    def on_logits(self):
        """The same loss computed from the logits that the output activation turns into ``pred``.

        Returns
        -------
        ProbabilityLoss
            A twin with ``from_logits=True``: for a model ending with
            ``self.activation``, ``twin(logits, y)`` is ``self(activation(logits), y)``
            without the clipping (exact and stable for any logits), and its
            gradient is the one with respect to the logits.
        """
        return type(self)(**{**self.get_config(), "from_logits": True})

    def _probabilities(self, pred):
        """ValueError unless ``pred`` lies in [0, 1] (NaN passes: it makes the loss NaN)."""
        low, high = np.nanmin(pred, initial=0.0), np.nanmax(pred, initial=1.0)
        if low < 0.0 or high > 1.0 + 1e-6:
            raise ValueError(
                f"{self.name} takes probabilities (from_logits=False), but pred holds values in "
                f"[{low:.4g}, {high:.4g}], which look like logits: end the model with "
                f"{'Softmax()' if self.activation == 'softmax' else 'Sigmoid()'} (or "
                f'activation="{self.activation}"), or compile with {type(self).__name__}(from_logits=True)'
            )

    def get_config(self):
        """The constructor's keyword arguments, JSON-able."""
        return {"from_logits": self.from_logits, "reduction": self.reduction}


class _CategoricalBase(ProbabilityLoss):
    """Cross-entropy of one distribution per row: ``pred`` (N, C) against target rows ``t`` (N, C)."""

    activation = "softmax"

    def _rows(self, pred, rows):
        """Summed loss and gradient for target rows ``rows`` (N, C), each summing to 1 or not."""
        if self.from_logits:
            return CrossEntropyLoss(reduction="sum")._loss_and_grad(pred, rows)[:2]
        self._probabilities(pred)
        # Keras's formula: q = p / sum(p), clipped, then -sum(t log q).
        sums = pred.sum(axis=1, keepdims=True)
        q = pred / sums
        clipped = np.clip(q, EPSILON, 1.0 - EPSILON)
        total = -float(np.sum(rows * np.log(clipped), dtype=np.float64))
        # d/dq_k = -t_k / clip(q_k) where the clip is inactive; through q = p / S:
        # d/dp_j = (g_j - sum_k g_k q_k) / S.
        g = np.where((q >= EPSILON) & (q <= 1.0 - EPSILON), -rows / clipped, 0.0).astype(pred.dtype, copy=False)
        grad = g - np.sum(g * q, axis=1, keepdims=True)
        grad /= sums
        return total, grad.astype(pred.dtype, copy=False)

    @staticmethod
    def _check_2d(pred, name):
        if pred.ndim != 2:
            raise ValueError(f"{name}: pred must have shape (N, C), got shape {pred.shape}")


class CategoricalCrossentropy(_CategoricalBase):
    r"""Keras's ``categorical_crossentropy``: one-hot (or probability) targets (N, C).

    ``pred``: probabilities (N, C), the output of a softmax; with
    ``from_logits=True``, logits (then it is :class:`CrossEntropyLoss`).
    ``target``: rows of shape (N, C); integer labels (N,) are refused with a
    pointer to :class:`SparseCategoricalCrossentropy` (Keras refuses them too).
    Per sample, with :math:`q = p / \sum_c p_c` clipped to
    :math:`[\epsilon, 1 - \epsilon]` and the smoothed target
    :math:`t' = (1 - s)\,t + s / C`:

    .. math:: \ell_n = -\sum_c t'_{nc} \log q_{nc}

    "mean" divides by N.

    Parameters
    ----------
    from_logits : bool
    label_smoothing : float in [0, 1]
    reduction : {"mean", "sum"}
    """

    name = "categorical_crossentropy"

    def __init__(self, from_logits=False, label_smoothing=0.0, reduction="mean"):
        super().__init__(from_logits, reduction)
        self.label_smoothing = CrossEntropyLoss(label_smoothing).label_smoothing

    def _loss_and_grad(self, pred, target):
        self._check_2d(pred, self.name)
        target = _target_array(target)
        n, c = pred.shape
        if target.ndim == 1 and target.dtype.kind in "iu":
            raise ValueError(
                f"categorical_crossentropy needs one-hot targets of shape {pred.shape}, got integer labels of "
                f"shape {target.shape}: use loss='sparse_categorical_crossentropy', or one-hot encode them with "
                f"cnnfast.utils.to_categorical(y, {c})"
            )
        rows = _real_target_like(pred, target)
        if self.label_smoothing:
            rows = rows * (1.0 - self.label_smoothing) + self.label_smoothing / c
        total, grad = self._rows(pred, rows)
        return total, grad, n

    def get_config(self):
        """The constructor's keyword arguments, JSON-able."""
        return {"from_logits": self.from_logits, "label_smoothing": self.label_smoothing, "reduction": self.reduction}


class SparseCategoricalCrossentropy(_CategoricalBase):
    r"""Keras's ``sparse_categorical_crossentropy``: integer class labels.

    ``pred``: probabilities (N, C) (logits with ``from_logits=True``);
    ``target``: labels (N,) or (N, 1) in ``[0, C)``, of an integer dtype or
    floats holding whole numbers (Keras casts them).  One-hot rows (N, C) are
    refused with a pointer to :class:`CategoricalCrossentropy`.  The loss is
    that of :class:`CategoricalCrossentropy` for the one-hot rows of the labels.

    Parameters
    ----------
    from_logits : bool
    reduction : {"mean", "sum"}
    """

    name = "sparse_categorical_crossentropy"

    def _loss_and_grad(self, pred, target):
        self._check_2d(pred, self.name)
        target = _target_array(target)
        n, c = pred.shape
        if target.shape == (n, 1):
            target = target.reshape(n)
        if target.shape == pred.shape and c > 1:
            raise ValueError(
                f"sparse_categorical_crossentropy needs integer labels of shape ({n},), got rows of shape "
                f"{target.shape}: use loss='categorical_crossentropy' for one-hot targets"
            )
        if target.dtype.kind == "f":
            if not np.all(np.isfinite(target)) or np.any(target != np.round(target)):
                raise ValueError(
                    "sparse_categorical_crossentropy needs whole-number labels, got fractional or non-finite floats"
                )
            target = target.astype(np.int64)
        labels = CrossEntropyLoss._checked_labels(target, n, c)
        rows = np.zeros(pred.shape, dtype=pred.dtype)
        rows[np.arange(n), labels] = 1.0
        total, grad = self._rows(pred, rows)
        return total, grad, n


class BinaryCrossentropy(ProbabilityLoss):
    r"""Keras's ``binary_crossentropy``: independent yes/no targets, element by element.

    ``pred``: probabilities, any shape (the output of a sigmoid); with
    ``from_logits=True``, logits (then it is :class:`BCEWithLogitsLoss`).
    ``target``: the same shape, values in [0, 1].  With ``p`` clipped to
    :math:`[\epsilon, 1 - \epsilon]` and the smoothed target
    :math:`t' = (1 - s)\,t + s / 2`:

    .. math:: \ell_i = -t'_i \log p_i - (1 - t'_i) \log(1 - p_i)

    "mean" divides by the number of elements (Keras's mean over the last
    axis, then over the batch, for equal-sized rows).

    Parameters
    ----------
    from_logits : bool
    label_smoothing : float in [0, 1]
    reduction : {"mean", "sum"}
    """

    name = "binary_crossentropy"
    activation = "sigmoid"

    def __init__(self, from_logits=False, label_smoothing=0.0, reduction="mean"):
        super().__init__(from_logits, reduction)
        self.label_smoothing = CrossEntropyLoss(label_smoothing).label_smoothing

    def _loss_and_grad(self, pred, target):
        target = _real_target_like(pred, target)
        if self.label_smoothing:
            target = target * (1.0 - self.label_smoothing) + 0.5 * self.label_smoothing
        if self.from_logits:
            return (*_bce_on_logits(pred, target), pred.size)
        self._probabilities(pred)
        clipped = np.clip(pred, EPSILON, 1.0 - EPSILON)
        total = -float(np.sum(target * np.log(clipped) + (1.0 - target) * np.log1p(-clipped), dtype=np.float64))
        inside = (pred >= EPSILON) & (pred <= 1.0 - EPSILON)
        grad = np.where(inside, (clipped - target) / (clipped * (1.0 - clipped)), 0.0).astype(pred.dtype)
        return total, grad, pred.size

    def get_config(self):
        """The constructor's keyword arguments, JSON-able."""
        return {"from_logits": self.from_logits, "label_smoothing": self.label_smoothing, "reduction": self.reduction}


_BY_NAME = {
    "cross_entropy": CrossEntropyLoss,
    "crossentropy": CrossEntropyLoss,
    "categorical_crossentropy": CategoricalCrossentropy,
    "sparse_categorical_crossentropy": SparseCategoricalCrossentropy,
    "binary_crossentropy": BinaryCrossentropy,
    "mse": MSELoss,
    "mean_squared_error": MSELoss,
    "bce_with_logits": BCEWithLogitsLoss,
}


def get(name_or_instance, **kwargs):
    """A loss from its name, class or instance.

    Parameters
    ----------
    name_or_instance : str, Loss subclass, Loss or callable
        Names (any case): on logits, "cross_entropy" ("crossentropy"; integer
        labels or probability rows, as torch), "bce_with_logits", "mse"
        ("mean_squared_error"); Keras's, on probabilities (``from_logits=True``
        for logits): "categorical_crossentropy" (one-hot rows),
        "sparse_categorical_crossentropy" (integer labels), "binary_crossentropy".
        A Loss subclass is instantiated; a :class:`Loss` instance, or any other
        callable with the ``(pred, target) -> (loss, grad)`` protocol, is
        returned as it is.
    **kwargs
        For the constructor, e.g. ``get("cross_entropy", label_smoothing=0.1)``
        or ``get("categorical_crossentropy", from_logits=True)``.

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
