"""The processes of the MPI tests: ``mpiexec -n N python tests/mpi_worker.py CASE OUT_DIR``.

tests/test_distributed_mpi.py launches this under ``mpiexec`` and asserts on
what each rank leaves in OUT_DIR (``CASE.rank<r>.pkl``).  Every case also runs
the plain one-process twin of what it trains, in the same process, so that
"2 processes equal 1 process" is checked against a real single-process run.
"""

import os
import pickle
import signal
import sys
import time
import zlib
from pathlib import Path

import numpy as np

import cnnfast
from cnnfast import callbacks, distributed, optim
from cnnfast.datasets import ImageDataGenerator
from cnnfast.layers import BatchNorm2D, Conv2D, Dense, Dropout, Flatten, MaxPool2D, ReLU
from cnnfast.training.sharding import bounds

N, BATCH = 203, 64  # 203 = 3 * 64 + 11: an uneven last batch (5 + 6 samples on 2 processes)


def data(n=N, dtype=np.float64, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, 1, 10, 10)).astype(dtype), rng.integers(0, 4, n)


def small_model(seed=0, dtype="float64", batchnorm=False, dropout=False):
    layers = [
        Conv2D(4, 3),
        *([BatchNorm2D()] if batchnorm else []),
        ReLU(),
        MaxPool2D(2),
        Flatten(),
        *([Dropout(0.3)] if dropout else []),
        Dense(4),
    ]
    return cnnfast.Sequential(layers, input_shape=(1, 10, 10), seed=seed, dtype=dtype)


def weights(model):
    return [p.data.copy() for p in model.parameters()]


def checksum(model):
    crc = 0
    for p in model.parameters():
        crc = zlib.crc32(np.ascontiguousarray(p.data).view(np.uint8), crc)
    return crc


class RecordSteps(callbacks.Callback):
    """A CRC of the weights after every batch (they must be equal on every process)."""

    def __init__(self):
        super().__init__()
        self.crcs = []

    def on_batch_end(self, batch, logs=None):
        self.crcs.append(checksum(self.model))


class At(callbacks.Callback):
    """Run ``action(model)`` on the processes ``ranks`` after global batch ``batch`` of epoch ``epoch``."""

    def __init__(self, batch, action, ranks=None, epoch=0):
        super().__init__()
        self.batch, self.action, self.ranks, self.epoch_at, self.epoch = batch, action, ranks, epoch, None

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_batch_end(self, batch, logs=None):
        if (self.epoch, batch) == (self.epoch_at, self.batch) and (
            self.ranks is None or distributed.rank() in self.ranks
        ):
            self.action(self.model)


def set_stop(model):
    model.stop_training = True


def fit_one(mode, make, compile_kwargs, fit_kwargs, extra=()):
    """Train distributed (this process's model from another seed: the broadcast must fix it) or plain."""
    model = make(seed=7 * distributed.rank() if mode == "distributed" else 0)
    model.compile(**compile_kwargs)
    recorder = RecordSteps()
    history = model.fit(
        *data(),
        **fit_kwargs,
        callbacks=[recorder, *(make_callback() for make_callback in extra)],
        verbose=0,
        distributed=mode == "distributed",
    )
    return {
        "weights": weights(model),
        "history": history.history,
        "crcs": recorder.crcs,
        "interrupted": history.interrupted,
    }, model


def fit_twins(make, compile_kwargs, fit_kwargs, extra=(), plain_extra=None):
    """The same training distributed and in one process (``plain_extra``: the plain run's own callbacks)."""
    return {
        "distributed": fit_one("distributed", make, compile_kwargs, fit_kwargs, extra)[0],
        "plain": fit_one("plain", make, compile_kwargs, fit_kwargs, extra if plain_extra is None else plain_extra)[0],
    }


# ------------------------------------------------------------------ cases


