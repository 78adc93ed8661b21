"""Threads under load: the default count, the one rule, BLAS inside regions, the monitor.

* The default thread count (cnnfast._thread_count): OMP_NUM_THREADS, the
  affinity mask (set in a child with os.sched_setaffinity), the cgroup v1/v2
  CPU quota (on simulated /proc and /sys trees, and on a real cgroup where the
  test may create one), and ``set_num_threads(None)`` going back to it.
* The rule: every kernel decides its thread count through
  cnnfast_threads_for (counted by a test hook), tiny calls run on one thread,
  large ones in parallel, never more threads than work items.
* BLAS inside the kernels' OpenMP regions stays on one thread after
  threadpoolctl raised it: no "OpenBLAS Warning", BLAS read at one thread at
  every GEMM, results bitwise unchanged, threadpoolctl still told the truth.
* The contention monitor: its controller on scripted readings, and in a
  process whose two threads share one CPU.

Speeds are benchmarks (``cnnfast bench --processes 2``), never tested here.
"""

import os
import subprocess
import sys
import tempfile
import textwrap
import uuid
from pathlib import Path

import numpy as np
import pytest

import cnnfast
from cnnfast import _checks, _kernels, _thread_count
from cnnfast import functional as F
from cnnfast._thread_count import cgroup_cpu_quota, effective_num_threads
from cnnfast.bench.sharing import OPENMP_GLOBAL


def run_child(code, env_changes=None, check=True):
    """Run ``code`` in a fresh interpreter that imports the cnnfast under test
    (from outside the checkout); returns the CompletedProcess."""
    env = dict(os.environ, PYTHONPATH=str(Path(cnnfast.__file__).parents[1]))
    for key, value in (env_changes or {}).items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    result = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                            env=env, timeout=300, cwd=tempfile.gettempdir(), check=False)
    if check:
        assert result.returncode == 0, result.stderr
    return result


@pytest.fixture
def fixed_threads():
    """A thread setting with the contention monitor off, restored after."""
    saved, adaptive = cnnfast.get_num_threads(), _kernels.adaptive_enabled()
    _kernels.set_adaptive(False)
    yield cnnfast.set_num_threads
    cnnfast.set_num_threads(saved)
    _kernels.set_adaptive(adaptive)
    _kernels._force_parallel(False)


# ------------------------------------------------------- the default count

def decide(openmp_max, **kwargs):
    decided = effective_num_threads(openmp_max, **kwargs)
    return decided.count, decided.source


def test_omp_num_threads_decides_when_set():
    decided = effective_num_threads(2, environ={"OMP_NUM_THREADS": "3"}, affinity=64)
    assert (decided.count, decided.source) == (3, "OMP_NUM_THREADS")
    # A list is OpenMP's nested setting: the first number is the outer level.
    assert effective_num_threads(2, environ={"OMP_NUM_THREADS": "4,2"}, affinity=1).count == 4
    assert effective_num_threads(2, environ={"OMP_NUM_THREADS": "99999"}, affinity=1).count == 1024


@pytest.mark.parametrize("value", ["0", "-2", "two", "1.5"])
def test_an_invalid_omp_num_threads_is_ignored_with_a_warning(value, tmp_path):
    with pytest.warns(RuntimeWarning, match="ignoring OMP_NUM_THREADS"):
        decided = effective_num_threads(8, environ={"OMP_NUM_THREADS": value}, root=str(tmp_path), affinity=3)
    assert (decided.count, decided.source) == (3, "CPU affinity")


def test_the_smallest_of_affinity_quota_and_openmp_decides(tmp_path):
    root = cgroup_tree(tmp_path, v2_path="/", v2_files={"/": "150000 100000"})  # 1.5 CPUs -> 2
    assert decide(8, environ={}, root=root, affinity=1) == (1, "CPU affinity")
    assert decide(8, environ={}, root=root, affinity=64) == (2, "cgroup CPU quota")
    assert decide(1, environ={}, root=root, affinity=64) == (1, "omp_get_max_threads()")
    no_cgroup = str(tmp_path / "nothing")
    decided = effective_num_threads(6, environ={}, root=no_cgroup, affinity=4)
    assert (decided.count, decided.source) == (4, "CPU affinity")
    assert "no cgroup CPU quota" in decided.detail and "omp_get_max_threads() 6" in decided.detail


