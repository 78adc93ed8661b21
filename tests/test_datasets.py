"""cnnfast.datasets: IDX parsing, checksums, file lookup, downloads, bundled subset,
augmentation and batching.

Nothing here touches the internet: downloads are served by an http.server on
127.0.0.1 in a thread, and an autouse fixture makes any other URL fail.
Tests that need the original MNIST files look for them in ../shared/data
relative to the repository (or $CNNFAST_SHARED_DATA, see shared_data.py) and
skip cleanly when they are absent.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import http.server
import os
import struct
import subprocess
import sys
import threading
import tracemalloc
import urllib.parse
import zlib
from pathlib import Path

import numpy as np
import pytest
from shared_data import SHARED_DATA as SHARED

from cnnfast import datasets
from cnnfast.datasets import (
    BatchIterator,
    DatasetSpec,
    FileSpec,
    ImageDataGenerator,
    bundled,
    iterate_minibatches,
    load_fashion_mnist,
    load_idx_dataset,
    load_mnist,
    load_mnist_subset,
    parse_idx,
    read_idx,
)
from cnnfast.datasets import mnist as mnist_mod

REPO = Path(__file__).resolve().parents[1]
HAVE_MNIST = all((SHARED / "mnist" / f.name).is_file() for f in datasets.MNIST.files.values())
HAVE_FASHION = all((SHARED / "fashion-mnist" / f.name).is_file()
                   for f in datasets.FASHION_MNIST.files.values())
needs_mnist = pytest.mark.skipif(not HAVE_MNIST, reason=f"original MNIST files not in {SHARED / 'mnist'}")
needs_fashion = pytest.mark.skipif(not HAVE_FASHION,
                                   reason=f"original Fashion-MNIST files not in {SHARED / 'fashion-mnist'}")

# README class counts of the original files (digits 0..9).
MNIST_TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
MNIST_TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


# --------------------------------------------------------------------------- fixtures
@pytest.fixture(autouse=True)
def _offline_and_isolated(monkeypatch, tmp_path_factory):
    """No internet, no real ~/.cache, no inherited data/mirror variables."""
    real_urlopen = mnist_mod._urlopen

    def loopback_only(url, *args, **kwargs):
        host = urllib.parse.urlsplit(url).hostname
        if host != "127.0.0.1":
            raise AssertionError(f"test tried to reach {url}: only 127.0.0.1 is allowed")
        return real_urlopen(url, *args, **kwargs)

    monkeypatch.setattr(mnist_mod, "_urlopen", loopback_only)
    for var in ("CNNFAST_DATA", "CNNFAST_MNIST_MIRROR", "CNNFAST_FASHION_MNIST_MIRROR", "TINY_MIRROR"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path_factory.mktemp("home")))


class _Handler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # keep pytest output clean
        pass


@pytest.fixture
def http_dir(tmp_path):
    """Serve a fresh directory on 127.0.0.1; yields (base_url, directory, requested_paths)."""
    root = tmp_path / "served"
    root.mkdir()
    requested = []

    class Handler(_Handler):
        def do_GET(self):
            requested.append(self.path)
            super().do_GET()

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0),
                                             functools.partial(Handler, directory=str(root)))
    # A short poll interval keeps shutdown() (and so each test) quick.
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02},
                              daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/", root, requested
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def idx_bytes(arr, code=None):
    """Encode an array as IDX (big-endian), like the original files."""
    arr = np.asarray(arr)
    codes = {np.dtype(np.uint8): 0x08, np.dtype(np.int8): 0x09, np.dtype(np.int16): 0x0B,
             np.dtype(np.int32): 0x0C, np.dtype(np.float32): 0x0D, np.dtype(np.float64): 0x0E}
    code = codes[arr.dtype] if code is None else code
    head = struct.pack(">HBB", 0, code, arr.ndim) + struct.pack(f">{arr.ndim}I", *arr.shape)
    return head + arr.astype(arr.dtype.newbyteorder(">")).tobytes()


def gz(data):
    return gzip.compress(data, mtime=0)


def make_tiny(n_train=20, n_test=10, seed=0):
    """A tiny MNIST-like data set: its arrays, its gz files' bytes, and its spec."""
    rng = np.random.default_rng(seed)
    arrays = {
        "train_images": rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        "train_labels": (np.arange(n_train) % 10).astype(np.uint8),
        "test_images": rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        "test_labels": (np.arange(n_test) % 10).astype(np.uint8),
    }
    names = {"train_images": "train-images-idx3-ubyte.gz", "train_labels": "train-labels-idx1-ubyte.gz",
             "test_images": "t10k-images-idx3-ubyte.gz", "test_labels": "t10k-labels-idx1-ubyte.gz"}
    blobs = {names[k]: gz(idx_bytes(v)) for k, v in arrays.items()}
    spec = DatasetSpec(
        title="Tiny", subdir="tiny",
        files={k: FileSpec(names[k], hashlib.sha256(blobs[names[k]]).hexdigest(), len(blobs[names[k]]))
               for k in arrays},
        mirror_env="TINY_MIRROR",
    )
    return arrays, blobs, spec


