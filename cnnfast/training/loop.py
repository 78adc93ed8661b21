"""The epoch loop of ``fit``: callbacks, History, validation, stopping and Ctrl-C.

:func:`run` takes its three moving parts as arguments, so each can be
replaced alone: the batch source (:mod:`.data`), the step (:class:`.step.TrainStep`)
and the validation (a function returning the ``val_`` logs).  The loop itself
costs a few dictionary operations per batch.
"""

from __future__ import annotations

import math
import signal
import threading
import time
import warnings

from ..callbacks import CallbackList, History, ProgressBar
from .metrics import Totals, count_correct
from .objective import Objective

__all__ = ["run", "evaluate", "DeferredInterrupt"]


def evaluate(model, batches):
    """Inference-mode loss (and correct predictions) over ``batches`` of ``(x, y)``.

    Returns
    -------
    Totals
        The sums; the loss of each batch is weighted by its size.
    """
    totals = Totals(bool(model.metrics))
    objective = Objective(model)
    for xb, yb in batches:
        output = objective.forward(xb, training=False)
        loss, _ = objective.loss(output, yb)
        totals.add(float(loss), count_correct(output, yb, objective.threshold) if model.metrics else 0, len(xb))
    return totals


def run(model, source, step, validate, *, epochs, initial_epoch, callbacks, verbose, interrupt=None):
    """Train ``model`` for ``epochs - initial_epoch`` epochs; returns the :class:`~cnnfast.callbacks.History`.

    Parameters
    ----------
    model : Sequential
        Compiled; ``model.stop_training`` is reset, then read after every batch.
    source : batch source
        ``source.epoch()`` yields one epoch's ``(x_batch, y_batch)``;
        ``source.steps``, ``.samples`` and ``.batch_size`` go into the callbacks' ``params``.
    step : callable
        ``step(x_batch, y_batch) -> (mean loss, correct, size)``, one update;
        None when it made no update because training stops (the processes of
        a data-parallel fit agreed to stop before it).
    validate : callable or None
        ``validate() -> {"loss": ..., "accuracy": ...}`` after every epoch (reported as ``val_*``).
    epochs, initial_epoch : int
    callbacks : sequence of Callback
        The user's; History (and a ProgressBar when ``verbose``) are added after them.
    verbose : {0, 1, 2}
    interrupt : DeferredInterrupt, optional
        Who decides when to stop (Ctrl-C, ``stop_training``); default a new
        :class:`DeferredInterrupt`.  A data-parallel fit passes one that makes
        the processes agree (:class:`cnnfast.training.parallel.AgreedInterrupt`).

    Notes
    -----
    An epoch's logs cover the batches run (a callback setting
    ``stop_training`` ends the epoch early, as in Keras).  A source that runs
    out of data (a generator exhausted before ``epochs``) stops training with
    a warning, as Keras does.  The first batch whose loss is NaN or infinite
    warns (once per call: the weights are then unusable; the
    ``TerminateOnNaN`` callback stops training there).  Ctrl-C: see
    :class:`DeferredInterrupt` and ``Sequential.fit``.
    """
    history = History()
    extra = [ProgressBar(per_batch=verbose == 1)] if verbose else []
    params = {"epochs": epochs, "initial_epoch": initial_epoch, "steps": source.steps,
              "samples": source.samples, "batch_size": source.batch_size, "verbose": verbose}
    callbacks = CallbackList([*callbacks, history, *extra], model, params)
    model.stop_training = False
    epoch = None
    nonfinite = _FirstNonFinite()
    with interrupt or DeferredInterrupt() as ctrl_c:
        try:
            callbacks.on_train_begin({})
            for epoch in range(initial_epoch, epochs):
                logs = _run_epoch(model, source.epoch(), step, epoch, callbacks, ctrl_c, nonfinite)
                if logs is None and model.stop_training:  # stopped before this epoch's first update
                    break
                if logs is None:
                    warnings.warn(f"fit: the training data ran out in epoch {epoch + 1} of {epochs}; training "
                                  "stopped.  Give steps_per_epoch, or data that yields steps_per_epoch * epochs "
                                  "batches", RuntimeWarning, stacklevel=3)
                    break
                if validate is not None:
                    logs.update({f"val_{key}": value for key, value in validate().items()})
                callbacks.on_epoch_end(epoch, logs)
                if ctrl_c.stop_after(model, epoch_end=True):
                    break
        except KeyboardInterrupt:
            if ctrl_c.forced or ctrl_c.in_update:
                raise
            history.interrupted = True
        finally:
            callbacks.on_train_end({})
    if history.interrupted and verbose:
        where = "" if epoch is None else f" in epoch {epoch + 1}"
        print(f"Training interrupted{where}; the model keeps the weights of the last completed batch.", flush=True)
    return history


