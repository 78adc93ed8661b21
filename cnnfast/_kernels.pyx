"""Bindings to the C kernels in csrc/: thin, typed, GIL released.

Each function takes C-contiguous arrays of one float dtype whose shapes
:mod:`cnnfast.functional` has already checked (:mod:`cnnfast._checks`).  What
remains here are the memory-safety bounds only: the geometry's fields and the
arrays' shapes are checked once more, cheaply, so that no call from Python can
make the C divide by zero, overflow or index out of bounds; the sizes come
from :mod:`cnnfast._geometry`, as everywhere else.  The GIL is released around every kernel, so several Python threads
may run kernels at once: the kernels keep no state between calls but the
thread count, the workspace limit and the BLAS entry points, all read-only
while they run.
"""

from libc.stdint cimport int64_t, uintptr_t

from ._geometry import MAX_BLAS_DIM, MAX_ELEMENTS, MAX_WINDOW, output_size

ctypedef fused real:
    float
    double


cdef extern from "threads.h" nogil:
    int cnnfast_openmp_enabled()
    int cnnfast_openmp_version()
    int cnnfast_default_num_threads()
    void cnnfast_set_num_threads(int num_threads)
    int cnnfast_get_num_threads()
    const char *cnnfast_compiler()
    int cnnfast_set_adaptive(int enabled)
    int cnnfast_adaptive_enabled()
    int cnnfast_contention_cap()
    double cnnfast_last_waiting_fraction()
    ctypedef struct cnnfast_monitor:
        int cap
        int trial
        double next_trial
        double backoff
        double last_fraction
    void cnnfast_monitor_reset(cnnfast_monitor *m, int setting)
    void cnnfast_monitor_update(cnnfast_monitor *m, double now, double delay, int setting, int in_use)
    void cnnfast_thread_decisions(long *serial, long *parallel, int *largest)
    void cnnfast_reset_thread_decisions()
    void cnnfast_force_parallel(int enabled)


cdef extern from "isa.h" nogil:
    int cnnfast_isa_available(int isa)
    int cnnfast_isa_best()
    int cnnfast_get_isa()
    int cnnfast_set_isa(int isa)
    const char *cnnfast_isa_name(int isa)
    enum: CNNFAST_ISA_COUNT


cdef extern from "ukernel.h" nogil:
    ctypedef double (*cnnfast_peak_fn)(Py_ssize_t iterations, double *checksum)
    ctypedef struct cnnfast_ukernel_table_f32:
        int mr, nr, wg_rows, wg_cols, lanes
        cnnfast_peak_fn fma_peak
    ctypedef struct cnnfast_ukernel_table_f64:
        int mr, nr, wg_rows, wg_cols, lanes
        cnnfast_peak_fn fma_peak
    const cnnfast_ukernel_table_f32 *cnnfast_ukernels_f32(int isa)
    const cnnfast_ukernel_table_f64 *cnnfast_ukernels_f64(int isa)


cdef extern from "blas.h" nogil:
    ctypedef void (*cnnfast_sgemm_fn)(int, int, int, int, int, int, float, const float *, int,
                                      const float *, int, float, float *, int)
    ctypedef void (*cnnfast_dgemm_fn)(int, int, int, int, int, int, double, const double *, int,
                                      const double *, int, double, double *, int)
    ctypedef int (*cnnfast_blas_get_threads_fn)()
    ctypedef void (*cnnfast_blas_set_threads_fn)(int)
    void cnnfast_blas_register(cnnfast_sgemm_fn sgemm, cnnfast_dgemm_fn dgemm,
                               cnnfast_blas_get_threads_fn get_threads, cnnfast_blas_set_threads_fn set_threads)
    int cnnfast_blas_ready()
    int cnnfast_blas_largest_threads()
    void cnnfast_blas_reset_largest_threads()
    enum: CNNFAST_BLAS_MAX_DIM


cdef extern from "im2col.h" nogil:
    ctypedef struct conv2d_geometry:
        Py_ssize_t batch, in_channels, in_height, in_width
        Py_ssize_t out_channels, out_height, out_width
        Py_ssize_t kernel_height, kernel_width
        Py_ssize_t stride_height, stride_width
        Py_ssize_t pad_height, pad_width
        Py_ssize_t dilation_height, dilation_width
        Py_ssize_t groups


cdef extern from "conv2d.h" nogil:
    enum: CNNFAST_OK, CNNFAST_ENOMEM
    void conv2d_set_workspace_limit(size_t nbytes)
    size_t conv2d_get_workspace_limit()
    int conv2d_forward_f32(const conv2d_geometry *g, const float *x, const float *weight,
                           const float *bias, float *y)
    int conv2d_forward_f64(const conv2d_geometry *g, const double *x, const double *weight,
                           const double *bias, double *y)
    int conv2d_backward_f32(const conv2d_geometry *g, const float *grad_y, const float *x,
                            const float *weight, float *grad_x, float *grad_weight)
    int conv2d_backward_f64(const conv2d_geometry *g, const double *grad_y, const double *x,
                            const double *weight, double *grad_x, double *grad_weight)
    void conv2d_bias_grad_f32(const conv2d_geometry *g, const float *grad_y, float *grad_bias)
    void conv2d_bias_grad_f64(const conv2d_geometry *g, const double *grad_y, double *grad_bias)
    enum: CONV2D_PATH_AUTO, CONV2D_PATH_ENGINE, CONV2D_PATH_BLAS
    enum: CONV2D_PASS_FORWARD, CONV2D_PASS_INPUT_GRAD, CONV2D_PASS_WEIGHT_GRAD
    int conv2d_path_for(const conv2d_geometry *g, int conv_pass)
    const char *conv2d_path_rule()
    void conv2d_set_path(int path)
    int conv2d_get_path()


