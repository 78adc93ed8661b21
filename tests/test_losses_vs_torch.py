"""Keras's cross-entropies (cnnfast.losses) against torch.nn.functional, values and gradients.

* on probabilities: ``sparse_categorical_crossentropy`` is ``nll_loss`` of the
  log-probabilities, ``categorical_crossentropy`` is ``-(t * log p).sum(1).mean()``
  (torch's ``cross_entropy`` with probability targets, minus its softmax), and
  ``binary_crossentropy`` is ``binary_cross_entropy``; the gradients are
  torch.autograd's of Keras's formula (normalise, clip, log);
* with ``from_logits=True`` they are ``cross_entropy`` / ``binary_cross_entropy_with_logits``;
* :meth:`on_logits` (the fold ``compile`` uses for a final softmax / sigmoid):
  the loss of the logits equals the loss of their softmax / sigmoid, and its
  gradient is the one torch gets through the activation.
"""

import numpy as np
import pytest

from cnnfast import losses

torch = pytest.importorskip("torch")
TF = torch.nn.functional

from torch_twins import one_torch_thread  # noqa: E402,F401  (autouse fixture)

EPS = losses.EPSILON


def case(seed, n=7, c=5, spread=3.0):
    rng = np.random.default_rng(seed)
    logits = rng.standard_normal((n, c)) * spread
    probs = np.exp(logits - logits.max(1, keepdims=True))
    probs /= probs.sum(1, keepdims=True)
    labels = rng.integers(0, c, n)
    return logits, probs, labels, np.eye(c)[labels]


def leaf(a):
    return torch.tensor(a, requires_grad=True)


def keras_categorical(p, rows, reduction):
    """Keras's categorical formula written in torch: normalise, clip, -sum(t log q)."""
    q = p / p.sum(1, keepdim=True)
    per_row = -(torch.tensor(rows) * torch.log(q.clamp(EPS, 1 - EPS))).sum(1)
    return per_row.mean() if reduction == "mean" else per_row.sum()


