"""Parameter, the Layer base class and the serialize/deserialize registry.

A layer holds its parameters (:class:`Parameter`), its buffers (arrays that
are state but not trained, such as BatchNorm's running statistics) and its
child layers under the names torch.nn would give them, so that
``state_dict()`` loads into the equivalent ``torch.nn`` module unchanged.

Subclasses implement ``_build``, ``_forward``, ``_backward`` and
``output_shape``; the public ``forward``/``backward`` run the shared input
checks (array type, dtype, shape) first, build the layer on its first input,
and remember the output's shape so ``backward`` can check ``grad_y``.
"""

from __future__ import annotations

import functools
import inspect

import numpy as np

from .. import _checks as check
from ..functional import BACKENDS

__all__ = ["Parameter", "Layer", "register", "serialize", "deserialize", "BACKENDS"]


class Parameter:
    """A trainable array and its gradient.

    Parameters
    ----------
    data : ndarray
        The value; optimizers update it in place (they never rebind it).

    Attributes
    ----------
    data : ndarray
    grad : ndarray or None
        Same shape and dtype as ``data``, or None before the first backward;
        overwritten (not accumulated) by the owning layer's backward.
    """

    __slots__ = ("data", "grad")

    def __init__(self, data):
        if not isinstance(data, np.ndarray):
            raise TypeError(f"Parameter data must be a NumPy array, got {type(data).__name__}")
        self.data = data
        self.grad = None

    @property
    def shape(self):
        """The shape of ``data``."""
        return self.data.shape

    @property
    def dtype(self):
        """The dtype of ``data``."""
        return self.data.dtype

    @property
    def size(self):
        """The number of elements of ``data``."""
        return self.data.size

    def __repr__(self):
        return f"Parameter(shape={self.data.shape}, dtype={self.data.dtype})"


def grad_buffer(parameter):
    """``parameter.grad``, ready for a backward that writes the gradient with ``out=``.

    It is (re)allocated when missing or of the wrong shape or dtype.

    Parameters
    ----------
    parameter : Parameter

    Returns
    -------
    ndarray
        ``parameter.grad``, shaped and typed as ``parameter.data``.
    """
    grad = parameter.grad
    if grad is None or grad.shape != parameter.data.shape or grad.dtype != parameter.data.dtype:
        grad = parameter.grad = np.empty_like(parameter.data)
    return grad


