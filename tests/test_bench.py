"""``cnnfast bench``: the command runs, and its JSON holds what it promises.

Timings are never checked for their values here (timing is not a pass/fail
test); only that every workload and backend was measured and is positive.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import cnnfast
from cnnfast.bench import cases, runner
from cnnfast.bench.workloads import CONV_WORKLOADS, WORKLOADS, by_name
from cnnfast.cli import main

NAMED = ["lenet-c1", "lenet-c3", "cifar-in", "res-64", "res-128", "down-s2", "pw-1x1", "stem-7x7", "dw-3x3",
         "tconv-64", "max2x2", "max3x3s2", "avg2x2", "lenet5", "small_vgg", "resnet20"]
MODELS = ("lenet5", "small_vgg", "resnet20")


def available_backends():
    return ["fast", "reference"] + (["torch"] if runner.import_torch() is not None else [])


def test_suite_names_are_the_promised_ones():
    assert [w.name for w in WORKLOADS] == NAMED


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    """One quick run of the whole suite through the console entry point."""
    where = tmp_path_factory.mktemp("bench")
    out = where / "bench.json"
    # Outside the checkout, so that `-m cnnfast` finds the cnnfast under test, not the source tree.
    env = dict(os.environ, PYTHONPATH=str(Path(cnnfast.__file__).parents[1]))
    completed = subprocess.run([sys.executable, "-m", "cnnfast", "bench", "--quick", "--json", str(out)],
                               cwd=where, env=env, capture_output=True, text=True, timeout=600)
    assert completed.returncode == 0, completed.stderr
    return json.loads(out.read_text()), completed


def test_quick_run_covers_every_workload_backend_and_pass(quick_run):
    document, _ = quick_run
    backends = available_backends()
    seen = {(r["workload"], r["backend"], r["pass"]) for r in document["results"]}
    for name in NAMED:
        passes = ("train", "inference") if name in MODELS else ("forward", "backward", "both")
        for backend in backends:
            for pass_name in passes:
                assert (name, backend, pass_name) in seen
    assert all(r["seconds"] > 0 for r in document["results"])
    assert all(r["gbytes_per_s"] > 0 for r in document["results"] if r["kind"] != "model")
    assert all(r["images_per_s"] > 0 for r in document["results"] if r["kind"] == "model")
    assert all(r["gflops"] > 0 for r in document["results"] if r["kind"] == "conv")


def test_quick_run_reports_sgemm_ceiling_memory_and_machine(quick_run):
    document, completed = quick_run
    gemm_bound = {w.name for w in WORKLOADS if w.gemm_shape() is not None}
    assert {s["workload"] for s in document["sgemm"]} == gemm_bound
    assert all(s["gflops"] > 0 for s in document["sgemm"])
    if document["memory"]:  # Linux: every backend's peak measured
        assert {(m["workload"], m["backend"]) for m in document["memory"]} == {
            (n, b) for n in NAMED for b in available_backends()}
    machine = document["machine"]
    for key in ("cpu", "logical_cpus", "numpy", "cnnfast", "environment"):
        assert key in machine
    assert document["command"].startswith("cnnfast bench --quick")
    assert document["settings"]["threads"] == [1]
    if "torch" in available_backends():
        assert "geometric mean" in completed.stdout
    else:
        assert "torch is not installed: the torch backend was skipped" in completed.stdout
    assert "lenet5 train (batch 8):" in completed.stdout  # --quick: small model batches
    for name in NAMED:
        assert name in completed.stdout


def test_quick_run_reports_fma_peak_shares_of_it_and_the_dispatch(quick_run):
    document, completed = quick_run
    isas = cnnfast._isa.available_isas()
    assert document["isa"] == cnnfast.get_isa()
    assert {(p["isa"], p["threads"]) for p in document["fma_peak"]} == {(i, 1) for i in isas}
    assert all(p["gflops"] > 0 for p in document["fma_peak"])
    for record in document["results"]:
        if record["kind"] in ("conv", "model"):
            assert 0 < record["share_of_peak"] == pytest.approx(
                record["gflops"] / next(p["gflops"] for p in document["fma_peak"]
                                        if p["isa"] == document["isa"] and p["threads"] == record["threads"]))
    conv = {w.name for w in WORKLOADS if w.kind == "conv"}
    assert {d["workload"] for d in document["dispatch"]} == conv
    assert all(d[p] in ("engine", "blas", "depthwise") for d in document["dispatch"]
               for p in ("forward", "input_grad", "weight_grad"))
    assert f"FMA peak ({document['isa']}, in use)" in completed.stdout


def test_model_flops_are_those_of_its_convolutions_and_dense_layers():
    from cnnfast.bench import flops

    case = cases.numpy_case(by_name(["lenet5"])[0], cases.make_inputs(by_name(["lenet5"])[0]), "fast")
    counted = flops.model_flops(case)
    # LeNet-5: C1 6@5x5 on 1x32x32, C3 16@5x5 on 6x14x14, C5 120@5x5 on 16x5x5, F6 120->84, 84->10.
    forward = 2 * (6 * 25 * 28 * 28 + 16 * 6 * 25 * 10 * 10 + 120 * 16 * 25 + 120 * 84 + 84 * 10)
    assert counted["inference"] == 256 * forward
    # training: forward, weight gradients, input gradients of all but C1 (the data needs none)
    assert counted["train"] == 64 * (3 * forward - 2 * 6 * 25 * 28 * 28)


def test_thread_sweep_plot_and_backend_subset(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    out, png = tmp_path / "b.json", tmp_path / "b.png"
    status = main(["bench", "--quick", "--no-progress", "--no-memory", "--threads", "1,2", "--only", "lenet-c1",
                   "max2x2", "--backends", "fast,reference", "--json", str(out), "--plot", str(png)])
    assert status == 0
    document = json.loads(out.read_text())
    assert {(r["workload"], r["threads"], r["backend"]) for r in document["results"]} == {
        (w, t, b) for w in ("lenet-c1", "max2x2") for t in (1, 2) for b in ("fast", "reference")}
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "2 thread(s)" in capsys.readouterr().out


def test_a_backend_that_disagrees_with_the_reference_is_refused(monkeypatch, capsys):
    honest = cases.numpy_case

    def broken(workload, inputs, backend):
        calls = honest(workload, inputs, backend)
        if backend == "fast":
            calls["check"] = lambda: tuple(a + 1 for a in honest(workload, inputs, backend)["check"]())
        return calls
    monkeypatch.setattr(cases, "numpy_case", broken)
    status = main(["bench", "--quick", "--no-progress", "--only", "lenet-c1", "--backends", "fast,reference"])
    assert status == 1
    assert "fast differs from the reference on lenet-c1" in capsys.readouterr().err


@pytest.mark.parametrize("argv", [["--threads", "0"], ["--threads", "a,b"], ["--backends", "fast,jax"],
                                  ["--processes", "0"], ["--processes", "two"]])
def test_bad_options_are_refused(argv, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["bench", "--quick", "--no-progress"] + argv)
    assert exit_info.value.code == 2
    assert argv[0] in capsys.readouterr().err


def test_unknown_workload_is_refused(capsys):
    assert main(["bench", "--quick", "--no-progress", "--only", "nope"]) == 2
    assert "unknown workload" in capsys.readouterr().err


def test_agree_detects_a_difference():
    a = np.ones((2, 3), np.float32)
    assert runner.agree((a,), (a.copy(),))
    b = a.copy()
    b[1, 2] += 0.01
    assert not runner.agree((b,), (a,))
    assert not runner.agree((a[:1],), (a,))


def test_flop_counts():
    lenet_c1 = by_name(["lenet-c1"])[0]
    assert lenet_c1.forward_flops() == 2 * 64 * 6 * 1 * 25 * 28 * 28
    assert lenet_c1.flops("both") == 3 * lenet_c1.forward_flops()
    tconv, res64 = by_name(["tconv-64"])[0], by_name(["res-64"])[0]
    assert tconv.forward_flops() == res64.forward_flops()
    assert tconv.output_shape == res64.output_shape
    assert all(w.gemm_shape() is not None for w in CONV_WORKLOADS if w.name != "dw-3x3")


def test_processes_mode_runs_every_setting_together_and_reports_the_ratios(tmp_path, capsys):
    """``cnnfast bench --processes``: the figures are never judged, only that
    every setting ran in N processes and no OpenBLAS warning appeared."""
    pytest.importorskip("threadpoolctl")
    out = tmp_path / "sharing.json"
    status = main(["bench", "--processes", "2", "--quick", "--seconds", "0.3", "--no-progress",
                   "--backends", "fast", "--json", str(out)])
    assert status == 0
    document = json.loads(out.read_text())
    settings = {(r["processes"], r["backend"], r["setting"]): r for r in document["results"]}
    assert set(settings) == {(2, "fast", "default"), (2, "fast", "1 thread"), (2, "fast", "default + threadpool_limits")}
    for record in settings.values():
        assert len(record["per_process"]) == 1 and len(record["per_process"][0]) == 2  # one round, two processes
        assert record["images_per_s"] > 0 and record["openblas_warnings"] == 0
    assert {r["figure"] for r in document["ratios"]} == {"default / 1 thread", "threadpool_limits / default"}
    assert document["machine"]["cpu"] and document["command"].startswith("cnnfast bench --processes 2")
    text = capsys.readouterr().out
    assert "fast: default / 1 thread = " in text and "load average" in text
