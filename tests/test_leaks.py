"""No leaks: 10,000 forward+backward calls of each kernel leave RSS flat.

Each kernel runs in a fresh child process at one thread (so other tests'
memory does not blur the figure): a warm-up of 1,000 calls fills NumPy's caches, OpenMP's
thread pools and the conv workspaces, then resident memory is read from
/proc/self/statm before and after 10,000 more calls.  Growth must stay under
2 MiB: a leaked output array per call (the outputs here are a few hundred
bytes plus a ~100-byte header) shows up as 4-5 MiB, as the last test shows.
Error paths (calls the checks or the bindings refuse) are measured too:
leaks hide in early returns.  The last test proves the harness sees a leak.
"""

import json
import os
import subprocess
import sys
import tempfile
import textwrap

import pytest

import cnnfast

pytestmark = pytest.mark.skipif(not os.path.exists("/proc/self/statm"), reason="needs /proc (Linux)")

CALLS = 10_000
LIMIT_MIB = 2.0

HARNESS = textwrap.dedent("""
    import json, os, sys
    import numpy as np
    import cnnfast
    from cnnfast import _checks, _kernels
    from cnnfast import functional as F

    PAGE = os.sysconf("SC_PAGE_SIZE")
    rng = np.random.default_rng(0)
    r = lambda *s: rng.standard_normal(s).astype(np.float32)
    x, w, dw, pw = r(2, 4, 6, 6), r(3, 4, 3, 3), r(4, 1, 3, 3), r(5, 4, 1, 1)
    gy, gdw, gpw = r(2, 3, 6, 6), r(2, 4, 6, 6), r(2, 5, 6, 6)
    tw, tgy = r(4, 3, 3, 3), r(2, 3, 13, 13)
    lx, lw, lb, lgy = r(8, 16), r(10, 16), r(10), r(8, 10)
    kept = []

    def refused(call):
        try:
            call()
        except (TypeError, ValueError):
            return
        raise AssertionError("expected a refusal")

    _, _, _, g = _checks.conv2d_args(x, w, None, 1, 1, 1, 1)

    KERNELS = {
        "conv2d": lambda: F.conv2d_backward(gy, x, w, padding=1) + (F.conv2d(x, w, None, padding=1),),
        "conv2d-depthwise": lambda: F.conv2d_backward(gdw, x, dw, padding=1, groups=4)
                                    + (F.conv2d(x, dw, None, padding=1, groups=4),),
        "conv2d-pointwise": lambda: F.conv2d_backward(gpw, x, pw) + (F.conv2d(x, pw),),
        "conv_transpose2d": lambda: F.conv_transpose2d_backward(tgy, x, tw, stride=2)
                                    + (F.conv_transpose2d(x, tw, None, stride=2),),
        "max_pool2d": lambda: F.max_pool2d_backward(*F.max_pool2d(x, 3, 2, 1), x.shape),
        "avg_pool2d": lambda: F.avg_pool2d_backward(F.avg_pool2d(x, 3, 2, 1, False), x.shape, 3, 2, 1, False),
        "global_avg_pool2d": lambda: F.global_avg_pool2d_backward(F.global_avg_pool2d(x), x.shape),
        "linear": lambda: F.linear_backward(lgy, lx, lw) + (F.linear(lx, lw, lb),),
        "errors-checks": lambda: (refused(lambda: F.conv2d(x, w, padding=-1)),
                                  refused(lambda: F.linear(lx, lw[:, :3])),
                                  refused(lambda: F.max_pool2d(x.astype(np.float16), 2)),
                                  refused(lambda: F.max_pool2d_backward(gy, np.full(gy.shape, 99), x.shape))),
        "errors-bindings": lambda: (refused(lambda: _kernels.conv2d_forward(g, x, w, None, np.empty((2, 3, 5, 6), np.float32))),
                                    refused(lambda: _kernels.max_pool2d_backward(
                                        _checks.pool2d_args(x, 2, None, 0)[1], r(2, 4, 3, 3),
                                        np.full((2, 4, 3, 3), 10**6), np.empty_like(x)))),
        # The harness's own check: keeping every output must be seen as a leak.
        "deliberate-leak": lambda: kept.append(F.linear(lx, lw, lb)),
    }

    def rss():
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * PAGE

    # One thread: the same OpenMP regions and workspace allocations run (with a
    # team of one), without the barrier waits that make tiny calls cost
    # milliseconds on a shared, oversubscribed CI machine.
    cnnfast.set_num_threads(1)
    name = sys.argv[1]
    call = KERNELS[name]
    for _ in range(1000):
        call()
    kept.clear()
    before = rss()
    for _ in range(int(sys.argv[2])):
        call()
    after = rss()
    print(json.dumps({"before": before, "after": after}))
""")

KERNELS = ["conv2d", "conv2d-depthwise", "conv2d-pointwise", "conv_transpose2d", "max_pool2d", "avg_pool2d",
           "global_avg_pool2d", "linear", "errors-checks", "errors-bindings"]


def measure(name, calls=CALLS):
    env = dict(os.environ, PYTHONPATH=os.path.dirname(os.path.dirname(cnnfast.__file__)))
    result = subprocess.run([sys.executable, "-c", HARNESS, name, str(calls)], capture_output=True, text=True,
                            env=env, timeout=300, cwd=tempfile.gettempdir())
    assert result.returncode == 0, result.stderr
    rss = json.loads(result.stdout)
    growth = (rss["after"] - rss["before"]) / 2**20
    print(f"{name}: RSS {rss['before'] / 2**20:.1f} -> {rss['after'] / 2**20:.1f} MiB after {calls} calls "
          f"(+{growth:.2f} MiB)")
    return growth


@pytest.mark.parametrize("name", KERNELS)
def test_ten_thousand_forward_backward_calls_leave_rss_flat(name):
    assert measure(name) < LIMIT_MIB


def test_the_harness_detects_a_leak():
    # 10,000 kept (8, 10) float32 outputs: 10,000 * (320 B + ~112 B of header) ~ 4 MiB.
    assert measure("deliberate-leak") > LIMIT_MIB
