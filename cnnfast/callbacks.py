"""Hooks into ``Sequential.fit``, as in Keras.

``fit`` calls, in this order::

    on_train_begin(logs)
      for each epoch:   on_epoch_begin(epoch, logs)
        for each batch:   on_train_batch_begin(batch, logs)  ...train step...  on_train_batch_end(batch, logs)
      (validation)      on_epoch_end(epoch, logs)
    on_train_end(logs)

As in Keras 3, ``on_train_batch_begin`` / ``on_train_batch_end`` call
``on_batch_begin`` / ``on_batch_end`` unless overridden: a callback may
override either name.

``epoch`` and ``batch`` count from 0.  Batch logs hold ``size`` (images in the
batch) and the epoch's running ``loss``, ``accuracy`` and ``images_per_sec``;
epoch logs hold the epoch's ``loss``, ``accuracy``, ``images_per_sec``, ``lr``
and, with validation data, ``val_loss`` and ``val_accuracy``.
A callback reaches the model as ``self.model`` and stops training by setting
``self.model.stop_training = True``.
"""

from __future__ import annotations

import math
import os
import sys
import warnings

from ._checks import nonnegative_int, one_of, real
from .serialization import check_suffix

__all__ = [
    "Callback",
    "CallbackList",
    "History",
    "EarlyStopping",
    "ModelCheckpoint",
    "LearningRateScheduler",
    "TerminateOnNaN",
    "ProgressBar",
    "format_logs",
]


class Callback:
    """Base class of the hooks into ``fit``: override the ones you need; each does nothing by default.

    Attributes
    ----------
    model : Sequential
        The model being trained (set by ``fit`` before ``on_train_begin``).
    params : dict
        ``epochs``, ``initial_epoch``, ``steps`` (batches per epoch), ``samples``
        (training images), ``batch_size``, ``verbose``; the last three are None
        when ``fit`` reads a generator that does not tell.
    """

    def __init__(self):
        self.model = None
        self.params = {}

    def set_model(self, model):
        """Attach the model being trained (``fit`` calls it)."""
        self.model = model

    def set_params(self, params):
        """Attach ``fit``'s parameters (``fit`` calls it; see :attr:`params`)."""
        self.params = dict(params)

    def on_train_begin(self, logs=None):
        """Called once before the first epoch.

        Parameters
        ----------
        logs : dict or None
            Empty.
        """

    def on_train_end(self, logs=None):
        """Called once after the last epoch, also when training stopped early or was interrupted.

        Parameters
        ----------
        logs : dict or None
            Empty.
        """

    def on_epoch_begin(self, epoch, logs=None):
        """Called before the first batch of ``epoch``.

        Parameters
        ----------
        epoch : int
            Counted from 0.
        logs : dict or None
            Empty.
        """

    def on_epoch_end(self, epoch, logs=None):
        """Called after ``epoch``'s last batch and its validation.

        Parameters
        ----------
        epoch : int
            Counted from 0.
        logs : dict or None
            The epoch's ``loss``, ``accuracy``, ``images_per_sec``, ``lr`` and ``val_`` metrics.
        """

    def on_batch_begin(self, batch, logs=None):
        """Called before training step ``batch`` of the current epoch.

        Parameters
        ----------
        batch : int
            Counted from 0.
        logs : dict or None
            ``batch`` and ``size``.
        """

    def on_batch_end(self, batch, logs=None):
        """Called after training step ``batch``.

        Parameters
        ----------
        batch : int
            Counted from 0.
        logs : dict or None
            ``batch``, ``size`` and the epoch's running ``loss``, ``accuracy``, ``images_per_sec``.
        """

    def on_train_batch_begin(self, batch, logs=None):
        """Keras 3's name of :meth:`on_batch_begin`, which it calls unless overridden."""
        self.on_batch_begin(batch, logs)

    def on_train_batch_end(self, batch, logs=None):
        """Keras 3's name of :meth:`on_batch_end`, which it calls unless overridden."""
        self.on_batch_end(batch, logs)


