"""Saving and loading: round trips, the file layout, atomic writes, and damaged or hostile files."""

import json
import os
import re
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

import cnnfast
from cnnfast import layers as L
from cnnfast import serialization
from cnnfast.model import Sequential, load_model


def bn_model(seed=0, dtype="float32", classes=3):
    return Sequential([L.Conv2D(4, 3, padding=1), L.BatchNorm2D(), L.ReLU(), L.MaxPool2D(), L.Flatten(),
                       L.Dropout(0.25), L.Dense(classes)], input_shape=(2, 6, 6), seed=seed, dtype=dtype,
                      name="bn_net")


@pytest.fixture(scope="module")
def x():
    return np.random.default_rng(0).normal(size=(16, 2, 6, 6)).astype(np.float32)


@pytest.fixture
def trained(x):
    """A model after one training step, so BatchNorm's running statistics are not the defaults."""
    model = bn_model()
    model.compile("sgd", lr=0.1)
    model.train_on_batch(x, np.arange(16) % 3)
    return model


@pytest.fixture
def saved(tmp_path, trained):
    path = tmp_path / "model.npz"
    trained.save(path)
    return path


def test_save_load_round_trip(saved, trained, x):
    loaded = load_model(saved)
    assert type(loaded) is Sequential and loaded.built
    assert loaded.name == "bn_net" and loaded.seed == 0 and loaded.dtype == np.float32
    assert loaded.input_shape == (2, 6, 6)
    assert loaded.get_config() == trained.get_config()
    assert list(loaded.state_dict()) == list(trained.state_dict())
    for key, value in trained.state_dict().items():
        got = loaded.state_dict()[key]
        assert got.dtype == value.dtype, key
        np.testing.assert_array_equal(got, value, err_msg=key)
    assert loaded.state_dict()["1.num_batches_tracked"] == 1
    np.testing.assert_array_equal(loaded.predict(x), trained.predict(x))


def test_float64_model_round_trip(tmp_path, x):
    model = bn_model(dtype="float64")
    model.save(tmp_path / "m64.npz")
    loaded = load_model(tmp_path / "m64.npz")
    assert loaded.dtype == np.float64
    np.testing.assert_array_equal(loaded.predict(x.astype(np.float64)), model.predict(x.astype(np.float64)))


def test_loaded_model_trains_after_compile(saved, x):
    loaded = load_model(saved, compile=False)
    with pytest.raises(RuntimeError, match="compile"):
        loaded.fit(x, np.zeros(16, np.int64), verbose=0)
    loaded.compile("sgd")
    loaded.fit(x, np.arange(16) % 3, epochs=1, verbose=0)


def test_file_is_a_plain_npz_with_torch_names(saved, trained):
    with np.load(saved, allow_pickle=False) as npz:
        names = list(npz.files)
        header = json.loads(str(npz[serialization.HEADER_KEY]))
        for key, value in trained.state_dict().items():
            np.testing.assert_array_equal(npz[key], value)
    assert set(names) == set(trained.state_dict()) | {serialization.HEADER_KEY}
    # Plain SGD keeps no arrays (only step counts): a version-1 file, which older cnnfast versions read.
    assert header["format"] == "cnnfast" and header["version"] == 1
    assert header["compile"]["optimizer"] == {"class": "SGD", "config": trained.optimizer.get_config()}
    assert header["kind"] == "model" and header["keys"] == list(trained.state_dict())
    assert header["config"]["layers"][0] == {"class": "Conv2D", "config": trained[0].get_config()}


def test_path_is_used_as_given(tmp_path, trained):
    trained.save(tmp_path / "model.NPZ")
    trained.save(str(tmp_path / "plain"))
    assert sorted(os.listdir(tmp_path)) == ["model.NPZ", "plain"]
    assert load_model(tmp_path / "plain").get_config() == trained.get_config()


@pytest.mark.parametrize("name", ["m.h5", "m.keras", "m.weights.h5", "m.hdf5", "m.pt", "model.weights", "m.npy"])
def test_an_extension_cnnfast_does_not_write_is_refused(tmp_path, trained, name):
    """model.save("m.h5") wrote the .npz format under an .h5 name (issue 15)."""
    suffix = os.path.splitext(name)[1]
    match = (rf"cannot save to .*{re.escape(name)}': cnnfast writes one format, its own \.npz archive .* not "
             rf"'{re.escape(suffix)}' files such as Keras's \.h5 / \.keras .*: give a path ending in \.npz")
    with pytest.raises(ValueError, match=match):
        trained.save(tmp_path / name)
    with pytest.raises(ValueError, match=match):
        trained.save_weights(tmp_path / name)
    assert os.listdir(tmp_path) == []


