"""cnnfast.gradcheck: passes correct backwards, catches wrong ones, leaves the layer alone."""

import numpy as np
import pytest

from cnnfast import layers as L
from cnnfast.gradcheck import gradcheck


def rand(shape, seed=0, dtype=np.float64):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


class WrongWeightGrad(L.Dense):
    """Dense whose weight gradient is off by 1% in one entry."""

    def _backward(self, grad_y):
        grad_x = super()._backward(grad_y)
        self.weight.grad[1, 2] *= 1.01
        return grad_x


class WrongInputGrad(L.Dense):
    """Dense whose input gradient forgets the last feature."""

    def _backward(self, grad_y):
        grad_x = super()._backward(grad_y).copy()
        grad_x[:, -1] = 0.0
        return grad_x


class NoBiasGrad(L.Dense):
    def _backward(self, grad_y):
        grad_x = super()._backward(grad_y)
        self.bias.grad = None
        return grad_x


class Square(L.Layer):
    """A user-written layer: y = scale * x**2 with a learned scalar ``scale``."""

    _owns_parameters = True

    def _build(self, input_shape, rng):
        self.scale = L.Parameter(np.full((1,), 1.5, dtype=self.dtype))

    def _forward(self, x, training):
        if training:
            self._cache = x
        return self.scale.data * x * x

    def _backward(self, grad_y):
        x = self._cache
        self.scale.grad = np.array([np.sum(grad_y * x * x)], dtype=x.dtype)
        return 2 * self.scale.data * x * grad_y


def test_passes_a_correct_backward_and_returns_true():
    assert gradcheck(L.Dense(3), rand((2, 4))) is True
    assert gradcheck(Square(), rand((2, 3))) is True


def test_catches_a_wrong_parameter_gradient_and_names_the_entry():
    with pytest.raises(AssertionError, match=r"worst entry weight\[1, 2\]"):
        gradcheck(WrongWeightGrad(3), rand((2, 4)))


def test_catches_a_wrong_input_gradient_and_names_the_entry():
    with pytest.raises(AssertionError, match=r"worst entry x\[\d, 3\]: numeric .* analytic 0"):
        gradcheck(WrongInputGrad(3), rand((2, 4)))


def test_catches_a_missing_parameter_gradient():
    with pytest.raises(AssertionError, match="bias"):
        gradcheck(NoBiasGrad(3), rand((2, 4)))


def test_catches_a_wrong_gradient_inside_a_container():
    model = L.Sequential([L.Dense(4), L.Tanh(), WrongWeightGrad(3)])
    with pytest.raises(AssertionError, match=r"2\.weight\[1, 2\]"):
        gradcheck(model, rand((2, 5)))


def test_works_on_a_float64_copy_and_leaves_the_layer_untouched():
    layer = L.Sequential([L.Dense(3), L.BatchNorm1D()])
    layer.build((4,), np.random.default_rng(0))
    before = layer.state_dict()
    assert gradcheck(layer, rand((5, 4), dtype=np.float32))
    after = layer.state_dict()
    for key, value in before.items():
        assert after[key].dtype == value.dtype
        np.testing.assert_array_equal(after[key], value, err_msg=key)
    assert all(p.grad is None for p in layer.parameters())


def test_builds_an_unbuilt_layer_on_the_copy_only():
    layer = L.Conv2D(2, 3)
    assert gradcheck(layer, rand((1, 2, 4, 4)))
    assert not layer.built


def test_replays_random_draws_so_dropout_checks():
    model = L.Sequential([L.Dense(6), L.Dropout(0.5), L.Dense(2)])
    assert gradcheck(model, rand((3, 4), dtype=np.float32))


def test_tolerances_decide():
    # A 1% error passes when rtol allows it and fails when it does not.
    assert gradcheck(WrongWeightGrad(3), rand((2, 4)), rtol=0.05, atol=1e-3)
    with pytest.raises(AssertionError):
        gradcheck(WrongWeightGrad(3), rand((2, 4)), rtol=1e-4, atol=1e-6)


def test_bad_arguments():
    with pytest.raises(TypeError, match="Layer"):
        gradcheck(lambda x: x, rand((2, 2)))
    with pytest.raises(ValueError, match="eps"):
        gradcheck(L.ReLU(), rand((2, 2)), eps=0)
    with pytest.raises(TypeError, match="real"):
        gradcheck(L.ReLU(), np.ones((2, 2), dtype=complex))
