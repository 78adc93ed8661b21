"""Determinism and thread safety of every kernel, forward and backward.

* Bit-identical results at 1, 2 and 4 threads (``cnnfast.set_num_threads``),
  forward *and* backward, for every public function, on shapes that take
  each kernel path (im2col, pointwise 1x1, depthwise, grouped, transposed,
  pooling, linear); and run to run at a fixed thread count.  The kernels
  split work into chunks that depend on the shapes only and reduce partial
  sums in a fixed order, so no tolerance is needed anywhere.  Run twice: as
  the thread rule decides (calls too small for a thread run serially), and
  with every call forced onto the requested threads, the contention monitor
  off, so that every kernel's parallel path is compared.
* Thread safety: several Python threads (the GIL is released) running
  different functions and shapes at once give the sequential answers.

(tests/test_runtime.py already checks 1/2/3 threads for conv and pooling;
this file extends that to 4 threads and to every function, and to every
convolution implementation: the engine on each ISA's micro-kernels and
im2col + OpenBLAS.)
"""

import threading

import numpy as np
import pytest

import cnnfast
from cnnfast import _isa, _kernels
from cnnfast import functional as F


def r(rng, *shape, dtype=np.float32):
    return rng.standard_normal(shape).astype(dtype)


def workload(seed, dtype):
    """[(name, thunk)] covering every public function; shapes large enough that
    4 threads each get several chunks."""
    rng = np.random.default_rng(seed)
    x = r(rng, 6, 8, 17, 15, dtype=dtype)
    conv = [
        (r(rng, 12, 8, 3, 3, dtype=dtype), dict(padding=1)),                     # im2col
        (r(rng, 16, 8, 1, 1, dtype=dtype), dict()),                              # pointwise
        (r(rng, 8, 1, 3, 3, dtype=dtype), dict(padding=1, groups=8, stride=2)),  # depthwise
        (r(rng, 12, 4, 3, 2, dtype=dtype), dict(padding=(1, 0), groups=2, dilation=2)),
    ]
    # Deep enough for the engine to cut the patch rows into several blocks (and
    # the weight gradient's pixels into several chunks), strided for its phases.
    wide = r(rng, 8, 40, 30, 44, dtype=dtype)
    conv += [(r(rng, 20, 40, 3, 3, dtype=dtype), dict(padding=1, x=wide)),
             (r(rng, 24, 40, 3, 3, dtype=dtype), dict(padding=1, stride=2, x=wide))]
    out = []
    for i, (w, args) in enumerate(conv):
        args = dict(args)
        xi = args.pop("x", x)
        y = F.conv2d(xi, w, **args)
        gy = r(rng, *y.shape, dtype=dtype)
        out.append((f"conv2d[{i}]", lambda x=xi, w=w, args=args: F.conv2d(x, w, **args)))
        out.append((f"conv2d_backward[{i}]", lambda gy=gy, x=xi, w=w, args=args: F.conv2d_backward(gy, x, w, **args)))
    tw = r(rng, 8, 3, 3, 3, dtype=dtype)
    ty = F.conv_transpose2d(x, tw, stride=2, padding=1, output_padding=1)
    tgy = r(rng, *ty.shape, dtype=dtype)
    out.append(("conv_transpose2d", lambda: F.conv_transpose2d(x, tw, stride=2, padding=1, output_padding=1)))
    out.append(("conv_transpose2d_backward",
                lambda: F.conv_transpose2d_backward(tgy, x, tw, stride=2, padding=1, output_padding=1)))
    y, argmax = F.max_pool2d(x, 3, 2, 1)
    gp = r(rng, *y.shape, dtype=dtype)
    out.append(("max_pool2d", lambda: F.max_pool2d(x, 3, 2, 1)))
    out.append(("max_pool2d_backward", lambda: F.max_pool2d_backward(gp, argmax, x.shape)))
    out.append(("avg_pool2d", lambda: F.avg_pool2d(x, 3, 2, 1, count_include_pad=False)))
    out.append(("avg_pool2d_backward", lambda: F.avg_pool2d_backward(gp, x.shape, 3, 2, 1, count_include_pad=False)))
    gg = r(rng, 6, 8, dtype=dtype)
    out.append(("global_avg_pool2d", lambda: F.global_avg_pool2d(x)))
    out.append(("global_avg_pool2d_backward", lambda: F.global_avg_pool2d_backward(gg, x.shape)))
    bx, bw, bb = r(rng, 7, 40, 13, 11, dtype=dtype), r(rng, 40, dtype=dtype), r(rng, 40, dtype=dtype)
    _, bmean, _, binv = F.batch_norm_train(bx, bw, bb, 1e-5)
    bgy = r(rng, *bx.shape, dtype=dtype)
    out.append(("batch_norm_train", lambda: F.batch_norm_train(bx, bw, bb, 1e-5)))
    out.append(("batch_norm_train_backward", lambda: F.batch_norm_train_backward(bgy, bx, bmean, binv, bw)))
    out.append(("batch_norm_affine", lambda: F.batch_norm_affine(bx, bw, bb)))
    out.append(("relu", lambda: F.relu(bx)))
    out.append(("relu_backward", lambda: F.relu_backward(bgy, bx)))

    def sgd():
        data, buf = bx.copy(), bgy.copy()
        F.sgd_update(data, bgy, buf, 0.1, 0.9, 0.0, True, 1e-4)
        return data, buf
    out.append(("sgd_update", sgd))
    lx, lw, lb, lgy = r(rng, 67, 129, dtype=dtype), r(rng, 33, 129, dtype=dtype), r(rng, 33, dtype=dtype), \
        r(rng, 67, 33, dtype=dtype)
    out.append(("linear", lambda: F.linear(lx, lw, lb)))
    out.append(("linear_backward", lambda: F.linear_backward(lgy, lx, lw)))
    return out