def test_save_weights_and_load_weights(tmp_path, trained, saved, x):
    trained.save_weights(tmp_path / "w.npz")
    other = bn_model(seed=1)
    assert not np.array_equal(other.predict(x), trained.predict(x))
    other.load_weights(tmp_path / "w.npz")
    np.testing.assert_array_equal(other.predict(x), trained.predict(x))
    # A full model file carries the same weights.
    unbuilt = Sequential([L.Conv2D(4, 3, padding=1), L.BatchNorm2D(), L.ReLU(), L.MaxPool2D(), L.Flatten(),
                          L.Dropout(0.25), L.Dense(3)])
    unbuilt.load_weights(saved)  # built from the file's input shape
    np.testing.assert_array_equal(unbuilt.predict(x), trained.predict(x))
    with pytest.raises(ValueError, match="weights only"):
        load_model(tmp_path / "w.npz")


def test_unbuilt_models_cannot_be_saved(tmp_path):
    with pytest.raises(ValueError, match="not built"):
        Sequential([L.Dense(2)]).save(tmp_path / "m.npz")


# ------------------------------------------------------------------ mismatches


def test_weights_of_another_architecture_name_the_key_and_shapes(tmp_path, trained):
    trained.save_weights(tmp_path / "w.npz")
    five_classes = bn_model(classes=5)
    with pytest.raises(ValueError, match=r"'6.weight' has shape \(3, 36\).*\(5, 36\)"):
        five_classes.load_weights(tmp_path / "w.npz")
    no_bn = Sequential([L.Conv2D(4, 3, padding=1), L.ReLU(), L.MaxPool2D(), L.Flatten(), L.Dense(3)],
                       input_shape=(2, 6, 6))
    with pytest.raises(ValueError, match=r"missing keys \['4.weight', '4.bias'\].*'1.running_mean'"):
        no_bn.load_weights(tmp_path / "w.npz")


def test_file_whose_arrays_do_not_match_its_own_architecture(tmp_path, trained):
    state = trained.state_dict()
    state["0.weight"] = np.zeros((4, 2, 5, 5), np.float32)
    path = tmp_path / "forged.npz"
    serialization.write_archive(path, state, {"kind": "model", "config": trained.get_config()})
    with pytest.raises(ValueError, match=r"'0.weight' has shape \(4, 2, 5, 5\).*\(4, 2, 3, 3\)"):
        load_model(path)


def test_unknown_layer_class_in_the_architecture(tmp_path, trained):
    config = trained.get_config()
    config["layers"][0]["class"] = "Conv9D"
    path = tmp_path / "forged.npz"
    serialization.write_archive(path, trained.state_dict(), {"kind": "model", "config": config})
    with pytest.raises(ValueError, match="Conv9D"):
        load_model(path)


# -------------------------------------------------------------- damaged files


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError):
        load_model(tmp_path / "nothing.npz")


def test_zero_length_file(tmp_path):
    (tmp_path / "empty.npz").write_bytes(b"")
    with pytest.raises(ValueError, match="empty"):
        load_model(tmp_path / "empty.npz")
    with pytest.raises(ValueError, match="empty"):
        bn_model().load_weights(tmp_path / "empty.npz")


def test_every_truncation_is_a_clear_error(tmp_path, saved):
    data = saved.read_bytes()
    path = tmp_path / "cut.npz"
    for length in list(range(1, 64)) + list(range(64, len(data), 97)) + [len(data) - 1]:
        path.write_bytes(data[:length])
        with pytest.raises(ValueError, match="cnnfast"):
            load_model(path)


def test_random_bytes_are_a_clear_error(tmp_path):
    rng = np.random.default_rng(1)
    path = tmp_path / "noise.npz"
    for i in range(50):
        prefix = b"PK\x03\x04" if i % 2 else b""  # half of them look like a zip at first
        path.write_bytes(prefix + rng.bytes(int(rng.integers(1, 4000))))
        with pytest.raises(ValueError, match="cnnfast"):
            load_model(path)


def test_flipped_bytes_never_crash_the_loader(tmp_path, saved):
    data = saved.read_bytes()
    rng = np.random.default_rng(2)
    path = tmp_path / "flipped.npz"
    for _ in range(200):
        damaged = bytearray(data)
        damaged[int(rng.integers(len(data)))] ^= int(rng.integers(1, 256))
        path.write_bytes(bytes(damaged))
        try:
            load_model(path)  # a flip in an unused zip field may be harmless
        except ValueError as e:
            assert str(path) in str(e)


def test_foreign_npz_and_npy_files(tmp_path):
    np.savez(tmp_path / "foreign.npz", weights=np.ones(3))
    with pytest.raises(ValueError, match="no '__cnnfast__' header"):
        load_model(tmp_path / "foreign.npz")
    with open(tmp_path / "single.npz", "wb") as f:
        np.save(f, np.ones(3))
    with pytest.raises(ValueError, match="single .npy array"):
        load_model(tmp_path / "single.npz")


