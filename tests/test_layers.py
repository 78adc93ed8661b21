"""cnnfast.layers: gradients, backends, shapes, state, serialization, errors."""

import copy
import json
import weakref

import numpy as np
import pytest

from cnnfast import functional as F
from cnnfast import layers as L
from cnnfast.gradcheck import gradcheck
from cnnfast.layers import initializers


def rand(shape, seed=0, dtype=np.float64):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


# Every layer in the configurations that matter, with a small input shape.
# Parameters are drawn by non-trivial initializers where the default (ones,
# zeros) would hide a wrong gradient.
LAYER_CASES = {
    "conv_same_odd": (lambda: L.Conv2D(3, 3, padding="same"), (2, 2, 5, 5)),
    "conv_same_even": (lambda: L.Conv2D(2, (2, 4), padding="same"), (2, 2, 5, 6)),
    "conv_same_dilated": (lambda: L.Conv2D(2, (2, 3), padding="same", dilation=(3, 2)), (2, 1, 6, 6)),
    "conv_strided_grouped": (lambda: L.Conv2D(4, 3, stride=2, padding=1, groups=2), (2, 2, 6, 5)),
    "conv_valid_nobias": (lambda: L.Conv2D(2, 2, padding="valid", use_bias=False), (2, 3, 4, 4)),
    "conv_transpose": (lambda: L.Conv2DTranspose(4, 3, stride=2, padding=1, output_padding=1, groups=2),
                       (2, 2, 3, 3)),
    "conv_transpose_dilated": (lambda: L.Conv2DTranspose(2, (2, 3), dilation=2), (2, 3, 3, 2)),
    "max_pool": (lambda: L.MaxPool2D(), (2, 2, 4, 4)),
    "max_pool_padded": (lambda: L.MaxPool2D(3, 2, 1), (2, 2, 5, 5)),
    "avg_pool": (lambda: L.AvgPool2D(), (2, 2, 4, 6)),
    "avg_pool_exclude_pad": (lambda: L.AvgPool2D(3, 2, 1, count_include_pad=False), (2, 2, 5, 5)),
    "global_avg_pool": (lambda: L.GlobalAvgPool2D(), (2, 3, 3, 4)),
    "subsampling": (lambda: L.Subsampling2D(kernel_initializer="he_uniform", bias_initializer="he_uniform"),
                    (2, 3, 4, 4)),
    "dense": (lambda: L.Dense(4), (3, 5)),
    "dense_nobias": (lambda: L.Dense(3, use_bias=False), (2, 4)),
    "dense_activation": (lambda: L.Dense(4, activation="tanh"), (3, 5)),
    "zero_padding": (lambda: L.ZeroPadding2D(((1, 2), (0, 3))), (2, 2, 3, 4)),
    "rescaling": (lambda: L.Rescaling(0.5, offset=-1.0), (3, 4)),
    "reshape": (lambda: L.Reshape((3, -1)), (2, 6, 2)),
    "batchnormalization": (lambda: L.BatchNormalization(), (3, 2, 3, 3)),
    "batchnormalization_dense": (lambda: L.BatchNormalization(axis=-1), (5, 3)),
    "dense_softmax": (lambda: L.Dense(3, activation="softmax"), (3, 5)),
    "conv_activation": (lambda: L.Conv2D(2, 3, padding="same", activation="sigmoid"), (2, 2, 4, 5)),
    "flatten": (lambda: L.Flatten(), (2, 2, 3)),
    "dropout": (lambda: L.Dropout(0.5), (4, 6)),
    "batchnorm1d": (lambda: L.BatchNorm1D(), (5, 3)),
    "batchnorm1d_3d": (lambda: L.BatchNorm1D(), (4, 3, 2)),
    "batchnorm2d": (lambda: L.BatchNorm2D(), (3, 2, 3, 3)),
    "batchnorm2d_frozen": (lambda: L.BatchNorm2D(freeze_statistics=True), (3, 2, 3, 3)),
    "relu": (lambda: L.ReLU(), (3, 7)),
    "leaky_relu": (lambda: L.LeakyReLU(0.1), (3, 7)),
    "leaky_relu_steep": (lambda: L.LeakyReLU(2.5), (3, 7)),
    "prelu": (lambda: L.PReLU(), (2, 3, 4)),
    "prelu_per_channel": (lambda: L.PReLU(None, init=-0.3), (2, 3, 2, 2)),
    "elu": (lambda: L.ELU(0.7), (3, 7)),
    "tanh": (lambda: L.Tanh(), (3, 7)),
    "sigmoid": (lambda: L.Sigmoid(), (3, 7)),
    "softmax": (lambda: L.Softmax(), (3, 4, 2)),
    "scaled_tanh": (lambda: L.ScaledTanh(), (3, 7)),
    "sequential": (lambda: L.Sequential([L.Conv2D(2, 3), L.ReLU(), L.MaxPool2D(), L.Flatten(), L.Dense(3)]),
                   (2, 1, 6, 6)),
    "residual_identity": (lambda: L.Residual(L.Sequential([L.Conv2D(2, 3, padding=1), L.BatchNorm2D(), L.ReLU(),
                                                           L.Conv2D(2, 3, padding=1)])), (2, 2, 4, 4)),
    "residual_projection": (lambda: L.Residual(L.Conv2D(3, 3, padding=1, stride=2), L.Conv2D(3, 1, stride=2)),
                            (2, 2, 5, 5)),
}


