"""cnnfast.optim: optimizers, schedulers and clipping against hand-computed values.

Every expected number here is worked out from the update rule as the PyTorch
documentation writes it, step by step with scalar arithmetic in the test (never
by calling the code under test); the comparison with torch itself is in
``test_optim_vs_torch.py``. Then: in-place updates, dtype, no per-step
allocation, argument checks, state_dict, ``get``.
"""

import math
import tracemalloc

import numpy as np
import pytest

from cnnfast import optim
from cnnfast.optim import (
    SGD,
    Adadelta,
    Adagrad,
    Adam,
    AdamW,
    CosineAnnealingLR,
    ReduceLROnPlateau,
    RMSprop,
    StepLR,
    clip_grad_norm,
)


class Param:
    """The duck-typed parameter the optimizers rely on: ``.data`` and ``.grad``."""

    def __init__(self, data, grad=None, dtype=np.float64):
        self.data = np.array(data, dtype=dtype)
        self.grad = grad


def run(opt_cls, theta0, grads, **kwargs):
    """Parameter values after each step of ``opt_cls`` fed the given gradients."""
    p = Param(theta0)
    opt = opt_cls([p], **kwargs)
    out = []
    for g in grads:
        p.grad = np.array(g, dtype=np.float64)
        opt.step()
        out.append(p.data.copy())
    return out


THETA0 = [1.0, -2.0]
G1, G2, G3 = [0.5, -1.0], [0.25, 0.5], [0.0, 0.0]


# ------------------------------------------------------------------- SGD


def test_sgd_plain():
    got = run(SGD, THETA0, [G1, G2], lr=0.1)
    # theta <- theta - lr * g
    np.testing.assert_allclose(got[0], [0.95, -1.9], rtol=1e-12)
    np.testing.assert_allclose(got[1], [0.925, -1.95], rtol=1e-12)


def test_sgd_momentum():
    got = run(SGD, THETA0, [G1, G2, G3], lr=0.1, momentum=0.9)
    # b1 = g1 = [0.5, -1]; theta1 = [1 - 0.05, -2 + 0.1]
    np.testing.assert_allclose(got[0], [0.95, -1.9], rtol=1e-12)
    # b2 = 0.9 b1 + g2 = [0.7, -0.4]; theta2 = theta1 - 0.1 b2
    np.testing.assert_allclose(got[1], [0.88, -1.86], rtol=1e-12)
    # b3 = 0.9 b2 + 0 = [0.63, -0.36]
    np.testing.assert_allclose(got[2], [0.817, -1.824], rtol=1e-12)


def test_sgd_dampening_skips_first_step():
    got = run(SGD, THETA0, [G1, G2], lr=0.1, momentum=0.9, dampening=0.5)
    # b1 = g1, undamped (torch's rule): theta1 = [0.95, -1.9]
    np.testing.assert_allclose(got[0], [0.95, -1.9], rtol=1e-12)
    # b2 = 0.9 [0.5, -1] + 0.5 [0.25, 0.5] = [0.575, -0.65]
    np.testing.assert_allclose(got[1], [0.95 - 0.0575, -1.9 + 0.065], rtol=1e-12)


def test_sgd_nesterov():
    got = run(SGD, THETA0, [G1, G2], lr=0.1, momentum=0.9, nesterov=True)
    # b1 = g1; step direction g1 + 0.9 b1 = [0.95, -1.9]
    np.testing.assert_allclose(got[0], [0.905, -1.81], rtol=1e-12)
    # b2 = [0.7, -0.4]; direction g2 + 0.9 b2 = [0.88, 0.14]
    np.testing.assert_allclose(got[1], [0.905 - 0.088, -1.81 - 0.014], rtol=1e-12)


def test_sgd_weight_decay():
    got = run(SGD, THETA0, [G1, G2], lr=0.1, weight_decay=0.1)
    # g1 + 0.1 theta0 = [0.6, -1.2]
    np.testing.assert_allclose(got[0], [0.94, -1.88], rtol=1e-12)
    # g2 + 0.1 theta1 = [0.344, 0.312]
    np.testing.assert_allclose(got[1], [0.94 - 0.0344, -1.88 - 0.0312], rtol=1e-12)


# --------------------------------------------------------------- Adagrad