def case_numerics(out):
    """2 processes vs 1: SGD, Adam, clipping; train_on_batch; evaluate; DistributedOptimizer; allreduce_mean."""
    rank, size = distributed.rank(), distributed.size()
    x, y = data()
    results = {}
    for name, kwargs in (
        ("sgd", dict(optimizer="sgd", lr=0.05, momentum=0.9, nesterov=True)),
        ("adam", dict(optimizer="adam", lr=1e-2)),
        ("sgd_clip", dict(optimizer="sgd", lr=0.5, clip_norm=0.05)),
    ):
        fit_kwargs = dict(batch_size=BATCH, epochs=2, validation_data=data(41, seed=1))
        results[name] = fit_twins(small_model, kwargs, fit_kwargs)
        if name == "sgd":
            _, model = fit_one("distributed", small_model, kwargs, fit_kwargs)
            results["evaluate"] = {
                "distributed": model.evaluate(x, y, batch_size=50, distributed=True, return_dict=True),
                "plain": model.evaluate(x, y, batch_size=50, return_dict=True),
            }

    # train_on_batch: three global batches of 57 (28 + 29 samples)
    twins = {"distributed": small_model(seed=3 * rank), "plain": small_model(seed=0)}
    steps = {mode: [] for mode in twins}
    for mode, model in twins.items():
        model.compile(optimizer="adam", lr=1e-2)
        for k in range(3):
            logs = model.train_on_batch(
                x[57 * k : 57 * (k + 1)], y[57 * k : 57 * (k + 1)], distributed=mode == "distributed"
            )
            steps[mode].append({"logs": logs, "weights": weights(model)})
    results["train_on_batch"] = steps

    # A hand-written loop: each process its own slice, averaged (weighted), clipped, stepped.
    hand, norms = {}, {}
    for mode in ("distributed", "plain"):
        model = small_model(seed=5 * rank if mode == "distributed" else 0)
        loss_fn = cnnfast.losses.get("cross_entropy")
        opt = optim.SGD(model.parameters(), lr=0.5)
        if mode == "distributed":
            opt = distributed.DistributedOptimizer(opt)
            distributed.broadcast_model(model)
        for k in range(3):
            xb, yb = x[57 * k : 57 * (k + 1)], y[57 * k : 57 * (k + 1)]
            if mode == "distributed":
                lo, hi = bounds(len(xb), rank, size)
                xb, yb = xb[lo:hi], yb[lo:hi]
            _, grad = loss_fn(model.forward(xb, training=True), yb)
            model.backward(grad)
            if mode == "distributed":
                opt.synchronize(samples=len(xb))
            norms.setdefault(mode, []).append(optim.clip_grad_norm(opt.params, 0.05))
            opt.step()
        hand[mode] = weights(model)
    hand["norms"] = norms
    results["optimizer"] = hand
    results["allreduce_mean"] = distributed.allreduce_mean(np.full(3, rank + 1.0), weight=rank + 1)
    results["threads"] = case_threads(out)
    return results


def case_stop(out):
    """A stop_training set on rank 1 only, SIGTERM on rank 1 only, EarlyStopping: all processes stop together."""
    kwargs = dict(batch_size=BATCH, epochs=3)
    compile_kwargs = dict(optimizer="sgd", lr=0.05, momentum=0.9)
    stop_at_2 = [lambda: At(2, set_stop)]  # the plain twin stops at the same batch: the same three updates
    return {
        "one_rank": fit_twins(small_model, compile_kwargs, kwargs, [lambda: At(2, set_stop, ranks={1})], stop_at_2),
        "sigterm": fit_twins(
            small_model,
            compile_kwargs,
            kwargs,
            [lambda: At(2, lambda m: os.kill(os.getpid(), signal.SIGTERM), ranks={1})],
            stop_at_2,
        ),
        "early": fit_twins(
            small_model,
            compile_kwargs,
            kwargs,
            [lambda: callbacks.EarlyStopping(monitor="loss", min_delta=10.0, patience=0)],
        ),
    }


