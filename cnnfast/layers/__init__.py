"""Layers with forward/backward, named parameters and torch.nn names and layouts.

Every layer maps a batch x (N, ...) to y (N, ...), infers its input channels
or features from the first input it sees (or from ``build(input_shape, rng)``),
keeps what its backward needs only when called with ``training=True``, and
names its parameters and buffers as the equivalent torch.nn module does, so
``state_dict()`` loads into torch with ``strict=True``.

Layers compute element-wise work (activations, normalisation, dropout) with
NumPy and hand convolution, pooling and linear maps to :mod:`cnnfast.functional`;
they never reach the C kernels themselves.  ``Sequential`` is both a layer
and the model (as in Keras): it gets its training verbs from :mod:`cnnfast.training`.
"""

from . import initializers
from .activations import ELU, LeakyReLU, PReLU, ReLU, ScaledTanh, Sigmoid, Softmax, Tanh
from .base import BACKENDS, Layer, Parameter, deserialize, register, serialize
from .containers import Residual
from .conv import Conv2D, Conv2DTranspose
from .core import Dense, Dropout, Flatten
from .normalization import BatchNorm1D, BatchNorm2D
from .pooling import AvgPool2D, GlobalAvgPool2D, MaxPool2D, Subsampling2D
from .sequential import Sequential

__all__ = [
    "BACKENDS",
    "Parameter",
    "Layer",
    "register",
    "serialize",
    "deserialize",
    "initializers",
    "Conv2D",
    "Conv2DTranspose",
    "MaxPool2D",
    "AvgPool2D",
    "GlobalAvgPool2D",
    "Subsampling2D",
    "Dense",
    "Flatten",
    "Dropout",
    "BatchNorm1D",
    "BatchNorm2D",
    "ReLU",
    "LeakyReLU",
    "PReLU",
    "ELU",
    "Tanh",
    "Sigmoid",
    "Softmax",
    "ScaledTanh",
    "Sequential",
    "Residual",
]
