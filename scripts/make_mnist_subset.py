#!/usr/bin/env python
"""Regenerate cnnfast/datasets/data/mnist_subset.npz from the original MNIST files.

Usage::

    python scripts/make_mnist_subset.py DATA_DIR [OUTPUT]

DATA_DIR holds the four original MNIST ``.gz`` files (directly or in
``mnist/``), e.g. ``../shared/data``.  OUTPUT defaults to the packaged file.
The subset is the first 10,000 training and the first 2,000 test images, as
they are (uint8): a plain slice, so anyone can check it against the full set.

The output is byte-for-byte deterministic for a given zlib: it is the same
format ``np.savez_compressed`` writes, but every zip entry gets a fixed
timestamp (savez stamps the current time, which would change the file's
SHA-256 on every run).  The script prints the file's SHA-256 and the
zlib-independent content digest that ``cnnfast/datasets/bundled.py`` records,
and says whether they match the recorded ones.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
import tempfile
import zipfile
from pathlib import Path

import numpy as np

try:
    from cnnfast.datasets import bundled, load_mnist
except ImportError:  # run from a source checkout that is not installed
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from cnnfast.datasets import bundled, load_mnist

DEFAULT_OUTPUT = Path(__file__).resolve().parents[1] / "cnnfast" / "datasets" / "data" / "mnist_subset.npz"
_FIXED_TIME = (1998, 11, 1, 0, 0, 0)  # any constant would do; this is MNIST's era


def write_npz(path: Path, arrays: dict) -> None:
    """Write ``arrays`` as a compressed .npz with fixed metadata, atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            with zipfile.ZipFile(f, mode="w", compression=zipfile.ZIP_DEFLATED) as zf:
                for key in bundled._KEYS:
                    info = zipfile.ZipInfo(key + ".npy", date_time=_FIXED_TIME)
                    info.compress_type = zipfile.ZIP_DEFLATED
                    info.external_attr = 0o644 << 16
                    with zf.open(info, "w", force_zip64=True) as member:
                        np.lib.format.write_array(member, np.ascontiguousarray(arrays[key]),
                                                  allow_pickle=False)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)  # mkstemp makes it 0600; the data file is for everyone
        os.replace(tmp, path)
        tmp = None
    finally:
        if tmp is not None and os.path.exists(tmp):
            os.unlink(tmp)


def make_subset(data_dir) -> dict:
    """Return the subset arrays sliced from the verified full MNIST files."""
    (x_train, y_train), (x_test, y_test) = load_mnist(data_dir)
    return {
        "x_train": x_train[: bundled.SUBSET_TRAIN].copy(),
        "y_train": y_train[: bundled.SUBSET_TRAIN].copy(),
        "x_test": x_test[: bundled.SUBSET_TEST].copy(),
        "y_test": y_test[: bundled.SUBSET_TEST].copy(),
    }


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("data_dir", help="directory with the original MNIST .gz files (or its parent)")
    ap.add_argument("output", nargs="?", default=str(DEFAULT_OUTPUT), help="output .npz path")
    args = ap.parse_args(argv)

    arrays = make_subset(args.data_dir)
    write_npz(Path(args.output), arrays)
    file_sha = hashlib.sha256(Path(args.output).read_bytes()).hexdigest()
    content = bundled.content_sha256(arrays)
    counts = np.bincount(arrays["y_train"], minlength=10)
    def verdict(ok):
        return "matches the recorded one" if ok else "DIFFERS from the one recorded in bundled.py"

    print(f"wrote {args.output}: {Path(args.output).stat().st_size} bytes")
    print(f"  train {arrays['x_train'].shape}, test {arrays['x_test'].shape}; "
          f"train class counts {counts.tolist()}")
    print(f"  file sha256    {file_sha}  ({verdict(file_sha == bundled.SUBSET_SHA256)})")
    print(f"  content sha256 {content}  ({verdict(content == bundled.SUBSET_CONTENT_SHA256)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
