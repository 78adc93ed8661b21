"""One front door: the argument checks (cnnfast._checks) and the window geometry (cnnfast._geometry).

Layers, functional (both backends), the optimizers, the schedulers, the
callbacks and the data iterators check their arguments with the same
functions, so they refuse the same values with the same words; and every
output size comes from one function, so a layer's ``output_shape`` is what
its forward returns.
"""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cnnfast import _checks, _geometry, optim
from cnnfast import functional as F
from cnnfast import layers as L
from cnnfast.callbacks import EarlyStopping, ModelCheckpoint
from cnnfast.datasets import BatchIterator


class Param:
    def __init__(self, value):
        self.data = np.array(value, dtype=np.float64)
        self.grad = None


# ------------------------------------------------------------------ scalars


@pytest.mark.parametrize("check, value, exception, match", [
    (_checks.positive_int, True, TypeError, "must be an integer, got True"),
    (_checks.positive_int, 2.0, TypeError, "must be an integer, got 2.0"),
    (_checks.positive_int, 0, ValueError, "must be >= 1, got 0"),
    (_checks.positive_int, 2**31, ValueError, "must be <= 2147483647"),
    (_checks.nonnegative_int, -1, ValueError, "must be >= 0, got -1"),
    (_checks.real, float("nan"), ValueError, "must not be NaN"),
    (_checks.real, "1", TypeError, "must be a real number"),
    (_checks.real, np.True_, TypeError, "must be a real number"),
    (_checks.finite, float("inf"), ValueError, "must be finite"),
    (_checks.nonnegative, -0.5, ValueError, "must be >= 0, got -0.5"),
    (_checks.boolean, 1, TypeError, "must be True or False"),
])
def test_scalar_checks_refuse(check, value, exception, match):
    with pytest.raises(exception, match="arg " + match):
        check("arg", value)


def test_scalar_checks_return_canonical_values():
    assert _checks.positive_int("n", np.int16(3)) == 3 and type(_checks.positive_int("n", np.int16(3))) is int
    assert _checks.positive_int("n", 2**40, maximum=None) == 2**40
    assert _checks.real("x", np.float32(0.5)) == 0.5 and type(_checks.real("x", np.float32(0.5))) is float
    assert _checks.real("x", float("inf")) == float("inf")  # real allows infinities, finite does not
    assert _checks.pair("p", 3, 1) == (3, 3) and _checks.pair("p", [2, 1], 1) == (2, 1)
    assert _checks.one_of("mode", "min", ("min", "max")) == "min"
    with pytest.raises(ValueError, match=r"mode must be one of \('min', 'max'\), got 'mid'"):
        _checks.one_of("mode", "mid", ("min", "max"))


@pytest.mark.parametrize("make, exception, match", [
    # The same positive_int: in layers, the scheduler, fit's data, the callbacks.
    (lambda: L.Dense(True), TypeError, "units must be an integer, got True"),
    (lambda: L.Conv2D(2**31, 3), ValueError, "filters must be <= 2147483647"),
    (lambda: optim.StepLR(optim.SGD([Param([1.0])], lr=1.0), step_size=2**31), ValueError,
     "step_size must be <= 2147483647"),
    (lambda: BatchIterator(np.zeros(4), batch_size=0), ValueError, "batch_size must be >= 1, got 0"),
    (lambda: BatchIterator(np.zeros(4), batch_size=2.0), TypeError, "batch_size must be an integer"),
    (lambda: EarlyStopping(patience=1.5), TypeError, "patience must be an integer, got 1.5"),
    (lambda: EarlyStopping(patience=-1), ValueError, "patience must be >= 0"),
    (lambda: optim.ReduceLROnPlateau(optim.SGD([Param([1.0])], lr=1.0), patience=-1), ValueError,
     "patience must be >= 0"),
    # real / finite: NaN refused everywhere, infinity by the layers (not by torch-style optimizers).
    (lambda: L.LeakyReLU(float("nan")), ValueError, "negative_slope must not be NaN"),
    (lambda: L.ELU(float("inf")), ValueError, "alpha must be finite"),
    (lambda: optim.SGD([Param([1.0])], lr=float("nan")), ValueError, "learning rate must not be NaN"),
    (lambda: EarlyStopping(min_delta="0.1"), TypeError, "min_delta must be a real number"),
    # one_of
    (lambda: EarlyStopping(mode="up"), ValueError, r"mode must be one of \('auto', 'min', 'max'\)"),
    (lambda: ModelCheckpoint("f.npz", mode="up"), ValueError, r"mode must be one of"),
    (lambda: L.ReLU().set_backend("torch"), ValueError, r"backend must be one of \('fast', 'reference'\)"),
])
def test_every_front_door_uses_the_same_checks(make, exception, match):
    with pytest.raises(exception, match=match):
        make()


