"""cnnfast.Sequential as a model: build, compile, fit, evaluate, predict, summary, weights."""

import numpy as np
import pytest

from cnnfast import layers as L
from cnnfast import optim
from cnnfast.callbacks import Callback
from cnnfast.model import Sequential

from synthetic_data import quadrant_data


def small_model(seed=0, dtype="float32", input_shape=(1, 8, 8)):
    return Sequential([L.Conv2D(4, 3), L.ReLU(), L.Flatten(), L.Dense(4)], input_shape=input_shape, seed=seed,
                      dtype=dtype)


def compiled(seed=0, **kwargs):
    model = small_model(seed)
    model.compile("sgd", lr=0.05, momentum=0.9, **kwargs)
    return model


@pytest.fixture(scope="module")
def data():
    return quadrant_data(256, 0), quadrant_data(128, 1)


def test_fit_learns_a_separable_problem(data):
    (x, y), (xt, yt) = data
    model = compiled()
    _, accuracy_before = model.evaluate(xt, yt)
    history = model.fit(x, y, epochs=3, batch_size=32, verbose=0)
    _, accuracy_after = model.evaluate(xt, yt)
    assert accuracy_before < 0.6
    assert accuracy_after >= 0.95
    assert history.history["loss"][-1] < history.history["loss"][0]
    assert history.epoch == [0, 1, 2]
    assert sorted(history.history) == ["accuracy", "images_per_sec", "loss", "lr"]
    assert all(v > 0 for v in history.history["images_per_sec"])
    assert history.history["lr"] == [0.05] * 3
    assert history.interrupted is False


def test_build_on_first_fit_and_compile_before_build(data):
    (x, y), _ = data
    model = Sequential([L.Conv2D(4, 3), L.ReLU(), L.Flatten(), L.Dense(4)], seed=3)
    assert not model.built
    model.compile("adam", lr=0.01)
    assert model.optimizer is None
    model.fit(x, y, epochs=1, verbose=0)
    assert model.built and model.input_shape == (1, 8, 8)
    assert isinstance(model.optimizer, optim.Adam) and model.optimizer.lr == 0.01
    # The optimizer holds the model's own parameters (not stand-ins).
    assert [id(p) for p in model.optimizer.params] == [id(p) for p in model.parameters()]
    reference = small_model(seed=3)
    assert not all(np.array_equal(a, b) for a, b in zip(model.get_weights(), reference.get_weights()))


def test_same_seed_same_weights_and_trajectory(data):
    (x, y), _ = data
    a, b, c = compiled(seed=7), compiled(seed=7), compiled(seed=8)
    for wa, wb in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_array_equal(wa, wb)
    assert not np.array_equal(a.get_weights()[0], c.get_weights()[0])
    ha = a.fit(x, y, epochs=2, batch_size=16, validation_split=0.25, verbose=0)
    hb = b.fit(x, y, epochs=2, batch_size=16, validation_split=0.25, verbose=0)
    assert ha.history["loss"] == hb.history["loss"]
    assert ha.history["val_loss"] == hb.history["val_loss"]
    for wa, wb in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_array_equal(wa, wb)


def test_shuffle_changes_the_batches_and_shuffle_false_keeps_order(data):
    (x, y), _ = data
    seen = {}

    class Recorder(L.Layer):
        def _forward(self, x, training):
            if training:
                seen.setdefault(tag, []).append(x[:, 0, 0, 0].copy())
            return x

        def _backward(self, grad_y):
            return grad_y

    for tag in ("shuffled", "ordered"):
        model = Sequential([Recorder(), L.Flatten(), L.Dense(4)], input_shape=(1, 8, 8))
        model.compile("sgd")
        model.fit(x, y, epochs=1, batch_size=64, shuffle=(tag == "shuffled"), verbose=0)
    np.testing.assert_array_equal(np.concatenate(seen["ordered"]), x[:, 0, 0, 0])
    shuffled = np.concatenate(seen["shuffled"])
    assert not np.array_equal(shuffled, x[:, 0, 0, 0])
    np.testing.assert_array_equal(np.sort(shuffled), np.sort(x[:, 0, 0, 0]))


def test_validation_split_holds_out_the_last_fraction(data):
    (x, y), _ = data
    model = compiled()
    samples = []

    class Params(Callback):
        def on_train_begin(self, logs=None):
            samples.append(self.params["samples"])

    history = model.fit(x, y, epochs=2, batch_size=32, validation_split=0.25, verbose=0, callbacks=[Params()])
    assert samples == [192]
    # The last epoch's validation ran on the final weights over x[192:].
    held_out = model.evaluate(x[192:], y[192:], return_dict=True)
    assert history.history["val_loss"][-1] == pytest.approx(held_out["loss"], rel=1e-12)
    assert history.history["val_accuracy"][-1] == held_out["accuracy"]
    assert len(history.history["val_loss"]) == 2


