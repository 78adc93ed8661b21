"""cnnfast.callbacks and fit's hooks: order, EarlyStopping, ModelCheckpoint, LearningRateScheduler,
progress output, and Ctrl-C (KeyboardInterrupt) during fit."""

import io
import os
import re
import signal
import sys

import numpy as np
import pytest

import cnnfast.model
from cnnfast import layers as L
from cnnfast.callbacks import (
    Callback,
    EarlyStopping,
    History,
    LearningRateScheduler,
    ModelCheckpoint,
    ProgressBar,
    TerminateOnNaN,
)
from cnnfast.model import Sequential, load_model

from synthetic_data import quadrant_data


def compiled(seed=0, lr=0.05):
    model = Sequential([L.Conv2D(4, 3), L.ReLU(), L.Flatten(), L.Dense(4)], input_shape=(1, 8, 8), seed=seed)
    model.compile("sgd", lr=lr, momentum=0.9)
    return model


@pytest.fixture(scope="module")
def data():
    return quadrant_data(128, 0)


@pytest.fixture(scope="module")
def adversarial_validation(data):
    """Validation targets that disagree with training: val_loss rises as the model learns."""
    x, y = data
    return x, (y + 1) % 4


class WeightsPerEpoch(Callback):
    def __init__(self):
        super().__init__()
        self.weights = []

    def on_epoch_end(self, epoch, logs=None):
        self.weights.append(self.model.get_weights())


def assert_weights_equal(got, expected):
    assert len(got) == len(expected)
    for a, b in zip(got, expected):
        np.testing.assert_array_equal(a, b)


def test_custom_callback_sees_every_hook_in_order(data):
    x, y = data
    events = []

    class Recorder(Callback):
        def on_train_begin(self, logs=None):
            events.append(("train_begin",))
            assert self.params["steps"] == 2 and self.params["samples"] == 96 and self.params["epochs"] == 2

        def on_train_end(self, logs=None):
            events.append(("train_end",))

        def on_epoch_begin(self, epoch, logs=None):
            events.append(("epoch_begin", epoch))

        def on_epoch_end(self, epoch, logs=None):
            events.append(("epoch_end", epoch, sorted(logs)))

        def on_batch_begin(self, batch, logs=None):
            events.append(("batch_begin", batch, logs["size"]))

        def on_batch_end(self, batch, logs=None):
            events.append(("batch_end", batch, logs["size"]))
            assert {"loss", "accuracy", "images_per_sec"} <= set(logs)

    recorder = Recorder()
    model = compiled()
    model.fit(x, y, epochs=2, batch_size=64, validation_split=0.25, callbacks=[recorder], verbose=0)
    assert recorder.model is model
    keys = ["accuracy", "images_per_sec", "loss", "lr", "val_accuracy", "val_loss"]
    epoch = [("batch_begin", 0, 64), ("batch_end", 0, 64), ("batch_begin", 1, 32), ("batch_end", 1, 32)]
    assert events == [
        ("train_begin",),
        ("epoch_begin", 0), *epoch, ("epoch_end", 0, keys),
        ("epoch_begin", 1), *epoch, ("epoch_end", 1, keys),
        ("train_end",),
    ]


def test_callbacks_must_be_callback_instances(data):
    x, y = data
    with pytest.raises(TypeError, match="Callback"):
        compiled().fit(x, y, callbacks=[lambda: None], verbose=0)


def test_history_callback_is_returned(data):
    x, y = data
    history = compiled().fit(x, y, epochs=2, verbose=0, initial_epoch=0)
    assert isinstance(history, History)
    assert history.epoch == [0, 1]
    resumed = compiled().fit(x, y, epochs=3, initial_epoch=1, verbose=0)
    assert resumed.epoch == [1, 2]


# ------------------------------------------------------------------ EarlyStopping


class FakeModel:
    """Just what EarlyStopping touches: get/set_weights and stop_training."""

    def __init__(self):
        self.value = 0
        self.stop_training = False

    def get_weights(self):
        return [np.array(self.value)]

    def set_weights(self, weights):
        self.value = int(weights[0])


