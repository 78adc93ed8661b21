"""``cnnfast train``: LeNet-5 on the bundled subset, the command line's behaviour, and (slow, opt-in) full MNIST."""

import os
import re
import signal
import time
from pathlib import Path

import numpy as np
import pytest
from shared_data import SHARED_DATA

import cnnfast
from cnnfast import train
from cnnfast.cli import build_parser, main
from cnnfast.train import DESCRIPTION, prepare_images

SHARED_MNIST = SHARED_DATA / "mnist"
README = Path(__file__).resolve().parents[1] / "README.md"
LAST_LINE = re.compile(r"^test accuracy: (\d+\.\d\d)% \((\d+) images\) \| (\d+) images/s train$")
TRAINED = re.compile(r"^trained (\d+) images in (\d+\.\d) s;", re.MULTILINE)
#: The result of the default run, as --help quotes it.
QUOTED = re.compile(r"test accuracy: (\d+\.\d\d)% \(2000 images\)")


def run_train(argv, capsys, status=0):
    code = main(["train", "--quiet"] + argv)
    captured = capsys.readouterr()
    assert code == status, captured.out + captured.err
    match = LAST_LINE.match(captured.out.strip().splitlines()[-1])
    assert match, captured.out
    return float(match.group(1)), int(match.group(2)), captured


def test_the_default_run_gives_the_quoted_accuracy_and_saves_a_model_for_raw_digits(tmp_path, capsys):
    """The defaults (12 epochs) give what --help and the README say, and the saved model takes x / 255."""
    saved = tmp_path / "lenet5.npz"
    accuracy, images, captured = run_train(["--save", str(saved)], capsys)
    quoted = float(QUOTED.search(DESCRIPTION).group(1))
    assert images == 2000
    # The run is deterministic (any thread count); the margin covers another CPU's rounding.
    assert accuracy == pytest.approx(quoted, abs=0.3)
    model = cnnfast.load_model(saved)
    (_, _), (x_test, y_test) = cnnfast.datasets.load_mnist_subset()
    logits = model.predict(x_test.astype(np.float32) / 255)  # raw (N, 28, 28) digits, as the issue asks
    assert np.mean(logits.argmax(axis=1) == y_test) * 100 == pytest.approx(accuracy, abs=0.01)
    assert model.evaluate(x_test.astype(np.float32) / 255, y_test.astype(np.int64))[1] * 100 == pytest.approx(
        accuracy, abs=0.01
    )  # load_model restored the compiled loss and metrics
    # images/s is every image trained over the whole time (not the median of the epochs).
    trained, seconds = TRAINED.search(captured.out).groups()
    assert int(trained) == 12 * 10000


def test_readme_quotes_the_same_result_as_help():
    if not README.exists():
        pytest.skip("README.md is not beside the tests (testing an installed wheel)")
    assert QUOTED.search(README.read_text()).group(1) == QUOTED.search(DESCRIPTION).group(1)


def test_prepare_images_pads_to_32_and_standardises():
    x = prepare_images(np.zeros((2, 28, 28), np.uint8))
    assert x.shape == (2, 1, 32, 32) and x.dtype == np.float32
    assert np.allclose(x, -0.1307 / 0.3081)  # background everywhere, padding included
    with pytest.raises(ValueError, match="shape"):
        prepare_images(np.zeros((28, 28), np.uint8))


def test_the_saved_model_prepares_digits_as_prepare_images():
    """lenet5(mnist_input=True) on x / 255 == lenet5() on prepare_images(x): same weights, same logits."""
    (x, _), _ = cnnfast.datasets.load_mnist_subset()
    x = x[:16]
    inside, outside = cnnfast.models.lenet5(mnist_input=True), cnnfast.models.lenet5()
    outside.set_weights(inside.get_weights())
    np.testing.assert_allclose(
        inside.predict(x.astype(np.float32) / 255), outside.predict(prepare_images(x)), rtol=1e-5, atol=1e-5
    )


# ------------------------------------------------------- the command line, on a small slice of the data


@pytest.fixture
def small_data(monkeypatch):
    """cnnfast train on 640 training and 200 test images (the command's behaviour, not its accuracy)."""
    (x_train, y_train), (x_test, y_test) = train.load("bundled")
    data = {"train": (x_train[:640], y_train[:640]), "test": (x_test[:200], y_test[:200])}
    monkeypatch.setattr(train, "load", lambda *args: (data["train"], data["test"]))
    return data


def interrupt_at(monkeypatch, batch):
    """Send this process a real SIGINT (Ctrl-C) after training batch ``batch`` of the first epoch."""
    count = train._ImagesTrained.on_train_batch_end

    def on_train_batch_end(self, index, logs=None):
        count(self, index, logs)
        if self.images == (batch + 1) * 64:
            os.kill(os.getpid(), signal.SIGINT)

    monkeypatch.setattr(train._ImagesTrained, "on_train_batch_end", on_train_batch_end)


