"""cnnfast.losses: values and gradients by hand and by central differences; bad input.

Hand values are small cases worked out on paper (noted next to each); every
gradient is also checked against central finite differences of the loss in
float64. The comparison with torch.nn.functional is in test_optim_vs_torch.py.
"""

import math

import numpy as np
import pytest

from cnnfast import losses
from cnnfast.losses import (
    BCEWithLogitsLoss,
    BinaryCrossentropy,
    CategoricalCrossentropy,
    CrossEntropyLoss,
    MSELoss,
    SparseCategoricalCrossentropy,
)


def numerical_grad(loss_fn, pred, target, h=1e-6):
    """Central differences of loss_fn(pred, target)[0] with respect to every entry of pred."""
    grad = np.zeros_like(pred)
    for idx in np.ndindex(pred.shape):
        plus, minus = pred.copy(), pred.copy()
        plus[idx] += h
        minus[idx] -= h
        grad[idx] = (loss_fn(plus, target)[0] - loss_fn(minus, target)[0]) / (2 * h)
    return grad


# -------------------------------------------------------- cross-entropy


def test_cross_entropy_by_hand():
    # two equal logits: p = (1/2, 1/2); loss ln 2; grad p - onehot
    loss, grad = CrossEntropyLoss()(np.array([[0.0, 0.0]]), np.array([0]))
    assert loss == pytest.approx(math.log(2), rel=1e-14)
    np.testing.assert_allclose(grad, [[-0.5, 0.5]], rtol=1e-14)
    # logits (1, 2, 3), label 2: loss = log(e + e^2 + e^3) - 3
    loss, grad = CrossEntropyLoss()(np.array([[1.0, 2.0, 3.0]]), np.array([2]))
    z = math.e + math.e**2 + math.e**3
    assert loss == pytest.approx(math.log(z) - 3.0, rel=1e-14)
    np.testing.assert_allclose(grad, [[math.e / z, math.e**2 / z, math.e**3 / z - 1.0]], rtol=1e-13)


def test_cross_entropy_mean_and_sum():
    # rows: ln 2 (as above) and, logits (0, ln 3) label 1: p = (1/4, 3/4), loss -ln(3/4)
    pred = np.array([[0.0, 0.0], [0.0, math.log(3.0)]])
    target = np.array([1, 1])
    total, grad_sum = CrossEntropyLoss(reduction="sum")(pred, target)
    assert total == pytest.approx(math.log(2) - math.log(0.75), rel=1e-14)
    np.testing.assert_allclose(grad_sum, [[0.5, -0.5], [0.25, -0.25]], rtol=1e-13)
    mean, grad_mean = CrossEntropyLoss()(pred, target)
    assert mean == pytest.approx(total / 2, rel=1e-14)
    np.testing.assert_allclose(grad_mean, grad_sum / 2, rtol=1e-14)


def test_cross_entropy_label_smoothing_by_hand():
    # p = (1/4, 3/4), label 1, eps = 0.2, C = 2: target (0.1, 0.9)
    pred = np.array([[0.0, math.log(3.0)]])
    loss, grad = CrossEntropyLoss(label_smoothing=0.2)(pred, np.array([1]))
    assert loss == pytest.approx(-(0.1 * math.log(0.25) + 0.9 * math.log(0.75)), rel=1e-14)
    np.testing.assert_allclose(grad, [[0.15, -0.15]], rtol=1e-13)
    # same thing given as probabilities (smoothing applies to them too)
    loss2, grad2 = CrossEntropyLoss(label_smoothing=0.2)(pred, np.array([[0.0, 1.0]]))
    assert loss2 == pytest.approx(loss, rel=1e-14)
    np.testing.assert_allclose(grad2, grad, rtol=1e-13)


def test_cross_entropy_soft_targets_not_summing_to_one():
    # d/dx of -sum_c t_c log p_c is p * sum(t) - t
    pred = np.array([[0.0, math.log(3.0)]])
    loss, grad = CrossEntropyLoss()(pred, np.array([[1.0, 1.0]]))
    assert loss == pytest.approx(-(math.log(0.25) + math.log(0.75)), rel=1e-14)
    np.testing.assert_allclose(grad, [[0.25 * 2 - 1, 0.75 * 2 - 1]], rtol=1e-13)