def cgroup_tree(tmp_path, v2_path=None, v2_files=None, v1_path=None, v1_files=None, v1_mount_root="/",
                v2_mount_root="/", v2_mount="/sys/fs/cgroup", v1_mount="/sys/fs/cgroup/cpu,cpuacct"):
    """A simulated root: /proc/self/cgroup, /proc/self/mountinfo and the cgroup
    files.  ``*_files`` maps a cgroup directory (relative to the mount) to
    cpu.max text (v2) or (quota, period) (v1)."""
    root = tmp_path / "root"
    (root / "proc/self").mkdir(parents=True)
    cgroup_lines, mount_lines = [], ["22 1 8:1 / / rw,relatime - ext4 /dev/root rw"]
    if v1_path is not None:
        cgroup_lines.append(f"4:cpu,cpuacct:{v1_path}")
        cgroup_lines.append(f"3:memory:{v1_path}")
        mount_lines.append(f"30 25 0:26 {v1_mount_root} {v1_mount.replace(' ', chr(92) + '040')} rw,nosuid "
                           "shared:9 - cgroup cgroup rw,cpu,cpuacct")
        mount_lines.append(f"31 25 0:27 {v1_mount_root} /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory")
        for directory, (quota, period) in (v1_files or {}).items():
            where = root / (v1_mount.lstrip("/") + directory)
            where.mkdir(parents=True, exist_ok=True)
            (where / "cpu.cfs_quota_us").write_text(f"{quota}\n")
            (where / "cpu.cfs_period_us").write_text(f"{period}\n")
    if v2_path is not None:
        cgroup_lines.append(f"0::{v2_path}")
        mount_lines.append(f"35 25 0:30 {v2_mount_root} {v2_mount} rw,nosuid - cgroup2 cgroup2 rw")
        for directory, text in (v2_files or {}).items():
            where = root / (v2_mount.lstrip("/") + directory)
            where.mkdir(parents=True, exist_ok=True)
            (where / "cpu.max").write_text(text + "\n")
    (root / "proc/self/cgroup").write_text("\n".join(cgroup_lines) + "\n")
    (root / "proc/self/mountinfo").write_text("\n".join(mount_lines) + "\n")
    return str(root)


def quota(root):
    found = cgroup_cpu_quota(root)
    return None if found is None else (found[0], found[1].replace(root, ""))


def test_cgroup_v2_quota_of_the_process_cgroup(tmp_path):
    # A container with its own cgroup namespace: its cgroup is "/".
    root = cgroup_tree(tmp_path, v2_path="/", v2_files={"/": "100000 100000"})
    assert quota(root) == (1.0, "/sys/fs/cgroup/cpu.max")
    assert decide(64, environ={}, root=root, affinity=64) == (1, "cgroup CPU quota")


def test_cgroup_v2_the_tightest_ancestor_counts(tmp_path):
    # systemd: the slice limits, the service below it says "max".
    root = cgroup_tree(tmp_path, v2_path="/user.slice/app.service",
                       v2_files={"/": "max 100000", "/user.slice": "250000 100000",
                                 "/user.slice/app.service": "max 100000"})
    assert quota(root) == (2.5, "/sys/fs/cgroup/user.slice/cpu.max")
    assert effective_num_threads(64, environ={}, root=root, affinity=64).count == 3  # rounded up
    unlimited = cgroup_tree(tmp_path / "u", v2_path="/a", v2_files={"/": "max 100000", "/a": "max 100000"})
    assert quota(unlimited) is None