cdef extern from "depthwise.h" nogil:
    int depthwise_conv2d_applies(const conv2d_geometry *g)


cdef extern from "pool2d.h" nogil:
    ctypedef struct pool2d_geometry:
        Py_ssize_t planes, in_height, in_width, out_height, out_width
        Py_ssize_t kernel_height, kernel_width
        Py_ssize_t stride_height, stride_width
        Py_ssize_t pad_height, pad_width
    void max_pool2d_forward_f32(const pool2d_geometry *g, const float *x, float *y, int64_t *argmax)
    void max_pool2d_forward_f64(const pool2d_geometry *g, const double *x, double *y, int64_t *argmax)
    int max_pool2d_backward_f32(const pool2d_geometry *g, const float *grad_y, const int64_t *argmax,
                                float *grad_x)
    int max_pool2d_backward_f64(const pool2d_geometry *g, const double *grad_y, const int64_t *argmax,
                                double *grad_x)
    void avg_pool2d_forward_f32(const pool2d_geometry *g, int count_include_pad, const float *x, float *y)
    void avg_pool2d_forward_f64(const pool2d_geometry *g, int count_include_pad, const double *x, double *y)
    void avg_pool2d_backward_f32(const pool2d_geometry *g, int count_include_pad, const float *grad_y,
                                float *grad_x)
    void avg_pool2d_backward_f64(const pool2d_geometry *g, int count_include_pad, const double *grad_y,
                                double *grad_x)


cdef extern from "linear.h" nogil:
    void linear_forward_f32(Py_ssize_t batch, Py_ssize_t in_features, Py_ssize_t out_features,
                            const float *x, const float *weight, const float *bias, float *y)
    void linear_forward_f64(Py_ssize_t batch, Py_ssize_t in_features, Py_ssize_t out_features,
                            const double *x, const double *weight, const double *bias, double *y)
    void linear_backward_f32(Py_ssize_t batch, Py_ssize_t in_features, Py_ssize_t out_features,
                             const float *grad_y, const float *x, const float *weight,
                             float *grad_x, float *grad_weight, float *grad_bias)
    void linear_backward_f64(Py_ssize_t batch, Py_ssize_t in_features, Py_ssize_t out_features,
                             const double *grad_y, const double *x, const double *weight,
                             double *grad_x, double *grad_weight, double *grad_bias)


cdef extern from "batchnorm.h" nogil:
    void batchnorm_train_forward_f32(Py_ssize_t n, Py_ssize_t channels, Py_ssize_t spatial, const float *x,
                                     const float *weight, const float *bias, double eps, float *y, float *mean,
                                     float *var, float *inv_std)
    void batchnorm_train_forward_f64(Py_ssize_t n, Py_ssize_t channels, Py_ssize_t spatial, const double *x,
                                     const double *weight, const double *bias, double eps, double *y, double *mean,
                                     double *var, double *inv_std)
    void batchnorm_train_backward_f32(Py_ssize_t n, Py_ssize_t channels, Py_ssize_t spatial, const float *grad_y,
                                      const float *x, const float *mean, const float *inv_std, const float *weight,
                                      float *grad_x, float *grad_weight, float *grad_bias)
    void batchnorm_train_backward_f64(Py_ssize_t n, Py_ssize_t channels, Py_ssize_t spatial, const double *grad_y,
                                      const double *x, const double *mean, const double *inv_std,
                                      const double *weight, double *grad_x, double *grad_weight, double *grad_bias)
    void batchnorm_affine_f32(Py_ssize_t n, Py_ssize_t channels, Py_ssize_t spatial, const float *x,
                              const float *scale, const float *shift, float *y)
    void batchnorm_affine_f64(Py_ssize_t n, Py_ssize_t channels, Py_ssize_t spatial, const double *x,
                              const double *scale, const double *shift, double *y)


cdef extern from "elementwise.h" nogil:
    void relu_forward_f32(Py_ssize_t count, const float *x, float *y)
    void relu_forward_f64(Py_ssize_t count, const double *x, double *y)
    void relu_backward_f32(Py_ssize_t count, const float *grad_y, const float *y, float *grad_x)
    void relu_backward_f64(Py_ssize_t count, const double *grad_y, const double *y, double *grad_x)
    void sgd_update_f32(Py_ssize_t count, float *data, const float *grad, float *buf, double lr, double momentum,
                        double dampening, int nesterov, double weight_decay, int first_step)
    void sgd_update_f64(Py_ssize_t count, double *data, const double *grad, double *buf, double lr,
                        double momentum, double dampening, int nesterov, double weight_decay, int first_step)


