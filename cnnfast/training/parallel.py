"""Data-parallel ``fit``, ``evaluate`` and ``train_on_batch`` over MPI processes.

``Sequential.fit(..., distributed=True)`` comes here with the batch source and
the validation data it prepared as for one process.  The moving parts of
:func:`cnnfast.training.loop.run` are then swapped for their data-parallel twins:

* the batch source for :class:`~.sharding.ShardedBatches` (each process its
  slice of every global batch);
* the step for :class:`DistributedStep`, whose gradient hook reduces the
  gradients, the loss, the accuracy counts and the stop flags in **one**
  allreduce per step (:class:`cnnfast.distributed.fusion.GradientReduction`);
* the interrupt for :class:`AgreedInterrupt`, so that ``stop_training``,
  Ctrl-C and SIGTERM stop every process after the same batch;
* the validation for a sharded evaluation whose sums are allreduced, after the
  BatchNorm running statistics were averaged over the processes.

Before the first step the processes check that they run the same model on the
same data (every one raises the same ValueError otherwise), take rank 0's
weights, optimizer state and shuffling generator, and give Dropout and
augmentation a random stream per process.  Rank 0 prints and writes the
checkpoints; everything else runs on every process with the same (global)
logs, so callbacks decide alike everywhere.  An exception escaping a
distributed fit on one process ends the whole job (``MPI_Abort``): the other
processes could never finish their next collective.

With one process nothing is exchanged and the result is a plain ``fit``'s, bit for bit.
"""

from __future__ import annotations

import contextlib
import io
import signal
import traceback
import weakref
import zlib

import numpy as np

from ..callbacks import Callback, ModelCheckpoint
from ..distributed import collectives
from ..distributed import world as _world
from ..distributed.fusion import GradientReduction
from . import data, loop
from .loop import DeferredInterrupt
from .sharding import ShardedBatches, bounds, shard_in_order
from .step import TrainStep

__all__ = ["DistributedStep", "AgreedInterrupt", "fit", "evaluate", "train_on_batch", "rank"]

# Random streams of a process, derived from the model's seed (fit shuffles with spawn key (1,)).
_DROPOUT_STREAM, _AUGMENT_STREAM = 2, 3


class DistributedStep(TrainStep):
    """A training step whose gradient hook combines every process's gradients and figures.

    Parameters
    ----------
    model : Sequential
    world : cnnfast.distributed.world.World
    interrupt : AgreedInterrupt, optional
        In a fit: its pending Ctrl-C/SIGTERM and ``model.stop_training``
        travel in the step's reduction; None (``train_on_batch``): no stop flags.
    profile : bool
        Time the reduction's parts (benchmarks; adds a barrier).

    Notes
    -----
    The weight of a process is its number of samples when the loss is a mean
    (``reduction="mean"``, the default; a custom loss without a ``reduction``
    attribute counts as a mean), so the update is the one a single process
    makes on the whole global batch; with ``reduction="sum"`` the gradients
    and losses are added.
    """

    __slots__ = ("world", "interrupt", "reduction")

    def __init__(self, model, world, interrupt=None, profile=False):
        super().__init__(model)
        self.world, self.interrupt = world, interrupt
        self.reduction = None
        if world.size > 1:
            self.reduction = GradientReduction(world, model.optimizer.params, scalars=5, profile=profile)

    def forward_backward(self, x, y):
        """As one process; a process whose slice of the batch is empty computes nothing."""
        if len(x) == 0:
            return 0.0, 0
        return super().forward_backward(x, y)

    def reduce(self, loss, correct, size):
        """One allreduce: gradients weighted by ``size``, loss sum, correct, size, stop and interrupt flags.

        Returns
        -------
        (float, int, int) or None
            The global mean loss, correct predictions and batch size; None when
            some process asked to stop (then ``model.stop_training`` or
            ``interrupt.requested`` is set on every process, and no update is made).
        """
        if self.reduction is None:
            return loss, correct, size
        model = self.model
        if self.reduction.params != model.optimizer.params:  # a new optimizer (compile again)
            self.reduction = GradientReduction(
                self.world, model.optimizer.params, scalars=5, profile=self.reduction.timings is not None
            )
        mean = getattr(model.loss, "reduction", "mean") != "sum"
        weight = size if mean else float(size > 0)
        asked = self.interrupt is not None
        stop = float(asked and model.stop_training)
        interrupted = float(asked and self.interrupt.pending)
        _, (loss_sum, correct, size, stops, interrupts) = self.reduction(
            weight, (loss * weight, correct, size, stop, interrupted), average=mean
        )
        if stops or interrupts:
            model.stop_training = model.stop_training or bool(stops)
            self.interrupt.requested = bool(interrupts)
            return None
        return float(loss_sum / size if mean else loss_sum), round(correct), round(size)


