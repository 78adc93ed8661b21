"""Threads, memory, concurrency and the configuration report."""

import os
import platform
import subprocess
import sys
import tempfile
import textwrap
import threading

import numpy as np
import pytest

import cnnfast
from cnnfast import functional as F


def run_python(code, **env):
    """Run ``code`` in a fresh interpreter with extra environment variables,
    from a directory outside the checkout, so that it imports the same
    installed cnnfast as the tests."""
    environment = dict(os.environ)
    environment["PYTHONPATH"] = os.path.dirname(os.path.dirname(cnnfast.__file__))
    for key, value in env.items():
        if value is None:
            environment.pop(key, None)
        else:
            environment[key] = value
    result = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                            env=environment, timeout=300, cwd=tempfile.gettempdir())
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.fixture
def threads():
    saved = cnnfast.get_num_threads()
    yield cnnfast.set_num_threads
    cnnfast.set_num_threads(saved)


def all_functions(x, weight, grad_y, args):
    """Every fast function once, on one input."""
    y = F.conv2d(x, weight, None, **args)
    out = [y, *F.conv2d_backward(grad_y, x, weight, **args)]
    out.append(F.conv_transpose2d(y, weight, None, **{k: args[k] for k in ("stride", "padding", "groups")}))
    pooled, argmax = F.max_pool2d(x, 3, 2, 1)
    out += [pooled, F.max_pool2d_backward(pooled, argmax, x.shape)]
    averaged = F.avg_pool2d(x, 3, 2, 1, count_include_pad=False)
    out += [averaged, F.avg_pool2d_backward(averaged, x.shape, 3, 2, 1, count_include_pad=False)]
    return out


CASES = [
    ((5, 4, 13, 11), (6, 4, 3, 3), dict(stride=1, padding=1, groups=1)),
    ((1, 6, 17, 9), (6, 2, 3, 2), dict(stride=2, padding=1, groups=3)),
    ((3, 8, 10, 10), (8, 1, 3, 3), dict(stride=1, padding=1, groups=8)),
    ((9, 16, 7, 7), (32, 16, 1, 1), dict(stride=1, padding=0, groups=1)),
]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("case", CASES, ids=lambda c: str(c[0]) if isinstance(c, tuple) else None)
def test_one_and_two_threads_agree_bitwise_and_with_reference(threads, case, dtype):
    shape, weight_shape, args = case
    rng = np.random.default_rng(0)
    x = rng.standard_normal(shape).astype(dtype)
    weight = rng.standard_normal(weight_shape).astype(dtype)
    out_shape = F.conv2d(x, weight, None, backend="reference", **args).shape
    grad_y = rng.standard_normal(out_shape).astype(dtype)
    results = {}
    for count in (1, 2, 3):
        threads(count)
        assert cnnfast.get_num_threads() == count
        results[count] = all_functions(x, weight, grad_y, args)
    # The weight gradient is reduced in a fixed order: identical bits whatever the thread count.
    for a, b, c in zip(results[1], results[2], results[3]):
        np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(a, c)
    reference = F.conv2d_backward(grad_y, x, weight, backend="reference", **args)
    for got, want in zip(results[2][1:4], reference):
        np.testing.assert_allclose(got, want, rtol=1e-4 if dtype == np.float32 else 1e-10,
                                   atol=1e-4 if dtype == np.float32 else 1e-10)


def test_calls_from_several_python_threads_at_once():
    rng = np.random.default_rng(1)
    inputs = [(rng.standard_normal((4, 8, 16, 16)), rng.standard_normal((8, 8, 3, 3))) for _ in range(6)]
    expected = [F.conv2d_backward(F.conv2d(x, w, padding=1), x, w, padding=1) for x, w in inputs]
    results = [None] * len(inputs)

    def work(i):
        x, w = inputs[i]
        for _ in range(5):
            results[i] = F.conv2d_backward(F.conv2d(x, w, padding=1), x, w, padding=1)

    workers = [threading.Thread(target=work, args=(i,)) for i in range(len(inputs))]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    for got, want in zip(results, expected):
        for a, b in zip(got, want):
            np.testing.assert_array_equal(a, b)


def test_set_num_threads_round_trip(threads):
    threads(1)
    assert cnnfast.get_num_threads() == 1
    threads(2)
    assert cnnfast.get_num_threads() == 2