def test_newer_format_version_and_bad_headers(tmp_path, trained):
    header = {"format": "cnnfast", "version": serialization.FORMAT_VERSION + 1, "kind": "model", "keys": []}
    np.savez(tmp_path / "future.npz", **{serialization.HEADER_KEY: np.array(json.dumps(header))})
    with pytest.raises(ValueError, match="newer cnnfast"):
        load_model(tmp_path / "future.npz")
    np.savez(tmp_path / "garbled.npz", **{serialization.HEADER_KEY: np.array("{not json")})
    with pytest.raises(ValueError, match="unreadable cnnfast header"):
        load_model(tmp_path / "garbled.npz")
    header = {"format": "cnnfast", "version": 1, "kind": "model", "keys": ["0.weight"]}
    np.savez(tmp_path / "short.npz", **{serialization.HEADER_KEY: np.array(json.dumps(header))})
    with pytest.raises(ValueError, match=r"lists arrays \['0.weight'\] that are not in the file"):
        load_model(tmp_path / "short.npz")


class _Exploit:
    """Unpickling this would create the file named by ``marker``."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_pickled_objects_are_never_loaded(tmp_path, trained):
    marker = tmp_path / "pwned"
    state = trained.state_dict()
    header = {"format": "cnnfast", "version": 1, "kind": "model", "config": trained.get_config(),
              "keys": list(state)}
    state["0.weight"] = np.array([_Exploit(str(marker))], dtype=object)
    np.savez(tmp_path / "evil.npz", **state, **{serialization.HEADER_KEY: np.array(json.dumps(header))})
    with pytest.raises(ValueError, match="pickle"):
        load_model(tmp_path / "evil.npz")
    with pytest.raises(ValueError):
        bn_model().load_weights(tmp_path / "evil.npz")
    assert not marker.exists()


# ---------------------------------------------------------------- atomic writes


def test_failed_save_keeps_the_previous_file_and_leaves_no_temporary(tmp_path, trained, monkeypatch, x):
    path = tmp_path / "model.npz"
    trained.save(path)
    before = path.read_bytes()

    def failing_savez(file, **arrays):
        file.write(b"PK\x03\x04 a third of an archive")
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez", failing_savez)
    other = bn_model(seed=9)
    with pytest.raises(OSError, match="disk full"):
        other.save(path)
    with pytest.raises(OSError, match="disk full"):
        other.save_weights(tmp_path / "new.npz")
    monkeypatch.undo()
    assert os.listdir(tmp_path) == ["model.npz"]
    assert path.read_bytes() == before
    np.testing.assert_array_equal(load_model(path).predict(x), trained.predict(x))


WRITER = textwrap.dedent("""
    import io
    import sys
    import time

    import numpy as np
    from cnnfast import layers as L
    from cnnfast.model import Sequential

    real_savez = np.savez

    def slow_savez(file, **arrays):
        # The real archive, written in small slow pieces so that the parent's kill
        # lands mid-write for certain.
        buffer = io.BytesIO()
        real_savez(buffer, **arrays)
        data = buffer.getvalue()
        print("writing", flush=True)
        for i in range(0, len(data), 1 << 16):
            file.write(data[i:i + (1 << 16)])
            file.flush()
            time.sleep(0.005)

    np.savez = slow_savez
    path = sys.argv[1]
    model = Sequential([L.Flatten(), L.Dense(500)], input_shape=(1000,), seed=1)
    for step in (1, 2):
        model[1].bias.data[0] = step
        model.save(path)
        print(f"saved {step}", flush=True)
