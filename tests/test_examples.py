"""The example scripts run, end to end, for a few batches (against the cnnfast under test)."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

import cnnfast

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
SCRIPTS = ["keras_style_mnist.py", "lenet5_classic.py"]


@pytest.mark.parametrize("script", SCRIPTS)
def test_example_runs_a_few_batches(script, tmp_path):
    path = EXAMPLES / script
    if not path.exists():
        pytest.skip("examples/ is not beside the tests (testing an installed wheel)")
    env = dict(os.environ, PYTHONPATH=str(Path(cnnfast.__file__).parents[1]))
    completed = subprocess.run([sys.executable, str(path), "--epochs", "1", "--max-batches", "3"], cwd=tmp_path,
                               env=env, capture_output=True, text=True, timeout=300)
    assert completed.returncode == 0, completed.stderr[-2000:]
    assert "test accuracy" in completed.stdout
    assert "Total params" in completed.stdout  # model.summary() ran
