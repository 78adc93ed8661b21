"""The Residual container: y = block(x) + shortcut(x) (the other container, Sequential, is in :mod:`.sequential`)."""

from __future__ import annotations

from .base import Layer, checked_layer, deserialize, register, serialize

__all__ = ["Residual"]


@register
class Residual(Layer):
    """y = block(x) + shortcut(x), or block(x) + x when shortcut is None.

    x (N, *input_shape) -> y (N, *block.output_shape(input_shape)); the
    shortcut's output (or x) must have the same shape.  A ResNet basic block is
    ``Residual(Sequential([Conv2D, BatchNorm2D, ReLU, Conv2D, BatchNorm2D]))``
    followed by ReLU.

    Parameters
    ----------
    block : Layer
    shortcut : Layer, optional
        None is the identity.
    name : str, optional

    Notes
    -----
    The children are named "block" and "shortcut" (torch: a module with
    attributes ``block`` and ``shortcut``).
    """

    def __init__(self, block, shortcut=None, name=None):
        super().__init__(name)
        self.block = checked_layer(block, "block")
        self.shortcut = None if shortcut is None else checked_layer(shortcut, "shortcut")

    def output_shape(self, input_shape):
        """The block's output shape; ValueError when the shortcut's differs."""
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
        parts = ["  (block): " + repr(self.block).replace("\n", "\n  ")]
        if self.shortcut is not None:
            parts.append("  (shortcut): " + repr(self.shortcut).replace("\n", "\n  "))
        return f"{type(self).__name__}(\n" + "\n".join(parts) + "\n)"

    def get_config(self):
        """The constructor's keyword arguments, JSON-able (see :meth:`Layer.get_config`)."""
        return {"block": serialize(self.block),
                "shortcut": None if self.shortcut is None else serialize(self.shortcut),
                "name": self.name}

    @classmethod
    def from_config(cls, config):
        """A new, unbuilt Residual from :meth:`get_config`'s dict (the branches deserialized)."""
        config = dict(config)
        config["block"] = deserialize(config["block"])
        if config.get("shortcut") is not None:
            config["shortcut"] = deserialize(config["shortcut"])
        return cls(**config)