""")


def test_save_killed_mid_write_leaves_the_previous_file(tmp_path):
    path = tmp_path / "model.npz"
    Sequential([L.Flatten(), L.Dense(500)], input_shape=(1000,), seed=1).save(path)
    script = tmp_path / "writer.py"
    script.write_text(WRITER)
    env = dict(os.environ, PYTHONPATH=os.path.dirname(os.path.dirname(cnnfast.__file__)))
    # text=True: universal newlines, so the lines compare equal on Windows ("\r\n") too.
    process = subprocess.Popen([sys.executable, str(script), str(path)], stdout=subprocess.PIPE, env=env, text=True)
    try:
        lines = [process.stdout.readline() for _ in range(3)]
        time.sleep(0.03)  # the second save is ~0.2 s into writing its 2 MB
    finally:
        process.kill()
        process.wait()
        process.stdout.close()
    assert lines == ["writing\n", "saved 1\n", "writing\n"]
    # The destination is the first save, intact ...
    model = load_model(path)
    assert model[1].bias.data[0] == 1
    assert model.state_dict()["1.weight"].shape == (500, 1000)
    # ... although the kill did land mid-write: the second save's temporary file is still there.
    assert [name for name in os.listdir(tmp_path) if name.endswith(".tmp")]


# ------------------------------------------- compile state and optimizer state in the file (issue 15)


def compiled_model(optimizer="adam", **kwargs):
    """bn_model without its Dropout: its masks come from a random stream a file does not hold."""
    model = Sequential([L.Conv2D(4, 3, padding=1), L.BatchNorm2D(), L.ReLU(), L.MaxPool2D(), L.Flatten(),
                        L.Dense(3)], input_shape=(2, 6, 6), seed=0)
    model.compile(optimizer, loss="cross_entropy", clip_norm=5.0, **kwargs)
    return model


def test_load_model_restores_the_compiled_state_so_evaluate_works(tmp_path, x):
    y = np.arange(16) % 3
    model = compiled_model("adam", lr=0.01, betas=(0.8, 0.9))
    model.fit(x, y, epochs=2, batch_size=4, verbose=0)
    model.save(tmp_path / "m.npz")
    loaded = load_model(tmp_path / "m.npz")
    assert loaded.evaluate(x, y) == model.evaluate(x, y)          # straight after loading, as Keras
    assert loaded.get_compile_config() == model.get_compile_config()
    assert loaded.get_compile_config() == {
        "loss": {"class": "CrossEntropyLoss", "config": {"label_smoothing": 0.0, "reduction": "mean"}},
        "optimizer": {"class": "Adam", "config": {"lr": 0.01, "betas": [0.8, 0.9], "eps": 1e-8,
                                                  "weight_decay": 0.0, "amsgrad": False}},
        "metrics": ["accuracy"], "clip_norm": 5.0}
    assert [s.get("step") for s in loaded.optimizer.state] == [8] * len(loaded.parameters())


@pytest.mark.parametrize("optimizer, kwargs", [("sgd", {"lr": 0.05, "momentum": 0.9, "nesterov": True}),
                                               ("adam", {"lr": 0.01}), ("rmsprop", {"momentum": 0.5}),
                                               ("adagrad", {}), ("adadelta", {}), ("adamw", {})])
def test_training_resumes_exactly_where_it_stopped(tmp_path, x, optimizer, kwargs):
    y = np.arange(16) % 3
    straight = compiled_model(optimizer, **kwargs)
    straight.fit(x, y, epochs=2, batch_size=4, shuffle=False, verbose=0)
    straight.save(tmp_path / "m.npz")
    straight.save(tmp_path / "no_state.npz", include_optimizer=False)
    straight.fit(x, y, epochs=1, batch_size=4, shuffle=False, verbose=0)
    resumed = load_model(tmp_path / "m.npz")
    resumed.fit(x, y, epochs=1, batch_size=4, shuffle=False, verbose=0)
    for a, b in zip(resumed.get_weights(), straight.get_weights()):
        np.testing.assert_array_equal(a, b)
    # Without the optimizer state, the moments start from zero: a different trajectory.
    fresh = load_model(tmp_path / "no_state.npz")
    assert fresh.optimizer.state[0] == {}
    fresh.fit(x, y, epochs=1, batch_size=4, shuffle=False, verbose=0)
    assert not all(np.array_equal(a, b) for a, b in zip(fresh.get_weights(), straight.get_weights()))


def test_optimizer_arrays_are_kept_apart_from_the_torch_names(tmp_path, x):
    model = compiled_model("sgd", lr=0.1, momentum=0.9)
    model.train_on_batch(x, np.arange(16) % 3)
    model.save(tmp_path / "m.npz")
    with np.load(tmp_path / "m.npz", allow_pickle=False) as npz:
        names = set(npz.files)
        header = json.loads(str(npz[serialization.HEADER_KEY]))
    torch_names = {n for n in names if not n.startswith("__")}
    assert torch_names == set(model.state_dict())
    assert names - torch_names - {serialization.HEADER_KEY} == {
        f"__optimizer__.{i}.momentum_buffer" for i in range(len(model.parameters()))}
    assert header["version"] == serialization.FORMAT_VERSION == 2
    fresh = compiled_model()
    fresh.build((2, 6, 6), rng=9)
    fresh.load_weights(tmp_path / "m.npz")           # the optimizer's arrays are not weights
    for a, b in zip(fresh.get_weights(), model.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_a_model_compiled_with_a_custom_loss_loads_uncompiled_with_a_warning(tmp_path, x):
    model = bn_model()

    def my_loss(pred, target):
        return 0.0, np.zeros_like(pred)

    model.compile("sgd", loss=my_loss)
    model.save(tmp_path / "m.npz")
    with pytest.warns(UserWarning, match="compiled with a loss that is not one of cnnfast's.*call compile"):
        loaded = load_model(tmp_path / "m.npz")
    assert loaded.loss is None
    np.testing.assert_array_equal(loaded.predict(x), model.predict(x))
    assert load_model(tmp_path / "m.npz", compile=False).loss is None