def test_cgroup_v1_quota_with_and_without_a_namespace(tmp_path):
    # Docker on cgroup v1 without a cgroup namespace: the mount shows only the
    # container's own cgroup, whose full path /proc/self/cgroup gives.
    root = cgroup_tree(tmp_path, v1_path="/docker/abc", v1_mount_root="/docker/abc",
                       v1_files={"": (50000, 100000)})
    assert quota(root) == (0.5, "/sys/fs/cgroup/cpu,cpuacct/cpu.cfs_quota_us")
    assert effective_num_threads(64, environ={}, root=root, affinity=64).count == 1
    # On the host, the whole hierarchy is mounted: walk down to the cgroup.
    host = cgroup_tree(tmp_path / "h", v1_path="/docker/abc",
                       v1_files={"": (-1, 100000), "/docker": (-1, 100000), "/docker/abc": (300000, 100000)})
    assert quota(host) == (3.0, "/sys/fs/cgroup/cpu,cpuacct/docker/abc/cpu.cfs_quota_us")
    unlimited = cgroup_tree(tmp_path / "n", v1_path="/", v1_files={"": (-1, 100000)})
    assert quota(unlimited) is None


def test_cgroup_v1_and_v2_mounted_together_the_tighter_wins(tmp_path):
    root = cgroup_tree(tmp_path, v1_path="/job", v1_files={"/job": (200000, 100000)},
                       v2_path="/job", v2_files={"/job": "100000 100000"})
    assert quota(root) == (1.0, "/sys/fs/cgroup/job/cpu.max")


def test_cgroup_mount_points_are_unescaped(tmp_path):
    root = cgroup_tree(tmp_path, v1_path="/", v1_mount="/sys/fs/cgroup/cpu acct", v1_files={"": (100000, 100000)})
    assert quota(root) == (1.0, "/sys/fs/cgroup/cpu acct/cpu.cfs_quota_us")


@pytest.mark.parametrize("broken", ["no files", "garbage", "cgroup outside the mount", "bad quota"])
def test_unreadable_cgroup_information_means_no_quota(tmp_path, broken):
    if broken == "no files":
        root = str(tmp_path)
    elif broken == "garbage":
        root = cgroup_tree(tmp_path, v2_path="/", v2_files={"/": "100000 100000"})
        Path(root, "proc/self/mountinfo").write_text("nonsense\n- - -\n\n")
    elif broken == "cgroup outside the mount":
        root = cgroup_tree(tmp_path, v1_path="/other", v1_mount_root="/docker/abc", v1_files={"": (100000, 100000)})
    else:
        root = cgroup_tree(tmp_path, v2_path="/", v2_files={"/": "lots 100000"})
    assert cgroup_cpu_quota(root) is None
    assert effective_num_threads(5, environ={}, root=root, affinity=7).count == 5


def test_affinity_decides_in_a_child_and_set_num_threads_none_follows_it():
    if not hasattr(os, "sched_setaffinity"):
        pytest.skip("no os.sched_setaffinity on this system")
    out = run_child("""
        import os, cnnfast
        from cnnfast import _runtime
        first = cnnfast.get_num_threads()
        cpu = min(os.sched_getaffinity(0))
        # After import: OpenMP read the mask at start-up, so only cnnfast's own
        # rule can see the change.
        os.sched_setaffinity(0, {cpu})
        cnnfast.set_num_threads(None)
        print(first, cnnfast.get_num_threads(), _runtime.config()["threads"])
    """, {"OMP_NUM_THREADS": None}).stdout.split(maxsplit=2)
    usable = len(os.sched_getaffinity(0))
    assert int(out[0]) == min(usable, _quota_or(usable))
    assert out[1] == "1"
    assert out[2].startswith("1 (from CPU affinity: affinity mask 1 CPUs")


def _quota_or(default):
    found = cgroup_cpu_quota()
    return default if found is None else max(1, int(np.ceil(found[0])))


