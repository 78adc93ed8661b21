"""Ready-made networks: each builder returns a built, uncompiled ``cnnfast.Sequential``.

- ``lenet5()``: LeNet-5 on 1 x 32 x 32 (C1 6@5x5, S2 max-pool, C3 16@5x5, S4, C5 120@5x5,
  F6 84, 10 outputs); ``lenet5(classic=True)``: the same with LeCun et al. (1998)'s
  trainable subsampling and scaled-tanh squashing; ``lenet5(mnist_input=True)`` takes
  MNIST's (N, 28, 28) digits scaled to [0, 1] and pads and standardises them itself.
- ``small_vgg()``: 3 x 32 x 32, three stages of 2 x (3x3 conv, BatchNorm, ReLU) + max-pool,
  then Dense 128 and 10 outputs.
- ``resnet8()`` / ``resnet20()``: 3 x 32 x 32, He et al. (2016)'s CIFAR ResNet with 6n + 2
  layers, n = 1 / 3, built from ``Residual`` blocks.

The outputs are logits (train them with ``loss="cross_entropy"``).  Every layer is a child
of the returned Sequential, so ``model.state_dict()`` loads into the ``torch.nn.Sequential``
with the same children in the same order (a ``Residual`` is a module with ``block`` and
``shortcut`` children whose forward is ``block(x) + shortcut(x)``).
"""

from __future__ import annotations

from . import layers as L
from .layers import Sequential

__all__ = ["lenet5", "mnist_input_layers", "small_vgg", "resnet8", "resnet20", "MNIST_MEAN", "MNIST_STD"]

_ACTIVATIONS = {
    "relu": L.ReLU,
    "tanh": L.Tanh,
    "scaled_tanh": L.ScaledTanh,
    "sigmoid": L.Sigmoid,
    "elu": L.ELU,
    "leaky_relu": L.LeakyReLU,
}


def _activation(name):
    if name not in _ACTIVATIONS:
        raise ValueError(f"activation must be one of {sorted(_ACTIVATIONS)}, got {name!r}")
    return _ACTIVATIONS[name]()


#: Mean and standard deviation of MNIST's training pixels scaled to [0, 1].
MNIST_MEAN, MNIST_STD = 0.1307, 0.3081


def mnist_input_layers():
    """The layers that turn MNIST digits as loaded, scaled to [0, 1], into LeNet-5's 1 x 32 x 32 input.

    ``Reshape((1, 28, 28))`` (the channel axis), ``ZeroPadding2D(2)`` (28 -> 32,
    the background 0), ``Rescaling(1 / std, -mean / std)`` (standardised with
    MNIST's training mean and standard deviation; the padding becomes the
    standardised background).

    Returns
    -------
    list of Layer
    """
    return [L.Reshape((1, 28, 28)), L.ZeroPadding2D(2), L.Rescaling(1.0 / MNIST_STD, offset=-MNIST_MEAN / MNIST_STD)]


def lenet5(classic=False, activation=None, num_classes=10, seed=0, dtype="float32", mnist_input=False):
    """LeNet-5 (LeCun et al. 1998) on 1 x 32 x 32 input (MNIST's 28 x 28 padded by 2).

    C1 conv 6@5x5 -> 6x28x28, S2 2x2 -> 6x14x14, C3 conv 16@5x5 -> 16x10x10, S4 2x2 -> 16x5x5,
    C5 conv 120@5x5 -> 120x1x1, F6 dense 84, output dense ``num_classes`` (logits).

    Parameters
    ----------
    classic : bool
        False (modern): max pooling for S2/S4 and ``activation`` after C1, C3,
        C5 and F6; 61,706 parameters for 10 classes.  True (the paper): S2/S4
        are ``Subsampling2D`` (each 2x2 block averaged, times a trainable
        coefficient, plus a trainable bias, per map), and every layer up to F6
        is followed by the squashing 1.7159 tanh(2x/3); 61,750 parameters.
    activation : str, optional
        "relu", "tanh", "scaled_tanh", "sigmoid", "elu" or "leaky_relu";
        default "relu" (modern) or "scaled_tanh" (classic).
    num_classes : int
    seed : int or None
    dtype : {"float32", "float64"}
    mnist_input : bool
        True: the model takes MNIST digits as loaded, (N, 28, 28), scaled to
        [0, 1] (``x / 255``), and prepares them itself with
        :func:`mnist_input_layers` (three layers first: the state_dict indices
        of the LeNet layers grow by 3).  What ``cnnfast train`` saves.

    Returns
    -------
    Sequential
        Built, not compiled.

    Notes
    -----
    Departures from the paper: C3 is fully connected to S2's 6 maps (the
    paper's partial connection table is not used), and the output layer is a
    dense layer giving logits for softmax cross-entropy instead of Euclidean
    RBF units.
    """
    if activation is None:
        activation = "scaled_tanh" if classic else "relu"
    if classic:
        def pool():
            return [L.Subsampling2D(), _activation(activation)]
    else:
        def pool():
            return [L.MaxPool2D(2)]
    layers = [
        L.Conv2D(6, 5), _activation(activation),                # C1
        *pool(),                                                # S2
        L.Conv2D(16, 5), _activation(activation),               # C3
        *pool(),                                                # S4
        L.Conv2D(120, 5), _activation(activation),              # C5
        L.Flatten(),
        L.Dense(84), _activation(activation),                   # F6
        L.Dense(num_classes),                                   # output
    ]
    name = "lenet5_classic" if classic else "lenet5"
    if mnist_input:
        return Sequential([*mnist_input_layers(), *layers], input_shape=(28, 28), seed=seed, dtype=dtype, name=name)
    return Sequential(layers, input_shape=(1, 32, 32), seed=seed, dtype=dtype, name=name)


