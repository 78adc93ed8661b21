"""``cnnfast train``: LeNet-5 on the bundled subset, and (slow, opt-in) on full MNIST."""

import re
import time

import numpy as np
import pytest
from shared_data import SHARED_DATA

import cnnfast
from cnnfast.cli import main
from cnnfast.train import prepare_images

SHARED_MNIST = SHARED_DATA / "mnist"
LAST_LINE = re.compile(r"^test accuracy: (\d+\.\d\d)% \((\d+) images\) \| (\d+) images/s train$")


def run_train(argv, capsys):
    status = main(["train", "--quiet"] + argv)
    out = capsys.readouterr().out
    match = LAST_LINE.match(out.strip().splitlines()[-1])
    assert status == 0 and match, out
    return float(match.group(1)), int(match.group(2)), out


def test_lenet5_reaches_95_percent_on_the_bundled_subset(tmp_path, capsys):
    saved = tmp_path / "lenet5.npz"
    accuracy, images, _ = run_train(["--epochs", "3", "--save", str(saved)], capsys)
    assert images == 2000
    assert accuracy >= 95.0
    model = cnnfast.load_model(saved)
    (_, _), (x_test, y_test) = cnnfast.datasets.load_mnist_subset()
    logits = model.predict(prepare_images(x_test))
    assert np.mean(logits.argmax(axis=1) == y_test) * 100 == pytest.approx(accuracy, abs=0.01)


def test_prepare_images_pads_to_32_and_standardises():
    x = prepare_images(np.zeros((2, 28, 28), np.uint8))
    assert x.shape == (2, 1, 32, 32) and x.dtype == np.float32
    assert np.allclose(x, -0.1307 / 0.3081)  # background everywhere, padding included
    with pytest.raises(ValueError, match="shape"):
        prepare_images(np.zeros((28, 28), np.uint8))


def test_missing_data_is_a_clear_error(tmp_path, capsys):
    assert main(["train", "--quiet", "--data", str(tmp_path)]) == 1
    assert str(tmp_path) in capsys.readouterr().err


@pytest.mark.slow
@pytest.mark.skipif(not SHARED_MNIST.exists(), reason=f"full MNIST not present in {SHARED_MNIST}")
def test_lenet5_full_mnist_test_error_at_most_1_2_percent(capsys):
    start = time.perf_counter()
    accuracy, images, out = run_train(["--dataset", "mnist", "--data", str(SHARED_MNIST)], capsys)
    print(out.strip().splitlines()[-1], f"({time.perf_counter() - start:.0f} s)")
    assert images == 10000
    assert 100.0 - accuracy <= 1.2