def test_set_num_threads_none_restores_the_default_and_show_config_names_the_source(fixed_threads, capsys):
    default = effective_num_threads(_kernels.default_num_threads()).count
    fixed_threads(default + 2)
    cnnfast.show_config()
    assert f"threads:          {default + 2} (set_num_threads)" in capsys.readouterr().out
    fixed_threads(None)
    assert cnnfast.get_num_threads() == default
    cnnfast.show_config()
    line = next(li for li in capsys.readouterr().out.splitlines() if li.startswith("threads:"))
    assert line.startswith(f"threads:          {default} (from ")
    assert any(source in line for source in ("OMP_NUM_THREADS", "CPU affinity", "cgroup CPU quota",
                                             "omp_get_max_threads()"))


def test_omp_num_threads_is_named_as_the_source():
    out = run_child("from cnnfast import _runtime; print(_runtime.config()['threads'])", {"OMP_NUM_THREADS": "3"})
    assert out.stdout.strip() == "3 (from OMP_NUM_THREADS: OMP_NUM_THREADS=3)"


def _writable_cpu_cgroup(version):
    """The mount point of the cgroup v1 cpu hierarchy, or of cgroup v2 when its
    root hands the cpu controller to children, if this user may write there."""
    try:
        mounts = Path("/proc/self/mountinfo").read_text().splitlines()
    except OSError:
        return None
    for line in mounts:
        fields = line.split()
        if "-" not in fields:
            continue
        dash = fields.index("-")
        mount, fstype, options = Path(fields[4]), fields[dash + 1], fields[dash + 3].split(",")
        if version == 1 and fstype == "cgroup" and "cpu" in options:
            usable = (mount / "cpu.cfs_quota_us").exists()
        elif version == 2 and fstype == "cgroup2":
            try:
                usable = "cpu" in (mount / "cgroup.subtree_control").read_text().split()
            except OSError:
                usable = False
        else:
            continue
        return mount if usable and os.access(mount, os.W_OK) else None
    return None


@pytest.mark.parametrize("version", [1, 2])
def test_a_real_cgroup_with_a_one_cpu_quota_gives_one_thread(version):
    """Where the test may create a cgroup (root, a cpu controller), a child
    started inside one limited to 1 CPU must default to 1 thread."""
    mount = _writable_cpu_cgroup(version)
    if mount is None:
        pytest.skip(f"no cgroup v{version} hierarchy with the cpu controller that this user may write to")
    group = mount / f"cnnfast-test-{uuid.uuid4().hex[:8]}"
    group.mkdir()
    try:
        if version == 1:
            (group / "cpu.cfs_period_us").write_text("100000")
            (group / "cpu.cfs_quota_us").write_text("100000")
        else:
            (group / "cpu.max").write_text("100000 100000")
        count, source = run_child(f"""
            import os
            with open({str(group / "cgroup.procs")!r}, "w") as f:  # move into the cgroup, then import
                f.write(str(os.getpid()))
            import cnnfast
            from cnnfast import _runtime
            print(cnnfast.get_num_threads(), _runtime.config()["threads"])
        """, {"OMP_NUM_THREADS": None}).stdout.split(maxsplit=1)
        assert count == "1"
        if len(os.sched_getaffinity(0)) > 1 and _kernels.default_num_threads() > 1:
            assert source.startswith("1 (from cgroup CPU quota: ") and str(group) in source
    finally:
        group.rmdir()


# --------------------------------------------------------------- the rule