def flat(result):
    return list(result) if isinstance(result, tuple) else [result]


@pytest.fixture
def threads():
    saved = cnnfast.get_num_threads()
    yield cnnfast.set_num_threads
    cnnfast.set_num_threads(saved)


@pytest.fixture(params=["as decided", "forced parallel"])
def forced(request):
    """Run as the thread rule decides, or with every call on the threads asked for."""
    if request.param == "forced parallel":
        adaptive = _kernels.adaptive_enabled()
        _kernels.set_adaptive(False)
        _kernels._force_parallel(True)
        yield True
        _kernels._force_parallel(False)
        _kernels.set_adaptive(adaptive)
    else:
        yield False


def test_the_workload_covers_every_public_function():
    names = {name.split("[")[0] for name, _ in workload(0, np.float32)}
    # every public function, and the SGD update (in place: outside __all__)
    assert names == set(F.__all__) | {"sgd_update"}


CONV_VARIANTS = [("engine", isa) for isa in _isa.available_isas()] + [("blas", None)]


@pytest.fixture(params=CONV_VARIANTS, ids=lambda v: f"{v[0]}-{v[1]}" if v[1] else v[0])
def conv_variant(request):
    """Convolutions forced onto one implementation for the test."""
    path, isa = request.param
    saved_path, saved_isa = _kernels.get_conv_path(), cnnfast.get_isa()
    _kernels.set_conv_path(path)
    if isa is not None:
        cnnfast.set_isa(isa)
    yield request.param
    _kernels.set_conv_path(saved_path)
    cnnfast.set_isa(saved_isa)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_bit_identical_at_1_2_and_4_threads_and_run_to_run(threads, forced, dtype, conv_variant):
    work = workload(0, dtype)
    results = {}
    for count in (1, 2, 4, 4):  # 4 twice: run to run at a fixed count
        threads(count)
        assert cnnfast.get_num_threads() == count
        _kernels._reset_thread_decisions()
        results.setdefault(count, []).append([flat(thunk()) for _, thunk in work])
        if forced:
            assert _kernels._thread_decisions()["largest"] == (count if count > 1 else 0)
    base = results[1][0]
    for count, runs in results.items():
        for run in runs:
            for (name, _), got, want in zip(work, run, base):
                for a, b in zip(got, want):
                    # assert_array_equal: bitwise equal (NaN-free data), no tolerance.
                    np.testing.assert_array_equal(a, b, err_msg=f"{name} at {count} threads")


def test_concurrent_python_threads_running_different_kernels_match_sequential(threads):
    threads(2)
    work = workload(1, np.float64) + workload(2, np.float32)
    expected = [flat(thunk()) for _, thunk in work]
    got = [None] * len(work)
    errors = []
    start = threading.Barrier(4)

    def worker(offset):
        try:
            start.wait()
            for _ in range(8):  # a shared-buffer race is caught in ~2 of 3 runs at 3 rounds
                # Each thread walks the list from its own offset: different
                # functions and shapes overlap in time.
                for k in range(len(work)):
                    i = (k + offset) % len(work)
                    got[i] = flat(work[i][1]())
                    for a, b in zip(got[i], expected[i]):
                        np.testing.assert_array_equal(a, b, err_msg=work[i][0])
        except BaseException as e:  # reported below: an assert in a thread does not fail the test by itself
            errors.append(e)

    pool = [threading.Thread(target=worker, args=(offset * 7,)) for offset in range(4)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    assert not errors, errors[0]