def test_adagrad():
    got = run(Adagrad, THETA0, [G1, G2], lr=0.1)
    eps = 1e-10
    # s1 = g1^2 = [0.25, 1]
    t1 = [1.0 - 0.1 * 0.5 / (0.5 + eps), -2.0 + 0.1 * 1.0 / (1.0 + eps)]
    np.testing.assert_allclose(got[0], t1, rtol=1e-12)
    # s2 = [0.3125, 1.25]
    t2 = [t1[0] - 0.1 * 0.25 / (math.sqrt(0.3125) + eps), t1[1] - 0.1 * 0.5 / (math.sqrt(1.25) + eps)]
    np.testing.assert_allclose(got[1], t2, rtol=1e-12)


def test_adagrad_lr_decay_initial_accumulator_weight_decay():
    got = run(Adagrad, [1.0], [[0.5], [0.25]], lr=0.1, lr_decay=0.5,
              initial_accumulator_value=1.0, weight_decay=0.2, eps=1e-10)
    # step 1: lr~ = 0.1; g = 0.5 + 0.2 * 1 = 0.7; s = 1 + 0.49
    t1 = 1.0 - 0.1 * 0.7 / (math.sqrt(1.49) + 1e-10)
    np.testing.assert_allclose(got[0], [t1], rtol=1e-12)
    # step 2: lr~ = 0.1 / (1 + 0.5); g = 0.25 + 0.2 t1; s = 1.49 + g^2
    g = 0.25 + 0.2 * t1
    t2 = t1 - 0.1 / 1.5 * g / (math.sqrt(1.49 + g * g) + 1e-10)
    np.testing.assert_allclose(got[1], [t2], rtol=1e-12)


# -------------------------------------------------------------- Adadelta


def test_adadelta():
    rho, eps, lr = 0.9, 1e-6, 1.0
    got = run(Adadelta, [1.0], [[0.5], [0.25], [-0.5]], lr=lr, rho=rho, eps=eps)
    theta, v, u = 1.0, 0.0, 0.0
    for step, g in enumerate([0.5, 0.25, -0.5]):
        v = rho * v + (1 - rho) * g * g
        delta = math.sqrt(u + eps) / math.sqrt(v + eps) * g
        u = rho * u + (1 - rho) * delta * delta
        theta = theta - lr * delta
        np.testing.assert_allclose(got[step], [theta], rtol=1e-12)
    # The first step's size is independent of g (up to eps): sqrt(eps / (0.1 g^2)) g.
    np.testing.assert_allclose(got[0], [1.0 - math.sqrt(1e-6 / 0.025) * 0.5], rtol=1e-6)


def test_adadelta_weight_decay_and_lr():
    got = run(Adadelta, [2.0], [[0.5], [0.5]], lr=0.5, rho=0.5, eps=1e-6, weight_decay=0.1)
    g = 0.5 + 0.1 * 2.0  # 0.7
    v = 0.5 * g * g
    delta = math.sqrt(1e-6) / math.sqrt(v + 1e-6) * g
    u = 0.5 * delta * delta
    t1 = 2.0 - 0.5 * delta
    np.testing.assert_allclose(got[0], [t1], rtol=1e-12)
    g = 0.5 + 0.1 * t1
    v = 0.5 * v + 0.5 * g * g
    delta = math.sqrt(u + 1e-6) / math.sqrt(v + 1e-6) * g
    np.testing.assert_allclose(got[1], [t1 - 0.5 * delta], rtol=1e-12)


# --------------------------------------------------------------- RMSprop


def test_rmsprop_plain():
    got = run(RMSprop, THETA0, [G1, G2], lr=0.01, alpha=0.99, eps=1e-8)
    # v1 = 0.01 g1^2 -> sqrt = 0.1 |g1|: each coordinate moves by ~lr / 0.1 = 0.1
    t1 = [1.0 - 0.01 * 0.5 / (0.05 + 1e-8), -2.0 + 0.01 * 1.0 / (0.1 + 1e-8)]
    np.testing.assert_allclose(got[0], t1, rtol=1e-12)
    v2 = [0.99 * 0.0025 + 0.01 * 0.0625, 0.99 * 0.01 + 0.01 * 0.25]
    t2 = [t1[0] - 0.01 * 0.25 / (math.sqrt(v2[0]) + 1e-8), t1[1] - 0.01 * 0.5 / (math.sqrt(v2[1]) + 1e-8)]
    np.testing.assert_allclose(got[1], t2, rtol=1e-12)


