"""cnnfast.optim and cnnfast.losses against PyTorch: same inputs, same numbers.

* every optimizer, with several hyper-parameter sets, follows torch.optim's
  trajectory for 20 steps on random quadratic problems (float64, rtol 1e-5;
  float32 with a looser tolerance), including a parameter whose gradient is
  missing for the first steps (its step count must start late, as torch's);
* the schedulers give torch's learning-rate sequences;
* clip_grad_norm matches torch.nn.utils.clip_grad_norm_;
* the losses match torch.nn.functional in value and gradient.
"""

import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch")
import torch.nn.functional as F  # noqa: E402

from cnnfast import losses, optim  # noqa: E402

from torch_twins import one_torch_thread  # noqa: E402,F401  (autouse fixture)


class Param:
    def __init__(self, data):
        self.data = data
        self.grad = None


class Quadratic:
    """f(theta) = 1/2 theta' A theta - b' theta per parameter; grad = A theta - b (theta flattened)."""

    def __init__(self, shapes, rng):
        self.problems = []
        for shape in shapes:
            n = int(np.prod(shape))
            q = rng.standard_normal((n, n))
            self.problems.append((q @ q.T / n + 0.1 * np.eye(n), rng.standard_normal(n), shape))

    def grad(self, i, theta):
        a, b, shape = self.problems[i]
        return (a @ theta.reshape(-1) - b).reshape(shape)


SHAPES = [(3, 4), (5,), (2, 1, 3)]

CONFIGS = [
    ("SGD", dict(lr=0.1)),
    ("SGD", dict(lr=0.05, momentum=0.9)),
    ("SGD", dict(lr=0.05, momentum=0.8, dampening=0.3, weight_decay=0.01)),
    ("SGD", dict(lr=0.05, momentum=0.9, nesterov=True, weight_decay=0.05)),
    ("Adagrad", dict(lr=0.1)),
    ("Adagrad", dict(lr=0.2, lr_decay=0.05, weight_decay=0.02, initial_accumulator_value=0.3, eps=1e-8)),
    ("Adadelta", dict()),
    ("Adadelta", dict(lr=0.5, rho=0.8, eps=1e-4, weight_decay=0.05)),
    ("RMSprop", dict(lr=0.01)),
    ("RMSprop", dict(lr=0.01, alpha=0.9, momentum=0.5, weight_decay=0.02)),
    ("RMSprop", dict(lr=0.005, alpha=0.95, eps=1e-6, momentum=0.7, centered=True)),
    ("Adam", dict(lr=0.05)),
    ("Adam", dict(lr=0.05, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.1)),
    ("Adam", dict(lr=0.05, amsgrad=True, weight_decay=0.01)),
    ("AdamW", dict(lr=0.05)),
    ("AdamW", dict(lr=0.05, betas=(0.5, 0.9), weight_decay=0.3, amsgrad=True)),
]
CONFIG_IDS = [f"{name}-{i}" for i, (name, _) in enumerate(CONFIGS)]


def torch_kwargs(kwargs):
    # torch's Adam family takes betas as a tuple; everything else is spelled the same.
    return {k: tuple(v) if k == "betas" else v for k, v in kwargs.items()}


def trajectories(name, kwargs, dtype, steps=20, late=2, seed=0):
    """Run cnnfast and torch side by side; return the list of (ours, theirs) per step.

    The last parameter gets no gradient during the first ``late`` steps.
    """
    rng = np.random.default_rng(seed)
    problem = Quadratic(SHAPES, rng)
    init = [rng.standard_normal(shape).astype(dtype) for shape in SHAPES]
    ours = [Param(x.copy()) for x in init]
    theirs = [torch.nn.Parameter(torch.from_numpy(x.copy())) for x in init]
    opt = getattr(optim, name)(ours, **kwargs)
    topt = getattr(torch.optim, name)(theirs, **torch_kwargs(kwargs), foreach=False)
    out = []
    for step in range(steps):
        for i, (p, tp) in enumerate(zip(ours, theirs)):
            skip = i == len(SHAPES) - 1 and step < late
            p.grad = None if skip else problem.grad(i, p.data).astype(dtype)
            tp.grad = None if skip else torch.from_numpy(problem.grad(i, tp.detach().numpy()).astype(dtype))
        opt.step()
        topt.step()
        out.append(([p.data.copy() for p in ours], [tp.detach().numpy().copy() for tp in theirs]))
    return out


