"""A final softmax / sigmoid and the loss: Keras's fold, the double-softmax warning, accuracy of probabilities.

A model ending in ``Softmax`` (or ``Dense(..., activation="softmax")``,
``Activation("softmax")``) compiled with ``categorical_crossentropy`` must
train exactly as the same model without the Softmax trained on logits with
``cross_entropy``: the step computes the loss from the logits (issue 15; it
used to apply a second softmax and learn worse).
"""

import warnings

import numpy as np
import pytest

from cnnfast import layers as L
from cnnfast.layers import Sequential
from cnnfast.training.objective import Objective

from synthetic_data import quadrant_data


def body():
    return [L.Conv2D(4, 3), L.Tanh(), L.Flatten(), L.Dense(16), L.Tanh()]


def model(*head, seed=0):
    return Sequential([*body(), *head], input_shape=(1, 8, 8), seed=seed)


@pytest.fixture(scope="module")
def data():
    (x, y), (xt, yt) = quadrant_data(256, 0), quadrant_data(128, 1)
    return x, y, xt, yt


def train(net, loss, x, y, epochs=3, **compile_kwargs):
    net.compile("sgd", loss=loss, lr=0.1, momentum=0.9, nesterov=True, **compile_kwargs)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the folded pattern must not warn
        history = net.fit(x, y, batch_size=32, epochs=epochs, validation_split=0.25, verbose=0)
    return history


def assert_same_weights(a, b):
    """The folded model holds the logits model's weights (the Softmax has none)."""
    for wa, wb in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_allclose(wa, wb, rtol=2e-5, atol=1e-6)


@pytest.mark.parametrize(
    "head",
    [
        lambda: [L.Dense(4), L.Softmax()],
        lambda: [L.Dense(4), L.Activation("softmax")],
        lambda: [L.Dense(4, activation="softmax")],
    ],
    ids=["Softmax", "Activation", "Dense-activation"],
)
@pytest.mark.parametrize(
    "loss, one_hot", [("categorical_crossentropy", True), ("sparse_categorical_crossentropy", False)]
)
def test_softmax_output_with_keras_loss_trains_as_the_logits_model(data, head, loss, one_hot):
    x, y, xt, yt = data
    target, test_target = (np.eye(4, dtype=np.float32)[y], np.eye(4, dtype=np.float32)[yt]) if one_hot else (y, yt)
    folded, logits = model(*head()), model(L.Dense(4))
    h_folded = train(folded, loss, x, target)
    h_logits = train(logits, "cross_entropy", x, y)
    np.testing.assert_allclose(h_folded.history["loss"], h_logits.history["loss"], rtol=1e-5)
    np.testing.assert_allclose(h_folded.history["val_loss"], h_logits.history["val_loss"], rtol=1e-5)
    assert h_folded.history["accuracy"] == h_logits.history["accuracy"]
    assert_same_weights(folded, logits)
    # evaluate folds too, and predict gives the probabilities of the logits model's outputs.
    assert folded.evaluate(xt, test_target, return_dict=True)["loss"] == pytest.approx(
        logits.evaluate(xt, yt, return_dict=True)["loss"], rel=1e-5
    )
    probabilities = folded.predict(xt)
    z = logits.predict(xt)
    expected = np.exp(z - z.max(1, keepdims=True))
    np.testing.assert_allclose(probabilities, expected / expected.sum(1, keepdims=True), rtol=1e-4, atol=1e-6)


def test_sigmoid_output_with_binary_crossentropy_trains_as_the_logits_model(data):
    x, y, xt, yt = data
    target = (y >= 2).astype(np.float32)[:, None]  # bottom half of the image is brighter
    folded, logits = model(L.Dense(1), L.Sigmoid()), model(L.Dense(1))
    h_folded = train(folded, "binary_crossentropy", x, target)
    h_logits = train(logits, "bce_with_logits", x, target)
    np.testing.assert_allclose(h_folded.history["loss"], h_logits.history["loss"], rtol=1e-5)
    assert h_folded.history["accuracy"] == h_logits.history["accuracy"]
    assert_same_weights(folded, logits)
    # Accuracy of probabilities thresholds at 0.5 (of logits at 0), and it is the real one.
    test_target = (yt >= 2).astype(np.float32)[:, None]
    accuracy = folded.evaluate(xt, test_target, return_dict=True)["accuracy"]
    assert accuracy == np.mean((folded.predict(xt) > 0.5) == test_target) > 0.9