def run_early_stopping(values, **kwargs):
    model = FakeModel()
    callback = EarlyStopping(monitor="val_loss", **kwargs)
    callback.set_model(model)
    callback.on_train_begin()
    stopped_at = None
    for epoch, value in enumerate(values):
        model.value = epoch
        callback.on_epoch_end(epoch, {"val_loss": value})
        if model.stop_training:
            stopped_at = epoch
            break
    callback.on_train_end()
    return stopped_at, model.value


@pytest.mark.parametrize("values, kwargs, stopped_at, final_weights", [
    ([3, 2, 1, 0], {}, None, 3),                                    # always improving: never stops
    ([3, 2, 2.5, 1], {"patience": 0}, 2, 2),                        # first bad epoch stops
    ([3, 2, 2.5, 1.5, 2.6, 2.7], {"patience": 2}, 5, 5),            # two bad epoch in a row
    ([3, 2, 2.5, 2.6, 1], {"patience": 2}, 3, 3),
    ([3, 2, 2.5, 2.6], {"patience": 2, "restore_best_weights": True}, 3, 1),
    ([3, 2.95, 2.9], {"min_delta": 0.1}, 1, 1),                     # improvements smaller than min_delta
    ([1, 2, 3, 2], {"mode": "max", "patience": 1}, 3, 3),
])
def test_early_stopping_rule(values, kwargs, stopped_at, final_weights):
    assert run_early_stopping(values, **kwargs) == (stopped_at, final_weights)


def test_early_stopping_mode_auto_maximises_accuracy():
    callback = EarlyStopping(monitor="val_accuracy")
    callback.set_model(FakeModel())
    callback.on_train_begin()
    callback.on_epoch_end(0, {"val_accuracy": 0.5})
    callback.on_epoch_end(1, {"val_accuracy": 0.6})
    assert callback.best == 0.6 and not callback.model.stop_training
    with pytest.raises(ValueError, match="mode"):
        EarlyStopping(mode="up")


def test_early_stopping_stops_fit_and_restores_the_best_weights(data, adversarial_validation):
    x, y = data
    recorder = WeightsPerEpoch()
    stopper = EarlyStopping(patience=1, restore_best_weights=True)
    model = compiled()
    history = model.fit(x, y, epochs=10, batch_size=32, validation_data=adversarial_validation, verbose=0,
                        callbacks=[recorder, stopper])
    val = history.history["val_loss"]
    assert len(val) < 10 and stopper.stopped_epoch == len(val) - 1
    best = int(np.argmin(val))
    assert stopper.best_epoch == best and stopper.best == val[best]
    assert_weights_equal(model.get_weights(), recorder.weights[best])
    assert not np.array_equal(model.get_weights()[0], recorder.weights[-1][0])


def test_early_stopping_warns_when_the_metric_is_missing(data):
    x, y = data
    with pytest.warns(RuntimeWarning, match="val_loss"):
        history = compiled().fit(x, y, epochs=2, callbacks=[EarlyStopping()], verbose=0)
    assert history.epoch == [0, 1]


# ---------------------------------------------------------------- ModelCheckpoint


def test_model_checkpoint_writes_a_file_per_epoch(tmp_path, data):
    x, y = data
    recorder = WeightsPerEpoch()
    model = compiled()
    model.fit(x, y, epochs=3, verbose=0, callbacks=[recorder, ModelCheckpoint(tmp_path / "ckpt-{epoch:02d}.npz")])
    assert sorted(os.listdir(tmp_path)) == ["ckpt-01.npz", "ckpt-02.npz", "ckpt-03.npz"]
    for epoch in range(3):
        loaded = load_model(tmp_path / f"ckpt-{epoch + 1:02d}.npz")
        assert_weights_equal(loaded.get_weights(), recorder.weights[epoch])


