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

Keras's spellings work too: ``Activation("tanh")``, ``activation=`` on
``Dense``/``Conv2D``, ``strides=``, ``input_shape=``/``input_dim=`` on any
layer, ``Input(shape)``, and the names ``Convolution2D``, ``MaxPooling2D``,
``AveragePooling2D``, ``GlobalAveragePooling2D`` (the same classes) and
``BatchNormalization`` (Keras's momentum and epsilon).
"""

from . import initializers
from .activations import ELU, Activation, LeakyReLU, PReLU, ReLU, ScaledTanh, Sigmoid, Softmax, Tanh
from .base import BACKENDS, Layer, Parameter, deserialize, register, serialize
from .containers import Residual
from .conv import Conv2D, Conv2DTranspose, Convolution2D
from .core import Dense, Dropout, Flatten
from .normalization import BatchNorm1D, BatchNorm2D, BatchNormalization
from .pooling import (
    AveragePooling2D,
    AvgPool2D,
    GlobalAveragePooling2D,
    GlobalAvgPool2D,
    MaxPool2D,
    MaxPooling2D,
    Subsampling2D,
)
from .preprocessing import Rescaling, Reshape, ZeroPadding2D
from .sequential import Input, Sequential

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
    "Activation",
    "Sequential",
    "Residual",
    "Input",
    "Reshape",
    "ZeroPadding2D",
    "Rescaling",
    "BatchNormalization",
    # Keras's names of the classes above
    "Convolution2D",
    "MaxPooling2D",
    "AveragePooling2D",
    "GlobalAveragePooling2D",
]
