"""Check what the sdist and the repaired wheel carry: python .ci/check_dists.py SDIST WHEEL.

The wheel: the package, its one data file, the compiled extension, the bundled
OpenMP runtime and the licences; no tests, no Cython sources or generated C,
no build leftovers.  The sdist: everything a wheel is built from (csrc/, the
.pyx, setup.py, pyproject.toml), the tests and examples the README's commands
use, and nothing generated.  Exits 1 naming every problem; prints both sizes.
"""

import fnmatch
import os
import sys
import tarfile
import zipfile


def problems_in(names, required, forbidden):
    """Patterns in ``required`` that match no name, and names that match a ``forbidden`` pattern."""
    missing = [f"missing {pattern}" for pattern in required if not fnmatch.filter(names, pattern)]
    unwanted = [f"unwanted {name}" for name in names if any(fnmatch.fnmatch(name, p) for p in forbidden)]
    return missing + unwanted


def check_wheel(path):
    with zipfile.ZipFile(path) as wheel:
        names = wheel.namelist()
    required = [
        "cnnfast/__init__.py",
        "cnnfast/_kernels.*.so",
        "cnnfast/datasets/data/mnist_subset.npz",
        "cnnfast.libs/libgomp*.so*",  # the OpenMP runtime, grafted by auditwheel
        "cnnfast-*.dist-info/licenses/LICENSE",
        "cnnfast-*.dist-info/licenses/LICENSES/libgomp-GPL-3.0-with-GCC-exception.txt",
    ]
    forbidden = ["tests/*", "*/tests/*", "*.pyx", "*.c", "*.h", "*.o", "*.pyc", "*__pycache__*",
                 "build/*", "*.egg-info/*", "benchmarks/*", "examples/*", "scripts/*"]
    return problems_in(names, required, forbidden)


def check_sdist(path):
    with tarfile.open(path) as sdist:
        # Drop the top directory, cnnfast-<version>/.
        names = [name.split("/", 1)[1] for name in sdist.getnames() if "/" in name]
    required = [
        "pyproject.toml", "setup.py", "MANIFEST.in", "README.md", "LICENSE", "LICENSES/*.txt",
        "cnnfast/_kernels.pyx", "csrc/*.c", "csrc/*.h", "csrc/*.inc",
        "cnnfast/datasets/data/mnist_subset.npz", "tests/conftest.py", "tests/test_*.py",
        "examples/*.py", "scripts/*.py",
    ]
    forbidden = ["cnnfast/_kernels.c", "*.so", "*.o", "*.pyd", "*.pyc", "*__pycache__*", "build/*",
                 "dist/*", "benchmarks/*", ".ci/*", ".git*", "*.whl"]
    problems = problems_in(names, required, forbidden)
    # Every C source and header of the checkout, so that nothing the build needs is left behind.
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    for name in sorted(os.listdir(os.path.join(repo, "csrc"))):
        if f"csrc/{name}" not in names:
            problems.append(f"missing csrc/{name}")
    return problems


def main(sdist, wheel):
    problems = [f"sdist: {p}" for p in check_sdist(sdist)] + [f"wheel: {p}" for p in check_wheel(wheel)]
    for path in (sdist, wheel):
        print(f"{os.path.basename(path)}: {os.path.getsize(path) / 2**20:.2f} MiB")
    for problem in problems:
        print(problem, file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__.splitlines()[0])
    sys.exit(main(*sys.argv[1:]))