# The C side and _geometry must agree on what a 32-bit BLAS takes.
if MAX_BLAS_DIM != CNNFAST_BLAS_MAX_DIM:
    raise ImportError(f"cnnfast._geometry.MAX_BLAS_DIM {MAX_BLAS_DIM} != csrc's {CNNFAST_BLAS_MAX_DIM}")


# ------------------------------------------------------------------ settings

def openmp_enabled():
    return bool(cnnfast_openmp_enabled())


def openmp_version():
    return cnnfast_openmp_version()


def default_num_threads():
    return cnnfast_default_num_threads()


def set_num_threads(int num_threads):
    cnnfast_set_num_threads(num_threads)


def get_num_threads():
    return cnnfast_get_num_threads()


def compiler():
    return cnnfast_compiler().decode("utf-8", "replace")


def set_workspace_limit(size_t nbytes):
    conv2d_set_workspace_limit(nbytes)


def get_workspace_limit():
    return conv2d_get_workspace_limit()


# ------------------------------------------------------- instruction sets

ISA_NAMES = tuple(cnnfast_isa_name(i).decode() for i in range(CNNFAST_ISA_COUNT))


def isa_available(name):
    """Whether the micro-kernels for ISA ``name`` are compiled in and this CPU runs them."""
    return bool(cnnfast_isa_available(ISA_NAMES.index(name)))


def best_isa():
    return ISA_NAMES[cnnfast_isa_best()]


def get_isa():
    return ISA_NAMES[cnnfast_get_isa()]


def set_isa(name):
    """Use the micro-kernels of ISA ``name`` (one of ISA_NAMES that is available)."""
    if name not in ISA_NAMES or cnnfast_set_isa(ISA_NAMES.index(name)) != 0:
        raise ValueError(f"ISA {name!r} is not available here; available: "
                         f"{[n for n in ISA_NAMES if isa_available(n)]}")


def ukernel_shape(name, dtype_char):
    """(mr, nr, wg_rows, wg_cols, lanes) of ISA ``name`` for float32 ('f') or float64 ('d')."""
    cdef int isa = ISA_NAMES.index(name)
    if dtype_char == "f":
        t32 = cnnfast_ukernels_f32(isa)
        return None if t32 == NULL else (t32.mr, t32.nr, t32.wg_rows, t32.wg_cols, t32.lanes)
    t64 = cnnfast_ukernels_f64(isa)
    return None if t64 == NULL else (t64.mr, t64.nr, t64.wg_rows, t64.wg_cols, t64.lanes)


def fma_peak_flops(name, dtype_char, Py_ssize_t iterations):
    """Run ``iterations`` rounds of the ISA's register-resident FMA loop (GIL
    released); returns the flops done.  The caller times it."""
    cdef int isa = ISA_NAMES.index(name)
    if not cnnfast_isa_available(isa):
        raise ValueError(f"ISA {name!r} is not available here")
    cdef cnnfast_peak_fn peak = cnnfast_ukernels_f32(isa).fma_peak if dtype_char == "f" \
        else cnnfast_ukernels_f64(isa).fma_peak
    cdef double checksum = 0, flops
    with nogil:
        flops = peak(iterations, &checksum)
    return flops


CONV_PATHS = {"auto": CONV2D_PATH_AUTO, "engine": CONV2D_PATH_ENGINE, "blas": CONV2D_PATH_BLAS}
CONV_PASSES = {"forward": CONV2D_PASS_FORWARD, "input_grad": CONV2D_PASS_INPUT_GRAD,
               "weight_grad": CONV2D_PASS_WEIGHT_GRAD}


def set_conv_path(name):
    """Force every convolution onto one implementation ("engine" or "blas"), or
    back to the per-shape rule ("auto").  For tests and benchmarks."""
    conv2d_set_path(CONV_PATHS[name])


def get_conv_path():
    return {v: k for k, v in CONV_PATHS.items()}[conv2d_get_path()]


def conv_path_for(g, pass_name):
    """"engine", "blas" or "depthwise": the implementation the pass
    ``pass_name`` of ConvGeometry ``g`` takes now (for finite weights)."""
    cdef conv2d_geometry c = _conv_geometry(g)
    if depthwise_conv2d_applies(&c):
        return "depthwise"
    return {v: k for k, v in CONV_PATHS.items()}[conv2d_path_for(&c, CONV_PASSES[pass_name])]


def conv_path_rule():
    return conv2d_path_rule().decode()


def register_blas(uintptr_t sgemm, uintptr_t dgemm, uintptr_t get_threads, uintptr_t set_threads):
    """Hand the kernels the addresses of CBLAS ``sgemm`` and ``dgemm`` and of
    the BLAS's ``openblas_get_num_threads`` / ``openblas_set_num_threads``."""
    if sgemm == 0 or dgemm == 0 or get_threads == 0 or set_threads == 0:
        raise ValueError("register_blas needs four non-null addresses")
    cnnfast_blas_register(<cnnfast_sgemm_fn>sgemm, <cnnfast_dgemm_fn>dgemm,
                          <cnnfast_blas_get_threads_fn>get_threads, <cnnfast_blas_set_threads_fn>set_threads)