def case_sigint(out):
    """Train long; rank 0 tells the test when to send Ctrl-C to mpiexec (which forwards it to every rank)."""
    ready = Path(out) / "ready"
    model = small_model(seed=0)
    model.compile(optimizer="sgd", lr=0.01)
    recorder = RecordSteps()
    history = model.fit(
        *data(),
        batch_size=16,
        epochs=10_000,
        verbose=0,
        distributed=True,
        callbacks=[recorder, At(3, lambda m: ready.touch(), ranks={0})],
    )
    return {
        "interrupted": history.interrupted,
        "weights": weights(model),
        "steps": len(recorder.crcs),
        "crcs": recorder.crcs,
    }


def case_batchnorm(out):
    """BatchNorm running statistics: averaged over the processes at every epoch's end, equal everywhere."""

    class LastLocal(callbacks.Callback):
        """The buffers after the last batch of each epoch, before they are averaged."""

        def __init__(self):
            super().__init__()
            self.local = []

        def on_batch_end(self, batch, logs=None):
            if batch == self.params["steps"] - 1:
                self.local.append({k: np.array(v) for k, v in self.model.named_buffers()})

    model = small_model(seed=0, batchnorm=True)
    model.compile(optimizer="sgd", lr=0.05)
    last = LastLocal()
    model.fit(*data(), batch_size=BATCH, epochs=2, verbose=0, distributed=True, callbacks=[last])
    return {
        "local": last.local[-1],
        "final": {k: np.array(v) for k, v in model.named_buffers()},
        "weights": weights(model),
    }


def case_checkpoint(out):
    """ModelCheckpoint given to every process: one file per epoch, written by rank 0, complete when fit returns."""
    log = Path(out) / "writers.log"

    class LoggedCheckpoint(callbacks.ModelCheckpoint):
        def on_epoch_end(self, epoch, logs=None):
            time.sleep(0.5)  # a slow disk: the others must still wait for the file
            super().on_epoch_end(epoch, logs)
            with open(log, "a") as f:
                f.write(f"{distributed.rank()} {epoch}\n")

    model = small_model(seed=0)
    model.compile(optimizer="sgd", lr=0.05)
    path = str(Path(out) / "ckpt-{epoch}.npz")
    model.fit(
        *data(),
        batch_size=BATCH,
        epochs=3,
        verbose=0,
        distributed=True,
        callbacks=[LoggedCheckpoint(path, monitor="loss")],
    )
    last = Path(out) / "ckpt-3.npz"
    return {"last_exists_after_fit": last.exists(), "weights": weights(model)}


def case_dropout(out):
    """Dropout and augmentation draw from a stream per process; the weights stay identical."""
    model = small_model(seed=0, dropout=True)
    model.compile(optimizer="sgd", lr=0.05)
    dropout = next(layer for layer in model if isinstance(layer, Dropout))
    first_mask = []  # the mask of the first batch (32 samples on each process)

    class Recorded(ImageDataGenerator):
        drawn = []

        def get_random_transform(self, n, image_shape, rng=None):
            params = super().get_random_transform(n, image_shape, rng)
            self.drawn.append(params["dx"])
            return params

    model.fit(
        *data(),
        batch_size=BATCH,
        epochs=1,
        verbose=0,
        distributed=True,
        augment=Recorded(width_shift_range=3, seed=0),
        callbacks=[At(0, lambda m: first_mask.append(dropout._cache.copy()))],
    )
    return {"weights": weights(model), "first_mask": first_mask[0], "first_shifts": Recorded.drawn[0]}


def case_size1(out):
    """One process through the distributed path: bit for bit a plain fit (shuffle, validation, dropout, augment)."""
    results = {}
    for mode in ("distributed", "plain"):
        model = small_model(seed=0, dropout=True)
        model.compile(optimizer="adam", lr=1e-2, clip_norm=1.0)
        recorder = RecordSteps()
        history = model.fit(
            *data(dtype=np.float32),
            batch_size=BATCH,
            epochs=2,
            validation_split=0.2,
            verbose=0,
            augment=ImageDataGenerator(width_shift_range=2, seed=1),
            callbacks=[recorder],
            distributed=mode == "distributed",
        )
        results[mode] = {"weights": weights(model), "history": history.history, "crcs": recorder.crcs}
        x, y = data(dtype=np.float32)
        results[mode]["evaluate"] = model.evaluate(x, y, distributed=mode == "distributed", return_dict=True)
    return results


