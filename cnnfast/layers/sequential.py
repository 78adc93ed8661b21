"""``Sequential``: a stack of layers that is also the model (as in Keras), and ``load_model``.

Keras's verbs on torch's weights::

    model = cnnfast.Sequential([Conv2D(6, 5), ReLU(), MaxPool2D(), Flatten(), Dense(10)],
                               input_shape=(1, 28, 28), seed=0)
    model.compile(optimizer="sgd", lr=0.05, momentum=0.9)
    history = model.fit(x_train, y_train, epochs=5, batch_size=64, validation_split=0.1)
    loss, accuracy = model.evaluate(x_test, y_test)
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

__all__ = ["Sequential", "Input", "load_model"]


class Input:
    """Keras's ``Input(shape)``: the model's input shape, given as the first item of a Sequential.

    ``Sequential([Input((1, 28, 28)), Conv2D(32, 3), ...])`` is
    ``Sequential([Conv2D(32, 3), ...], input_shape=(1, 28, 28))``: it is not a
    layer (``model.layers`` and ``state_dict`` do not see it, as in Keras).

    Parameters
    ----------
    shape : tuple of int
        Batch-free, channels first: ``(C, H, W)`` for images, ``(features,)``.
    name : str, optional
    """

    def __init__(self, shape, name=None):
        self.shape = check.batch_free_shape("shape", shape)
        self.name = name

    def __repr__(self):
        return f"Input(shape={self.shape})"


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
        The children, in order; the first item may be an :class:`Input`.
    input_shape : tuple of int, optional
        Batch-free input shape, e.g. (1, 32, 32).  It may also come from an
        ``Input(shape)`` first or from Keras's ``input_shape=`` / ``input_dim=``
        on the first layer.  Given: built at once; else built on the first
        ``fit``/``predict``/``evaluate``/``build`` from the data's shape.
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
    layers : list of Layer
        The children (Keras's ``model.layers``).
    optimizer, loss, metrics, clip_norm, stop_training
        The training state (see :class:`cnnfast.training.Trainer`).

    Examples
    --------
    >>> from cnnfast import layers
    >>> model = cnnfast.Sequential([
    ...     layers.Conv2D(8, 3, padding="same"), layers.ReLU(), layers.MaxPool2D(2),
    ...     layers.Flatten(), layers.Dense(10),
    ... ], input_shape=(1, 28, 28), seed=0)
    >>> model.predict(np.zeros((4, 1, 28, 28), np.float32)).shape
    (4, 10)
    >>> list(model.state_dict())        # torch.nn.Sequential's names
    ['0.weight', '0.bias', '4.weight', '4.bias']
    >>> model.compile(optimizer="adam", lr=1e-3, loss="cross_entropy")
    >>> x = np.random.default_rng(0).random((32, 1, 28, 28), dtype=np.float32)
    >>> history = model.fit(x, np.arange(32) % 10, epochs=2, batch_size=16, verbose=0)
    >>> len(history.history["loss"])
    2
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
        # The generator this model built itself from, kept so that add() after the build
        # draws the new layer's weights from where the build stopped (the same weights as
        # one build of every layer); None when a parent built it.
        self._init_rng = None
        layers = list(layers or ())
        declared = None
        if layers and isinstance(layers[0], Input):
            declared = layers.pop(0).shape
        elif layers and isinstance(layers[0], Layer):
            declared = layers[0].declared_input_shape
        for layer in layers:
            if isinstance(layer, Input):
                raise ValueError("Input(shape) must be the first item of a Sequential")
            self._layers.append(checked_layer(layer, f"layer {len(self._layers)}"))
        if input_shape is not None and declared is not None and tuple(input_shape) != declared:
            raise ValueError(f"input_shape={tuple(input_shape)} differs from the first item's input shape {declared}")
        if input_shape is not None or declared is not None:
            self.build(input_shape if input_shape is not None else declared)

    # ------------------------------------------------------------------ stack

    def add(self, layer):
        """Append ``layer`` (or set the input shape with an ``Input``), as Keras's ``model.add``.  Returns self.

        The first layer's ``input_shape=`` (or an ``Input`` added first) builds
        the model at once; a layer added to a built model is built on its
        output shape, from the random stream the build left off (so the
        weights are those of building all layers at once), and a compiled
        optimizer is made again on the new parameter list, as ``build`` does.
        """
        if isinstance(layer, Input):
            if self._layers or self.built:
                raise ValueError("Input(shape) must be the first item of a Sequential")
            self.build(layer.shape)
            return self
        layer = checked_layer(layer, f"layer {len(self._layers)}")
        if not self.built:
            self._layers.append(layer)
            if len(self._layers) == 1 and layer.declared_input_shape is not None:
                self.build(layer.declared_input_shape)
            return self
        if self._init_rng is None:
            raise RuntimeError("cannot add a layer to this built model: it was built by a parent model or from a "
                               "given rng; build a new Sequential with all its layers")
        self._check_optimizer_can_grow()
        layer.dtype = self.dtype
        layer.build(self.output_shape(self.input_shape), self._init_rng)
        if any(p.data.dtype != self.dtype for p in layer.parameters()):
            layer.astype(self.dtype)
        self._layers.append(layer)
        self._cache = self._grad_y_spec = None
        self._attach_optimizer()
        return self

    @property
    def layers(self):
        """The layers, in order (a new list; Keras's ``model.layers``)."""
        return list(self._layers)

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
            Batch-free (or Keras's ``(None, C, H, W)``); defaults to the one
            the model was built with.
        rng : numpy.random.Generator or int, optional
            Defaults to ``np.random.default_rng(self.seed)``.  Building again
            re-initialises the weights.
        """
        if input_shape is None:
            input_shape = self.input_shape
            if input_shape is None:
                raise ValueError("build() needs input_shape (batch dimension excluded), e.g. (1, 32, 32)")
        own = rng is None
        if own:
            rng = np.random.default_rng(self.seed)
        dtype = self.dtype
        super().build(input_shape, rng)
        self._init_rng = rng if own else None
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

    @property
    def final_activation(self):
        """The last layer's final activation (None for an empty model): see :meth:`forward_logits`."""
        return self._layers[-1].final_activation if self._layers else None

    def _forward_logits(self, x, training):
        *body, last = self._layers
        for layer in body:
            x = layer.forward(x, training)
        return last.forward_logits(x, training)

    def _backward_logits(self, grad_z, input_grad):
        *body, last = self._layers
        grad = last.backward_logits(grad_z, input_grad=input_grad or bool(body))
        for i in reversed(range(len(body))):
            grad = body[i].backward(grad, input_grad=input_grad or i > 0)
        return grad

    def predict(self, x, batch_size=None):
        """The model's output for ``x``, in batches, in inference mode.

        That is the last layer's output: **logits** for a model ending in a
        ``Dense`` without activation (``models.lenet5()``, a model trained with
        ``loss="cross_entropy"``), probabilities for one ending in ``Softmax``
        / ``Sigmoid``.  :meth:`predict_proba` always gives probabilities.

        Parameters
        ----------
        x : ndarray, shape (N, *input_shape), float32 or float64
        batch_size : int, optional
            Default 256.

        Returns
        -------
        ndarray, shape (N, *output_shape), the model's dtype
            Nothing is cached for backward; dropout is off and BatchNorm uses
            its running statistics.
        """
        x = data.inputs(self, x)
        batch_size = check.positive_int("batch_size", 256 if batch_size is None else batch_size, None)
        out = np.empty((len(x), *self.output_shape(self.input_shape)), dtype=self.dtype)
        for lo in range(0, len(x), batch_size):
            out[lo:lo + batch_size] = self.forward(x[lo:lo + batch_size], training=False)
        return out

    def predict_proba(self, x, batch_size=None):
        """Class probabilities for ``x``, whatever the model ends with.

        A model ending in ``Softmax`` / ``Sigmoid`` gives them already; for
        one that outputs logits, the softmax over axis 1 of :meth:`predict`
        (or the sigmoid, for a single output per sample) is taken.

        Parameters
        ----------
        x : ndarray, shape (N, *input_shape), float32 or float64
        batch_size : int, optional

        Returns
        -------
        ndarray, shape (N, C) (or the output shape), the model's dtype
            Rows sum to 1 (softmax), or each value is in [0, 1] (sigmoid).
        """
        out = self.predict(x, batch_size)
        if self.final_activation in ("softmax", "sigmoid"):
            return out
        if out.ndim >= 2 and out.shape[1] > 1:
            out -= out.max(axis=1, keepdims=True)
            np.exp(out, out=out)
            out /= out.sum(axis=1, keepdims=True)
            return out
        return 0.5 * (1.0 + np.tanh(0.5 * out))  # the logistic function, without overflow

    def predict_on_batch(self, x):
        """The output for one batch ``x``, in inference mode (Keras's ``predict_on_batch``).

        Parameters
        ----------
        x : ndarray, shape (B, *input_shape), float32 or float64

        Returns
        -------
        ndarray, shape (B, *output_shape)
        """
        return self.forward(data.inputs(self, x), training=False)

    def count_params(self):
        """Every parameter and float buffer, counted (Keras's ``count_params``, summary's "Total params")."""
        self._require_built("count_params")
        return sum(p.data.size for p in self.parameters()) + _frozen_count(self)

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

    def save(self, path, include_optimizer=True):
        """Write the model to one ``.npz`` at ``path``, atomically: reload it with ``cnnfast.load_model(path)``.

        The file holds the architecture, dtype, seed and weights, and for a
        compiled model what ``compile`` was given (loss, metrics, optimizer
        and clipping) and, with ``include_optimizer``, the optimizer's state
        (learning rate, step counts, momentum buffers / moments), so that
        training resumes where it stopped, as Keras's files do.

        Parameters
        ----------
        path : str or path
            Ends in ``.npz`` or has no extension: another one (Keras's ``.h5``
            / ``.keras``, torch's ``.pt``) is a ValueError, since the file
            would be cnnfast's format under a foreign name.
        include_optimizer : bool
            Keras 2's keyword: False leaves the optimizer state out (the
            compile configuration is still saved).
        """
        self._require_built("save")
        arrays = self.state_dict()
        header = {"kind": "model", "config": self.get_config()}
        compiled = self.get_compile_config()
        if compiled is not None:
            header["compile"] = compiled
            if check.boolean("include_optimizer", include_optimizer) and self.optimizer is not None:
                header["optimizer_state"], optimizer_arrays = serialization.pack_optimizer_state(
                    self.optimizer.state_dict())
                arrays.update(optimizer_arrays)
        serialization.write_archive(path, arrays, header)

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
        _, arrays = serialization.unpack_optimizer_state(path, None, arrays)
        if not self.built:
            stored = (header.get("config") or {}).get("input_shape")
            if self.input_shape is None and stored is None:
                self._require_built("load_weights")
            self.build(self.input_shape if self.input_shape is not None else tuple(stored))
        self._load_state(arrays, True, f"weights file {str(path)!r}")


def _frozen_count(layer):
    """Non-trainable parameters, as Keras counts them: running statistics, not step counters."""
    return sum(a.size for _, a in layer.named_buffers() if a.dtype.kind == "f")


def load_model(path, compile=True):  # noqa: A002  (Keras's keyword)
    """The model saved by ``Sequential.save(path)``, ready for ``predict``, ``evaluate`` and ``fit``.

    Architecture, dtype, seed and weights are restored; so is, for a model
    that was compiled, what ``compile`` was given (loss, metrics, clipping,
    the optimizer and its hyper-parameters) and the optimizer's state when it
    was saved (learning rate, step counts, momentum buffers, Adam's moments):
    ``evaluate`` works straight away and ``fit`` resumes where training
    stopped.  Not restored: callbacks (a learning-rate schedule, for
    instance) and the random streams (``fit``'s shuffling, dropout masks),
    which start again from the seed.

    Parameters
    ----------
    path : str or path
    compile : bool
        False: only the model (Keras's keyword), uncompiled.

    Raises
    ------
    ValueError
        A file that is not an intact cnnfast model file or that does not match
        its own architecture.
    """
    header, arrays = serialization.read_archive(path)
    if header["kind"] != "model":
        raise ValueError(f"{str(path)!r} holds weights only (written by save_weights): build the model and"
                         " call model.load_weights(path)")
    optimizer_state, arrays = serialization.unpack_optimizer_state(path, header.get("optimizer_state"), arrays)
    try:
        model = Sequential.from_config(header.get("config"))
    except (KeyError, TypeError, ValueError) as e:
        raise ValueError(f"{str(path)!r}: cannot rebuild the architecture stored in the file: {e}") from e
    if not model.built:
        raise ValueError(f"{str(path)!r}: the stored architecture has no input shape")
    model._load_state(arrays, True, f"model file {str(path)!r}")
    if compile and header.get("compile") and model.compile_from_config(header["compile"]) \
            and optimizer_state is not None:
        model.optimizer.load_state_dict(optimizer_state)
    return model
