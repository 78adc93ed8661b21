"""The cnnfast file format: one ``.npz`` archive per model or set of weights.

An archive holds

* every array of the model's ``state_dict`` under its torch name
  (``"0.weight"``, ``"3.running_mean"``, ...), so ``dict(np.load(path))`` minus
  the entries whose names start with ``__`` is a state dict
  ``torch.nn.Module.load_state_dict`` accepts (as tensors: ``cnnfast.utils.to_torch``);
* for a compiled model, the optimizer's state arrays (momentum buffers,
  Adam's moments) under ``__optimizer__.<parameter index>.<name>``
  (:func:`pack_optimizer_state`);
* one header entry, ``HEADER_KEY``: a 0-d unicode array holding JSON with the
  format name and version, what the file holds (``"model"`` or ``"weights"``),
  the model's config (architecture, dtype, seed, input shape), for a compiled
  model its compile configuration (loss, metrics, optimizer) and the rest of
  the optimizer state (learning rate, step counts), and the list of array
  names in ``state_dict`` order.

Version 2 is version 1 plus the optimizer's arrays; a file without them is
written as version 1, which older cnnfast versions read.

Nothing is ever unpickled: archives are read with ``allow_pickle=False``, so a
file cannot run code.  Writes are atomic: the archive goes to a temporary file
in the destination's directory, is flushed and fsync'ed, then renamed over the
destination with ``os.replace``; a save that dies half-way leaves the previous
file untouched (and, if the process was killed, a hidden ``.<name>.<random>.tmp``
file beside it, safe to delete).  Reading a truncated, empty or foreign file raises
``ValueError`` saying which file and what is wrong with it.
"""

from __future__ import annotations

import json
import os
import secrets
import zipfile
import zlib

import numpy as np

__all__ = [
    "FORMAT_NAME",
    "FORMAT_VERSION",
    "HEADER_KEY",
    "SUFFIX",
    "OPTIMIZER_PREFIX",
    "check_suffix",
    "write_archive",
    "read_archive",
    "pack_optimizer_state",
    "unpack_optimizer_state",
]

FORMAT_NAME = "cnnfast"
#: The newest version written (2: with optimizer state); files without optimizer state are version 1.
FORMAT_VERSION = 2
#: The prefix of the optimizer's arrays (never a torch parameter name).
OPTIMIZER_PREFIX = "__optimizer__."
# Not a valid torch parameter name, so it can never collide with a weight.
HEADER_KEY = "__cnnfast__"
KINDS = ("model", "weights")
#: The one file extension cnnfast writes (a path may also have none).
SUFFIX = ".npz"

# What NumPy and zipfile raise on damaged archives; anything else is a bug we
# want to see, not to rewrap.
# (zipfile raises NotImplementedError for a corrupted compression field and
# RuntimeError for one that claims encryption.)
_READ_ERRORS = (
    ValueError, OSError, EOFError, KeyError, NotImplementedError, RuntimeError, zipfile.BadZipFile, zlib.error,
)
_ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")  # a local file header, or an empty archive
_NPY_MAGIC = b"\x93NUMPY"


def check_suffix(path):
    """ValueError unless ``path`` ends in ``.npz`` or has no extension: the format cnnfast writes.

    ``model.save("m.h5")`` or ``"m.keras"`` would otherwise put cnnfast's own
    ``.npz`` archive under the name of a format it is not, which Keras, h5py
    or torch then fail to read.

    Parameters
    ----------
    path : str or path

    Returns
    -------
    str
        ``path`` as a string.
    """
    path = os.fspath(path)
    suffix = os.path.splitext(path)[1]
    if suffix and suffix.lower() != SUFFIX:
        raise ValueError(
            f"cannot save to {path!r}: cnnfast writes one format, its own {SUFFIX} archive (the weights under "
            f"torch's names plus the architecture as JSON), not {suffix!r} files such as Keras's .h5 / .keras or "
            f"torch's .pt: give a path ending in {SUFFIX} (or with no extension)")
    return path


def write_archive(path, arrays, header):
    """Atomically write ``arrays`` and ``header`` to ``path``.

    On any error the destination is left as it was and the temporary file is removed.

    Parameters
    ----------
    path : str or path
        Used exactly as given (no ``.npz`` is appended); an extension other
        than ``.npz`` is refused (:func:`check_suffix`).
    arrays : dict of str to ndarray
    header : dict
        JSON-able; ``format``, ``version`` and ``keys`` (the array names, in
        order) are added.
    """
    path = check_suffix(path)
    for name in arrays:
        if name == HEADER_KEY:
            raise ValueError(f"array name {HEADER_KEY!r} is reserved for the file header")
    version = FORMAT_VERSION if any(name.startswith(OPTIMIZER_PREFIX) for name in arrays) else 1
    header = dict(header, format=FORMAT_NAME, version=version, keys=list(arrays))
    members = {name: np.asarray(a) for name, a in arrays.items()}
    members[HEADER_KEY] = np.array(json.dumps(header))

    directory = os.path.dirname(os.path.abspath(path))
    tmp_path = os.path.join(directory, f".{os.path.basename(path)}.{secrets.token_hex(6)}.tmp")
    # O_EXCL: never reuse somebody else's file; 0o666 lets the umask decide the
    # permissions, as for any file the user creates.
    fd = os.open(tmp_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **members)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp_path, path)
    except BaseException:
        # BaseException: a KeyboardInterrupt mid-write must not leave the temp file behind.
        try:
            os.unlink(tmp_path)
        except FileNotFoundError:
            pass
        raise
    _fsync_directory(directory)


