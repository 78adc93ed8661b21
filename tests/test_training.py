"""cnnfast.training: fit from a batch iterator or a generator (as Keras), one Sequential, the step.

The oracle is fit on arrays: the same batches in the same order, given as a
BatchIterator, a generator or ImageDataGenerator.flow, must train to the same
weights bit for bit.
"""

import warnings

import numpy as np
import pytest

import cnnfast
import cnnfast.model
from cnnfast import layers as L
from cnnfast.callbacks import Callback
from cnnfast.datasets import BatchIterator, ImageDataGenerator
from cnnfast.training import TrainStep

from synthetic_data import quadrant_data


def compiled(seed=0, **kwargs):
    model = cnnfast.Sequential([L.Conv2D(4, 3), L.ReLU(), L.Flatten(), L.Dense(4)], input_shape=(1, 8, 8),
                               seed=seed)
    model.compile("sgd", lr=0.05, momentum=0.9, **kwargs)
    return model


@pytest.fixture(scope="module")
def data():
    return quadrant_data(200, 0), quadrant_data(96, 1)


def assert_same_weights(a, b):
    for wa, wb in zip(a.get_weights(), b.get_weights(), strict=True):
        np.testing.assert_array_equal(wa, wb)


def in_order(x, y, batch_size):
    for lo in range(0, len(x), batch_size):
        yield x[lo:lo + batch_size], y[lo:lo + batch_size]


def endless(x, y, batch_size):
    while True:
        yield from in_order(x, y, batch_size)


class CountBatches(Callback):
    def __init__(self):
        super().__init__()
        self.per_epoch = []

    def on_epoch_begin(self, epoch, logs=None):
        self.per_epoch.append(0)

    def on_batch_end(self, batch, logs=None):
        self.per_epoch[-1] += 1


# ------------------------------------------------------------ batch sources


def test_a_batch_iterator_trains_as_the_same_arrays(data):
    (x, y), _ = data
    reference, model = compiled(), compiled()
    expected = reference.fit(x, y, epochs=3, batch_size=32, shuffle=False, verbose=0)
    history = model.fit(BatchIterator(x, y, batch_size=32, shuffle=False), epochs=3, verbose=0)
    assert history.history["loss"] == expected.history["loss"]
    assert history.history["accuracy"] == expected.history["accuracy"]
    assert_same_weights(model, reference)


def test_a_generator_with_steps_per_epoch_trains_as_the_same_arrays(data):
    (x, y), _ = data
    reference, model = compiled(), compiled()
    reference.fit(x, y, epochs=2, batch_size=50, shuffle=False, verbose=0)
    counter = CountBatches()
    history = model.fit(endless(x, y, 50), epochs=2, steps_per_epoch=4, verbose=0, callbacks=[counter])
    assert counter.per_epoch == [4, 4] and counter.params["steps"] == 4
    assert history.epoch == [0, 1]
    assert_same_weights(model, reference)


def test_a_generator_that_runs_out_stops_training_with_a_warning(data):
    (x, y), _ = data
    model = compiled()
    with pytest.warns(RuntimeWarning, match="ran out in epoch 2 of 3"):
        history = model.fit(in_order(x, y, 64), epochs=3, verbose=0)
    assert history.epoch == [0]  # the first epoch read the whole generator
    with pytest.warns(RuntimeWarning, match="ran out in epoch 1"):
        assert compiled().fit(iter(()), epochs=1, verbose=0).epoch == []


def test_image_data_generator_flow_is_a_fit_source(data):
    (x, y), (xt, yt) = data
    model = compiled()
    flow = ImageDataGenerator(width_shift_range=1, seed=0).flow(x, y, batch_size=20)
    counter = CountBatches()
    model.fit(flow, epochs=4, verbose=0, callbacks=[counter])
    assert counter.per_epoch == [10] * 4  # one pass of the flow per epoch
    assert counter.params["samples"] == 200 and counter.params["batch_size"] == 20
    assert model.evaluate(xt, yt)[1] >= 0.9
    # Without augmentation, a flow in order is the arrays themselves.
    plain, reference = compiled(), compiled()
    plain.fit(ImageDataGenerator().flow(x, y, batch_size=40, shuffle=False), epochs=2, verbose=0)
    reference.fit(x, y, epochs=2, batch_size=40, shuffle=False, verbose=0)
    assert_same_weights(plain, reference)


def test_an_unbuilt_model_is_built_from_the_first_batch():
    x, y = quadrant_data(64, 2)
    model = cnnfast.Sequential([L.Conv2D(4, 3), L.ReLU(), L.Flatten(), L.Dense(4)])
    model.compile("adam", lr=0.01)
    model.fit(BatchIterator(x, y, batch_size=16), epochs=1, verbose=0)
    assert model.built and model.input_shape == (1, 8, 8)
    assert [id(p) for p in model.optimizer.params] == [id(p) for p in model.parameters()]


