"""Property-based fuzzing of every public function and every layer (run by tests/test_fuzz.py).

Run as a program (``python tests/fuzz_driver.py [--examples N]``) so that the
campaign lives in its own process: a segfault, an abort from a sanitizer or a
runaway allocation kills this child, and the test that spawned it fails with
the child's stderr instead of taking pytest down.  The child caps its own
address space (``RLIMIT_AS``), so a call that tries to allocate a huge buffer
gets a ``MemoryError`` instead of paging the machine to death.  Only Linux
enforces that cap (macOS refuses or ignores ``RLIMIT_AS``, Windows has no
``resource`` module), so elsewhere the driver refuses to run: valid calls on
the huge zero-stride views it generates would allocate their outputs for real.

The property, for every generated call: the fast backend either

* returns what the NumPy reference returns (same dtype and shape, values
  within the tolerance of tests/test_fast_vs_reference.py, non-finite
  exactly where the reference is non-finite), or
* raises ``TypeError``, ``ValueError`` or ``MemoryError`` with a non-empty
  message, the same type as the reference.

Any other exception, a result the reference does not give, or a dead process
is a failure.  Each generated call starts from a valid random configuration
and then may be damaged: a wrong dtype (float16, ints, bool, object, complex,
mixed floats), not an array at all (None, a number, a string, an object),
a random shape (ndim 0-5, sizes 0, 1 and huge zero-stride
views), a bad scalar (negative, zero, 2**31, 2**63, 2**64, floats, bools,
None, wrong tuples), NaN/inf values, and layouts the checks must accept
(non-contiguous, negative strides, Fortran order, read-only, nested lists).

Hypothesis runs derandomized with no example database, so a run is
reproducible and its length is bounded by ``--examples`` per target.  The
last line printed is JSON: {target: {"inputs": tried, "valid": accepted}}.
"""

from __future__ import annotations

import argparse
import inspect
import json
import os
import sys
import time
import warnings

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import cnnfast
from cnnfast import functional as F
from cnnfast import layers as L

ALLOWED = (TypeError, ValueError, MemoryError)
TOLERANCE = {np.dtype(np.float32): 1e-4, np.dtype(np.float64): 1e-10}
HUGE = 2**31 - 1  # one axis of a zero-stride view: two of them overflow 32-bit element counts and BLAS dims
BAD_SCALARS = [-1, 0, 2**31, 2**63, 2**64, -(2**63), 1.5, 2.0, True, None, "2", (1,), (1, 2, 3), (1, -1),
               (2**31, 1), np.float64(2), np.int8(2)]
NOT_ARRAYS = [None, 1.0, 3, "x", object()]
BAD_DTYPES = [np.float16, np.int32, np.int64, np.uint8, np.bool_, np.complex64, np.complex128, object,
              np.longdouble]


class Mismatch(AssertionError):
    pass


# ------------------------------------------------------------------ comparing


def _leaves(value):
    return list(value) if isinstance(value, tuple) else [value]


def compare(fast, reference, what):
    """fast == reference up to the family tolerance; non-finite exactly where the reference is."""
    fast, reference = _leaves(fast), _leaves(reference)
    if len(fast) != len(reference):
        raise Mismatch(f"{what}: {len(fast)} outputs, reference {len(reference)}")
    for i, (a, b) in enumerate(zip(fast, reference)):
        a, b = np.asarray(a), np.asarray(b)
        if a.shape != b.shape or a.dtype != b.dtype:
            raise Mismatch(f"{what}[{i}]: {a.dtype}{a.shape}, reference {b.dtype}{b.shape}")
        if a.dtype.kind in "iu":  # argmax: exact
            if not np.array_equal(a, b):
                raise Mismatch(f"{what}[{i}]: integer outputs differ")
            continue
        finite = np.isfinite(b)
        # Non-finite values propagate as in NumPy: the same NaNs and the same
        # signed infinities as the reference, element by element.
        if not (np.array_equal(np.isnan(a), np.isnan(b)) and np.array_equal(a[np.isinf(b)], b[np.isinf(b)])
                and np.array_equal(np.isfinite(a), finite)):
            raise Mismatch(f"{what}[{i}]: NaN/inf at other places than the reference")
        scale = max(float(np.abs(b[finite]).max(initial=0.0)), 1.0)
        error = float(np.abs(a[finite] - b[finite]).max(initial=0.0))
        if error > TOLERANCE[a.dtype] * scale:
            raise Mismatch(f"{what}[{i}]: max error {error:.3g} (scale {scale:.3g})")


