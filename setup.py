"""Extension definitions and compiler flags for cnnfast (metadata: pyproject.toml).

One extension, ``cnnfast._kernels``: the Cython bindings plus the C99 kernels
in csrc/.  OpenMP is switched on when the compiler has it (``-fopenmp`` for
gcc/clang, ``/openmp:experimental`` for MSVC: OpenMP 2.0 plus ``simd``, see
csrc/README.md); without it the build still succeeds, the kernels run on one
thread, and the build says so loudly.  Set
``CNNFAST_DEBUG=1`` for a debug build (-O0 -g).  Set
``CNNFAST_SANITIZE=address,undefined`` (any list for gcc/clang's
``-fsanitize=``) for a sanitizer build; ``.ci/sanitize`` builds one in a
scratch copy and runs the kernel tests under it.  Python must then be run
with the sanitizer runtimes preloaded (see ``.ci/sanitize``).

The convolution engine's micro-kernels are compiled once per instruction set
into the same library (csrc/ukernel_<isa>.c) and chosen at run time from
CPUID, so no file is built with -march=native and one wheel serves every CPU.
gcc and clang take each ISA file's target from the pragmas at its top (no
flags, so a universal2 or cross build needs nothing special); MSVC, which
accepts any intrinsic but vectorises and encodes the rest of a file for its
/arch, gets /arch:AVX2 or /arch:AVX512 for those files alone (ISA_FLAGS).

On macOS, Apple clang has no OpenMP runtime of its own: point the build at one
with ``CPPFLAGS=-I<prefix>/include`` and ``LDFLAGS=-L<prefix>/lib
-Wl,-rpath,<prefix>/lib`` (the wheels use conda-forge's ``llvm-openmp``; see
``[tool.cibuildwheel.macos]`` in pyproject.toml).  Release builds set
``CNNFAST_REQUIRE_OPENMP=1``, which turns "no OpenMP" into a build error.
"""

import os
import platform
import shlex
import sys
import tempfile
import textwrap
from glob import glob

from Cython.Build import cythonize
from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

DEBUG = os.environ.get("CNNFAST_DEBUG", "0") == "1"
SANITIZE = os.environ.get("CNNFAST_SANITIZE", "").strip()

OPENMP_PROBE = textwrap.dedent(
    """
    #include <omp.h>
    int main(void) {
        int n = 0;
        #pragma omp parallel reduction(+:n)
        n += 1;
        return n > 0 ? 0 : 1;
    }
    """
)


def openmp_flags(compiler):
    """(compile, link) flags that enable OpenMP on this compiler, or None."""
    if compiler.compiler_type == "msvc":
        # OpenMP 2.0 plus `omp simd` (csrc/depthwise_impl.inc), which plain
        # /openmp rejects (C3001); the runtime is the same vcomp140.dll.
        # tests/test_openmp_msvc.py holds our pragmas to what this accepts.
        return ["/openmp:experimental"], []
    if sys.platform == "darwin":
        # Apple clang needs the flag through the preprocessor and a libomp.
        return ["-Xpreprocessor", "-fopenmp"], ["-lomp"]
    return ["-fopenmp"], ["-fopenmp"]


def compiles_with(compiler, compile_flags, link_flags):
    """Whether a small OpenMP program compiles and links with these flags."""
    with tempfile.TemporaryDirectory() as tmp:
        source = os.path.join(tmp, "probe.c")
        with open(source, "w") as f:
            f.write(OPENMP_PROBE)
        try:
            objects = compiler.compile([source], output_dir=tmp, extra_postargs=compile_flags)
            # The extension's link line carries $LDFLAGS (where the macOS
            # OpenMP runtime lives) but link_executable's does not: add them, or
            # the probe fails where the real build would work.
            ldflags = [] if compiler.compiler_type == "msvc" else shlex.split(os.environ.get("LDFLAGS", ""))
            compiler.link_executable(objects, os.path.join(tmp, "probe"), extra_postargs=ldflags + link_flags)
        except Exception:
            return False
    return True