def test_images_per_second_is_all_images_over_all_the_time(small_data, capsys):
    _, _, captured = run_train(["--epochs", "2"], capsys)
    trained, seconds = TRAINED.search(captured.out).groups()
    assert int(trained) == 2 * 640
    rate = int(LAST_LINE.match(captured.out.strip().splitlines()[-1]).group(3))
    seconds = float(seconds)  # printed to 0.1 s: the rate lies between the rounding's two ends
    assert int(trained) / (seconds + 0.05) - 1 <= rate <= int(trained) / max(seconds - 0.05, 1e-3) + 1


def test_ctrl_c_says_so_saves_a_marked_partial_model_and_exits_130(small_data, tmp_path, capsys, monkeypatch):
    interrupt_at(monkeypatch, batch=2)
    saved = tmp_path / "m.npz"
    _, images, captured = run_train(["--epochs", "3", "--save", str(saved)], capsys, status=130)
    assert "interrupted (Ctrl-C)" in captured.err  # on stderr, with --quiet
    assert not saved.exists()  # never a partial model under the finished name
    partial = tmp_path / "m.partial.npz"
    assert str(partial) in captured.err
    model = cnnfast.load_model(partial)  # the model of the last completed batch, usable
    assert model.predict(small_data["test"][0][:4]).shape == (4, 10)
    assert images == 200  # and it was evaluated


def test_a_second_ctrl_c_during_evaluation_loses_nothing(small_data, tmp_path, capsys, monkeypatch):
    interrupt_at(monkeypatch, batch=1)

    def evaluate(*args, **kwargs):
        raise KeyboardInterrupt  # the second Ctrl-C, while the test set is evaluated

    monkeypatch.setattr(cnnfast.Sequential, "evaluate", evaluate)
    assert main(["train", "--quiet", "--epochs", "2", "--save", str(tmp_path / "m.npz")]) == 130
    assert "interrupted (Ctrl-C)" in capsys.readouterr().err
    assert (tmp_path / "m.partial.npz").exists() and not (tmp_path / "m.npz").exists()


def test_a_nan_loss_stops_training_with_an_error_and_saves_nothing(small_data, tmp_path, capsys):
    small_data["train"][0][:] = np.nan  # every batch (shuffled) holds NaN pixels
    with pytest.warns(RuntimeWarning, match="not finite|nan|NaN"):
        status = main(["train", "--quiet", "--epochs", "5", "--save", str(tmp_path / "m.npz")])
    assert status == 1
    err = capsys.readouterr().err
    assert "became nan in epoch 1, batch 1" in err and "nothing was saved" in err
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "option, value, message",
    [
        ("--lr", "-1", "--lr: must be a finite number > 0, got '-1'"),
        ("--lr", "nan", "--lr: must be a finite number > 0, got 'nan'"),
        ("--threads", "0", "--threads: must be an integer >= 1, got '0'"),
        ("--epochs", "0", "--epochs: must be an integer >= 1, got '0'"),
        ("--batch-size", "x", "--batch-size: must be an integer >= 1, got 'x'"),
        ("--save", "m.h5", "cnnfast writes one format"),
    ],
)
def test_bad_options_are_clean_messages(option, value, message, capsys):
    with pytest.raises(SystemExit) as stop:
        main(["train", option, value])
    assert stop.value.code == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_missing_data_names_the_command_line_options(tmp_path, capsys):
    assert main(["train", "--quiet", "--data", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert str(tmp_path) in err and "--download" in err and "--data DIR" in err
    assert "download=True" not in err and "Traceback" not in err


def test_version(capsys):
    with pytest.raises(SystemExit) as stop:
        main(["--version"])
    assert stop.value.code == 0
    assert capsys.readouterr().out.strip() == f"cnnfast {cnnfast.__version__}"


@pytest.mark.parametrize("command", ["train", "bench", "config"])
def test_help_is_plain_text_and_every_option_is_explained(command, capsys):
    with pytest.raises(SystemExit):
        main([command, "--help"])
    text = capsys.readouterr().out
    assert "``" not in text and not re.search(r":[a-z]+:`", text), text
    subparser = build_parser()._subparsers._group_actions[0].choices[command]
    for action in subparser._actions:
        assert action.help, f"cnnfast {command} {action.option_strings} has no help"


@pytest.mark.slow
@pytest.mark.skipif(not SHARED_MNIST.exists(), reason=f"full MNIST not present in {SHARED_MNIST}")
def test_lenet5_full_mnist_test_error_at_most_1_2_percent(capsys):
    start = time.perf_counter()
    accuracy, images, captured = run_train(["--dataset", "mnist", "--data", str(SHARED_MNIST)], capsys)
    print(captured.out.strip().splitlines()[-1], f"({time.perf_counter() - start:.0f} s)")
    assert images == 10000
    assert 100.0 - accuracy <= 1.2