def test_model_checkpoint_save_best_only(tmp_path, data, adversarial_validation):
    x, y = data
    recorder = WeightsPerEpoch()
    checkpoint = ModelCheckpoint(str(tmp_path / "best-{epoch}-{val_loss:.3f}.npz"), save_best_only=True)
    history = compiled().fit(x, y, epochs=3, batch_size=32, validation_data=adversarial_validation, verbose=0,
                             callbacks=[recorder, checkpoint])
    val = history.history["val_loss"]
    best_so_far = [e for e in range(3) if val[e] < min(val[:e], default=np.inf)]
    expected = sorted(f"best-{e + 1}-{val[e]:.3f}.npz" for e in best_so_far)
    assert sorted(os.listdir(tmp_path)) == expected
    assert len(expected) < 3  # val_loss rises on the adversarial targets: some epochs are skipped
    last = best_so_far[-1]
    assert checkpoint.last_saved == str(tmp_path / f"best-{last + 1}-{val[last]:.3f}.npz")
    assert_weights_equal(load_model(checkpoint.last_saved).get_weights(), recorder.weights[last])


def test_model_checkpoint_weights_only(tmp_path, data):
    x, y = data
    model = compiled()
    model.fit(x, y, epochs=1, verbose=0,
              callbacks=[ModelCheckpoint(tmp_path / "w.npz", monitor="loss", save_weights_only=True)])
    with pytest.raises(ValueError, match="weights only"):
        load_model(tmp_path / "w.npz")
    fresh = compiled(seed=5)
    fresh.load_weights(tmp_path / "w.npz")
    assert_weights_equal(fresh.get_weights(), model.get_weights())


def test_model_checkpoint_creates_a_missing_directory_before_training(tmp_path, data):
    """Keras creates it; the old callback failed only after the first epoch (issue 15)."""
    x, y = data
    epochs_begun = []

    class Count(Callback):
        def on_epoch_begin(self, epoch, logs=None):
            epochs_begun.append(epoch)

    checkpoint = ModelCheckpoint(tmp_path / "runs" / "a" / "m.npz", monitor="loss")
    compiled().fit(x, y, epochs=1, verbose=0, callbacks=[checkpoint])
    assert os.listdir(tmp_path / "runs" / "a") == ["m.npz"]
    # A directory named by a format field is made at each save.
    compiled().fit(x, y, epochs=2, verbose=0, callbacks=[ModelCheckpoint(tmp_path / "e{epoch}" / "m.npz")])
    assert os.listdir(tmp_path / "e2") == ["m.npz"]
    # One that cannot be made (a file is in the way) fails at the start, before any epoch.
    (tmp_path / "blocker").write_text("")
    with pytest.raises(OSError):
        compiled().fit(x, y, epochs=1, verbose=0,
                       callbacks=[Count(), ModelCheckpoint(tmp_path / "blocker" / "sub" / "m.npz")])
    assert epochs_begun == []


def test_model_checkpoint_refuses_an_extension_cnnfast_does_not_write(tmp_path):
    with pytest.raises(ValueError, match=r"cannot save to .*'\.h5' files .* give a path ending in \.npz"):
        ModelCheckpoint(tmp_path / "ckpt-{epoch}.h5")
    with pytest.raises(ValueError, match=r"'\.keras'"):
        ModelCheckpoint(str(tmp_path / "best.keras"))


# ------------------------------------------------------- NaN: TerminateOnNaN, fit's warning (issue 15)


def nan_data(data):
    x, y = data
    x = x.copy()
    x[70] = np.nan   # in the third batch of 32, unshuffled
    return x, y


def test_fit_warns_once_at_the_first_non_finite_loss(data):
    x, y = nan_data(data)
    with pytest.warns(RuntimeWarning, match=r"the training loss is nan in epoch 1, batch 3: .*TerminateOnNaN") as w:
        history = compiled().fit(x, y, epochs=3, shuffle=False, verbose=0)
    assert len([m for m in w if "training loss is" in str(m.message)]) == 1
    assert all(np.isnan(history.history["loss"]))   # the model is dead from then on: hence the callback
    assert w[0].filename == __file__               # it points at the fit call


