"""Containers: Sequential (a chain of layers) and Residual (y = block(x) + shortcut(x))."""

from __future__ import annotations

from .base import Layer, deserialize, register, serialize

__all__ = ["Sequential", "Residual"]


def _layer(value, what):
    if not isinstance(value, Layer):
        raise TypeError(f"{what} must be a cnnfast.layers.Layer, got {type(value).__name__}")
    return value


@register
class Sequential(Layer):
    """Layers applied one after the other (torch.nn.Sequential).

    x (N, *input_shape) -> y (N, *output_shape of the last layer).  Child i
    is named "i" in state_dict (every child counts, also those without
    parameters), so the names are those of the equivalent torch.nn.Sequential.
    Supports ``add``, ``len``, indexing and iteration.  A layer added after
    the container was built is built on its first input.
    """

    def __init__(self, layers=None, name=None):
        super().__init__(name)
        self._layers = []
        for layer in layers or ():
            self.add(layer)

    def add(self, layer):
        """Append ``layer``.  Returns self."""
        self._layers.append(_layer(layer, f"layer {len(self._layers)}"))
        return self

    def __len__(self):
        return len(self._layers)

    def __getitem__(self, index):
        return self._layers[index]

    def __iter__(self):
        return iter(self._layers)

    def named_children(self):
        return [(str(i), layer) for i, layer in enumerate(self._layers)]

    def output_shape(self, input_shape):
        """Each layer's output shape fed to the next one."""
        shape = tuple(input_shape)
        for layer in self._layers:
            shape = layer.output_shape(shape)
        return shape

    def _build(self, input_shape, rng):
        # Every child draws from the one generator, in order: one seed fixes all.
        shape = input_shape
        for layer in self._layers:
            layer.dtype = self.dtype
            layer.build(shape, rng)
            shape = layer.output_shape(shape)

    def _forward(self, x, training):
        for layer in self._layers:
            x = layer.forward(x, training)
        return x

    def _backward(self, grad_y, input_grad=True):
        for i in reversed(range(len(self._layers))):
            grad_y = self._layers[i].backward(grad_y, input_grad=input_grad or i > 0)
        return grad_y

    def _backward_params(self, grad_y):
        self._backward(grad_y, input_grad=False)

    def get_config(self):
        return {"layers": [serialize(layer) for layer in self._layers], "name": self.name}

    def __repr__(self):
        lines = [f"  ({i}): " + repr(layer).replace("\n", "\n  ") for i, layer in enumerate(self._layers)]
        return f"{type(self).__name__}(\n" + "\n".join(lines) + "\n)" if lines else f"{type(self).__name__}()"

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["layers"] = [deserialize(spec) for spec in config.get("layers") or ()]
        return cls(**config)


@register
class Residual(Layer):
    """y = block(x) + shortcut(x), or block(x) + x when shortcut is None.

    x (N, *input_shape) -> y (N, *block.output_shape(input_shape)); the
    shortcut's output (or x) must have the same shape.  Children are named
    "block" and "shortcut" (torch: a module with attributes ``block`` and
    ``shortcut``).  A ResNet basic block is
    ``Residual(Sequential([Conv2D, BatchNorm2D, ReLU, Conv2D, BatchNorm2D]))``
    followed by ReLU.
    """

    def __init__(self, block, shortcut=None, name=None):
        super().__init__(name)
        self.block = _layer(block, "block")
        self.shortcut = None if shortcut is None else _layer(shortcut, "shortcut")

    def output_shape(self, input_shape):
        """block's output shape; ValueError when the shortcut's differs."""
        block_shape = tuple(self.block.output_shape(input_shape))
        if self.shortcut is None:
            shortcut_shape, what = tuple(input_shape), "the identity shortcut"
        else:
            shortcut_shape, what = tuple(self.shortcut.output_shape(input_shape)), "the shortcut"
        if block_shape != shortcut_shape:
            raise ValueError(f"{self._label()}: block output shape {block_shape} differs from {what}'s "
                             f"{shortcut_shape} for input shape {tuple(input_shape)}")
        return block_shape

    def _build(self, input_shape, rng):
        self.block.dtype = self.dtype
        self.block.build(input_shape, rng)
        if self.shortcut is not None:
            self.shortcut.dtype = self.dtype
            self.shortcut.build(input_shape, rng)

    def _forward(self, x, training):
        main = self.block.forward(x, training)
        side = x if self.shortcut is None else self.shortcut.forward(x, training)
        if main.shape != side.shape:
            raise ValueError(f"{self._label()}: block output of shape {main.shape} cannot be added to the "
                             f"shortcut's of shape {side.shape} (x of shape {x.shape})")
        # A new array: either branch may have returned its input itself.
        return main + side

    def _backward(self, grad_y):
        grad_x = self.block.backward(grad_y)
        side = grad_y if self.shortcut is None else self.shortcut.backward(grad_y)
        return grad_x + side

    def __repr__(self):
        parts = [f"  (block): " + repr(self.block).replace("\n", "\n  ")]
        if self.shortcut is not None:
            parts.append(f"  (shortcut): " + repr(self.shortcut).replace("\n", "\n  "))
        return f"{type(self).__name__}(\n" + "\n".join(parts) + "\n)"

    def get_config(self):
        return {"block": serialize(self.block),
                "shortcut": None if self.shortcut is None else serialize(self.shortcut),
                "name": self.name}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["block"] = deserialize(config["block"])
        if config.get("shortcut") is not None:
            config["shortcut"] = deserialize(config["shortcut"])
        return cls(**config)
