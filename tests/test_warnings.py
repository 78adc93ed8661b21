"""Our C (csrc/*.c) compiles with -std=c99 -Wall -Wextra -Werror: zero warnings.

setup.py builds with -Wall -Wextra; this holds the kernels to it (Cython's
generated C is not ours to fix).  Skipped where there is no checkout with
csrc/ or no gcc/cc (an installed wheel).
"""

import os
import shutil
import subprocess
from pathlib import Path

import pytest

CSRC = Path(__file__).resolve().parent.parent / "csrc"
COMPILER = os.environ.get("CC") or shutil.which("gcc") or shutil.which("cc")


@pytest.mark.skipif(not CSRC.is_dir() or COMPILER is None, reason="needs the csrc/ sources and a C compiler")
@pytest.mark.parametrize("source", sorted(p.name for p in CSRC.glob("*.c")) if CSRC.is_dir() else [])
def test_csrc_compiles_without_warnings(source, tmp_path):
    # -O2: some warnings (maybe-uninitialized, array bounds) need the optimiser's analysis.
    result = subprocess.run([COMPILER, "-std=c99", "-O2", "-Wall", "-Wextra", "-Werror", "-fopenmp", f"-I{CSRC}",
                             "-c", str(CSRC / source), "-o", str(tmp_path / "out.o")], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
