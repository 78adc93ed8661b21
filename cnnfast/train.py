"""``cnnfast train``: train LeNet-5 on MNIST-style digits and report test accuracy.

:data:`DESCRIPTION` is what ``cnnfast train --help`` prints (and what the
README quotes): the commands, the result of the default run, what ``--save``
writes and what Ctrl-C does.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import sys
import time

import numpy as np

from . import models
from .callbacks import Callback, LearningRateScheduler, TerminateOnNaN
from .models import MNIST_MEAN, MNIST_STD

DATASETS = ("bundled", "mnist", "fashion-mnist")
OPTIMIZERS = ("sgd", "adam", "adamw", "rmsprop", "adagrad", "adadelta")
#: The exit status after Ctrl-C, as a shell reports a process ended by SIGINT (128 + 2).
INTERRUPTED = 130

DESCRIPTION = """\
Train LeNet-5 on MNIST digits and report the test accuracy.

  cnnfast train                             the bundled 10,000 + 2,000 MNIST images, offline
  cnnfast train --dataset mnist --data DIR  the full MNIST IDX files in DIR (--download fetches them)

The defaults (12 epochs, batch 64, Nesterov SGD with lr 0.05 on a cosine
schedule, seed 0) give 97.90% test accuracy on the bundled subset, at any
thread count; on the full MNIST set the test error is at most 1.2%.  The
last line reads, for example:

  test accuracy: 97.90% (2000 images) | 14700 images/s train

(images/s: every training image of every epoch over the whole training time).

--save PATH writes a model that takes MNIST digits as loaded, shape
(N, 28, 28), scaled to [0, 1]: cnnfast.load_model(PATH).predict(x / 255)
gives the logits.  It is saved before the test set is evaluated.