def test_rmsprop_centered_momentum_weight_decay():
    alpha, eps, lr, mu, wd = 0.9, 1e-8, 0.01, 0.5, 0.1
    grads = [0.5, -0.25, 1.0]
    got = run(RMSprop, [1.0], [[g] for g in grads], lr=lr, alpha=alpha, eps=eps,
              momentum=mu, centered=True, weight_decay=wd)
    theta, v, gbar, b = 1.0, 0.0, 0.0, 0.0
    for step, g in enumerate(grads):
        g = g + wd * theta
        v = alpha * v + (1 - alpha) * g * g
        gbar = alpha * gbar + (1 - alpha) * g
        vt = v - gbar * gbar
        b = mu * b + g / (math.sqrt(vt) + eps)
        theta = theta - lr * b
        np.testing.assert_allclose(got[step], [theta], rtol=1e-10)


# ------------------------------------------------------------ Adam, AdamW


def test_adam():
    got = run(Adam, THETA0, [G1, G2], lr=0.1)
    b1, b2, eps = 0.9, 0.999, 1e-8
    # step 1: m^ = g, v^ = g^2, so each coordinate moves by lr * sign(g) (up to eps)
    t1 = [1.0 - 0.1 * 0.5 / (0.5 + eps), -2.0 + 0.1 * 1.0 / (1.0 + eps)]
    np.testing.assert_allclose(got[0], t1, rtol=1e-12)
    t2 = []
    for i in range(2):
        m = b1 * (1 - b1) * G1[i] + (1 - b1) * G2[i]
        v = b2 * (1 - b2) * G1[i] ** 2 + (1 - b2) * G2[i] ** 2
        m_hat, v_hat = m / (1 - b1**2), v / (1 - b2**2)
        t2.append(t1[i] - 0.1 * m_hat / (math.sqrt(v_hat) + eps))
    np.testing.assert_allclose(got[1], t2, rtol=1e-12)


def test_adam_weight_decay_is_added_to_the_gradient():
    got = run(Adam, [1.0], [[0.5], [0.5]], lr=0.1, betas=(0.5, 0.75), eps=1e-8, weight_decay=0.2)
    g = 0.5 + 0.2 * 1.0
    m, v = 0.5 * g, 0.25 * g * g
    t1 = 1.0 - 0.1 * (m / 0.5) / (math.sqrt(v / 0.25) + 1e-8)
    np.testing.assert_allclose(got[0], [t1], rtol=1e-12)
    g = 0.5 + 0.2 * t1
    m, v = 0.5 * m + 0.5 * g, 0.75 * v + 0.25 * g * g
    t2 = t1 - 0.1 * (m / (1 - 0.25)) / (math.sqrt(v / (1 - 0.75**2)) + 1e-8)
    np.testing.assert_allclose(got[1], [t2], rtol=1e-12)


def test_adam_amsgrad_uses_the_running_maximum():
    b1, b2, eps, lr = 0.9, 0.999, 1e-8, 0.1
    grads = [1.0, 0.01, 0.01]  # g^2 < v after step 1, so v falls and the max holds
    got = run(Adam, [0.0], [[g] for g in grads], lr=lr, amsgrad=True)
    plain = run(Adam, [0.0], [[g] for g in grads], lr=lr, amsgrad=False)
    theta, m, v, vmax = 0.0, 0.0, 0.0, 0.0
    for t, g in enumerate(grads, start=1):
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        vmax = max(vmax, v)
        theta = theta - lr * (m / (1 - b1**t)) / (math.sqrt(vmax / (1 - b2**t)) + eps)
        np.testing.assert_allclose(got[t - 1], [theta], rtol=1e-12)
    assert v < vmax  # the maximum mattered ...
    assert abs(plain[2][0] - got[2][0]) > 1e-6  # ... and changed the trajectory


