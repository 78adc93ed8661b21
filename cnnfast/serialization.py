"""The cnnfast file format: one ``.npz`` archive per model or set of weights.

An archive holds

* every array of the model's ``state_dict`` under its torch name
  (``"0.weight"``, ``"3.running_mean"``, ...), so ``dict(np.load(path))`` minus
  the header is a state dict ``torch.nn.Module.load_state_dict`` accepts;
* one header entry, ``HEADER_KEY``: a 0-d unicode array holding JSON with the
  format name and version, what the file holds (``"model"`` or ``"weights"``),
  the model's config (architecture, dtype, seed, input shape) and the list of
  array names in ``state_dict`` order.

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
    "write_archive",
    "read_archive",
]

FORMAT_NAME = "cnnfast"
FORMAT_VERSION = 1
# Not a valid torch parameter name, so it can never collide with a weight.
HEADER_KEY = "__cnnfast__"
KINDS = ("model", "weights")

# What NumPy and zipfile raise on damaged archives; anything else is a bug we
# want to see, not to rewrap.
# (zipfile raises NotImplementedError for a corrupted compression field and
# RuntimeError for one that claims encryption.)
_READ_ERRORS = (
    ValueError, OSError, EOFError, KeyError, NotImplementedError, RuntimeError, zipfile.BadZipFile, zlib.error,
)
_ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")  # a local file header, or an empty archive
_NPY_MAGIC = b"\x93NUMPY"


def write_archive(path, arrays, header):
    """Atomically write ``arrays`` and ``header`` to ``path``.

    On any error the destination is left as it was and the temporary file is removed.

    Parameters
    ----------
    path : str or path
        Used exactly as given (no ``.npz`` is appended).
    arrays : dict of str to ndarray
    header : dict
        JSON-able; ``format``, ``version`` and ``keys`` (the array names, in
        order) are added.
    """
    path = os.fspath(path)
    for name in arrays:
        if name == HEADER_KEY:
            raise ValueError(f"array name {HEADER_KEY!r} is reserved for the file header")
    header = dict(header, format=FORMAT_NAME, version=FORMAT_VERSION, keys=list(arrays))
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
