"""Sizes that overflow 32 bits or Py_ssize_t are refused before any allocation.

The inputs are zero-stride views (``np.broadcast_to``): billions of logical
elements backed by one real one, so a check that copies or allocates before
it validates would try to allocate gigabytes.  Each call runs in a child
process whose address space is capped (``RLIMIT_AS``, on Linux), so such a
regression shows up as a ``MemoryError`` (or a large ``tracemalloc`` peak),
never as a machine paging itself to death; ``tracemalloc`` sees NumPy's
allocations, and the peak during a refused call must stay under 1 MiB.  macOS
refuses or ignores ``RLIMIT_AS`` and Windows has no ``resource`` module: there
the ``tracemalloc`` peak alone is the oracle.
"""

import json
import os
import re
import subprocess
import sys
import tempfile
import textwrap

import numpy as np
import pytest

import cnnfast
from cnnfast import _checks, _kernels

H = 2**31 - 1
BIG = 50_000  # 50_000**2 = 2.5e9 elements: more than 2**31, fine for Py_ssize_t

# name: (call with `b` = backend, `big(shape)` = zero-stride float32 view, expected message regex);
# a ValueError, or a TypeError for the dtype case.
CASES = {
    "conv-input-plane-over-2**31": (
        "F.conv2d(big((1, 1, BIG, BIG)), np.ones((1, 1, 3, 3), np.float32), backend=b)",
        r"x plane H \* W = 2500000000 exceeds the 32-bit BLAS limit"),
    "conv-patch-over-2**31": (
        "F.conv2d(big((1, 2**16, 256, 256)), big((1, 2**16, 256, 256)), backend=b)",
        r"in_channels // groups \* kh \* kw = 4294967296 exceeds the 32-bit BLAS limit"),
    "conv-huge-x-bad-weight": (
        "F.conv2d(big((1, 1, BIG, BIG)), np.ones((1, 1, 3), np.float32), backend=b)", r"weight must be 4-D"),
    "conv-backward-huge-grad_y-mismatch": (
        "F.conv2d_backward(big((1, 1, BIG, BIG)), np.ones((1, 1, 4, 4), np.float32), "
        "np.ones((1, 1, 3, 3), np.float32), backend=b)", r"grad_y must have shape \(1, 1, 2, 2\)"),
    "transposed-output-plane-over-2**31": (
        "F.conv_transpose2d(np.ones((1, 1, 2, 2), np.float32), np.ones((1, 1, 1, 1), np.float32), "
        "stride=2**20, backend=b)", r"output plane H \* W = \d+ exceeds the 32-bit BLAS limit"),
    "transposed-output-over-Py_ssize_t": (
        "F.conv_transpose2d(np.ones((1, 1, 2, 2), np.float32), np.ones((1, 1, 1, 1), np.float32), "
        "stride=2**31 - 1, backend=b)", r"output of shape \(1, 1, 2147483648, 2147483648\) .* too large"),
    "linear-in_features-over-2**31": (
        "F.linear(big((1, H + 2)), big((1, H + 2)), backend=b)", r"in_features = 2147483649 exceeds"),
    "linear-batch-over-2**31": (
        "F.linear(big((H + 2, 1)), np.ones((1, 1), np.float32), backend=b)", r"batch = 2147483649 exceeds"),
    "linear-backward-huge-mismatch": (
        "F.linear_backward(big((BIG, BIG)), big((BIG, 3)), np.ones((2, 3), np.float32), backend=b)",
        r"grad_y must have shape \(50000, 2\)"),
    "pool-huge-x-kernel-too-large": (
        "F.max_pool2d(big((1, 1, BIG, BIG)), (BIG + 1, 1), backend=b)", r"kernel_size .* is larger than"),
    "avg-pool-huge-x-bad-padding": (
        "F.avg_pool2d(big((1, 1, BIG, BIG)), 2, padding=2, backend=b)", r"padding .* at most half"),
    "pool-backward-x_shape-over-Py_ssize_t": (
        "F.avg_pool2d_backward(np.ones((1, 1, 1, 1), np.float32), (1, 1, 2**40, 2**40), kernel_size=2**40, "
        "backend=b)", r"x_shape of shape .* too large"),
    "max-pool-backward-x_shape-over-2**64": (
        "F.max_pool2d_backward(np.ones((1, 1, 1, 1), np.float32), np.zeros((1, 1, 1, 1), np.int64), "
        "(1, 1, 2**64, 1), backend=b)", r"x_shape of shape .* too large"),
    "global-pool-backward-huge-grad_y-mismatch": (
        "F.global_avg_pool2d_backward(big((BIG, BIG)), (BIG, BIG + 1, 1, 1), backend=b)",
        r"does not match x_shape"),
    "bad-dtype-of-a-huge-view": (
        "F.global_avg_pool2d(np.broadcast_to(np.float16(1), (1, 1, BIG, BIG)), backend=b)",
        r"x must be float32 or float64"),
}


