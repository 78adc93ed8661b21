"""The instruction set of the convolution engine's micro-kernels.

cnnfast's convolutions run on small register-blocked micro-kernels compiled for
several instruction sets into the one wheel: ``avx512`` and ``avx2`` (x86-64),
``neon`` (AArch64) and ``generic`` (portable C, any CPU).  At import the
fastest one the CPU supports is chosen from what the CPU itself reports
(CPUID), never from ``OPENBLAS_CORETYPE``.

``CNNFAST_ISA=avx512|avx2|neon|generic`` (read once, at import) or
:func:`set_isa` choose another available one -- to compare, or to test every
path on one machine.  Results are bit-identical across thread counts and runs
for one ISA; two ISAs round differently (other tile shapes and summation
orders, fused or separate multiply-add), within float rounding.
"""

from __future__ import annotations

import os
import warnings

from . import _kernels

__all__ = ["available_isas", "conv_paths", "get_isa", "set_isa"]

ENVIRONMENT_VARIABLE = "CNNFAST_ISA"


def available_isas():
    """The ISAs this build and CPU can run, fastest first (``generic`` always last)."""
    order = ("avx512", "avx2", "neon", "generic")
    return [name for name in order if _kernels.isa_available(name)]


def get_isa():
    """The ISA whose micro-kernels the convolutions use now, e.g. ``"avx512"``."""
    return _kernels.get_isa()


def set_isa(name):
    """Run the convolutions on the micro-kernels of ISA ``name`` (one of :func:`available_isas`).

    Raises ValueError for a name that is not an ISA or not available here.
    Like the thread count, a process-wide setting read at the start of each call.
    """
    if not isinstance(name, str) or name not in _kernels.ISA_NAMES:
        raise ValueError(f"isa must be one of {list(_kernels.ISA_NAMES)}, got {name!r}")
    if not _kernels.isa_available(name):
        raise ValueError(f"isa {name!r} is not available on this CPU or build; available: {available_isas()}")
    _kernels.set_isa(name)


def conv_paths(geometry):
    """Which implementation each pass of a convolution takes.

    Parameters
    ----------
    geometry : cnnfast._geometry.ConvGeometry

    Returns
    -------
    dict
        ``{"forward": ..., "input_grad": ..., "weight_grad": ...}``, each
        ``"engine"`` (the micro-kernels), ``"blas"`` (im2col + OpenBLAS) or
        ``"depthwise"`` (direct kernels).
    """
    return {name: _kernels.conv_path_for(geometry, name) for name in _kernels.CONV_PASSES}


def config():
    """The ``show_config`` lines about the engine."""
    requested = os.environ.get(ENVIRONMENT_VARIABLE)
    return {
        "conv engine": f"{get_isa()} micro-kernels (available here: {', '.join(available_isas())}; "
        f"{ENVIRONMENT_VARIABLE}={requested if requested is not None else 'unset'})",
        "conv dispatch": _kernels.conv_path_rule(),
    }


def _apply_environment():
    """Honour CNNFAST_ISA, once, at import.

    An unknown or unavailable name is a RuntimeWarning (the fastest available
    ISA is kept), not an import error.
    """
    requested = os.environ.get(ENVIRONMENT_VARIABLE, "").strip().lower()
    if requested in ("", "auto"):
        return
    try:
        set_isa(requested)
    except ValueError as error:
        warnings.warn(
            f"{ENVIRONMENT_VARIABLE}={requested!r} ignored: {error}; using {get_isa()}", RuntimeWarning, stacklevel=2
        )


_apply_environment()