class CallbackList:
    """Calls every hook on each of ``callbacks`` in order (what ``fit`` uses internally).

    Parameters
    ----------
    callbacks : iterable of Callback
    model : Sequential
        Given to every callback with ``set_model``.
    params : dict
        Given to every callback with ``set_params``.
    """

    def __init__(self, callbacks, model, params):
        self.callbacks = list(callbacks)
        for cb in self.callbacks:
            if not isinstance(cb, Callback):
                raise TypeError(f"callbacks must be cnnfast.callbacks.Callback instances, got {type(cb).__name__}")
            cb.set_model(model)
            cb.set_params(params)

    def on_train_begin(self, logs=None):
        """Call ``on_train_begin`` on every callback."""
        for cb in self.callbacks:
            cb.on_train_begin(logs)

    def on_train_end(self, logs=None):
        """Call ``on_train_end`` on every callback."""
        for cb in self.callbacks:
            cb.on_train_end(logs)

    def on_epoch_begin(self, epoch, logs=None):
        """Call ``on_epoch_begin`` on every callback."""
        for cb in self.callbacks:
            cb.on_epoch_begin(epoch, logs)

    def on_epoch_end(self, epoch, logs=None):
        """Call ``on_epoch_end`` on every callback."""
        for cb in self.callbacks:
            cb.on_epoch_end(epoch, logs)

    def on_batch_begin(self, batch, logs=None):
        """Call ``on_train_batch_begin`` (by default ``on_batch_begin``) on every callback."""
        for cb in self.callbacks:
            cb.on_train_batch_begin(batch, logs)

    def on_batch_end(self, batch, logs=None):
        """Call ``on_train_batch_end`` (by default ``on_batch_end``) on every callback."""
        for cb in self.callbacks:
            cb.on_train_batch_end(batch, logs)


class History(Callback):
    """What ``fit`` returns: the metrics of every epoch.

    Attributes
    ----------
    history : dict of str to list
        One value per completed epoch for each metric (``loss``, ``accuracy``,
        ``images_per_sec``, ``lr``, ``val_loss``, ``val_accuracy``).
    epoch : list of int
        The epochs those values belong to.
    interrupted : bool
        True when a ``KeyboardInterrupt`` ended ``fit``; the epoch that was
        running then is not recorded.
    """

    def __init__(self):
        super().__init__()
        self.history = {}
        self.epoch = []
        self.interrupted = False

    def on_epoch_end(self, epoch, logs=None):
        """Record the epoch and its logs."""
        self.epoch.append(epoch)
        for key, value in (logs or {}).items():
            self.history.setdefault(key, []).append(value)

    def __repr__(self):
        return f"History(epochs={self.epoch}, keys={sorted(self.history)}, interrupted={self.interrupted})"


def _resolve_mode(mode, monitor):
    """'min' | 'max' for ``monitor``; 'auto' means max for accuracies, min otherwise (as Keras)."""
    if one_of("mode", mode, ("auto", "min", "max")) == "auto":
        return "max" if "acc" in monitor else "min"
    return mode


class _Monitor:
    """Tracks the best value of one metric; shared by EarlyStopping and ModelCheckpoint."""

    def __init__(self, monitor, mode, min_delta=0.0):
        self.monitor = monitor
        self.mode = _resolve_mode(mode, monitor)
        self.min_delta = abs(real("min_delta", min_delta))
        self.reset()

    def reset(self):
        """Forget the best value."""
        self.best = math.inf if self.mode == "min" else -math.inf

    def current(self, logs, owner):
        """The monitored value in ``logs``, or None (with a warning naming what is there)."""
        value = (logs or {}).get(self.monitor)
        if value is None:
            warnings.warn(
                f"{owner}: metric {self.monitor!r} is not in the epoch logs (available: {sorted(logs or {})});"
                " pass validation data to fit() to get val_ metrics",
                RuntimeWarning,
                stacklevel=3,
            )
        return value

    def improved(self, value):
        """Whether ``value`` beats the best by more than ``min_delta``."""
        if self.mode == "min":
            return value < self.best - self.min_delta
        return value > self.best + self.min_delta