def test_terminate_on_nan_stops_at_that_batch(data, capsys):
    x, y = nan_data(data)
    seen = []

    class Batches(Callback):
        def on_batch_end(self, batch, logs=None):
            seen.append(batch)

    terminate = TerminateOnNaN()
    with pytest.warns(RuntimeWarning, match="training loss is nan"):
        history = compiled().fit(x, y, epochs=3, shuffle=False, verbose=0, callbacks=[terminate, Batches()])
    assert history.epoch == [0] and np.isnan(history.history["loss"][0])
    assert seen == [0, 1, 2]
    assert (terminate.stopped_epoch, terminate.stopped_batch) == (0, 2) and np.isnan(terminate.loss)
    assert "Batch 2: Invalid loss, terminating training" in capsys.readouterr().out
    # Reused on clean data, it forgets the stop and lets training run.
    history = compiled().fit(*data, epochs=2, verbose=0, callbacks=[terminate])
    assert history.epoch == [0, 1] and terminate.stopped_epoch is None


# ----------------------------------------------------------- LearningRateScheduler


def test_learning_rate_scheduler_sets_the_optimizer_lr(data):
    x, y = data
    seen = []

    def schedule(epoch, lr):
        seen.append((epoch, lr))
        return 0.1 * 0.5 ** epoch

    model = compiled(lr=0.3)
    history = model.fit(x, y, epochs=3, verbose=0, callbacks=[LearningRateScheduler(schedule)])
    assert seen == [(0, 0.3), (1, 0.1), (2, 0.05)]
    assert history.history["lr"] == [0.1, 0.05, 0.025]
    assert model.optimizer.lr == 0.025


def test_learning_rate_scheduler_refuses_bad_schedules(data):
    x, y = data
    with pytest.raises(TypeError, match="callable"):
        LearningRateScheduler(0.1)
    with pytest.raises(ValueError, match="learning rate"):
        compiled().fit(x, y, verbose=0, callbacks=[LearningRateScheduler(lambda epoch, lr: float("nan"))])


# ------------------------------------------------------------------ progress output


class Terminal(io.StringIO):
    """A stream that says it is a terminal (of ``columns`` columns, through a patched os.get_terminal_size)."""

    def isatty(self):
        return True

    def fileno(self):
        return 1


def test_verbose_0_prints_nothing(capsys, data):
    x, y = data
    model = compiled()
    model.fit(x, y, epochs=2, validation_split=0.25, verbose=0)
    model.evaluate(x, y)
    model.predict(x)
    assert capsys.readouterr() == ("", "")


def test_verbose_1_shows_a_progress_bar_with_running_metrics(data, monkeypatch):
    x, y = data
    monkeypatch.setattr(sys, "stdout", Terminal())   # a bar is drawn on a terminal only
    monkeypatch.setattr(os, "get_terminal_size", lambda fd=None: os.terminal_size((400, 24)))
    compiled().fit(x, y, epochs=2, batch_size=32, validation_split=0.25, verbose=1)
    out = sys.stdout.getvalue()
    assert "Epoch 1/2" in out and "Epoch 2/2" in out
    assert "3/3" in out  # 96 training images in batches of 32
    for text in ("loss", "accuracy", "val_loss", "val_accuracy", "images/s"):
        assert text in out


def test_verbose_2_prints_one_line_per_epoch(capsys, data):
    x, y = data
    compiled().fit(x, y, epochs=2, verbose=2)
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2
    assert lines[0].startswith("Epoch 1/2: loss ") and lines[0].endswith("images/s")


def test_progress_bar_as_a_user_callback_writes_to_its_file(tmp_path, data):
    x, y = data
    with open(tmp_path / "log.txt", "w") as f:
        compiled().fit(x, y, epochs=1, verbose=0, callbacks=[ProgressBar(per_batch=False, file=f)])
    assert (tmp_path / "log.txt").read_text().startswith("Epoch 1/1: loss")


