"""Strict reader for the IDX format of MNIST-style files.

IDX layout (all integers big-endian)::

    byte 0-1   zero
    byte 2     element type code (0x08 uint8, 0x09 int8, 0x0B int16,
               0x0C int32, 0x0D float32, 0x0E float64)
    byte 3     number of dimensions, ndim >= 1
    then       ndim uint32 sizes
    then       prod(sizes) elements, row-major

The reader refuses anything that does not match this exactly: a wrong magic,
an unknown type code, zero dimensions, a header cut short, a payload shorter
or longer than the sizes declare.  Sizes are checked against the file before
any array is allocated, so a header that declares a huge array cannot make us
allocate it.
"""

from __future__ import annotations

import gzip
import io
import os
import struct
import zlib

import numpy as np

__all__ = ["IDX_DTYPES", "parse_idx", "read_idx"]

#: IDX element type code -> big-endian NumPy dtype.
IDX_DTYPES = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}

_GZIP_MAGIC = b"\x1f\x8b"
# Deflate cannot expand data by more than about 1032:1, so a gzip file whose
# header declares a payload far larger than that is lying; refusing it early
# means a forged header never makes us inflate (or allocate) gigabytes.
_MAX_DEFLATE_RATIO = 1032
_CHUNK = 1 << 20


def _fail(name, why):
    raise ValueError(f"{name}: not a valid IDX file: {why}")


def _parse_header(name, head4, read):
    """Decode the magic and sizes; ``read(n)`` returns up to n more bytes."""
    if len(head4) < 4:
        _fail(name, f"file is {len(head4)} bytes long, shorter than the 4-byte magic")
    zero, code, ndim = struct.unpack(">HBB", head4)
    if zero != 0:
        _fail(name, f"magic {head4.hex()} does not start with two zero bytes")
    if code not in IDX_DTYPES:
        known = ", ".join(f"0x{c:02X}" for c in IDX_DTYPES)
        _fail(name, f"unknown element type code 0x{code:02X} (expected one of {known})")
    if ndim == 0:
        _fail(name, "header declares 0 dimensions")
    raw = read(4 * ndim)
    if len(raw) != 4 * ndim:
        _fail(name, f"header declares {ndim} dimensions but the file ends inside the size list")
    shape = struct.unpack(f">{ndim}I", raw)
    dtype = IDX_DTYPES[code]
    # Python ints: no overflow however large the declared sizes are.
    nbytes = dtype.itemsize
    for s in shape:
        nbytes *= s
    return dtype, shape, nbytes, 4 + 4 * ndim


def _to_array(payload, dtype, shape):
    # frombuffer on a bytearray gives a writable array without another copy;
    # multi-byte types are converted from big-endian to native order so that
    # callers never meet a byte-swapped array (uint8 needs no conversion).
    arr = np.frombuffer(payload, dtype=dtype).reshape(shape)
    if dtype.itemsize > 1:
        arr = arr.astype(dtype.newbyteorder("="))
    return arr


def parse_idx(data, name="<bytes>"):
    """Parse an IDX file held in memory (raw or gzip-compressed bytes).

    Parameters
    ----------
    data : bytes-like
        The whole file.  Gzip data (``1f 8b`` magic) is decompressed on the fly.
    name : str
        Used in error messages (normally the file path).

    Returns
    -------
    numpy.ndarray
        Array of the declared shape ``(d0, d1, ...)`` and type, native byte
        order, writable.  MNIST images come back as ``(N, 28, 28)`` uint8 and
        labels as ``(N,)`` uint8.

    Raises
    ------
    ValueError
        Naming ``name``, when the magic, type code, number of dimensions or
        the declared sizes disagree with the data, or the gzip stream is
        corrupt.
    """
    data = memoryview(data).cast("B")
    if bytes(data[:2]) == _GZIP_MAGIC:
        return _parse_gzip(data, name)
    pos = 4

    def read(n):
        nonlocal pos
        chunk = bytes(data[pos:pos + n])
        pos += len(chunk)
        return chunk

    dtype, shape, nbytes, header_len = _parse_header(name, bytes(data[:4]), read)
    have = len(data) - header_len
    if have != nbytes:
        _fail(name, f"header declares shape {shape} of {dtype.name} = {nbytes} payload bytes, "
                    f"but the file holds {have} bytes after its {header_len}-byte header "
                    f"({'truncated' if have < nbytes else 'extra bytes at the end'})")
    return _to_array(bytearray(data[header_len:]), dtype, shape)


def _parse_gzip(data, name):
    try:
        with gzip.GzipFile(fileobj=io.BytesIO(data), mode="rb") as f:
            dtype, shape, nbytes, header_len = _parse_header(name, f.read(4), f.read)
            limit = _MAX_DEFLATE_RATIO * len(data) + (1 << 16)
            if nbytes > limit:
                _fail(name, f"header declares shape {shape} of {dtype.name} = {nbytes} payload "
                            f"bytes, more than {len(data)} compressed bytes can hold")
            # Read exactly the declared payload in chunks: memory never exceeds
            # what the stream really contains, even for a lying header.
            payload = bytearray()
            while len(payload) < nbytes:
                chunk = f.read(min(_CHUNK, nbytes - len(payload)))
                if not chunk:
                    break
                payload += chunk
            if len(payload) < nbytes:
                _fail(name, f"header declares shape {shape} of {dtype.name} = {nbytes} payload "
                            f"bytes, but the data ends after {len(payload)} (truncated)")
            if f.read(1):
                _fail(name, f"header declares shape {shape} of {dtype.name} = {nbytes} payload "
                            f"bytes, but more data follows (extra bytes at the end)")
    except (OSError, EOFError, zlib.error) as exc:  # BadGzipFile is an OSError
        raise ValueError(f"{name}: corrupt gzip stream: {exc}") from exc
    return _to_array(payload, dtype, shape)


def read_idx(path):
    """Read an IDX file (``.gz`` compressed or not) from disk.

    Parameters
    ----------
    path : str or os.PathLike

    Returns
    -------
    numpy.ndarray
        See :func:`parse_idx`.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ValueError
        Naming the file, if it is not a well-formed IDX file.
    """
    path = os.fspath(path)
    with open(path, "rb") as f:
        data = f.read()
    return parse_idx(data, name=path)