class EarlyStopping(Callback):
    """Stop training when ``monitor`` has stopped improving (Keras semantics).

    An epoch improves when the value beats the best so far by more than
    ``min_delta``.  After ``patience`` epochs in a row without improvement,
    training stops (``model.stop_training = True``).

    Parameters
    ----------
    monitor : str
        An epoch log, e.g. "val_loss" or "accuracy".
    min_delta : float
    patience : int >= 0
    mode : {"auto", "min", "max"}
        "auto": max for accuracies, min otherwise.
    restore_best_weights : bool
        Put the weights of the best epoch back when training ends (stopped early or not).
    verbose : int
        Non-zero: say when training stopped.

    Attributes
    ----------
    stopped_epoch : int
        The epoch at which training was stopped (0 if it ran to the end).
    best : float
        The best value.
    best_epoch : int or None
    """

    def __init__(self, monitor="val_loss", min_delta=0, patience=0, mode="auto", restore_best_weights=False,
                 verbose=0):
        super().__init__()
        self._monitor = _Monitor(monitor, mode, min_delta)
        self.monitor = monitor
        self.patience = nonnegative_int("patience", patience)
        self.restore_best_weights = bool(restore_best_weights)
        self.verbose = verbose
        self.wait = 0
        self.stopped_epoch = 0
        self.best_epoch = None
        self.best_weights = None

    @property
    def best(self):
        """The best value of the monitored metric so far."""
        return self._monitor.best

    def on_train_begin(self, logs=None):
        """Start afresh (the callback may be reused)."""
        self._monitor.reset()
        self.wait = 0
        self.stopped_epoch = 0
        self.best_epoch = None
        self.best_weights = None

    def on_epoch_end(self, epoch, logs=None):
        """Count an epoch without improvement, or remember the best one."""
        value = self._monitor.current(logs, "EarlyStopping")
        if value is None:
            return
        if self._monitor.improved(value):
            self._monitor.best = value
            self.best_epoch = epoch
            self.wait = 0
            if self.restore_best_weights:
                self.best_weights = self.model.get_weights()
            return
        self.wait += 1
        if self.wait >= self.patience:
            self.stopped_epoch = epoch
            self.model.stop_training = True

    def on_train_end(self, logs=None):
        """Restore the best weights when asked to."""
        if self.stopped_epoch and self.verbose:
            print(f"Epoch {self.stopped_epoch + 1}: early stopping ({self.monitor} best {self.best:.4f}"
                  f" at epoch {self.best_epoch + 1})")
        if self.restore_best_weights and self.best_weights is not None:
            self.model.set_weights(self.best_weights)