def test_optimizers_still_take_infinite_bounds():
    assert optim.clip_grad_norm([Param([1.0])], max_norm=float("inf")) == 0.0


# ----------------------------------------------------------------- geometry


conv_cases = st.fixed_dictionaries({
    "size": st.tuples(st.integers(1, 9), st.integers(1, 9)),
    "kernel": st.tuples(st.integers(1, 4), st.integers(1, 4)),
    "stride": st.tuples(st.integers(1, 3), st.integers(1, 3)),
    "padding": st.tuples(st.integers(0, 2), st.integers(0, 2)),
    "dilation": st.tuples(st.integers(1, 3), st.integers(1, 3)),
})


def _outcome(call):
    try:
        return call()
    except ValueError as error:
        return ("refused", "larger than the padded input" in str(error))


@settings(max_examples=150, deadline=None)
@given(conv_cases)
def test_conv_layer_shape_is_the_functional_shape(case):
    x = np.zeros((1, 2, *case["size"]))
    layer = L.Conv2D(3, case["kernel"], stride=case["stride"], padding=case["padding"],
                     dilation=case["dilation"]).astype(np.float64)
    w = np.zeros((3, 2, *case["kernel"]))
    predicted = _outcome(lambda: layer.output_shape(x.shape[1:]))
    for backend in F.BACKENDS:
        computed = _outcome(lambda: F.conv2d(x, w, None, case["stride"], case["padding"], case["dilation"],
                                             backend=backend).shape[1:])
        assert predicted == computed
    if predicted[0] != "refused":
        assert layer(x).shape[1:] == predicted


@settings(max_examples=150, deadline=None)
@given(conv_cases)
def test_pool_layer_shape_is_the_functional_shape(case):
    pool, padding = case["kernel"], tuple(min(p, k // 2) for p, k in zip(case["padding"], case["kernel"]))
    x = np.zeros((1, 2, *case["size"]))
    for layer_class, function in ((L.MaxPool2D, lambda *a, **k: F.max_pool2d(*a, **k)[0]),
                                  (L.AvgPool2D, F.avg_pool2d)):
        layer = layer_class(pool, stride=case["stride"], padding=padding)
        predicted = _outcome(lambda: layer.output_shape(x.shape[1:]))
        for backend in F.BACKENDS:
            computed = _outcome(lambda: function(x, pool, case["stride"], padding, backend=backend).shape[1:])
            assert predicted == computed


@settings(max_examples=100, deadline=None)
@given(conv_cases, st.integers(0, 2))
def test_transposed_conv_layer_shape_is_the_functional_shape(case, output_padding):
    x = np.zeros((1, 2, *case["size"]))
    w = np.zeros((2, 3, *case["kernel"]))

    def layer_shape():
        layer = L.Conv2DTranspose(3, case["kernel"], stride=case["stride"], padding=case["padding"],
                                  output_padding=output_padding, dilation=case["dilation"])
        return layer.output_shape(x.shape[1:])

    def outcome(call):
        try:
            return call()
        except ValueError as error:
            return ("refused", "leaves no output" in str(error) or "output_padding" in str(error))

    predicted = outcome(layer_shape)
    computed = outcome(lambda: F.conv_transpose2d(x, w, None, case["stride"], case["padding"], output_padding,
                                                  1, case["dilation"]).shape[1:])
    assert predicted == computed


def test_output_size_is_torch_floor_mode_and_names_what_does_not_fit():
    assert _geometry.output_size(28, 5, 1, 0, 1, axis="height", what="k", input_shape=(1, 28, 28)) == 24
    assert _geometry.output_size(7, 3, 2, 1, 2, axis="width", what="k", input_shape=(7, 7)) == 3
    assert _geometry.output_size(5, 3, 1, (1, 2), axis="height", what="k", input_shape=(5,)) == 6
    with pytest.raises(ValueError, match=r"k \(dilated width extent 7\) is larger than the padded input "
                                         r"width 4 \+ 2 \* 1 for input of shape \(1, 4, 4\)"):
        _geometry.output_size(4, 4, 1, 1, 2, axis="width", what="k", input_shape=(1, 4, 4))
    with pytest.raises(ValueError, match=r"pool is larger than the padded input height 2 \+ 0 \+ 1"):
        _geometry.output_size(2, 4, 1, (0, 1), axis="height", what="pool", input_shape=(2,))