def tiny_calls(dtype=np.float64):
    """[(name, thunk)]: every public function once on a tiny input."""
    rng = np.random.default_rng(0)
    r = lambda *shape: rng.standard_normal(shape).astype(dtype)
    x, w, dw = r(2, 2, 5, 5), r(3, 2, 3, 3), r(2, 1, 3, 3)
    y = F.conv2d(x, w)
    gy, dgy = r(*y.shape), r(2, 2, 5, 5)
    pooled, argmax = F.max_pool2d(x, 2)
    tw = r(2, 3, 3, 3)
    ty = F.conv_transpose2d(x, tw, stride=2)
    lx, lw = r(3, 4), r(5, 4)
    return [
        ("conv2d", lambda: F.conv2d(x, w, r(3))),
        ("conv2d_backward", lambda: F.conv2d_backward(gy, x, w)),  # includes the bias gradient
        ("conv2d depthwise", lambda: F.conv2d(x, dw, padding=1, groups=2)),
        ("conv2d_backward depthwise", lambda: F.conv2d_backward(dgy, x, dw, padding=1, groups=2)),
        ("conv2d_backward depthwise 5x5", lambda: F.conv2d_backward(r(2, 2, 3, 3), x, r(2, 1, 5, 5), padding=1,
                                                                    groups=2)),
        ("conv_transpose2d", lambda: F.conv_transpose2d(x, tw, stride=2)),
        ("conv_transpose2d_backward", lambda: F.conv_transpose2d_backward(r(*ty.shape), x, tw, stride=2)),
        ("max_pool2d", lambda: F.max_pool2d(x, 2)),
        ("max_pool2d_backward", lambda: F.max_pool2d_backward(r(*pooled.shape), argmax, x.shape)),
        ("avg_pool2d", lambda: F.avg_pool2d(x, 3, 2, 1)),
        ("avg_pool2d_backward", lambda: F.avg_pool2d_backward(r(2, 2, 3, 3), x.shape, 3, 2, 1)),
        ("global_avg_pool2d", lambda: F.global_avg_pool2d(x)),
        ("global_avg_pool2d_backward", lambda: F.global_avg_pool2d_backward(r(2, 2), x.shape)),
        ("linear", lambda: F.linear(lx, lw, r(5))),
        ("linear_backward", lambda: F.linear_backward(r(3, 5), lx, lw)),
        ("batch_norm_train", lambda: F.batch_norm_train(x, r(2), r(2))),
        ("batch_norm_train_backward", lambda: F.batch_norm_train_backward(r(*x.shape), x, r(2), np.abs(r(2)) + 1, r(2))),
        ("batch_norm_affine", lambda: F.batch_norm_affine(x, r(2), r(2))),
        ("relu", lambda: F.relu(x)),
        ("relu_backward", lambda: F.relu_backward(r(*x.shape), x)),
        ("sgd_update", lambda: sgd_step(r(*x.shape), r(*x.shape), r(*x.shape))),
    ]


def sgd_step(data, grad, buf):
    """One SGD step with momentum on fresh arrays -> (data, buf) after it (updated in place)."""
    F.sgd_update(data, grad, buf, 0.1, 0.9, nesterov=True, weight_decay=1e-3)
    return data, buf


def large_calls():
    """[(name, thunk, items)]: every kernel family with more work and items
    than 8 threads need; items is None where many."""
    rng = np.random.default_rng(1)
    r = lambda *shape: rng.standard_normal(shape).astype(np.float32)
    x, w, dw = r(16, 16, 28, 28), r(16, 16, 3, 3), r(16, 1, 3, 3)
    gy = r(16, 16, 28, 28)
    pooled, argmax = F.max_pool2d(x, 2)
    lx, lw = r(512, 256), r(256, 256)
    return [
        ("conv2d", lambda: F.conv2d(x, w, padding=1)),
        ("conv2d_backward", lambda: F.conv2d_backward(gy, x, w, padding=1)),
        ("conv2d depthwise", lambda: F.conv2d(x, dw, padding=1, groups=16)),
        ("conv2d_backward depthwise", lambda: F.conv2d_backward(gy, x, dw, padding=1, groups=16)),
        ("conv2d_backward depthwise 5x5", lambda: F.conv2d_backward(gy, x, r(16, 1, 5, 5), padding=2, groups=16)),
        ("max_pool2d", lambda: F.max_pool2d(x, 2)),
        ("max_pool2d_backward", lambda: F.max_pool2d_backward(pooled, argmax, x.shape)),
        ("avg_pool2d", lambda: F.avg_pool2d(x, 3, 2, 1)),
        ("avg_pool2d_backward", lambda: F.avg_pool2d_backward(r(16, 16, 14, 14), x.shape, 3, 2, 1)),
        ("linear", lambda: F.linear(lx, lw)),
        ("linear_backward", lambda: F.linear_backward(r(512, 256), lx, lw)),
        ("batch_norm_train", lambda: F.batch_norm_train(x, r(16), r(16))),
        ("batch_norm_train_backward", lambda: F.batch_norm_train_backward(gy, x, r(16), np.abs(r(16)) + 1, r(16))),
        ("batch_norm_affine", lambda: F.batch_norm_affine(x, r(16), r(16))),
        ("relu", lambda: F.relu(x)),
        ("relu_backward", lambda: F.relu_backward(gy, x)),
        ("sgd_update", lambda: sgd_step(x.copy(), gy, gy.copy())),
    ]