Ctrl-C stops training after the running batch, says so on stderr (also with
--quiet), saves the model to PATH.partial.npz rather than PATH (a finished
model is never impersonated), evaluates it and exits with status 130; a
second Ctrl-C stops at once.  A loss that becomes NaN or infinite stops
training with an error (status 1) and saves nothing.
"""


def prepare_images(images, pad=2):
    """Turn uint8 digits into LeNet-5 inputs: padded to 32 x 32 and normalised.

    What the first layers of ``models.lenet5(mnist_input=True)`` (the model
    ``cnnfast train`` saves) do inside the model; for a ``models.lenet5()``
    that takes 1 x 32 x 32 inputs.  Pixels are scaled to [0, 1] and
    standardised with MNIST's training mean and standard deviation (the
    padding is the background value).

    Parameters
    ----------
    images : array, shape (N, 28, 28)
    pad : int

    Returns
    -------
    ndarray, shape (N, 1, 28 + 2 pad, 28 + 2 pad), float32
    """
    images = np.asarray(images)
    if images.ndim != 3:
        raise ValueError(f"images must be (N, H, W), got shape {images.shape}")
    x = images.astype(np.float32) / 255.0
    x = (x - MNIST_MEAN) / MNIST_STD
    background = (0.0 - MNIST_MEAN) / MNIST_STD
    x = np.pad(x, ((0, 0), (pad, pad), (pad, pad)), constant_values=background)
    return np.ascontiguousarray(x[:, None, :, :], dtype=np.float32)


def load(dataset, data_dir=None, download=False):
    """A data set as the saved model takes it: float32 (N, 28, 28) in [0, 1], int64 labels.

    Parameters
    ----------
    dataset : {"bundled", "mnist", "fashion-mnist"}
    data_dir : str or path, optional
    download : bool

    Returns
    -------
    ((x_train, y_train), (x_test, y_test))
    """
    from . import datasets

    if dataset == "bundled":
        (x_train, y_train), (x_test, y_test) = datasets.load_mnist_subset()
    elif dataset == "mnist":
        (x_train, y_train), (x_test, y_test) = datasets.load_mnist(data_dir, download=download)
    else:
        (x_train, y_train), (x_test, y_test) = datasets.load_fashion_mnist(data_dir, download=download)
    return ((_scaled(x_train), y_train.astype(np.int64)), (_scaled(x_test), y_test.astype(np.int64)))


def _scaled(images):
    return np.asarray(images, dtype=np.float32) / np.float32(255.0)


def partial_path(path):
    """Where an interrupted run saves instead of ``path``: ``m.npz`` -> ``m.partial.npz``."""
    root, suffix = os.path.splitext(os.fspath(path))
    return f"{root}.partial{suffix or '.npz'}"


# ------------------------------------------------------------------ options


def _whole(minimum):
    def parse(text):
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be an integer >= {minimum}, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be an integer >= {minimum}, got {text!r}")
        return value

    return parse


def _learning_rate(text):
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number > 0, got {text!r}") from None
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"must be a finite number > 0, got {text!r}")
    return value


def _positive_seconds(text):
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number of seconds > 0, got {text!r}") from None
    if not value > 0:  # inf turns the watchdog off
        raise argparse.ArgumentTypeError(f"must be a number of seconds > 0, got {text!r}")
    return value


def _save_path(text):
    from .serialization import check_suffix

    try:
        return check_suffix(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def add_arguments(parser):
    """Add the ``train`` command's options to ``parser`` (an argparse parser)."""
    parser.add_argument("--dataset", choices=DATASETS, default=None,
                        help="bundled (10,000 + 2,000 MNIST images shipped with cnnfast; the default without "
                             "--data), mnist (the default with --data) or fashion-mnist")
    parser.add_argument("--data", metavar="DIR", help="directory of the IDX .gz files "
                        "(default: $CNNFAST_DATA, else ~/.cache/cnnfast)")
    parser.add_argument("--download", action="store_true", help="fetch missing files (checksums verified)")
    parser.add_argument("--epochs", type=_whole(1), default=12, metavar="N", help="training epochs (default 12)")
    parser.add_argument("--batch-size", type=_whole(1), default=64, metavar="B", help="images per step (default 64)")
    parser.add_argument("--optimizer", choices=OPTIMIZERS, default="sgd",
                        help="sgd is Nesterov momentum 0.9 (default)")
    parser.add_argument("--lr", type=_learning_rate, default=None,
                        help="initial learning rate (default 0.05 for sgd, 0.001 otherwise); "
                             "it follows a cosine schedule to zero over the epochs")
    parser.add_argument("--classic", action="store_true",
                        help="LeCun et al. 1998 LeNet-5: trainable subsampling and scaled tanh")
    parser.add_argument("--threads", type=_whole(1), default=None, metavar="N",
                        help="kernel threads (default: OMP_NUM_THREADS or all cores); results do not depend on it")
    parser.add_argument("--seed", type=_whole(0), default=0, metavar="S",
                        help="of the initial weights and the shuffling (default 0)")
    parser.add_argument("--save", metavar="PATH", type=_save_path,
                        help="save the trained model here (.npz); it takes (N, 28, 28) digits scaled to [0, 1]")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    parser.add_argument("--distributed", action="store_true",
                        help="train data-parallel with the other processes of an MPI job (launch as mpiexec -n N "
                             "cnnfast train --distributed; needs cnnfast[mpi]); --batch-size is the global batch, "
                             "each process takes its share of the node's cores; rank 0 prints and saves")
    parser.add_argument("--timeout", type=_positive_seconds, default=None, metavar="SECONDS",
                        help="with --distributed: end the job when a process makes no progress for this long "
                             "(default 1800)")


# --------------------------------------------------------------------- run


def main(args, argv=None):
    """Run ``cnnfast train``.

    Parameters
    ----------
    args : argparse.Namespace
        From the parser :func:`add_arguments` filled.
    argv : list of str, optional
        The command line (unused here).

    Returns
    -------
    int
        The exit status: 0, 1 (missing data, a NaN loss), 2 (a bad setting),
        130 (Ctrl-C).
    """
    try:
        return _train_distributed(args) if args.distributed else _train(args)
    except KeyboardInterrupt:  # outside fit (loading, saving, evaluating), or a second Ctrl-C during it
        print("cnnfast train: interrupted (Ctrl-C)", file=sys.stderr, flush=True)
        return INTERRUPTED


def _train_distributed(args):
    """``--distributed``: join the MPI job, then train; rank 0 alone prints.

    Joining comes first, so that a failure anywhere from here on ends every
    process.  The standard output of the other ranks is discarded; errors
    still reach stderr from the rank that has them.
    """
    from . import distributed

    distributed.init(timeout=args.timeout)
    if distributed.is_primary():
        return _train(args)
    with open(os.devnull, "w") as devnull, contextlib.redirect_stdout(devnull):
        return _train(args)