def _fsync_directory(directory):
    """Make the rename itself durable (POSIX); a no-op where directories cannot be opened."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def read_archive(path):
    """Read a cnnfast archive.

    Parameters
    ----------
    path : str or path

    Returns
    -------
    header : dict
    arrays : dict of str to ndarray
        In the order the header lists them.

    Raises
    ------
    FileNotFoundError
        When ``path`` does not exist.
    ValueError
        For anything that is not an intact cnnfast archive (empty, truncated,
        random bytes, pickled objects, a plain ``.npy``, a header that is
        missing, unreadable or from a newer version, arrays missing or extra).
    """
    path = os.fspath(path)
    size = os.path.getsize(path)  # FileNotFoundError says which path
    if size == 0:
        raise ValueError(f"{path!r} is empty (0 bytes): not a cnnfast file")
    # Check the signature ourselves: on anything that is neither zip nor .npy,
    # np.load's message suggests unpickling the file, the one thing not to do.
    with open(path, "rb") as f:
        magic = f.read(len(_NPY_MAGIC))
    if magic.startswith(_NPY_MAGIC):
        raise ValueError(f"{path!r} holds a single .npy array, not a cnnfast .npz archive")
    if not magic.startswith(_ZIP_MAGIC):
        raise ValueError(
            f"{path!r} ({size} bytes) is not a cnnfast file: it does not start with the .npz (zip) signature"
        )
    try:
        with np.load(path, allow_pickle=False) as npz:
            members = {name: npz[name] for name in npz.files}
    except _READ_ERRORS as e:
        raise ValueError(
            f"{path!r} ({size} bytes) is not a readable cnnfast file: {type(e).__name__}: {e}"
        ) from e

    header = _parse_header(path, members.pop(HEADER_KEY, None))
    keys = header["keys"]
    missing = [k for k in keys if k not in members]
    extra = [k for k in members if k not in keys]
    if missing or extra:
        raise ValueError(
            f"{path!r} is damaged: its header lists arrays {missing} that are not in the file"
            f" and the file has arrays {extra} the header does not list"
        )
    for name, a in members.items():
        if not (np.issubdtype(a.dtype, np.number) or a.dtype == np.bool_):
            raise ValueError(f"{path!r}: array {name!r} has dtype {a.dtype}, expected a numeric array")
    return header, {k: members[k] for k in keys}


def _parse_header(path, raw):
    """Decode and validate the JSON header array of ``path``."""
    if raw is None:
        raise ValueError(f"{path!r} is an .npz archive but not a cnnfast file: it has no {HEADER_KEY!r} header")
    try:
        if raw.shape != () or raw.dtype.kind != "U":
            raise ValueError(f"header is a {raw.dtype} array of shape {raw.shape}, expected a 0-d string")
        header = json.loads(str(raw))
        if not isinstance(header, dict):
            raise ValueError("header JSON is not an object")
    except ValueError as e:  # json.JSONDecodeError is a ValueError
        raise ValueError(f"{path!r} has an unreadable cnnfast header: {e}") from e
    if header.get("format") != FORMAT_NAME:
        raise ValueError(f"{path!r}: header format is {header.get('format')!r}, expected {FORMAT_NAME!r}")
    version = header.get("version")
    if not isinstance(version, int) or version < 1:
        raise ValueError(f"{path!r}: invalid format version {version!r}")
    if version > FORMAT_VERSION:
        raise ValueError(
            f"{path!r} was written in format version {version} by a newer cnnfast;"
            f" this cnnfast reads versions up to {FORMAT_VERSION}: upgrade cnnfast"
        )
    if header.get("kind") not in KINDS:
        raise ValueError(f"{path!r}: header kind is {header.get('kind')!r}, expected one of {KINDS}")
    keys = header.get("keys")
    if not isinstance(keys, list) or not all(isinstance(k, str) for k in keys):
        raise ValueError(f"{path!r}: header 'keys' must be a list of array names, got {keys!r}")
    return header


def pack_optimizer_state(state):
    """An optimizer's ``state_dict()`` as ``(JSON-able header part, arrays to store)``.

    Parameters
    ----------
    state : dict
        ``{"lr": float, "state": [per-parameter {"step": int, name: ndarray, ...}]}``.

    Returns
    -------
    (dict, dict of str to ndarray)
        ``{"lr": ..., "steps": [step or None per parameter]}`` and the arrays
        under ``__optimizer__.<i>.<name>``.
    """
    arrays, steps = {}, []
    for i, per_parameter in enumerate(state["state"]):
        steps.append(per_parameter.get("step"))
        for name, value in per_parameter.items():
            if name != "step":
                arrays[f"{OPTIMIZER_PREFIX}{i}.{name}"] = value
    return {"lr": state["lr"], "steps": steps}, arrays


def unpack_optimizer_state(path, packed, arrays):
    """The inverse of :func:`pack_optimizer_state`: ``(optimizer state dict, the other arrays)``.

    Parameters
    ----------
    path : str or path
        Named in the errors.
    packed : dict or None
        The header part; None when the file holds no optimizer state.
    arrays : dict of str to ndarray
        Everything :func:`read_archive` returned.

    Returns
    -------
    (dict or None, dict of str to ndarray)
        The state dict (None without ``packed``) and the arrays that are not the optimizer's.
    """
    weights = {k: v for k, v in arrays.items() if not k.startswith(OPTIMIZER_PREFIX)}
    if packed is None:
        return None, weights
    try:
        states = [{} if step is None else {"step": int(step)} for step in packed["steps"]]
        for key, value in arrays.items():
            if key.startswith(OPTIMIZER_PREFIX):
                index, name = key[len(OPTIMIZER_PREFIX):].split(".", 1)
                states[int(index)][name] = value
        return {"lr": float(packed["lr"]), "state": states}, weights
    except (KeyError, TypeError, ValueError, IndexError) as error:
        raise ValueError(f"{os.fspath(path)!r}: damaged optimizer state: {error!r}") from error