def decisions_of(thunk):
    _kernels._reset_thread_decisions()
    thunk()
    return _kernels._thread_decisions()


#: Every kernel entry point of the bindings (each runs one parallel region).
KERNELS = sorted(name for name in dir(_kernels)
                 if name.endswith(("_forward", "_backward", "_grad")) and not name.startswith("_")
                 or name in ("batchnorm_affine", "sgd_update"))


@pytest.fixture
def kernel_calls(monkeypatch):
    """The names of the kernels called since the list was last cleared."""
    calls = []

    def counting(name, kernel):
        def counted(*args):
            calls.append(name)
            return kernel(*args)
        return counted

    for name in KERNELS:
        monkeypatch.setattr(_kernels, name, counting(name, getattr(_kernels, name)))
    return calls


def test_the_calls_cover_every_public_function_and_kernel(kernel_calls):
    assert {name.split()[0] for name, _ in tiny_calls()} == set(F.__all__) | {"sgd_update"}  # in place: not in __all__
    for _, thunk in tiny_calls():
        thunk()
    assert set(kernel_calls) == set(KERNELS)
    assert len(KERNELS) == 15


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("setting", [2, 8])
def test_every_kernel_runs_a_tiny_call_on_one_thread(fixed_threads, kernel_calls, setting, dtype):
    fixed_threads(setting)
    for name, thunk in tiny_calls(dtype):
        kernel_calls.clear()
        decided = decisions_of(thunk)
        # One decision per kernel call, through the rule (a kernel that sized
        # its team any other way would leave one missing), and each chose one thread.
        assert decided["serial"] + decided["parallel"] == len(kernel_calls) >= 1, (name, kernel_calls, decided)
        assert decided["parallel"] == 0, f"{name} started threads for a tiny call: {decided}"


def test_every_kernel_goes_parallel_on_a_large_call(fixed_threads, kernel_calls):
    """The other half of the rule (and proof that the hook sees parallel calls)."""
    fixed_threads(2)
    for name, thunk in large_calls():
        kernel_calls.clear()
        decided = decisions_of(thunk)
        # At least one region per kernel call (the engine's conv2d_backward runs
        # one per gradient), every one on 2 threads.
        assert decided["serial"] == 0 and decided["parallel"] >= len(kernel_calls) >= 1, (name, decided)
        assert decided["largest"] == 2, (name, decided)


def test_never_more_threads_than_work_items(fixed_threads):
    fixed_threads(8)
    _kernels._force_parallel(True)  # size no object: only the items bound the count
    rng = np.random.default_rng(2)
    x = rng.standard_normal((2, 4, 6, 6))
    for channels in (1, 3, 5):
        # conv2d_bias_grad: one work item per output channel
        grad_y, _, _, g = _checks.conv2d_backward_args(rng.standard_normal((2, channels, 6, 6)), x,
                                                       rng.standard_normal((channels, 4, 1, 1)), 1, 0, 1, 1)
        grad_bias = np.empty(channels)
        decided = decisions_of(lambda g=g, grad_y=grad_y, grad_bias=grad_bias:
                               _kernels.conv2d_bias_grad(g, grad_y, grad_bias))
        assert (decided["serial"], decided["largest"]) == ((1, 0) if channels == 1 else (0, channels))
    # linear forward of 16 rows: one block of rows, one item
    assert decisions_of(lambda: F.linear(rng.standard_normal((16, 8)), rng.standard_normal((4, 8))))["parallel"] == 0


