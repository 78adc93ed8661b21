"""Keras's training verbs for a model: ``compile``, ``fit``, ``evaluate``, ``train_on_batch``.

:class:`Trainer` is a mixin: ``cnnfast.Sequential`` inherits these methods, and
they use only the model's public side (``forward``, ``backward``,
``parameters``, ``build``, ``built``, ``input_shape``, ``dtype``, ``seed``).
The work is done elsewhere in this package: :mod:`.data` reads the data,
:mod:`.step` makes one update, :mod:`.loop` runs the epochs.
"""

from __future__ import annotations

import warnings

import numpy as np

from .. import _checks as check
from .. import losses, optim
from ..callbacks import format_logs
from . import data, loop, parallel
from .metrics import METRICS
from .step import TrainStep

__all__ = ["Trainer"]

# Validation and evaluation run without caches, so a larger batch is cheap and faster.
_VALIDATION_BATCH_SIZE = 256
# fit's batch size when none is given (arrays only: a batch iterator makes its own batches).
_DEFAULT_BATCH_SIZE = 32


class _StandIn:
    """The one parameter compile() tries an optimizer's arguments on before the model is built."""

    def __init__(self, dtype):
        self.data = np.zeros(1, dtype)
        self.grad = None


class Trainer:
    """The training half of a model: what ``compile`` sets and what ``fit`` runs.

    Attributes
    ----------
    optimizer : Optimizer or None
        Set by :meth:`compile` (built on the parameters once they exist).
    loss : Loss or None
        Set by :meth:`compile`.
    metrics : tuple
        ``("accuracy",)`` or ``()``.
    clip_norm : float or None
        The global gradient norm every step is clipped to.
    stop_training : bool
        A callback sets it to end ``fit`` after the current batch.
    """

    optimizer = None
    loss = None
    metrics = ()
    clip_norm = None
    stop_training = False
    # (name or class, kwargs) of compile()'s optimizer: build() creates it from this
    # on the new parameters, so compile() may come before build().
    _optimizer_spec = None
    # The order fit shuffles in: a stream of its own, derived from the seed (created on first use).
    _shuffle_rng = None

    def build(self, input_shape=None, rng=None):
        """After the parameters are (re)created, the compiled optimizer is rebuilt on them."""
        super().build(input_shape, rng)
        self._attach_optimizer()

    def _attach_optimizer(self):
        """Make compile()'s optimizer on the current parameters (after a build, or a layer added)."""
        if self._optimizer_spec is None:
            return
        name, kwargs = self._optimizer_spec
        if isinstance(name, optim.Optimizer):  # made without parameters: bind it, with fresh state
            name._bind(self.parameters())
            self.optimizer = name
        else:
            self.optimizer = optim.get(name, self.parameters(), **kwargs)

    def _check_optimizer_can_grow(self):
        """RuntimeError when the parameters are about to change under an optimizer given as an instance."""
        if self.optimizer is not None and self._optimizer_spec is None:
            raise RuntimeError("the model was compiled with an Optimizer holding its parameters: new layers would not "
                               "be trained.  Add the layers first, or compile again afterwards with an optimizer name")

    # ---------------------------------------------------------------- compile

    def compile(self, optimizer="sgd", loss="cross_entropy", metrics=("accuracy",), *, clip_norm=None,
                **optimizer_kwargs):
        """Choose how to train.

        Parameters
        ----------
        optimizer : str, Optimizer subclass or Optimizer
            A name ("sgd", "adam", ...) or class, built with ``optimizer_kwargs``
            (such as ``lr=0.1, momentum=0.9``) on the model's parameters, now or
            when the model is built; an ``Optimizer`` made without parameters,
            as in Keras (``SGD(learning_rate=0.05, momentum=0.9, nesterov=True)``),
            which is bound to them the same way (``model.optimizer`` is that
            object); or one already holding ``model.parameters()``.
        loss : str or callable
            A name ("cross_entropy", "mse", "bce_with_logits") or a loss object
            ``loss(pred, target) -> (value, grad)``.
        metrics : sequence of str
            ``()`` or ``("accuracy",)``.
        clip_norm : float > 0 or None
            Clip the global gradient norm to this before every step.
        **optimizer_kwargs
            Passed to the optimizer's constructor.
        """
        self.loss = losses.get(loss)
        metrics = (metrics,) if isinstance(metrics, str) else tuple(metrics or ())
        for metric in metrics:
            if metric not in METRICS:
                raise ValueError(f"unknown metric {metric!r}; cnnfast knows 'accuracy'")
        self.metrics = ("accuracy",) if metrics else ()
        if clip_norm is not None:
            clip_norm = check.finite("clip_norm", clip_norm)
            if clip_norm <= 0:
                raise ValueError(f"clip_norm must be > 0 or None, got {clip_norm}")
        self.clip_norm = clip_norm
        if isinstance(optimizer, optim.Optimizer):
            optim.get(optimizer, **optimizer_kwargs)  # refuses kwargs for an instance
            if optimizer.bound:
                self.optimizer, self._optimizer_spec = optimizer, None
            else:  # Keras's SGD(learning_rate=...): bound to the parameters, now or when they exist
                self.optimizer, self._optimizer_spec = None, (optimizer, {})
                if self.built:
                    self._attach_optimizer()
        elif self.built:
            self.optimizer = optim.get(optimizer, self.parameters(), **optimizer_kwargs)
            self._optimizer_spec = (optimizer, dict(optimizer_kwargs))
        else:
            # Built later (on the first fit): check name and kwargs now on a stand-in
            # parameter, so a typo fails here and not at the start of training.
            optim.get(optimizer, [_StandIn(self.dtype)], **optimizer_kwargs)
            self.optimizer, self._optimizer_spec = None, (optimizer, dict(optimizer_kwargs))

    def get_compile_config(self):
        """What :meth:`compile` was given, JSON-able (Keras's ``get_compile_config``); None if not compiled.

        Returns
        -------
        dict or None
            ``{"loss": {"class", "config"}, "optimizer": {"class", "config"},
            "metrics": [...], "clip_norm": ...}``.  ``loss`` or ``optimizer``
            is None when it is not one of cnnfast's classes (a function, a
            subclass of your own): such a model cannot be compiled from the config.
        """
        if self.loss is None:
            return None
        return {"loss": _described(self.loss, losses, losses.Loss), "optimizer": self._optimizer_description(),
                "metrics": list(self.metrics), "clip_norm": self.clip_norm}

    def compile_from_config(self, config):
        """Compile as :meth:`get_compile_config` described (Keras's ``compile_from_config``).

        Parameters
        ----------
        config : dict

        Returns
        -------
        bool
            False (with a warning, the model left uncompiled) when the loss or
            the optimizer was not one of cnnfast's and cannot be rebuilt.
        """
        if not isinstance(config, dict):
            raise TypeError(f"config must be a dict from get_compile_config, got {type(config).__name__}")
        loss, optimizer = config.get("loss"), config.get("optimizer")
        if loss is None or optimizer is None:
            missing = "loss" if loss is None else "optimizer"
            warnings.warn(f"the model was compiled with a {missing} that is not one of cnnfast's, which cannot be "
                          "saved: call compile() before evaluate() or fit()", UserWarning, stacklevel=3)
            return False
        loss_class = _known_class(losses, loss["class"], losses.Loss, "loss")
        optimizer_class = _known_class(optim, optimizer["class"], optim.Optimizer, "optimizer")
        self.compile(optimizer_class, loss=loss_class(**loss["config"]), metrics=config.get("metrics", ()),
                     clip_norm=config.get("clip_norm"), **optimizer["config"])
        return True

    def _optimizer_description(self):
        if self.optimizer is not None:
            return _described(self.optimizer, optim, optim.Optimizer)
        name, kwargs = self._optimizer_spec
        if isinstance(name, optim.Optimizer):
            return _described(name, optim, optim.Optimizer)
        # Not built yet: the class and keyword arguments compile() was given.
        cls = optim.get(name, [_StandIn(self.dtype)], **kwargs)
        return {"class": type(cls).__name__, "config": cls.get_config()}

    def _require_compiled(self, what):
        if self.loss is None:
            raise RuntimeError(f"{what}: call compile() first (it sets the optimizer and the loss)")

    def _check_ready_to_train(self, what):
        self._require_compiled(what)
        if self.optimizer is None:
            raise RuntimeError(f"{what}: the optimizer has no parameters yet; build the model first")

    # --------------------------------------------------------------- training

    def train_on_batch(self, x, y, distributed=False):
        """One optimizer step on the batch ``(x, y)``.

        Parameters
        ----------
        x : ndarray, shape (B, *input_shape), float32 or float64
        y : ndarray, shape (B,) integer labels or (B, C) float targets
        distributed : bool
            Data-parallel over MPI processes (:mod:`cnnfast.distributed`):
            every process passes the same global batch and trains on its
            slice of it; the update and the returned figures are those of
            the whole batch.  The first such call takes rank 0's weights.

        Returns
        -------
        dict
            ``{"loss": float}``, plus ``"accuracy"`` when compiled with it.
        """
        self._require_compiled("train_on_batch")
        x, y = data.arrays(self, x, y)
        self._check_ready_to_train("train_on_batch")
        loss, correct, size = parallel.train_on_batch(self, x, y) if distributed else TrainStep(self)(x, y)
        logs = {"loss": loss}
        if self.metrics:
            logs["accuracy"] = correct / size
        return logs

    def fit(self, x=None, y=None, batch_size=None, epochs=1, verbose="auto", callbacks=None, validation_split=0.0,
            validation_data=None, shuffle=True, *, initial_epoch=0, steps_per_epoch=None, augment=None,
            distributed=False):
        """Train for ``epochs - initial_epoch`` epochs.

        The positional order is Keras's, ``fit(x, y, batch_size, epochs, verbose,
        callbacks, validation_split, validation_data, shuffle)``; the rest is
        keyword-only (Keras's next positions, ``class_weight`` and
        ``sample_weight``, are not supported, so no later argument can take
        their place by accident).

        Parameters
        ----------
        x : ndarray or batch iterator
            Either an array (N, *input_shape), float32/float64, with ``y``; or
            a source of ``(x_batch, y_batch)`` pairs, as Keras takes: a batch
            iterator such as ``ImageDataGenerator.flow(x, y)`` or
            :class:`~cnnfast.datasets.BatchIterator` (each epoch is one pass
            over it), or any Python generator (an epoch is ``steps_per_epoch``
            batches, or the rest of the generator; when it runs out, training
            stops with a warning).
        y : ndarray, optional
            (N,) integer labels or (N, C) float targets; only with an array ``x``.
        batch_size : int, optional
            Default 32; only with an array ``x`` (a batch iterator makes its own).
        epochs : int
        verbose : {"auto", 0, 1, 2}
            0 silent; 1 or "auto" (the default) a progress bar per epoch on a
            terminal, one line per epoch elsewhere (logs, pipes); 2 one line per epoch.
        callbacks : sequence of Callback, optional
        validation_split : float in [0, 1)
            The LAST fraction of the arrays (taken before shuffling, as Keras)
            is held out; arrays only.
        validation_data : (x_val, y_val) or batch iterator, optional
            Takes precedence over ``validation_split``.  The metrics appear in
            the History as ``val_loss`` / ``val_accuracy``.  A batch iterator
            must start a new pass at each ``iter()`` (``flow(x, y, shuffle=False)``
            does); a one-shot generator is refused.
        shuffle : bool
            Arrays: a new permutation every epoch from the model's seeded
            generator.  Ignored for a batch iterator (it shuffles itself).
        initial_epoch : int
            The epoch to start from (for resuming); ``epochs`` is the last one.
        augment : ImageDataGenerator or callable, optional
            Its ``random_transform`` (shifts, rotations, flips), or any callable
            mapping a training batch (B, *input_shape) to an augmented batch of
            the same shape; applied to every training batch, never to validation data.
        steps_per_epoch : int, optional
            Batches per epoch (default: all of them).
        distributed : bool
            Train data-parallel with the other MPI processes of the job
            (launched as ``mpiexec -n N python script.py``; see
            :mod:`cnnfast.distributed`).  Every process passes the same
            arrays; ``batch_size`` is the global batch, each process trains
            on its slice of every batch, and the gradients are averaged
            weighted by sample count, so the run matches one process's with
            the same ``batch_size``.  Rank 0 prints and writes checkpoints;
            every process returns the same History.  Arrays only (augmentation
            goes through ``augment``).

        Returns
        -------
        History
            Per-epoch ``loss``, ``accuracy``, ``images_per_sec``, ``lr`` and the
            ``val_`` metrics; ``history.interrupted`` after Ctrl-C.

        Notes
        -----
        A callback setting ``model.stop_training = True`` ends training after
        the current batch; that epoch still gets its logs (over the batches
        run), validation and ``on_epoch_end``.

        Ctrl-C (KeyboardInterrupt): a first Ctrl-C lets the running batch finish its update,
        then fit stops, calls ``on_train_end`` and returns the History with
        ``history.interrupted = True``: the model holds the weights of the last completed
        update and is usable; the unfinished epoch is not recorded; checkpoints already
        written are intact (saves are atomic). A KeyboardInterrupt raised by a callback is
        handled the same way. A second Ctrl-C aborts at once: ``on_train_end`` runs and the
        KeyboardInterrupt propagates, since the model may then hold a half-applied update
        (as does any KeyboardInterrupt that arrives during an update, which happens only
        when fit cannot defer Ctrl-C: outside the main thread or under a custom SIGINT handler).
        """
        self._require_compiled("fit")
        epochs = check.integer("epochs", epochs)
        initial_epoch = check.integer("initial_epoch", initial_epoch)
        if initial_epoch < 0 or epochs < initial_epoch:
            raise ValueError(f"need 0 <= initial_epoch <= epochs, got initial_epoch={initial_epoch}, epochs={epochs}")
        steps = None if steps_per_epoch is None else check.positive_int("steps_per_epoch", steps_per_epoch, None)
        verbose = 1 if check.one_of("verbose", verbose, ("auto", 0, 1, 2)) == "auto" else verbose
        transform = getattr(augment, "random_transform", augment)
        if transform is not None and not callable(transform):
            raise TypeError(f"augment must be an ImageDataGenerator or a callable, got {type(augment).__name__}")
        if validation_data is not None:
            validation_split = 0.0  # validation_data takes precedence, as in Keras
        if data.is_batch_stream(x):
            source, validation = self._stream_source(x, y, batch_size, validation_split, steps)
        else:
            source, validation = self._array_source(x, y, batch_size, validation_split, shuffle, steps)
        if validation_data is not None:
            validation = self._validation_batches(validation_data)
        if distributed:
            return parallel.fit(self, source, validation, augment, epochs=epochs, initial_epoch=initial_epoch,
                                callbacks=callbacks or (), verbose=verbose)
        validate = None if validation is None else lambda: loop.evaluate(self, validation()).logs()
        if transform is not None:
            source = data.Augmented(source, transform, self.dtype)
        return loop.run(self, source, TrainStep(self), validate, epochs=epochs, initial_epoch=initial_epoch,
                        callbacks=callbacks or (), verbose=verbose)

    def _array_source(self, x, y, batch_size, validation_split, shuffle, steps):
        """Arrays -> (ArrayBatches, validation batches or None)."""
        batch_size = check.positive_int("batch_size", _DEFAULT_BATCH_SIZE if batch_size is None else batch_size,
                                        None)
        if y is None:
            raise ValueError("fit(x, y): y is required when x is an array")
        x, y = data.arrays(self, x, y)
        x, y, held_out = data.split_validation(x, y, validation_split)
        if len(x) == 0:
            raise ValueError(f"fit needs at least one training sample, x has shape {x.shape}")
        self._check_ready_to_train("fit")
        if self._shuffle_rng is None:
            self._shuffle_rng = np.random.default_rng(np.random.SeedSequence(self.seed, spawn_key=(1,)))
        source = data.ArrayBatches(x, y, batch_size, bool(shuffle), self._shuffle_rng, steps)
        validation = None if held_out is None else data.InOrder(*held_out, _VALIDATION_BATCH_SIZE)
        return source, validation

    def _stream_source(self, x, y, batch_size, validation_split, steps):
        """A batch iterator or generator -> (StreamBatches, None)."""
        for name, given in (("y", y is not None), ("batch_size", batch_size is not None),
                            ("validation_split", validation_split != 0.0)):
            if given:
                raise ValueError(f"fit: {name} must not be given when x is a batch iterator or generator "
                                 "(it yields the (x, y) batches)")
        return data.StreamBatches(self, x, steps), None

    def _validation_batches(self, validation_data):
        """validation_data -> a function returning one pass of checked batches."""
        if data.is_batch_stream(validation_data):
            if iter(validation_data) is validation_data:
                raise TypeError("validation_data must be a pair (x_val, y_val) or a re-iterable batch iterator "
                                "(such as flow(x_val, y_val, shuffle=False)), not a one-shot generator")
            stream = data.StreamBatches(self, validation_data, name="validation_data")
            return stream.epoch
        if not isinstance(validation_data, (tuple, list)) or len(validation_data) != 2:
            raise TypeError("validation_data must be a pair (x_val, y_val) or a batch iterator")
        held_out = data.arrays(self, *validation_data, x_name="validation_data[0]", y_name="validation_data[1]")
        return data.InOrder(*held_out, _VALIDATION_BATCH_SIZE)

    # -------------------------------------------------------------- evaluation

    @property
    def metrics_names(self):
        """``["loss", *metrics]``: the order of :meth:`evaluate`'s list (Keras's attribute)."""
        return ["loss", *self.metrics]

    def evaluate(self, x=None, y=None, batch_size=None, verbose=0, *, return_dict=False, distributed=False):
        """Mean loss (and accuracy if compiled with it) over ``(x, y)``, in inference mode.

        Parameters
        ----------
        x : ndarray or batch iterator
            (N, *input_shape) with ``y``, or a source of ``(x_batch, y_batch)``
            pairs (one pass is evaluated).
        y : ndarray, optional
            (N,) labels or (N, C) targets, with an array ``x``.
        batch_size : int, optional
            Default 256 (no caches are kept, so a large batch is cheap).
        verbose : {0, 1, 2, "auto"}
            Non-zero: print the result on one line.
        return_dict : bool
            Return ``{"loss": ..., "accuracy": ...}`` instead of the list.
        distributed : bool
            Every MPI process passes the same arrays and evaluates its share
            of the batches; the result is the whole set's, on every process.

        Returns
        -------
        float, list or dict
            As Keras: the loss alone when compiled without metrics, else the
            list ``[loss, accuracy]`` (in :attr:`metrics_names` order), so
            ``loss, acc = model.evaluate(x, y)`` works; the dict with
            ``return_dict=True``.  The loss is the size-weighted mean of the
            batch losses.
        """
        self._require_compiled("evaluate")
        check.one_of("verbose", verbose, ("auto", 0, 1, 2))
        batch_size = check.positive_int("batch_size", _VALIDATION_BATCH_SIZE if batch_size is None else batch_size,
                                        None)
        if data.is_batch_stream(x):
            if y is not None:
                raise ValueError("evaluate: y must not be given when x is a batch iterator or generator")
            if distributed:
                raise ValueError("evaluate(distributed=True) takes arrays x, y, not a batch iterator")
            totals = loop.evaluate(self, data.StreamBatches(self, x).epoch())
            if totals.seen == 0:
                raise ValueError("evaluate needs at least one sample; the batch iterator yielded none")
        else:
            if y is None:
                raise ValueError("evaluate(x, y): y is required when x is an array")
            x, y = data.arrays(self, x, y)
            if len(x) == 0:
                raise ValueError(f"evaluate needs at least one sample, x has shape {x.shape}")
            totals = (parallel.evaluate(self, x, y, batch_size) if distributed
                      else loop.evaluate(self, data.in_order(x, y, batch_size)))
        result = totals.logs()
        if verbose and not (distributed and parallel.rank() > 0):  # one process prints
            print(format_logs(result), flush=True)
        if return_dict:
            return result
        values = [result[name] for name in self.metrics_names]
        return values[0] if len(values) == 1 else values


def _described(instance, module, base):
    """``{"class": name, "config": ...}`` for an instance of one of ``module``'s own classes, else None."""
    name = type(instance).__name__
    if getattr(module, name, None) is type(instance) and isinstance(instance, base):
        return {"class": name, "config": instance.get_config()}
    return None


def _known_class(module, name, base, what):
    cls = getattr(module, str(name), None)
    if not (isinstance(cls, type) and issubclass(cls, base)):
        raise ValueError(f"unknown {what} class {name!r} in the compile configuration")
    return cls