def test_sigmoid_output_with_mse_counts_accuracy_at_one_half(data):
    x, y, xt, yt = data
    net = model(L.Dense(1), L.Sigmoid())
    net.compile("sgd", loss="mse", lr=0.5)
    target = (yt >= 2).astype(np.float32)[:, None]
    assert net.evaluate(xt, target, return_dict=True)["accuracy"] == np.mean((net.predict(xt) > 0.5) == target)


def test_the_fold_is_stable_where_probabilities_are_not():
    """Logits of +-1e4: the folded loss is the logit gap (finite, with a gradient); clipped probabilities stall."""
    net = Sequential([L.Dense(3, use_bias=False), L.Softmax()], input_shape=(2,), seed=0)
    net[0].weight.data[...] = [[1e4, 0.0], [0.0, 0.0], [-1e4, 0.0]]
    net.compile("sgd", loss="sparse_categorical_crossentropy", lr=1.0)
    x, y = np.array([[1.0, 0.0]], np.float32), np.array([2])
    assert net.evaluate(x, y)[0] == pytest.approx(2e4, rel=1e-6)
    before = net[0].weight.data.copy()
    net.train_on_batch(x, y)
    assert np.all(np.isfinite(net[0].weight.data)) and not np.array_equal(net[0].weight.data, before)


def test_cross_entropy_after_a_softmax_warns_about_the_double_softmax(data):
    x, y, _, _ = data
    net = model(L.Dense(4), L.Softmax())
    net.compile("sgd", loss="cross_entropy", lr=0.1)
    with pytest.warns(
        UserWarning,
        match=r"ends with a softmax .* the loss 'cross_entropy' takes logits: the softmax "
        r"is applied twice .*'categorical_crossentropy'",
    ):
        net.fit(x, y, epochs=1, verbose=0)
    with pytest.warns(UserWarning, match="applied twice"):
        net.evaluate(x, y)
    sigmoid = model(L.Dense(1, activation="sigmoid"))
    sigmoid.compile("sgd", loss="bce_with_logits")
    with pytest.warns(UserWarning, match=r"ends with a sigmoid .*loss='binary_crossentropy'"):
        sigmoid.train_on_batch(x, (y >= 2).astype(np.float32)[:, None])


def test_a_probabilities_loss_on_a_logits_model_is_refused_with_the_fix(data):
    x, y, _, _ = data
    net = model(L.Dense(4))
    net.compile("sgd", loss="categorical_crossentropy")
    with pytest.raises(
        ValueError,
        match=r"categorical_crossentropy takes probabilities .* look like logits: end the "
        r"model with Softmax\(\)",
    ):
        net.fit(x, np.eye(4, dtype=np.float32)[y], epochs=1, verbose=0)


def test_integer_labels_with_categorical_crossentropy_are_refused_naming_the_sparse_loss(data):
    x, y, _, _ = data
    net = model(L.Dense(4), L.Softmax())
    net.compile("sgd", loss="categorical_crossentropy")
    with pytest.raises(
        ValueError,
        match=r"got integer labels of shape \(32,\): use "
        r"loss='sparse_categorical_crossentropy'.*to_categorical\(y, 4\)",
    ):
        net.fit(x, y, epochs=1, verbose=0)


def test_objective_says_what_it_folds():
    net = model(L.Dense(4), L.Softmax())
    for loss, folded in (("categorical_crossentropy", True), ("cross_entropy", False), ("mse", False)):
        net.compile("sgd", loss=loss)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            assert Objective(net).folded is folded, loss
    from cnnfast.losses import CategoricalCrossentropy

    net.compile("sgd", loss=CategoricalCrossentropy(from_logits=True))
    with pytest.warns(UserWarning, match="applied twice"):
        assert Objective(net).folded is False
