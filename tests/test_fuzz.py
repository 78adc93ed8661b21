"""Property-based fuzzing of every public function and layer, in a child process.

tests/fuzz_driver.py holds the property and the generators (see its
docstring); here it runs in a subprocess so that a segfault or an abort
fails this test with the child's stderr instead of killing pytest.  The
campaign must cover ``functional.__all__`` and every layer class exported by
``cnnfast.layers`` (enumerated, so a new one cannot be forgotten), and must
exercise both outcomes: accepted calls compared with the reference, and
refused ones.
"""

import json
import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

import cnnfast
from cnnfast import functional as F

pytest.importorskip("hypothesis")

DRIVER = Path(__file__).with_name("fuzz_driver.py")
EXAMPLES = int(os.environ.get("CNNFAST_FUZZ_EXAMPLES", "150"))
# The campaign generates valid calls on huge zero-stride views; only an
# enforced address-space cap (Linux's RLIMIT_AS, or AddressSanitizer's
# allocation cap under .ci/sanitize) turns their outputs into MemoryError.
needs_address_space_cap = pytest.mark.skipif(
    not sys.platform.startswith("linux") and not os.environ.get("CNNFAST_SANITIZED"),
    reason="the fuzz campaign needs an enforced address-space cap (RLIMIT_AS: Linux only)")


def run_driver(*args, timeout=600):
    env = dict(os.environ, PYTHONPATH=os.path.dirname(os.path.dirname(cnnfast.__file__)))
    return subprocess.run([sys.executable, "-W", "ignore", str(DRIVER), *args], capture_output=True, text=True,
                          env=env, timeout=timeout, cwd=tempfile.gettempdir())


@pytest.fixture(scope="module")
def campaign():
    result = run_driver("--examples", str(EXAMPLES))
    if result.returncode < 0:
        pytest.fail(f"fuzz child killed by {signal.Signals(-result.returncode).name}:\n{result.stderr[-5000:]}")
    assert result.returncode == 0, result.stderr[-5000:]
    counts = json.loads(result.stdout.strip().splitlines()[-1])
    total = sum(c["inputs"] for c in counts.values())
    print(f"fuzzed {total} inputs ({sum(c['valid'] for c in counts.values())} accepted): {counts}")
    return counts


@needs_address_space_cap
def test_every_public_function_is_fuzzed_and_both_outcomes_occur(campaign):
    for name in F.__all__:
        assert campaign[name]["inputs"] == EXAMPLES, name
        # Both branches of the property are exercised, not just the refusals.
        assert 0.2 * EXAMPLES <= campaign[name]["valid"] <= 0.95 * EXAMPLES, (name, campaign[name])


@needs_address_space_cap
def test_every_layer_class_is_fuzzed(campaign):
    sys.path.insert(0, str(DRIVER.parent))
    try:
        import fuzz_driver
    finally:
        sys.path.pop(0)
    classes = fuzz_driver.layer_classes()
    assert len(classes) >= 20  # the enumeration itself works
    for name in classes:
        assert campaign[name]["inputs"] >= 10, name
        assert campaign[name]["valid"] >= 1, (name, campaign[name])


def test_a_crash_in_the_child_fails_the_test_instead_of_pytest():
    # The guard itself: a child that segfaults is reported, pytest lives on.
    # Without ASAN_OPTIONS: .ci/sanitize sends reports to files it fails on; this crash is on purpose.
    env = {k: v for k, v in os.environ.items() if k != "ASAN_OPTIONS"}
    result = subprocess.run([sys.executable, "-c", "import ctypes; ctypes.string_at(0)"], capture_output=True,
                            text=True, env=env)
    # A signal, AddressSanitizer's own report and exit when .ci/sanitize
    # preloads it, or Windows' access-violation exit status (no signals there).
    crashed = (result.returncode == -signal.SIGSEGV or "AddressSanitizer: SEGV" in result.stderr
               or (sys.platform == "win32" and result.returncode == 0xC0000005))
    assert crashed, result