def make(case, dtype=np.float64, seed=0):
    factory, shape = LAYER_CASES[case]
    layer = factory().astype(dtype)
    layer.build(shape[1:], np.random.default_rng(seed))
    if isinstance(layer, L.BatchNorm2D) or isinstance(layer, L.BatchNorm1D):
        # Non-trivial affine parameters and running statistics.
        rng = np.random.default_rng(seed + 1)
        channels = layer.weight.data.shape[0]
        layer.load_state_dict({"weight": rng.uniform(0.5, 1.5, channels), "bias": rng.standard_normal(channels),
                               "running_mean": rng.standard_normal(channels),
                               "running_var": rng.uniform(0.5, 2.0, channels)}, strict=False)
    return layer, shape


# ------------------------------------------------------------------ gradients


@pytest.mark.parametrize("case", sorted(LAYER_CASES))
def test_backward_matches_finite_differences(case):
    layer, shape = make(case)
    assert gradcheck(layer, rand(shape, seed=1))


@pytest.mark.parametrize("case", sorted(LAYER_CASES))
def test_output_shape_agrees_with_forward(case):
    layer, shape = make(case, dtype=np.float32)
    y = layer(rand(shape, dtype=np.float32), training=True)
    assert (shape[0],) + tuple(layer.output_shape(shape[1:])) == y.shape
    # Pure arithmetic: an unbuilt twin gives the same answer.
    assert LAYER_CASES[case][0]().output_shape(shape[1:]) == layer.output_shape(shape[1:])
    assert y.dtype == np.float32


@pytest.mark.parametrize("case", sorted(LAYER_CASES))
def test_backward_float32_grads_have_param_dtype_and_inputs_untouched(case):
    layer, shape = make(case, dtype=np.float32)
    x = rand(shape, dtype=np.float32)
    x_before = x.copy()
    y = layer(x, training=True)
    grad_y = rand(y.shape, seed=2, dtype=np.float32)
    grad_y_before = grad_y.copy()
    grad_x = layer.backward(grad_y)
    assert grad_x.shape == x.shape and grad_x.dtype == np.float32
    np.testing.assert_array_equal(x, x_before)
    np.testing.assert_array_equal(grad_y, grad_y_before)
    for name, p in layer.named_parameters():
        assert p.grad is not None, name
        assert p.grad.shape == p.data.shape and p.grad.dtype == np.float32, name


def test_gradients_are_overwritten_not_accumulated():
    layer, shape = make("dense")
    x = rand(shape)
    y = layer(x, training=True)
    layer.backward(np.ones_like(y))
    first = [p.grad.copy() for p in layer.parameters()]
    layer(x, training=True)
    layer.backward(np.ones_like(y))
    for before, p in zip(first, layer.parameters()):
        np.testing.assert_array_equal(before, p.grad)


@pytest.mark.parametrize("backend", ["fast", "reference"])
@pytest.mark.parametrize("case", sorted(LAYER_CASES))
def test_backward_without_input_grad_sets_the_same_parameter_gradients(case, backend):
    # The first layer of a model skips its input gradient; the parameter
    # gradients must not change (a layer or container that drops them, or
    # computes them differently on that path, fails here).
    layer, shape = make(case)
    layer.set_backend(backend)
    x = rand(shape)
    grad_y = rand(layer(x, training=True).shape, seed=5)
    layer.backward(grad_y)
    full = {name: p.grad.copy() for name, p in layer.named_parameters()}
    for p in layer.parameters():
        p.grad = None
    layer(x, training=True)
    assert layer.backward(grad_y, input_grad=False) is None
    for name, p in layer.named_parameters():
        np.testing.assert_array_equal(p.grad, full[name], err_msg=name)


# --------------------------------------------------------- reference backend

BACKEND_CASES = ["conv_same_even", "conv_strided_grouped", "conv_transpose", "max_pool_padded",
                 "avg_pool_exclude_pad", "global_avg_pool", "subsampling", "sequential", "residual_projection"]


@pytest.mark.parametrize("case", BACKEND_CASES)
def test_fast_and_reference_backends_agree(case):
    fast, shape = make(case, dtype=np.float32)
    reference = copy.deepcopy(fast).set_backend("reference")
    assert reference.backend == "reference" and all(c.backend == "reference" for _, c in reference.named_children())
    x = rand(shape, dtype=np.float32)
    y_fast, y_ref = fast(x, training=True), reference(x, training=True)
    np.testing.assert_allclose(y_fast, y_ref, rtol=1e-5, atol=1e-5)
    grad_y = rand(y_fast.shape, seed=3, dtype=np.float32)
    np.testing.assert_allclose(fast.backward(grad_y), reference.backward(grad_y), rtol=1e-5, atol=1e-5)
    for (name, p), (_, q) in zip(fast.named_parameters(), reference.named_parameters()):
        np.testing.assert_allclose(p.grad, q.grad, rtol=1e-5, atol=1e-5, err_msg=name)


def test_set_backend_refuses_unknown():
    with pytest.raises(ValueError, match="backend"):
        L.ReLU().set_backend("gpu")


# --------------------------------------------------------------- conv padding