class AgreedInterrupt(DeferredInterrupt):
    """Ctrl-C, SIGTERM and ``stop_training`` for a data-parallel fit: every process stops after the same batch.

    A signal, or a callback setting ``stop_training`` on some processes only,
    is only noted here (``pending``).  The wish travels in the next step's
    reduction; if any process wished to stop, every process skips that update
    and stops (one forward/backward is wasted, no update is lost or added:
    the weights are those after the batch at which the wish was made).  After
    an epoch's callbacks the processes agree in one small allreduce, which
    also checks that their weights and learning rates are still identical
    and, coming after rank 0's checkpoint, acts as the barrier behind it.

    ``requested`` is only ever set once agreed; a second signal raises
    KeyboardInterrupt at once (the distributed fit then ends the job).
    SIGTERM (what ``scancel`` and ``mpiexec`` on termination send) is handled
    like Ctrl-C, so a preempted job returns a usable model on every process.
    """

    def __init__(self, world):
        super().__init__()
        self.world = world
        self.pending = False
        self._previous_sigterm = None

    def _handle(self, signum, frame):
        if self.pending or self.requested:
            self.forced = True
            raise KeyboardInterrupt
        self.pending = True
        if self.world.size == 1:  # nobody to agree with
            self.requested = True

    def stop_after(self, model, epoch_end=False):
        """After a batch: only an agreed stop; after an epoch: agree (see the class)."""
        if self.world.size == 1:
            return super().stop_after(model, epoch_end)
        if self.requested:
            raise KeyboardInterrupt
        if not epoch_end:
            return False  # a local wish goes with the next step's reduction
        lr = float(model.optimizer.lr)
        checksum = float(collectives.weights_checksum(model))
        flags = np.array([model.stop_training, self.pending, lr, -lr, checksum, -checksum], dtype=np.float64)
        self.world.allreduce(flags, op="max", what="the end-of-epoch agreement")
        if flags[2] != -flags[3] or flags[4] != -flags[5]:
            what = (
                f"learning rates (from {-flags[3]:g} to {flags[2]:g})"
                if flags[2] != -flags[3]
                else "weights (CRC-32 of every parameter and buffer)"
            )
            raise RuntimeError(
                f"the processes' {what} differ at the end of this epoch: a callback or the user's "
                "code changed them on some processes only.  Give every process the same callbacks"
            )
        if flags[1]:
            self.requested = True
            raise KeyboardInterrupt
        if flags[0]:
            model.stop_training = True
        return bool(flags[0])

    def __enter__(self):
        super().__enter__()
        self._previous_sigterm = loop.take_signal(signal.SIGTERM, signal.SIG_DFL, self._handle)
        return self

    def __exit__(self, *exc):
        if self._previous_sigterm is not None:
            signal.signal(signal.SIGTERM, self._previous_sigterm)
            self._previous_sigterm = None
        return super().__exit__(*exc)


# ---------------------------------------------------------------------- fit


