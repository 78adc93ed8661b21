"""End to end, as a Keras user writes it: the issue-15 seed's script, in its Keras spelling, on the bundled MNIST.

A softmax output with ``categorical_crossentropy`` on one-hot labels, Nesterov
SGD made without parameters, ``fit(x, y, batch_size=100, ...,
validation_split=0.2)``, then an ``ImageDataGenerator`` fitted on the data and
passed through ``flow`` (with Keras's ``subset=`` hold-out), ``loss, acc =
evaluate(...)``, ``save``/``load_model`` and probabilities from ``predict``.
Before issue 15 this script trained through a second softmax inside the loss
(several points of accuracy lost, silently) and ``evaluate`` unpacked into the
strings ``'loss', 'accuracy'``.
"""

import numpy as np
import pytest

import cnnfast
from cnnfast.datasets import ImageDataGenerator, load_mnist_subset
from cnnfast.layers import Activation, Convolution2D, Dense, Flatten, MaxPooling2D
from cnnfast.models import Sequential  # where Keras 2 has it (keras.models.Sequential)
from cnnfast.optim import SGD
from cnnfast.utils import to_categorical


def keras_seed_model():
    model = Sequential()
    model.add(Convolution2D(8, (5, 5), padding="same", input_shape=(1, 28, 28)))
    model.add(Activation("tanh"))
    model.add(MaxPooling2D(pool_size=(2, 2)))
    model.add(Convolution2D(16, (5, 5)))
    model.add(Activation("tanh"))
    model.add(MaxPooling2D(pool_size=(2, 2)))
    model.add(Flatten())
    model.add(Dense(64))
    model.add(Activation("tanh"))
    model.add(Dense(10))
    model.add(Activation("softmax"))
    return model


def test_the_keras_seed_script_reaches_95_percent(tmp_path):
    (x_train, y_train), (x_test, y_test) = load_mnist_subset()
    data = x_train.reshape(-1, 1, 28, 28).astype("float32") / 255
    label = to_categorical(y_train, 10)
    test_data = x_test.reshape(-1, 1, 28, 28).astype("float32") / 255
    test_label = to_categorical(y_test, 10)

    model = keras_seed_model()
    sgd = SGD(learning_rate=0.05, momentum=0.9, nesterov=True)
    model.compile(loss="categorical_crossentropy", optimizer=sgd, metrics=["accuracy"])
    history = model.fit(data, label, batch_size=100, epochs=2, shuffle=True, verbose=0, validation_split=0.2)
    assert len(history.history["val_accuracy"]) == 2 and history.history["val_accuracy"][-1] > 0.9

    datagen = ImageDataGenerator(
        featurewise_center=True,
        featurewise_std_normalization=True,
        width_shift_range=1,
        height_shift_range=1,
        validation_split=0.2,
        seed=0,
    )
    datagen.fit(data)
    model.fit(
        datagen.flow(data, label, batch_size=100, subset="training"),
        epochs=2,
        verbose=0,
        validation_data=datagen.flow(data, label, batch_size=100, subset="validation"),
    )

    loss, acc = model.evaluate(datagen.standardize(test_data), test_label, verbose=0)
    assert acc >= 0.95, acc
    assert 0 < loss < 0.25

    probabilities = model.predict(datagen.standardize(test_data[:8]))  # the softmax output, as in Keras
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)
    assert (probabilities >= 0).all()

    model.save(tmp_path / "seed.npz")
    restored = cnnfast.load_model(tmp_path / "seed.npz")  # compiled: evaluate works at once
    assert restored.evaluate(datagen.standardize(test_data), test_label, verbose=0) == pytest.approx([loss, acc])
    with pytest.raises(ValueError, match="cnnfast writes one format"):
        model.save(tmp_path / "seed.h5")
