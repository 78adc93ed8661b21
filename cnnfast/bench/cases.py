"""How each backend runs a workload: one callable per pass.

``make_inputs(workload)`` draws the float32 tensors once; ``numpy_case`` (for
the ``fast`` and ``reference`` backends of :mod:`cnnfast.functional`) and
``torch_case`` turn them into ``{pass name: f, ..., "check": f}`` where each
``f()`` returns its results as a tuple of NumPy arrays; ``check`` is what the
runner compares with the reference before timing anything.  Whatever a
backward pass needs from its forward pass (pooling indices, torch's autograd
graph) is made once here, outside the timed call.

Models are built by :mod:`cnnfast.models` with a fixed seed; PyTorch gets the
same architecture (``torch_sequential``) and the same weights through
``load_state_dict``, so their first training steps must agree.
"""

from __future__ import annotations

import numpy as np

from .. import functional as F


MODEL_LR, MODEL_MOMENTUM = 0.01, 0.9


def make_inputs(workload, seed=0):
    """x, weight, bias and grad_y for ``workload`` (float32, fixed seed);
    for a model, a training batch with labels and an inference batch."""
    rng = np.random.default_rng(seed)
    if workload.kind == "model":
        shape = lambda n: (n,) + tuple(workload.image_shape)
        return {"x_train": rng.standard_normal(shape(workload.train_batch), dtype=np.float32),
                "y_train": rng.integers(0, workload.num_classes, workload.train_batch),
                "x_infer": rng.standard_normal(shape(workload.inference_batch), dtype=np.float32)}
    inputs = {"x": rng.standard_normal(workload.input_shape, dtype=np.float32),
              "grad_y": rng.standard_normal(workload.output_shape, dtype=np.float32)}
    if workload.kind == "conv":
        weight = rng.standard_normal(workload.weight_shape, dtype=np.float32)
        weight /= np.float32(np.sqrt(np.prod(workload.weight_shape[1:])))
        inputs["weight"] = weight
        inputs["bias"] = rng.standard_normal(workload.out_channels, dtype=np.float32)
    return inputs


def _conv_args(workload):
    return dict(stride=workload.stride, padding=workload.padding, groups=workload.groups)


def _with_check(calls):
    """Kernels are checked on forward + backward together."""
    calls["check"] = calls["both"]
    return calls


def numpy_case(workload, inputs, backend):
    """Callables per pass for ``cnnfast.functional`` with ``backend`` ("fast" | "reference")."""
    if workload.kind == "model":
        return _model_case(workload, inputs, backend)
    return _with_check(_kernel_case(workload, inputs, backend))


def _kernel_case(workload, inputs, backend):
    x, grad_y = inputs["x"], inputs["grad_y"]
    if workload.kind == "conv":
        w, b, args = inputs["weight"], inputs["bias"], _conv_args(workload)
        forward_fn, backward_fn = ((F.conv_transpose2d, F.conv_transpose2d_backward) if workload.transposed
                                   else (F.conv2d, F.conv2d_backward))
        forward = lambda: (forward_fn(x, w, b, backend=backend, **args),)
        backward = lambda: tuple(backward_fn(grad_y, x, w, backend=backend, **args))
        return {"forward": forward, "backward": backward, "both": lambda: forward() + backward()}

    pool = dict(kernel_size=workload.kernel, stride=workload.stride, padding=workload.padding)
    if workload.op == "max":
        _, argmax = F.max_pool2d(x, backend=backend, **pool)
        forward = lambda: (F.max_pool2d(x, backend=backend, **pool)[0],)
        backward = lambda: (F.max_pool2d_backward(grad_y, argmax, x.shape, backend=backend),)

        def both():
            y, indices = F.max_pool2d(x, backend=backend, **pool)
            return y, F.max_pool2d_backward(grad_y, indices, x.shape, backend=backend)
        return {"forward": forward, "backward": backward, "both": both}
    forward = lambda: (F.avg_pool2d(x, backend=backend, **pool),)
    backward = lambda: (F.avg_pool2d_backward(grad_y, x.shape, backend=backend, **pool),)
    return {"forward": forward, "backward": backward, "both": lambda: forward() + backward()}


def _model_case(workload, inputs, backend):
    from .. import models, optim

    model = getattr(models, workload.builder)(num_classes=workload.num_classes, seed=0)
    model.set_backend(backend)
    model.compile(optimizer=optim.SGD(model.parameters(), lr=MODEL_LR, momentum=MODEL_MOMENTUM),
                  loss="cross_entropy", metrics=())
    train = lambda: (np.float32(model.train_on_batch(inputs["x_train"], inputs["y_train"])["loss"]),)
    inference = lambda: (model.predict(inputs["x_infer"], batch_size=workload.inference_batch),)

    def check():
        """Logits, the loss of one training step, and the logits after it.

        (The updated weights themselves are no fair test in float32: BatchNorm
        biases start at zero and move by sums over N*H*W terms, whose rounding
        is a large fraction of so small a step.)
        """
        return inference() + train() + inference()
    return {"train": train, "inference": inference, "check": check}