class Layer:
    """Base of every layer and container.

    Assigning a :class:`Parameter` or a :class:`Layer` to an attribute
    registers it under the attribute's name, as in ``torch.nn.Module``;
    buffers are registered with :meth:`register_buffer`.

    Layers never modify their inputs or grad_y in place; some keep their
    output for the backward (ReLU, Tanh, ...), so an output of a training
    forward must not be modified in place before the backward.

    Parameters
    ----------
    name : str, optional

    Attributes
    ----------
    name : str or None
    backend : {"fast", "reference"}
        The :mod:`cnnfast.functional` backend used.
    built : bool
    dtype : numpy.dtype
        Of the parameters: float32 unless changed with :meth:`astype`.
    input_shape : tuple of int or None
        Batch-free, once built.
    training : bool
        The mode of calls that do not say ``training`` (:meth:`train`, :meth:`eval`).
    final_activation : str or None
        The activation the layer's output ends with ("softmax", "relu", ...):
        an activation layer's own name, ``Dense(activation=...)``'s, a
        Sequential's last layer's.  :meth:`forward_logits` gives the output
        before it.

    Notes
    -----
    Subclass hooks: ``_build(input_shape, rng)`` creates the parameters;
    ``_forward(x, training)`` computes y and, only when training, stores what
    the backward needs in ``self._cache``; ``_backward(grad_y)`` returns
    grad_x and sets every own parameter's ``grad``; ``output_shape``; with a
    ``final_activation``, ``_forward_logits`` and ``_backward_logits(grad_z, input_grad)``.
    Class attributes: ``_input_ndim`` (allowed batch-free ndims, None = any),
    ``_min_input_ndim`` (fewest batch-free dims), ``_fixed_axes`` (batch-free
    axes that must keep their built size) and ``_owns_parameters`` (x.dtype
    must equal the parameter dtype).
    """

    backend = "fast"
    #: The activation the output ends with ("softmax", "sigmoid", "relu", ...), or None: see forward_logits.
    final_activation = None
    _input_ndim = None
    _min_input_ndim = 0
    _fixed_axes = ()
    _owns_parameters = False
    #: Keras's ``input_shape=`` / ``input_dim=`` given to the constructor (batch-free), or None.
    declared_input_shape = None

    def __init_subclass__(cls, **kwargs):
        """Give every layer's constructor Keras's ``input_shape=`` and ``input_dim=`` keywords.

        Keras lets the first layer of a Sequential say the model's input shape
        (``Conv2D(32, 3, input_shape=(1, 28, 28))``, ``Dense(64, input_dim=784)``);
        the value is kept as :attr:`declared_input_shape` for the Sequential to
        build from.  Constructors that take ``input_shape`` themselves (the
        Sequential) are left as they are.
        """
        super().__init_subclass__(**kwargs)
        init = cls.__dict__.get("__init__")
        if init is not None and "input_shape" not in inspect.signature(init).parameters:
            cls.__init__ = _declaring_input_shape(init)

    def __init__(self, name=None):
        if name is not None and not isinstance(name, str):
            raise TypeError(f"name must be a str or None, got {name!r}")
        object.__setattr__(self, "_parameters", {})
        object.__setattr__(self, "_children", {})
        object.__setattr__(self, "_buffer_names", [])
        self.name = name
        self.built = False
        self.dtype = np.dtype(np.float32)
        self.input_shape = None
        self.training = False
        self._cache = None
        self._grad_y_spec = None

    # ------------------------------------------------------------ registration

    def __setattr__(self, name, value):
        registries = self.__dict__
        if "_parameters" not in registries:
            raise RuntimeError(f"{type(self).__name__}.__init__ must call Layer.__init__ before setting attributes")
        params, children = registries["_parameters"], registries["_children"]
        if isinstance(value, Parameter):
            params[name] = value
        elif name in params:
            del params[name]
        if isinstance(value, Layer):
            children[name] = value
        elif name in children:
            del children[name]
        object.__setattr__(self, name, value)

    def register_buffer(self, name, array):
        """Store ``array`` as the buffer ``name`` (saved in state_dict, not trained).

        Parameters
        ----------
        name : str
        array : ndarray
        """
        if not isinstance(array, np.ndarray):
            raise TypeError(f"buffer {name!r} must be a NumPy array, got {type(array).__name__}")
        if name not in self._buffer_names:
            self._buffer_names.append(name)
        object.__setattr__(self, name, array)

    def named_children(self):
        """The child layers.

        Returns
        -------
        list of (str, Layer)
            In registration order (containers override this).
        """
        return list(self._children.items())

    # -------------------------------------------------------------- build/call

    def build(self, input_shape, rng=None):
        """Create the parameters for inputs shaped (N, *input_shape).

        Building again re-initialises the parameters.

        Parameters
        ----------
        input_shape : tuple of int
            Without the batch dimension, e.g. (1, 32, 32) or (120,); Keras's
            form with a leading None, ``(None, 1, 32, 32)``, is accepted too.
        rng : numpy.random.Generator, int or None
            What the initializers draw from: None is ``np.random.default_rng(0)``,
            an int seeds a new Generator.
        """
        input_shape = _batch_free(input_shape)
        self._check_ndim(input_shape, f"input_shape {input_shape} (batch dimension excluded)")
        self.output_shape(input_shape)  # refuses impossible shapes before any allocation
        self._build(input_shape, _generator(rng))
        self.input_shape = input_shape
        self.built = True
        self._cache = None
        self._grad_y_spec = None

    def _build(self, input_shape, rng):
        """Create parameters and buffers; nothing to create by default."""

    def set_rng(self, rng):
        """Draw run-time randomness (Dropout's masks) from ``rng`` from now on, in this layer and its children.

        ``build`` gives a layer the generator its weights came from; a
        data-parallel fit gives each process a stream of its own here, so
        that processes do not drop the same units of their different samples.

        Parameters
        ----------
        rng : numpy.random.Generator or int
        """
        rng = _generator(rng)
        for _, child in self.named_children():
            child.set_rng(rng)

    def output_shape(self, input_shape):
        """The batch-free output shape for a batch-free ``input_shape`` (pure shape arithmetic).

        Parameters
        ----------
        input_shape : tuple of int

        Returns
        -------
        tuple of int

        Raises
        ------
        ValueError
            When the layer cannot take that shape.
        """
        self._check_ndim(input_shape, f"input_shape {tuple(input_shape)} (batch dimension excluded)")
        return tuple(input_shape)

    def __call__(self, x, training=None):
        """Same as :meth:`forward`."""
        return self.forward(x, training)

    def train(self, mode=True):
        """Set the mode of :meth:`forward` calls that do not say ``training`` (torch's ``module.train()``).

        Layers start in inference mode (Keras's default: outside ``fit``, a
        call is inference), unlike torch modules, which start in training
        mode.  ``fit``, ``evaluate`` and ``predict`` say what they need and
        ignore the mode.

        Parameters
        ----------
        mode : bool
            True: ``layer(x)`` keeps what ``backward`` needs and runs dropout
            and batch statistics; False: inference.  Set on every child too.

        Returns
        -------
        Layer
            self.
        """
        self.training = check.boolean("mode", mode)
        for _, child in self.named_children():
            child.train(mode)
        return self

    def eval(self):
        """``train(False)``: calls without ``training`` are inference (torch's ``module.eval()``).  Returns self."""
        return self.train(False)

    def forward(self, x, training=None):
        """Compute ``y = layer(x)``, building the layer on its first input.

        Parameters
        ----------
        x : ndarray, shape (N, *input_shape), float32 or float64
        training : bool or None
            Keep what :meth:`backward` needs (and turn on training-only behaviour
            such as dropout and batch statistics); otherwise nothing is kept.
            None: the layer's mode (:meth:`train` / :meth:`eval`; inference
            unless set).

        Returns
        -------
        y : ndarray, shape (N, *output_shape)
        """
        return self._run(x, training, self._forward, logits=False)

    def forward_logits(self, x, training=None):
        """The output before the layer's :attr:`final_activation`: the logits of a softmax or sigmoid output.

        What ``compile`` trains a model ending in Softmax / Sigmoid through when
        its loss takes probabilities (Keras's fold of the activation into the
        loss): the loss is computed from these logits, exactly and stably.

        Parameters
        ----------
        x, training
            As for :meth:`forward`.

        Returns
        -------
        z : ndarray
            ``forward(x) == final activation(z)``.

        Raises
        ------
        TypeError
            The layer does not end with an activation (``final_activation`` is None).
        """
        if self.final_activation is None:
            raise TypeError(f"{self._label()} does not end with an activation: forward_logits() has no meaning here")
        return self._run(x, training, self._forward_logits, logits=True)

    def _run(self, x, training, compute, logits):
        training = self.training if training is None else bool(training)
        self._check_input(x)
        if not self.built:
            self.build(x.shape[1:])
        else:
            self._check_built_shape(x)
        self._cache = None
        y = compute(x, training)
        self._grad_y_spec = (y.shape, y.dtype, logits) if training else None
        return y

    def backward(self, grad_y, input_grad=True):
        """The input gradient for ``grad_y = dLoss/dy`` of the last ``forward(x, training=True)``.

        Sets ``grad`` of every parameter of this layer (and of its children).

        Parameters
        ----------
        grad_y : ndarray
            The shape and dtype of that forward's output.
        input_grad : bool
            False (the first layer of a model: its input is data) sets only the
            parameter gradients and returns None; layers that can skip the
            input-gradient work do.

        Returns
        -------
        grad_x : ndarray, shape of x, or None
        """
        self._check_grad_y(grad_y, "backward", "forward", logits=False)
        if not input_grad:
            self._backward_params(grad_y)
            return None
        return self._backward(grad_y)

    def backward_logits(self, grad_z, input_grad=True):
        """:meth:`backward` for the gradient of the logits of the last ``forward_logits(x, training=True)``.

        Parameters
        ----------
        grad_z : ndarray
            ``dLoss/dz``, the shape and dtype of that call's output.
        input_grad : bool
            As for :meth:`backward`.

        Returns
        -------
        grad_x : ndarray, shape of x, or None
        """
        self._check_grad_y(grad_z, "backward_logits", "forward_logits", logits=True)
        return self._backward_logits(grad_z, input_grad)

    def _check_grad_y(self, grad_y, what, forward, logits):
        spec = self._grad_y_spec
        if spec is None or spec[2] != logits:
            raise RuntimeError(f"{self._label()}: {what}() needs a {forward}(x, training=True) first")
        if not isinstance(grad_y, np.ndarray):
            raise TypeError(f"{self._label()}: grad_y must be a NumPy array, got {type(grad_y).__name__}")
        if grad_y.shape != spec[0]:
            raise ValueError(f"{self._label()}: grad_y must have the output's shape {spec[0]}, got {grad_y.shape}")
        if grad_y.dtype != spec[1]:
            raise TypeError(f"{self._label()}: grad_y must have the output's dtype {spec[1]}, got {grad_y.dtype}")

    def _forward_logits(self, x, training):
        raise NotImplementedError(f"{type(self).__name__} has a final_activation but no _forward_logits")

    def _backward_logits(self, grad_z, input_grad):
        raise NotImplementedError(f"{type(self).__name__} has a final_activation but no _backward_logits")

    def _forward(self, x, training):
        raise NotImplementedError(f"{type(self).__name__} does not implement _forward")

    def _backward(self, grad_y):
        raise NotImplementedError(f"{type(self).__name__} does not implement _backward")

    def _backward_params(self, grad_y):
        """Parameter gradients only; layers that can do less than ``_backward`` override this."""
        self._backward(grad_y)

    # ------------------------------------------------------------ input checks

    def _label(self):
        return f"{type(self).__name__} {self.name!r}" if self.name else type(self).__name__

    def _check_ndim(self, batch_free_shape, shown):
        """ValueError unless len(batch_free_shape) is allowed; ``shown`` says what was given."""
        if len(batch_free_shape) < self._min_input_ndim:
            raise ValueError(f"{self._label()} expects at least {self._min_input_ndim + 1}-D input "
                             f"(batch first), got {shown}")
        allowed = self._input_ndim
        if allowed is None:
            return
        allowed = (allowed,) if isinstance(allowed, int) else allowed
        if len(batch_free_shape) not in allowed:
            expected = " or ".join(f"{n + 1}-D" for n in allowed)
            raise ValueError(f"{self._label()} expects {expected} input (batch first), got {shown}")

    def _check_input(self, x):
        if not isinstance(x, np.ndarray):
            raise TypeError(f"{self._label()}: x must be a NumPy array, got {type(x).__name__}")
        if x.dtype not in check.FLOAT_DTYPES:
            raise TypeError(f"{self._label()} expects a float32 or float64 array, got dtype {x.dtype} "
                            f"with shape {x.shape}")
        if self._owns_parameters and x.dtype != self.dtype:
            raise TypeError(f"{self._label()} has {self.dtype} parameters but x has dtype {x.dtype}: "
                            f"convert one of them (x.astype or layer.astype)")
        if x.ndim == 0:
            raise ValueError(f"{self._label()} expects a batch (N, ...), got a 0-d array")
        self._check_ndim(x.shape[1:], f"x of shape {x.shape}")

    def _check_built_shape(self, x):
        built = self.input_shape
        for axis in self._fixed_axes:
            if x.ndim != len(built) + 1 or x.shape[axis + 1] != built[axis]:
                raise ValueError(f"{self._label()} was built for inputs (N, {', '.join(map(str, built))}) "
                                 f"but got x of shape {x.shape}")

    # ----------------------------------------------------- parameters and state

    def named_parameters(self, prefix=""):
        """The parameters with their torch-style names, own first, then the children's.

        Parameters
        ----------
        prefix : str
            Put before every name.

        Returns
        -------
        list of (str, Parameter)
        """
        result = [(prefix + name, p) for name, p in self._parameters.items()]
        for child_name, child in self.named_children():
            result.extend(child.named_parameters(f"{prefix}{child_name}."))
        return result

    def parameters(self):
        """Every Parameter of this layer and its children, in state_dict order."""
        return [p for _, p in self.named_parameters()]

    def named_buffers(self, prefix=""):
        """The buffers (e.g. BatchNorm running statistics) with their torch-style names.

        Parameters
        ----------
        prefix : str

        Returns
        -------
        list of (str, ndarray)
        """
        result = [(prefix + name, getattr(self, name)) for name in self._buffer_names]
        for child_name, child in self.named_children():
            result.extend(child.named_buffers(f"{prefix}{child_name}."))
        return result

    def _named_state(self, prefix=""):
        """``[(name, array)]`` in torch's state_dict order: per layer, parameters, buffers, then each child's."""
        result = [(prefix + name, p.data) for name, p in self._parameters.items()]
        result.extend((prefix + name, getattr(self, name)) for name in self._buffer_names)
        for child_name, child in self.named_children():
            result.extend(child._named_state(f"{prefix}{child_name}."))
        return result

    def state_dict(self):
        """Parameters and buffers with torch.nn's names and layouts.

        Returns
        -------
        dict of str to ndarray
            Copies, in torch's order: per layer, parameters then buffers, then each child's.
        """
        return {name: array.copy() for name, array in self._named_state()}

    def load_state_dict(self, state, strict=True):
        """Copy ``state`` into the existing parameters and buffers.

        Everything is checked before anything is copied.

        Parameters
        ----------
        state : dict of str to array
            Arrays (or torch tensors) with :meth:`state_dict`'s names.
        strict : bool
            Refuse missing and unexpected keys.

        Raises
        ------
        ValueError
            A shape mismatch (naming the key and both shapes), or with ``strict``
            missing or unexpected keys (listing them).
        TypeError
            A dtype that cannot be cast to the parameter's.
        """
        self._load_state(state, strict, "state_dict")

    def _load_state(self, state, strict, source):
        """:meth:`load_state_dict` with ``source`` (say, a file name) named in the errors.

        The one routine that matches a state dict against this layer's: the
        model's ``set_weights``, ``load_weights`` and ``load_model`` go through it too.
        """
        if not hasattr(state, "items"):
            raise TypeError(f"state must be a dict of arrays, got {type(state).__name__}")
        targets = dict(self._named_state())
        owner = self._label()
        if strict:
            missing = [k for k in targets if k not in state]
            unexpected = [k for k in state if k not in targets]
            if missing or unexpected:
                hint = "" if self.built else " (it is not built yet: build it or call it on an input first)"
                raise ValueError(f"{source} does not match {owner}{hint}: missing keys {missing}, "
                                 f"unexpected keys {unexpected}")
        pending = []
        for key, target in targets.items():
            if key not in state:
                continue
            value = state[key]
            if hasattr(value, "detach") and hasattr(value, "cpu"):  # a torch tensor
                value = value.detach().cpu().numpy()
            value = np.asarray(value)
            if value.shape != target.shape:
                raise ValueError(f"{source} does not match {owner}: {key!r} has shape {value.shape} there, "
                                 f"{owner}'s has shape {target.shape}")
            if not np.can_cast(value.dtype, target.dtype, casting="same_kind"):
                raise TypeError(f"{source}: {key!r} has dtype {value.dtype}, {owner}'s {key!r} has dtype "
                                f"{target.dtype}")
            pending.append((target, value))
        for target, value in pending:
            np.copyto(target, value, casting="same_kind")

    def astype(self, dtype):
        """Convert parameters and float buffers (and children) to ``dtype``, in place.

        Layers not yet built are built in it.  Gradients and cached activations are dropped.

        Parameters
        ----------
        dtype : {"float32", "float64"} or numpy dtype

        Returns
        -------
        Layer
            self.
        """
        dtype = check.float_dtype(dtype)
        self.dtype = dtype
        for p in self._parameters.values():
            p.data = p.data.astype(dtype)
            p.grad = None
        for name in self._buffer_names:
            array = getattr(self, name)
            if array.dtype.kind == "f":
                object.__setattr__(self, name, array.astype(dtype))
        self._cache = None
        self._grad_y_spec = None
        for _, child in self.named_children():
            child.astype(dtype)
        return self

    def set_backend(self, backend):
        """Use ``backend`` here and in every child.

        Parameters
        ----------
        backend : {"fast", "reference"}

        Returns
        -------
        Layer
            self.
        """
        self.backend = check.one_of("backend", backend, BACKENDS)
        for _, child in self.named_children():
            child.set_backend(backend)
        return self

    # ------------------------------------------------------------------ config

    def get_config(self):
        """The constructor's keyword arguments, JSON-able (not the weights)."""
        return {"name": self.name}

    @classmethod
    def from_config(cls, config):
        """A new, unbuilt layer from :meth:`get_config`'s dict.

        Parameters
        ----------
        config : dict

        Returns
        -------
        Layer
        """
        if not isinstance(config, dict):
            raise TypeError(f"{cls.__name__}.from_config expects a dict, got {type(config).__name__}")
        return cls(**config)

    def __repr__(self):
        try:
            config = self.get_config()
        except TypeError:  # e.g. a callable initializer, which has no config form
            return f"{type(self).__name__}(name={self.name!r})"
        args = ", ".join(f"{k}={v!r}" for k, v in config.items() if k != "name" or v is not None)
        return f"{type(self).__name__}({args})"