@pytest.mark.parametrize("reduction", ["mean", "sum"])
@pytest.mark.parametrize("seed", range(4))
def test_sparse_categorical_on_probabilities_is_nll_of_log_probabilities(seed, reduction):
    _, probs, labels, one_hot = case(seed)
    loss, grad = losses.SparseCategoricalCrossentropy(reduction=reduction)(probs, labels)
    expected = TF.nll_loss(torch.log(torch.tensor(probs)), torch.tensor(labels), reduction=reduction)
    assert loss == pytest.approx(expected.item(), rel=1e-12)
    p = leaf(probs)
    keras_categorical(p, one_hot, reduction).backward()
    np.testing.assert_allclose(grad, p.grad.numpy(), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("smoothing", [0.0, 0.1])
@pytest.mark.parametrize("seed", range(4))
def test_categorical_on_probabilities_matches_torch(seed, smoothing):
    _, probs, labels, one_hot = case(seed)
    loss, grad = losses.CategoricalCrossentropy(label_smoothing=smoothing)(probs, one_hot)
    smoothed = one_hot * (1 - smoothing) + smoothing / one_hot.shape[1]
    # torch's cross_entropy with probability targets is -sum(t log softmax(z)): on log p it is ours.
    expected = TF.cross_entropy(torch.log(torch.tensor(probs)), torch.tensor(one_hot), label_smoothing=smoothing)
    assert loss == pytest.approx(expected.item(), rel=1e-12)
    p = leaf(probs)
    keras_categorical(p, smoothed, "mean").backward()
    np.testing.assert_allclose(grad, p.grad.numpy(), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("seed", range(4))
def test_categorical_normalises_rows_and_clips_as_keras(seed):
    """Rows not summing to 1 are normalised; probabilities below 1e-7 are clipped (no gradient there)."""
    _, probs, _, one_hot = case(seed, spread=12.0)  # some probabilities far below 1e-7
    probs = probs * 0.5
    assert (probs < EPS).any()
    loss, grad = losses.CategoricalCrossentropy()(probs, one_hot)
    p = leaf(probs)
    expected = keras_categorical(p, one_hot, "mean")
    expected.backward()
    assert loss == pytest.approx(expected.item(), rel=1e-12)
    np.testing.assert_allclose(grad, p.grad.numpy(), rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("smoothing", [0.0, 0.2])
@pytest.mark.parametrize("seed", range(4))
def test_binary_on_probabilities_is_binary_cross_entropy(seed, smoothing):
    rng = np.random.default_rng(seed)
    probs = rng.uniform(0.01, 0.99, (6, 3))
    target = rng.random((6, 3))
    loss, grad = losses.BinaryCrossentropy(label_smoothing=smoothing)(probs, target)
    p = leaf(probs)
    expected = TF.binary_cross_entropy(p, torch.tensor(target * (1 - smoothing) + 0.5 * smoothing))
    expected.backward()
    assert loss == pytest.approx(expected.item(), rel=1e-12)
    np.testing.assert_allclose(grad, p.grad.numpy(), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("seed", range(4))
def test_from_logits_is_torch_cross_entropy(seed):
    logits, _, labels, one_hot = case(seed)
    for loss_fn, target in (
        (losses.SparseCategoricalCrossentropy(from_logits=True), labels),
        (losses.CategoricalCrossentropy(from_logits=True), one_hot),
    ):
        loss, grad = loss_fn(logits, target)
        z = leaf(logits)
        expected = TF.cross_entropy(z, torch.tensor(target))
        expected.backward()
        assert loss == pytest.approx(expected.item(), rel=1e-12)
        np.testing.assert_allclose(grad, z.grad.numpy(), rtol=1e-10, atol=1e-13)
    target = np.random.default_rng(seed).random(logits.shape)
    loss, grad = losses.BinaryCrossentropy(from_logits=True)(logits, target)
    z = leaf(logits)
    expected = TF.binary_cross_entropy_with_logits(z, torch.tensor(target))
    expected.backward()
    assert loss == pytest.approx(expected.item(), rel=1e-12)
    np.testing.assert_allclose(grad, z.grad.numpy(), rtol=1e-10, atol=1e-13)


@pytest.mark.parametrize("seed", range(4))
def test_on_logits_equals_the_loss_through_softmax_and_sigmoid(seed):
    """The fold: loss.on_logits()(z, y) == loss(softmax(z), y) and its gradient is torch's through softmax."""
    logits, _, labels, one_hot = case(seed, spread=1.0)
    for loss_fn, target in (
        (losses.SparseCategoricalCrossentropy(), labels),
        (losses.CategoricalCrossentropy(label_smoothing=0.1), one_hot),
    ):
        folded = loss_fn.on_logits()
        assert folded.from_logits and type(folded) is type(loss_fn)
        loss, grad = folded(logits, target)
        z = leaf(logits)
        through = loss_fn(TF.softmax(z, dim=1).detach().numpy(), target)[0]
        assert loss == pytest.approx(through, rel=1e-10)
        rows = one_hot * 0.9 + 0.1 / one_hot.shape[1] if loss_fn.get_config().get("label_smoothing") else one_hot
        (-(torch.tensor(rows) * torch.log_softmax(z, 1)).sum(1).mean()).backward()
        np.testing.assert_allclose(grad, z.grad.numpy(), rtol=1e-10, atol=1e-13)
    target = np.random.default_rng(seed).random(logits.shape)
    binary = losses.BinaryCrossentropy()
    loss, grad = binary.on_logits()(logits, target)
    z = leaf(logits)
    TF.binary_cross_entropy(torch.sigmoid(z), torch.tensor(target)).backward()
    assert loss == pytest.approx(binary(torch.sigmoid(z).detach().numpy(), target)[0], rel=1e-10)
    np.testing.assert_allclose(grad, z.grad.numpy(), rtol=1e-9, atol=1e-13)