def write_files(directory, blobs):
    directory.mkdir(parents=True, exist_ok=True)
    for name, data in blobs.items():
        (directory / name).write_bytes(data)


def assert_tiny(result, arrays):
    (xtr, ytr), (xte, yte) = result
    np.testing.assert_array_equal(xtr, arrays["train_images"])
    np.testing.assert_array_equal(ytr, arrays["train_labels"])
    np.testing.assert_array_equal(xte, arrays["test_images"])
    np.testing.assert_array_equal(yte, arrays["test_labels"])
    assert xtr.dtype == ytr.dtype == np.uint8


def leftovers(directory):
    """Every file under ``directory`` (to prove nothing half-written stays)."""
    return sorted(p.relative_to(directory).as_posix() for p in directory.rglob("*") if p.is_file())


# --------------------------------------------------------------------------- IDX parser
@pytest.mark.parametrize("compress", [False, True])
@pytest.mark.parametrize("arr", [
    np.arange(3 * 4 * 5, dtype=np.uint8).reshape(3, 4, 5),
    np.array([-7, 0, 2**31 - 1], dtype=np.int32),
    np.linspace(-1, 1, 12, dtype=np.float32).reshape(3, 4),
    np.array([[1.5, -2.25]], dtype=np.float64),
    np.array([-3, 4], dtype=np.int16),
    np.array([], dtype=np.uint8).reshape(0, 28, 28),
])
def test_idx_reads_good_files(tmp_path, arr, compress):
    data = idx_bytes(arr)
    path = tmp_path / ("f.idx.gz" if compress else "f.idx")
    path.write_bytes(gz(data) if compress else data)
    out = read_idx(path)
    assert out.shape == arr.shape and out.dtype == arr.dtype  # native byte order, same type
    assert out.dtype.isnative and out.flags.writeable
    np.testing.assert_array_equal(out, arr)


def _bad_idx_cases():
    good = idx_bytes(np.zeros((4, 3, 2), np.uint8))
    return {
        "empty file": b"",
        "shorter than magic": b"\x00\x00",
        "wrong magic (nonzero first bytes)": b"\x01\x02" + good[2:],
        "unknown type code": good[:2] + b"\x07" + good[3:],
        "zero dimensions": good[:3] + b"\x00",
        "header cut inside the size list": good[:10],
        "truncated payload": good[:-1],
        "extra bytes": good + b"\x00",
        "declared sizes too big": good[:4] + struct.pack(">3I", 2**31, 2**31, 2**30) + good[16:],
        "sizes disagree (4x3x2 declared as 4x3x3)": good[:4] + struct.pack(">3I", 4, 3, 3) + good[16:],
    }


