r"""Gradient-descent optimizers with the update rules of ``torch.optim``.

Each optimizer holds a list of parameters (objects with a ``data`` ndarray and a
``grad`` ndarray or ``None``) and, on :meth:`Optimizer.step`, updates every
``p.data`` **in place** from ``p.grad``, exactly as the algorithm boxes of the
PyTorch documentation describe, so the same hyper-parameters give the same
trajectory as ``torch.optim`` (see ``tests/test_optim_vs_torch.py``).

Memory: per-parameter state (momentum buffers, running averages) and one or two
scratch arrays are allocated on the parameter's first step, in its dtype, and
reused; a step allocates no array the size of a parameter. Scalars are Python
floats so that float32 parameters stay float32 (NEP 50).

In the formulas, :math:`\theta` is ``p.data``, :math:`g_t` is ``p.grad`` at step
:math:`t` (counted per parameter, starting at 1, skipping steps where ``p.grad``
is ``None``), :math:`\gamma` is ``lr`` and :math:`\lambda` is ``weight_decay``.
``p.grad`` is never modified.
"""

from __future__ import annotations

import math

import numpy as np

from .. import functional as F
from .._checks import nonnegative, real, spelled_twice
from ._params import checked_grad, parameter_list

__all__ = ["Optimizer", "SGD", "Adagrad", "Adadelta", "RMSprop", "Adam", "AdamW"]