def test_adamw_decays_the_weights_not_the_gradient():
    b1, b2, eps, lr, wd = 0.9, 0.999, 1e-8, 0.1, 0.5
    got = run(AdamW, THETA0, [G1, G2], lr=lr, weight_decay=wd)
    t1, t2 = [], []
    for i in range(2):
        theta = THETA0[i] * (1 - lr * wd)  # decoupled decay first
        m, v = (1 - b1) * G1[i], (1 - b2) * G1[i] ** 2
        theta -= lr * (m / (1 - b1)) / (math.sqrt(v / (1 - b2)) + eps)
        t1.append(theta)
        theta *= 1 - lr * wd
        m, v = b1 * m + (1 - b1) * G2[i], b2 * v + (1 - b2) * G2[i] ** 2
        theta -= lr * (m / (1 - b1**2)) / (math.sqrt(v / (1 - b2**2)) + eps)
        t2.append(theta)
    np.testing.assert_allclose(got[0], t1, rtol=1e-12)
    np.testing.assert_allclose(got[1], t2, rtol=1e-12)


def test_adamw_default_weight_decay_is_0_01():
    assert AdamW([Param([1.0])]).weight_decay == 0.01
    assert Adam([Param([1.0])]).weight_decay == 0.0


# -------------------------------------------------- shared optimizer behaviour

ALL_OPTIONS = [
    (SGD, dict(lr=0.1)),
    (SGD, dict(lr=0.1, momentum=0.9, dampening=0.1, weight_decay=0.01)),
    (SGD, dict(lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.01)),
    (Adagrad, dict(lr=0.1, lr_decay=0.01, weight_decay=0.01, initial_accumulator_value=0.1)),
    (Adadelta, dict(lr=1.0, weight_decay=0.01)),
    (RMSprop, dict(lr=0.01)),
    (RMSprop, dict(lr=0.01, momentum=0.9, centered=True, weight_decay=0.01)),
    (Adam, dict(lr=0.01, weight_decay=0.01, amsgrad=True)),
    (AdamW, dict(lr=0.01, amsgrad=True)),
]
IDS = [f"{cls.__name__}-{'-'.join(kw)}" for cls, kw in ALL_OPTIONS]


@pytest.mark.parametrize("cls, kwargs", ALL_OPTIONS, ids=IDS)
def test_updates_in_place_keep_float32_and_leave_grad_alone(cls, kwargs):
    rng = np.random.default_rng(0)
    p = Param(rng.standard_normal((3, 4)), dtype=np.float32)
    data = p.data
    opt = cls([p], **kwargs)
    for _ in range(3):
        p.grad = rng.standard_normal((3, 4)).astype(np.float32)
        grad_before = p.grad.copy()
        before = p.data.copy()
        opt.step()
        np.testing.assert_array_equal(p.grad, grad_before)
        assert not np.array_equal(p.data, before)
    assert p.data is data and p.data.dtype == np.float32
    for value in opt.state[0].values():
        if isinstance(value, np.ndarray):
            assert value.dtype == np.float32


@pytest.mark.parametrize("cls, kwargs", ALL_OPTIONS, ids=IDS)
def test_no_full_size_allocation_per_step(cls, kwargs):
    n = 250_000  # 2 MB in float64: anything allocated per step at this size shows up
    rng = np.random.default_rng(1)
    p = Param(rng.standard_normal(n))
    opt = cls([p], **kwargs)
    p.grad = rng.standard_normal(n)
    opt.step()  # state and scratch are allocated here, once
    tracemalloc.start()
    try:
        opt.step()
        opt.step()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < n * 8 // 4, f"{cls.__name__} allocated {peak} bytes during a step"


def test_grad_none_skips_the_parameter_and_steps_are_counted_per_parameter():
    a, b = Param([1.0]), Param([1.0])
    opt = Adam([a, b], lr=0.1)
    a.grad = np.array([0.5])
    opt.step()  # b has no gradient: untouched, no state
    assert b.data[0] == 1.0 and opt.state[1] == {}
    b.grad = np.array([0.5])
    opt.step()
    # b's first step: bias corrections with t = 1, i.e. a move of lr * sign(g)
    np.testing.assert_allclose(b.data, [1.0 - 0.1 * 0.5 / (0.5 + 1e-8)], rtol=1e-12)
    assert opt.state[0]["step"] == 2 and opt.state[1]["step"] == 1


