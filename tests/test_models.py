"""cnnfast.models builders: layouts, shapes, parameter counts, seeds, save/load round trips."""

import numpy as np
import pytest

from cnnfast import layers as L
from cnnfast import models
from cnnfast.model import Sequential, load_model

BUILDERS = {
    "lenet5": models.lenet5,
    "lenet5_classic": lambda **kw: models.lenet5(classic=True, **kw),
    "lenet5_tanh": lambda **kw: models.lenet5(activation="tanh", **kw),
    "small_vgg": models.small_vgg,
    "resnet8": models.resnet8,
    "resnet20": models.resnet20,
}


def conv_params(cin, cout, k, bias=True):
    return cout * cin * k * k + (cout if bias else 0)


def dense_params(fin, fout):
    return fout * fin + fout


def bn_params(c):
    return 2 * c


def resnet_params(n, classes=10):
    total = conv_params(3, 16, 3, bias=False) + bn_params(16)
    cin = 16
    for cout in (16, 32, 64):
        for _ in range(n):
            total += conv_params(cin, cout, 3, False) + bn_params(cout) + conv_params(cout, cout, 3, False)
            total += bn_params(cout)
            if cin != cout:
                total += conv_params(cin, cout, 1, False) + bn_params(cout)
            cin = cout
    return total + dense_params(64, classes)


EXPECTED_PARAMS = {
    "lenet5": 61_706,
    "lenet5_classic": 61_706 + 2 * 6 + 2 * 16,  # S2 and S4: a coefficient and a bias per map
    "lenet5_tanh": 61_706,
    "small_vgg": (conv_params(3, 32, 3) + conv_params(32, 32, 3) + conv_params(32, 64, 3) + conv_params(64, 64, 3)
                  + conv_params(64, 128, 3) + conv_params(128, 128, 3) + 2 * bn_params(32 + 64 + 128)
                  + dense_params(128 * 4 * 4, 128) + dense_params(128, 10)),
    "resnet8": resnet_params(1),
    "resnet20": resnet_params(3),
}


def n_params(model):
    return sum(p.data.size for p in model.parameters())


def batch(model, n=3, seed=0):
    return np.random.default_rng(seed).normal(size=(n, *model.input_shape)).astype(np.float32)


@pytest.mark.parametrize("name", BUILDERS)
def test_builders_return_built_models_with_the_documented_size(name):
    model = BUILDERS[name]()
    assert isinstance(model, Sequential) and model.built and model.optimizer is None
    assert model.input_shape == ((1, 32, 32) if name.startswith("lenet5") else (3, 32, 32))
    assert n_params(model) == EXPECTED_PARAMS[name]
    logits = model.predict(batch(model))
    assert logits.shape == (3, 10) and logits.dtype == np.float32 and np.isfinite(logits).all()


def test_lenet5_layout():
    model = models.lenet5()
    assert [type(layer).__name__ for layer in model] == [
        "Conv2D", "ReLU", "MaxPool2D", "Conv2D", "ReLU", "MaxPool2D", "Conv2D", "ReLU", "Flatten", "Dense", "ReLU",
        "Dense",
    ]
    shapes = []
    shape = model.input_shape
    for layer in model:
        shape = layer.output_shape(shape)
        shapes.append(shape)
    assert shapes[0] == (6, 28, 28) and shapes[2] == (6, 14, 14)        # C1, S2
    assert shapes[3] == (16, 10, 10) and shapes[5] == (16, 5, 5)        # C3, S4
    assert shapes[6] == (120, 1, 1) and shapes[9] == (84,)              # C5, F6
    assert [type(layer).__name__ for layer in models.lenet5(activation="tanh")][1] == "Tanh"
    with pytest.raises(ValueError, match="activation"):
        models.lenet5(activation="swish")


def test_classic_lenet5_has_trainable_subsampling_and_scaled_tanh():
    model = models.lenet5(classic=True)
    kinds = [type(layer).__name__ for layer in model]
    assert kinds == [
        "Conv2D", "ScaledTanh", "Subsampling2D", "ScaledTanh", "Conv2D", "ScaledTanh", "Subsampling2D", "ScaledTanh",
        "Conv2D", "ScaledTanh", "Flatten", "Dense", "ScaledTanh", "Dense",
    ]
    assert model.state_dict()["2.weight"].shape == (6,) and model.state_dict()["6.bias"].shape == (16,)
    x = np.linspace(-3, 3, 7).reshape(1, 7)
    np.testing.assert_allclose(L.ScaledTanh()(x), 1.7159 * np.tanh(2 * x / 3), rtol=1e-12)
    # The subsampling coefficients and biases train.
    model.compile("sgd", lr=0.1)
    before = model.state_dict()
    model.train_on_batch(batch(model, 8), np.arange(8))
    after = model.state_dict()
    for key in ("2.weight", "2.bias", "6.weight", "6.bias"):
        assert not np.array_equal(before[key], after[key]), key


def test_num_classes_seed_and_dtype():
    assert models.lenet5(num_classes=5).predict(np.zeros((2, 1, 32, 32), np.float32)).shape == (2, 5)
    assert models.resnet8(num_classes=3).predict(np.zeros((2, 3, 32, 32), np.float32)).shape == (2, 3)
    assert models.small_vgg(num_classes=100).predict(np.zeros((1, 3, 32, 32), np.float32)).shape == (1, 100)
    for a, b in zip(models.resnet8(seed=4).get_weights(), models.resnet8(seed=4).get_weights()):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(models.lenet5(seed=1).get_weights()[0], models.lenet5(seed=2).get_weights()[0])
    model = models.lenet5(dtype="float64")
    assert model.predict(np.zeros((1, 1, 32, 32))).dtype == np.float64
    mnist_resnet = models.resnet8(input_shape=(1, 28, 28))
    assert mnist_resnet.predict(np.zeros((2, 1, 28, 28), np.float32)).shape == (2, 10)


def test_lenet5_learns_a_small_problem():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 96)
    x = rng.normal(0, 0.3, (96, 1, 32, 32)).astype(np.float32)
    for k in range(3):  # class k: a bright horizontal band at rows 8k..8k+8
        x[y == k, 0, 8 * k + 4:8 * k + 12, 4:28] += 1.0
    for classic in (False, True):
        model = models.lenet5(classic=classic, num_classes=3)
        model.compile("sgd", lr=0.05, momentum=0.9)
        model.fit(x, y, epochs=4, batch_size=16, verbose=0)
        assert model.evaluate(x, y)[1] > 0.9, classic


@pytest.mark.parametrize("name", BUILDERS)
def test_save_load_round_trip_is_bitwise(tmp_path, name):
    model = BUILDERS[name]()
    x = batch(model, 4)
    if any(isinstance(layer, (L.BatchNorm2D, L.Residual)) for layer in model):
        model.compile("sgd", lr=0.01)
        model.train_on_batch(x, np.arange(4))  # running statistics move away from their defaults
    model.save(tmp_path / f"{name}.npz")
    loaded = load_model(tmp_path / f"{name}.npz")
    assert loaded.get_config() == model.get_config()
    np.testing.assert_array_equal(loaded.predict(x), model.predict(x))
    for (key, a), b in zip(model.state_dict().items(), loaded.state_dict().values()):
        np.testing.assert_array_equal(a, b, err_msg=key)