def _train(args):
    import cnnfast

    if args.threads is not None:
        try:
            cnnfast.set_num_threads(args.threads)
        except (TypeError, ValueError) as error:
            print(f"cnnfast train: --threads {args.threads}: {error}", file=sys.stderr)
            return 2
    dataset = args.dataset or ("mnist" if args.data else "bundled")
    try:
        (x_train, y_train), (x_test, y_test) = load(dataset, args.data, args.download)
    except FileNotFoundError as error:
        print(_missing_data_message(error, dataset), file=sys.stderr)
        return 1
    except (OSError, ValueError) as error:
        print(f"cnnfast train: {error}", file=sys.stderr)
        return 1
    lr = args.lr if args.lr is not None else (0.05 if args.optimizer == "sgd" else 0.001)
    optimizer_options = {"momentum": 0.9, "nesterov": True} if args.optimizer == "sgd" else {}
    model = models.lenet5(classic=args.classic, seed=args.seed, mnist_input=True)
    model.compile(optimizer=args.optimizer, loss="cross_entropy", lr=lr, **optimizer_options)
    print(f"LeNet-5{' (classic)' if args.classic else ''} on {dataset}: {len(x_train)} training, "
          f"{len(x_test)} test images; {args.optimizer} lr {lr:g} (cosine), batch {args.batch_size}, "
          f"{args.epochs} epochs, {_workers(args, cnnfast)}", flush=True)
    schedule = LearningRateScheduler(lambda epoch, _: lr * 0.5 * (1.0 + np.cos(np.pi * epoch / args.epochs)))
    terminate = TerminateOnNaN(verbose=0)
    counter = _ImagesTrained()
    start = time.perf_counter()
    history = model.fit(x_train, y_train, batch_size=args.batch_size, epochs=args.epochs, shuffle=True,
                        verbose=0 if args.quiet else 1, callbacks=[schedule, terminate, counter],
                        distributed=args.distributed)
    seconds = time.perf_counter() - start
    if terminate.stopped_epoch is not None:
        print(f"cnnfast train: the training loss became {terminate.loss} in epoch {terminate.stopped_epoch + 1}, "
              f"batch {terminate.stopped_batch + 1}; training stopped and nothing was saved.  Try a lower --lr "
              f"(it was {lr:g})", file=sys.stderr)
        return 1
    if history.interrupted:
        print(f"cnnfast train: interrupted (Ctrl-C) after {len(history.epoch)} of {args.epochs} epochs and "
              f"{counter.images} images; the model keeps the last completed batch", file=sys.stderr, flush=True)
    # Before evaluating: a Ctrl-C during the evaluation loses nothing.  Distributed: rank 0 writes.
    if args.save and (not args.distributed or cnnfast.distributed.is_primary()):
        path = partial_path(args.save) if history.interrupted else args.save
        model.save(path)
        if history.interrupted:
            print(f"cnnfast train: saved the partial model to {path} (not {args.save})", file=sys.stderr,
                  flush=True)
        else:
            print(f"saved to {path}", flush=True)
    loss, accuracy = model.evaluate(x_test, y_test, batch_size=256, distributed=args.distributed)
    images_per_second = counter.images / seconds if seconds > 0 else 0.0
    print(f"trained {counter.images} images in {seconds:.1f} s; test loss {loss:.4f}, "
          f"test error {100 * (1 - accuracy):.2f}%")
    print(f"test accuracy: {100 * accuracy:.2f}% ({len(x_test)} images) | {images_per_second:.0f} images/s train",
          flush=True)
    return INTERRUPTED if history.interrupted else 0


def _workers(args, cnnfast):
    """"N thread(s)", or with --distributed "P processes x N thread(s)" (images/s are then the whole job's)."""
    threads = f"{cnnfast.get_num_threads()} thread(s)"
    if not args.distributed:
        return threads
    return f"{cnnfast.distributed.size()} processes x {threads} (images/s: all processes)"


def _missing_data_message(error, dataset):
    """The data set's files are not there: say which, where it looked, and which option fixes it."""
    missing = getattr(error, "missing", None)
    if missing is None:
        return f"cnnfast train: {error}"
    looked = "\n  ".join(str(p) for p in error.looked)
    return (f"cnnfast train: the {dataset} file {missing!r} is not in any of:\n  {looked}\n"
            f"Run again with --download to fetch the files into {error.download_dir} (checksums verified), "
            f"or give --data DIR, the directory that holds them (or set $CNNFAST_DATA).  Without --data and "
            f"--dataset, cnnfast train uses the bundled subset.")


class _ImagesTrained(Callback):
    """Counts the images of every training step (for images/s: all of them over the whole time)."""

    def __init__(self):
        super().__init__()
        self.images = 0

    def on_train_batch_end(self, batch, logs=None):
        """Add the batch's size."""
        self.images += int((logs or {}).get("size", 0))