@pytest.mark.parametrize("kernel,dilation", [(3, 1), (4, 1), ((2, 5), 1), ((2, 3), (3, 2)), (1, 1), (6, 2)])
def test_same_padding_keeps_size_and_pads_bottom_right(kernel, dilation):
    layer = L.Conv2D(2, kernel, padding="same", dilation=dilation).astype(np.float64)
    x = rand((2, 3, 7, 8))
    y = layer(x)
    assert y.shape == (2, 2, 7, 8)
    assert layer.output_shape((3, 7, 8)) == (2, 7, 8)
    # Oracle: explicit padding, total // 2 before and the rest after (torch's rule).
    kh, kw = (kernel, kernel) if isinstance(kernel, int) else kernel
    dh, dw = (dilation, dilation) if isinstance(dilation, int) else dilation
    th, tw = dh * (kh - 1), dw * (kw - 1)
    padded = np.pad(x, ((0, 0), (0, 0), (th // 2, th - th // 2), (tw // 2, tw - tw // 2)))
    expected = F.conv2d(padded, layer.weight.data, layer.bias.data, dilation=(dh, dw), backend="reference")
    np.testing.assert_allclose(y, expected, rtol=1e-12, atol=1e-12)


def test_same_padding_with_stride_is_refused_and_valid_is_zero():
    with pytest.raises(ValueError, match="stride"):
        L.Conv2D(2, 3, stride=2, padding="same")
    with pytest.raises(ValueError, match="padding"):
        L.Conv2D(2, 3, padding="full")
    assert L.Conv2D(2, 3, padding="valid").output_shape((1, 5, 5)) == (2, 3, 3)


def test_conv_transpose_output_shape_formula():
    layer = L.Conv2DTranspose(5, (3, 2), stride=(2, 3), padding=(1, 0), output_padding=(1, 2), dilation=1)
    # (H - 1) * s - 2p + d (k - 1) + op + 1
    assert layer.output_shape((4, 6, 7)) == (5, (6 - 1) * 2 - 2 + 2 + 1 + 1, (7 - 1) * 3 + 1 + 2 + 1)
    with pytest.raises(ValueError, match="output_padding"):
        L.Conv2DTranspose(2, 3, stride=2, output_padding=2)


# ------------------------------------------------------------ state and names


def lenet_like():
    return L.Sequential([L.Conv2D(4, 5, padding=2), L.BatchNorm2D(), L.ReLU(), L.MaxPool2D(),
                         L.Conv2D(6, 3), L.PReLU(None), L.AvgPool2D(), L.Flatten(), L.Dense(10), L.Dropout(0.25),
                         L.BatchNorm1D(), L.Dense(3)])


def test_state_dict_names_and_layouts_are_torch_nn():
    model = lenet_like()
    model.build((1, 12, 12), np.random.default_rng(0))
    state = model.state_dict()
    assert list(state) == [
        "0.weight", "0.bias",
        "1.weight", "1.bias", "1.running_mean", "1.running_var", "1.num_batches_tracked",
        "4.weight", "4.bias", "5.weight",
        "8.weight", "8.bias",
        "10.weight", "10.bias", "10.running_mean", "10.running_var", "10.num_batches_tracked",
        "11.weight", "11.bias",
    ]
    assert state["0.weight"].shape == (4, 1, 5, 5) and state["4.weight"].shape == (6, 4, 3, 3)
    assert state["5.weight"].shape == (6,)
    assert state["8.weight"].shape == (10, 6 * 2 * 2) and state["11.weight"].shape == (3, 10)
    assert state["1.num_batches_tracked"].shape == () and state["1.num_batches_tracked"].dtype == np.int64
    assert [name for name, _ in model.named_parameters()] == [k for k in state if "running" not in k
                                                              and "tracked" not in k]
    assert [name for name, _ in model.named_buffers()] == [k for k in state if "running" in k or "tracked" in k]
    assert [p for _, p in model.named_parameters()] == model.parameters()


def test_residual_names_and_state_dict_is_a_copy():
    block = L.Residual(L.Sequential([L.Conv2D(2, 3, padding=1), L.BatchNorm2D()]), L.Conv2D(2, 1))
    block.build((3, 4, 4), 0)
    state = block.state_dict()
    assert list(state) == ["block.0.weight", "block.0.bias", "block.1.weight", "block.1.bias",
                           "block.1.running_mean", "block.1.running_var", "block.1.num_batches_tracked",
                           "shortcut.weight", "shortcut.bias"]
    state["block.0.weight"][...] = 7.0
    assert not np.any(block.block[0].weight.data == 7.0)


def test_load_state_dict_round_trip_and_errors():
    source, target = lenet_like(), lenet_like()
    source.build((1, 12, 12), np.random.default_rng(1))
    target.build((1, 12, 12), np.random.default_rng(2))
    x = rand((4, 1, 12, 12), dtype=np.float32)
    source(x, training=True)  # running statistics and num_batches_tracked move
    weight_array = target[0].weight.data
    target.load_state_dict(source.state_dict())
    assert target[0].weight.data is weight_array  # copied into, not rebound
    for (name, a), (_, b) in zip(source.state_dict().items(), target.state_dict().items()):
        np.testing.assert_array_equal(a, b, err_msg=name)
    np.testing.assert_array_equal(source(x), target(x))

    state = source.state_dict()
    bad = dict(state, **{"4.weight": np.zeros((6, 4, 3, 2), np.float32)})
    with pytest.raises(ValueError, match=r"4\.weight' has shape \(6, 4, 3, 2\) there, .* \(6, 4, 3, 3\)"):
        target.load_state_dict(bad)
    before = target.state_dict()
    changed = dict(bad, **{"0.weight": state["0.weight"] + 1})
    with pytest.raises(ValueError):
        target.load_state_dict(changed)
    np.testing.assert_array_equal(before["0.weight"], target[0].weight.data)  # nothing half-loaded
    missing = {k: v for k, v in state.items() if k != "8.bias"}
    with pytest.raises(ValueError, match=r"missing keys \['8\.bias'\]"):
        target.load_state_dict(missing)
    target.load_state_dict(missing, strict=False)
    with pytest.raises(ValueError, match=r"unexpected keys \['extra'\]"):
        target.load_state_dict(dict(state, extra=np.zeros(1)))
    with pytest.raises(ValueError, match="not built"):
        lenet_like().load_state_dict(state)
    with pytest.raises(TypeError):
        target.load_state_dict([1, 2])


def test_astype_converts_parameters_and_float_buffers_in_place():
    model = lenet_like()
    model.build((1, 12, 12), 0)
    bn = model[1]
    returned = model.astype(np.float64)
    assert returned is model
    assert all(p.data.dtype == np.float64 for p in model.parameters())
    assert bn.running_mean.dtype == np.float64 and bn.running_var.dtype == np.float64
    assert bn.num_batches_tracked.dtype == np.int64
    y = model(rand((2, 1, 12, 12)), training=True)
    assert y.dtype == np.float64
    with pytest.raises(TypeError, match="dtype"):
        model.astype(np.int32)
    # An unbuilt layer converted first is built in the new dtype.
    assert L.Dense(3).astype("float64")(rand((2, 4))).dtype == np.float64


def test_layers_default_to_float32_and_refuse_other_dtypes():
    layer = L.Dense(3)
    assert layer(rand((2, 4), dtype=np.float32)).dtype == np.float32
    assert layer.weight.data.dtype == np.float32
    with pytest.raises(TypeError, match="float32.*float64"):
        layer(rand((2, 4)))
    with pytest.raises(TypeError, match="float32"):
        L.Dense(3)(rand((2, 4)))  # no silent cast, also before the first build
    with pytest.raises(TypeError, match="int64"):
        L.ReLU()(np.ones((2, 3), dtype=np.int64))
    with pytest.raises(TypeError, match="float16"):
        L.Conv2D(2, 3)(np.ones((1, 1, 4, 4), dtype=np.float16))
    with pytest.raises(TypeError, match="NumPy array"):
        L.ReLU()([[1.0, 2.0]])
    # Parameter-free layers take either float dtype.
    assert L.ReLU()(rand((2, 3))).dtype == np.float64


# -------------------------------------------------------- serialization, seeds


SERIALIZE_CASES = [
    L.Conv2D(3, (2, 3), stride=(1, 2), padding=(1, 0), dilation=2, groups=1, use_bias=False,
             kernel_initializer="he_normal", bias_initializer="zeros", name="c1"),
    L.Conv2D(4, 3, padding="same"),
    L.Conv2DTranspose(4, 3, stride=2, padding=1, output_padding=1, groups=2),
    L.MaxPool2D(3, 2, 1), L.AvgPool2D(2, count_include_pad=False), L.GlobalAvgPool2D(),
    L.Subsampling2D(), L.Dense(5, kernel_initializer="glorot_uniform"), L.Flatten(), L.Dropout(0.3),
    L.BatchNorm1D(momentum=0.2, eps=1e-3), L.BatchNorm2D(freeze_statistics=True), L.ReLU(),
    L.LeakyReLU(0.2), L.PReLU(None, init=0.1), L.ELU(0.5), L.Tanh(), L.Sigmoid(), L.Softmax(),
    L.ScaledTanh(), lenet_like(),
    L.Residual(L.Sequential([L.Conv2D(2, 3, padding=1), L.ReLU()]), L.Conv2D(2, 1), name="res"),
]


@pytest.mark.parametrize("layer", SERIALIZE_CASES, ids=lambda layer: type(layer).__name__)
def test_serialize_deserialize_round_trip(layer):
    spec = L.serialize(layer)
    assert spec["class"] == type(layer).__name__
    text = json.dumps(spec)  # JSON-able
    clone = L.deserialize(json.loads(text))
    assert type(clone) is type(layer)
    assert json.dumps(L.serialize(clone)) == text
    assert not clone.built


def test_deserialized_model_with_same_seed_has_same_weights_and_outputs():
    model = lenet_like()
    model.build((1, 12, 12), np.random.default_rng(5))
    clone = L.deserialize(json.loads(json.dumps(L.serialize(model))))
    clone.build((1, 12, 12), np.random.default_rng(5))
    for (name, a), (_, b) in zip(model.state_dict().items(), clone.state_dict().items()):
        np.testing.assert_array_equal(a, b, err_msg=name)
    x = rand((3, 1, 12, 12), dtype=np.float32)
    np.testing.assert_array_equal(model(x, training=True), clone(x, training=True))  # same dropout masks too


def test_different_seeds_give_different_weights():
    a, b = lenet_like(), lenet_like()
    a.build((1, 12, 12), np.random.default_rng(1))
    b.build((1, 12, 12), np.random.default_rng(2))
    assert not np.array_equal(a[0].weight.data, b[0].weight.data)
    # No rng: np.random.default_rng(0), so an unseeded build is reproducible too.
    c, d = L.Dense(4), L.Dense(4)
    c.build((3,))
    d(rand((1, 3), dtype=np.float32))
    np.testing.assert_array_equal(c.weight.data, d.weight.data)


def test_deserialize_refuses_unknown_class_and_register_adds_one():
    with pytest.raises(ValueError, match="unknown layer class 'Nope'"):
        L.deserialize({"class": "Nope", "config": {}})
    with pytest.raises(ValueError):
        L.deserialize("ReLU")

    class Doubler(L.Layer):
        def _forward(self, x, training):
            return 2 * x

    with pytest.raises(ValueError, match="not registered"):
        L.serialize(Doubler())
    L.register(Doubler)
    assert type(L.deserialize(L.serialize(Doubler()))) is Doubler

    class Other(L.Layer):
        pass

    Other.__name__ = "Doubler"
    with pytest.raises(ValueError, match="already registered"):
        L.register(Other)


# ---------------------------------------------------------------- batch norm


def test_batchnorm_running_statistics_follow_torch_rule():
    layer = L.BatchNorm2D(momentum=0.3).astype(np.float64)
    x = rand((4, 3, 5, 5)) * 2.0 + 1.5
    y = layer(x, training=True)
    mean = x.mean(axis=(0, 2, 3))
    var_biased = x.var(axis=(0, 2, 3))
    var_unbiased = x.var(axis=(0, 2, 3), ddof=1)
    np.testing.assert_allclose(y, (x - mean[:, None, None]) / np.sqrt(var_biased[:, None, None] + 1e-5),
                               rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(layer.running_mean, 0.3 * mean, rtol=1e-12)
    np.testing.assert_allclose(layer.running_var, 0.7 + 0.3 * var_unbiased, rtol=1e-12)
    assert layer.num_batches_tracked == 1 and layer.num_batches_tracked.dtype == np.int64
    assert layer.num_batches_tracked.shape == ()
    layer(x, training=True)
    assert layer.num_batches_tracked == 2
    np.testing.assert_allclose(layer.running_mean, 0.3 * mean + 0.7 * 0.3 * mean, rtol=1e-12)


def test_batchnorm_inference_uses_running_statistics_and_changes_nothing():
    layer = L.BatchNorm1D(eps=1e-3).astype(np.float64)
    layer.build((4,))
    stats = {"weight": np.array([1.0, 2.0, 0.5, 1.0]), "bias": np.array([0.0, 1.0, -1.0, 0.5]),
             "running_mean": np.array([0.5, -1.0, 2.0, 0.0]), "running_var": np.array([1.0, 4.0, 0.25, 2.0])}
    layer.load_state_dict(stats, strict=False)
    x = rand((6, 4))
    before = layer.state_dict()
    y = layer(x)
    expected = (x - stats["running_mean"]) / np.sqrt(stats["running_var"] + 1e-3) * stats["weight"] + stats["bias"]
    np.testing.assert_allclose(y, expected, rtol=1e-12)
    for key, value in layer.state_dict().items():
        np.testing.assert_array_equal(value, before[key], err_msg=key)
    # freeze_statistics: the same affine map in training, statistics untouched.
    frozen = L.BatchNorm1D(eps=1e-3, freeze_statistics=True).astype(np.float64)
    frozen.build((4,))
    frozen.load_state_dict(layer.state_dict())
    np.testing.assert_allclose(frozen(x, training=True), expected, rtol=1e-12)
    assert frozen.num_batches_tracked == 0


def test_batchnorm_needs_more_than_one_value_per_channel_in_training():
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        L.BatchNorm1D()(np.ones((1, 3), np.float32), training=True)
    assert L.BatchNorm1D()(np.ones((1, 3), np.float32)).shape == (1, 3)  # inference is fine
    with pytest.raises(ValueError, match="momentum"):
        L.BatchNorm2D(momentum=1.5)
    with pytest.raises(ValueError, match="eps"):
        L.BatchNorm2D(eps=0)


# -------------------------------------------------------------------- dropout


def test_dropout_statistics_scaling_and_inference_identity():
    layer = L.Dropout(0.3)
    layer.build((200, 100), np.random.default_rng(0))
    x = np.ones((5, 200, 100), np.float32)
    y = layer(x, training=True)
    dropped = np.mean(y == 0)
    n = x.size
    assert abs(dropped - 0.3) < 4 * np.sqrt(0.3 * 0.7 / n)
    np.testing.assert_allclose(np.unique(y), [0.0, 1 / 0.7], rtol=1e-6)
    assert abs(y.mean() - 1.0) < 0.01
    grad = layer.backward(np.full_like(y, 2.0))
    np.testing.assert_array_equal(grad, 2 * y)  # the same mask
    assert layer(x) is x  # identity at inference, no copy
    y2 = layer(x, training=True)
    assert not np.array_equal(y, y2)  # a fresh mask per call
    for bad in (1.0, -0.1, 1.5):
        with pytest.raises(ValueError, match="rate"):
            L.Dropout(bad)
    with pytest.raises(TypeError):
        L.Dropout("0.5")
    assert np.array_equal(L.Dropout(0.0)(x, training=True), x)


def test_dropout_masks_reproducible_from_build_rng():
    a, b = L.Dropout(0.5), L.Dropout(0.5)
    a.build((10,), np.random.default_rng(3))
    b.build((10,), np.random.default_rng(3))
    x = np.ones((4, 10), np.float32)
    np.testing.assert_array_equal(a(x, training=True), b(x, training=True))


# -------------------------------------------------------------- initializers


def test_initializers_follow_torch_formulas():
    rng = np.random.default_rng(0)
    shape = (64, 32, 3, 3)
    fan_in, fan_out = initializers.fans(shape)
    assert (fan_in, fan_out) == (32 * 9, 64 * 9)
    assert initializers.fans((7, 5)) == (5, 7)
    for name, bound in (("torch_default", 1 / np.sqrt(fan_in)), ("he_uniform", np.sqrt(6 / fan_in)),
                        ("glorot_uniform", np.sqrt(6 / (fan_in + fan_out)))):
        w = initializers.get(name)(shape, rng, np.float32, fan_in, fan_out)
        assert w.dtype == np.float32 and w.shape == shape
        assert np.abs(w).max() <= bound and np.abs(w).max() > 0.99 * bound, name
        assert abs(w.std() - bound / np.sqrt(3)) < 0.03 * bound, name
    for name, std in (("he_normal", np.sqrt(2 / fan_in)), ("glorot_normal", np.sqrt(2 / (fan_in + fan_out)))):
        w = initializers.get(name)(shape, rng, np.float64, fan_in, fan_out)
        assert abs(w.std() - std) < 0.03 * std and abs(w.mean()) < 0.03 * std, name
    assert not initializers.get("zeros")((3,), rng, np.float32, 1, 1).any()
    assert (initializers.get("ones")((3,), rng, np.float32, 1, 1) == 1).all()
    with pytest.raises(ValueError, match="unknown initializer"):
        initializers.get("lecun")
    with pytest.raises(ValueError, match="unknown initializer"):
        L.Conv2D(2, 3, kernel_initializer="bogus")


def test_layer_bias_uses_weight_fan_in_and_dense_default_bounds():
    layer = L.Conv2D(16, 3)
    layer.build((8, 5, 5), np.random.default_rng(0))
    bound = 1 / np.sqrt(8 * 9)
    assert np.abs(layer.weight.data).max() <= bound and np.abs(layer.bias.data).max() <= bound
    transposed = L.Conv2DTranspose(6, 3, groups=2)
    transposed.build((4, 5, 5), np.random.default_rng(0))
    assert transposed.weight.data.shape == (4, 3, 3, 3)
    # torch takes fan_in from dimension 1 of the weight: out / groups * kh * kw.
    assert np.abs(transposed.weight.data).max() <= 1 / np.sqrt(3 * 9)
    assert np.abs(transposed.weight.data).max() > 1 / np.sqrt(4 * 9)


# ------------------------------------------------------------------ caching


def test_inference_keeps_no_reference_to_the_input():
    model = lenet_like()
    model.build((1, 12, 12), 0)
    x = rand((2, 1, 12, 12), dtype=np.float32)
    model(x, training=True)  # a training cache exists...
    ref = weakref.ref(x)
    y = model(x)  # ...and inference drops it
    del x, y
    assert ref() is None
    with pytest.raises(RuntimeError, match="training=True"):
        model.backward(np.ones((2, 3), np.float32))


# -------------------------------------------------------------- containers


def test_sequential_container_protocol():
    relu, dense = L.ReLU(), L.Dense(2)
    model = L.Sequential()
    assert model.add(relu) is model
    model.add(dense)
    assert len(model) == 2 and model[0] is relu and model[-1] is dense and list(model) == [relu, dense]
    with pytest.raises(TypeError, match="Layer"):
        model.add("relu")
    with pytest.raises(TypeError, match="Layer"):
        L.Sequential([L.ReLU(), np.zeros(3)])
    empty = L.Sequential()
    x = rand((2, 3))
    assert empty(x) is x
    assert empty.output_shape((3,)) == (3,)


def test_residual_refuses_mismatched_branches():
    with pytest.raises(ValueError, match=r"block output shape \(4, 5, 5\).*\(2, 5, 5\)"):
        L.Residual(L.Conv2D(4, 3, padding=1)).build((2, 5, 5))
    with pytest.raises(ValueError, match="shortcut"):
        L.Residual(L.Conv2D(4, 3, padding=1), L.Conv2D(4, 1, stride=2)).output_shape((2, 6, 6))
    with pytest.raises(TypeError):
        L.Residual(lambda x: x)


# ------------------------------------------------------------------- errors


def test_wrong_ndim_and_channel_mismatch_name_the_shapes():
    conv = L.Conv2D(2, 3)
    with pytest.raises(ValueError, match=r"4-D.*\(2, 3, 5\)"):
        conv(np.ones((2, 3, 5), np.float32))
    conv(np.ones((2, 3, 5, 5), np.float32))
    with pytest.raises(ValueError, match=r"\(N, 3, 5, 5\).*\(2, 4, 5, 5\)"):
        conv(np.ones((2, 4, 5, 5), np.float32))
    dense = L.Dense(2)
    dense(np.ones((1, 6), np.float32))
    with pytest.raises(ValueError, match=r"\(N, 6\).*\(1, 7\)"):
        dense(np.ones((1, 7), np.float32))
    with pytest.raises(ValueError, match="2-D"):
        L.Dense(2)(np.ones((1, 2, 3), np.float32))
    with pytest.raises(ValueError, match="larger than the padded input"):
        L.Conv2D(2, 5)(np.ones((1, 1, 3, 3), np.float32))
    with pytest.raises(ValueError, match="larger than the padded input"):
        L.MaxPool2D(4).output_shape((1, 3, 3))
    with pytest.raises(ValueError, match="groups=2 must divide the 3 input channels"):
        L.Conv2D(2, 1, groups=2).build((3, 4, 4))
    with pytest.raises(ValueError, match="num_parameters=3"):
        L.PReLU(3)(np.ones((2, 4, 2), np.float32))
    with pytest.raises(ValueError, match="at least 2-D"):
        L.Softmax()(np.ones((3,), np.float32))
    with pytest.raises(ValueError, match="input_shape"):
        L.Dense(2).build((0,))


def test_backward_checks():
    layer = L.Dense(2)
    with pytest.raises(RuntimeError, match="forward"):
        layer.backward(np.ones((1, 2), np.float32))
    layer(np.ones((3, 4), np.float32), training=True)
    with pytest.raises(ValueError, match=r"\(3, 2\).*\(3, 3\)"):
        layer.backward(np.ones((3, 3), np.float32))
    with pytest.raises(TypeError, match="float32"):
        layer.backward(np.ones((3, 2), np.float64))
    with pytest.raises(TypeError):
        layer.backward([[1.0, 2.0]] * 3)


@pytest.mark.parametrize("factory,error,match", [
    (lambda: L.Conv2D(0, 3), ValueError, "filters"),
    (lambda: L.Conv2D(2, 0), ValueError, "kernel_size"),
    (lambda: L.Conv2D(2, "3"), TypeError, "kernel_size"),
    (lambda: L.Conv2D(2, 3.0), TypeError, "kernel_size"),
    (lambda: L.Conv2D(2, (3, 3, 3)), ValueError, "kernel_size"),
    (lambda: L.Conv2D(2, 3, padding=-1), ValueError, "padding"),
    (lambda: L.Conv2D(3, 3, groups=2), ValueError, "groups"),
    (lambda: L.Conv2D(2, 3, use_bias=1), TypeError, "use_bias"),
    (lambda: L.Conv2DTranspose(2, 3, padding="same"), ValueError, "padding"),
    (lambda: L.Dense(0), ValueError, "units"),
    (lambda: L.Dense(True), TypeError, "units"),
    (lambda: L.MaxPool2D(2, padding=2), ValueError, "padding"),
    (lambda: L.AvgPool2D(0), ValueError, "pool_size"),
    (lambda: L.LeakyReLU("x"), TypeError, "negative_slope"),
    (lambda: L.ELU(float("nan")), ValueError, "alpha"),
    (lambda: L.PReLU(0), ValueError, "num_parameters"),
    (lambda: L.ScaledTanh(amplitude=0), ValueError, "amplitude"),
    (lambda: L.Dense(2, name=3), TypeError, "name"),
])
def test_constructor_errors(factory, error, match):
    with pytest.raises(error, match=match):
        factory()


def test_build_refuses_bad_rng_and_shapes():
    with pytest.raises(TypeError, match="rng"):
        L.Dense(2).build((3,), rng="seed")
    with pytest.raises(TypeError, match="input_shape"):
        L.Dense(2).build(3)
    with pytest.raises(ValueError, match="2-D"):
        L.Dense(2).build((3, 4))


# ------------------------------------------- Keras's activation names and forward_logits (issue 15)


def test_activation_by_name_is_the_named_layer():
    for name, cls in [("relu", L.ReLU), ("tanh", L.Tanh), ("sigmoid", L.Sigmoid), ("softmax", L.Softmax),
                      ("elu", L.ELU), ("Scaled_Tanh", L.ScaledTanh)]:
        layer = L.Activation(name, name="act")
        assert type(layer) is cls and layer.name == "act" and layer.final_activation == name.lower()
    with pytest.raises(ValueError, match=r"unknown activation 'swish'; known: relu, tanh"):
        L.Activation("swish")
    with pytest.raises(ValueError, match=r"'leaky_relu' is ambiguous \(Keras's slope is 0.2, torch's 0.01\)"):
        L.Dense(3, activation="leaky_relu")
    with pytest.raises(TypeError, match="activation must be a name"):
        L.Conv2D(2, 3, activation=L.ReLU())


@pytest.mark.parametrize("activation", ["relu", "tanh", "sigmoid", "softmax", "elu", "linear", None])
def test_dense_activation_is_dense_then_the_activation_layer(activation):
    x = rand((4, 5))
    fused = L.Dense(3, activation=activation).astype("float64")
    plain = L.Dense(3).astype("float64")
    then = plain if activation in (None, "linear") else L.Sequential([plain, L.Activation(activation)], dtype="float64")
    then.build((5,), rng=1)
    fused.build((5,))
    assert fused.state_dict().keys() == plain.state_dict().keys() == {"weight", "bias"}  # torch's Linear names
    fused.load_state_dict(plain.state_dict())
    np.testing.assert_allclose(fused(x, training=True), then(x, training=True), rtol=1e-12)
    grad_y = rand((4, 3), seed=2)
    np.testing.assert_allclose(fused.backward(grad_y), then.backward(grad_y), rtol=1e-12)
    np.testing.assert_allclose(fused.weight.grad, plain.weight.grad, rtol=1e-12)
    config = json.loads(json.dumps(L.serialize(fused)))
    assert L.deserialize(config).activation == (None if activation == "linear" else activation)


def test_forward_logits_is_the_output_before_the_final_activation():
    x = rand((3, 1, 6, 6))
    for head in ([L.Dense(4), L.Softmax()], [L.Dense(4, activation="softmax")], [L.Dense(1), L.Sigmoid()]):
        model = L.Sequential([L.Conv2D(2, 3), L.Tanh(), L.Flatten(), *head], dtype="float64")
        logits_model = L.Sequential([L.Conv2D(2, 3), L.Tanh(), L.Flatten(), L.Dense(head[0].units)], dtype="float64")
        model.build((1, 6, 6), rng=3)
        logits_model.build((1, 6, 6), rng=3)
        z = model.forward_logits(x, training=True)
        np.testing.assert_allclose(z, logits_model(x, training=True), rtol=1e-12)
        grad_z = rand(z.shape, seed=4)
        np.testing.assert_allclose(model.backward_logits(grad_z), logits_model.backward(grad_z), rtol=1e-12)
        for p, q in zip(model.parameters(), logits_model.parameters()):
            np.testing.assert_allclose(p.grad, q.grad, rtol=1e-12)
        assert model.final_activation == ("sigmoid" if head[0].units == 1 else "softmax")
        # What backward pairs with is the forward that ran: the logits' gradient goes to backward_logits.
        with pytest.raises(RuntimeError, match=r"backward\(\) needs a forward\(x, training=True\) first"):
            model.backward(grad_z)
    with pytest.raises(TypeError, match="does not end with an activation"):
        L.Dense(3).forward_logits(rand((2, 4)))
    with pytest.raises(TypeError, match="does not end with an activation"):
        L.Sequential([L.Dense(3)]).forward_logits(rand((2, 4)))
    assert L.Sequential().final_activation is None and L.PReLU().final_activation is None


def test_keras_layer_names_and_spellings():
    assert L.MaxPooling2D is L.MaxPool2D and L.AveragePooling2D is L.AvgPool2D
    assert L.GlobalAveragePooling2D is L.GlobalAvgPool2D
    assert L.MaxPooling2D(pool_size=(2, 2), strides=1, padding="valid").stride == (1, 1)
    assert L.MaxPooling2D(pool_size=3, padding="valid").padding == (0, 0)
    assert L.Conv2D(4, 3, strides=(2, 1)).stride == (2, 1) and L.Conv2DTranspose(2, 3, strides=2).stride == (2, 2)
    with pytest.raises(TypeError, match="give stride or strides, not both"):
        L.Conv2D(4, 3, stride=2, strides=2)
    with pytest.raises(TypeError, match="give stride or strides, not both"):
        L.MaxPool2D(2, 2, strides=2)
    with pytest.raises(ValueError, match="pooling padding must be an int, a pair or 'valid', got 'same'"):
        L.MaxPooling2D(padding="same")


def test_convolution2d_reads_keras_2_and_converts_keras_1():
    keras2 = L.Convolution2D(4, (5, 5), padding="valid", strides=1)
    assert type(keras2) is L.Conv2D and keras2.kernel_size == (5, 5) and keras2.stride == (1, 1)
    # Keras 1's Convolution2D(nb_filter, nb_row, nb_col, border_mode=...) is a 5x5 kernel, never Conv2D's stride 5.
    with pytest.warns(UserWarning, match=r"Keras 1 arguments read as Keras 2's \(the kernel size as one tuple, "
                                         r"padding= for border_mode=\)"):
        keras1 = L.Convolution2D(4, 5, 5, border_mode="same", input_shape=(1, 28, 28))
    assert keras1.kernel_size == (5, 5) and keras1.stride == (1, 1) and keras1.padding == "same"
    assert keras1.declared_input_shape == (1, 28, 28)
    with pytest.warns(UserWarning, match="strides= for subsample="):
        assert L.Convolution2D(2, (3, 3), subsample=(2, 2)).stride == (2, 2)
    with pytest.raises(TypeError, match="give padding or Keras 1's border_mode, not both"):
        L.Convolution2D(2, 3, padding=1, border_mode="same")


def test_batchnormalization_has_keras_momentum_and_epsilon():
    x = rand((8, 3, 4, 4), seed=5)
    keras = L.BatchNormalization(momentum=0.9, epsilon=1e-3).astype("float64")
    torch_like = L.BatchNorm2D(momentum=0.1, eps=1e-3).astype("float64")
    np.testing.assert_allclose(keras(x, training=True), torch_like(x, training=True), rtol=1e-12)
    np.testing.assert_allclose(keras.running_mean, torch_like.running_mean, rtol=1e-12)
    np.testing.assert_allclose(keras.running_mean, 0.1 * x.mean(axis=(0, 2, 3)), rtol=1e-12)
    assert keras.state_dict().keys() == torch_like.state_dict().keys()
    assert L.deserialize(json.loads(json.dumps(L.serialize(keras)))).get_config() == keras.get_config()
    assert keras.get_config()["momentum"] == pytest.approx(0.9)
    with pytest.raises(ValueError, match="axis=-1 is the last axis; .* use axis=1"):
        L.BatchNormalization(axis=-1).build((3, 4, 4))
    with pytest.raises(ValueError, match="axis must be 1"):
        L.BatchNormalization(axis=2)


def test_zero_padding_and_rescaling_by_hand():
    x = np.arange(4.0).reshape(1, 1, 2, 2)
    y = L.ZeroPadding2D(((1, 0), (0, 2)))(x)
    np.testing.assert_array_equal(y[0, 0], [[0, 0, 0, 0], [0, 1, 0, 0], [2, 3, 0, 0]])
    assert L.ZeroPadding2D((1, 2)).output_shape((3, 5, 5)) == (3, 7, 9)
    np.testing.assert_array_equal(L.Rescaling(1 / 255, offset=-1)(np.full((1, 2), 255.0)), [[0.0, 0.0]])
    with pytest.raises(ValueError, match="scale must be non-zero"):
        L.Rescaling(0)


def test_reshape_as_numpy_and_keras():
    x = np.arange(24.0).reshape(2, 12)
    np.testing.assert_array_equal(L.Reshape((1, 3, 4))(x), x.reshape(2, 1, 3, 4))
    assert L.Reshape((-1, 2)).output_shape((3, 4)) == (6, 2)
    reshape = L.Reshape((4, 3))
    reshape(x, training=True)
    np.testing.assert_array_equal(reshape.backward(np.ones((2, 4, 3))), np.ones((2, 12)))
    with pytest.raises(ValueError, match=r"cannot reshape input shape \(12,\) \(12 values\) to \(5, -1\)"):
        L.Reshape((5, -1)).output_shape((12,))
    with pytest.raises(ValueError, match="at most one -1"):
        L.Reshape((-1, -1))
    with pytest.raises(ValueError, match="sizes >= 1"):
        L.Reshape((0, 3))
    with pytest.raises(TypeError, match="target_shape must be a tuple"):
        L.Reshape(12)