def _torch_module(layer, torch):
    """The torch.nn twin of one cnnfast layer (a container: its children's twins)."""
    from .. import layers as L

    nn = torch.nn
    config, state = layer.get_config(), layer.state_dict()
    if isinstance(layer, L.Residual):
        shortcut = None if layer.shortcut is None else _torch_module(layer.shortcut, torch)
        return _TorchResidual(_torch_module(layer.block, torch), shortcut, torch)
    if isinstance(layer, L.Sequential):
        return nn.Sequential(*(_torch_module(child, torch) for child in layer))
    if isinstance(layer, L.Conv2D) and not isinstance(layer, L.Conv2DTranspose):
        out_channels, in_per_group, _, _ = state["weight"].shape
        return nn.Conv2d(in_per_group * config["groups"], out_channels, config["kernel_size"], config["stride"],
                         config["padding"], config["dilation"], config["groups"], bias=config["use_bias"])
    if isinstance(layer, L.BatchNorm2D):
        return nn.BatchNorm2d(state["weight"].shape[0], eps=config["eps"], momentum=config["momentum"])
    if isinstance(layer, L.MaxPool2D):
        return nn.MaxPool2d(layer.pool_size, layer.stride, layer.padding)
    if isinstance(layer, L.GlobalAvgPool2D):
        return nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten())
    if isinstance(layer, L.Dense):
        return nn.Linear(state["weight"].shape[1], state["weight"].shape[0], bias=config["use_bias"])
    if isinstance(layer, (L.ReLU, L.Flatten)):
        return nn.ReLU() if isinstance(layer, L.ReLU) else nn.Flatten()
    raise ValueError(f"the benchmark has no torch equivalent for {type(layer).__name__}")


def _TorchResidual(block, shortcut, torch):
    """torch twin of cnnfast.layers.Residual: block(x) + (shortcut(x) or x), with
    children named as cnnfast's ("block", "shortcut")."""

    class Residual(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.block = block
            self.shortcut = shortcut

        def forward(self, x):
            return self.block(x) + (x if self.shortcut is None else self.shortcut(x))
    return Residual()


def torch_sequential(model, torch):
    """A torch.nn.Sequential with the architecture of a cnnfast ``Sequential``
    of Conv2D, BatchNorm2D, MaxPool2D, GlobalAvgPool2D, ReLU, Flatten, Dense
    and Residual layers, holding its weights (the state_dict names are the same
    by design)."""
    nn = torch.nn
    net = nn.Sequential(*(_torch_module(layer, torch) for layer in model))
    # GlobalAvgPool2D's twin is a Sequential of two modules without state: its
    # name shifts nothing, since the state_dict keys of later layers are their
    # own indices.
    net.load_state_dict({k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in model.state_dict().items()},
                        strict=True)
    return net


def _torch_model_case(workload, inputs, torch):
    from .. import models

    net = torch_sequential(getattr(models, workload.builder)(num_classes=workload.num_classes, seed=0), torch)
    optimizer = torch.optim.SGD(net.parameters(), lr=MODEL_LR, momentum=MODEL_MOMENTUM)
    x_train, x_infer = torch.from_numpy(inputs["x_train"]), torch.from_numpy(inputs["x_infer"])
    y_train = torch.from_numpy(inputs["y_train"])

    def train():
        net.train()
        optimizer.zero_grad(set_to_none=True)
        loss = torch.nn.functional.cross_entropy(net(x_train), y_train)
        loss.backward()
        optimizer.step()
        return (np.float32(loss.item()),)

    def inference():
        net.eval()
        with torch.no_grad():
            return (net(x_infer).numpy(),)

    def check():  # as the cnnfast model's check
        return inference() + train() + inference()
    return {"train": train, "inference": inference, "check": check}


def torch_case(workload, inputs, torch):
    """Callables per pass for PyTorch: forward under ``no_grad`` (inference, as
    cnnfast's forward keeps nothing), backward by ``autograd.grad`` on a graph
    built once, both = a fresh graph and its gradients."""
    if workload.kind == "model":
        return _torch_model_case(workload, inputs, torch)
    nn = torch.nn.functional
    x, grad_y = torch.from_numpy(inputs["x"]), torch.from_numpy(inputs["grad_y"])
    if workload.kind == "conv":
        w, b = torch.from_numpy(inputs["weight"]), torch.from_numpy(inputs["bias"])
        op = nn.conv_transpose2d if workload.transposed else nn.conv2d
        args = _conv_args(workload)
        leaves = (x, w, b)
        run = lambda x, w, b: op(x, w, b, **args)
    else:
        pool = dict(kernel_size=workload.kernel, stride=workload.stride, padding=workload.padding)
        op = nn.max_pool2d if workload.op == "max" else nn.avg_pool2d
        leaves = (x,)
        run = lambda x: op(x, **pool)

    def forward():
        with torch.no_grad():
            return (run(*leaves).numpy(),)

    def gradients(y, tracked):
        return tuple(g.numpy() for g in torch.autograd.grad(y, tracked, grad_y, retain_graph=True))

    tracked = tuple(t.detach().requires_grad_(True) for t in leaves)
    graph = run(*tracked)

    def both():
        fresh = tuple(t.detach().requires_grad_(True) for t in leaves)
        y = run(*fresh)
        return (y.detach().numpy(),) + gradients(y, fresh)
    return _with_check({"forward": forward, "backward": lambda: gradients(graph, tracked), "both": both})