class ModelCheckpoint(Callback):
    """Save the model (or its weights) at the end of every epoch.

    Saves are atomic (see :mod:`cnnfast.serialization`), so an interrupted save
    leaves the previous checkpoint intact.  A missing directory is created, as
    Keras does: at the start of training when the path's directory holds no
    ``str.format`` field (so that a directory that cannot be made fails
    before the first epoch, not after it), else before each save.

    Parameters
    ----------
    filepath : str or path
        May hold ``str.format`` fields: ``{epoch}`` (counted from 1, as Keras)
        and any epoch log, e.g. ``"ckpt-{epoch:02d}-{val_loss:.3f}.npz"``.
        Ends in ``.npz`` or has no extension (``.h5`` / ``.keras`` are refused here).
    monitor : str
    save_best_only : bool
        Write only when ``monitor`` improves.
    save_weights_only : bool
    mode : {"auto", "min", "max"}
        As in :class:`EarlyStopping`.
    verbose : int

    Attributes
    ----------
    last_saved : str or None
        The path of the last file written.
    """

    def __init__(self, filepath, monitor="val_loss", save_best_only=False, save_weights_only=False, mode="auto",
                 verbose=0):
        super().__init__()
        self.filepath = check_suffix(filepath)
        self.monitor = monitor
        self.save_best_only = bool(save_best_only)
        self.save_weights_only = bool(save_weights_only)
        self.verbose = verbose
        self._monitor = _Monitor(monitor, mode)
        self.last_saved = None

    @property
    def best(self):
        """The best value of the monitored metric so far."""
        return self._monitor.best

    def on_train_begin(self, logs=None):
        """Forget the best value (the callback may be reused); create the directory if it is fixed."""
        self._monitor.reset()
        directory = os.path.dirname(self.filepath)
        if directory and "{" not in directory:
            os.makedirs(directory, exist_ok=True)

    def on_epoch_end(self, epoch, logs=None):
        """Save, if this epoch is to be saved."""
        logs = logs or {}
        if self.save_best_only:
            value = self._monitor.current(logs, "ModelCheckpoint")
            if value is None or not self._monitor.improved(value):
                return
            self._monitor.best = value
        path = self.filepath.format(epoch=epoch + 1, **{k: v for k, v in logs.items() if k != "epoch"})
        if os.path.dirname(path):
            os.makedirs(os.path.dirname(path), exist_ok=True)
        if self.save_weights_only:
            self.model.save_weights(path)
        else:
            self.model.save(path)
        self.last_saved = path
        if self.verbose:
            print(f"Epoch {epoch + 1}: saved {'weights' if self.save_weights_only else 'model'} to {path}")


class LearningRateScheduler(Callback):
    """Set the optimizer's learning rate at the start of every epoch.

    Parameters
    ----------
    schedule : callable
        ``schedule(epoch, lr) -> new_lr``, with ``epoch`` counted from 0 and
        ``lr`` the current ``model.optimizer.lr`` (a float).
    verbose : int
        Non-zero: print each new rate.
    """

    def __init__(self, schedule, verbose=0):
        super().__init__()
        if not callable(schedule):
            raise TypeError(f"schedule must be callable as schedule(epoch, lr), got {type(schedule).__name__}")
        self.schedule = schedule
        self.verbose = verbose

    def on_epoch_begin(self, epoch, logs=None):
        """Ask the schedule for this epoch's rate and set it."""
        optimizer = self.model.optimizer
        lr = self.schedule(epoch, float(optimizer.lr))
        try:
            lr = float(lr)
        except (TypeError, ValueError):
            raise TypeError(f"schedule({epoch}, lr) must return a number, got {lr!r}") from None
        if not math.isfinite(lr) or lr < 0:
            raise ValueError(f"schedule({epoch}, lr) returned {lr}: the learning rate must be finite and >= 0")
        optimizer.lr = lr
        if self.verbose:
            print(f"Epoch {epoch + 1}: learning rate set to {lr:.6g}")


class TerminateOnNaN(Callback):
    """Stop training at the first batch whose loss is NaN or infinite (Keras's callback).

    ``fit`` keeps the epoch's logs up to that batch (their ``loss`` is then
    NaN or inf) and returns; the model holds the weights that update left,
    which are usually unusable.

    Parameters
    ----------
    verbose : int
        Non-zero (the default, as Keras): print ``"Batch B: Invalid loss, terminating training"``.

    Attributes
    ----------
    stopped_epoch, stopped_batch : int or None
        Where training was stopped (counted from 0), or None.
    loss : float or None
        The loss that stopped it.
    """

    def __init__(self, verbose=1):
        super().__init__()
        self.verbose = verbose
        self.stopped_epoch = self.stopped_batch = self.loss = None
        self._epoch = None

    def on_train_begin(self, logs=None):
        """Forget an earlier stop (the callback may be reused)."""
        self.stopped_epoch = self.stopped_batch = self.loss = None

    def on_epoch_begin(self, epoch, logs=None):
        """Remember the epoch, to say where training stopped."""
        self._epoch = epoch

    def on_batch_end(self, batch, logs=None):
        """Stop training when the epoch's running loss is no longer finite."""
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(loss):
            self.stopped_epoch, self.stopped_batch, self.loss = self._epoch, batch, loss
            if self.verbose:
                print(f"Batch {batch}: Invalid loss, terminating training", flush=True)
            self.model.stop_training = True


