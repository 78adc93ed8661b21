"""cnnfast.distributed in one process: the sharding arithmetic, the fused reduction, threads, errors without mpi4py.

What needs several processes is in test_distributed_mpi.py (under mpiexec).
"""

import subprocess
import sys
import textwrap

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import cnnfast
from cnnfast.distributed import threads, world
from cnnfast.distributed.fusion import GradientReduction
from cnnfast.layers import Parameter
from cnnfast.training import data
from cnnfast.training.sharding import ShardedBatches, bounds, shard_in_order

# ---------------------------------------------------------------- sharding


@given(n=st.integers(0, 200), size=st.integers(1, 9))
def test_bounds_split_a_range_into_near_equal_contiguous_parts(n, size):
    parts = [bounds(n, r, size) for r in range(size)]
    assert parts[0][0] == 0 and parts[-1][1] == n
    assert all(a[1] == b[0] for a, b in zip(parts, parts[1:]))
    lengths = [hi - lo for lo, hi in parts]
    assert max(lengths) - min(lengths) <= 1


@settings(max_examples=60, deadline=None)
@given(
    n=st.integers(1, 150),
    batch_size=st.integers(1, 40),
    size=st.integers(1, 6),
    shuffle=st.booleans(),
    steps=st.one_of(st.none(), st.integers(1, 6)),
)
def test_the_slices_of_every_process_make_up_the_one_process_batches(n, batch_size, size, shuffle, steps):
    """Same permutation, same global batches; together the processes' slices are exactly one process's batches."""
    x = np.arange(n, dtype=np.float64).reshape(n, 1) * 10
    y = np.arange(n)
    plain = data.ArrayBatches(x, y, batch_size, shuffle, np.random.default_rng(5), steps)
    shards = [
        ShardedBatches(data.ArrayBatches(x, y, batch_size, shuffle, np.random.default_rng(5), steps), r, size)
        for r in range(size)
    ]
    for _ in range(2):  # two epochs: a new permutation each, drawn alike
        expected = list(plain.epoch())
        per_rank = [list(s.epoch()) for s in shards]
        assert all(len(batches) == len(expected) == plain.steps for batches in per_rank)  # the same step count
        for k, (xb, yb) in enumerate(expected):
            np.testing.assert_array_equal(np.concatenate([batches[k][0] for batches in per_rank]), xb)
            np.testing.assert_array_equal(np.concatenate([batches[k][1] for batches in per_rank]), yb)
            sizes = [len(batches[k][0]) for batches in per_rank]
            assert max(sizes) - min(sizes) <= 1


def test_one_process_shard_gives_the_plain_batches_bit_for_bit():
    x = np.random.default_rng(0).standard_normal((103, 3))
    y = np.arange(103)
    plain = data.ArrayBatches(x, y, 16, True, np.random.default_rng(1))
    alone = ShardedBatches(data.ArrayBatches(x, y, 16, True, np.random.default_rng(1)), 0, 1)
    for (xa, ya), (xb, yb) in zip(plain.epoch(), alone.epoch(), strict=True):
        assert xa.tobytes() == xb.tobytes() and ya.tobytes() == yb.tobytes()


@given(n=st.integers(1, 300), batch_size=st.integers(1, 64), size=st.integers(1, 7))
def test_evaluation_blocks_keep_the_one_process_batch_boundaries(n, batch_size, size):
    x, y = np.arange(n).reshape(n, 1), np.arange(n)
    whole = data.InOrder(x, y, batch_size)
    expected = [yb.tolist() for _, yb in whole()]
    got = [yb.tolist() for r in range(size) for _, yb in shard_in_order(whole, r, size)()]
    assert got == expected


# ------------------------------------------------------- the fused reduction


class TwoRanks:
    """A world of 2 whose allreduce adds the buffer the other rank packed (held in ``other``)."""

    rank, size = 0, 2

    def __init__(self):
        self.other = None

    def allreduce(self, buffer, op="sum", what=""):
        buffer += self.other
        return buffer


class Recorder:
    """A world that only keeps what was packed (to play the other rank)."""

    size = 2

    def allreduce(self, buffer, op="sum", what=""):
        self.packed = buffer.copy()
        return buffer


def params(*grads):
    result = []
    for g in grads:
        p = Parameter(np.zeros(3))
        p.grad = None if g is None else np.asarray(g, dtype=np.float64)
        result.append(p)
    return result


def reduce_pair(mine, theirs, my_weight, their_weight, scalars=((), ())):
    recorder = Recorder()
    GradientReduction(recorder, theirs, len(scalars[1]))(their_weight, scalars[1])
    pair = TwoRanks()
    pair.other = recorder.packed
    return GradientReduction(pair, mine, len(scalars[0]))(my_weight, scalars[0])