def test_zero_grad():
    p = Param([1.0, 2.0], grad=np.array([3.0, 4.0]))
    opt = SGD([p], lr=0.1)
    opt.zero_grad(set_to_none=False)
    np.testing.assert_array_equal(p.grad, [0.0, 0.0])
    opt.zero_grad()
    assert p.grad is None
    opt.step()  # nothing to do
    np.testing.assert_array_equal(p.data, [1.0, 2.0])


def test_params_may_be_a_generator_and_a_single_parameter():
    ps = [Param([1.0]), Param([2.0])]
    opt = SGD((p for p in ps), lr=1.0)
    assert opt.params == ps
    one = Param([1.0], grad=np.array([1.0]))
    SGD(one, lr=0.5).step()
    np.testing.assert_array_equal(one.data, [0.5])


def test_state_dict_round_trip_continues_the_same_trajectory():
    rng = np.random.default_rng(2)
    grads = [rng.standard_normal(4) for _ in range(4)]
    a, b = Param(np.ones(4)), Param(np.ones(4))
    opt_a = Adam([a], lr=0.05, amsgrad=True)
    for g in grads[:2]:
        a.grad = g
        opt_a.step()
    b.data[...] = a.data
    opt_b = Adam([b], lr=0.9, amsgrad=True)
    opt_b.load_state_dict(opt_a.state_dict())
    assert opt_b.lr == 0.05
    for g in grads[2:]:
        a.grad, b.grad = g, g.copy()
        opt_a.step()
        opt_b.step()
    np.testing.assert_array_equal(a.data, b.data)
    with pytest.raises(ValueError, match=r"shape \(4,\).*shape \(3,\)"):
        Adam([Param(np.ones(3))], amsgrad=True).load_state_dict(opt_a.state_dict())
    with pytest.raises(ValueError, match=r"lacks \['momentum_buffer'\]"):
        SGD([Param(np.ones(4))], lr=0.1, momentum=0.9).load_state_dict(opt_a.state_dict())


def test_get():
    ps = [Param([1.0])]
    assert isinstance(optim.get("SGD", ps), SGD) and optim.get("sgd", ps).lr == 0.01
    for name, cls in [("adagrad", Adagrad), ("adadelta", Adadelta), ("rmsprop", RMSprop),
                      ("adam", Adam), ("adamw", AdamW)]:
        assert type(optim.get(name, ps)) is cls
    opt = optim.get("adam", ps, lr=0.5, betas=(0.5, 0.6))
    assert opt.lr == 0.5 and opt.betas == (0.5, 0.6)
    assert optim.get(opt) is opt
    assert type(optim.get(RMSprop, ps, lr=0.1)) is RMSprop
    with pytest.raises(ValueError, match="unknown optimizer 'adamax'.*sgd"):
        optim.get("adamax", ps)
    with pytest.raises(TypeError, match="existing Adam"):
        optim.get(opt, lr=0.1)
    with pytest.raises(TypeError, match="needs the parameters"):
        optim.get("sgd")
    with pytest.raises(TypeError, match="got int"):
        optim.get(3, ps)


# ------------------------------------------------------- argument checks

BAD_HYPERPARAMETERS = [
    (SGD, dict(lr=-0.1), ValueError, "learning rate"),
    (SGD, dict(lr=float("nan")), ValueError, "learning rate must not be NaN"),
    (SGD, dict(lr="0.1"), TypeError, "learning rate must be a real number"),
    (SGD, dict(lr=0.1, momentum=-0.5), ValueError, "momentum"),
    (SGD, dict(lr=0.1, weight_decay=-1e-4), ValueError, "weight_decay"),
    (SGD, dict(lr=0.1, nesterov=True), ValueError, "Nesterov momentum requires a momentum"),
    (SGD, dict(lr=0.1, nesterov=True, momentum=0.9, dampening=0.1), ValueError, "zero dampening"),
    (Adagrad, dict(lr_decay=-1.0), ValueError, "lr_decay"),
    (Adagrad, dict(initial_accumulator_value=-1.0), ValueError, "initial_accumulator_value"),
    (Adagrad, dict(eps=-1e-10), ValueError, "eps"),
    (Adadelta, dict(rho=1.5), ValueError, "rho"),
    (Adadelta, dict(rho=-0.1), ValueError, "rho"),
    (RMSprop, dict(alpha=-0.1), ValueError, "alpha"),
    (RMSprop, dict(momentum=-0.1), ValueError, "momentum"),
    (Adam, dict(betas=(1.0, 0.999)), ValueError, "beta parameter at index 0"),
    (Adam, dict(betas=(0.9, -0.1)), ValueError, "beta parameter at index 1"),
    (Adam, dict(betas=0.9), TypeError, "betas must be a pair"),
    (AdamW, dict(betas=(0.9, 1.0)), ValueError, "beta parameter at index 1"),
    (AdamW, dict(lr=-1.0), ValueError, "learning rate"),
    (Adam, dict(weight_decay=-0.1), ValueError, "weight_decay"),
]