def fit(model, source, validation, augment, *, epochs, initial_epoch, callbacks, verbose):
    """``Sequential.fit(..., distributed=True)`` after fit prepared its data as for one process.

    Parameters
    ----------
    model : Sequential
    source : ArrayBatches
        The whole training set with the global batch size.
    validation : InOrder or None
        The whole validation set.
    augment : ImageDataGenerator, callable or None
    epochs, initial_epoch, callbacks, verbose
        As given to fit.

    Returns
    -------
    History
        The same on every process.
    """
    if not isinstance(source, data.ArrayBatches):
        raise ValueError(
            "fit(distributed=True) takes arrays x, y (every process the whole set; each trains on its "
            "slice of every batch), not a batch iterator or generator; pass augmentation as augment="
        )
    if validation is not None and not isinstance(validation, data.InOrder):
        raise ValueError("fit(distributed=True) takes validation_data as arrays (x_val, y_val), not a batch iterator")
    world = _world.current()
    if source.batch_size < world.size:
        raise ValueError(
            f"batch_size is the global batch, split over the {world.size} processes: it must be >= "
            f"{world.size}, got {source.batch_size}"
        )
    with world.busy("fit(distributed=True)"):
        _join(
            world,
            model,
            "fit",
            {
                "data": fingerprint(source.x, source.y),
                "batch_size": source.batch_size,
                "epochs": epochs,
                "initial_epoch": initial_epoch,
                "steps": source.steps,
                "shuffle": source.shuffle,
                "validation": None if validation is None else fingerprint(validation.x, validation.y),
                "augment": type(augment).__name__,
            },
        )
        if world.size > 1:
            source.rng.bit_generator.state = world.broadcast_object(
                source.rng.bit_generator.state, what="the shuffling generator's broadcast"
            )
        batches = ShardedBatches(source, world.rank, world.size)
        transform = _augmentation(model, augment, world)
        if transform is not None:
            batches = data.Augmented(batches, transform, model.dtype)
        interrupt = AgreedInterrupt(world)
        try:
            history = loop.run(
                model,
                batches,
                DistributedStep(model, world, interrupt),
                _validation(world, model, validation),
                epochs=epochs,
                initial_epoch=initial_epoch,
                callbacks=_this_process_callbacks(world, callbacks),
                verbose=verbose if world.rank == 0 else 0,
                interrupt=interrupt,
            )
            if world.size > 1:
                collectives.average_buffers(world, model)  # before the user saves the model
        except BaseException as error:
            _abort_on(world, error, "fit(distributed=True)")
            raise
    return history


def _validation(world, model, validation):
    """The function fit calls at every epoch's end: average the running statistics, then validate, sharded."""

    def validate():
        if world.size > 1:
            collectives.average_buffers(world, model)
        return {} if validation is None else _sharded_totals(world, model, validation).logs()

    return validate


def _sharded_totals(world, model, batches):
    """Evaluate this process's block of ``batches`` (InOrder); the sums of every process."""
    totals = loop.evaluate(model, shard_in_order(batches, world.rank, world.size)())
    if world.size > 1:
        sums = np.array([totals.loss_sum, totals.correct, totals.seen], dtype=np.float64)
        world.allreduce(sums, what="the validation sums")
        totals.loss_sum, totals.correct, totals.seen = float(sums[0]), round(sums[1]), round(sums[2])
    return totals


def _this_process_callbacks(world, callbacks):
    """Rank 0: the user's callbacks.  Others: the same without ModelCheckpoint, and with their prints dropped."""
    if world.rank == 0:
        return callbacks
    return [_Quiet(c) for c in callbacks if not isinstance(c, ModelCheckpoint)]


class _Quiet(Callback):
    """A callback run with its standard output dropped (on the processes other than rank 0).

    Every hook of :class:`~cnnfast.callbacks.Callback` (``set_*`` and ``on_*``,
    whatever their names) is passed on to the wrapped callback: the hooks it
    overrides run as they would alone.
    """

    def __init__(self, callback):
        super().__init__()
        self.callback = callback

    def _call(self, hook, *args):
        with contextlib.redirect_stdout(io.StringIO()):
            return getattr(self.callback, hook)(*args)


def _pass_on(hook):
    def method(self, *args):
        return self._call(hook, *args)

    method.__name__ = hook
    method.__doc__ = f"``{hook}`` of the wrapped callback, its output dropped."
    return method


for _hook in [name for name in vars(Callback) if name.startswith(("set_", "on_"))]:
    setattr(_Quiet, _hook, _pass_on(_hook))


# ------------------------------------------------------------------ evaluate


def rank():
    """The rank of this process in the job (after a distributed call initialised it)."""
    return _world.current().rank


def evaluate(model, x, y, batch_size):
    """``Sequential.evaluate(..., distributed=True)``: each process its block of the batches; the global sums.

    ``x``, ``y`` are checked arrays, the whole set on every process; the
    weights must be identical on every process (they are after a distributed
    fit; checked).  Returns the :class:`~.metrics.Totals`, the same on every process.
    """
    world = _world.current()
    with world.busy("evaluate(distributed=True)"):
        collectives.check_same(
            world,
            "evaluate's model and data",
            {
                "model": collectives.model_signature(model),
                "weights (CRC-32)": collectives.weights_checksum(model),
                "data": fingerprint(x, y),
                "batch_size": batch_size,
            },
        )
        try:
            return _sharded_totals(world, model, data.InOrder(x, y, batch_size))
        except BaseException as error:
            _abort_on(world, error, "evaluate(distributed=True)")
            raise


