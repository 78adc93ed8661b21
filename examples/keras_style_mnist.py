"""A Keras-style CNN on MNIST digits: Sequential, fit with a progress bar, augmentation.

    python examples/keras_style_mnist.py [--epochs 8] [--data DIR] [--max-batches N]

Uses the MNIST subset shipped with cnnfast (10,000 training, 2,000 test images)
unless --data points at the full IDX files.
"""

import argparse

import cnnfast
from cnnfast import layers as L
from cnnfast.datasets import ImageDataGenerator, load_mnist, load_mnist_subset


def build_model():
    return cnnfast.Sequential([
        L.Conv2D(32, 3, padding="same"), L.PReLU(),
        L.MaxPool2D(2),
        L.Conv2D(64, 3, padding="same"), L.PReLU(),
        L.MaxPool2D(2),
        L.Flatten(),
        L.Dense(128), L.PReLU(),
        L.Dropout(0.5),
        L.Dense(10),
    ], input_shape=(1, 28, 28), seed=0)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--data", help="directory of the MNIST IDX .gz files")
    parser.add_argument("--max-batches", type=int, help="train on this many batches only (a smoke test)")
    args = parser.parse_args()

    (x_train, y_train), (x_test, y_test) = load_mnist(args.data) if args.data else load_mnist_subset()
    # uint8 (N, 28, 28) -> float32 (N, 1, 28, 28) in [0, 1]
    x_train = x_train[:, None].astype("float32") / 255.0
    x_test = x_test[:, None].astype("float32") / 255.0
    if args.max_batches:
        x_train, y_train = x_train[:args.max_batches * 128], y_train[:args.max_batches * 128]

    model = build_model()
    model.compile(optimizer="sgd", lr=0.05, momentum=0.9, nesterov=True, loss="cross_entropy")
    model.summary()
    augment = ImageDataGenerator(width_shift_range=2, height_shift_range=2, rotation_range=8, seed=0)
    model.fit(x_train, y_train, batch_size=128, epochs=args.epochs, shuffle=True, validation_split=0.1,
              verbose=1, augment=augment)
    loss, accuracy = model.evaluate(x_test, y_test)
    print(f"test loss {loss:.4f}, test accuracy {100 * accuracy:.2f}%")


if __name__ == "__main__":
    main()