def test_gradients_are_averaged_weighted_by_sample_count():
    mine, theirs = params([1.0, 2.0, 3.0]), params([4.0, 4.0, 4.0])
    total, scalars = reduce_pair(mine, theirs, 3, 1, ((0.5, 7.0), (1.5, 1.0)))
    assert total == 4
    np.testing.assert_allclose(mine[0].grad, [(3 * 1 + 4) / 4, (3 * 2 + 4) / 4, (3 * 3 + 4) / 4])
    np.testing.assert_array_equal(scalars, [2.0, 8.0])


def test_a_process_with_no_samples_adds_nothing_and_gets_the_average():
    mine = params([9.0, 9.0, 9.0])  # a stale gradient from the previous step: must not count
    theirs = params([1.0, 2.0, 3.0])
    total, _ = reduce_pair(mine, theirs, 0, 5)
    assert total == 5
    np.testing.assert_array_equal(mine[0].grad, [1.0, 2.0, 3.0])


def test_a_parameter_without_gradient_anywhere_keeps_none():
    mine, theirs = params(None, [1.0, 1.0, 1.0]), params(None, [3.0, 3.0, 3.0])
    reduce_pair(mine, theirs, 1, 1)
    assert mine[0].grad is None
    np.testing.assert_array_equal(mine[1].grad, [2.0, 2.0, 2.0])
    # One process has it: everyone gets it; a process whose samples did not reach it counts as a zero.
    mine, theirs = params(None), params([2.0, 4.0, 6.0])
    reduce_pair(mine, theirs, 1, 1)
    np.testing.assert_array_equal(mine[0].grad, [1.0, 2.0, 3.0])


def test_sum_losses_add_gradients_without_dividing():
    mine, theirs = params([1.0, 1.0, 1.0]), params([2.0, 2.0, 2.0])
    recorder = Recorder()
    GradientReduction(recorder, theirs, 0)(1.0)
    pair = TwoRanks()
    pair.other = recorder.packed
    GradientReduction(pair, mine, 0)(1.0, average=False)
    np.testing.assert_array_equal(mine[0].grad, [3.0, 3.0, 3.0])


def test_parameters_of_mixed_dtypes_are_refused():
    p, q = Parameter(np.zeros(2)), Parameter(np.zeros(2, np.float32))
    with pytest.raises(TypeError, match="one dtype"):
        GradientReduction(TwoRanks(), [p, q], 0)


# ---------------------------------------------------------------- threads


def test_ranks_sharing_cpus_divide_them_and_bound_ranks_keep_their_own():
    all4 = frozenset(range(4))
    assert threads.share(4, all4, [all4, all4]) == 2
    assert threads.share(4, all4, [all4, all4, all4]) == 1
    assert threads.share(4, all4, [all4] * 8) == 1  # oversubscribed: still one thread
    assert threads.share(2, frozenset({0, 1}), [frozenset({0, 1}), frozenset({2, 3})]) == 2  # bound to own cores
    assert threads.share(1, frozenset({0}), [frozenset({0}), frozenset({1})]) == 1
    assert threads.share(2, all4, [all4, all4]) == 1  # a CPU quota of 2 (the process's cores) shared by 2 ranks


class OneNode:
    """A world of ``n`` ranks on one node, all with this process's CPUs."""

    def __init__(self, n):
        self.node = self
        self.n = n

    def allgather(self, value):
        return [value] * self.n