def test_forced_parallel_path_matches_the_serial_one_bitwise(fixed_threads):
    """Tiny calls forced onto 2 and 3 threads give the serial bits."""
    for dtype in (np.float32, np.float64):
        fixed_threads(1)
        serial = [thunk() for _, thunk in tiny_calls(dtype)]
        _kernels._force_parallel(True)
        for count in (2, 3):
            fixed_threads(count)
            _kernels._reset_thread_decisions()
            forced = [thunk() for _, thunk in tiny_calls(dtype)]
            assert _kernels._thread_decisions()["largest"] == count
            for (name, _), got, want in zip(tiny_calls(dtype), forced, serial):
                for a, b in zip(got if isinstance(got, tuple) else (got,), want if isinstance(want, tuple) else (want,)):
                    np.testing.assert_array_equal(a, b, err_msg=f"{name} at {count} forced threads")
        _kernels._force_parallel(False)


# ---------------------------------------------------- BLAS inside regions

BLAS_CHILD = OPENMP_GLOBAL + """
import os, numpy as np, threadpoolctl, cnnfast
from cnnfast import _kernels, _runtime, models, optim
cnnfast.set_num_threads(2)
_kernels.set_adaptive(False)         # the test is about BLAS, not contention
_kernels._force_parallel(True)       # every kernel in a 2-thread region

def ours():
    name = os.path.realpath(_runtime._openblas._name)
    return [i["num_threads"] for i in threadpoolctl.threadpool_info() if os.path.realpath(i["filepath"]) == name]

def train(steps=3):
    model = models.lenet5(seed=0)
    model.compile(optimizer=optim.SGD(model.parameters(), lr=0.05, momentum=0.9))
    rng = np.random.default_rng(0)
    x = rng.standard_normal((64, 1, 32, 32)).astype(np.float32)
    y = rng.integers(0, 10, 64)
    losses = [model.train_on_batch(x, y)["loss"] for _ in range(steps)]
    return losses, [w.copy() for w in model.get_weights()]

before_losses, before_weights = train()
limits = threadpoolctl.threadpool_limits(2)   # every BLAS and OpenMP pool to 2 threads, for good
raised = ours()
_kernels._reset_blas_largest_threads()
after_losses, after_weights = train()
print("raised", raised, "after", ours(), "largest", _kernels._blas_largest_threads())
print("same", before_losses == after_losses and all(np.array_equal(a, b) for a, b in zip(before_weights, after_weights)))
"""


def test_threadpool_limits_cannot_make_blas_thread_inside_the_kernels():
    pytest.importorskip("threadpoolctl")
    result = run_child(BLAS_CHILD)
    assert "OpenBLAS Warning" not in result.stderr, result.stderr[:500]
    lines = dict(line.split(" ", 1) for line in result.stdout.splitlines())
    # threadpoolctl raised our BLAS (and said so); the kernels ran every GEMM
    # with it at one thread; afterwards threadpoolctl reports that one thread.
    assert lines["raised"] == "[2] after [1] largest 1"
    assert lines["same"] == "True"


def test_the_blas_hook_sees_gemm_calls(fixed_threads):
    """_blas_largest_threads is 0 with no GEMM and 1 after one (not vacuous)."""
    _kernels._reset_blas_largest_threads()
    F.max_pool2d(np.ones((1, 1, 4, 4)), 2)
    assert _kernels._blas_largest_threads() == 0
    F.linear(np.ones((4, 3)), np.ones((2, 3)))
    assert _kernels._blas_largest_threads() == 1


# ------------------------------------------------------ contention monitor

def simulate(waiting_per_window, setting=2, window=0.06, in_use=None, start=0.0):
    """Caps after each window in which every thread waited the given fraction."""
    now, delay, readings = start, 0.0, [(start, 0.0, 1)]
    for fraction in waiting_per_window:
        threads = in_use or setting
        now += window
        delay += fraction * window * threads
        readings.append((now, delay, threads))
    return _kernels._monitor_simulate(readings, setting)[1:]


