"""What the processes do together on a model: broadcast it, average arrays, average its running statistics.

Every function here is collective: each process of the job calls it, in the
same order, with arrays of the same shapes (checked, so that a mismatch is a
ValueError naming the ranks instead of a hang or a garbled buffer).
"""

from __future__ import annotations

import zlib

import numpy as np

from . import world as _world

__all__ = [
    "broadcast_model",
    "allreduce_mean",
    "barrier",
    "average_buffers",
    "model_signature",
    "weights_checksum",
    "check_same",
]


def barrier():
    """Wait until every process gets here."""
    _world.current().barrier()


def check_same(world, what, mine):
    """Raise the same ValueError on every rank unless all ranks give an equal ``mine`` (a small, comparable value).

    Parameters
    ----------
    world : World
    what : str
        Named in the error, e.g. ``"the model's parameters"``.
    mine : object
        Picklable; compared with ``==`` to rank 0's.  A dict is compared key by
        key and the error names the keys that differ.
    """
    everyone = world.allgather_object(mine, what=f"the check of {what}")
    reference = everyone[0]
    for rank, theirs in enumerate(everyone[1:], 1):
        if theirs == reference:
            continue
        if isinstance(reference, dict) and isinstance(theirs, dict):
            keys = [k for k in {**reference, **theirs} if reference.get(k) != theirs.get(k)]
            detail = "; ".join(f"{k}: {reference.get(k)!r} on rank 0, {theirs.get(k)!r} on rank {rank}" for k in keys)
        else:
            detail = f"{reference!r} on rank 0, {theirs!r} on rank {rank}"
        raise ValueError(
            f"the processes disagree on {what}: {detail}.  Every process must run the same program on the same data"
        )


def model_signature(model):
    """Names, shapes and dtypes of the parameters and buffers: what must match before arrays are exchanged."""
    return [(name, p.data.shape, p.data.dtype.str) for name, p in model.named_parameters()] + [
        (name, np.shape(b), np.asarray(b).dtype.str) for name, b in model.named_buffers()
    ]


def broadcast_model(model, root=0):
    """Give every process rank ``root``'s weights, buffers and (when compiled) optimizer state.

    Collective.  Call it once before training in a hand-written loop
    (``fit(distributed=True)`` does it itself), so that every process starts
    from the same point, as Horovod's ``broadcast_parameters`` and
    ``broadcast_optimizer_state`` do.

    Parameters
    ----------
    model : Sequential
        Built, with the same architecture on every process.
    root : int
        The rank whose state is copied.

    Raises
    ------
    ValueError
        The model is not built, or the architectures differ (every process
        raises, naming the first rank that differs).
    """
    world = _world.current()
    root = _checked_rank(world, root)
    if not model.built:
        raise ValueError("broadcast_model: the model is not built; build it (or give input_shape) first")
    check_same(world, "the model's parameters and buffers (name, shape, dtype)", model_signature(model))
    for _, p in model.named_parameters():
        _broadcast_array(world, p.data, root)
    for _, b in model.named_buffers():
        _broadcast_array(world, b, root)
    optimizer = getattr(model, "optimizer", None)
    if optimizer is not None:
        state = world.broadcast_object(
            optimizer.state_dict() if world.rank == root else None, root, what="the optimizer state broadcast"
        )
        if world.rank != root:
            optimizer.load_state_dict(state)


def _broadcast_array(world, array, root):
    if array.flags.c_contiguous:
        world.broadcast(array, root, what="the model broadcast")
    else:
        copy = np.ascontiguousarray(array)
        world.broadcast(copy, root, what="the model broadcast")
        array[...] = copy


def _checked_rank(world, root):
    if isinstance(root, bool) or not isinstance(root, (int, np.integer)) or not 0 <= root < world.size:
        raise ValueError(f"root must be a rank in [0, {world.size}), got {root!r}")
    return int(root)


def allreduce_mean(array, weight=None):
    """The mean of ``array`` over the processes, returned on every process.

    Collective.

    Parameters
    ----------
    array : array_like, the same shape on every process
        Floating arrays keep their dtype; others are averaged in float64.
    weight : float >= 0, optional
        This process's weight, such as its number of samples: the result is
        ``sum_r weight_r * array_r / sum_r weight_r``, the mean one process
        would compute over everyone's samples.  Default 1 (a plain mean).

    Returns
    -------
    ndarray
        A new array, the shape of ``array``.

    Raises
    ------
    ValueError
        The shapes differ between processes (every process raises), or the
        weights are negative or all zero.
    """
    world = _world.current()
    array = np.asarray(array)
    dtype = array.dtype if array.dtype.kind == "f" else np.dtype(np.float64)
    weight = 1.0 if weight is None else float(weight)
    if not weight >= 0 or np.isinf(weight):
        raise ValueError(f"weight must be finite and >= 0, got {weight}")
    check_same(world, "the shape and dtype of the array given to allreduce_mean", (array.shape, dtype.str))
    buffer = np.empty(array.size + 1, dtype)
    np.multiply(array.reshape(-1), weight, out=buffer[:-1], casting="unsafe")
    buffer[-1] = weight
    world.allreduce(buffer, what="allreduce_mean")
    if buffer[-1] == 0:
        raise ValueError("allreduce_mean: every process gave weight 0")
    return (buffer[:-1] / buffer[-1]).reshape(array.shape)


def average_buffers(world, model):
    """Average the model's floating buffers (BatchNorm's running statistics) over the ranks, in place.

    Integer buffers (``num_batches_tracked``) take the largest count.  One
    allreduce per kind; nothing at all for a model without buffers.  Collective.
    """
    buffers = [np.asarray(b) for _, b in model.named_buffers()]
    for kind, op in (("f", "sum"), ("iu", "max")):
        chosen = [b for b in buffers if b.dtype.kind in kind]
        if not chosen:
            continue
        packed = np.concatenate([b.reshape(-1) for b in chosen]).astype(np.float64)
        world.allreduce(packed, op=op, what="the running statistics' average")
        if op == "sum":
            packed /= world.size
        start = 0
        for b in chosen:
            b[...] = packed[start : start + b.size].reshape(b.shape)
            start += b.size


def weights_checksum(model):
    """CRC-32 of the bytes of every parameter and buffer: equal on two ranks iff (all but surely) their weights are."""
    checksum = 0
    for _, p in model.named_parameters():
        checksum = zlib.crc32(np.ascontiguousarray(p.data).reshape(-1).view(np.uint8), checksum)
    for _, b in model.named_buffers():
        checksum = zlib.crc32(np.ascontiguousarray(b).reshape(-1).view(np.uint8), checksum)
    return checksum