def test_validation_data_takes_precedence(data):
    (x, y), (xt, yt) = data
    model = compiled()
    history = model.fit(x, y, epochs=1, validation_data=(xt, yt), validation_split=0.5, verbose=0)
    loss, accuracy = model.evaluate(xt, yt)
    assert history.history["val_accuracy"][-1] == accuracy
    assert history.history["val_loss"][-1] == pytest.approx(loss, rel=1e-12)


def test_bad_inputs_are_refused_with_clear_messages(data):
    (x, y), _ = data
    model = small_model()
    with pytest.raises(RuntimeError, match="compile"):
        model.fit(x, y, verbose=0)
    model.compile("sgd")
    with pytest.raises(TypeError, match="uint8"):
        model.fit((x * 255).astype(np.uint8), y, verbose=0)
    with pytest.raises(TypeError, match="float16"):
        model.predict(x.astype(np.float16))
    with pytest.raises(ValueError, match=r"\(8, 1, 9, 9\).*\(N, 1, 8, 8\)"):
        model.predict(np.zeros((8, 1, 9, 9), np.float32))
    with pytest.raises(ValueError, match="256 samples"):
        model.fit(x, y[:10], verbose=0)
    with pytest.raises(ValueError, match="validation_split"):
        model.fit(x, y, validation_split=1.0, verbose=0)
    with pytest.raises(ValueError, match="batch_size"):
        model.fit(x, y, batch_size=0, verbose=0)
    with pytest.raises(ValueError, match="metric"):
        model.compile("sgd", metrics=("precision",))
    with pytest.raises(ValueError, match="optimizer"):
        model.compile("sgdd")
    with pytest.raises(TypeError):
        Sequential([L.Dense(2)]).compile("sgd", momentum="a lot")


def test_float64_input_is_converted_once_and_float64_models_train(data):
    (x, y), _ = data
    model = compiled()
    np.testing.assert_array_equal(model.predict(x.astype(np.float64)), model.predict(x))
    model64 = small_model(dtype="float64")
    assert all(w.dtype == np.float64 for w in model64.get_weights())
    # float32 and float64 models from one seed draw the same initial weights.
    for w32, w64 in zip(small_model().get_weights(), model64.get_weights()):
        np.testing.assert_allclose(w64, w32, rtol=1e-6)
    model64.compile("sgd", lr=0.05, momentum=0.9)
    model64.fit(x, y, epochs=2, verbose=0)
    assert model64.predict(x).dtype == np.float64
    assert model64.evaluate(x, y)[1] > 0.9


def test_one_hot_targets(data):
    (x, y), _ = data
    model = compiled()
    history = model.fit(x, np.eye(4)[y], epochs=2, verbose=0)
    assert history.history["accuracy"][-1] > 0.9
    assert model.evaluate(x, np.eye(4)[y])[1] == model.evaluate(x, y)[1]


