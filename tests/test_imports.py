"""The package's imports run one way (scripts/check_imports.py), and the checker sees a wrong one."""

import importlib.util
import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "scripts" / "check_imports.py"
SOURCE = REPO / "cnnfast"

pytestmark = pytest.mark.skipif(not (SCRIPT.exists() and (SOURCE / "_kernels.pyx").exists()),
                                reason="needs the source tree (scripts/ and cnnfast/*.pyx)")


@pytest.fixture(scope="module")
def checker():
    spec = importlib.util.spec_from_file_location("check_imports", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_imports_run_downward(checker, capsys):
    assert checker.main([str(SOURCE)]) == 0, capsys.readouterr().out


def test_the_checker_sees_upward_forbidden_and_circular_imports(checker, tmp_path):
    package = tmp_path / "cnnfast"
    shutil.copytree(SOURCE, package, ignore=shutil.ignore_patterns("*.so", "*.c", "__pycache__"))
    with open(package / "_checks.py", "a") as f:
        f.write("\nfrom . import layers\n")
    with open(package / "training" / "metrics.py", "a") as f:
        f.write("\n\ndef late():\n    from .loop import run\n")
    with open(package / "layers" / "core.py", "a") as f:
        f.write("\nfrom .. import _kernels\n")
    problems, _ = checker.check(package)
    assert any("cnnfast._checks imports cnnfast.layers: upward" in p for p in problems)
    assert any("import cycle: cnnfast.training.loop -> cnnfast.training.metrics" in p for p in problems)
    assert any("cnnfast.layers.core imports cnnfast._kernels: forbidden" in p for p in problems)
    assert len(problems) == 3