@pytest.mark.parametrize("compress", [False, True])
@pytest.mark.parametrize("case", list(_bad_idx_cases()))
def test_idx_rejects_bad_files(tmp_path, case, compress):
    data = _bad_idx_cases()[case]
    path = tmp_path / f"bad-{compress}.idx"
    path.write_bytes(gz(data) if compress else data)
    tracemalloc.start()
    try:
        with pytest.raises(ValueError, match="not a valid IDX file") as info:
            read_idx(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert str(path) in str(info.value)  # names the file
    # A lying header allocates nothing big (the files are a few hundred bytes;
    # NumPy's and zlib's buffers are traced too).
    assert peak < 1 << 20


def test_idx_rejects_corrupt_gzip(tmp_path):
    data = bytearray(gz(idx_bytes(np.arange(1000, dtype=np.uint8))))
    data[len(data) // 2] ^= 0xFF  # damage the deflate stream or its CRC
    path = tmp_path / "broken.gz"
    path.write_bytes(bytes(data))
    with pytest.raises(ValueError, match="broken.gz"):
        read_idx(path)


def test_parse_idx_names_the_source():
    with pytest.raises(ValueError, match="my-file"):
        parse_idx(b"\x00\x00\x08\x01\x00\x00\x00\x05abc", name="my-file")


# --------------------------------------------------------------------------- lookup and checksums
@pytest.mark.parametrize("layout", ["subdir", "flat"])
def test_loads_from_both_layouts(tmp_path, layout):
    arrays, blobs, spec = make_tiny()
    write_files(tmp_path / "tiny" if layout == "subdir" else tmp_path, blobs)
    assert_tiny(load_idx_dataset(spec, tmp_path), arrays)


def test_checksum_is_verified_before_parsing(tmp_path, monkeypatch):
    arrays, blobs, spec = make_tiny()
    write_files(tmp_path, blobs)
    # A structurally valid IDX file with different pixels: only the checksum can tell.
    forged = arrays["train_images"].copy()
    forged[0, 0, 0] ^= 1
    forged_bytes = gz(idx_bytes(forged))
    (tmp_path / "train-images-idx3-ubyte.gz").write_bytes(forged_bytes)

    def parser_must_not_run(*args, **kwargs):
        raise AssertionError("parsed a file whose checksum had not been verified")

    monkeypatch.setattr(mnist_mod, "parse_idx", parser_must_not_run)
    with pytest.raises(ValueError) as info:
        load_idx_dataset(spec, tmp_path)
    msg = str(info.value)
    assert "train-images-idx3-ubyte.gz" in msg
    assert spec.files["train_images"].sha256 in msg
    assert hashlib.sha256(forged_bytes).hexdigest() in msg


def test_real_mnist_table_rejects_a_fake_file(tmp_path):
    # train-images is the first file looked up, so no other file is needed.
    (tmp_path / "mnist").mkdir()
    (tmp_path / "mnist" / "train-images-idx3-ubyte.gz").write_bytes(b"not mnist at all")
    with pytest.raises(ValueError, match="train-images-idx3-ubyte.gz.*440fcabf73cc546f"):
        load_mnist(tmp_path)


def test_missing_file_message_names_file_places_and_download(tmp_path):
    with pytest.raises(FileNotFoundError) as info:
        load_mnist(tmp_path / "empty")
    msg = str(info.value)
    assert "train-images-idx3-ubyte.gz" in msg
    assert str(tmp_path / "empty" / "mnist" / "train-images-idx3-ubyte.gz") in msg
    assert str(tmp_path / "empty" / "train-images-idx3-ubyte.gz") in msg
    assert "download=True" in msg and "path argument" in msg


def test_directory_from_env_then_default(tmp_path, monkeypatch):
    monkeypatch.setenv("CNNFAST_DATA", str(tmp_path / "from-env"))
    with pytest.raises(FileNotFoundError, match=r"from-env.*\$CNNFAST_DATA"):
        load_fashion_mnist()
    monkeypatch.delenv("CNNFAST_DATA")
    home = Path(os.environ["HOME"])
    with pytest.raises(FileNotFoundError) as info:
        load_fashion_mnist()
    assert str(home / ".cache" / "cnnfast" / "fashion-mnist" / "train-images-idx3-ubyte.gz") in str(info.value)
    # And a directory in CNNFAST_DATA is really used.
    arrays, blobs, spec = make_tiny()
    write_files(tmp_path / "env" / "tiny", blobs)
    monkeypatch.setenv("CNNFAST_DATA", str(tmp_path / "env"))
    assert_tiny(load_idx_dataset(spec), arrays)


# --------------------------------------------------------------------------- downloads (loopback only)
def test_download_good_files(tmp_path, http_dir):
    url, served, requested = http_dir
    arrays, blobs, spec = make_tiny()
    write_files(served, blobs)
    cache = tmp_path / "cache"
    assert_tiny(load_idx_dataset(spec, cache, download=True, mirrors=[url]), arrays)
    assert leftovers(cache) == sorted(f"tiny/{n}" for n in blobs)  # no temp files left
    assert sorted(requested) == sorted(f"/{n}" for n in blobs)
    # Present and verified now: a second load fetches nothing.
    assert_tiny(load_idx_dataset(spec, cache, download=True, mirrors=[url]), arrays)
    assert len(requested) == len(blobs)


def test_download_mirror_from_env(tmp_path, http_dir, monkeypatch):
    url, served, requested = http_dir
    arrays, blobs, spec = make_tiny()
    write_files(served / "sub", blobs)
    monkeypatch.setenv("TINY_MIRROR", f"{url}missing/ , {url}sub")  # first mirror 404s
    assert_tiny(load_idx_dataset(spec, tmp_path, download=True), arrays)
    assert any(p.startswith("/missing/") for p in requested)


@pytest.mark.parametrize("damage", ["flipped byte", "truncated", "too long"])
def test_download_corrupt_file_is_rejected_and_removed(tmp_path, http_dir, damage):
    url, served, requested = http_dir
    arrays, blobs, spec = make_tiny()
    name = "t10k-labels-idx1-ubyte.gz"
    bad = bytearray(blobs[name])
    if damage == "flipped byte":
        bad[-5] ^= 0x01
    elif damage == "truncated":
        bad = bad[:-3]
    else:
        bad += b"\x00" * 100
    write_files(served, {**blobs, name: bytes(bad)})
    cache = tmp_path / "cache"
    with pytest.raises(ValueError, match=name):
        load_idx_dataset(spec, cache, download=True, mirrors=[url])
    assert name not in " ".join(leftovers(cache))  # neither the file nor its temp copy
    assert all(not p.endswith(".part") for p in leftovers(cache))


def test_download_falls_back_to_next_mirror_after_corrupt_one(tmp_path, http_dir):
    url, served, _ = http_dir
    arrays, blobs, spec = make_tiny()
    write_files(served / "good", blobs)
    write_files(served / "evil", {n: b"x" + d[1:] for n, d in blobs.items()})
    assert_tiny(load_idx_dataset(spec, tmp_path, download=True, mirrors=[url + "evil/", url + "good/"]), arrays)


def test_download_network_failure_is_oserror(tmp_path, http_dir):
    url, _, _ = http_dir
    _, _, spec = make_tiny()
    with pytest.raises(OSError, match="404") as info:
        load_idx_dataset(spec, tmp_path, download=True, mirrors=[url])
    assert not isinstance(info.value, FileNotFoundError)
    assert leftovers(tmp_path) == []


def test_existing_corrupt_file_is_not_overwritten(tmp_path, http_dir):
    url, served, requested = http_dir
    _, blobs, spec = make_tiny()
    write_files(served, blobs)
    write_files(tmp_path / "tiny", {**blobs, "train-images-idx3-ubyte.gz": b"user data"})
    with pytest.raises(ValueError, match="sha256 expected"):
        load_idx_dataset(spec, tmp_path, download=True, mirrors=[url])
    assert (tmp_path / "tiny" / "train-images-idx3-ubyte.gz").read_bytes() == b"user data"
    assert requested == []


@pytest.mark.parametrize("bad", ["../evil.gz", "sub/evil.gz", "..", "", "a\\b.gz", "/etc/passwd", "C:evil"])
def test_file_names_with_paths_are_refused(bad):
    with pytest.raises(ValueError, match="bare file name"):
        FileSpec(bad, "0" * 64, 1)
    with pytest.raises(ValueError, match="bare file name"):
        DatasetSpec(title="x", subdir=bad or "/", files={})


def test_download_never_writes_outside_cache(tmp_path, http_dir):
    url, served, requested = http_dir
    _, blobs, spec = make_tiny()
    write_files(served, blobs)
    fs = spec.files["train_images"]
    # Forge a spec that skipped validation: the downloader must still refuse.
    evil = FileSpec.__new__(FileSpec)
    for k, v in dict(name="../../escaped.gz", sha256=fs.sha256, size=fs.size).items():
        object.__setattr__(evil, k, v)
    cache = tmp_path / "deep" / "cache"
    with pytest.raises(ValueError, match="bare file name"):
        mnist_mod._download(spec, evil, cache / "tiny", [url])
    assert not (tmp_path / "escaped.gz").exists() and not (tmp_path / "deep" / "escaped.gz").exists()
    assert requested == []


def test_planted_symlinks_never_lead_writes_outside_cache(tmp_path, http_dir):
    """A symlink planted in the cache under a data file's name, dangling or
    pointing at a file outside, is replaced (rename replaces the link itself)
    or refused; the file it points to is never created nor written."""
    url, served, requested = http_dir
    arrays, blobs, spec = make_tiny()
    write_files(served, blobs)
    cache, outside = tmp_path / "cache", tmp_path / "outside"
    outside.mkdir()
    (cache / "tiny").mkdir(parents=True)
    names = sorted(blobs)
    dangling, existing = names[0], names[1]
    (cache / "tiny" / dangling).symlink_to(outside / "created-by-download")
    (outside / "victim").write_bytes(b"precious")
    (cache / "tiny" / existing).symlink_to(outside / "victim")
    with pytest.raises(ValueError, match="sha256 expected"):  # the link to "victim" is read, fails, is kept
        load_idx_dataset(spec, cache, download=True, mirrors=[url])
    assert (outside / "victim").read_bytes() == b"precious"
    (cache / "tiny" / existing).unlink()
    assert_tiny(load_idx_dataset(spec, cache, download=True, mirrors=[url]), arrays)
    assert sorted(p.name for p in outside.iterdir()) == ["victim"]  # nothing written through the dangling link
    assert not (cache / "tiny" / dangling).is_symlink() and (cache / "tiny" / dangling).is_file()


def test_only_http_mirrors(tmp_path):
    _, _, spec = make_tiny()
    with pytest.raises(ValueError, match="http"):
        load_idx_dataset(spec, tmp_path, download=True, mirrors=["file:///etc/"])


def test_builtin_tables_match_shared_readme():
    # The checksums were copied from the data README; re-read it so a typo in
    # either place is caught.
    readme = SHARED / "README.md"
    if not readme.is_file():
        pytest.skip(f"{readme} absent")
    text = readme.read_text()
    for spec in (datasets.MNIST, datasets.FASHION_MNIST):
        for f in spec.files.values():
            assert f"| {f.name} | {f.size} | {f.sha256} |" in text


@needs_mnist
def test_download_real_mnist_from_loopback(tmp_path, http_dir):
    url, served, _ = http_dir
    for f in datasets.MNIST.files.values():
        (served / f.name).symlink_to(SHARED / "mnist" / f.name)
    (x, y), (xt, yt) = load_mnist(tmp_path / "cache", download=True, mirrors=url)
    assert x.shape == (60000, 28, 28) and xt.shape == (10000, 28, 28)
    assert leftovers(tmp_path / "cache") == sorted(f"mnist/{f.name}" for f in datasets.MNIST.files.values())


# --------------------------------------------------------------------------- bundled subset
def test_bundled_subset():
    (x, y), (xt, yt) = load_mnist_subset()
    assert x.shape == (10000, 28, 28) and y.shape == (10000,)
    assert xt.shape == (2000, 28, 28) and yt.shape == (2000,)
    for a in (x, y, xt, yt):
        assert a.dtype == np.uint8
    assert set(np.unique(y)) == set(range(10)) and set(np.unique(yt)) == set(range(10))
    assert x.max() == 255 and x.min() == 0
    npz = REPO / "cnnfast" / "datasets" / "data" / "mnist_subset.npz"
    assert npz.stat().st_size < 4_000_000
    assert hashlib.sha256(npz.read_bytes()).hexdigest() == bundled.SUBSET_SHA256


def test_bundled_subset_checksum_is_enforced():
    data = bytearray((REPO / "cnnfast" / "datasets" / "data" / "mnist_subset.npz").read_bytes())
    data[len(data) // 2] ^= 0x10
    with pytest.raises(ValueError, match="sha256 expected"):
        bundled._load_verified(bytes(data), "mnist_subset.npz", bundled.SUBSET_SHA256,
                               bundled.SUBSET_CONTENT_SHA256)


# --------------------------------------------------------------------------- the real files
@needs_mnist
@pytest.mark.parametrize("where", ["parent", "mnist"])
def test_full_mnist(where):
    path = SHARED if where == "parent" else SHARED / "mnist"
    (x, y), (xt, yt) = load_mnist(path)
    assert x.shape == (60000, 28, 28) and y.shape == (60000,)
    assert xt.shape == (10000, 28, 28) and yt.shape == (10000,)
    assert x.dtype == y.dtype == np.uint8
    assert np.bincount(y).tolist() == MNIST_TRAIN_COUNTS
    assert np.bincount(yt).tolist() == MNIST_TEST_COUNTS
    # The bundled subset is exactly the leading slice of the full files.
    (sx, sy), (sxt, syt) = load_mnist_subset()
    np.testing.assert_array_equal(sx, x[:10000])
    np.testing.assert_array_equal(sy, y[:10000])
    np.testing.assert_array_equal(sxt, xt[:2000])
    np.testing.assert_array_equal(syt, yt[:2000])


@needs_mnist
def test_full_mnist_from_env(monkeypatch):
    monkeypatch.setenv("CNNFAST_DATA", str(SHARED))
    (x, _), (xt, _) = load_mnist()
    assert len(x) == 60000 and len(xt) == 10000


@needs_fashion
def test_full_fashion_mnist():
    (x, y), (xt, yt) = load_fashion_mnist(SHARED)
    assert x.shape == (60000, 28, 28) and xt.shape == (10000, 28, 28)
    assert np.bincount(y).tolist() == [6000] * 10 and np.bincount(yt).tolist() == [1000] * 10


@needs_mnist
def test_fashion_loader_refuses_mnist_files():
    with pytest.raises(ValueError, match="It is MNIST train-images"):
        load_fashion_mnist(SHARED / "mnist")


@needs_mnist
def test_script_regenerates_the_bundled_file(tmp_path):
    out = tmp_path / "subset.npz"
    proc = subprocess.run([sys.executable, str(REPO / "scripts" / "make_mnist_subset.py"), str(SHARED), str(out)],
                          capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    with np.load(out, allow_pickle=False) as z:
        assert bundled.content_sha256({k: z[k] for k in z.files}) == bundled.SUBSET_CONTENT_SHA256
    # Byte-identical too, when compressed by the zlib the shipped file was made with.
    if zlib.ZLIB_RUNTIME_VERSION == "1.2.13":
        assert hashlib.sha256(out.read_bytes()).hexdigest() == bundled.SUBSET_SHA256


# --------------------------------------------------------------------------- augmentation
def dot_image(h=28, w=28, r=10, c=10, channels=1):
    x = np.zeros((channels, h, w), np.float32)
    x[:, r, c] = 1.0
    return x


def test_shift_moves_content_by_stated_pixels():
    gen = ImageDataGenerator()
    out = gen.apply_transform(dot_image(), {"dx": 3, "dy": -2})
    assert out.dtype == np.float32 and out.shape == (1, 28, 28)
    assert out[0, 8, 13] == 1.0 and out.sum() == 1.0
    # Content pushed past the border is gone, and the uncovered border is cval.
    x = np.ones((1, 5, 5), np.float32)
    out = ImageDataGenerator(cval=0).apply_transform(x, {"dx": 2})
    np.testing.assert_array_equal(out[0, :, :2], 0)
    np.testing.assert_array_equal(out[0, :, 2:], 1)


def test_random_integer_shifts_stay_in_range():
    gen = ImageDataGenerator(width_shift_range=3, height_shift_range=2, seed=0)
    x = np.repeat(dot_image()[None], 200, axis=0)
    out = gen.random_transform(x)
    seen = set()
    for img in out[:, 0]:
        (r,), (c,) = np.nonzero(img)
        assert img.sum() == 1.0  # whole-pixel shift: moved, not blurred
        assert abs(c - 10) <= 3 and abs(r - 10) <= 2
        seen.add((r - 10, c - 10))
    assert len(seen) == 7 * 5  # every allowed shift occurs


def test_fractional_shift_range_is_a_fraction_of_the_size():
    gen = ImageDataGenerator(width_shift_range=0.1, height_shift_range=0.25, seed=1)
    p = gen.get_random_transform(5000, (28, 40))
    assert np.abs(p["dx"]).max() <= 4.0 and np.abs(p["dx"]).max() > 3.5
    assert np.abs(p["dy"]).max() <= 7.0 and np.abs(p["dy"]).max() > 6.5


def test_flips_flip():
    rng = np.random.default_rng(0)
    x = rng.random((4, 2, 6, 7)).astype(np.float32)
    gen = ImageDataGenerator()
    ones = np.ones(4, bool)
    np.testing.assert_array_equal(gen.apply_transform(x, {"flip_h": ones}), x[..., ::-1])
    np.testing.assert_array_equal(gen.apply_transform(x, {"flip_v": ones}), x[..., ::-1, :])
    # Random flips: each image comes back either unchanged or mirrored, both happen.
    out = ImageDataGenerator(horizontal_flip=True, seed=3).random_transform(np.repeat(x[:1], 64, 0))
    same = [np.array_equal(o, x[0]) for o in out]
    flipped = [np.array_equal(o, x[0][..., ::-1]) for o in out]
    assert all(s or f for s, f in zip(same, flipped)) and any(same) and any(flipped)


def test_rotation_by_zero_is_identity():
    rng = np.random.default_rng(0)
    x = rng.random((3, 2, 28, 28)).astype(np.float32)
    np.testing.assert_array_equal(ImageDataGenerator(rotation_range=0).random_transform(x), x)
    # Also through the bilinear path (another image in the batch is rotated).
    out = ImageDataGenerator().apply_transform(x, {"theta": np.array([0.0, 10.0, 0.0])})
    np.testing.assert_array_equal(out[0], x[0])
    np.testing.assert_array_equal(out[2], x[2])
    assert not np.allclose(out[1], x[1])


def test_rotation_direction_and_range():
    x = np.random.default_rng(0).random((1, 9, 9)).astype(np.float32)
    out = ImageDataGenerator().apply_transform(x, {"theta": 90.0})
    np.testing.assert_allclose(out, np.rot90(x, axes=(1, 2)), atol=1e-5)  # counter-clockwise
    p = ImageDataGenerator(rotation_range=15, seed=0).get_random_transform(1000, (28, 28))
    assert np.abs(p["theta"]).max() <= 15 and np.abs(p["theta"]).max() > 14


def test_normalisation_gives_stated_mean_and_std():
    rng = np.random.default_rng(0)
    x = (rng.random((300, 3, 8, 8)) * np.array([50, 100, 200])[None, :, None, None]
         + np.array([10, 20, 30])[None, :, None, None]).astype(np.float32)
    gen = ImageDataGenerator(featurewise_center=True, featurewise_std_normalization=True).fit(x)
    out = np.concatenate([xb for xb, _ in gen.flow(x, np.zeros(300), batch_size=64)])
    np.testing.assert_allclose(out.mean(axis=(0, 2, 3)), 0, atol=1e-4)
    np.testing.assert_allclose(out.std(axis=(0, 2, 3)), 1, atol=1e-4)
    # Fixed statistics: (x * rescale - mean) / std exactly.
    u8 = rng.integers(0, 256, (10, 28, 28), dtype=np.uint8)
    gen = ImageDataGenerator(rescale=1 / 255, mean=0.1307, std=0.3081)
    np.testing.assert_allclose(gen.standardize(u8)[:, 0], (u8 / 255 - 0.1307) / 0.3081, rtol=1e-5, atol=1e-5)
    with pytest.raises(RuntimeError, match="fit"):
        ImageDataGenerator(featurewise_center=True).standardize(u8)


def test_flow_outputs_float32_nchw_aligned_with_labels():
    x = np.arange(50 * 28 * 28, dtype=np.uint32).reshape(50, 28, 28) % 256
    y = np.arange(50)
    it = ImageDataGenerator().flow(x.astype(np.uint8), y, batch_size=16, seed=0)
    assert len(it) == 4
    got = []
    for xb, yb in it:
        assert xb.dtype == np.float32 and xb.ndim == 4 and xb.shape[1:] == (1, 28, 28)
        np.testing.assert_array_equal(xb[:, 0], x[yb])  # no augmentation: x matches its label
        got.extend(yb.tolist())
    assert sorted(got) == list(range(50))
    xs = np.zeros((10, 3, 8, 8), np.uint8)
    (xb,) = [b for b in ImageDataGenerator(width_shift_range=2).flow(xs, batch_size=10)]
    assert xb.shape == (10, 3, 8, 8) and xb.dtype == np.float32


def test_seeded_generator_is_reproducible():
    x = np.random.default_rng(0).integers(0, 256, (40, 1, 28, 28), dtype=np.uint8)
    y = np.arange(40)

    def run(seed):
        gen = ImageDataGenerator(width_shift_range=0.1, height_shift_range=2, rotation_range=10,
                                 horizontal_flip=True, rescale=1 / 255, seed=seed)
        it = gen.flow(x, y, batch_size=8)
        return [(xb.copy(), yb.copy()) for _ in range(2) for xb, yb in it]

    a, b, c = run(7), run(7), run(8)
    for (xa, ya), (xb, yb) in zip(a, b):
        np.testing.assert_array_equal(xa, xb)
        np.testing.assert_array_equal(ya, yb)
    assert not all(np.array_equal(p[0], q[0]) for p, q in zip(a, c))
    # Two epochs of one flow differ (new shuffle, new augmentation).
    assert not np.array_equal(a[0][1], a[5][1])


# --------------------------------------------------------------------------- batches
@pytest.mark.parametrize("n,batch_size", [(100, 10), (101, 10), (7, 32), (1, 1)])
@pytest.mark.parametrize("shuffle", [False, True])
def test_batches_cover_every_sample_once_per_epoch(n, batch_size, shuffle):
    x = np.arange(n) * 2
    y = np.arange(n)
    it = BatchIterator(x, y, batch_size=batch_size, shuffle=shuffle, seed=0)
    orders = []
    for _ in range(3):
        seen = []
        batches = list(it)
        assert len(batches) == len(it) == -(-n // batch_size)
        for xb, yb in batches:
            assert len(xb) <= batch_size
            np.testing.assert_array_equal(xb, yb * 2)  # x and y stay paired
            seen.extend(yb.tolist())
        assert sorted(seen) == list(range(n))
        orders.append(seen)
    if shuffle and n > 10:
        assert orders[0] != orders[1]  # a new permutation every epoch
    if not shuffle:
        assert orders[0] == list(range(n))


def test_iterate_minibatches_drop_last_and_checks():
    x = np.arange(25)
    batches = list(iterate_minibatches(x, None, 10, shuffle=True, rng=1, drop_last=True))
    assert [len(b) for b in batches] == [10, 10]
    assert len(set(np.concatenate(batches).tolist())) == 20
    assert len(BatchIterator(x, batch_size=10, drop_last=True)) == 2
    with pytest.raises(ValueError, match="samples"):
        list(iterate_minibatches(x, np.arange(3), 5))
    with pytest.raises(ValueError, match="batch_size must be >= 1"):
        list(iterate_minibatches(x, None, 0))
    with pytest.raises(TypeError, match="batch_size must be an integer"):
        list(iterate_minibatches(x, None, 2.0))


def test_flow_subset_splits_as_keras_and_leaves_validation_unaugmented():
    x = np.arange(10 * 4 * 4, dtype=np.float32).reshape(10, 1, 4, 4)
    y = np.arange(10)
    gen = ImageDataGenerator(width_shift_range=1, rescale=0.5, validation_split=0.2, seed=0)
    validation = list(gen.flow(x, y, batch_size=4, shuffle=False, subset="validation"))
    training = gen.flow(x, y, batch_size=4, shuffle=False, subset="training")
    # Keras's split: the first int(10 * 0.2) = 2 images are the validation subset, the rest training.
    assert [list(yb) for _, yb in validation] == [[0, 1]]
    assert len(training) == 2 and [list(yb) for _, yb in training] == [[2, 3, 4, 5], [6, 7, 8, 9]]
    np.testing.assert_array_equal(validation[0][0], x[:2] * 0.5)        # standardised, never shifted
    shifted = np.concatenate([xb for xb, _ in training])
    assert not np.array_equal(shifted, x[2:] * 0.5)                      # training is augmented
    for subset, kwargs, match in [("test", {}, "subset must be"),
                                  ("training", {"validation_split": 0.0}, "validation_split=...\\) > 0")]:
        with pytest.raises(ValueError, match=match):
            ImageDataGenerator(**kwargs).flow(x, y, subset=subset)
    with pytest.raises(ValueError, match="leaves no validation images"):
        ImageDataGenerator(validation_split=0.05).flow(x, y, subset="validation")
    with pytest.raises(ValueError, match=r"validation_split must be in \[0, 1\)"):
        ImageDataGenerator(validation_split=1.0)