def test_train_on_batch_evaluate_predict(data):
    (x, y), _ = data
    model = compiled()
    first = model.train_on_batch(x[:64], y[:64])
    for _ in range(20):
        last = model.train_on_batch(x[:64], y[:64])
    assert set(first) == {"loss", "accuracy"}
    assert last["loss"] < first["loss"]
    logits = model.predict(x, batch_size=50)
    assert logits.shape == (256, 4) and logits.dtype == np.float32
    np.testing.assert_allclose(logits, model.predict(x), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(logits[:3], model(x[:3]), rtol=1e-5, atol=1e-6)
    result = model.evaluate(x, y, batch_size=100, return_dict=True)
    assert result["accuracy"] == np.mean(logits.argmax(1) == y)
    # Inference keeps no caches: there is nothing to backpropagate through.
    with pytest.raises(RuntimeError, match="forward"):
        model.backward(np.ones((256, 4), np.float32))
    assert model.predict(np.zeros((0, 1, 8, 8), np.float32)).shape == (0, 4)


def test_metrics_empty_reports_loss_only(data):
    (x, y), _ = data
    model = small_model()
    model.compile("sgd", metrics=())
    history = model.fit(x, y, epochs=1, validation_split=0.25, verbose=0)
    assert sorted(history.history) == ["images_per_sec", "loss", "lr", "val_loss"]
    assert set(model.evaluate(x, y, return_dict=True)) == {"loss"}
    assert isinstance(model.evaluate(x, y), float)  # Keras: the loss alone when there is no metric


def test_clip_norm_bounds_each_step(data):
    (x, y), _ = data
    model = small_model()
    model.compile("sgd", lr=1.0, clip_norm=1e-3)
    before = model.get_weights()
    model.train_on_batch(x[:32], y[:32])
    step = np.sqrt(sum(np.sum((a - b).astype(np.float64) ** 2) for a, b in zip(model.get_weights(), before)))
    assert 0 < step <= 1e-3 * 1.0001
    unclipped = small_model()
    unclipped.compile("sgd", lr=1.0)
    unclipped.train_on_batch(x[:32], y[:32])
    big = np.sqrt(sum(np.sum((a - b).astype(np.float64) ** 2) for a, b in zip(unclipped.get_weights(), before)))
    assert big > 10 * step


def test_optimizer_instance(data):
    (x, y), _ = data
    model = small_model()
    opt = optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    model.compile(opt)
    assert model.optimizer is opt
    model.fit(x, y, epochs=2, verbose=0)
    assert model.evaluate(x, y)[1] > 0.9
    with pytest.raises(TypeError):
        model.compile(opt, lr=0.1)


def test_get_set_weights(data):
    (x, _), _ = data
    source, target = small_model(seed=1), small_model(seed=2)
    weights = source.get_weights()
    assert [w.shape for w in weights] == [w.shape for w in source.state_dict().values()]
    assert [w.shape for w in weights] == [(4, 1, 3, 3), (4,), (4, 144), (4,)]
    target.set_weights(weights)
    np.testing.assert_array_equal(target.predict(x), source.predict(x))
    weights[0][...] = 99  # get_weights returns copies
    assert not np.any(source.get_weights()[0] == 99)
    with pytest.raises(ValueError, match="3 arrays.*4"):
        target.set_weights(weights[:3])
    bad = list(weights)
    bad[2] = np.zeros((4, 145), np.float32)
    with pytest.raises(ValueError, match=r"'3.weight' has shape \(4, 145\).*\(4, 144\)"):
        target.set_weights(bad)


def test_state_dict_names_are_torch_names():
    model = Sequential([L.Conv2D(4, 3), L.BatchNorm2D(), L.ReLU(), L.Flatten(), L.Dense(3)], input_shape=(2, 6, 6))
    assert list(model.state_dict()) == [
        "0.weight", "0.bias", "1.weight", "1.bias", "1.running_mean", "1.running_var", "1.num_batches_tracked",
        "4.weight", "4.bias",
    ]


def test_stop_training_from_a_callback(data):
    (x, y), _ = data

    class StopAfterThree(Callback):
        batches = 0

        def on_batch_end(self, batch, logs=None):
            StopAfterThree.batches += 1
            if StopAfterThree.batches == 3:
                self.model.stop_training = True

    model = compiled()
    history = model.fit(x, y, epochs=5, batch_size=32, callbacks=[StopAfterThree()], verbose=0)
    assert StopAfterThree.batches == 3
    assert history.epoch == [0] and not history.interrupted


def test_summary_table():
    model = Sequential([L.Conv2D(4, 3), L.BatchNorm2D(), L.ReLU(), L.Flatten(), L.Dense(3)], input_shape=(2, 6, 6),
                       name="tiny")
    lines = []
    model.summary(print_fn=lines.append)
    text = "\n".join(lines)
    assert 'Model: "tiny"' in text
    rows = {line.split()[0]: line for line in lines[3:8]}
    assert rows["0"].split() == ["0", "(Conv2D)", "(None,", "4,", "4,", "4)", "76"]  # 4*2*9 + 4
    assert rows["1"].split()[-1] == "16"  # BatchNorm: weight, bias, running mean and variance
    assert rows["4"].split()[-1] == "195"  # Dense: 3*64 + 3
    assert "(None, 64)" in text and "(None, 3)" in text and "195" in text  # 3*64 + 3
    assert "Total params: 287" in text  # 76 + 8 + 195 trainable, + 8 running statistics
    assert "Trainable params: 279" in text
    assert "Non-trainable params: 8" in text
    with pytest.raises(ValueError, match="not built"):
        Sequential([L.Dense(2)]).summary()


def test_augment_transforms_every_training_batch_and_never_validation(data):
    (x, y), (xv, yv) = data
    seen = []

    def mark(batch):
        seen.append(batch.shape)
        return batch + 100.0  # so large that validation on augmented data would show it

    model = compiled()
    history = model.fit(x, y, epochs=2, batch_size=64, validation_data=(xv, yv), verbose=0, augment=mark)
    assert seen == [(64, 1, 8, 8)] * 8
    plain = compiled()
    plain.fit(x, y, epochs=2, batch_size=64, verbose=0)
    assert not np.allclose(model.predict(xv), plain.predict(xv))  # the augmented batches were trained on
    assert history.history["val_loss"][-1] == pytest.approx(model.evaluate(xv, yv)[0])


def test_augment_accepts_an_image_data_generator_and_checks_shapes(data):
    from cnnfast.datasets import ImageDataGenerator

    (x, y), (xt, yt) = data
    model = compiled()
    model.fit(x, y, epochs=3, batch_size=32, verbose=0, augment=ImageDataGenerator(width_shift_range=1, seed=0))
    assert model.evaluate(xt, yt)[1] >= 0.9
    with pytest.raises(ValueError, match="changed the batch shape"):
        compiled().fit(x, y, epochs=1, verbose=0, augment=lambda b: b[:, :, 1:])
    with pytest.raises(TypeError, match="augment"):
        compiled().fit(x, y, epochs=1, verbose=0, augment=3)


# --------------------------------------------- Keras's positional order and return values (issue 15)


def test_fit_takes_keras_positional_order_batch_size_then_epochs(data):
    (x, y), _ = data
    model = compiled()
    seen = {}

    class Params(Callback):
        def on_train_begin(self, logs=None):
            seen.update(self.params)

    # fit(x, y, batch_size, epochs, verbose, callbacks, validation_split, validation_data, shuffle), as Keras 3.
    history = model.fit(x, y, 32, 4, 0, [Params()], 0.25, None, False)
    assert history.epoch == [0, 1, 2, 3]
    assert seen["batch_size"] == 32 and seen["epochs"] == 4 and seen["steps"] == 6  # 192 samples / 32
    assert "val_loss" in history.history
    # Keras's next positions are class_weight and sample_weight, which cnnfast does not take: keyword-only after.
    with pytest.raises(TypeError, match="positional"):
        model.fit(x, y, 32, 1, 0, None, 0.0, None, True, 0)
    assert model.fit(x, y, verbose=0, initial_epoch=1, epochs=2).epoch == [1]


def test_evaluate_returns_keras_list_scalar_or_dict(data):
    (x, y), _ = data
    model = compiled()
    loss, accuracy = model.evaluate(x, y)
    assert model.metrics_names == ["loss", "accuracy"]
    assert model.evaluate(x, y, return_dict=True) == {"loss": loss, "accuracy": accuracy}
    assert isinstance(loss, float) and 0.0 <= accuracy <= 1.0
    no_metrics = small_model()
    no_metrics.compile("sgd", metrics=[])
    assert no_metrics.metrics_names == ["loss"]
    assert no_metrics.evaluate(x, y) == pytest.approx(loss)   # the same weights (seed 0): the same loss
    with pytest.raises(TypeError, match="positional"):
        model.evaluate(x, y, 32, 0, True)


def test_verbose_auto_is_accepted_and_prints(data, capsys):
    (x, y), _ = data
    model = compiled()
    model.fit(x[:64], y[:64], epochs=1, verbose="auto")
    model.evaluate(x, y, verbose="auto")
    assert "loss" in capsys.readouterr().out
    with pytest.raises(ValueError, match="verbose must be one of"):
        model.fit(x, y, verbose=3)


# ------------------------------------------------ Keras's model habits: add, layers, Input, build (issue 15)


def keras_layers():
    return [L.Conv2D(4, 3), L.ReLU(), L.Flatten(), L.Dense(4)]


def assert_same_weights(a, b):
    assert len(a.get_weights()) == len(b.get_weights())
    for wa, wb in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_array_equal(wa, wb)


def test_add_one_by_one_with_input_shape_on_the_first_layer_is_the_same_model(data):
    (x, y), _ = data
    reference = Sequential(keras_layers(), input_shape=(1, 8, 8), seed=4)
    model = Sequential(seed=4)
    first, *rest = keras_layers()
    model.add(L.Conv2D(4, 3, input_shape=(1, 8, 8)))
    assert model.built and model.input_shape == (1, 8, 8)   # built at once, as Keras: summary works now
    for layer in rest:
        model.add(layer)
    assert_same_weights(model, reference)
    assert [type(layer) for layer in model.layers] == [type(layer) for layer in reference.layers]
    assert model.count_params() == sum(w.size for w in reference.get_weights()) == 4 * 9 + 4 + 4 * 36 * 4 + 4
    # The other spellings of the input shape build the same model.
    for spelled in (Sequential([L.Input((1, 8, 8)), *keras_layers()], seed=4),
                    Sequential([L.Conv2D(4, 3, input_shape=(1, 8, 8)), *keras_layers()[1:]], seed=4),
                    Sequential(seed=4).add(L.Input((1, 8, 8)))):
        if not spelled.layers:
            for layer in keras_layers():
                spelled.add(layer)
        assert spelled.input_shape == (1, 8, 8)
        assert_same_weights(spelled, reference)
    dense = Sequential([L.Dense(3, input_dim=5)])
    assert dense.input_shape == (5,) and len(dense.layers) == 1


def test_build_takes_keras_batch_first_shape():
    model = Sequential(keras_layers(), seed=4)
    model.build((None, 1, 8, 8))
    assert model.input_shape == (1, 8, 8)
    assert_same_weights(model, Sequential(keras_layers(), input_shape=(1, 8, 8), seed=4))


def test_add_after_compile_rebuilds_the_optimizer_on_every_parameter(data):
    (x, y), _ = data
    model = Sequential([L.Conv2D(4, 3), L.ReLU(), L.Flatten()], input_shape=(1, 8, 8), seed=0)
    model.compile("sgd", lr=0.05, momentum=0.9)
    model.add(L.Dense(4))
    assert [id(p) for p in model.optimizer.params] == [id(p) for p in model.parameters()]
    model.fit(x, y, epochs=1, verbose=0)
    assert model.summary(print_fn=lambda line: None) is None


def test_add_is_refused_where_it_cannot_be_honoured():
    with pytest.raises(ValueError, match="Input.* must be the first item"):
        Sequential([L.Dense(2), L.Input((3,))])
    with pytest.raises(ValueError, match=r"input_shape=\(4,\) differs from the first item's input shape \(3,\)"):
        Sequential([L.Dense(2, input_shape=(3,))], input_shape=(4,))
    model = Sequential([L.Dense(2)], input_shape=(3,))
    model.compile(optim.SGD(model.parameters(), lr=0.1))
    with pytest.raises(RuntimeError, match="compiled with an Optimizer holding its parameters"):
        model.add(L.Dense(2))
    assert len(model.layers) == 1
    inner = Sequential([L.Dense(2)])
    Sequential([inner], input_shape=(3,))
    with pytest.raises(RuntimeError, match="built by a parent"):
        inner.add(L.ReLU())
    with pytest.raises(TypeError, match="give input_shape or input_dim, not both"):
        L.Dense(2, input_shape=(3,), input_dim=3)


def test_predict_on_batch_and_predict_proba(data):
    (x, y), _ = data
    model = compiled()
    logits = model.predict(x[:10])
    np.testing.assert_array_equal(model.predict_on_batch(x[:10]), logits)
    probabilities = model.predict_proba(x[:10])
    expected = np.exp(logits - logits.max(1, keepdims=True))
    np.testing.assert_allclose(probabilities, expected / expected.sum(1, keepdims=True), rtol=1e-6)
    softmaxed = Sequential([*keras_layers(), L.Softmax()], input_shape=(1, 8, 8))
    np.testing.assert_array_equal(softmaxed.predict_proba(x[:10]), softmaxed.predict(x[:10]))
    binary = Sequential([L.Flatten(), L.Dense(1)], input_shape=(1, 8, 8))
    z = binary.predict(x[:10]).astype(np.float64)
    np.testing.assert_allclose(binary.predict_proba(x[:10]), 1 / (1 + np.exp(-z)), rtol=1e-6)


def test_train_and_eval_set_the_mode_of_calls_without_training(data):
    """torch's model.train() / model.eval(): the default of forward's training; cnnfast starts in eval."""
    (x, _), _ = data
    model = Sequential([L.Flatten(), L.Dropout(0.5), L.Dense(4)], input_shape=(1, 8, 8), seed=0)
    assert model.training is False
    np.testing.assert_array_equal(model(x[:4]), model.predict(x[:4]))   # inference: dropout off
    with pytest.raises(RuntimeError, match="forward"):
        model.backward(np.ones((4, 4), np.float32))
    assert model.train() is model and model.training and all(layer.training for layer in model.layers)
    y = model(x[:4])
    assert model.backward(np.ones_like(y)).shape == x[:4].shape          # a training forward: backward works
    assert not np.allclose(y, model.predict(x[:4]))                      # dropout on
    np.testing.assert_array_equal(model(x[:4], training=False), model.predict(x[:4]))  # explicit wins
    assert model.eval() is model and not any(layer.training for layer in model.layers)
    np.testing.assert_array_equal(model(x[:4]), model.predict(x[:4]))
    with pytest.raises(TypeError, match="mode must be True or False"):
        model.train("yes")