def _run_epoch(model, batches, step, epoch, callbacks, ctrl_c, nonfinite):
    """One epoch's batches -> the epoch's logs, or None when ``batches`` was empty."""
    callbacks.on_epoch_begin(epoch, {})
    totals = Totals(bool(model.metrics))
    start = time.perf_counter()
    for batch, (xb, yb) in enumerate(batches):
        callbacks.on_batch_begin(batch, {"batch": batch, "size": len(xb)})
        ctrl_c.in_update = True
        result = step(xb, yb)
        ctrl_c.in_update = False
        if result is None:  # no update: the processes agreed to stop before it (the step set why)
            ctrl_c.stop_after(model)
            break
        loss, correct, size = result
        if not math.isfinite(loss):
            nonfinite.warn(loss, epoch, batch)
        totals.add(loss, correct, size)
        logs = {"batch": batch, "size": size, **totals.logs()}
        logs["images_per_sec"] = totals.seen / max(time.perf_counter() - start, 1e-9)
        callbacks.on_batch_end(batch, logs)
        if ctrl_c.stop_after(model):
            break
    if totals.seen == 0:
        return None
    elapsed = max(time.perf_counter() - start, 1e-9)
    logs = totals.logs()
    logs["images_per_sec"] = totals.seen / elapsed
    logs["lr"] = float(model.optimizer.lr)
    return logs


def take_signal(signum, expected, handler):
    """Install ``handler`` for ``signum`` if this is the main thread and ``expected`` is the current handler.

    A handler the user installed is left alone (and only the main thread may
    install one).  Returns the previous handler, or None when nothing was installed.
    """
    if threading.current_thread() is threading.main_thread() and signal.getsignal(signum) is expected:
        return signal.signal(signum, handler)
    return None


class _FirstNonFinite:
    """Warns at the first non-finite training loss of a ``fit`` call, and only then."""

    def __init__(self):
        self.seen = False

    def warn(self, loss, epoch, batch):
        if self.seen:
            return
        self.seen = True
        warnings.warn(f"fit: the training loss is {loss} in epoch {epoch + 1}, batch {batch + 1}: the weights are no "
                      "longer usable and training goes on uselessly.  Look for NaN or inf in the data, lower the "
                      "learning rate (or clip gradients: compile(clip_norm=...)); callbacks=[TerminateOnNaN()] "
                      "stops training at such a batch", RuntimeWarning, stacklevel=5)


class DeferredInterrupt:
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

    def stop_after(self, model, epoch_end=False):
        """Whether training stops now, after a batch's (or, ``epoch_end``, an epoch's) callbacks.

        Raises
        ------
        KeyboardInterrupt
            After a Ctrl-C; otherwise the answer is ``model.stop_training``.
        """
        if self.requested:
            raise KeyboardInterrupt
        return model.stop_training

    def __enter__(self):
        self._previous = take_signal(signal.SIGINT, signal.default_int_handler, self._handle)
        return self

    def __exit__(self, *exc):
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)
            self._previous = None
        return False