@pytest.mark.parametrize("stream", ["file", "zero-column terminal"])
def test_progress_bar_off_a_terminal_prints_one_line_per_epoch(data, monkeypatch, stream):
    """Logs get Keras's verbose=2 lines: no carriage-return updates, and never an empty metrics line."""
    x, y = data
    out = io.StringIO() if stream == "file" else Terminal()
    monkeypatch.setattr(os, "get_terminal_size", lambda fd=None: os.terminal_size((0, 24)))
    compiled().fit(x, y, epochs=2, batch_size=32, validation_split=0.25, verbose=0, callbacks=[ProgressBar(file=out)])
    text = out.getvalue()
    assert "\r" not in text
    lines = text.splitlines()
    assert [line.split(":")[0] for line in lines] == ["Epoch 1/2", "Epoch 2/2"]
    for line in lines:
        assert re.fullmatch(r"Epoch \d/2: loss \d\.\d{4} \| accuracy [\d.]+% \| val_loss \d\.\d{4} \| "
                            r"val_accuracy [\d.]+% \| \d+ images/s", line), line


def test_progress_bar_on_a_terminal_shows_the_epoch_line_format_while_running(data, monkeypatch):
    x, y = data
    out = Terminal()
    monkeypatch.setattr(os, "get_terminal_size", lambda fd=None: os.terminal_size((400, 24)))
    compiled().fit(x, y, epochs=1, batch_size=32, verbose=0, callbacks=[ProgressBar(file=out)])
    updates = out.getvalue().split("\r")
    assert len(updates) > 2   # a bar, redrawn
    assert re.search(r"loss \d\.\d{4} \| accuracy [\d.]+% \| \d+ images/s", updates[-1]), updates[-1]


# ---------------------------------------------------------------------- Ctrl-C


class InterruptAt(Callback):
    """Raises KeyboardInterrupt from on_batch_end of (epoch, batch), after recording the weights."""

    def __init__(self, epoch, batch):
        super().__init__()
        self.at = (epoch, batch)
        self.epoch = None
        self.weights = None
        self.ended = False

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_batch_end(self, batch, logs=None):
        if (self.epoch, batch) == self.at:
            self.weights = self.model.get_weights()
            raise KeyboardInterrupt

    def on_train_end(self, logs=None):
        self.ended = True


@pytest.fixture
def default_sigint():
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


def test_keyboard_interrupt_from_a_callback_stops_fit_cleanly(tmp_path, data, capsys, default_sigint):
    x, y = data
    interrupt = InterruptAt(epoch=1, batch=2)
    recorder = WeightsPerEpoch()
    model = compiled()
    checkpoint = tmp_path / "ckpt.npz"
    history = model.fit(x, y, epochs=5, batch_size=16, verbose=1,
                        callbacks=[recorder, ModelCheckpoint(checkpoint, monitor="loss"), interrupt])
    assert history.interrupted and interrupt.ended
    assert history.epoch == [0]  # the interrupted epoch is not recorded
    assert "interrupted" in capsys.readouterr().out
    # The model holds the weights of the last completed batch and is usable.
    assert_weights_equal(model.get_weights(), interrupt.weights)
    assert np.isfinite(model.predict(x)).all()
    model.fit(x, y, epochs=1, verbose=0)
    assert model.evaluate(x, y)[1] > 0.8
    # The checkpoint written at the end of epoch 0 is intact.
    assert len(recorder.weights) == 1
    assert_weights_equal(load_model(checkpoint).get_weights(), recorder.weights[0])
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


