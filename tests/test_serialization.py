"""Saving and loading: round trips, the file layout, atomic writes, and damaged or hostile files."""

import json
import os
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
    loaded = load_model(saved)
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
    assert header["format"] == "cnnfast" and header["version"] == serialization.FORMAT_VERSION
    assert header["kind"] == "model" and header["keys"] == list(trained.state_dict())
    assert header["config"]["layers"][0] == {"class": "Conv2D", "config": trained[0].get_config()}


def test_path_is_used_as_given(tmp_path, trained):
    trained.save(tmp_path / "model.weights")
    trained.save(str(tmp_path / "plain"))
    assert sorted(os.listdir(tmp_path)) == ["model.weights", "plain"]
    assert load_model(tmp_path / "plain").get_config() == trained.get_config()


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