def set_adaptive(bint enabled):
    """Switch the contention monitor on or off; returns whether it is on."""
    return bool(cnnfast_set_adaptive(enabled))


def adaptive_enabled():
    return bool(cnnfast_adaptive_enabled())


def contention_cap():
    """Threads the contention monitor currently allows (the setting when off)."""
    return cnnfast_contention_cap()


def last_waiting_fraction():
    """Waiting for a CPU per thread in the monitor's last window (-1: none yet)."""
    return cnnfast_last_waiting_fraction()


# ---------------------------------------------------------------- test hooks

def _thread_decisions():
    """How many thread-count decisions chose one thread, how many more, and the
    largest count chosen, since the last ``_reset_thread_decisions``."""
    cdef long serial, parallel
    cdef int largest
    cnnfast_thread_decisions(&serial, &parallel, &largest)
    return {"serial": serial, "parallel": parallel, "largest": largest}


def _reset_thread_decisions():
    cnnfast_reset_thread_decisions()


def _force_parallel(bint enabled):
    """Start threads whatever the size of the call (items still bound them)."""
    cnnfast_force_parallel(enabled)


def _blas_largest_threads():
    """The largest BLAS thread count a kernel's GEMM ran with since the last
    reset (0: no GEMM ran)."""
    return cnnfast_blas_largest_threads()


def _reset_blas_largest_threads():
    cnnfast_blas_reset_largest_threads()


def _monitor_simulate(readings, int setting):
    """Run the contention monitor's controller from a fresh state over
    ``readings``, a sequence of (now, delay, in_use) with times in seconds;
    returns the cap after each reading."""
    cdef cnnfast_monitor m
    cnnfast_monitor_reset(&m, setting)
    caps = []
    for now, delay, in_use in readings:
        cnnfast_monitor_update(&m, now, delay, setting, in_use)
        caps.append(m.cap)
    return caps


# ------------------------------------------------------------------- helpers

# The bounds of cnnfast._geometry: sizes whose products stay far from
# Py_ssize_t overflow, window parameters whose sums and products (h + 2 * pad,
# dilation * (k - 1), ...) cannot overflow in C.  A geometry forged by hand
# (these bindings are importable) is refused before C arithmetic sees it.
cdef Py_ssize_t _MAX_SIZE = MAX_ELEMENTS
cdef Py_ssize_t _MAX_WINDOW = MAX_WINDOW


cdef _bounded(kind, g, sizes, windows):
    for name in sizes:
        value = getattr(g, name)
        if not 0 <= value <= _MAX_SIZE:
            raise ValueError(f"invalid {kind} geometry: {name} = {value} outside [0, {_MAX_SIZE}] in {g}")
    for name in windows:
        for value in (getattr(g, name) if isinstance(getattr(g, name), tuple) else (getattr(g, name),)):
            if not 0 <= value <= _MAX_WINDOW:
                raise ValueError(f"invalid {kind} geometry: {name} = {value} outside [0, {_MAX_WINDOW}] in {g}")