def both(call, what):
    """Run ``call(backend)`` on both backends and check the property; return the outcome name."""
    outcome = {}
    for backend in ("fast", "reference"):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)  # inf - inf in the reference
                outcome[backend] = ("ok", call(backend))
        except ALLOWED as e:
            if not str(e):
                raise Mismatch(f"{what}: {backend} raised {type(e).__name__} with no message") from e
            outcome[backend] = ("error", type(e))
    (fk, fv), (rk, rv) = outcome["fast"], outcome["reference"]
    if fk != rk or (fk == "error" and fv is not rv):
        raise Mismatch(f"{what}: fast {fk} {fv if fk == 'error' else ''} but reference {rk} "
                       f"{rv if rk == 'error' else ''}")
    if fk == "ok":
        compare(fv, rv, what)
    return fk


# ------------------------------------------------------------------ damaging


@st.composite
def damaged(draw, args, arrays, scalars, huge=True, finite=()):
    """``args`` (a valid call) with up to two things changed; arrays named in
    ``arrays`` may get bad dtypes/shapes/values/layouts, scalars bad values.
    ``huge``: random shapes may hold axes of 2**31 - 1 (zero-stride views);
    arrays named in ``finite`` get no NaN/inf."""
    args = dict(args)
    for _ in range(draw(st.integers(0, 2))):
        kind = draw(st.sampled_from(["dtype", "shape", "scalar", "values", "layout", "layout", "not_array"]))
        if kind == "scalar" and scalars:
            args[draw(st.sampled_from(scalars))] = draw(st.sampled_from(BAD_SCALARS))
            continue
        name = draw(st.sampled_from(arrays))
        if kind == "not_array":  # the checks must say TypeError, never AttributeError
            args[name] = draw(st.sampled_from(NOT_ARRAYS))
            continue
        a = args.get(name)
        if not isinstance(a, np.ndarray):
            continue
        if kind == "dtype":
            dtype = draw(st.sampled_from(BAD_DTYPES + [np.float32, np.float64]))
            # A huge zero-stride view stays one (astype would copy billions of elements).
            args[name] = a.astype(dtype) if a.size < 10**6 else np.broadcast_to(np.ones((), dtype), a.shape)
        elif a.size >= 10**6:
            continue  # values and layouts of a huge view: copying it is what the checks must avoid
        elif kind == "shape":
            ndim = draw(st.integers(0, 5))
            sizes = [0, 1, 1, 2, 3, 5] + [HUGE] * huge
            shape = tuple(draw(st.lists(st.sampled_from(sizes), min_size=ndim, max_size=ndim)))
            # NumPy itself refuses views of 2**63 bytes or more: shrink huge axes
            # to 1 until the view can exist in any dtype (16 bytes at most).
            while HUGE in shape and np.prod([max(s, 1) for s in shape], dtype=object) * 16 >= 2**62:
                shape = tuple(1 if i == shape.index(HUGE) else s for i, s in enumerate(shape))
            # A zero-stride view: billions of logical elements, one real one.
            args[name] = np.broadcast_to(np.ones((), a.dtype), shape)
        elif kind == "values" and a.dtype.kind == "f" and a.size and name not in finite:
            a = a.copy()
            flat = a.reshape(-1)
            for _ in range(draw(st.integers(1, 3))):
                flat[draw(st.integers(0, a.size - 1))] = draw(st.sampled_from([np.nan, np.inf, -np.inf]))
            args[name] = a
        elif kind == "layout":
            layout = draw(st.sampled_from(["strided", "negative", "fortran", "readonly", "list"]))
            if layout == "strided":
                big = np.repeat(a[..., None], 2, axis=-1)
                args[name] = big[..., 0]
            elif layout == "negative" and a.ndim:
                args[name] = a[::-1].copy()[::-1]
            elif layout == "fortran":
                args[name] = np.asfortranarray(a)
            elif layout == "readonly":
                a = a.copy()
                a.flags.writeable = False
                args[name] = a
            elif layout == "list" and a.size < 200 and a.dtype == np.float64:
                args[name] = a.tolist()
    return args


# ---------------------------------------------------------- valid functionals


def _real(draw, shape, dtype):
    seed = draw(st.integers(0, 2**32 - 1))
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


