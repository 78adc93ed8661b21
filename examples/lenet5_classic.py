"""LeNet-5 as LeCun et al. (1998) built it: trainable subsampling, scaled tanh.

    python examples/lenet5_classic.py [--epochs 10] [--data DIR] [--max-batches N]

The 28x28 digits are padded to 32x32, as in the paper.  Adadelta needs no
learning-rate tuning; the model is saved and loaded back at the end.
"""

import argparse
import os
import tempfile

import numpy as np

import cnnfast
from cnnfast.datasets import load_mnist, load_mnist_subset
from cnnfast.train import prepare_images


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--data", help="directory of the MNIST IDX .gz files")
    parser.add_argument("--max-batches", type=int, help="train on this many batches only (a smoke test)")
    args = parser.parse_args()

    (x_train, y_train), (x_test, y_test) = load_mnist(args.data) if args.data else load_mnist_subset()
    x_train, x_test = prepare_images(x_train), prepare_images(x_test)  # (N, 1, 32, 32), standardised
    if args.max_batches:
        x_train, y_train = x_train[:args.max_batches * 32], y_train[:args.max_batches * 32]

    model = cnnfast.models.lenet5(classic=True, seed=0)
    model.compile(optimizer="adadelta", loss="cross_entropy")
    model.summary()
    model.fit(x_train, y_train, batch_size=32, epochs=args.epochs, verbose=1)
    _, accuracy = model.evaluate(x_test, y_test)
    print(f"test accuracy: {100 * accuracy:.2f}%")

    path = os.path.join(tempfile.mkdtemp(), "lenet5_classic.npz")
    model.save(path)
    restored = cnnfast.load_model(path)
    assert np.array_equal(restored.predict(x_test[:100]), model.predict(x_test[:100]))
    print(f"saved to {path} and loaded back: identical predictions")


if __name__ == "__main__":
    main()
