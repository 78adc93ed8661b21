"""``Sequential``: a stack of layers that is also the model (as in Keras), and ``load_model``.

Keras's verbs on torch's weights::

    model = cnnfast.Sequential([Conv2D(6, 5), ReLU(), MaxPool2D(), Flatten(), Dense(10)],
                               input_shape=(1, 28, 28), seed=0)
    model.compile(optimizer="sgd", lr=0.05, momentum=0.9)
    history = model.fit(x_train, y_train, epochs=5, batch_size=64, validation_split=0.1)
    model.evaluate(x_test, y_test)          # {"loss": ..., "accuracy": ...}
    model.save("lenet.npz"); cnnfast.load_model("lenet.npz")

This module holds the stack, its building, its config, ``predict``, the
summary and saving.  The training verbs (``compile``, ``fit``, ``evaluate``,
``train_on_batch``) come from :class:`cnnfast.training.Trainer`.
``state_dict()`` keys and layouts are those of the equivalent ``torch.nn.Sequential``.
"""

from __future__ import annotations

import numpy as np

from .. import _checks as check
from .. import serialization
from ..training import Trainer, data
from .base import Layer, checked_layer, deserialize, register, serialize

__all__ = ["Sequential", "load_model"]


@register
class Sequential(Trainer, Layer):
    """Layers applied one after the other: a layer (torch.nn.Sequential) and a model (keras.Sequential).

    x (N, *input_shape) -> y (N, *output shape of the last layer).  Child i is
    named "i" in ``state_dict`` (every child counts, also those without
    parameters), so the names are those of the equivalent ``torch.nn.Sequential``.
    Supports ``add``, ``len``, indexing and iteration.  A Sequential nested
    in another one (or in a ``Residual``) is built by its parent, from the
    parent's random generator.

    Parameters
    ----------
    layers : list of Layer, optional
        The children, in order.
    input_shape : tuple of int, optional
        Batch-free input shape, e.g. (1, 32, 32).  Given: built at once; else
        built on the first ``fit``/``predict``/``evaluate``/``build`` from the
        data's shape.
    seed : int >= 0 or None
        Weights are initialised from ``np.random.default_rng(seed)`` (same seed,
        same weights); ``fit`` shuffles from an independent stream derived from
        the same seed, so the same seed and the same calls give the same
        training trajectory.
    dtype : {"float32", "float64"}
    name : str, optional

    Attributes
    ----------
    seed : int or None
    optimizer, loss, metrics, clip_norm, stop_training
        The training state (see :class:`cnnfast.training.Trainer`).
    """

    def __init__(self, layers=None, input_shape=None, seed=0, dtype="float32", name=None):
        super().__init__(name)
        if seed is not None:
            seed = check.integer("seed", seed)
            if seed < 0:
                raise ValueError(f"seed must be >= 0 or None, got {seed}")
        self.seed = seed
        self.dtype = check.float_dtype(dtype)
        self._layers = []
        for layer in layers or ():
            self.add(layer)
        if input_shape is not None:
            self.build(input_shape)

    # ------------------------------------------------------------------ stack

    def add(self, layer):
        """Append ``layer``; refused once built (the weights exist already).  Returns self."""
        if self.built:
            raise RuntimeError("cannot add a layer to a built model: build a new Sequential with all its layers")
        self._layers.append(checked_layer(layer, f"layer {len(self._layers)}"))
        return self

    def __len__(self):
        return len(self._layers)

    def __getitem__(self, index):
        return self._layers[index]

    def __iter__(self):
        return iter(self._layers)

    def named_children(self):
        """``[("0", layer), ("1", layer), ...]``: torch.nn.Sequential's child names."""
        return [(str(i), layer) for i, layer in enumerate(self._layers)]

    # ------------------------------------------------------------------ build

    def output_shape(self, input_shape):
        """Each layer's output shape fed to the next one (batch-free shapes)."""
        shape = tuple(input_shape)
        for layer in self._layers:
            shape = layer.output_shape(shape)
        return shape

    def build(self, input_shape=None, rng=None):
        """Create every layer's weights for inputs (N, *input_shape).

        Parameters
        ----------
        input_shape : tuple of int, optional
            Batch-free; defaults to the one given to the constructor.
        rng : numpy.random.Generator or int, optional
            Defaults to ``np.random.default_rng(self.seed)``.  Building again
            re-initialises the weights.
        """
        if input_shape is None:
            input_shape = self.input_shape
            if input_shape is None:
                raise ValueError("build() needs input_shape (batch dimension excluded), e.g. (1, 32, 32)")
        if rng is None:
            rng = np.random.default_rng(self.seed)
        dtype = self.dtype
        super().build(input_shape, rng)
        if self.dtype != dtype or any(p.data.dtype != dtype for p in self.parameters()):
            self.astype(dtype)

    def _build(self, input_shape, rng):
        # Every child draws from the one generator, in order: one seed fixes all.
        shape = input_shape
        for layer in self._layers:
            layer.dtype = self.dtype
            layer.build(shape, rng)
            shape = layer.output_shape(shape)

    def _require_built(self, what):
        if not self.built:
            raise ValueError(f"{what}: the model is not built; give input_shape to the constructor,"
                             " call build(input_shape) or fit/predict it on data first")

    # ---------------------------------------------------------------- compute

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

    def predict(self, x, batch_size=256):
        """Logits of ``x``, in batches, in inference mode.

        Parameters
        ----------
        x : ndarray, shape (N, *input_shape), float32 or float64
        batch_size : int

        Returns
        -------
        ndarray, shape (N, *output_shape), the model's dtype
            Nothing is cached for backward; dropout is off and BatchNorm uses
            its running statistics.
        """
        x = data.inputs(self, x)
        batch_size = check.positive_int("batch_size", batch_size, None)
        out = np.empty((len(x), *self.output_shape(self.input_shape)), dtype=self.dtype)
        for lo in range(0, len(x), batch_size):
            out[lo:lo + batch_size] = self.forward(x[lo:lo + batch_size], training=False)
        return out

    # ---------------------------------------------------------------- summary

    def summary(self, print_fn=print):
        """Print a Keras-like table: each layer's output shape and parameter count, then totals.

        Parameters
        ----------
        print_fn : callable
            Called with each line (default ``print``).
        """
        self._require_built("summary")
        rows = [("Layer (type)", "Output shape", "Param #")]
        shape = self.input_shape
        for key, layer in self.named_children():
            shape = layer.output_shape(shape)
            label = f"{key}: {layer.name} ({type(layer).__name__})" if layer.name else f"{key} ({type(layer).__name__})"
            count = sum(p.data.size for p in layer.parameters()) + _frozen_count(layer)
            rows.append((label, str((None, *shape)), f"{count:,}"))
        widths = [max(len(row[i]) for row in rows) + 3 for i in range(3)]
        rule = "=" * (sum(widths) - 3)

        def line(row):
            return row[0].ljust(widths[0]) + row[1].ljust(widths[1]) + row[2].rjust(widths[2] - 3)

        trainable = sum(p.data.size for p in self.parameters())
        frozen = _frozen_count(self)
        print_fn(f'Model: "{self.name or type(self).__name__}" (input {(None, *self.input_shape)}, {self.dtype},'
                 f" seed {self.seed})")
        print_fn(line(rows[0]))
        print_fn(rule)
        for row in rows[1:]:
            print_fn(line(row))
        print_fn(rule)
        print_fn(f"Total params: {trainable + frozen:,}")
        print_fn(f"Trainable params: {trainable:,}")
        print_fn(f"Non-trainable params: {frozen:,}")

    def __repr__(self):
        lines = [f"  ({i}): " + repr(layer).replace("\n", "\n  ") for i, layer in enumerate(self._layers)]
        return f"{type(self).__name__}(\n" + "\n".join(lines) + "\n)" if lines else f"{type(self).__name__}()"

    # ---------------------------------------------------------------- weights

    def get_weights(self):
        """Copies of every parameter and buffer, in ``state_dict`` order (a list of arrays)."""
        return list(self.state_dict().values())

    def set_weights(self, weights):
        """Load a list of arrays in :meth:`get_weights` order (shapes checked, values copied in)."""
        self._require_built("set_weights")
        state = self.state_dict()
        weights = list(weights)
        if len(weights) != len(state):
            raise ValueError(f"set_weights got {len(weights)} arrays, the model has {len(state)}: {list(state)}")
        self._load_state(dict(zip(state, weights)), True, "the list given to set_weights")

    # ----------------------------------------------------------------- config

    def get_config(self):
        """JSON-able description of the architecture, dtype, seed and input shape (no weights)."""
        return {
            "name": self.name,
            "seed": self.seed,
            "dtype": self.dtype.name,
            "input_shape": None if self.input_shape is None else list(self.input_shape),
            "layers": [serialize(layer) for layer in self._layers],
        }

    @classmethod
    def from_config(cls, config):
        """A new model from :meth:`get_config`'s dict (built when it holds an input shape)."""
        if not isinstance(config, dict):
            raise TypeError(f"{cls.__name__}.from_config expects a dict, got {type(config).__name__}")
        config = dict(config)
        children = [deserialize(spec) for spec in config.pop("layers", None) or ()]
        input_shape = config.pop("input_shape", None)
        return cls(children, input_shape=None if input_shape is None else tuple(input_shape), **config)

    # ------------------------------------------------------------------ files

    def save(self, path):
        """Write architecture, dtype, seed and weights to one ``.npz`` at ``path``, atomically.

        Reload with ``cnnfast.load_model(path)``.  The optimizer state is not saved.
        """
        self._require_built("save")
        serialization.write_archive(path, self.state_dict(), {"kind": "model", "config": self.get_config()})

    def save_weights(self, path):
        """Write only the weights (with the architecture for reference) to ``path``, atomically."""
        self._require_built("save_weights")
        serialization.write_archive(path, self.state_dict(), {"kind": "weights", "config": self.get_config()})

    def load_weights(self, path):
        """Load weights saved by :meth:`save_weights` or :meth:`save` into this model.

        Builds the model first with the file's input shape if it is not built.
        ValueError naming the key and both shapes when the file does not fit the architecture.
        """
        header, arrays = serialization.read_archive(path)
        if not self.built:
            stored = (header.get("config") or {}).get("input_shape")
            if self.input_shape is None and stored is None:
                self._require_built("load_weights")
            self.build(self.input_shape if self.input_shape is not None else tuple(stored))
        self._load_state(arrays, True, f"weights file {str(path)!r}")


def _frozen_count(layer):
    """Non-trainable parameters, as Keras counts them: running statistics, not step counters."""
    return sum(a.size for _, a in layer.named_buffers() if a.dtype.kind == "f")


def load_model(path):
    """The model saved by ``Sequential.save(path)``: architecture, dtype, seed and weights.

    It is built and ready for ``predict``; call ``compile`` before training or
    evaluating it.  ValueError for a file that is not an intact cnnfast model
    file or that does not match its own architecture.
    """
    header, arrays = serialization.read_archive(path)
    if header["kind"] != "model":
        raise ValueError(f"{str(path)!r} holds weights only (written by save_weights): build the model and"
                         " call model.load_weights(path)")
    try:
        model = Sequential.from_config(header.get("config"))
    except (KeyError, TypeError, ValueError) as e:
        raise ValueError(f"{str(path)!r}: cannot rebuild the architecture stored in the file: {e}") from e
    if not model.built:
        raise ValueError(f"{str(path)!r}: the stored architecture has no input shape")
    model._load_state(arrays, True, f"model file {str(path)!r}")
    return model