cdef conv2d_geometry _conv_geometry(g) except *:
    """The C geometry of a ConvGeometry; refuses sizes a 32-bit BLAS cannot take."""
    cdef conv2d_geometry c
    _bounded("convolution", g, ("batch", "in_channels", "in_height", "in_width", "out_channels", "out_height", "out_width"),
             ("kernel", "stride", "padding", "dilation", "groups"))
    c.batch, c.in_channels, c.in_height, c.in_width = g.batch, g.in_channels, g.in_height, g.in_width
    c.out_channels, c.out_height, c.out_width = g.out_channels, g.out_height, g.out_width
    c.kernel_height, c.kernel_width = g.kernel
    c.stride_height, c.stride_width = g.stride
    c.pad_height, c.pad_width = g.padding
    c.dilation_height, c.dilation_width = g.dilation
    c.groups = g.groups
    if min(c.stride_height, c.stride_width, c.dilation_height, c.dilation_width, c.groups,
           c.kernel_height, c.kernel_width) < 1 or min(c.pad_height, c.pad_width) < 0:
        raise ValueError(f"invalid convolution geometry {g}")
    if c.in_channels % c.groups or c.out_channels % c.groups:
        raise ValueError(f"groups does not divide the channels in {g}")
    # Output rows past the padded input would read outside it (a transposed
    # convolution may crop the output, never extend it).
    if (c.out_height > output_size(c.in_height, c.kernel_height, c.stride_height, c.pad_height,
                                   c.dilation_height, axis="height", what="kernel", input_shape=g.input_shape)
            or c.out_width > output_size(c.in_width, c.kernel_width, c.stride_width, c.pad_width,
                                         c.dilation_width, axis="width", what="kernel", input_shape=g.input_shape)):
        raise ValueError(f"output size too large for the input in {g}")
    # Products in Python ints: in C they could overflow for a forged geometry.
    patch = g.in_channels // g.groups * g.kernel[0] * g.kernel[1]
    for name, size in (("in_channels // groups * kh * kw", patch),
                       ("out_channels // groups", g.out_channels // g.groups),
                       ("input plane H * W", g.in_height * g.in_width),
                       ("output plane Ho * Wo", g.out_height * g.out_width)):
        if size > CNNFAST_BLAS_MAX_DIM:
            raise ValueError(f"{name} = {size} exceeds the 32-bit BLAS limit {CNNFAST_BLAS_MAX_DIM}")
    if not cnnfast_blas_ready():
        raise RuntimeError("cnnfast: no BLAS registered (import cnnfast, not cnnfast._kernels)")
    return c


cdef pool2d_geometry _pool_geometry(g, bint windows=True) except *:
    """The C geometry of a PoolGeometry.  With ``windows``, its windows must be
    those of pooling: every one non-empty (padding at most half the window,
    output size as computed from the input)."""
    cdef pool2d_geometry c
    _bounded("pooling", g, ("batch", "channels", "in_height", "in_width", "out_height", "out_width"),
             ("kernel", "stride", "padding"))
    if g.batch * g.channels > _MAX_SIZE:
        raise ValueError(f"invalid pooling geometry: batch * channels = {g.batch * g.channels} too large in {g}")
    c.planes = g.batch * g.channels
    c.in_height, c.in_width, c.out_height, c.out_width = g.in_height, g.in_width, g.out_height, g.out_width
    c.kernel_height, c.kernel_width = g.kernel
    c.stride_height, c.stride_width = g.stride
    c.pad_height, c.pad_width = g.padding
    if windows and not (
            min(c.kernel_height, c.kernel_width, c.stride_height, c.stride_width) >= 1
            and 0 <= 2 * c.pad_height <= c.kernel_height and 0 <= 2 * c.pad_width <= c.kernel_width
            and c.in_height + 2 * c.pad_height >= c.kernel_height
            and c.in_width + 2 * c.pad_width >= c.kernel_width
            and c.out_height == output_size(c.in_height, c.kernel_height, c.stride_height, c.pad_height,
                                            axis="height", what="window", input_shape=g.input_shape)
            and c.out_width == output_size(c.in_width, c.kernel_width, c.stride_width, c.pad_width,
                                           axis="width", what="window", input_shape=g.input_shape)):
        raise ValueError(f"invalid pooling geometry {g}")
    return c


cdef _shape(name, arr, tuple expected):
    if tuple(arr.shape[:len(expected)]) != expected:
        raise ValueError(f"{name} has shape {tuple(arr.shape)}, expected {expected}")


cdef _conv_status(int status):
    if status == CNNFAST_ENOMEM:
        raise MemoryError("cnnfast: out of memory for the convolution workspace")


# --------------------------------------------------------------- convolution

def conv2d_forward(g, const real[:, :, :, ::1] x, const real[:, :, :, ::1] weight,
                   const real[::1] bias, real[:, :, :, ::1] y):
    """y (N, K, Ho, Wo) = conv2d of x (N, C, H, W) by weight (K, C/groups, kh, kw) + bias (K,) or None."""
    cdef conv2d_geometry c = _conv_geometry(g)
    _shape("x", x, g.input_shape)
    _shape("weight", weight, g.weight_shape)
    _shape("y", y, g.output_shape)
    if bias is not None:
        _shape("bias", bias, (g.out_channels,))
    if c.batch == 0:
        return
    cdef const real *bias_ptr = &bias[0] if bias is not None else NULL
    cdef int status
    with nogil:
        if real is float:
            status = conv2d_forward_f32(&c, &x[0, 0, 0, 0], &weight[0, 0, 0, 0], bias_ptr, &y[0, 0, 0, 0])
        else:
            status = conv2d_forward_f64(&c, &x[0, 0, 0, 0], &weight[0, 0, 0, 0], bias_ptr, &y[0, 0, 0, 0])
    _conv_status(status)


def conv2d_backward(g, const real[:, :, :, ::1] grad_y, const real[:, :, :, ::1] x,
                    const real[:, :, :, ::1] weight, real[:, :, :, ::1] grad_x,
                    real[:, :, :, ::1] grad_weight):
    """grad_x (N, C, H, W) and grad_weight (K, C/groups, kh, kw) from grad_y (N, K, Ho, Wo).

    Either output may be None (not computed); x may be None when grad_weight is.
    Both are overwritten, so they need no zeroing.
    """
    cdef conv2d_geometry c = _conv_geometry(g)
    _shape("grad_y", grad_y, g.output_shape)
    _shape("weight", weight, g.weight_shape)
    if grad_x is not None:
        _shape("grad_x", grad_x, g.input_shape)
    if grad_weight is not None:
        _shape("grad_weight", grad_weight, g.weight_shape)
        if x is None:
            raise ValueError("conv2d_backward needs x for grad_weight")
        _shape("x", x, g.input_shape)
    if c.batch == 0:
        if grad_weight is not None:
            grad_weight[...] = 0
        return
    cdef const real *x_ptr = &x[0, 0, 0, 0] if x is not None else NULL
    cdef real *grad_x_ptr = &grad_x[0, 0, 0, 0] if grad_x is not None else NULL
    cdef real *grad_weight_ptr = &grad_weight[0, 0, 0, 0] if grad_weight is not None else NULL
    cdef int status
    with nogil:
        if real is float:
            status = conv2d_backward_f32(&c, &grad_y[0, 0, 0, 0], x_ptr, &weight[0, 0, 0, 0],
                                         grad_x_ptr, grad_weight_ptr)
        else:
            status = conv2d_backward_f64(&c, &grad_y[0, 0, 0, 0], x_ptr, &weight[0, 0, 0, 0],
                                         grad_x_ptr, grad_weight_ptr)
    _conv_status(status)


def conv2d_bias_grad(g, const real[:, :, :, ::1] grad_y, real[::1] grad_bias):
    """grad_bias (K,) = grad_y (N, K, Ho, Wo) summed over N, Ho, Wo."""
    cdef conv2d_geometry c = _conv_geometry(g)
    _shape("grad_y", grad_y, g.output_shape)
    _shape("grad_bias", grad_bias, (g.out_channels,))
    if c.batch == 0:
        grad_bias[...] = 0
        return
    with nogil:
        if real is float:
            conv2d_bias_grad_f32(&c, &grad_y[0, 0, 0, 0], &grad_bias[0])
        else:
            conv2d_bias_grad_f64(&c, &grad_y[0, 0, 0, 0], &grad_bias[0])


# -------------------------------------------------------------------- linear

cdef _linear_sizes(Py_ssize_t batch, Py_ssize_t in_features, Py_ssize_t out_features):
    """Refuses sizes the C cannot take: empty features, or beyond a 32-bit BLAS."""
    if in_features < 1 or out_features < 1:
        raise ValueError(f"linear needs in_features and out_features >= 1, got {in_features} and {out_features}")
    for name, size in (("batch", batch), ("in_features", in_features), ("out_features", out_features)):
        if size > CNNFAST_BLAS_MAX_DIM:
            raise ValueError(f"{name} = {size} exceeds the 32-bit BLAS limit {CNNFAST_BLAS_MAX_DIM}")
    if not cnnfast_blas_ready():
        raise RuntimeError("cnnfast: no BLAS registered (import cnnfast, not cnnfast._kernels)")


def linear_forward(const real[:, ::1] x not None, const real[:, ::1] weight not None, const real[::1] bias, real[:, ::1] y):
    """y (N, out) = x (N, in) @ weight (out, in)^T + bias (out,) or None."""
    cdef Py_ssize_t batch = x.shape[0], in_features = x.shape[1], out_features = weight.shape[0]
    _linear_sizes(batch, in_features, out_features)
    _shape("weight", weight, (out_features, in_features))
    _shape("y", y, (batch, out_features))
    if bias is not None:
        _shape("bias", bias, (out_features,))
    if batch == 0:
        return
    cdef const real *bias_ptr = &bias[0] if bias is not None else NULL
    with nogil:
        if real is float:
            linear_forward_f32(batch, in_features, out_features, &x[0, 0], &weight[0, 0], bias_ptr, &y[0, 0])
        else:
            linear_forward_f64(batch, in_features, out_features, &x[0, 0], &weight[0, 0], bias_ptr, &y[0, 0])


def linear_backward(const real[:, ::1] grad_y not None, const real[:, ::1] x not None,
                    const real[:, ::1] weight not None,
                    real[:, ::1] grad_x, real[:, ::1] grad_weight, real[::1] grad_bias):
    """grad_x (N, in), grad_weight (out, in) and grad_bias (out,) from grad_y (N, out).

    Any output may be None (not computed); all are overwritten, so they need
    no zeroing.  The sizes are read from x and weight, which are always given.
    """
    cdef Py_ssize_t batch = x.shape[0], in_features = x.shape[1], out_features = weight.shape[0]
    _linear_sizes(batch, in_features, out_features)
    _shape("weight", weight, (out_features, in_features))
    _shape("grad_y", grad_y, (batch, out_features))
    if grad_x is not None:
        _shape("grad_x", grad_x, (batch, in_features))
    if grad_weight is not None:
        _shape("grad_weight", grad_weight, (out_features, in_features))
    if grad_bias is not None:
        _shape("grad_bias", grad_bias, (out_features,))
    if batch == 0:
        if grad_weight is not None:
            grad_weight[...] = 0
        if grad_bias is not None:
            grad_bias[...] = 0
        return
    cdef real *grad_x_ptr = &grad_x[0, 0] if grad_x is not None else NULL
    cdef real *grad_weight_ptr = &grad_weight[0, 0] if grad_weight is not None else NULL
    cdef real *grad_bias_ptr = &grad_bias[0] if grad_bias is not None else NULL
    with nogil:
        if real is float:
            linear_backward_f32(batch, in_features, out_features, &grad_y[0, 0], &x[0, 0], &weight[0, 0],
                                grad_x_ptr, grad_weight_ptr, grad_bias_ptr)
        else:
            linear_backward_f64(batch, in_features, out_features, &grad_y[0, 0], &x[0, 0], &weight[0, 0],
                                grad_x_ptr, grad_weight_ptr, grad_bias_ptr)


# ------------------------------------------------------------------- pooling

def max_pool2d_forward(g, const real[:, :, :, ::1] x, real[:, :, :, ::1] y, int64_t[:, :, :, ::1] argmax):
    """y and argmax (N, C, Ho, Wo) = max pooling of x (N, C, H, W)."""
    cdef pool2d_geometry c = _pool_geometry(g)
    _shape("x", x, g.input_shape)
    _shape("y", y, g.output_shape)
    _shape("argmax", argmax, g.output_shape)
    if c.planes == 0:
        return
    with nogil:
        if real is float:
            max_pool2d_forward_f32(&c, &x[0, 0, 0, 0], &y[0, 0, 0, 0], &argmax[0, 0, 0, 0])
        else:
            max_pool2d_forward_f64(&c, &x[0, 0, 0, 0], &y[0, 0, 0, 0], &argmax[0, 0, 0, 0])


def max_pool2d_backward(g, const real[:, :, :, ::1] grad_y, const int64_t[:, :, :, ::1] argmax,
                        real[:, :, :, ::1] grad_x):
    """grad_x (N, C, H, W) = grad_y routed to the argmax positions.

    Every argmax is checked to lie inside its plane before anything is
    written (a ValueError leaves grad_x untouched); the windows play no
    part (only the plane sizes of ``g`` are read).
    """
    cdef pool2d_geometry c = _pool_geometry(g, False)
    _shape("grad_y", grad_y, g.output_shape)
    _shape("argmax", argmax, g.output_shape)
    _shape("grad_x", grad_x, g.input_shape)
    if c.planes == 0:
        return
    cdef int status
    # The kernel checks every index before it writes anything.
    with nogil:
        if real is float:
            status = max_pool2d_backward_f32(&c, &grad_y[0, 0, 0, 0], &argmax[0, 0, 0, 0], &grad_x[0, 0, 0, 0])
        else:
            status = max_pool2d_backward_f64(&c, &grad_y[0, 0, 0, 0], &argmax[0, 0, 0, 0], &grad_x[0, 0, 0, 0])
    if status != 0:
        raise ValueError(f"argmax holds indices outside [0, {c.in_height * c.in_width})")


def avg_pool2d_forward(g, bint count_include_pad, const real[:, :, :, ::1] x, real[:, :, :, ::1] y):
    """y (N, C, Ho, Wo) = average pooling of x (N, C, H, W)."""
    cdef pool2d_geometry c = _pool_geometry(g)
    _shape("x", x, g.input_shape)
    _shape("y", y, g.output_shape)
    if c.planes == 0:
        return
    with nogil:
        if real is float:
            avg_pool2d_forward_f32(&c, count_include_pad, &x[0, 0, 0, 0], &y[0, 0, 0, 0])
        else:
            avg_pool2d_forward_f64(&c, count_include_pad, &x[0, 0, 0, 0], &y[0, 0, 0, 0])


def avg_pool2d_backward(g, bint count_include_pad, const real[:, :, :, ::1] grad_y, real[:, :, :, ::1] grad_x):
    """grad_x (N, C, H, W) = grad_y (N, C, Ho, Wo) spread evenly over each window."""
    cdef pool2d_geometry c = _pool_geometry(g)
    _shape("grad_y", grad_y, g.output_shape)
    _shape("grad_x", grad_x, g.input_shape)
    if c.planes == 0:
        return
    with nogil:
        if real is float:
            avg_pool2d_backward_f32(&c, count_include_pad, &grad_y[0, 0, 0, 0], &grad_x[0, 0, 0, 0])
        else:
            avg_pool2d_backward_f64(&c, count_include_pad, &grad_y[0, 0, 0, 0], &grad_x[0, 0, 0, 0])


# ------------------------------------------------------------ normalisation

cdef _same_size(name, arr, Py_ssize_t size):
    if arr.shape[0] != size:
        raise ValueError(f"{name} has {arr.shape[0]} elements, expected {size}")


def batchnorm_train_forward(const real[:, :, ::1] x, const real[::1] weight, const real[::1] bias, double eps,
                            real[:, :, ::1] y, real[::1] mean, real[::1] var, real[::1] inv_std):
    """x (N, C, S) -> y (N, C, S) with the batch statistics; mean, var (biased), inv_std (C,) written."""
    cdef Py_ssize_t n = x.shape[0], channels = x.shape[1], spatial = x.shape[2]
    _shape("y", y, (n, channels, spatial))
    for name, arr in (("weight", weight), ("bias", bias), ("mean", mean), ("var", var), ("inv_std", inv_std)):
        _same_size(name, arr, channels)
    if not eps > 0:
        raise ValueError(f"eps must be > 0, got {eps}")
    if n * spatial < 1 or channels < 1:
        raise ValueError(f"batch norm needs at least one value per channel, got x of shape {tuple(x.shape)}")
    with nogil:
        if real is float:
            batchnorm_train_forward_f32(n, channels, spatial, &x[0, 0, 0], &weight[0], &bias[0], eps, &y[0, 0, 0],
                                        &mean[0], &var[0], &inv_std[0])
        else:
            batchnorm_train_forward_f64(n, channels, spatial, &x[0, 0, 0], &weight[0], &bias[0], eps, &y[0, 0, 0],
                                        &mean[0], &var[0], &inv_std[0])


def batchnorm_train_backward(const real[:, :, ::1] grad_y, const real[:, :, ::1] x, const real[::1] mean,
                             const real[::1] inv_std, const real[::1] weight, real[:, :, ::1] grad_x,
                             real[::1] grad_weight, real[::1] grad_bias):
    """grad_x (N, C, S), grad_weight and grad_bias (C,) of the training forward."""
    cdef Py_ssize_t n = x.shape[0], channels = x.shape[1], spatial = x.shape[2]
    _shape("grad_y", grad_y, (n, channels, spatial))
    _shape("grad_x", grad_x, (n, channels, spatial))
    for name, arr in (("mean", mean), ("inv_std", inv_std), ("weight", weight), ("grad_weight", grad_weight),
                      ("grad_bias", grad_bias)):
        _same_size(name, arr, channels)
    if channels < 1:
        raise ValueError(f"batch norm needs at least one channel, got x of shape {tuple(x.shape)}")
    if n * spatial == 0:  # an empty batch: no values, no gradient
        grad_weight[:] = 0
        grad_bias[:] = 0
        return
    with nogil:
        if real is float:
            batchnorm_train_backward_f32(n, channels, spatial, &grad_y[0, 0, 0], &x[0, 0, 0], &mean[0], &inv_std[0],
                                         &weight[0], &grad_x[0, 0, 0], &grad_weight[0], &grad_bias[0])
        else:
            batchnorm_train_backward_f64(n, channels, spatial, &grad_y[0, 0, 0], &x[0, 0, 0], &mean[0], &inv_std[0],
                                         &weight[0], &grad_x[0, 0, 0], &grad_weight[0], &grad_bias[0])


def batchnorm_affine(const real[:, :, ::1] x, const real[::1] scale, const real[::1] shift, real[:, :, ::1] y):
    """y (N, C, S) = x * scale[c] + shift[c] (fixed statistics)."""
    cdef Py_ssize_t n = x.shape[0], channels = x.shape[1], spatial = x.shape[2]
    _shape("y", y, (n, channels, spatial))
    _same_size("scale", scale, channels)
    _same_size("shift", shift, channels)
    if n * channels * spatial == 0:
        return
    with nogil:
        if real is float:
            batchnorm_affine_f32(n, channels, spatial, &x[0, 0, 0], &scale[0], &shift[0], &y[0, 0, 0])
        else:
            batchnorm_affine_f64(n, channels, spatial, &x[0, 0, 0], &scale[0], &shift[0], &y[0, 0, 0])


# ------------------------------------------------------------- element-wise

def relu_forward(const real[::1] x, real[::1] y):
    """y = max(x, 0) (flat arrays of one size; NaN kept)."""
    _same_size("y", y, x.shape[0])
    if x.shape[0] == 0:
        return
    with nogil:
        if real is float:
            relu_forward_f32(x.shape[0], &x[0], &y[0])
        else:
            relu_forward_f64(x.shape[0], &x[0], &y[0])


def relu_backward(const real[::1] grad_y, const real[::1] y, real[::1] grad_x):
    """grad_x = grad_y * (y > 0) (flat arrays of one size)."""
    _same_size("y", y, grad_y.shape[0])
    _same_size("grad_x", grad_x, grad_y.shape[0])
    if grad_y.shape[0] == 0:
        return
    with nogil:
        if real is float:
            relu_backward_f32(grad_y.shape[0], &grad_y[0], &y[0], &grad_x[0])
        else:
            relu_backward_f64(grad_y.shape[0], &grad_y[0], &y[0], &grad_x[0])


def sgd_update(real[::1] data, const real[::1] grad, real[::1] buf, double lr, double momentum, double dampening,
               bint nesterov, double weight_decay, bint first_step):
    """One SGD step in place on flat arrays (buf None without momentum)."""
    cdef Py_ssize_t count = data.shape[0]
    _same_size("grad", grad, count)
    if buf is not None:
        _same_size("buf", buf, count)
    if count == 0:
        return
    cdef real *buf_ptr = &buf[0] if buf is not None else NULL
    with nogil:
        if real is float:
            sgd_update_f32(count, &data[0], &grad[0], buf_ptr, lr, momentum, dampening, nesterov, weight_decay,
                           first_step)
        else:
            sgd_update_f64(count, &data[0], &grad[0], buf_ptr, lr, momentum, dampening, nesterov, weight_decay,
                           first_step)