# ------------------------------------------------------------ train_on_batch

# model -> the step its distributed train_on_batch calls reuse (a new optimizer starts over).
_steps = weakref.WeakKeyDictionary()


def train_on_batch(model, x, y):
    """``Sequential.train_on_batch(x, y, distributed=True)``: one update on the global batch ``x``, ``y``.

    Every process passes the same batch and trains on its slice of it, as a
    distributed fit does with each of its batches.  The first call (per model
    and optimizer) checks that the processes agree on the model, the
    optimizer and the batch, and takes rank 0's weights and optimizer state.

    Returns
    -------
    (float, int, int)
        The global mean loss, correct predictions and batch size.
    """
    world = _world.current()
    with world.busy("train_on_batch(distributed=True)"):
        step = _steps.get(model)
        if step is None or step.reduction is not None and step.reduction.params != model.optimizer.params:
            _join(world, model, "train_on_batch", {"batch": fingerprint(x, y)})
            step = _steps[model] = DistributedStep(model, world)
        lo, hi = bounds(len(x), world.rank, world.size)
        try:
            return step(x[lo:hi], y[lo:hi])
        except BaseException as error:
            _abort_on(world, error, "train_on_batch(distributed=True)")
            raise


# ------------------------------------------------------------- the set-up


def _join(world, model, what, agreed):
    """Check that the processes agree, take rank 0's state, give each process its random streams.  Collective."""
    optimizer = model.optimizer
    collectives.check_same(
        world,
        f"{what}(distributed=True)'s model, optimizer and data",
        {
            "model": collectives.model_signature(model),
            "dtype": str(model.dtype),
            "loss": repr(model.loss),
            "metrics": model.metrics,
            "clip_norm": model.clip_norm,
            "optimizer": (type(optimizer).__name__, optimizer.get_config()),
            **agreed,
        },
    )
    if world.size > 1:
        collectives.broadcast_model(model)
        _give_random_streams(world, model)


# models whose Dropout layers already draw from a stream of this process
_streams_given = weakref.WeakSet()


def _process_stream(model, world, purpose):
    return np.random.default_rng(np.random.SeedSequence(model.seed, spawn_key=(purpose, world.rank)))


def _give_random_streams(world, model):
    """Rank r > 0 draws Dropout masks from a stream of its own (once per model; rank 0 keeps the model's)."""
    if world.rank > 0 and model not in _streams_given:
        model.set_rng(_process_stream(model, world, _DROPOUT_STREAM))
        _streams_given.add(model)


def _augmentation(model, augment, world):
    """The augmentation of fit as this process applies it: an ImageDataGenerator draws from a stream per process."""
    transform = getattr(augment, "random_transform", augment)
    if transform is None:
        return None
    if world.rank > 0 and hasattr(augment, "random_transform"):  # rank 0 keeps the generator's own stream
        stream = _process_stream(model, world, _AUGMENT_STREAM)
        transform = lambda x_batch: augment.random_transform(x_batch, seed=stream)  # noqa: E731
    # A plain callable is the user's to seed.  An empty slice (a last batch smaller than the number of
    # processes) is not shown to it.
    return lambda x_batch: x_batch if len(x_batch) == 0 else transform(x_batch)


def fingerprint(x, y):
    """Shapes, dtypes and CRC-32s of ``y`` and of up to 64 evenly spaced samples of ``x``: equal on equal data."""
    rows = np.unique(np.linspace(0, len(x) - 1, num=min(len(x), 64)).astype(np.int64)) if len(x) else []
    sample = np.ascontiguousarray(x[rows]).reshape(-1).view(np.uint8)
    labels = np.ascontiguousarray(y).reshape(-1).view(np.uint8)
    return (x.shape, x.dtype.str, zlib.crc32(sample), y.shape, y.dtype.str, zlib.crc32(labels))


def _abort_on(world, error, what):
    """With several processes, an exception out of a collective stretch ends the job (the others cannot finish)."""
    if world.size == 1:
        return
    traceback.print_exception(type(error), error, error.__traceback__)
    reason = "interrupted twice" if isinstance(error, KeyboardInterrupt) else f"{type(error).__name__}: {error}"
    world.abort(
        f"{what} failed ({reason}; traceback above).  The other processes would wait for this one "
        "for ever, so the job ends here (MPI_Abort)."
    )