def test_omp_num_threads_and_a_chosen_count_win(monkeypatch):
    from cnnfast import _kernels, _thread_count

    assert threads.per_rank_threads(OneNode(2), environ={"OMP_NUM_THREADS": "3"}) is None
    default = _thread_count.effective_num_threads(_kernels.default_num_threads(), {}).count
    try:
        cnnfast.set_num_threads(None)  # the default, decided in _thread_count (OMP_NUM_THREADS aside)
        if cnnfast.get_num_threads() == default:
            assert threads.per_rank_threads(OneNode(2), environ={}) == max(1, default // 2)
        # A quota of 3 CPUs on this process (the one decision of _thread_count): 3 // 2 ranks.
        decided = _thread_count.ThreadCount(3, "cgroup CPU quota", "test")
        monkeypatch.setattr(_thread_count, "effective_num_threads", lambda *args: decided)
        monkeypatch.setattr(cnnfast._runtime, "_threads_decided_by", decided)
        monkeypatch.setattr(cnnfast._runtime, "get_num_threads", lambda: 3)
        assert threads.per_rank_threads(OneNode(2), environ={}) == 1
        assert threads.per_rank_threads(OneNode(1), environ={}) == 3
        monkeypatch.setattr(cnnfast._runtime, "_threads_decided_by", None)  # set_num_threads(3) was called
        assert threads.per_rank_threads(OneNode(2), environ={}) is None
    finally:
        monkeypatch.undo()
        cnnfast.set_num_threads(None)


def test_launcher_size_reads_mpich_open_mpi_and_pmix():
    assert world.launcher_size({}) is None
    assert world.launcher_size({"PMI_SIZE": "4"}) == 4
    assert world.launcher_size({"OMPI_COMM_WORLD_SIZE": "8"}) == 8
    assert world.launcher_size({"PMIX_SIZE": "2"}) == 2


# ------------------------------------------------------ without mpi4py


def run_without_mpi4py(code, **env):
    """Run ``code`` in a fresh interpreter where ``import mpi4py`` fails; its output."""
    program = "import sys\nsys.modules['mpi4py'] = None\n" + textwrap.dedent(code)
    environ = {
        k: v for k, v in __import__("os").environ.items() if k not in ("PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "PMIX_SIZE")
    }
    result = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, env={**environ, **env}, timeout=120
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_import_cnnfast_does_not_import_mpi4py():
    out = subprocess.run(
        [sys.executable, "-c", "import sys, cnnfast; print('mpi4py' in sys.modules)"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.stdout.strip() == "False", out.stderr


def test_without_mpi4py_the_mpi_functions_say_what_to_install():
    out = run_without_mpi4py("""
        import numpy as np
        import cnnfast
        from cnnfast import distributed
        print(distributed.rank(), distributed.size(), distributed.is_primary())
        model = cnnfast.models.lenet5()
        model.compile()
        x, y = np.zeros((4, 1, 32, 32), np.float32), np.zeros(4, np.int64)
        for call in (distributed.init, lambda: distributed.allreduce_mean(np.ones(2)),
                     lambda: distributed.broadcast_model(model),
                     lambda: model.fit(x, y, verbose=0, distributed=True),
                     lambda: model.train_on_batch(x, y, distributed=True)):
            try:
                call()
                print("no error")
            except ImportError as error:
                print("ImportError:", error)
    """)
    lines = out.splitlines()
    assert lines[0] == "0 1 True"
    assert len(lines) == 6
    for line in lines[1:]:
        assert line.startswith("ImportError:") and 'pip install "cnnfast[mpi]"' in line, line


def test_without_mpi4py_a_process_launched_as_one_of_several_is_an_error():
    out = run_without_mpi4py(
        """
        from cnnfast import distributed
        try:
            distributed.rank()
        except ImportError as error:
            print(error)
    """,
        PMI_SIZE="4",
    )
    assert "one of 4 started by an MPI launcher" in out and "cnnfast[mpi]" in out


# --------------------------------------- refusals before any communication


def test_distributed_fit_takes_arrays_only():
    model = cnnfast.models.lenet5()
    model.compile()
    flow = cnnfast.datasets.BatchIterator(np.zeros((8, 1, 32, 32), np.float32), np.zeros(8, np.int64), 4)
    with pytest.raises(ValueError, match="takes arrays x, y"):
        model.fit(flow, verbose=0, distributed=True)
    x, y = np.zeros((8, 1, 32, 32), np.float32), np.zeros(8, np.int64)
    with pytest.raises(ValueError, match="validation_data as arrays"):
        model.fit(x, y, validation_data=flow, verbose=0, distributed=True)
    with pytest.raises(ValueError, match="takes arrays x, y"):
        model.evaluate(flow, distributed=True)


def test_distributed_optimizer_wraps_a_cnnfast_optimizer_once():
    from cnnfast import optim
    from cnnfast.distributed import DistributedOptimizer

    with pytest.raises(TypeError, match="cnnfast Optimizer"):
        DistributedOptimizer("sgd")
    sgd = optim.SGD([Parameter(np.zeros(2))], lr=0.1)
    wrapped = DistributedOptimizer(sgd)
    with pytest.raises(TypeError, match="already"):
        DistributedOptimizer(wrapped)
    wrapped.lr = 0.5
    assert sgd.lr == 0.5 and wrapped.params is sgd.params


def test_init_refuses_a_timeout_that_is_not_positive():
    for bad in (0, -1, float("nan")):
        with pytest.raises(ValueError, match="timeout must be > 0"):
            world._checked_timeout(bad)
    with pytest.raises(TypeError, match="number of seconds"):
        world._checked_timeout("soon")
    assert world._checked_timeout(float("inf")) is None


def test_the_other_ranks_callbacks_get_every_hook_with_their_prints_dropped(capsys):
    """Ranks > 0 run the user's callbacks wrapped (prints dropped): every hook must reach the callback."""
    from cnnfast.callbacks import Callback
    from cnnfast.training.parallel import _Quiet

    hooks = [name for name in vars(Callback) if name.startswith(("set_", "on_"))]
    called = []

    class Recorder(Callback):
        pass

    for name in hooks:

        def record(self, *args, name=name):
            print("a print on rank 1")
            called.append(name)

        setattr(Recorder, name, record)
    quiet = _Quiet(Recorder())
    for name in hooks:
        getattr(quiet, name)(*([0, {}] if "epoch" in name or "batch" in name else [{}]))
    assert called == hooks
    assert capsys.readouterr().out == ""