@pytest.mark.parametrize("dtype", [np.int8, np.uint8, np.int16, np.int32, np.int64, np.uint64])
def test_cross_entropy_any_integer_label_dtype_equals_one_hot(dtype):
    rng = np.random.default_rng(0)
    pred = rng.standard_normal((6, 4))
    labels = np.array([0, 3, 1, 2, 2, 0], dtype=dtype)
    one_hot = np.eye(4)[labels.astype(np.int64)]
    loss, grad = CrossEntropyLoss()(pred, labels)
    loss2, grad2 = CrossEntropyLoss()(pred, one_hot)
    assert loss == pytest.approx(loss2, rel=1e-14)
    np.testing.assert_allclose(grad, grad2, rtol=1e-13, atol=1e-16)
    # integer and boolean one-hot rows are probabilities too
    loss3, _ = CrossEntropyLoss()(pred, one_hot.astype(bool))
    assert loss3 == pytest.approx(loss2, rel=1e-14)


@pytest.mark.parametrize("smoothing", [0.0, 0.1])
@pytest.mark.parametrize("reduction", ["mean", "sum"])
@pytest.mark.parametrize("soft", [False, True])
def test_cross_entropy_gradient_matches_finite_differences(smoothing, reduction, soft):
    rng = np.random.default_rng(1)
    pred = rng.standard_normal((5, 4)) * 3
    if soft:
        target = rng.random((5, 4))
        target /= target.sum(axis=1, keepdims=True)
    else:
        target = rng.integers(0, 4, size=5)
    loss_fn = CrossEntropyLoss(label_smoothing=smoothing, reduction=reduction)
    _, grad = loss_fn(pred, target)
    np.testing.assert_allclose(grad, numerical_grad(loss_fn, pred, target), rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_cross_entropy_huge_logits_are_stable(dtype):
    pred = np.array([[1e4, -1e4, 0.0], [-1e4, -1e4, -1e4]], dtype=dtype)
    loss, grad = CrossEntropyLoss(reduction="sum")(pred, np.array([1, 2]))
    # row 0: log-sum-exp is 1e4 (the others underflow), so -log p_1 = 2e4; row 1: uniform, ln 3
    assert loss == pytest.approx(2e4 + math.log(3), rel=1e-6)
    assert grad.dtype == dtype and np.all(np.isfinite(grad))
    np.testing.assert_allclose(grad, [[1.0, -1.0, 0.0], [1 / 3, 1 / 3, -2 / 3]], rtol=1e-6, atol=1e-7)


# ----------------------------------------------------------------- MSE


def test_mse_by_hand():
    loss, grad = MSELoss()(np.array([[1.0, 2.0]]), np.array([[0.0, 0.0]]))
    assert loss == 2.5  # (1 + 4) / 2
    np.testing.assert_array_equal(grad, [[1.0, 2.0]])  # 2 (x - y) / 2
    loss, grad = MSELoss(reduction="sum")(np.array([1.0, 2.0, 3.0]), np.array([1.0, 0.0, 5.0]))
    assert loss == 8.0
    np.testing.assert_array_equal(grad, [0.0, 4.0, -4.0])


def test_mse_gradient_matches_finite_differences():
    rng = np.random.default_rng(2)
    pred, target = rng.standard_normal((3, 2, 2)), rng.standard_normal((3, 2, 2))
    for reduction in ("mean", "sum"):
        loss_fn = MSELoss(reduction)
        np.testing.assert_allclose(loss_fn(pred, target)[1], numerical_grad(loss_fn, pred, target), rtol=1e-6)


# ----------------------------------------------------------------- BCE


def test_bce_with_logits_by_hand():
    # x = 0: sigma = 1/2; loss ln 2 for either label; grad (1/2 - y) / 2
    loss, grad = BCEWithLogitsLoss()(np.array([0.0, 0.0]), np.array([1.0, 0.0]))
    assert loss == pytest.approx(math.log(2), rel=1e-14)
    np.testing.assert_allclose(grad, [-0.25, 0.25], rtol=1e-14)
    # x = ln 3: sigma = 3/4; y = 1/2: loss = -(1/2) ln(3/4) - (1/2) ln(1/4)
    loss, grad = BCEWithLogitsLoss()(np.array([math.log(3.0)]), np.array([0.5]))
    assert loss == pytest.approx(-0.5 * math.log(0.75) - 0.5 * math.log(0.25), rel=1e-14)
    np.testing.assert_allclose(grad, [0.25], rtol=1e-13)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_bce_with_logits_huge_logits_are_stable(dtype):
    pred = np.array([1e4, -1e4, 1e4, -1e4], dtype=dtype)
    loss, grad = BCEWithLogitsLoss(reduction="sum")(pred, np.array([1, 1, 0, 0]))
    assert loss == pytest.approx(2e4, rel=1e-6)  # the two wrong-signed logits cost 1e4 each
    assert grad.dtype == dtype
    np.testing.assert_array_equal(grad, [0.0, -1.0, 1.0, 0.0])


def test_bce_with_logits_gradient_matches_finite_differences():
    rng = np.random.default_rng(3)
    pred, target = rng.standard_normal((4, 3)) * 4, rng.random((4, 3))
    for reduction in ("mean", "sum"):
        loss_fn = BCEWithLogitsLoss(reduction)
        np.testing.assert_allclose(loss_fn(pred, target)[1], numerical_grad(loss_fn, pred, target),
                                   rtol=1e-6, atol=1e-10)


# ------------------------------------------------------- shared behaviour

CASES = [
    (CrossEntropyLoss(), lambda rng: rng.integers(0, 3, size=4)),
    (CrossEntropyLoss(label_smoothing=0.1), lambda rng: np.eye(3)[rng.integers(0, 3, size=4)]),
    (MSELoss(), lambda rng: rng.standard_normal((4, 3))),
    (BCEWithLogitsLoss(), lambda rng: rng.random((4, 3))),
]


@pytest.mark.parametrize("loss_fn, make_target", CASES, ids=lambda c: repr(c) if isinstance(c, losses.Loss) else "")
def test_float32_in_float32_out_and_pred_untouched(loss_fn, make_target):
    rng = np.random.default_rng(4)
    pred = rng.standard_normal((4, 3)).astype(np.float32)
    before = pred.copy()
    target = make_target(rng)
    loss, grad = loss_fn(pred, target)
    assert type(loss) is float
    assert grad.shape == pred.shape and grad.dtype == np.float32
    np.testing.assert_array_equal(pred, before)
    loss64, grad64 = loss_fn(pred.astype(np.float64), target)
    assert loss == pytest.approx(loss64, rel=1e-5)
    np.testing.assert_allclose(grad, grad64, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("loss_fn, pred, target, exc, match", [
    (CrossEntropyLoss(), np.zeros((2, 3)), np.array([0, 3]), ValueError,
     r"target label 3 at index 1 is out of range for 3 classes"),
    (CrossEntropyLoss(), np.zeros((2, 3)), np.array([-1, 0]), ValueError, r"target label -1 at index 0"),
    (CrossEntropyLoss(), np.zeros((2, 3)), np.array([0, 1, 2]), ValueError,
     r"class-index target shape \(3,\) does not match pred shape \(2, 3\)"),
    (CrossEntropyLoss(), np.zeros((2, 3)), np.zeros((3, 2)), ValueError,
     r"target shape \(3, 2\) does not match pred shape \(2, 3\)"),
    (CrossEntropyLoss(), np.zeros((2, 3)), np.zeros((2, 3, 1)), ValueError, r"got shape \(2, 3, 1\)"),
    (CrossEntropyLoss(), np.zeros((2, 3, 4)), np.array([0, 1]), ValueError, r"\(N, C\), got shape \(2, 3, 4\)"),
    (CrossEntropyLoss(), np.zeros((2, 3)), np.array([0.0, 1.0]), TypeError, "integer dtype, got float64"),
    (CrossEntropyLoss(), np.zeros((2, 3), dtype=np.int64), np.array([0, 1]), TypeError,
     "pred must have a floating dtype, got int64"),
    (CrossEntropyLoss(), np.zeros((0, 3)), np.zeros(0, dtype=int), ValueError, "empty"),
    (MSELoss(), np.zeros((2, 3)), np.zeros((3, 2)), ValueError,
     r"target shape \(3, 2\) does not match pred shape \(2, 3\)"),
    (MSELoss(), np.zeros((2, 3)), np.zeros(3), ValueError, r"target shape \(3,\)"),
    (MSELoss(), np.zeros(3, dtype=np.int32), np.zeros(3), TypeError, "floating dtype, got int32"),
    (MSELoss(), np.zeros(3), np.array(["a", "b", "c"]), TypeError, "real numeric dtype"),
    (BCEWithLogitsLoss(), np.zeros((4, 1)), np.zeros(4), ValueError,
     r"target shape \(4,\) does not match pred shape \(4, 1\)"),
    (BCEWithLogitsLoss(), np.zeros(4, dtype=bool), np.zeros(4), TypeError, "floating dtype, got bool"),
])
def test_bad_input(loss_fn, pred, target, exc, match):
    with pytest.raises(exc, match=match):
        loss_fn(pred, target)


def test_bad_constructor_arguments():
    with pytest.raises(ValueError, match="reduction"):
        MSELoss(reduction="none")
    with pytest.raises(ValueError, match="label_smoothing"):
        CrossEntropyLoss(label_smoothing=1.5)
    with pytest.raises(TypeError, match="label_smoothing"):
        CrossEntropyLoss(label_smoothing="0.1")


def test_get():
    for name, cls in [("cross_entropy", CrossEntropyLoss), ("categorical_crossentropy", CategoricalCrossentropy),
                      ("Sparse_Categorical_Crossentropy", SparseCategoricalCrossentropy), ("mse", MSELoss),
                      ("bce_with_logits", BCEWithLogitsLoss), ("binary_crossentropy", BinaryCrossentropy)]:
        assert type(losses.get(name)) is cls
    assert losses.get("cross_entropy", label_smoothing=0.1).label_smoothing == 0.1
    # Keras's names take probabilities, as in Keras; from_logits=True for logits.
    assert losses.get("categorical_crossentropy").from_logits is False
    assert losses.get("binary_crossentropy", from_logits=True).from_logits is True
    instance = MSELoss(reduction="sum")
    assert losses.get(instance) is instance
    assert type(losses.get(BCEWithLogitsLoss)) is BCEWithLogitsLoss

    def my_loss(pred, target):
        return 0.0, np.zeros_like(pred)

    assert losses.get(my_loss) is my_loss
    with pytest.raises(ValueError, match="unknown loss 'hinge'.*cross_entropy"):
        losses.get("hinge")
    with pytest.raises(TypeError, match="got int"):
        losses.get(3)
    with pytest.raises(TypeError, match="must subclass"):
        losses.get(dict)


def test_config_round_trip():
    loss_fn = CrossEntropyLoss(label_smoothing=0.1, reduction="sum")
    twin = type(loss_fn)(**loss_fn.get_config())
    pred, target = np.array([[0.5, -1.0, 2.0]]), np.array([1])
    assert twin(pred, target)[0] == loss_fn(pred, target)[0]
    assert repr(loss_fn) == "CrossEntropyLoss(label_smoothing=0.1, reduction='sum')"


# ------------------------------------------------ Keras's cross-entropies (issue 15)
# (torch comparisons in test_losses_vs_torch.py)


def _probabilities(rng, shape):
    z = rng.standard_normal(shape)
    p = np.exp(z - z.max(axis=1, keepdims=True))
    return p / p.sum(axis=1, keepdims=True)


def test_categorical_crossentropy_by_hand():
    # p = (1/4, 3/4), one-hot (0, 1): loss -ln(3/4); d/dp = (g - sum g q) / S with g = (0, -4/3), S = 1
    loss, grad = CategoricalCrossentropy()(np.array([[0.25, 0.75]]), np.array([[0.0, 1.0]]))
    assert loss == pytest.approx(-math.log(0.75), rel=1e-14)
    np.testing.assert_allclose(grad, [[1.0, 1.0 - 4.0 / 3.0]], rtol=1e-14)
    # the same row halved (S = 1/2): Keras normalises it (the same loss), and the gradient doubles
    loss2, grad2 = CategoricalCrossentropy()(np.array([[0.125, 0.375]]), np.array([[0.0, 1.0]]))
    assert loss2 == pytest.approx(-math.log(0.75), rel=1e-14)
    np.testing.assert_allclose(grad2, 2 * grad, rtol=1e-14)


KERAS_LOSSES = [
    (CategoricalCrossentropy(), lambda rng: np.eye(4)[rng.integers(0, 4, 5)], "probs"),
    (CategoricalCrossentropy(label_smoothing=0.2, reduction="sum"), lambda rng: np.eye(4)[rng.integers(0, 4, 5)],
     "probs"),
    (SparseCategoricalCrossentropy(), lambda rng: rng.integers(0, 4, 5), "probs"),
    (BinaryCrossentropy(label_smoothing=0.1), lambda rng: rng.random((5, 4)), "unit"),
    (CategoricalCrossentropy(from_logits=True), lambda rng: np.eye(4)[rng.integers(0, 4, 5)], "logits"),
    (SparseCategoricalCrossentropy(from_logits=True), lambda rng: rng.integers(0, 4, 5), "logits"),
    (BinaryCrossentropy(from_logits=True), lambda rng: rng.random((5, 4)), "logits"),
]


@pytest.mark.parametrize("loss_fn, make_target, kind", KERAS_LOSSES, ids=repr)
def test_keras_losses_gradients_match_finite_differences(loss_fn, make_target, kind):
    rng = np.random.default_rng(11)
    pred = {"probs": lambda: _probabilities(rng, (5, 4)), "unit": lambda: rng.uniform(0.05, 0.95, (5, 4)),
            "logits": lambda: rng.standard_normal((5, 4)) * 2}[kind]()
    target = make_target(rng)
    _, grad = loss_fn(pred, target)
    np.testing.assert_allclose(grad, numerical_grad(loss_fn, pred, target), rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_keras_losses_from_logits_and_folded_are_stable_for_huge_logits(dtype):
    logits = np.array([[1e4, -1e4, 0.0], [-3e4, 2e4, 1e4]], dtype=dtype)
    labels = np.array([1, 0])
    for loss_fn, target in ((SparseCategoricalCrossentropy().on_logits(), labels),
                            (CategoricalCrossentropy(from_logits=True), np.eye(3)[labels]),
                            (BinaryCrossentropy().on_logits(), np.eye(3)[labels])):
        loss, grad = loss_fn(logits, target)
        assert np.isfinite(loss) and np.all(np.isfinite(grad)) and grad.dtype == dtype, loss_fn
    # Confidently wrong: the loss is the logit gap (2e4 and 5e4 -> mean 3.5e4), not a clipped 16.1.
    assert SparseCategoricalCrossentropy(from_logits=True)(logits, labels)[0] == pytest.approx(3.5e4, rel=1e-6)


def test_probabilities_are_clipped_as_keras_so_a_certain_mistake_costs_log_1e7():
    loss, grad = SparseCategoricalCrossentropy()(np.array([[1.0, 0.0]]), np.array([1]))
    assert loss == pytest.approx(-math.log(1e-7), rel=1e-9)
    assert np.all(np.isfinite(grad))


@pytest.mark.parametrize("loss_fn, pred, target, match", [
    (CategoricalCrossentropy(), np.full((2, 3), 1 / 3), np.array([0, 2]),
     r"categorical_crossentropy needs one-hot targets of shape \(2, 3\), got integer labels of shape \(2,\): "
     r"use loss='sparse_categorical_crossentropy', or one-hot encode them with cnnfast.utils.to_categorical\(y, 3\)"),
    (SparseCategoricalCrossentropy(), np.full((2, 3), 1 / 3), np.eye(3)[[0, 2]],
     r"needs integer labels of shape \(2,\), got rows of shape \(2, 3\): use loss='categorical_crossentropy'"),
    (SparseCategoricalCrossentropy(), np.full((2, 3), 1 / 3), np.array([0.5, 1.0]), "whole-number labels"),
    (SparseCategoricalCrossentropy(), np.full((2, 3), 1 / 3), np.array([0, 3]), "out of range for 3 classes"),
    (CategoricalCrossentropy(), np.array([[2.0, -1.0, 0.5]]), np.eye(3)[[0]],
     r"categorical_crossentropy takes probabilities \(from_logits=False\), but pred holds values in "
     r"\[-1, 2\], which look like logits: end the model with Softmax\(\) .*CategoricalCrossentropy\(from_logits=True\)"),
    (BinaryCrossentropy(), np.array([[0.2, 1.5]]), np.array([[0.0, 1.0]]), r"end the model with Sigmoid\(\)"),
    (CategoricalCrossentropy(), np.zeros((2, 3, 1)), np.zeros((2, 3, 1)), r"pred must have shape \(N, C\)"),
])
def test_keras_losses_refuse_the_wrong_kind_of_target_or_pred(loss_fn, pred, target, match):
    with pytest.raises(ValueError, match=match):
        loss_fn(pred, target)


def test_sparse_accepts_column_labels_and_whole_floats_as_keras():
    probs = _probabilities(np.random.default_rng(0), (4, 3))
    labels = np.array([2, 0, 1, 1])
    expected = SparseCategoricalCrossentropy()(probs, labels)[0]
    assert SparseCategoricalCrossentropy()(probs, labels[:, None])[0] == expected
    assert SparseCategoricalCrossentropy()(probs, labels.astype(np.float32))[0] == expected


def test_keras_losses_config_round_trip():
    for loss_fn in (CategoricalCrossentropy(from_logits=True, label_smoothing=0.1, reduction="sum"),
                    SparseCategoricalCrossentropy(), BinaryCrossentropy(label_smoothing=0.3)):
        twin = losses.get(type(loss_fn), **loss_fn.get_config())
        assert twin.get_config() == loss_fn.get_config()
    with pytest.raises(TypeError, match="from_logits must be True or False"):
        CategoricalCrossentropy(from_logits="yes")
    with pytest.raises(TypeError, match="pred must be a NumPy array, got list"):
        CategoricalCrossentropy()([[0.5, 0.5]], np.eye(2)[[0]])