@pytest.fixture(scope="module")
def outcomes():
    """Every case on both backends in one capped child: {case/backend: [type, message, peak bytes]}."""
    code = textwrap.dedent("""
        import json, os, sys, tracemalloc
        # ASan: max_allocation_size_mb caps instead.
        if sys.platform.startswith("linux") and not os.environ.get("CNNFAST_SANITIZED"):
            import resource
            resource.setrlimit(resource.RLIMIT_AS, (3 << 30, 3 << 30))
        import numpy as np
        from cnnfast import functional as F
        H, BIG = 2**31 - 1, 50_000
        big = lambda shape: np.broadcast_to(np.float32(1), shape)
        out = {}
        for name, call in json.loads(sys.argv[1]).items():
            for b in ("fast", "reference"):
                tracemalloc.start()
                try:
                    eval(call)
                    result = ["returned", ""]
                except Exception as e:
                    result = [type(e).__name__, str(e)]
                out[f"{name}/{b}"] = result + [tracemalloc.get_traced_memory()[1]]
                tracemalloc.stop()
        print(json.dumps(out))
    """)
    calls = {name: call for name, (call, _) in CASES.items()}
    env = dict(os.environ, PYTHONPATH=os.path.dirname(os.path.dirname(cnnfast.__file__)))
    result = subprocess.run([sys.executable, "-c", code, json.dumps(calls)], capture_output=True, text=True,
                            timeout=300, cwd=tempfile.gettempdir(), env=env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


@pytest.mark.parametrize("backend", ["fast", "reference"])
@pytest.mark.parametrize("case", list(CASES))
def test_refused_before_any_allocation(outcomes, case, backend):
    kind, message, peak = outcomes[f"{case}/{backend}"]
    assert kind == ("TypeError" if "dtype" in case else "ValueError"), (kind, message)
    assert re.search(CASES[case][1], message), message
    assert peak < 2**20, f"{peak / 2**20:.0f} MiB allocated before the refusal"


@pytest.mark.parametrize("field, value", [
    ("padding", (2**62, 0)), ("stride", (1, 2**31)), ("in_height", 2**62), ("batch", -1), ("kernel", (2**40, 1)),
    ("groups", 2**63),
])
def test_binding_refuses_a_forged_geometry_beyond_c_ranges(field, value):
    """The bindings can be called directly: values that would overflow the
    C's Py_ssize_t arithmetic (h + 2 * pad, h * w) are refused first."""
    from dataclasses import replace
    x = np.ones((1, 1, 4, 4))
    w = np.ones((1, 1, 3, 3))
    _, _, _, g = _checks.conv2d_args(x, w, None, 1, 0, 1, 1)
    g = replace(g, **{field: value})
    with pytest.raises(ValueError, match="invalid convolution geometry"):
        _kernels.conv2d_forward(g, x, w, None, np.empty((1, 1, 2, 2)))


def test_pool_binding_refuses_planes_beyond_py_ssize_t():
    from dataclasses import replace
    x = np.ones((1, 1, 4, 4))
    _, g = _checks.pool2d_args(x, 2, None, 0)
    with pytest.raises(ValueError, match="invalid pooling geometry"):
        _kernels.avg_pool2d_forward(replace(g, batch=2**40, channels=2**40), True, x, np.empty((1, 1, 2, 2)))


def test_size_limit_is_this_interpreters_py_ssize_t():
    assert _checks._MAX_ELEMENTS == sys.maxsize // 8