def _declaring_input_shape(init):
    """``init`` also taking ``input_shape=`` / ``input_dim=`` (see :meth:`Layer.__init_subclass__`)."""

    @functools.wraps(init)
    def __init__(self, *args, input_shape=None, input_dim=None, **kwargs):
        init(self, *args, **kwargs)
        if input_dim is not None:
            if input_shape is not None:
                raise TypeError("give input_shape or input_dim, not both")
            input_shape = (check.positive_int("input_dim", input_dim, None),)
        if input_shape is not None:
            self.declared_input_shape = check.batch_free_shape("input_shape", input_shape)

    return __init__


def checked_layer(value, what):
    """``value`` when it is a :class:`Layer`, else TypeError naming ``what``."""
    if not isinstance(value, Layer):
        raise TypeError(f"{what} must be a cnnfast.layers.Layer, got {type(value).__name__}")
    return value


def _batch_free(input_shape):
    """``input_shape`` checked, without Keras's leading None (the batch) if it has one."""
    if isinstance(input_shape, (tuple, list)) and len(input_shape) > 1 and input_shape[0] is None:
        input_shape = input_shape[1:]
    return check.batch_free_shape("input_shape", input_shape)


def _generator(rng):
    if rng is None:
        return np.random.default_rng(0)
    if isinstance(rng, np.random.Generator):
        return rng
    if isinstance(rng, (int, np.integer)) and not isinstance(rng, (bool, np.bool_)):
        return np.random.default_rng(int(rng))
    raise TypeError(f"rng must be a np.random.Generator, an int seed or None, got {type(rng).__name__}")


