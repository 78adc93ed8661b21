"""Our C (csrc/*.c) compiles with -std=c99 -Wall -Wextra -Wvla -Werror: zero warnings.

setup.py builds with -Wall -Wextra; this holds the kernels to it (Cython's
generated C is not ours to fix).  -Wvla: MSVC, which builds the Windows
wheels, has no variable-length arrays.  Two builds of each file:

* ``openmp``: with the OpenMP flags this compiler takes (``-fopenmp``, or
  Apple clang's ``-Xpreprocessor -fopenmp`` with the libomp headers found
  through ``$CPPFLAGS``); skipped when it has none.
* ``serial``: without OpenMP, as setup.py builds when the compiler has no
  OpenMP (Apple clang without libomp): the pragmas are ignored, and every
  ``omp_*`` call must sit behind ``#ifdef _OPENMP``.  Variables that only an
  OpenMP clause reads (the thread counts) are unused there, so
  -Wunused-variable is off in this build.

The compiler is ``$CC``, else gcc, else cc (on macOS both are Apple clang;
.ci/clang runs this file with ``CC=clang``).  Skipped where there is no
checkout with csrc/ (an installed wheel), no C compiler, and on Windows,
whose wheels are built by MSVC (tests/test_openmp_msvc.py checks our pragmas
against what MSVC accepts).
"""

import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

CSRC = Path(__file__).resolve().parent.parent / "csrc"
COMPILER = os.environ.get("CC") or shutil.which("gcc") or shutil.which("cc")
WARNINGS = ["-std=c99", "-O2", "-Wall", "-Wextra", "-Wvla", "-Werror"]
OPENMP_CANDIDATES = (["-fopenmp"], ["-Xpreprocessor", "-fopenmp", *shlex.split(os.environ.get("CPPFLAGS", ""))])
SERIAL = ["-Wno-unknown-pragmas", "-Wno-unused-variable"]

pytestmark = pytest.mark.skipif(not CSRC.is_dir() or COMPILER is None or sys.platform == "win32",
                                reason="needs the csrc/ sources and a gcc/clang-style C compiler")


def compile_c(source, flags, out):
    return subprocess.run([COMPILER, *flags, f"-I{CSRC}", "-c", str(source), "-o", str(out)],
                          capture_output=True, text=True)


@pytest.fixture(scope="module")
def openmp_flags(tmp_path_factory):
    """The first candidate that compiles an ``#include <omp.h>`` program, or None."""
    tmp = tmp_path_factory.mktemp("openmp-probe")
    (tmp / "probe.c").write_text("#include <omp.h>\nint main(void) { return omp_get_max_threads() > 0 ? 0 : 1; }\n")
    for flags in OPENMP_CANDIDATES:
        if compile_c(tmp / "probe.c", flags, tmp / "probe.o").returncode == 0:
            return flags
    return None


@pytest.mark.parametrize("build", ["openmp", "serial"])
@pytest.mark.parametrize("source", sorted(p.name for p in CSRC.glob("*.c")) if CSRC.is_dir() else [])
def test_csrc_compiles_without_warnings(source, build, openmp_flags, tmp_path):
    if build == "openmp" and openmp_flags is None:
        pytest.skip(f"{COMPILER} compiles no OpenMP with any of {OPENMP_CANDIDATES}")
    extra = openmp_flags if build == "openmp" else SERIAL
    # -O2: some warnings (maybe-uninitialized, array bounds) need the optimiser's analysis.
    result = compile_c(CSRC / source, [*WARNINGS, *extra], tmp_path / "out.o")
    assert result.returncode == 0, result.stderr
