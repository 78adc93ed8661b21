"""Data for cnnfast: MNIST-style data sets, a bundled subset, augmentation, batches.

* :func:`load_mnist`, :func:`load_fashion_mnist` — the original IDX files,
  checksum-verified, optionally downloaded (``download=True``);
  ``(x_train, y_train), (x_test, y_test)`` as uint8 ``(N, 28, 28)`` / ``(N,)``.
* :func:`load_mnist_subset` — 10,000 + 2,000 real MNIST images shipped in the
  package, for offline use.
* :class:`ImageDataGenerator` — random shifts, rotations, flips and
  normalisation of NCHW batches; ``.flow(x, y)`` yields augmented batches.
* :func:`iterate_minibatches`, :class:`BatchIterator` — shuffled mini-batches.
* :func:`read_idx`, :func:`parse_idx` — the strict IDX reader underneath.
"""

from .augment import ImageDataGenerator
from .batches import BatchIterator, iterate_minibatches
from .bundled import load_mnist_subset
from .idx import parse_idx, read_idx
from .mnist import (
    FASHION_MNIST,
    MNIST,
    DatasetSpec,
    FileSpec,
    data_dir,
    load_fashion_mnist,
    load_idx_dataset,
    load_mnist,
)

__all__ = [
    "load_mnist",
    "load_fashion_mnist",
    "load_mnist_subset",
    "load_idx_dataset",
    "data_dir",
    "DatasetSpec",
    "FileSpec",
    "MNIST",
    "FASHION_MNIST",
    "ImageDataGenerator",
    "BatchIterator",
    "iterate_minibatches",
    "read_idx",
    "parse_idx",
]