# ---------------------------------------------------------------- registry

_REGISTRY: dict[str, type] = {}


def register(cls=None, *, name=None):
    """Make a Layer subclass known to :func:`deserialize` (usable as a decorator).

    Parameters
    ----------
    cls : type, optional
        The class (``@register``); omitted with ``@register(name=...)``.
    name : str, optional
        The name it is registered and serialized under (default: the class name).

    Returns
    -------
    type or callable
        The class, or the decorator.

    Raises
    ------
    ValueError
        When a different class is registered under that name already.
    """
    def add(layer_class):
        if not (isinstance(layer_class, type) and issubclass(layer_class, Layer)):
            raise TypeError(f"only Layer subclasses can be registered, got {layer_class!r}")
        key = name or layer_class.__name__
        if _REGISTRY.get(key, layer_class) is not layer_class:
            raise ValueError(f"a different layer class is already registered as {key!r}: {_REGISTRY[key]!r}")
        _REGISTRY[key] = layer_class
        return layer_class

    return add if cls is None else add(cls)


def _registered_name(layer_class):
    for key, value in _REGISTRY.items():
        if value is layer_class:
            return key
    raise ValueError(f"{layer_class.__name__} is not registered: decorate it with "
                     f"cnnfast.layers.register to serialize it")


def serialize(layer):
    """A layer's class and config, JSON-able.

    Parameters
    ----------
    layer : Layer
        Of a registered class.

    Returns
    -------
    dict
        ``{"class": registered class name, "config": layer.get_config()}``.
    """
    if not isinstance(layer, Layer):
        raise TypeError(f"serialize expects a Layer, got {type(layer).__name__}")
    return {"class": _registered_name(type(layer)), "config": layer.get_config()}


def deserialize(spec):
    """A new, unbuilt layer from :func:`serialize`'s dict.

    Parameters
    ----------
    spec : dict

    Returns
    -------
    Layer

    Raises
    ------
    ValueError
        An unknown class.
    """
    if not isinstance(spec, dict) or "class" not in spec:
        raise ValueError(f"deserialize expects a dict with keys 'class' and 'config', got {spec!r}")
    layer_class = _REGISTRY.get(spec["class"])
    if layer_class is None:
        raise ValueError(f"unknown layer class {spec['class']!r}; known: {sorted(_REGISTRY)}")
    return layer_class.from_config(dict(spec.get("config") or {}))