@pytest.mark.parametrize("value", ["1", "3"])
def test_omp_num_threads_is_honoured_at_import(value):
    out = run_python("import cnnfast; print(cnnfast.get_num_threads())", OMP_NUM_THREADS=value)
    assert out.strip() == value


def test_show_config_reports_openmp_threads_numpy_and_blas(capsys):
    cnnfast.show_config()
    text = capsys.readouterr().out
    assert cnnfast.__version__ in text
    assert "openmp:           on" in text  # the wheels' test command relies on this line
    assert f"threads:          {cnnfast.get_num_threads()}" in text
    assert np.__version__ in text and "OpenBLAS" in text and "compiler:" in text


def test_config_command_prints_the_report_and_passes_the_openmp_gate(capsys):
    from cnnfast.cli import main

    assert main(["config", "--require-openmp"]) == 0
    out = capsys.readouterr().out
    assert "openmp:           on" in out and f"threads:          {cnnfast.get_num_threads()}" in out


def test_openmp_gate_fails_when_the_report_says_openmp_is_off(monkeypatch, capsys):
    """The wheels' test command must fail for a kernel library built without OpenMP."""
    from cnnfast import _kernels
    from cnnfast.cli import main

    monkeypatch.setattr(_kernels, "openmp_enabled", lambda: False)
    assert main(["config"]) == 0  # a plain report never fails
    assert main(["config", "--require-openmp"]) == 1
    captured = capsys.readouterr()
    assert "openmp:           OFF" in captured.out and "WITHOUT OpenMP" in captured.err


def test_blas_is_pinned_to_one_thread():
    threadpoolctl = pytest.importorskip("threadpoolctl")
    ours = [info for info in threadpoolctl.threadpool_info()
            if info["user_api"] == "blas" and os.path.basename(info["filepath"]).startswith("libscipy_openblas.")]
    assert ours and all(info["num_threads"] == 1 for info in ours)


@pytest.mark.skipif(platform.machine().lower() not in ("x86_64", "amd64"),
                    reason="Haswell and SkylakeX are OpenBLAS's x86-64 cores")
def test_openblas_core_is_the_users_choice_or_avx512_on_zen5():
    code = "import cnnfast._runtime as r; print(r._openblas.scipy_openblas_get_corename().decode(), r._zen5_or_newer())"
    assert run_python(code, OPENBLAS_CORETYPE="Haswell").split()[0] == "Haswell"
    core, zen5 = run_python(code, OPENBLAS_CORETYPE=None).split()
    if zen5 == "True":
        assert core == "SkylakeX"


@pytest.mark.skipif(sys.platform == "win32", reason="peak RSS is read with resource.getrusage, absent on Windows")
def test_conv_memory_at_batch_512_stays_bounded():
    """Forward + backward of a 64-channel 32x32 3x3 layer at batch 512.

    A full-batch im2col would need 512 * 576 * 1024 * 4 B = 1.2 GB; the chunked
    kernels need the per-thread patch buffers (under the 64 MiB workspace cap)
    and a few weight-sized partial sums.  Peak resident memory beyond the
    inputs and the returned arrays must stay under 300 MiB.
    """
    out = run_python("""
        import resource, sys, numpy as np, cnnfast
        from cnnfast import functional as F
        peak_rss = lambda: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * (1 if sys.platform == "darwin" else 1024)
        rng = np.random.default_rng(0)
        x = rng.standard_normal((512, 64, 32, 32), dtype=np.float32)
        w = rng.standard_normal((64, 64, 3, 3), dtype=np.float32)
        grad_y = rng.standard_normal((512, 64, 32, 32), dtype=np.float32)
        F.conv2d(x[:2], w, padding=1)  # load everything lazily loaded before the baseline
        before = peak_rss()  # ru_maxrss: KiB on Linux, bytes on macOS
        y = F.conv2d(x, w, padding=1)
        grads = F.conv2d_backward(grad_y, x, w, padding=1)
        after = peak_rss()
        returned = y.nbytes + sum(g.nbytes for g in grads)
        print((after - before - returned) / 2**20)
    """)
    extra_mib = float(out)
    print(f"peak extra memory of conv forward+backward at batch 512: {extra_mib:.1f} MiB")
    assert extra_mib < 300
