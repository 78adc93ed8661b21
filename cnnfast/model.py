"""``cnnfast.Sequential``: a stack of layers that trains, evaluates, predicts and saves itself.

Keras' verbs on torch's weights::

    model = cnnfast.Sequential([Conv2D(6, 5), ReLU(), MaxPool2D(), Flatten(), Dense(10)],
                               input_shape=(1, 28, 28), seed=0)
    model.compile(optimizer="sgd", lr=0.05, momentum=0.9)
    history = model.fit(x_train, y_train, epochs=5, batch_size=64, validation_split=0.1)
    model.evaluate(x_test, y_test)          # {"loss": ..., "accuracy": ...}
    model.save("lenet.npz"); cnnfast.load_model("lenet.npz")

``state_dict()`` keys and layouts are those of the equivalent ``torch.nn.Sequential``.
Inputs: ``x`` is float32 or float64 (N, *input_shape); it is converted once per call
to the model's dtype (a float64 array given to a float32 model costs one copy).
Integer images (uint8) are refused with a TypeError: scale them first.
"""

from __future__ import annotations

import signal
import threading
import time

import numpy as np

from . import callbacks as callbacks_module
from . import layers as layers_module
from . import losses as losses_module
from . import optim
from . import serialization
from . import _checks as check

__all__ = ["Sequential", "load_model"]

_METRICS = ("accuracy", "acc")
# Validation and evaluation run without caches, so a larger batch is cheap and faster.
_VALIDATION_BATCH_SIZE = 256