def test_monitor_halves_the_cap_while_threads_wait_for_a_cpu():
    assert simulate([0.5, 0.5, 0.5, 0.5], setting=8, in_use=1) == [4, 2, 1, 1]
    assert simulate([0.0] * 5, setting=8) == [8] * 5
    assert simulate([0.1] * 5) == [2] * 5  # below the threshold


def test_monitor_tries_a_higher_cap_after_a_back_off_and_backs_off_longer_when_it_fails():
    # Windows of 0.06 s.  After the drop at 0.06 s the first trial may come at
    # 0.26 s (0.2 s back-off): the window ending at 0.30 s raises the cap.
    caps = simulate([0.5] + [0.0] * 4 + [0.5] + [0.0] * 7 + [0.5])
    assert caps[:5] == [1, 1, 1, 1, 2]
    # The trial failed at 0.36 s: back to 1, and the next trial waits 0.4 s,
    # until the window ending at 0.78 s.
    assert caps[5:12] == [1] * 7
    assert caps[12:] == [2, 1]


def test_monitor_keeps_a_cap_that_held_and_never_tries_while_one_thread_waits():
    caps = simulate([0.5] + [0.0] * 4 + [0.0] * 3)
    assert caps[4:] == [2, 2, 2, 2]
    assert simulate([0.5] + [0.3] * 20, in_use=1) == [1] * 21  # busy even at 1 thread: no trial


def test_monitor_does_not_judge_a_stale_window():
    stale = _kernels._monitor_simulate([(0.0, 0.0, 2), (2.0, 1.9, 2), (2.06, 1.9, 2)], 2)
    assert stale == [2, 2, 2]  # 2 s since the last reading: restarted, not judged


def test_two_threads_on_one_cpu_are_capped_and_omp_dynamic_false_turns_the_monitor_off():
    if not hasattr(os, "sched_setaffinity") or not _kernels.adaptive_enabled():
        pytest.skip("needs os.sched_setaffinity and /proc/self/task/*/schedstat")
    code = """
        import os, time, numpy as np, cnnfast
        from cnnfast import _kernels, functional as F
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
        cnnfast.set_num_threads(2)       # two threads, one CPU: they must wait for each other
        x = np.random.default_rng(0).standard_normal((32, 8, 32, 32)).astype(np.float32)
        w = np.ones((8, 8, 3, 3), np.float32)
        start, caps = time.perf_counter(), []
        while time.perf_counter() - start < 1.5:
            F.conv2d_backward(F.conv2d(x, w, padding=1), x, w, padding=1)
            caps.append(_kernels.contention_cap())
        print(_kernels.adaptive_enabled(), caps.count(1) / len(caps), max(caps))
    """
    enabled, capped, largest = run_child(code).stdout.split()
    # Capped to one thread for most of the run (trials of two threads come
    # after growing back-offs and last one window each).
    assert enabled == "True" and float(capped) > 0.5, (capped, largest)
    enabled, capped, largest = run_child(code, {"OMP_DYNAMIC": "false"}).stdout.split()
    assert (enabled, capped, largest) == ("False", "0.0", "2")


def test_show_config_reports_the_monitor(capsys):
    cnnfast.show_config()
    line = next(li for li in capsys.readouterr().out.splitlines() if li.startswith("adaptive threads:"))
    assert ("on (" in line) == _kernels.adaptive_enabled()


@pytest.mark.parametrize("value, expected", [("false", False), ("FALSE", False), ("true", True), ("", True)])
def test_omp_dynamic_is_read_as_openmp_defines_it(value, expected):
    assert _thread_count.adaptive_from_environment({"OMP_DYNAMIC": value}) is expected
    assert _thread_count.adaptive_from_environment({}) is True
    with pytest.warns(RuntimeWarning, match="OMP_DYNAMIC"):
        assert _thread_count.adaptive_from_environment({"OMP_DYNAMIC": "sometimes"}) is True