@pytest.mark.parametrize("cls, kwargs, exc, match", BAD_HYPERPARAMETERS)
def test_bad_hyperparameters(cls, kwargs, exc, match):
    with pytest.raises(exc, match=match):
        cls([Param([1.0])], **kwargs)


def test_lr_assignment_is_checked():
    opt = SGD([Param([1.0])], lr=0.1)
    opt.lr = 0.5
    assert opt.lr == 0.5 and type(opt.lr) is float
    with pytest.raises(ValueError, match="learning rate"):
        opt.lr = -1.0


def test_bad_params():
    with pytest.raises(ValueError, match="empty parameter list"):
        SGD([], lr=0.1)
    with pytest.raises(TypeError, match=r"params\[1\] is a ndarray"):
        SGD([Param([1.0]), np.zeros(3)], lr=0.1)
    with pytest.raises(TypeError, match="bare ndarray of shape"):
        SGD(np.zeros(3), lr=0.1)
    with pytest.raises(TypeError, match="got int"):
        SGD(3, lr=0.1)
    with pytest.raises(TypeError, match="floating dtype, got int64"):
        SGD([Param([1, 2], dtype=np.int64)], lr=0.1)
    p = Param([1.0])
    with pytest.raises(ValueError, match="more than once"):
        SGD([p, p], lr=0.1)


def test_bad_gradients():
    p = Param([1.0, 2.0], grad=np.zeros(3))
    with pytest.raises(ValueError, match=r"grad has shape \(3,\) but .*data has shape \(2,\)"):
        SGD([p], lr=0.1).step()
    p.grad = np.zeros(2, dtype=np.float32)
    with pytest.raises(TypeError, match="grad has dtype float32 but .*float64"):
        SGD([p], lr=0.1).step()
    p.grad = [0.0, 0.0]
    with pytest.raises(TypeError, match="ndarray or None"):
        SGD([p], lr=0.1).step()


def test_parameter_replaced_with_another_dtype_is_refused():
    p = Param([1.0], grad=np.array([1.0]))
    opt = Adam([p])
    opt.step()
    p.data = p.data.astype(np.float32)
    p.grad = np.array([1.0], dtype=np.float32)
    with pytest.raises(TypeError, match="create a new optimizer"):
        opt.step()


# ------------------------------------------------------------ schedulers


def lrs(scheduler, epochs, metrics=None):
    out = []
    for e in range(epochs):
        if metrics is None:
            scheduler.step()
        else:
            scheduler.step(metrics[e])
        assert scheduler.get_last_lr() == [scheduler.optimizer.lr]
        out.append(scheduler.optimizer.lr)
    return out


def test_step_lr():
    opt = SGD([Param([1.0])], lr=1.0)
    sched = StepLR(opt, step_size=3, gamma=0.5)
    assert sched.get_last_lr() == [1.0]
    np.testing.assert_allclose(lrs(sched, 8), [1, 1, 0.5, 0.5, 0.5, 0.25, 0.25, 0.25], rtol=1e-15)


def test_step_lr_compounds_with_outside_changes():
    opt = SGD([Param([1.0])], lr=1.0)
    sched = StepLR(opt, step_size=2, gamma=0.1)
    sched.step()
    opt.lr = 0.5  # e.g. a user's manual change: the next decay multiplies it
    sched.step()
    assert opt.lr == pytest.approx(0.05)