def test_steps_per_epoch_limits_array_epochs(data):
    (x, y), _ = data
    counter = CountBatches()
    compiled().fit(x, y, epochs=2, batch_size=32, steps_per_epoch=3, verbose=0, callbacks=[counter])
    assert counter.per_epoch == [3, 3]


def test_validation_and_evaluation_take_batch_iterators(data):
    (x, y), (xt, yt) = data
    model = compiled()
    history = model.fit(x, y, epochs=2, verbose=0,
                        validation_data=ImageDataGenerator().flow(xt, yt, batch_size=256, shuffle=False))
    on_arrays = model.evaluate(xt, yt, return_dict=True)
    assert history.history["val_loss"][-1] == on_arrays["loss"]
    assert history.history["val_accuracy"][-1] == on_arrays["accuracy"]
    assert model.evaluate(BatchIterator(xt, yt, batch_size=30, shuffle=False)) == model.evaluate(xt, yt, batch_size=30)
    assert model.evaluate(in_order(xt, yt, 30)) == model.evaluate(xt, yt, batch_size=30)


@pytest.mark.parametrize("kwargs, exception, match", [
    ({"y": np.zeros(8, np.int64)}, ValueError, "y must not be given"),
    ({"batch_size": 32}, ValueError, "batch_size must not be given"),
    ({"validation_split": 0.2}, ValueError, "validation_split must not be given"),
    ({"steps_per_epoch": 0}, ValueError, "steps_per_epoch must be >= 1"),
])
def test_arguments_that_make_no_sense_with_a_batch_iterator_are_refused(data, kwargs, exception, match):
    (x, y), _ = data
    with pytest.raises(exception, match=match):
        compiled().fit(BatchIterator(x, y, batch_size=8), epochs=1, verbose=0, **kwargs)


def test_malformed_batches_are_refused(data):
    (x, y), (xt, yt) = data
    with pytest.raises(TypeError, match=r"x must yield \(x_batch, y_batch\) pairs, got a 3-tuple"):
        compiled().fit(((xb, yb, np.ones(len(yb))) for xb, yb in in_order(x, y, 8)), verbose=0)
    with pytest.raises(TypeError, match="x must yield .* got ndarray"):
        compiled().fit(BatchIterator(x, batch_size=8), verbose=0)
    with pytest.raises(TypeError, match="x batch x must be a float32 or float64 array.*uint8"):
        compiled().fit(in_order((x * 10).astype(np.uint8), y, 8), verbose=0)
    with pytest.raises(ValueError, match="one target per sample"):
        compiled().fit(((xb, yb[:-1]) for xb, yb in in_order(x, y, 8)), verbose=0)
    with pytest.raises(TypeError, match="not a one-shot generator"):
        compiled().fit(x, y, verbose=0, validation_data=in_order(xt, yt, 8))
    with pytest.raises(ValueError, match="y is required"):
        compiled().fit(x, verbose=0)
    with pytest.raises(TypeError, match="x must be a NumPy array, got list"):
        compiled().fit(list(x), y, verbose=0)


# ------------------------------------------------------------- one Sequential


def test_one_sequential_class_under_every_name():
    assert cnnfast.Sequential is cnnfast.layers.Sequential is cnnfast.model.Sequential
    assert cnnfast.load_model is cnnfast.model.load_model
    block = L.Sequential([L.Conv2D(2, 3, padding=1), L.ReLU()])
    model = cnnfast.Sequential([L.Residual(block), L.Flatten(), L.Dense(3)], input_shape=(2, 4, 4))
    assert block.built  # built by its parent, from the parent's generator
    with pytest.raises(RuntimeError, match="built"):
        block.add(L.ReLU())
    # A nested Sequential names its children as torch's nested nn.Sequential does.
    assert list(model.state_dict())[:2] == ["0.block.0.weight", "0.block.0.bias"]


def test_the_step_is_one_update_and_its_hook_sees_the_gradients(data):
    (x, y), _ = data
    seen = []

    class Recording(TrainStep):
        def reduce(self, loss, correct, size):
            seen.append((loss, correct, size, [p.grad.copy() for p in self.model.optimizer.params]))
            return super().reduce(loss, correct, size)

    model, reference = compiled(), compiled()
    result = Recording(model)(x[:32], y[:32])
    logs = reference.train_on_batch(x[:32], y[:32])
    assert result == (logs["loss"], round(logs["accuracy"] * 32), 32) and len(seen) == 1
    assert_same_weights(model, reference)
    # The hook ran after the backward and before the update: the gradients were there.
    assert all(np.any(g != 0) for g in seen[0][3])


def test_fit_does_not_warn_on_plain_arrays(data):
    (x, y), _ = data
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        compiled().fit(x, y, epochs=1, verbose=0)