class CtrlC(Callback):
    """Sends SIGINT to this process ``times`` times from on_batch_begin of batch ``at`` (epoch 0),
    i.e. while fit is running, before that batch's update."""

    def __init__(self, at, times):
        super().__init__()
        self.at, self.times = at, times
        self.batches_ended = []
        self.weights_before = None

    def on_batch_begin(self, batch, logs=None):
        if batch == self.at:
            self.weights_before = self.model.get_weights()
            for _ in range(self.times):
                # raise() delivers to this thread and raise_signal runs the Python-level
                # handler before returning.  (os.kill(getpid(), SIGINT) would terminate
                # the process on Windows, and macOS has no sigtimedwait.)
                signal.raise_signal(signal.SIGINT)

    def on_batch_end(self, batch, logs=None):
        self.batches_ended.append(batch)


def test_ctrl_c_lets_the_running_batch_finish(default_sigint, data):
    x, y = data
    ctrl_c = CtrlC(at=2, times=1)
    model = compiled()
    history = model.fit(x, y, epochs=3, batch_size=16, verbose=0, callbacks=[ctrl_c])
    assert history.interrupted and history.epoch == []
    assert ctrl_c.batches_ended == [0, 1, 2]  # batch 2 completed its update, then fit stopped
    assert not np.array_equal(model.get_weights()[0], ctrl_c.weights_before[0])
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    assert np.isfinite(model.predict(x)).all()


class Ended(Callback):
    ended = False

    def on_train_end(self, logs=None):
        Ended.ended = True


def test_second_ctrl_c_aborts_at_once(default_sigint, data):
    x, y = data
    ctrl_c = CtrlC(at=2, times=2)
    model = compiled()
    with pytest.raises(KeyboardInterrupt):
        model.fit(x, y, epochs=3, batch_size=16, verbose=0, callbacks=[ctrl_c, Ended()])
    assert Ended.ended
    assert ctrl_c.batches_ended == [0, 1]  # batch 2 never ran
    assert_weights_equal(model.get_weights(), ctrl_c.weights_before)
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_keyboard_interrupt_during_an_update_propagates(data, monkeypatch):
    """When fit could not defer Ctrl-C (here: raised inside the optimizer step), it does not
    pretend the model is consistent: the KeyboardInterrupt reaches the caller."""
    x, y = data
    model = compiled()

    def interrupted_step():
        raise KeyboardInterrupt

    monkeypatch.setattr(model.optimizer, "step", interrupted_step)
    with pytest.raises(KeyboardInterrupt):
        model.fit(x, y, epochs=1, verbose=0)


def test_save_interrupted_by_ctrl_c_keeps_the_previous_checkpoint(tmp_path, data, monkeypatch):
    x, y = data
    model = compiled()
    path = tmp_path / "ckpt.npz"
    model.save(path)
    expected = model.predict(x)
    model.fit(x, y, epochs=1, verbose=0)

    def interrupted_savez(file, **arrays):
        file.write(b"PK\x03\x04 half an archive")
        raise KeyboardInterrupt

    monkeypatch.setattr(cnnfast.serialization.np, "savez", interrupted_savez)
    history = model.fit(x, y, epochs=2, verbose=0, callbacks=[ModelCheckpoint(path, monitor="loss")])
    assert history.interrupted
    assert os.listdir(tmp_path) == ["ckpt.npz"]  # no temporary file left behind
    np.testing.assert_array_equal(load_model(path).predict(x), expected)


def test_keras_3_batch_hooks_on_train_batch_begin_and_end(data):
    x, y = data
    calls = []

    class Keras3(Callback):
        def on_train_batch_begin(self, batch, logs=None):
            calls.append(("begin", batch))

        def on_train_batch_end(self, batch, logs=None):
            calls.append(("end", batch, round(logs["loss"], 6) == round(logs["loss"], 6)))

    class Keras2(Callback):
        def on_batch_end(self, batch, logs=None):
            calls.append(("old end", batch))

    compiled().fit(x, y, batch_size=64, epochs=1, verbose=0, callbacks=[Keras3(), Keras2()])
    assert calls == [("begin", 0), ("end", 0, True), ("old end", 0), ("begin", 1), ("end", 1, True), ("old end", 1)]
