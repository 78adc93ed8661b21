"""The convolution engine's instruction sets: choice, switch, every micro-kernel, subnormals.

* ``cnnfast.get_isa``/``set_isa`` and ``CNNFAST_ISA`` (read at import, in a
  fresh interpreter): the default is the best the CPU has; an unknown or
  unavailable name is refused (ValueError) or, from the environment, a
  RuntimeWarning that keeps the default.
* ``tests/engine_check.c``: the engine on every ISA the CPU has, against a
  direct convolution in long double, with no Python in between; and the same
  program built for AArch64 and run under qemu-aarch64 (the NEON kernels),
  when a cross compiler and qemu are installed (else skipped).
* Subnormals: the convolution kernels flush them (FTZ/DAZ) for their own work
  and give the caller its floating-point mode back.
(The random shapes of tests/test_fast_vs_reference.py and the thread-count
determinism of tests/test_determinism.py run on every ISA as well.)
"""

import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import numpy as np
import pytest

import cnnfast
from cnnfast import _isa, _kernels
from cnnfast import functional as F
from cnnfast._geometry import conv_geometry

ROOT = Path(__file__).resolve().parent.parent
CSRC = ROOT / "csrc"
CHECK = Path(__file__).resolve().parent / "engine_check.c"
COMPILER = os.environ.get("CC") or shutil.which("gcc") or shutil.which("cc")


def run_python(code, **env):
    environment = {k: v for k, v in os.environ.items() if k != "CNNFAST_ISA"}
    environment["PYTHONPATH"] = os.path.dirname(os.path.dirname(cnnfast.__file__))
    environment.update(env)
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        check=False,
        env=environment,
        timeout=300,
        cwd=tempfile.gettempdir(),
    )
    assert result.returncode == 0, result.stderr
    return result


@pytest.fixture
def isa():
    saved = cnnfast.get_isa()
    yield cnnfast.set_isa
    cnnfast.set_isa(saved)


def test_default_is_the_best_available_and_generic_is_always_there():
    available = _isa.available_isas()
    assert available[-1] == "generic"
    assert cnnfast.get_isa() == available[0] == _kernels.best_isa()


def test_set_isa_switches_and_refuses_what_is_not_here(isa):
    for name in _isa.available_isas():
        isa(name)
        assert cnnfast.get_isa() == name
    missing = [n for n in _kernels.ISA_NAMES if n not in _isa.available_isas()]
    for name in missing + ["sse9", "", 3]:
        with pytest.raises(ValueError, match="isa"):
            cnnfast.set_isa(name)


def test_environment_variable_is_read_at_import():
    for name in _isa.available_isas():
        result = run_python("import cnnfast; print(cnnfast.get_isa())", CNNFAST_ISA=name)
        assert result.stdout.split() == [name]
    result = run_python("import cnnfast; print(cnnfast.get_isa())", CNNFAST_ISA="not-an-isa")
    assert result.stdout.split() == [_isa.available_isas()[0]]
    assert "RuntimeWarning" in result.stderr and "CNNFAST_ISA" in result.stderr


def test_show_config_names_the_isa_and_the_dispatch():
    config = cnnfast._runtime.config()
    assert config["conv engine"].startswith(f"{cnnfast.get_isa()} micro-kernels")
    assert "engine" in config["conv dispatch"]


def geometry(channels, out_channels, size, kernel, padding, groups=1):
    """A stride-1 convolution's geometry, as the argument checks build it."""
    x_shape, w_shape = (2, channels, size, size), (out_channels, channels // groups, kernel, kernel)
    return conv_geometry(
        "x", x_shape, "weight", w_shape, out_channels, channels // groups, (1, 1), (padding, padding), (1, 1), groups
    )


def test_conv_paths_follow_the_documented_rule():
    engine = {"forward": "engine", "input_grad": "engine", "weight_grad": "engine"}
    assert _isa.conv_paths(geometry(16, 32, 10, 3, 1)) == engine
    # Thin products (fewer than 16 rows) run on im2col + OpenBLAS: a first
    # layer's input gradient (3 input channels), LeNet's 6 output channels.
    assert _isa.conv_paths(geometry(3, 32, 10, 3, 1)) == dict(engine, input_grad="blas")
    assert _isa.conv_paths(geometry(16, 6, 10, 3, 1)) == dict(engine, forward="blas", weight_grad="blas")
    assert set(_isa.conv_paths(geometry(32, 32, 10, 10, 0)).values()) == {"blas"}  # the dense case
    assert set(_isa.conv_paths(geometry(16, 16, 10, 3, 1, groups=16)).values()) == {"depthwise"}


def _build_and_run(compiler, extra, runner, tmp_path):
    binary = tmp_path / "engine_check"
    sources = [str(CHECK)] + sorted(str(p) for p in CSRC.glob("*.c"))
    build = subprocess.run(
        [
            compiler,
            "-std=c99",
            "-O2",
            "-Wall",
            "-Wextra",
            "-Werror",
            "-fopenmp",
            f"-I{CSRC}",
            *sources,
            "-lm",
            *extra,
            "-o",
            str(binary),
        ],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert build.returncode == 0, build.stderr
    result = subprocess.run(runner + [str(binary)], capture_output=True, text=True, timeout=600, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


@pytest.mark.skipif(not CSRC.is_dir() or COMPILER is None, reason="needs the csrc/ sources and a C compiler")
def test_engine_on_every_isa_against_a_direct_convolution(tmp_path):
    output = _build_and_run(COMPILER, [], [], tmp_path)
    ran = {line.split(":")[0] for line in output.splitlines()}
    assert set(_isa.available_isas()) <= ran, output


CROSS = shutil.which("aarch64-linux-gnu-gcc")
QEMU = shutil.which("qemu-aarch64")


@pytest.mark.skipif(
    not CSRC.is_dir() or CROSS is None or QEMU is None,
    reason="needs aarch64-linux-gnu-gcc and qemu-aarch64 (Debian: gcc-aarch64-linux-gnu qemu-user)",
)
def test_neon_micro_kernels_under_qemu(tmp_path):
    output = _build_and_run(CROSS, ["-static"], [QEMU], tmp_path)
    assert "neon:" in output and "generic:" in output, output


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("path", ["engine", "blas"])
def test_subnormals_are_flushed_inside_and_the_callers_mode_is_restored(path, dtype):
    tiny = np.finfo(dtype).tiny
    x = np.full((2, 3, 6, 6), tiny / 4, dtype=dtype)  # subnormal inputs
    w = np.ones((4, 3, 3, 3), dtype=dtype)
    saved = _kernels.get_conv_path()
    try:
        _kernels.set_conv_path(path)
        y = F.conv2d(x, w, padding=1)
        grad_x, grad_w, _ = F.conv2d_backward(np.full(y.shape, tiny / 4, dtype=dtype), x, w, padding=1)
    finally:
        _kernels.set_conv_path(saved)
    # DAZ reads them as zero, FTZ keeps results that would be subnormal at zero.
    assert not y.any() and not grad_x.any() and not grad_w.any()
    # The reference (NumPy, no flushing) keeps them: proof they were there.
    assert F.conv2d(x, w, padding=1, backend="reference").any()
    # And this thread computes with subnormals again after the call.
    assert np.multiply(dtype(tiny), dtype(0.5)) != 0