@st.composite
def conv_case(draw, transposed=False):
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    n, groups = draw(st.integers(0, 3)), draw(st.integers(1, 3))
    cin, cout = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    k = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    stride = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    dilation = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    padding = (draw(st.integers(0, 2)), draw(st.integers(0, 2)))
    span = [dilation[a] * (k[a] - 1) + 1 for a in range(2)]
    hw = [max(span[a] - 2 * padding[a], 1) + draw(st.integers(0, 4)) for a in range(2)]
    if transposed:
        output_padding = tuple(draw(st.integers(0, max(stride[a], dilation[a]) - 1)) for a in range(2))
        x = _real(draw, (n, groups * cin, *hw), dtype)
        weight = _real(draw, (groups * cin, cout, *k), dtype)
        out = [(hw[a] - 1) * stride[a] - 2 * padding[a] + span[a] + output_padding[a] for a in range(2)]
        scalars = dict(stride=stride, padding=padding, output_padding=output_padding, groups=groups,
                       dilation=dilation)
        out_shape = (n, groups * cout, *out)
    else:
        x = _real(draw, (n, groups * cin, *hw), dtype)
        weight = _real(draw, (groups * cout, cin, *k), dtype)
        out = [(hw[a] + 2 * padding[a] - span[a]) // stride[a] + 1 for a in range(2)]
        scalars = dict(stride=stride, padding=padding, dilation=dilation, groups=groups)
        out_shape = (n, groups * cout, *out)
    bias = _real(draw, (groups * cout,), dtype) if draw(st.booleans()) else None
    grad_y = _real(draw, tuple(max(s, 0) for s in out_shape), dtype) if min(out) >= 1 else None
    return dict(x=x, weight=weight, bias=bias, grad_y=grad_y, **scalars)


@st.composite
def pool_case(draw):
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    n, c = draw(st.integers(0, 3)), draw(st.integers(0, 3))
    k = (draw(st.integers(1, 4)), draw(st.integers(1, 4)))
    stride = None if draw(st.booleans()) else (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    padding = (draw(st.integers(0, k[0] // 2)), draw(st.integers(0, k[1] // 2)))
    hw = [max(k[a] - 2 * padding[a], 1) + draw(st.integers(0, 5)) for a in range(2)]
    s = stride or k
    out = [(hw[a] + 2 * padding[a] - k[a]) // s[a] + 1 for a in range(2)]
    x = _real(draw, (n, c, *hw), dtype)
    grad_y = _real(draw, (n, c, *out), dtype)
    argmax = np.random.default_rng(draw(st.integers(0, 2**32 - 1))).integers(0, hw[0] * hw[1], (n, c, *out))
    return dict(x=x, grad_y=grad_y, argmax=argmax, pooled_grad_y=_real(draw, (n, c), dtype), kernel_size=k, stride=stride, padding=padding,
                x_shape=x.shape, count_include_pad=draw(st.booleans()))


@st.composite
def linear_case(draw):
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    n, i, o = draw(st.integers(0, 5)), draw(st.integers(1, 9)), draw(st.integers(1, 9))
    return dict(x=_real(draw, (n, i), dtype), weight=_real(draw, (o, i), dtype),
                bias=_real(draw, (o,), dtype) if draw(st.booleans()) else None, grad_y=_real(draw, (n, o), dtype))


@st.composite
def channels_case(draw):
    """Batch norm and ReLU: x (N, C, ...) with 0-2 spatial axes, per-channel arrays, eps."""
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    n, c = draw(st.integers(0, 3)), draw(st.integers(1, 4))
    spatial = tuple(draw(st.lists(st.integers(1, 4), min_size=0, max_size=2)))
    x = _real(draw, (n, c, *spatial), dtype)
    inv_std = np.abs(_real(draw, (c,), dtype)) + dtype(0.1)
    return dict(x=x, grad_y=_real(draw, x.shape, dtype), y=_real(draw, x.shape, dtype),
                weight=_real(draw, (c,), dtype), bias=_real(draw, (c,), dtype), mean=_real(draw, (c,), dtype),
                inv_std=inv_std, scale=_real(draw, (c,), dtype), shift=_real(draw, (c,), dtype),
                eps=draw(st.sampled_from([1e-5, 1e-3, 0.5])))


# Which case generator feeds each public function, and which arguments the
# function takes from the case (the rest of the case is ignored).
CASES = {
    "conv2d": (conv_case(), ["x", "weight", "bias", "stride", "padding", "dilation", "groups"]),
    "conv2d_backward": (conv_case(), ["grad_y", "x", "weight", "stride", "padding", "dilation", "groups"]),
    "conv_transpose2d": (conv_case(True), ["x", "weight", "bias", "stride", "padding", "output_padding", "groups",
                                           "dilation"]),
    "conv_transpose2d_backward": (conv_case(True), ["grad_y", "x", "weight", "stride", "padding",
                                                    "output_padding", "groups", "dilation"]),
    "max_pool2d": (pool_case(), ["x", "kernel_size", "stride", "padding"]),
    "max_pool2d_backward": (pool_case(), ["grad_y", "argmax", "x_shape"]),
    "avg_pool2d": (pool_case(), ["x", "kernel_size", "stride", "padding", "count_include_pad"]),
    "avg_pool2d_backward": (pool_case(), ["grad_y", "x_shape", "kernel_size", "stride", "padding",
                                          "count_include_pad"]),
    "global_avg_pool2d": (pool_case(), ["x"]),
    "global_avg_pool2d_backward": (pool_case(), ["grad_y", "x_shape"]),
    "linear": (linear_case(), ["x", "weight", "bias"]),
    "linear_backward": (linear_case(), ["grad_y", "x", "weight"]),
    "batch_norm_train": (channels_case(), ["x", "weight", "bias", "eps"]),
    "batch_norm_train_backward": (channels_case(), ["grad_y", "x", "mean", "inv_std", "weight"]),
    "batch_norm_affine": (channels_case(), ["x", "scale", "shift"]),
    "relu": (channels_case(), ["x"]),
    "relu_backward": (channels_case(), ["grad_y", "y"]),
}
ARRAY_ARGS = {"x", "weight", "bias", "grad_y", "argmax", "mean", "inv_std", "scale", "shift", "y"}


@st.composite
def functional_call(draw, name):
    strategy, names = CASES[name]
    case = draw(strategy)
    args = {k: case[k] for k in names}
    if name == "global_avg_pool2d_backward":
        args["grad_y"] = case["pooled_grad_y"]
    if args.get("grad_y", 0) is None:  # no valid output shape: let the checks refuse a guess
        args["grad_y"] = np.zeros((1, 1, 1, 1))
    arrays = [k for k in names if k in ARRAY_ARGS]
    scalars = [k for k in names if k not in ARRAY_ARGS]
    return draw(damaged(args, arrays, scalars))


# -------------------------------------------------------------------- layers


def _layer_factories():
    """name -> strategy of a fresh layer; the test checks every layer class is here."""
    small = st.integers(1, 3)
    return {
        "Conv2D": st.builds(lambda f, k, s, p, d, b: L.Conv2D(f, k, stride=s, padding=p, dilation=d, use_bias=b),
                            small, small, small, st.integers(0, 2), st.integers(1, 2), st.booleans()),
        "Conv2DTranspose": st.builds(lambda f, k, s, p: L.Conv2DTranspose(f, k, stride=s, padding=p),
                                     small, small, small, st.integers(0, 1)),
        "MaxPool2D": st.builds(lambda k, s: L.MaxPool2D(k, stride=s), small, st.none() | small),
        "AvgPool2D": st.builds(lambda k, c: L.AvgPool2D(k, padding=k // 2, count_include_pad=c), small, st.booleans()),
        "GlobalAvgPool2D": st.just(None).map(lambda _: L.GlobalAvgPool2D()),
        "Subsampling2D": st.builds(lambda k: L.Subsampling2D(k), small),
        "Dense": st.builds(lambda u, b: L.Dense(u, use_bias=b), small, st.booleans()),
        "Flatten": st.just(None).map(lambda _: L.Flatten()),
        "Dropout": st.builds(lambda r: L.Dropout(r), st.sampled_from([0.0, 0.3, 0.9])),
        "BatchNorm1D": st.just(None).map(lambda _: L.BatchNorm1D()),
        "BatchNorm2D": st.just(None).map(lambda _: L.BatchNorm2D()),
        "ReLU": st.just(None).map(lambda _: L.ReLU()),
        "LeakyReLU": st.builds(lambda s: L.LeakyReLU(s), st.sampled_from([0.0, 0.01, 0.5])),
        "PReLU": st.builds(lambda n: L.PReLU(n), st.sampled_from([1, 2])),
        "ELU": st.just(None).map(lambda _: L.ELU()),
        "Tanh": st.just(None).map(lambda _: L.Tanh()),
        "Sigmoid": st.just(None).map(lambda _: L.Sigmoid()),
        "Softmax": st.just(None).map(lambda _: L.Softmax()),
        "ScaledTanh": st.just(None).map(lambda _: L.ScaledTanh()),
        "Sequential": st.just(None).map(lambda _: L.Sequential([L.Conv2D(2, 3, padding=1), L.ReLU(), L.Flatten(),
                                                                L.Dense(3)])),
        "Residual": st.just(None).map(lambda _: L.Residual(L.Sequential([L.Tanh(), L.ReLU()]))),
        "ZeroPadding2D": st.builds(lambda t, b, left, r: L.ZeroPadding2D(((t, b), (left, r))),
                                   st.integers(0, 2), st.integers(0, 2), st.integers(0, 2), st.integers(0, 2)),
        "Rescaling": st.builds(lambda s, o: L.Rescaling(s, offset=o), st.sampled_from([1 / 255, -2.0]),
                               st.sampled_from([0.0, -1.0])),
        "BatchNormalization": st.builds(lambda m: L.BatchNormalization(momentum=m), st.sampled_from([0.0, 0.99])),
        "Reshape": st.builds(L.Reshape, st.sampled_from([(-1,), (2, -1), (1, -1, 1), (3, 4)])),
    }


def layer_classes():
    """Every concrete layer class cnnfast.layers exports (under its own name: Keras's aliases are the same classes)."""
    return sorted(name for name in L.__all__
                  if inspect.isclass(getattr(L, name)) and issubclass(getattr(L, name), L.Layer)
                  and getattr(L, name) is not L.Layer and getattr(L, name).__name__ == name)


@st.composite
def layer_input(draw):
    ndim = draw(st.sampled_from([1, 2, 3, 4, 4, 4, 5]))
    shape = tuple(draw(st.lists(st.integers(1, 6), min_size=ndim, max_size=ndim)))
    if draw(st.integers(0, 9)) == 0:
        shape = shape[:1] + (0,) + shape[2:] if ndim > 1 else (0,)
    x = _real(draw, shape, np.float32)
    # No huge views here: a layer may legitimately reduce over its input
    # (batch statistics) before it allocates its output, which for billions of
    # elements takes minutes; the functionals below the layers get huge views.
    return draw(damaged({"x": x}, ["x"], [], huge=False))["x"]


def layer_call(factory, x, seed, backend):
    """forward(x, training=True) then backward(ones) on a fresh layer built from ``seed``."""
    layer = factory()
    layer.set_backend(backend)
    if isinstance(x, np.ndarray) and x.ndim >= 1:
        layer.build(x.shape[1:], rng=seed)
    y = layer.forward(x, training=True)
    grad_y = np.linspace(-1, 1, y.size, dtype=y.dtype).reshape(y.shape)
    return y, layer.backward(grad_y)


# ----------------------------------------------------------------------- run


def run(examples):
    counts = {}
    common = dict(max_examples=examples, deadline=None, derandomize=True, database=None,
                  suppress_health_check=list(HealthCheck), print_blob=True)

    for name in F.__all__:
        counts[name] = {"inputs": 0, "valid": 0}
        function = getattr(F, name)

        @settings(**common)
        @given(args=functional_call(name))
        def fuzz(args):
            counts[name]["inputs"] += 1
            counts[name]["valid"] += both(lambda backend: function(**args, backend=backend), name) == "ok"

        started = time.perf_counter()
        fuzz()
        print(f"{name}: {counts[name]} in {time.perf_counter() - started:.1f} s", file=sys.stderr)

    factories = _layer_factories()
    for name in layer_classes():
        strategy = factories[name]  # KeyError: a new layer class the fuzzer does not know
        counts[name] = {"inputs": 0, "valid": 0}

        @settings(**dict(common, max_examples=max(examples // 3, 10)))
        @given(make=strategy, x=layer_input(), seed=st.integers(0, 2**16))
        def fuzz_layer(make, x, seed):
            counts[name]["inputs"] += 1
            # A fresh, identical layer per backend: rebuild from the drawn one's config.
            config = L.serialize(make)
            outcome = both(lambda backend: layer_call(lambda: L.deserialize(config), x, seed, backend), name)
            counts[name]["valid"] += outcome == "ok"

        started = time.perf_counter()
        fuzz_layer()
        print(f"{name}: {counts[name]} in {time.perf_counter() - started:.1f} s", file=sys.stderr)
    return counts


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--examples", type=int, default=150, help="inputs per public function")
    parser.add_argument("--memory-gib", type=float, default=4.0, help="address-space cap of this process")
    options = parser.parse_args()
    # Under AddressSanitizer (.ci/sanitize sets CNNFAST_SANITIZED=1) the shadow
    # memory needs terabytes of address space; ASAN_OPTIONS max_allocation_size_mb
    # caps allocations instead.
    if not os.environ.get("CNNFAST_SANITIZED"):
        if not sys.platform.startswith("linux"):
            sys.exit("fuzz_driver: needs an enforced address-space cap (RLIMIT_AS), which only Linux has")
        import resource

        limit = int(options.memory_gib * 2**30)
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    cnnfast.set_num_threads(2)
    counts = run(options.examples)
    print(json.dumps(counts))


if __name__ == "__main__":
    sys.exit(main())