def format_logs(logs):
    """One line of metrics, such as ``"loss 0.1234 | accuracy 97.50% | 6100 images/s"``.

    Parameters
    ----------
    logs : dict
        Epoch or evaluation logs; ``loss``, ``accuracy``, ``val_loss``,
        ``val_accuracy`` and ``images_per_sec`` are shown when present.

    Returns
    -------
    str
    """
    parts = []
    for key in ("loss", "accuracy", "val_loss", "val_accuracy"):
        if key in logs:
            value = logs[key]
            parts.append(f"{key} {100 * value:.2f}%" if key.endswith("accuracy") else f"{key} {value:.4f}")
    if "images_per_sec" in logs:
        parts.append(f"{logs['images_per_sec']:.0f} images/s")
    return " | ".join(parts)


class ProgressBar(Callback):
    """Per-epoch progress: a tqdm bar with the running metrics on a terminal, one line per epoch elsewhere.

    ``fit(verbose=1)`` adds ``ProgressBar()``; ``fit(verbose=2)`` adds
    ``ProgressBar(per_batch=False)``, which prints one line per epoch and no bar
    (for logs).  A bar is drawn only on a terminal that reports its width:
    written to a file, a pipe or a terminal of 0 columns, ``ProgressBar()``
    prints one line per epoch too (Keras's ``verbose=2``), so logs do not fill
    up with carriage-return updates.  The bar's running metrics and the epoch's line
    have the same format (:func:`format_logs`).

    Parameters
    ----------
    per_batch : bool
        A bar updated after every batch (True), or one line per epoch.
    file : file object, optional
        Where the output goes (default: ``sys.stdout`` at the time training starts).
    """

    def __init__(self, per_batch=True, file=None):
        super().__init__()
        self.per_batch = per_batch
        self.file = file
        self._bar = None
        self._out = None
        self._draw_bars = False

    def on_train_begin(self, logs=None):
        """Choose the output stream, and a bar or lines."""
        self._out = self.file if self.file is not None else sys.stdout
        self._draw_bars = bool(self.per_batch) and _terminal_columns(self._out) > 0

    def _epoch_label(self, epoch):
        return f"Epoch {epoch + 1}/{self.params.get('epochs', '?')}"

    def on_epoch_begin(self, epoch, logs=None):
        """Open the epoch's bar."""
        if not self._draw_bars:
            return
        from tqdm.auto import tqdm  # a dependency; imported when a bar is first shown (it is slow to import)

        self._bar = tqdm(total=self.params.get("steps"), desc=self._epoch_label(epoch), unit="batch",
                         file=self._out, leave=True, dynamic_ncols=True)

    def on_batch_end(self, batch, logs=None):
        """Advance the bar and show the running metrics."""
        if self._bar is None:
            return
        self._bar.set_postfix_str(format_logs(logs or {}), refresh=False)
        self._bar.update(1)

    def on_epoch_end(self, epoch, logs=None):
        """Close the bar with the epoch's metrics, or print them on one line."""
        summary = format_logs(logs or {})
        if self._bar is not None:
            self._bar.set_postfix_str(summary, refresh=False)
            self._bar.close()
            self._bar = None
        else:
            print(f"{self._epoch_label(epoch)}: {summary}", file=self._out, flush=True)

    def on_train_end(self, logs=None):
        """Close a bar left open by a stop mid-epoch."""
        if self._bar is not None:
            self._bar.close()
            self._bar = None


def _terminal_columns(stream):
    """The width of the terminal ``stream`` writes to; 0 for a file, a pipe or a terminal that says 0."""
    try:
        if not stream.isatty():
            return 0
        return os.get_terminal_size(stream.fileno()).columns
    except (AttributeError, OSError, ValueError):
        return 0