def test_cosine_annealing_lr():
    opt = SGD([Param([1.0])], lr=1.0)
    sched = CosineAnnealingLR(opt, T_max=4)
    c = math.sqrt(2) / 4  # (1/2) cos(pi/4)
    # 0.5 (1 + cos(pi e / 4)) for e = 1..8: down to 0 at T_max, then back up
    want = [0.5 + c, 0.5, 0.5 - c, 0.0, 0.5 - c, 0.5, 0.5 + c, 1.0]
    np.testing.assert_allclose(lrs(sched, 8), want, rtol=1e-12, atol=1e-15)


def test_cosine_annealing_lr_eta_min():
    opt = SGD([Param([1.0])], lr=2.0)
    sched = CosineAnnealingLR(opt, T_max=2, eta_min=0.5)
    # 0.5 + 0.75 (1 + cos(pi e / 2)): 1.25, 0.5, 1.25, 2.0
    np.testing.assert_allclose(lrs(sched, 4), [1.25, 0.5, 1.25, 2.0], rtol=1e-12)


def test_reduce_lr_on_plateau_patience_threshold_cooldown():
    opt = SGD([Param([1.0])], lr=1.0)
    sched = ReduceLROnPlateau(opt, factor=0.5, patience=2, cooldown=1)
    # 8.9995 is not better than 9 with the default relative threshold 1e-4 (needs < 8.9991)
    metrics = [10, 9, 8.9995, 9, 9, 9, 9, 9, 9, 9, 1]
    # epochs 3, 4, 5 bad -> reduce at 5; 6 ignored (cooldown); 7, 8, 9 bad -> reduce at 9
    want = [1, 1, 1, 1, 0.5, 0.5, 0.5, 0.5, 0.25, 0.25, 0.25]
    assert lrs(sched, len(metrics), metrics) == want


def test_reduce_lr_on_plateau_max_abs_min_lr():
    opt = SGD([Param([1.0])], lr=1.0)
    sched = ReduceLROnPlateau(opt, mode="max", factor=0.1, patience=0, threshold=0.5,
                              threshold_mode="abs", min_lr=0.05)
    # better means > best + 0.5: 1 yes, 1.4 no (reduce), 2 yes, 2.4 no (reduce to the floor), 2.4 no (stays)
    assert lrs(sched, 5, [1, 1.4, 2, 2.4, 2.4]) == [1, 0.1, 0.1, 0.05, 0.05]


def test_scheduler_changes_the_rate_the_optimizer_uses():
    p = Param([0.0])
    opt = SGD([p], lr=1.0)
    sched = StepLR(opt, step_size=1, gamma=0.5)
    for _ in range(3):
        p.grad = np.array([1.0])
        opt.step()
        sched.step()
    np.testing.assert_array_equal(p.data, [-(1.0 + 0.5 + 0.25)])


@pytest.mark.parametrize("make, exc, match", [
    (lambda o: StepLR(o, step_size=0), ValueError, "step_size"),
    (lambda o: StepLR(o, step_size=1.5), TypeError, "step_size"),
    (lambda o: CosineAnnealingLR(o, T_max=0), ValueError, "T_max"),
    (lambda o: ReduceLROnPlateau(o, factor=1.0), ValueError, "factor should be < 1.0"),
    (lambda o: ReduceLROnPlateau(o, mode="maximum"), ValueError, "mode"),
    (lambda o: ReduceLROnPlateau(o, threshold_mode="relative"), ValueError, "threshold_mode"),
    (lambda o: ReduceLROnPlateau(o, patience=-1), ValueError, "patience"),
    (lambda o: StepLR(object(), step_size=1), TypeError, "lr attribute"),
])
def test_bad_scheduler_arguments(make, exc, match):
    with pytest.raises(exc, match=match):
        make(SGD([Param([1.0])], lr=1.0))


# -------------------------------------------------------------- clipping


def test_clip_grad_norm_scales_to_max_norm():
    a, b = Param([0.0], grad=np.array([3.0])), Param([0.0, 0.0], grad=np.array([0.0, 4.0]))
    none = Param([0.0])  # no gradient: ignored
    total = clip_grad_norm([a, b, none], max_norm=1.0)
    assert total == 5.0 and type(total) is float
    coef = 1.0 / (5.0 + 1e-6)
    np.testing.assert_allclose(a.grad, [3.0 * coef], rtol=1e-15)
    np.testing.assert_allclose(b.grad, [0.0, 4.0 * coef], rtol=1e-15)
    assert none.grad is None