def small_vgg(num_classes=10, seed=0, input_shape=(3, 32, 32), dtype="float32"):
    """A small VGG for 3 x 32 x 32 images (CIFAR-10 sized): about 0.55 M parameters.

    Three stages of [3x3 conv (padding 1), BatchNorm2D, ReLU] x 2 then 2x2 max pooling,
    with 32, 64 and 128 channels (32 -> 16 -> 8 -> 4 pixels); then Flatten, Dense 128,
    ReLU, Dense ``num_classes`` (logits). The spatial size must be divisible by 8.

    Parameters
    ----------
    num_classes : int
        Outputs (logits).
    seed : int or None
        Of the weights (see :class:`cnnfast.Sequential`).
    input_shape : tuple of int
        Batch-free; the spatial size must suit the pooling.
    dtype : {"float32", "float64"}

    Returns
    -------
    Sequential
        Built, not compiled.
    """
    layers = []
    for channels in (32, 64, 128):
        for _ in range(2):
            layers += [L.Conv2D(channels, 3, padding=1), L.BatchNorm2D(), L.ReLU()]
        layers.append(L.MaxPool2D(2))
    layers += [L.Flatten(), L.Dense(128), L.ReLU(), L.Dense(num_classes)]
    return Sequential(layers, input_shape=input_shape, seed=seed, dtype=dtype, name="small_vgg")


def _basic_block(channels, stride):
    """ResNet basic block: ``relu(bn(conv3x3(relu(bn(conv3x3(x))))) + shortcut(x))``.

    The shortcut is a strided 1x1 conv + BatchNorm when the shape changes (option B), else x.
    """
    block = L.Sequential([
        L.Conv2D(channels, 3, stride=stride, padding=1, use_bias=False), L.BatchNorm2D(), L.ReLU(),
        L.Conv2D(channels, 3, padding=1, use_bias=False), L.BatchNorm2D(),
    ])
    shortcut = None
    if stride != 1:
        shortcut = L.Sequential([L.Conv2D(channels, 1, stride=stride, use_bias=False), L.BatchNorm2D()])
    return [L.Residual(block, shortcut), L.ReLU()]


def _cifar_resnet(blocks_per_stage, num_classes, seed, input_shape, dtype, name):
    layers = [L.Conv2D(16, 3, padding=1, use_bias=False), L.BatchNorm2D(), L.ReLU()]
    for stage, channels in enumerate((16, 32, 64)):
        for i in range(blocks_per_stage):
            stride = 2 if stage > 0 and i == 0 else 1
            layers += _basic_block(channels, stride)
    # GlobalAvgPool2D already gives (N, C); the Flatten (a no-op here) keeps the child indices
    # those of torch's usual nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear ending.
    layers += [L.GlobalAvgPool2D(), L.Flatten(), L.Dense(num_classes)]
    return Sequential(layers, input_shape=input_shape, seed=seed, dtype=dtype, name=name)


def resnet8(num_classes=10, seed=0, input_shape=(3, 32, 32), dtype="float32"):
    """ResNet-8 for 3 x 32 x 32 images (He et al. 2016, CIFAR layout with n = 1): about 78 k parameters.

    3x3 conv 16 + BatchNorm + ReLU, then three stages of basic blocks (``Residual`` + ReLU)
    with 16, 32 and 64 channels, global average pooling, Flatten, Dense ``num_classes``
    (logits). Convolutions followed by BatchNorm have no bias. The first block of stages 2
    and 3 has stride 2 and a 1x1 conv + BatchNorm shortcut (the paper's option B; its CIFAR
    networks use option A, zero-padded identity shortcuts, which have no torch module).

    The arguments and the result are :func:`small_vgg`'s.
    """
    return _cifar_resnet(1, num_classes, seed, input_shape, dtype, "resnet8")


def resnet20(num_classes=10, seed=0, input_shape=(3, 32, 32), dtype="float32"):
    """ResNet-20 for 3 x 32 x 32 images (He et al. 2016, n = 3): about 0.27 M parameters.

    As :func:`resnet8` with three basic blocks per stage.

    The arguments and the result are :func:`small_vgg`'s.
    """
    return _cifar_resnet(3, num_classes, seed, input_shape, dtype, "resnet20")