class Sequential(layers_module.Sequential):
    """A trainable stack of layers (``cnnfast.layers.Sequential`` plus Keras' training verbs).

    Parameters
    ----------
    layers : list of Layer, optional
        Children, named "0", "1", ... as in ``torch.nn.Sequential``.
    input_shape : tuple, optional
        Batch-free input shape, e.g. (1, 32, 32). Given -> built at once; else built on the
        first ``fit``/``predict``/``evaluate``/``build`` from the data's shape.
    seed : int or None
        Weights are initialised from ``np.random.default_rng(seed)`` (same seed -> same
        weights); shuffling draws from an independent stream derived from the same seed,
        so the same seed and the same calls give the same training trajectory.
    dtype : "float32" | "float64"
    name : str, optional

    Attributes: ``optimizer``, ``loss`` (set by :meth:`compile`), ``stop_training``
    (callbacks set it to end ``fit`` after the current batch), ``seed``.
    """

    def __init__(self, layers=None, input_shape=None, seed=0, dtype="float32", name=None):
        super().__init__(layers, name=name)
        if seed is not None:
            seed = check.integer("seed", seed)
            if seed < 0:
                raise ValueError(f"seed must be >= 0 or None, got {seed}")
        self.seed = seed
        self.dtype = check.float_dtype(dtype)
        self.optimizer = None
        self.loss = None
        self.metrics = ()
        self.clip_norm = None
        self.stop_training = False
        # (name or class, kwargs) of compile()'s optimizer: build() creates it from this
        # on the new parameters, so compile() may come before build().
        self._optimizer_spec = None
        self._shuffle_rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(1,)))
        if input_shape is not None:
            self.build(input_shape)

    # ------------------------------------------------------------------ build

    def add(self, layer):
        """Append ``layer``; refused once the model is built (its weights exist already)."""
        if self.built:
            raise RuntimeError("cannot add a layer to a built model: build a new Sequential with all its layers")
        return super().add(layer)

    def build(self, input_shape=None, rng=None):
        """Create every layer's weights for inputs (N, *input_shape).

        ``input_shape`` defaults to the one given to the constructor; ``rng`` to
        ``np.random.default_rng(self.seed)``. Building again re-initialises the weights.
        """
        if input_shape is None:
            input_shape = self.input_shape
            if input_shape is None:
                raise ValueError("build() needs input_shape (batch dimension excluded), e.g. (1, 32, 32)")
        if len(self) == 0:
            raise ValueError("cannot build a Sequential with no layers: add() some first")
        if rng is None:
            rng = np.random.default_rng(self.seed)
        dtype = self.dtype
        super().build(input_shape, rng)
        if self.dtype != dtype or any(p.data.dtype != dtype for p in self.parameters()):
            self.astype(dtype)
        if self._optimizer_spec is not None:
            # The parameters were (re)created: the optimizer must hold the new ones.
            name, kwargs = self._optimizer_spec
            self.optimizer = optim.get(name, self.parameters(), **kwargs)

    def _require_built(self, what):
        if not self.built:
            raise ValueError(f"{what}: the model is not built; give input_shape to the constructor,"
                             " call build(input_shape) or fit/predict it on data first")

    # ---------------------------------------------------------------- compile

    def compile(self, optimizer="sgd", loss="cross_entropy", metrics=("accuracy",), clip_norm=None,
                **optimizer_kwargs):
        """Choose how to train.

        optimizer: a name ("sgd", "adam", ...; ``optimizer_kwargs`` such as ``lr=0.1,
        momentum=0.9`` go to its constructor) or an ``Optimizer`` already holding
        ``model.parameters()``. loss: a name ("cross_entropy", "mse", "bce_with_logits")
        or a loss object ``loss(pred, target) -> (value, grad)``. metrics: () or
        ("accuracy",). clip_norm: clip the global gradient norm to this before every step.
        """
        self.loss = losses_module.get(loss)
        metrics = (metrics,) if isinstance(metrics, str) else tuple(metrics or ())
        for metric in metrics:
            if metric not in _METRICS:
                raise ValueError(f"unknown metric {metric!r}; cnnfast knows 'accuracy'")
        self.metrics = ("accuracy",) if metrics else ()
        if clip_norm is not None:
            clip_norm = check.finite("clip_norm", clip_norm)
            if clip_norm <= 0:
                raise ValueError(f"clip_norm must be > 0 or None, got {clip_norm}")
        self.clip_norm = clip_norm
        if isinstance(optimizer, optim.Optimizer):
            self.optimizer = optim.get(optimizer, **optimizer_kwargs)  # refuses kwargs for an instance
            self._optimizer_spec = None
        elif self.built:
            self.optimizer = optim.get(optimizer, self.parameters(), **optimizer_kwargs)
            self._optimizer_spec = (optimizer, dict(optimizer_kwargs))
        else:
            # Built later (on the first fit): check name and kwargs now on a stand-in
            # parameter, so a typo fails here and not at the start of training.
            optim.get(optimizer, [layers_module.Parameter(np.zeros(1, self.dtype))], **optimizer_kwargs)
            self.optimizer, self._optimizer_spec = None, (optimizer, dict(optimizer_kwargs))

    def _require_compiled(self, what):
        if self.loss is None:
            raise RuntimeError(f"{what}: call compile() first (it sets the optimizer and the loss)")

    # ------------------------------------------------------------------ input

    def _prepare_x(self, x, name):
        """``x`` as a C-contiguous array of the model dtype; builds the model from its shape."""
        if not isinstance(x, np.ndarray):
            raise TypeError(f"{name} must be a NumPy array, got {type(x).__name__}")
        if x.dtype not in check.FLOAT_DTYPES:
            hint = f" (for images: {name}.astype(np.float32) / 255)" if x.dtype == np.uint8 else ""
            raise TypeError(f"{name} must be a float32 or float64 array, got dtype {x.dtype} with shape"
                            f" {x.shape}{hint}")
        if x.ndim < 2:
            raise ValueError(f"{name} must be a batch (N, ...) with N first, got shape {x.shape}")
        if not self.built:
            self.build(x.shape[1:])
        elif x.shape[1:] != self.input_shape:
            raise ValueError(f"{name} has shape {x.shape}; the model was built for inputs"
                             f" (N, {', '.join(map(str, self.input_shape))})")
        return np.ascontiguousarray(x, dtype=self.dtype)

    def _prepare_y(self, y, n, name, x_name):
        """Targets: integer labels (N,) kept as they are, float targets in the model dtype."""
        if not isinstance(y, np.ndarray):
            raise TypeError(f"{name} must be a NumPy array, got {type(y).__name__}")
        if y.ndim == 0 or len(y) != n:
            raise ValueError(f"{name} must have one target per sample: {x_name} has {n} samples,"
                             f" {name} has shape {y.shape}")
        if y.dtype.kind == "f":
            return np.ascontiguousarray(y, dtype=self.dtype)
        if y.dtype.kind in "iu":
            return np.ascontiguousarray(y)
        raise TypeError(f"{name} must hold integer class labels or float targets, got dtype {y.dtype}")

    def _prepare_xy(self, x, y, x_name="x", y_name="y"):
        x = self._prepare_x(x, x_name)
        return x, self._prepare_y(y, len(x), y_name, x_name)

    # --------------------------------------------------------------- training

    def _train_step(self, x, y):
        """One update on one batch -> (mean loss, number of correct predictions)."""
        logits = self.forward(x, training=True)
        loss, grad = self.loss(logits, y)
        self.backward(grad, input_grad=False)  # the data needs no gradient
        if self.clip_norm is not None:
            optim.clip_grad_norm(self.optimizer.params, self.clip_norm)
        self.optimizer.step()
        correct = _count_correct(logits, y) if self.metrics else 0
        return float(loss), correct

    def _check_ready_to_train(self, what):
        self._require_compiled(what)
        if self.optimizer is None:
            raise RuntimeError(f"{what}: the optimizer has no parameters yet; build the model first")

    def train_on_batch(self, x, y):
        """One optimizer step on the batch (x, y) -> {"loss": float, "accuracy": float}."""
        self._require_compiled("train_on_batch")
        x, y = self._prepare_xy(x, y)
        self._check_ready_to_train("train_on_batch")
        loss, correct = self._train_step(x, y)
        logs = {"loss": loss}
        if self.metrics:
            logs["accuracy"] = correct / len(x)
        return logs

    def fit(self, x, y, epochs=1, batch_size=32, validation_split=0.0, validation_data=None, shuffle=True,
            callbacks=(), verbose=1, initial_epoch=0, augment=None):
        """Train for ``epochs - initial_epoch`` epochs; returns a :class:`~cnnfast.callbacks.History`.

        x (N, *input_shape) float32/float64; y (N,) integer labels or (N, C) float targets.
        validation_split: the LAST fraction of x/y (taken before shuffling, as Keras) is held
        out; validation_data=(x_val, y_val) takes precedence. Validation metrics are
        ``val_loss``/``val_accuracy`` in the History. shuffle: a new permutation every epoch
        from the model's seeded generator. verbose: 0 silent, 1 a progress bar per epoch,
        2 one line per epoch. A callback setting ``model.stop_training = True`` ends training
        after the current batch; that epoch still gets its logs (over the batches run),
        validation and ``on_epoch_end``.

        Ctrl-C (KeyboardInterrupt): a first Ctrl-C lets the running batch finish its update,
        then fit stops, calls ``on_train_end`` and returns the History with
        ``history.interrupted = True``: the model holds the weights of the last completed
        update and is usable; the unfinished epoch is not recorded; checkpoints already
        written are intact (saves are atomic). A KeyboardInterrupt raised by a callback is
        handled the same way. A second Ctrl-C aborts at once: ``on_train_end`` runs and the
        KeyboardInterrupt propagates, since the model may then hold a half-applied update
        (as does any KeyboardInterrupt that arrives during an update, which happens only
        when fit cannot defer Ctrl-C: outside the main thread or under a custom SIGINT handler).

        augment: None, a :class:`~cnnfast.datasets.ImageDataGenerator` (its
        ``random_transform``: shifts, rotations, flips) or any callable mapping a training
        batch (B, *input_shape) to an augmented batch of the same shape; applied to every
        training batch (never to validation data).
        """
        self._require_compiled("fit")
        epochs = check.integer("epochs", epochs)
        initial_epoch = check.integer("initial_epoch", initial_epoch)
        if initial_epoch < 0 or epochs < initial_epoch:
            raise ValueError(f"need 0 <= initial_epoch <= epochs, got initial_epoch={initial_epoch}, epochs={epochs}")
        batch_size = check.positive_int("batch_size", batch_size)
        if verbose not in (0, 1, 2):
            raise ValueError(f"verbose must be 0, 1 or 2, got {verbose!r}")
        x, y = self._prepare_xy(x, y)
        x, y, validation = self._split_validation(x, y, validation_split, validation_data)
        if len(x) == 0:
            raise ValueError(f"fit needs at least one training sample, x has shape {x.shape}")
        self._check_ready_to_train("fit")
        transform = getattr(augment, "random_transform", augment)
        if transform is not None and not callable(transform):
            raise TypeError(f"augment must be an ImageDataGenerator or a callable, got {type(augment).__name__}")

        n = len(x)
        steps = -(-n // batch_size)
        history = callbacks_module.History()
        extra = []
        if verbose:
            extra.append(callbacks_module.ProgressBar(per_batch=verbose == 1))
        params = {"epochs": epochs, "initial_epoch": initial_epoch, "steps": steps, "samples": n,
                  "batch_size": batch_size, "verbose": verbose}
        cbs = callbacks_module.CallbackList([*(callbacks or ()), history, *extra], self, params)

        self.stop_training = False
        epoch = None
        with _DeferredInterrupt() as ctrl_c:
            try:
                cbs.on_train_begin({})
                for epoch in range(initial_epoch, epochs):
                    logs = self._fit_epoch(x, y, epoch, batch_size, shuffle, cbs, ctrl_c, transform)
                    if validation is not None:
                        val = self.evaluate(*validation, batch_size=_VALIDATION_BATCH_SIZE)
                        logs.update({f"val_{k}": v for k, v in val.items()})
                    cbs.on_epoch_end(epoch, logs)
                    if ctrl_c.requested:
                        raise KeyboardInterrupt
                    if self.stop_training:
                        break
            except KeyboardInterrupt:
                if ctrl_c.forced or ctrl_c.in_update:
                    raise
                history.interrupted = True
            finally:
                cbs.on_train_end({})
        if history.interrupted and verbose:
            where = "" if epoch is None else f" in epoch {epoch + 1}"
            print(f"Training interrupted{where}; the model keeps the weights of the last completed batch.",
                  flush=True)
        return history

    def _fit_epoch(self, x, y, epoch, batch_size, shuffle, cbs, ctrl_c, transform=None):
        """Run one epoch's batches -> the epoch's logs (over the batches run: a callback
        setting ``stop_training`` ends the epoch early, as in Keras)."""
        cbs.on_epoch_begin(epoch, {})
        n = len(x)
        order = self._shuffle_rng.permutation(n) if shuffle else None
        loss_sum = 0.0
        correct = 0
        seen = 0
        start = time.perf_counter()
        for batch, lo in enumerate(range(0, n, batch_size)):
            if order is None:
                xb, yb = x[lo:lo + batch_size], y[lo:lo + batch_size]
            else:
                index = order[lo:lo + batch_size]
                xb, yb = x[index], y[index]
            if transform is not None:
                xb = self._augmented(transform, xb)
            size = len(xb)
            cbs.on_batch_begin(batch, {"batch": batch, "size": size})
            ctrl_c.in_update = True
            batch_loss, batch_correct = self._train_step(xb, yb)
            ctrl_c.in_update = False
            loss_sum += batch_loss * size
            correct += batch_correct
            seen += size
            logs = {"batch": batch, "size": size, "loss": loss_sum / seen}
            if self.metrics:
                logs["accuracy"] = correct / seen
            logs["images_per_sec"] = seen / max(time.perf_counter() - start, 1e-9)
            cbs.on_batch_end(batch, logs)
            if ctrl_c.requested:
                raise KeyboardInterrupt
            if self.stop_training:
                break
        elapsed = max(time.perf_counter() - start, 1e-9)
        logs = {"loss": loss_sum / seen}
        if self.metrics:
            logs["accuracy"] = correct / seen
        logs["images_per_sec"] = seen / elapsed
        logs["lr"] = float(self.optimizer.lr)
        return logs

    def _augmented(self, transform, xb):
        augmented = np.asarray(transform(xb))
        if augmented.shape != xb.shape:
            raise ValueError(f"augment changed the batch shape from {xb.shape} to {augmented.shape}")
        return augmented.astype(self.dtype, copy=False)

    def _split_validation(self, x, y, validation_split, validation_data):
        """-> (x_train, y_train, (x_val, y_val) or None)."""
        if validation_data is not None:
            if not isinstance(validation_data, (tuple, list)) or len(validation_data) != 2:
                raise TypeError("validation_data must be a pair (x_val, y_val)")
            xv, yv = self._prepare_xy(*validation_data, x_name="validation_data[0]", y_name="validation_data[1]")
            return x, y, (xv, yv)
        validation_split = check.finite("validation_split", validation_split)
        if not 0.0 <= validation_split < 1.0:
            raise ValueError(f"validation_split must be in [0, 1), got {validation_split}")
        if validation_split == 0.0:
            return x, y, None
        split_at = int(len(x) * (1.0 - validation_split))
        if split_at == 0 or split_at == len(x):
            raise ValueError(f"validation_split={validation_split} of {len(x)} samples leaves"
                             f" {split_at} for training and {len(x) - split_at} for validation; both need one")
        return x[:split_at], y[:split_at], (x[split_at:], y[split_at:])

    # ---------------------------------------------------------------- inference

    def predict(self, x, batch_size=256):
        """Logits (N, *output_shape) of x (N, *input_shape), in batches, in inference mode.

        Nothing is cached for backward; dropout is off and BatchNorm uses its running statistics.
        """
        x = self._prepare_x(x, "x")
        batch_size = check.positive_int("batch_size", batch_size)
        out = np.empty((len(x), *self.output_shape(self.input_shape)), dtype=self.dtype)
        for lo in range(0, len(x), batch_size):
            out[lo:lo + batch_size] = self.forward(x[lo:lo + batch_size], training=False)
        return out

    def evaluate(self, x, y, batch_size=256, verbose=0):
        """Mean loss (and accuracy if compiled with it) over (x, y) -> {"loss": ..., "accuracy": ...}.

        Inference mode, batched; the loss is the size-weighted mean of the batch losses.
        """
        self._require_compiled("evaluate")
        x, y = self._prepare_xy(x, y)
        batch_size = check.positive_int("batch_size", batch_size)
        if len(x) == 0:
            raise ValueError(f"evaluate needs at least one sample, x has shape {x.shape}")
        loss_sum = 0.0
        correct = 0
        for lo in range(0, len(x), batch_size):
            xb, yb = x[lo:lo + batch_size], y[lo:lo + batch_size]
            logits = self.forward(xb, training=False)
            loss, _ = self.loss(logits, yb)
            loss_sum += float(loss) * len(xb)
            if self.metrics:
                correct += _count_correct(logits, yb)
        result = {"loss": loss_sum / len(x)}
        if self.metrics:
            result["accuracy"] = correct / len(x)
        if verbose:
            print(callbacks_module.format_logs(result), flush=True)
        return result

    # ------------------------------------------------------------------ summary

    def summary(self, print_fn=print):
        """Print a Keras-like table: each layer's output shape and parameter count, then totals."""
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

    # ------------------------------------------------------------------ weights

    def get_weights(self):
        """Copies of every parameter and buffer, in ``state_dict`` order (a list of arrays)."""
        return list(self.state_dict().values())

    def set_weights(self, weights):
        """Load a list of arrays in ``get_weights`` order (shapes checked, values copied in)."""
        self._require_built("set_weights")
        state = self.state_dict()
        weights = list(weights)
        if len(weights) != len(state):
            raise ValueError(f"set_weights got {len(weights)} arrays, the model has {len(state)}: {list(state)}")
        self._load_state(dict(zip(state, weights)), True, "the list given to set_weights")

    def get_config(self):
        """JSON-able description of the architecture, dtype, seed and input shape (no weights)."""
        return {
            "name": self.name,
            "seed": self.seed,
            "dtype": self.dtype.name,
            "input_shape": None if self.input_shape is None else list(self.input_shape),
            "layers": [layers_module.serialize(layer) for _, layer in self.named_children()],
        }

    @classmethod
    def from_config(cls, config):
        """A new model from :meth:`get_config`'s dict (built when it holds an input shape)."""
        if not isinstance(config, dict):
            raise TypeError(f"{cls.__name__}.from_config expects a dict, got {type(config).__name__}")
        config = dict(config)
        children = [layers_module.deserialize(spec) for spec in config.pop("layers", [])]
        input_shape = config.pop("input_shape", None)
        return cls(children, input_shape=None if input_shape is None else tuple(input_shape), **config)

    def save(self, path):
        """Write architecture, dtype, seed and weights to one ``.npz`` at ``path``, atomically.

        Reload with ``cnnfast.load_model(path)``. The optimizer state is not saved.
        """
        self._require_built("save")
        serialization.write_archive(path, self.state_dict(), {"kind": "model", "config": self.get_config()})

    def save_weights(self, path):
        """Write only the weights (with the architecture for reference) to ``path``, atomically."""
        self._require_built("save_weights")
        serialization.write_archive(path, self.state_dict(), {"kind": "weights", "config": self.get_config()})

    def load_weights(self, path):
        """Load weights saved by ``save_weights`` or ``save`` into this model.

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


def _count_correct(logits, target):
    """Correct predictions: argmax of (N, C) logits against labels (N,) or argmax of (N, C)
    targets; for one logit per sample (binary), logit > 0 against target > 0.5."""
    if logits.ndim == 2 and logits.shape[1] > 1:
        predicted = logits.argmax(axis=1)
        labels = target if target.ndim == 1 else target.argmax(axis=1)
    else:
        predicted = logits.reshape(len(logits)) > 0
        labels = target.reshape(len(target)) > 0.5
    return int(np.count_nonzero(predicted == labels))


class _DeferredInterrupt:
    """Ctrl-C handling for fit, within ``with``.

    The first Ctrl-C only sets ``requested``: fit checks it between batches, so no update is
    left half-applied. A second one sets ``forced`` and raises KeyboardInterrupt at once.
    ``in_update`` is kept true by fit while an update runs, so that a KeyboardInterrupt from
    elsewhere can be told apart. Only the main thread receives SIGINT, and a handler the user
    installed is left alone: then Ctrl-C raises KeyboardInterrupt as usual.
    """

    def __init__(self):
        self.requested = False
        self.forced = False
        self.in_update = False
        self._previous = None

    def _handle(self, signum, frame):
        if self.requested:
            self.forced = True
            raise KeyboardInterrupt
        self.requested = True

    def __enter__(self):
        if (threading.current_thread() is threading.main_thread()
                and signal.getsignal(signal.SIGINT) is signal.default_int_handler):
            self._previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def __exit__(self, *exc):
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)
            self._previous = None
        return False


def load_model(path):
    """The model saved by ``Sequential.save(path)``: architecture, dtype, seed and weights.

    It is built and ready for ``predict``/``evaluate``; call ``compile`` before training it.
    ValueError for a file that is not an intact cnnfast model file or that does not match
    its own architecture.
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