def test_clip_grad_norm_below_max_norm_leaves_grads():
    a = Param([0.0, 0.0], grad=np.array([3.0, -4.0], dtype=np.float32), dtype=np.float32)
    grad = a.grad
    assert clip_grad_norm([a], max_norm=10.0) == 5.0
    assert a.grad is grad and a.grad.dtype == np.float32
    np.testing.assert_array_equal(a.grad, [3.0, -4.0])


@pytest.mark.parametrize("norm_type, total", [(1.0, 9.0), (float("inf"), 4.0), (3.0, (8 + 64 + 27) ** (1 / 3))])
def test_clip_grad_norm_other_norms(norm_type, total):
    a, b = Param([0.0, 0.0], grad=np.array([2.0, -4.0])), Param([0.0], grad=np.array([3.0]))
    got = clip_grad_norm([a, b], max_norm=1.0, norm_type=norm_type)
    assert got == pytest.approx(total, rel=1e-12)
    np.testing.assert_allclose(a.grad, np.array([2.0, -4.0]) / (total + 1e-6), rtol=1e-12)


def test_clip_grad_norm_edge_cases():
    assert clip_grad_norm([Param([1.0])], max_norm=1.0) == 0.0
    p = Param([0.0], grad=np.array([np.inf]))
    with pytest.raises(RuntimeError, match="non-finite"):
        clip_grad_norm([p], 1.0, error_if_nonfinite=True)
    with pytest.raises(ValueError, match="max_norm"):
        clip_grad_norm([p], -1.0)


# ----------------------------------------------- Keras's spellings: learning_rate=, no parameters (issue 15)


@pytest.mark.parametrize("cls", [optim.SGD, optim.Adagrad, optim.Adadelta, optim.RMSprop, optim.Adam, optim.AdamW])
def test_learning_rate_is_lr(cls):
    a, b = _keras_params(), _keras_params()
    one, two = cls(a, lr=0.3), cls(b, learning_rate=0.3)
    assert two.lr == two.learning_rate == 0.3
    for _ in range(3):
        one.step()
        two.step()
    np.testing.assert_array_equal(a[0].data, b[0].data)
    two.learning_rate = 0.05
    assert two.lr == 0.05
    with pytest.raises(TypeError, match="give lr or learning_rate, not both"):
        cls(_keras_params(), lr=0.2, learning_rate=0.3)


def test_sgd_default_rate_is_keras():
    assert optim.SGD(_keras_params()).lr == 0.01 == optim.get("sgd", _keras_params()).lr


def test_an_optimizer_made_without_parameters_is_bound_by_compile():
    from cnnfast import layers as L
    from cnnfast.layers import Sequential

    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((64, 5)).astype(np.float32), rng.integers(0, 3, 64)
    sgd = optim.SGD(learning_rate=0.1, momentum=0.9, nesterov=True)   # Keras: SGD(lr, momentum, nesterov)
    assert not sgd.bound
    with pytest.raises(RuntimeError, match="holds no parameters: give it to model.compile"):
        sgd.step()
    keras_style = Sequential([L.Dense(3)], seed=1)         # not built: bound at the first fit
    keras_style.compile(optimizer=sgd, loss="cross_entropy")
    assert keras_style.optimizer is None
    keras_style.fit(x, y, epochs=2, verbose=0)
    assert keras_style.optimizer is sgd and sgd.bound
    by_name = Sequential([L.Dense(3)], seed=1)
    by_name.compile("sgd", lr=0.1, momentum=0.9, nesterov=True)
    by_name.fit(x, y, epochs=2, verbose=0)
    for a, b in zip(keras_style.get_weights(), by_name.get_weights()):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(TypeError, match="cannot apply"):
        keras_style.compile(optimizer=optim.SGD(), lr=0.1)


def _keras_params():
    class P:
        def __init__(self):
            self.data = np.linspace(-1, 1, 6).reshape(2, 3)
            self.grad = np.full((2, 3), 0.5)

    return [P()]