@pytest.mark.parametrize("name, kwargs", CONFIGS, ids=CONFIG_IDS)
def test_optimizer_trajectory_matches_torch_float64(name, kwargs):
    for step, (ours, theirs) in enumerate(trajectories(name, kwargs, np.float64)):
        for i, (a, b) in enumerate(zip(ours, theirs)):
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-12, err_msg=f"step {step + 1}, param {i}")


@pytest.mark.parametrize("name, kwargs", [CONFIGS[3], CONFIGS[10], CONFIGS[13], CONFIGS[15]],
                         ids=["SGD-nesterov", "RMSprop-centered", "Adam-amsgrad", "AdamW-amsgrad"])
def test_optimizer_trajectory_matches_torch_float32(name, kwargs):
    for step, (ours, theirs) in enumerate(trajectories(name, kwargs, np.float32, steps=10)):
        for i, (a, b) in enumerate(zip(ours, theirs)):
            assert a.dtype == np.float32
            np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5, err_msg=f"step {step + 1}, param {i}")


# ------------------------------------------------------------ schedulers


def torch_lr_sequence(make_scheduler, lr, epochs, metrics=None):
    p = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([p], lr=lr)
    sched = make_scheduler(opt)
    out = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch warns when its optimizer never stepped; irrelevant here
        for e in range(epochs):
            opt.step()
            sched.step() if metrics is None else sched.step(metrics[e])
            out.append(sched.get_last_lr()[0])
    return out


def our_lr_sequence(make_scheduler, lr, epochs, metrics=None):
    opt = optim.SGD([Param(np.zeros(1))], lr=lr)
    sched = make_scheduler(opt)
    out = []
    for e in range(epochs):
        sched.step() if metrics is None else sched.step(metrics[e])
        out.append(sched.get_last_lr()[0])
    return out


SCHEDULERS = [
    ("StepLR", dict(step_size=3, gamma=0.5)),
    ("StepLR", dict(step_size=1, gamma=0.9)),
    ("CosineAnnealingLR", dict(T_max=5)),
    ("CosineAnnealingLR", dict(T_max=7, eta_min=0.01)),
    ("CosineAnnealingLR", dict(T_max=1, eta_min=0.2)),
]


@pytest.mark.parametrize("name, kwargs", SCHEDULERS, ids=[f"{n}-{i}" for i, (n, _) in enumerate(SCHEDULERS)])
def test_epoch_schedulers_match_torch(name, kwargs):
    theirs = torch_lr_sequence(lambda o: getattr(torch.optim.lr_scheduler, name)(o, **kwargs), 0.3, 25)
    ours = our_lr_sequence(lambda o: getattr(optim, name)(o, **kwargs), 0.3, 25)
    np.testing.assert_allclose(ours, theirs, rtol=1e-12, atol=1e-15)


PLATEAU = [
    dict(),
    dict(patience=2, factor=0.5, cooldown=2),
    dict(patience=1, factor=0.3, threshold=0.05, threshold_mode="abs", min_lr=0.01),
    dict(mode="max", patience=1, factor=0.5, threshold=0.01, cooldown=1),
    dict(mode="max", patience=0, factor=0.2, threshold=0.1, threshold_mode="abs", min_lr=1e-3),
]


@pytest.mark.parametrize("kwargs", PLATEAU, ids=[str(i) for i in range(len(PLATEAU))])
def test_reduce_lr_on_plateau_matches_torch(kwargs):
    rng = np.random.default_rng(5)
    # a noisy, slowly improving then flat metric: plateaus of every length occur
    metrics = list(np.round(np.maximum(1.0 - 0.03 * np.arange(60), 0.3) + 0.05 * rng.random(60), 3))
    theirs = torch_lr_sequence(lambda o: torch.optim.lr_scheduler.ReduceLROnPlateau(o, **kwargs), 1.0, 60, metrics)
    ours = our_lr_sequence(lambda o: optim.ReduceLROnPlateau(o, **kwargs), 1.0, 60, metrics)
    assert len(set(ours)) > 2  # the sequence actually exercises reductions
    np.testing.assert_allclose(ours, theirs, rtol=1e-12)


