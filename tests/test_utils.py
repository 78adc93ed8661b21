"""cnnfast.utils: Keras's to_categorical, and to_torch (a state dict torch loads with strict=True)."""

import numpy as np
import pytest

import cnnfast
from cnnfast import layers as L
from cnnfast.utils import to_categorical, to_torch


def test_to_categorical_is_one_hot_rows():
    y = np.array([2, 0, 1, 2])
    np.testing.assert_array_equal(to_categorical(y), np.eye(3)[y])
    assert to_categorical(y).dtype == np.float32
    assert to_categorical(y, 5).shape == (4, 5) and to_categorical(y, 5)[:, 3:].sum() == 0
    np.testing.assert_array_equal(to_categorical(y[:, None]), to_categorical(y))  # Keras squeezes (N, 1)
    np.testing.assert_array_equal(to_categorical([1.0, 0.0], dtype="float64"), [[0.0, 1.0], [1.0, 0.0]])
    assert to_categorical(np.zeros((2, 3), np.uint8), 2).shape == (2, 3, 2)
    assert cnnfast.utils.to_categorical is to_categorical


@pytest.mark.parametrize(
    "y, num_classes, exception, match",
    [
        (np.array([0, 3, 1]), 3, ValueError, r"label 3 at index 1 is out of range for num_classes=3 \(1 labels"),
        (np.array([0, -1]), None, ValueError, "negative label, -1"),
        (np.array([0.5, 1.0]), None, ValueError, "whole-number"),
        (np.array(["a"]), None, TypeError, "integer class labels"),
        (None, None, TypeError, "array of class labels, got NoneType"),
        (np.array([], int), None, ValueError, "needs num_classes"),
        (np.array([1]), 0, ValueError, "num_classes must be >= 1"),
    ],
)
def test_to_categorical_refuses_what_is_not_labels(y, num_classes, exception, match):
    with pytest.raises(exception, match=match):
        to_categorical(y, num_classes)


def test_to_torch_loads_strictly_into_the_torch_twin_and_a_raw_state_dict_does_not():
    torch = pytest.importorskip("torch")
    model = cnnfast.Sequential(
        [L.Conv2D(4, 3, padding="same"), L.BatchNorm2D(), L.ReLU(), L.MaxPool2D(2), L.Flatten(), L.Dense(5)],
        input_shape=(2, 6, 6),
        seed=3,
    )
    twin = torch.nn.Sequential(
        torch.nn.Conv2d(2, 4, 3, padding="same"),
        torch.nn.BatchNorm2d(4),
        torch.nn.ReLU(),
        torch.nn.MaxPool2d(2),
        torch.nn.Flatten(),
        torch.nn.Linear(36, 5),
    )
    # What the README used to promise: NumPy arrays straight into torch. torch wants tensors.
    with pytest.raises((TypeError, RuntimeError, AttributeError)):
        twin.load_state_dict(model.state_dict(), strict=True)
    twin.load_state_dict(to_torch(model), strict=True)
    twin.load_state_dict(to_torch(model.state_dict()), strict=True)
    twin.eval()
    x = np.random.default_rng(0).standard_normal((3, 2, 6, 6)).astype(np.float32)
    np.testing.assert_allclose(twin(torch.from_numpy(x)).detach().numpy(), model.predict(x), rtol=1e-5, atol=1e-6)
    with pytest.raises(TypeError, match="dict of arrays or a cnnfast layer"):
        to_torch([1, 2])