# Per-file flags for the ISA-specific micro-kernels, by compiler type; gcc and
# clang need none (see the module docstring).  x86-64 MSVC only: the files
# compile to nothing on other architectures.
ISA_FLAGS = {
    "msvc": {"csrc/ukernel_avx2.c": ["/arch:AVX2"], "csrc/ukernel_avx512.c": ["/arch:AVX512"]},
}


class BuildExtWithOpenMP(build_ext):
    """build_ext that adds OpenMP and optimisation flags for the compiler in use."""

    def build_extension(self, ext):
        # Files with flags of their own are compiled here and linked as objects.
        per_file = ISA_FLAGS.get(self.compiler.compiler_type, {})
        if sys.platform == "win32" and platform.machine().lower() not in ("amd64", "x86_64"):
            per_file = {}
        own = [source for source in ext.sources if source.replace(os.sep, "/") in per_file]
        if own:
            ext.sources = [source for source in ext.sources if source not in own]
            for source in own:
                ext.extra_objects += self.compiler.compile(
                    [source], output_dir=self.build_temp, include_dirs=ext.include_dirs,
                    extra_postargs=ext.extra_compile_args + per_file[source.replace(os.sep, "/")],
                    depends=ext.depends)
        super().build_extension(ext)

    def build_extensions(self):
        msvc = self.compiler.compiler_type == "msvc"
        if msvc:
            optimise = ["/Od", "/Zi"] if DEBUG else ["/O2"]
        else:
            optimise = ["-O0", "-g"] if DEBUG else ["-O3"]
            # -Wextra: csrc/ compiles clean with it (tests/test_warnings.py
            # holds it to -Werror); Cython's generated C is not ours to fix.
            optimise += ["-std=c99", "-Wall", "-Wextra", "-Wno-unused-function"]
        sanitize_link = []
        if SANITIZE:
            if msvc:
                raise RuntimeError("CNNFAST_SANITIZE needs gcc or clang")
            # -O1 -g keeps the reports readable and the run fast; no recovery, so
            # the first undefined behaviour aborts the process (and fails the test).
            optimise = ["-O1", "-g", "-std=c99", "-Wall", "-Wextra", "-Wno-unused-function",
                        f"-fsanitize={SANITIZE}", "-fno-omit-frame-pointer", "-fno-sanitize-recover=all"]
            sanitize_link = [f"-fsanitize={SANITIZE}"]
        flags = openmp_flags(self.compiler)
        if os.environ.get("CNNFAST_NO_OPENMP") == "1" or not compiles_with(self.compiler, *flags):
            if os.environ.get("CNNFAST_REQUIRE_OPENMP") == "1":
                # Wheels must never ship single-threaded by accident.
                sys.exit("cnnfast: CNNFAST_REQUIRE_OPENMP=1 but OpenMP is unavailable or disabled")
            flags = ([], [])
            bar = "!" * 78
            sys.stderr.write(
                f"\n{bar}\n"
                "cnnfast: this compiler has no usable OpenMP: building WITHOUT OpenMP.\n"
                "Every kernel will run on ONE thread.  On macOS install an OpenMP runtime\n"
                "(e.g. conda-forge llvm-openmp) and rebuild for multi-threaded kernels.\n"
                f"{bar}\n\n"
            )
        for ext in self.extensions:
            ext.extra_compile_args = optimise + flags[0]
            ext.extra_link_args = flags[1] + sanitize_link
        super().build_extensions()


extension = Extension(
    "cnnfast._kernels",
    sources=["cnnfast/_kernels.pyx"] + sorted(glob("csrc/*.c")),
    include_dirs=["csrc"],
    depends=sorted(glob("csrc/*.h") + glob("csrc/*.inc")),
)

setup(
    ext_modules=cythonize(
        [extension],
        compiler_directives={
            "language_level": 3,
            # Bounds checks on everywhere: the bindings index each array once
            # per call (to take its address, after checking its shape), so the
            # check costs nothing measurable and turns any slip into an
            # IndexError instead of a wild pointer.  The hot loops are in csrc/.
            "boundscheck": True,
            "wraparound": False,
            "initializedcheck": DEBUG,
            "cdivision": True,
        },
    ),
    cmdclass={"build_ext": BuildExtWithOpenMP},
)