def case_threads(out):
    """The kernel threads this process runs after init."""
    distributed.init()
    return {"threads": cnnfast.get_num_threads(), "affinity": len(os.sched_getaffinity(0))}


def case_mismatch(out):
    """Processes given different data, batch sizes or optimizers: every process raises the same ValueError."""
    rank = distributed.rank()
    messages = {}
    x, y = data()
    for what, change in (
        ("data", lambda: (x, (y + rank) % 4, BATCH, 0.05)),
        ("batch_size", lambda: (x, y, BATCH + rank, 0.05)),
        ("lr", lambda: (x, y, BATCH, 0.05 * (rank + 1))),
    ):
        xs, ys, batch_size, lr = change()
        model = small_model(seed=0)
        model.compile(optimizer="sgd", lr=lr)
        try:
            model.fit(xs, ys, batch_size=batch_size, epochs=1, verbose=0, distributed=True)
            messages[what] = None
        except ValueError as error:
            messages[what] = str(error)
    model = small_model(seed=0)
    model.compile(optimizer="sgd", lr=0.05)
    try:
        model.fit(x, y, batch_size=1, epochs=1, verbose=0, distributed=True)
        messages["tiny_batch"] = None
    except ValueError as error:
        messages["tiny_batch"] = str(error)
    return messages


# ---------------------------------------------------- failures (no results)


def fit_until_rank_1_fails(failure):
    """A long distributed fit in which rank 1 calls ``failure`` at its third batch."""
    model = small_model(seed=0)
    model.compile(optimizer="sgd", lr=0.05)
    failing = At(2, lambda m: failure(), ranks={1})
    model.fit(*data(), batch_size=16, epochs=100, verbose=0, distributed=True, callbacks=[failing])


def case_raise(out):
    """Rank 1 raises in the middle of fit: the job must end, non-zero, naming rank 1."""

    def boom():
        raise RuntimeError("boom on purpose")

    fit_until_rank_1_fails(boom)


def case_raise_outside(out):
    """Rank 1 raises in the user's code while rank 0 already waits in fit."""
    if distributed.rank() == 1:
        raise RuntimeError("boom before fit, on purpose")
    model = small_model(seed=0)
    model.compile(optimizer="sgd", lr=0.05)
    model.fit(*data(), batch_size=16, epochs=100, verbose=0, distributed=True)


def case_raise_before_mpi(out):
    """Rank 1 fails before MPI starts; rank 0 waits in MPI_Init (for ever under MPICH's mpiexec, but for timeout)."""
    rank = next(os.environ[v] for v in ("PMI_RANK", "OMPI_COMM_WORLD_RANK", "PMIX_RANK") if v in os.environ)
    if rank == "1":
        raise RuntimeError("boom before MPI, on purpose")
    distributed.init(timeout=3.0)


def case_kill(out):
    """Rank 1 is killed (SIGKILL) in the middle of fit."""
    fit_until_rank_1_fails(lambda: os.kill(os.getpid(), signal.SIGKILL))


def case_stuck(out):
    """Rank 1 hangs in a callback: the watchdog (timeout 2 s) must end the job, naming rank 1."""
    distributed.init(timeout=2.0)
    fit_until_rank_1_fails(lambda: time.sleep(3600))


def main():
    case, out = sys.argv[1], sys.argv[2]
    result = globals()[f"case_{case}"](out)
    if result is not None:
        with open(Path(out) / f"{case}.rank{distributed.rank()}.pkl", "wb") as f:
            pickle.dump(result, f)


if __name__ == "__main__":
    main()