# -------------------------------------------------------------- clipping


@pytest.mark.parametrize("norm_type", [2.0, 1.0, 3.0, float("inf")])
@pytest.mark.parametrize("max_norm", [0.5, 1e3])
def test_clip_grad_norm_matches_torch(norm_type, max_norm):
    rng = np.random.default_rng(6)
    grads = [rng.standard_normal(shape) for shape in SHAPES]
    ours = [Param(np.zeros(shape)) for shape in SHAPES]
    theirs = [torch.nn.Parameter(torch.zeros(shape, dtype=torch.float64)) for shape in SHAPES]
    for p, tp, g in zip(ours, theirs, grads):
        p.grad, tp.grad = g.copy(), torch.from_numpy(g.copy())
    total = optim.clip_grad_norm(ours, max_norm, norm_type=norm_type)
    ttotal = torch.nn.utils.clip_grad_norm_(theirs, max_norm, norm_type=norm_type)
    assert total == pytest.approx(float(ttotal), rel=1e-12)
    for p, tp in zip(ours, theirs):
        np.testing.assert_allclose(p.grad, tp.grad.numpy(), rtol=1e-12)


# ----------------------------------------------------------------- losses


def torch_loss_and_grad(fn, pred, target):
    x = torch.tensor(pred, requires_grad=True)
    loss = fn(x, target)
    loss.backward()
    return loss.item(), x.grad.numpy()


@pytest.mark.parametrize("dtype, rtol", [(np.float64, 1e-10), (np.float32, 1e-5)])
@pytest.mark.parametrize("smoothing", [0.0, 0.15])
@pytest.mark.parametrize("reduction", ["mean", "sum"])
@pytest.mark.parametrize("soft", [False, True])
def test_cross_entropy_matches_torch(dtype, rtol, smoothing, reduction, soft):
    rng = np.random.default_rng(7)
    pred = (rng.standard_normal((8, 5)) * 4).astype(dtype)
    pred[0, 1] = 1e4  # a huge logit must not break either
    if soft:
        target = rng.random((8, 5)).astype(dtype)
        target /= target.sum(axis=1, keepdims=True)
        ttarget = torch.from_numpy(target)
    else:
        target = rng.integers(0, 5, size=8).astype(np.uint8)
        ttarget = torch.from_numpy(target.astype(np.int64))
    loss, grad = losses.CrossEntropyLoss(label_smoothing=smoothing, reduction=reduction)(pred, target)
    tloss, tgrad = torch_loss_and_grad(
        lambda x, t: F.cross_entropy(x, t, label_smoothing=smoothing, reduction=reduction), pred, ttarget)
    assert loss == pytest.approx(tloss, rel=rtol)
    assert grad.dtype == dtype
    np.testing.assert_allclose(grad, tgrad, rtol=rtol, atol=rtol * 1e-2)


@pytest.mark.parametrize("dtype, rtol", [(np.float64, 1e-10), (np.float32, 1e-5)])
@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_mse_and_bce_match_torch(dtype, rtol, reduction):
    rng = np.random.default_rng(8)
    pred = (rng.standard_normal((4, 3, 2)) * 5).astype(dtype)
    pred[0, 0, 0], pred[1, 0, 0] = 1e4, -1e4
    target = rng.random((4, 3, 2)).astype(dtype)
    for ours, theirs in [(losses.MSELoss, F.mse_loss), (losses.BCEWithLogitsLoss, F.binary_cross_entropy_with_logits)]:
        loss, grad = ours(reduction=reduction)(pred, target)
        tloss, tgrad = torch_loss_and_grad(lambda x, t: theirs(x, t, reduction=reduction), pred,
                                           torch.from_numpy(target))
        assert loss == pytest.approx(tloss, rel=rtol), ours.__name__
        np.testing.assert_allclose(grad, tgrad, rtol=rtol, atol=rtol * 1e-3, err_msg=ours.__name__)
