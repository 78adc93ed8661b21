"""How each backend runs a workload: one callable per pass.

``make_inputs(workload)`` draws the float32 tensors once; ``numpy_case`` (for
the ``fast`` and ``reference`` backends of :mod:`cnnfast.functional`) and
``torch_case`` turn them into ``{"forward": f, "backward": f, "both": f}``
where each ``f()`` returns its results as a tuple of NumPy arrays, so that the
runner can compare every backend with the reference.  Whatever a backward pass
needs from its forward pass (pooling indices, torch's autograd graph) is made
once here, outside the timed call.
"""

from __future__ import annotations

import numpy as np

from .. import functional as F


def make_inputs(workload, seed=0):
    """x, weight, bias and grad_y for ``workload`` (float32, fixed seed)."""
    rng = np.random.default_rng(seed)
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


def numpy_case(workload, inputs, backend):
    """Callables per pass for ``cnnfast.functional`` with ``backend`` ("fast" | "reference")."""
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


def torch_case(workload, inputs, torch):
    """Callables per pass for PyTorch: forward under ``no_grad`` (inference, as
    cnnfast's forward keeps nothing), backward by ``autograd.grad`` on a graph
    built once, both = a fresh graph and its gradients."""
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
    return {"forward": forward, "backward": lambda: gradients(graph, tracked), "both": both}