class Optimizer:
    """Base class: a parameter list, a learning rate, per-parameter state.

    Parameters
    ----------
    params : iterable of parameters, optional
        Objects with ``.data`` (floating ndarray, updated in place, never
        rebound) and ``.grad`` (ndarray of the same shape and dtype, or None).
        Materialised into the list ``self.params``; empty -> ValueError,
        an item that is not a parameter -> TypeError.  None (Keras's way,
        ``SGD(learning_rate=0.1)``): the optimizer gets the model's parameters
        from ``model.compile(optimizer=...)``.
    lr : float
        Learning rate, >= 0. ``self.lr`` is read and written by the schedulers.
        Every optimizer also takes it as ``learning_rate=`` (Keras's name).

    Notes
    -----
    Subclasses name their state arrays in ``_state_arrays`` and their scratch
    arrays in ``_scratch_arrays`` and implement ``_update(data, grad, state, scratch)``.
    """

    _state_arrays: tuple[str, ...] = ()
    _scratch_arrays: tuple[str, ...] = ("tmp",)

    def __init__(self, params, lr: float):
        self.lr = lr
        self._bind([] if params is None else parameter_list(params))

    def _bind(self, params):
        """Hold ``params`` (a checked list), with fresh state: ``compile`` binds an optimizer made without them."""
        self.params = params
        # state[i] belongs to params[i]: {"step": int, name: ndarray, ...}; empty
        # until the parameter's first step, as in torch (state is created lazily).
        self.state: list[dict] = [{} for _ in self.params]
        # Scratch arrays hold intermediate results within one step; never saved.
        self._scratch: list[dict] = [{} for _ in self.params]

    @property
    def bound(self) -> bool:
        """Whether the optimizer holds parameters (False for ``SGD(learning_rate=...)`` before ``compile``)."""
        return bool(self.params)

    @property
    def learning_rate(self) -> float:
        """``lr`` under Keras's name (read and write)."""
        return self.lr

    @learning_rate.setter
    def learning_rate(self, value) -> None:
        self.lr = value

    @property
    def lr(self) -> float:
        """Learning rate (a Python float >= 0); schedulers assign it between steps."""
        return self._lr

    @lr.setter
    def lr(self, value) -> None:
        self._lr = nonnegative("learning rate", value)

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Forget the gradients.

        Parameters
        ----------
        set_to_none : bool
            ``p.grad = None`` (torch's default), or fill the gradients with 0.
        """
        for p in self.params:
            if set_to_none:
                p.grad = None
            elif p.grad is not None:
                p.grad.fill(0)

    def step(self) -> None:
        """Apply one update, in place, to every parameter whose ``grad`` is not None.

        A gradient whose shape differs from its parameter's is a ValueError, one of
        another dtype (or not an ndarray) a TypeError; both name the parameter index.
        An optimizer made without parameters that was never given to
        ``compile`` is a RuntimeError.
        """
        if not self.params:
            raise RuntimeError(f"{type(self).__name__} holds no parameters: give it to model.compile(optimizer=...) "
                               "or make it with model.parameters()")
        for i, p in enumerate(self.params):
            grad = checked_grad(i, p)
            if grad is None:
                continue
            state, scratch = self.state[i], self._scratch[i]
            if not state:
                self._init_state(p.data, state)
            if not scratch:
                for name in self._scratch_arrays:
                    scratch[name] = np.empty_like(p.data)
            _check_arrays_match(i, p.data, state, scratch)
            state["step"] += 1
            self._update(p.data, grad, state, scratch)

    def _init_state(self, data: np.ndarray, state: dict) -> None:
        state["step"] = 0
        for name in self._state_arrays:
            state[name] = np.zeros_like(data)

    def _update(self, data, grad, state, scratch) -> None:
        raise NotImplementedError

    def get_config(self) -> dict:
        """Constructor keyword arguments except ``params`` (JSON-able)."""
        return {"lr": self.lr}

    def state_dict(self) -> dict:
        """The learning rate and the per-parameter state.

        Returns
        -------
        dict
            ``{"lr": float, "state": [per-parameter dict of step count and array copies]}``.
        """
        return {
            "lr": self.lr,
            "state": [{k: (v.copy() if isinstance(v, np.ndarray) else v) for k, v in s.items()} for s in self.state],
        }

    def load_state_dict(self, state_dict: dict) -> None:
        """Restore ``lr`` and the per-parameter state saved by :meth:`state_dict`.

        Arrays are copied in the parameters' dtype.

        Parameters
        ----------
        state_dict : dict

        Raises
        ------
        ValueError
            Another parameter count, or an array of another shape (naming the
            parameter, the expected and the given shape).
        """
        states = state_dict["state"]
        if len(states) != len(self.params):
            raise ValueError(f"state_dict has state for {len(states)} parameters, optimizer has {len(self.params)}")
        new_states = []
        for i, (p, saved) in enumerate(zip(self.params, states)):
            if not saved:
                new_states.append({})
                continue
            missing = [name for name in ("step",) + self._state_arrays if name not in saved]
            if missing:
                raise ValueError(
                    f"state_dict state[{i}] lacks {missing}: it was saved by another optimizer or configuration"
                )
            state = {"step": int(saved["step"])}
            for name in self._state_arrays:
                value = np.asarray(saved[name])
                if value.shape != p.data.shape:
                    raise ValueError(
                        f"state_dict state[{i}][{name!r}] has shape {value.shape}, "
                        f"params[{i}].data has shape {p.data.shape}"
                    )
                state[name] = value.astype(p.data.dtype, copy=True)
            new_states.append(state)
        self.lr = state_dict["lr"]
        self.state = new_states

    def __repr__(self) -> str:
        kwargs = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({len(self.params)} parameters, {kwargs})"


def _check_arrays_match(index: int, data: np.ndarray, state: dict, scratch: dict) -> None:
    """Refuse a parameter whose data was replaced by one of another dtype/shape after its first step.

    (For instance a model converted with ``astype`` after the optimizer was used:
    the saved moments no longer describe the parameter.)
    """
    for kind, arrays in (("state", state), ("scratch", scratch)):
        for name, value in arrays.items():
            if isinstance(value, np.ndarray) and (value.dtype != data.dtype or value.shape != data.shape):
                raise TypeError(
                    f"params[{index}].data is now {data.dtype} {data.shape} but the optimizer {kind} "
                    f"{name!r} was created as {value.dtype} {value.shape}; create a new optimizer"
                )


def _weight_decayed(data, grad, weight_decay: float, out):
    r""":math:`g + \lambda\theta` written into ``out`` (``grad`` itself when :math:`\lambda = 0`)."""
    if weight_decay == 0.0:
        return grad
    np.multiply(data, weight_decay, out=out)
    out += grad
    return out


def _add_scaled(target, source, scale: float, tmp) -> None:
    """``target += scale * source`` without allocating (``tmp`` is clobbered unless scale == 1)."""
    if scale == 1.0:
        target += source
    else:
        np.multiply(source, scale, out=tmp)
        target += tmp


class SGD(Optimizer):
    r"""Stochastic gradient descent with optional (Nesterov) momentum, as ``torch.optim.SGD``.

    .. math::

        g_t &\leftarrow g_t + \lambda\theta_{t-1} \quad (\lambda \ne 0) \\
        b_t &\leftarrow g_t \ (t = 1), \quad \mu b_{t-1} + (1-\tau) g_t \ (t > 1) \quad (\mu \ne 0) \\
        g_t &\leftarrow g_t + \mu b_t \ \text{(nesterov)}, \quad b_t \ \text{(otherwise)} \\
        \theta_t &\leftarrow \theta_{t-1} - \gamma g_t

    with :math:`\mu` = ``momentum`` and :math:`\tau` = ``dampening``. Note the
    first momentum step takes the gradient undamped, as torch does.

    Raises ValueError for lr, momentum or weight_decay < 0, and for nesterov
    without momentum or with dampening.

    Parameters
    ----------
    params : iterable of parameters
        Objects with ``.data`` and ``.grad`` (``model.parameters()``).
    lr : float >= 0
        Default 0.01 (Keras's; torch's is 0.001).
    momentum : float >= 0
    dampening : float
    nesterov : bool
    weight_decay : float >= 0

    Examples
    --------
    >>> from cnnfast import layers, optim
    >>> w = layers.Parameter(np.array([1.0, -2.0]))
    >>> opt = optim.SGD([w], lr=0.1, momentum=0.9)
    >>> w.grad = np.array([1.0, 1.0])
    >>> opt.step()                      # first step: b = g, w -= lr * b
    >>> opt.step()                      # then b = 0.9 b + g
    >>> w.data
    array([ 0.71, -2.29])
    """

    def __init__(self, params=None, lr: float = 0.01, momentum: float = 0.0, dampening: float = 0.0,
                 nesterov: bool = False, weight_decay: float = 0.0, *, learning_rate=None):
        super().__init__(params, spelled_twice("lr", lr, 0.01, "learning_rate", learning_rate))
        self.momentum = nonnegative("momentum", momentum)
        self.dampening = real("dampening", dampening)
        self.weight_decay = nonnegative("weight_decay", weight_decay)
        self.nesterov = bool(nesterov)
        if self.nesterov and (self.momentum <= 0.0 or self.dampening != 0.0):
            raise ValueError("Nesterov momentum requires a momentum and zero dampening")
        self._state_arrays = ("momentum_buffer",) if self.momentum != 0.0 else ()
        self._scratch_arrays = ("tmp", "decayed") if self.weight_decay != 0.0 else ("tmp",)

    def _update(self, data, grad, state, scratch):
        if _fused_sgd_update(self, data, grad, state):
            return
        tmp = scratch["tmp"]
        g = _weight_decayed(data, grad, self.weight_decay, scratch.get("decayed"))
        if self.momentum != 0.0:
            buf = state["momentum_buffer"]
            if state["step"] == 1:
                np.copyto(buf, g)
            else:
                buf *= self.momentum
                _add_scaled(buf, g, 1.0 - self.dampening, tmp)
            if self.nesterov:
                np.multiply(buf, self.momentum, out=tmp)
                tmp += g
                g = tmp
            else:
                g = buf
        np.multiply(g, -self.lr, out=tmp)
        data += tmp

    def get_config(self):
        """The constructor's keyword arguments except ``params``, JSON-able."""
        return {"lr": self.lr, "momentum": self.momentum, "dampening": self.dampening,
                "nesterov": self.nesterov, "weight_decay": self.weight_decay}


def _fused_sgd_update(sgd, data, grad, state):
    """The SGD step below in one kernel pass when the arrays allow it.

    functional.sgd_update: the same roundings, subnormals flushed to zero.
    False otherwise (a non-contiguous parameter), and the NumPy update runs.
    """
    buf = state.get("momentum_buffer")
    arrays = (data, grad) if buf is None else (data, grad, buf)
    if not all(a.flags.c_contiguous and a.dtype == data.dtype for a in arrays) or not data.flags.writeable:
        return False
    F.sgd_update(data, grad, buf, sgd.lr, sgd.momentum, sgd.dampening, sgd.nesterov, sgd.weight_decay,
                 first_step=state["step"] == 1)
    return True


class Adagrad(Optimizer):
    r"""Adagrad, as ``torch.optim.Adagrad``.

    .. math::

        \tilde\gamma &\leftarrow \gamma / (1 + (t-1)\eta) \\
        g_t &\leftarrow g_t + \lambda\theta_{t-1} \quad (\lambda \ne 0) \\
        s_t &\leftarrow s_{t-1} + g_t^2, \qquad s_0 = \text{initial\_accumulator\_value} \\
        \theta_t &\leftarrow \theta_{t-1} - \tilde\gamma\, g_t / (\sqrt{s_t} + \epsilon)

    with :math:`\eta` = ``lr_decay``. (torch's box writes :math:`s_0 = 0` but its
    code, which this follows, starts the sum at ``initial_accumulator_value``.)

    Parameters
    ----------
    params : iterable of parameters
        Objects with ``.data`` and ``.grad`` (``model.parameters()``).
    lr : float >= 0
    lr_decay, weight_decay, initial_accumulator_value, eps : float >= 0
    """

    _state_arrays = ("sum",)

    def __init__(self, params=None, lr: float = 0.01, lr_decay: float = 0.0, weight_decay: float = 0.0,
                 initial_accumulator_value: float = 0.0, eps: float = 1e-10, *, learning_rate=None):
        super().__init__(params, spelled_twice("lr", lr, 0.01, "learning_rate", learning_rate))
        self.lr_decay = nonnegative("lr_decay", lr_decay)
        self.weight_decay = nonnegative("weight_decay", weight_decay)
        self.initial_accumulator_value = nonnegative("initial_accumulator_value", initial_accumulator_value)
        self.eps = nonnegative("eps", eps)
        self._scratch_arrays = ("tmp", "decayed") if self.weight_decay != 0.0 else ("tmp",)

    def _init_state(self, data, state):
        super()._init_state(data, state)
        state["sum"].fill(self.initial_accumulator_value)

    def _update(self, data, grad, state, scratch):
        tmp = scratch["tmp"]
        clr = self.lr / (1.0 + (state["step"] - 1) * self.lr_decay)
        g = _weight_decayed(data, grad, self.weight_decay, scratch.get("decayed"))
        np.multiply(g, g, out=tmp)
        state["sum"] += tmp
        np.sqrt(state["sum"], out=tmp)
        tmp += self.eps
        np.divide(g, tmp, out=tmp)
        tmp *= -clr
        data += tmp

    def get_config(self):
        """The constructor's keyword arguments except ``params``, JSON-able."""
        return {"lr": self.lr, "lr_decay": self.lr_decay, "weight_decay": self.weight_decay,
                "initial_accumulator_value": self.initial_accumulator_value, "eps": self.eps}


class Adadelta(Optimizer):
    r"""Adadelta, as ``torch.optim.Adadelta``.

    .. math::

        g_t &\leftarrow g_t + \lambda\theta_{t-1} \quad (\lambda \ne 0) \\
        v_t &\leftarrow \rho v_{t-1} + (1-\rho) g_t^2 \\
        \Delta x_t &\leftarrow \frac{\sqrt{u_{t-1} + \epsilon}}{\sqrt{v_t + \epsilon}}\, g_t \\
        u_t &\leftarrow \rho u_{t-1} + (1-\rho) \Delta x_t^2 \\
        \theta_t &\leftarrow \theta_{t-1} - \gamma \Delta x_t

    with :math:`v_0 = u_0 = 0`; ``rho`` must lie in [0, 1].

    Parameters
    ----------
    params : iterable of parameters
        Objects with ``.data`` and ``.grad`` (``model.parameters()``).
    lr : float >= 0
    rho : float in [0, 1]
    eps, weight_decay : float >= 0
    """

    _state_arrays = ("square_avg", "acc_delta")

    def __init__(self, params=None, lr: float = 1.0, rho: float = 0.9, eps: float = 1e-6, weight_decay: float = 0.0,
                 *, learning_rate=None):
        super().__init__(params, spelled_twice("lr", lr, 1.0, "learning_rate", learning_rate))
        self.rho = real("rho", rho)
        if not 0.0 <= self.rho <= 1.0:
            raise ValueError(f"Invalid rho value: {self.rho} (must be in [0, 1])")
        self.eps = nonnegative("eps", eps)
        self.weight_decay = nonnegative("weight_decay", weight_decay)
        self._scratch_arrays = ("tmp", "delta", "decayed") if self.weight_decay != 0.0 else ("tmp", "delta")

    def _update(self, data, grad, state, scratch):
        tmp, delta = scratch["tmp"], scratch["delta"]
        square_avg, acc_delta = state["square_avg"], state["acc_delta"]
        g = _weight_decayed(data, grad, self.weight_decay, scratch.get("decayed"))
        square_avg *= self.rho
        np.multiply(g, g, out=tmp)
        _add_scaled(square_avg, tmp, 1.0 - self.rho, tmp)
        np.add(square_avg, self.eps, out=tmp)
        np.sqrt(tmp, out=tmp)
        np.add(acc_delta, self.eps, out=delta)
        np.sqrt(delta, out=delta)
        delta /= tmp
        delta *= g
        acc_delta *= self.rho
        np.multiply(delta, delta, out=tmp)
        _add_scaled(acc_delta, tmp, 1.0 - self.rho, tmp)
        delta *= -self.lr
        data += delta

    def get_config(self):
        """The constructor's keyword arguments except ``params``, JSON-able."""
        return {"lr": self.lr, "rho": self.rho, "eps": self.eps, "weight_decay": self.weight_decay}


class RMSprop(Optimizer):
    r"""RMSprop, optionally centered and with momentum, as ``torch.optim.RMSprop``.

    .. math::

        g_t &\leftarrow g_t + \lambda\theta_{t-1} \quad (\lambda \ne 0) \\
        v_t &\leftarrow \alpha v_{t-1} + (1-\alpha) g_t^2, \qquad \tilde v_t \leftarrow v_t \\
        \bar g_t &\leftarrow \alpha \bar g_{t-1} + (1-\alpha) g_t, \quad
            \tilde v_t \leftarrow \tilde v_t - \bar g_t^2 \quad \text{(centered)} \\
        b_t &\leftarrow \mu b_{t-1} + g_t / (\sqrt{\tilde v_t} + \epsilon), \quad
            \theta_t \leftarrow \theta_{t-1} - \gamma b_t \quad (\mu > 0) \\
        \theta_t &\leftarrow \theta_{t-1} - \gamma g_t / (\sqrt{\tilde v_t} + \epsilon) \quad (\mu = 0)

    with :math:`v_0 = \bar g_0 = b_0 = 0`. In the centered form :math:`\tilde v_t`
    is a variance, >= 0 in exact arithmetic; it is clamped at 0 so that rounding
    cannot turn it into a NaN.

    Parameters
    ----------
    params : iterable of parameters
        Objects with ``.data`` and ``.grad`` (``model.parameters()``).
    lr : float >= 0
    alpha, eps, weight_decay, momentum : float >= 0
    centered : bool
    """

    def __init__(self, params=None, lr: float = 0.01, alpha: float = 0.99, eps: float = 1e-8,
                 weight_decay: float = 0.0, momentum: float = 0.0, centered: bool = False, *, learning_rate=None):
        super().__init__(params, spelled_twice("lr", lr, 0.01, "learning_rate", learning_rate))
        self.alpha = nonnegative("alpha", alpha)
        self.eps = nonnegative("eps", eps)
        self.weight_decay = nonnegative("weight_decay", weight_decay)
        self.momentum = nonnegative("momentum", momentum)
        self.centered = bool(centered)
        self._state_arrays = (
            ("square_avg",)
            + (("momentum_buffer",) if self.momentum > 0.0 else ())
            + (("grad_avg",) if self.centered else ())
        )
        self._scratch_arrays = ("tmp", "decayed") if self.weight_decay != 0.0 else ("tmp",)

    def _update(self, data, grad, state, scratch):
        tmp = scratch["tmp"]
        square_avg = state["square_avg"]
        g = _weight_decayed(data, grad, self.weight_decay, scratch.get("decayed"))
        square_avg *= self.alpha
        np.multiply(g, g, out=tmp)
        _add_scaled(square_avg, tmp, 1.0 - self.alpha, tmp)
        if self.centered:
            grad_avg = state["grad_avg"]
            grad_avg *= self.alpha
            _add_scaled(grad_avg, g, 1.0 - self.alpha, tmp)
            np.multiply(grad_avg, grad_avg, out=tmp)
            np.subtract(square_avg, tmp, out=tmp)
            np.maximum(tmp, 0.0, out=tmp)
            np.sqrt(tmp, out=tmp)
        else:
            np.sqrt(square_avg, out=tmp)
        tmp += self.eps
        np.divide(g, tmp, out=tmp)
        if self.momentum > 0.0:
            buf = state["momentum_buffer"]
            buf *= self.momentum
            buf += tmp
            np.multiply(buf, -self.lr, out=tmp)
        else:
            tmp *= -self.lr
        data += tmp

    def get_config(self):
        """The constructor's keyword arguments except ``params``, JSON-able."""
        return {"lr": self.lr, "alpha": self.alpha, "eps": self.eps, "weight_decay": self.weight_decay,
                "momentum": self.momentum, "centered": self.centered}


def _betas(betas) -> tuple[float, float]:
    try:
        beta1, beta2 = betas
    except (TypeError, ValueError):
        raise TypeError(f"betas must be a pair of floats, got {betas!r}") from None
    beta1, beta2 = real("betas[0]", beta1), real("betas[1]", beta2)
    if not 0.0 <= beta1 < 1.0:
        raise ValueError(f"Invalid beta parameter at index 0: {beta1} (must be in [0, 1))")
    if not 0.0 <= beta2 < 1.0:
        raise ValueError(f"Invalid beta parameter at index 1: {beta2} (must be in [0, 1))")
    return beta1, beta2


class Adam(Optimizer):
    r"""Adam (optionally AMSGrad), as ``torch.optim.Adam``; L2 weight decay added to the gradient.

    .. math::

        g_t &\leftarrow g_t + \lambda\theta_{t-1} \quad (\lambda \ne 0) \\
        m_t &\leftarrow \beta_1 m_{t-1} + (1-\beta_1) g_t \\
        v_t &\leftarrow \beta_2 v_{t-1} + (1-\beta_2) g_t^2 \\
        \hat m_t &\leftarrow m_t / (1-\beta_1^t) \\
        v^{max}_t &\leftarrow \max(v^{max}_{t-1}, v_t), \quad
            \hat v_t \leftarrow v^{max}_t / (1-\beta_2^t) \quad \text{(amsgrad)} \\
        \hat v_t &\leftarrow v_t / (1-\beta_2^t) \quad \text{(otherwise)} \\
        \theta_t &\leftarrow \theta_{t-1} - \gamma \hat m_t / (\sqrt{\hat v_t} + \epsilon)

    with :math:`m_0 = v_0 = v^{max}_0 = 0`; ``betas`` must lie in [0, 1).

    Parameters
    ----------
    params : iterable of parameters
        Objects with ``.data`` and ``.grad`` (``model.parameters()``).
    lr : float >= 0
    betas : (float, float), each in [0, 1)
    eps, weight_decay : float >= 0
    amsgrad : bool
    """

    # AdamW sets this: decay the weights directly instead of adding to the gradient.
    _decoupled_weight_decay = False

    def __init__(self, params=None, lr: float = 0.001, betas=(0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0, amsgrad: bool = False, *, learning_rate=None):
        super().__init__(params, spelled_twice("lr", lr, 0.001, "learning_rate", learning_rate))
        self.betas = _betas(betas)
        self.eps = nonnegative("eps", eps)
        self.weight_decay = nonnegative("weight_decay", weight_decay)
        self.amsgrad = bool(amsgrad)
        self._state_arrays = ("exp_avg", "exp_avg_sq") + (("max_exp_avg_sq",) if self.amsgrad else ())
        coupled = self.weight_decay != 0.0 and not self._decoupled_weight_decay
        self._scratch_arrays = ("tmp", "decayed") if coupled else ("tmp",)

    def _update(self, data, grad, state, scratch):
        tmp = scratch["tmp"]
        beta1, beta2 = self.betas
        step = state["step"]
        if self._decoupled_weight_decay:
            if self.weight_decay != 0.0:
                data *= 1.0 - self.lr * self.weight_decay
            g = grad
        else:
            g = _weight_decayed(data, grad, self.weight_decay, scratch.get("decayed"))
        exp_avg, exp_avg_sq = state["exp_avg"], state["exp_avg_sq"]
        exp_avg *= beta1
        _add_scaled(exp_avg, g, 1.0 - beta1, tmp)
        exp_avg_sq *= beta2
        np.multiply(g, g, out=tmp)
        _add_scaled(exp_avg_sq, tmp, 1.0 - beta2, tmp)
        if self.amsgrad:
            np.maximum(state["max_exp_avg_sq"], exp_avg_sq, out=state["max_exp_avg_sq"])
            second_moment = state["max_exp_avg_sq"]
        else:
            second_moment = exp_avg_sq
        bias_correction1 = 1.0 - beta1**step
        bias_correction2 = 1.0 - beta2**step
        # sqrt(v / bc2) + eps computed as sqrt(v) / sqrt(bc2) + eps: the order torch uses.
        np.sqrt(second_moment, out=tmp)
        tmp /= math.sqrt(bias_correction2)
        tmp += self.eps
        np.divide(exp_avg, tmp, out=tmp)
        tmp *= -self.lr / bias_correction1
        data += tmp

    def get_config(self):
        """The constructor's keyword arguments except ``params``, JSON-able."""
        return {"lr": self.lr, "betas": list(self.betas), "eps": self.eps,
                "weight_decay": self.weight_decay, "amsgrad": self.amsgrad}


class AdamW(Adam):
    r"""Adam with decoupled weight decay, as ``torch.optim.AdamW``.

    Identical to :class:`Adam` except that the gradient is left alone and,
    before the moments are updated, the weights shrink:

    .. math::

        \theta_{t-1} \leftarrow \theta_{t-1} - \gamma\lambda\theta_{t-1}

    (``weight_decay`` defaults to 0.01).

    Parameters
    ----------
    weight_decay : float >= 0
        Default 0.01.
    params, lr, betas, eps, amsgrad
        As for :class:`Adam`.
    """

    _decoupled_weight_decay = True

    def __init__(self, params=None, lr: float = 0.001, betas=(0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.01, amsgrad: bool = False, *, learning_rate=None):
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, amsgrad=amsgrad,
                         learning_rate=learning_rate)
