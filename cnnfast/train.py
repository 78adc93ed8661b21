"""``cnnfast train``: train LeNet-5 on MNIST-style digits and report test accuracy.

    cnnfast train                      # the bundled 10,000 + 2,000 MNIST subset, offline
    cnnfast train --dataset mnist --data DIR [--epochs N] [--batch-size B] [--lr LR]
                  [--optimizer sgd|adam|...] [--threads N] [--save PATH] [--classic]
    mpiexec -n 2 cnnfast train --distributed [--timeout SECONDS]   # data-parallel over MPI processes

The defaults reach >= 97% test accuracy on the bundled subset in well under a
minute on 2 cores, and <= 1.2% test error on the full MNIST set.  The last line
reads ``test accuracy: 98.40% (2000 images) | 6100 images/s train``.
"""

from __future__ import annotations

import sys
import time

import numpy as np

DATASETS = ("bundled", "mnist", "fashion-mnist")
OPTIMIZERS = ("sgd", "adam", "adamw", "rmsprop", "adagrad", "adadelta")
#: Mean and standard deviation of MNIST's training pixels (scaled to [0, 1]).
MNIST_MEAN, MNIST_STD = 0.1307, 0.3081


def prepare_images(images, pad=2):
    """Turn uint8 digits into LeNet-5 inputs: padded to 32 x 32 and normalised.

    LeNet-5 was designed for 32x32 inputs: MNIST's 28x28 digits padded by 2 on
    each side.  Pixels are scaled to [0, 1] and standardised with MNIST's
    training mean and standard deviation (the padding is the background value).

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
    """A data set as LeNet-5 inputs and int64 labels.

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
    return ((prepare_images(x_train), y_train.astype(np.int64)),
            (prepare_images(x_test), y_test.astype(np.int64)))


def add_arguments(parser):
    """Add the ``train`` command's options to ``parser`` (an argparse parser)."""
    parser.add_argument("--dataset", choices=DATASETS, default=None,
                        help="bundled (10,000 + 2,000 MNIST images shipped with cnnfast; the default without "
                             "--data), mnist (the default with --data) or fashion-mnist")
    parser.add_argument("--data", metavar="DIR", help="directory of the IDX .gz files "
                        "(default: $CNNFAST_DATA, else ~/.cache/cnnfast)")
    parser.add_argument("--download", action="store_true", help="fetch missing files (checksums verified)")
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--optimizer", choices=OPTIMIZERS, default="sgd",
                        help="sgd is Nesterov momentum 0.9 (default)")
    parser.add_argument("--lr", type=float, default=None,
                        help="initial learning rate (default 0.05 for sgd, 0.001 otherwise); "
                             "it follows a cosine schedule to zero over the epochs")
    parser.add_argument("--classic", action="store_true",
                        help="LeCun et al. 1998 LeNet-5: trainable subsampling and scaled tanh")
    parser.add_argument("--threads", type=int, default=None, help="kernel threads (default: OMP_NUM_THREADS "
                        "or all cores)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--save", metavar="PATH", help="save the trained model here (.npz)")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    parser.add_argument("--distributed", action="store_true",
                        help="train data-parallel with the other processes of an MPI job (launch as mpiexec -n N "
                             "cnnfast train --distributed; needs cnnfast[mpi]); --batch-size is the global batch, "
                             "each process takes its share of the node's cores; rank 0 prints and saves")
    parser.add_argument("--timeout", type=float, default=None, metavar="SECONDS",
                        help="with --distributed: end the job when a process makes no progress for this long "
                             "(default 1800)")


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
        The exit status.
    """
    import cnnfast

    from . import callbacks, models

    # Distributed: join the job first, so that a failure anywhere from here on ends every process.
    say = _join(args) if args.distributed else print
    if args.epochs < 1 or args.batch_size < 1:
        say("cnnfast train: --epochs and --batch-size must be >= 1", file=sys.stderr)
        return 2
    if args.threads is not None:
        cnnfast.set_num_threads(args.threads)
    dataset = args.dataset or ("mnist" if args.data else "bundled")
    try:
        (x_train, y_train), (x_test, y_test) = load(dataset, args.data, args.download)
    except (FileNotFoundError, ValueError) as error:
        say(f"cnnfast train: {error}", file=sys.stderr)
        return 1
    lr = args.lr if args.lr is not None else (0.05 if args.optimizer == "sgd" else 0.001)
    optimizer_options = {"momentum": 0.9, "nesterov": True} if args.optimizer == "sgd" else {}
    model = models.lenet5(classic=args.classic, seed=args.seed)
    model.compile(optimizer=args.optimizer, loss="cross_entropy", lr=lr, **optimizer_options)
    say(f"LeNet-5{' (classic)' if args.classic else ''} on {dataset}: {len(x_train)} training, "
        f"{len(x_test)} test images; {args.optimizer} lr {lr:g} (cosine), batch {args.batch_size}, "
        f"{args.epochs} epochs, {_workers(args, cnnfast)}")
    schedule = callbacks.LearningRateScheduler(
        lambda epoch, _: lr * 0.5 * (1.0 + np.cos(np.pi * epoch / args.epochs)))
    start = time.perf_counter()
    history = model.fit(x_train, y_train, epochs=args.epochs, batch_size=args.batch_size, shuffle=True,
                        callbacks=[schedule], verbose=0 if args.quiet else 1, distributed=args.distributed)
    seconds = time.perf_counter() - start
    result = model.evaluate(x_test, y_test, batch_size=256, distributed=args.distributed)
    if args.save and (not args.distributed or cnnfast.distributed.is_primary()):
        model.save(args.save)
        say(f"saved to {args.save}")
    images_per_second = float(np.median(history.history["images_per_sec"]))
    say(f"trained in {seconds:.1f} s; test loss {result['loss']:.4f}, "
        f"test error {100 * (1 - result['accuracy']):.2f}%")
    say(f"test accuracy: {100 * result['accuracy']:.2f}% ({len(x_test)} images) | "
        f"{images_per_second:.0f} images/s train")
    return 0


def _join(args):
    """``--distributed``: join the MPI job; the function that prints (on rank 0 only)."""
    from . import distributed

    distributed.init(timeout=args.timeout)
    return print if distributed.is_primary() else (lambda *args, **kwargs: None)


def _workers(args, cnnfast):
    """"N thread(s)", or with --distributed "P processes x N thread(s)" (images/s are then the whole job's)."""
    threads = f"{cnnfast.get_num_threads()} thread(s)"
    if not args.distributed:
        return threads
    return f"{cnnfast.distributed.size()} processes x {threads} (images/s: all processes)"

