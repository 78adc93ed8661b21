"""A small real MNIST subset shipped inside the package, for offline use.

``data/mnist_subset.npz`` holds the first 10,000 training and the first 2,000
test images of the original MNIST files, unchanged (uint8), so the default
``cnnfast train`` runs on a fresh machine with no network.  It is made by
``scripts/make_mnist_subset.py`` from the original IDX files; the file's
SHA-256 is recorded here and checked on every load, and so is a digest of the
array contents, which does not depend on the zlib build that compressed it.
"""

from __future__ import annotations

import hashlib
import io
from importlib import resources

import numpy as np

__all__ = ["load_mnist_subset", "SUBSET_TRAIN", "SUBSET_TEST"]

SUBSET_TRAIN = 10_000
SUBSET_TEST = 2_000
_RESOURCE = "data/mnist_subset.npz"
_KEYS = ("x_train", "y_train", "x_test", "y_test")
#: SHA-256 of the shipped .npz file.
SUBSET_SHA256 = "3f5f70ae7707c840f79097f795d17eb879700ff75c53798a0ce246b470ff7f1e"
#: SHA-256 of the arrays' contents (see :func:`content_sha256`).
SUBSET_CONTENT_SHA256 = "b3b560d23f2cd63e4a38d6073f4c9c9d5e73da48990005bca9187e9d1481de0c"


def content_sha256(arrays) -> str:
    """Digest of a dict of arrays: key, dtype, shape and bytes, in ``_KEYS`` order.

    Unlike the file's own hash this does not change if the same arrays are
    compressed by a different zlib, so it is what the regeneration script
    checks to prove it reproduced the shipped data.

    Parameters
    ----------
    arrays : dict of str to ndarray

    Returns
    -------
    str
        Hex SHA-256.
    """
    h = hashlib.sha256()
    for k in _KEYS:
        a = np.ascontiguousarray(arrays[k])
        h.update(f"{k} {a.dtype.str} {a.shape}\n".encode())
        h.update(a.tobytes())
    return h.hexdigest()


def _load_verified(data: bytes, name: str, file_sha256: str, content_digest: str):
    actual = hashlib.sha256(data).hexdigest()
    if actual != file_sha256:
        raise ValueError(f"{name}: bundled MNIST subset is corrupt: sha256 expected "
                         f"{file_sha256}, actual {actual} ({len(data)} bytes); reinstall cnnfast "
                         f"or regenerate it with scripts/make_mnist_subset.py")
    # allow_pickle=False: the file holds plain arrays only, never objects.
    with np.load(io.BytesIO(data), allow_pickle=False) as z:
        if sorted(z.files) != sorted(_KEYS):
            raise ValueError(f"{name}: expected arrays {_KEYS}, found {tuple(z.files)}")
        arrays = {k: z[k] for k in _KEYS}
    if content_sha256(arrays) != content_digest:
        raise ValueError(f"{name}: bundled MNIST subset arrays do not match the recorded digest")
    return (arrays["x_train"], arrays["y_train"]), (arrays["x_test"], arrays["y_test"])


def load_mnist_subset():
    """Load the bundled MNIST subset, Keras style.

    Returns
    -------
    ((x_train, y_train), (x_test, y_test))
        ``x_train`` uint8 ``(10000, 28, 28)``, ``y_train`` uint8 ``(10000,)``,
        ``x_test`` uint8 ``(2000, 28, 28)``, ``y_test`` uint8 ``(2000,)``:
        the first 10,000 / 2,000 images of MNIST's training / test files,
        pixels 0..255, labels 0..9 (every class present).

    Raises
    ------
    ValueError
        If the shipped file does not have the recorded SHA-256.

    Examples
    --------
    >>> from cnnfast.datasets import load_mnist_subset
    >>> (x_train, y_train), (x_test, y_test) = load_mnist_subset()
    >>> x_train.shape, x_train.dtype, y_test[:10]
    ((10000, 28, 28), dtype('uint8'), array([7, 2, 1, 0, 4, 1, 4, 9, 5, 9], dtype=uint8))
    >>> x = x_train[:, None].astype(np.float32) / 255      # float32 NCHW in [0, 1]
    """
    res = resources.files(__package__).joinpath(_RESOURCE)
    data = res.read_bytes()
    return _load_verified(data, str(res), SUBSET_SHA256, SUBSET_CONTENT_SHA256)
