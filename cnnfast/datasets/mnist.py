"""MNIST and Fashion-MNIST from their original IDX ``.gz`` files.

Where the files are looked for
------------------------------
The data directory is the ``path`` argument, else ``$CNNFAST_DATA``, else
``~/.cache/cnnfast``.  In it each file may sit in the dataset's own
sub-directory or directly, so both of these work::

    load_mnist("~/data")          # ~/data/mnist/train-images-idx3-ubyte.gz
    load_mnist("~/data/mnist")    # ~/data/mnist/train-images-idx3-ubyte.gz

MNIST and Fashion-MNIST use the same file names, which is why downloads always
go to the sub-directory (``<dir>/mnist/`` or ``<dir>/fashion-mnist/``).

Integrity
---------
Every file's SHA-256 is checked against the table below *before* it is parsed
(the bytes that were hashed are the bytes that are parsed, so a file swapped
in between cannot slip through), and the IDX parser then rejects headers that
disagree with the payload.  Downloads go to a temporary file inside the target
directory, are verified, then renamed into place atomically; a download that
fails verification is deleted.  File names come only from the tables here and
must be bare names, so nothing is ever written outside the data directory.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import re
import sys
import tempfile
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .idx import parse_idx

__all__ = [
    "DatasetSpec",
    "FileSpec",
    "MNIST",
    "FASHION_MNIST",
    "data_dir",
    "load_idx_dataset",
    "load_mnist",
    "load_fashion_mnist",
]

DATA_ENV = "CNNFAST_DATA"
DEFAULT_DATA_DIR = "~/.cache/cnnfast"
_DOWNLOAD_TIMEOUT = 60.0  # seconds per network operation, not for the whole file
_CHUNK = 1 << 16


def _check_bare_name(name: str, what: str) -> str:
    # A name with a separator, a drive, or a dot-dot component could point
    # outside the data directory once joined to it; we only ever need bare
    # file names, so refuse anything else outright.
    if (not name or name in (".", "..") or "/" in name or "\\" in name
            or (os.sep in name) or (os.altsep and os.altsep in name)
            or "\x00" in name or Path(name).name != name or ":" in name):
        raise ValueError(f"{what} {name!r} must be a bare file name without path separators")
    return name


@dataclass(frozen=True)
class FileSpec:
    """One file of a data set.

    Parameters
    ----------
    name : str
        A bare file name.
    sha256 : str
        64 lower-case hex digits.
    size : int
        Bytes.
    """

    name: str
    sha256: str
    size: int

    def __post_init__(self):
        _check_bare_name(self.name, "file name")
        if not re.fullmatch(r"[0-9a-f]{64}", self.sha256):
            raise ValueError(f"sha256 of {self.name!r} must be 64 lower-case hex digits")
        if self.size <= 0:
            raise ValueError(f"size of {self.name!r} must be positive")


@dataclass(frozen=True)
class DatasetSpec:
    """An IDX data set laid out like MNIST.

    Parameters
    ----------
    title : str
    subdir : str
        The sub-directory of the data directory it lives in.
    files : dict of str to FileSpec
        For the roles ``"train_images"``, ``"train_labels"``, ``"test_images"``
        and ``"test_labels"``.
    mirrors : tuple of str
        Base URLs tried in order by ``download=True``.
    mirror_env : str, optional
        The environment variable that overrides them.
    num_classes : int
    image_shape : tuple of int
    notes : dict
    """

    title: str
    subdir: str
    files: dict
    mirrors: tuple = ()
    mirror_env: str | None = None
    num_classes: int = 10
    image_shape: tuple = (28, 28)
    notes: dict = field(default_factory=dict)

    def __post_init__(self):
        _check_bare_name(self.subdir, "sub-directory")
        missing = {"train_images", "train_labels", "test_images", "test_labels"} - set(self.files)
        if missing:
            raise ValueError(f"{self.title}: missing file roles {sorted(missing)}")


# torchvision's MNIST mirror first (ossci, kept by the PyTorch team), then the
# TensorFlow CVDF copy, then the original site, which nowadays often refuses.
MNIST = DatasetSpec(
    title="MNIST",
    subdir="mnist",
    files={
        "train_images": FileSpec("train-images-idx3-ubyte.gz",
                                 "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609", 9912422),
        "train_labels": FileSpec("train-labels-idx1-ubyte.gz",
                                 "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c", 28881),
        "test_images": FileSpec("t10k-images-idx3-ubyte.gz",
                                "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6", 1648877),
        "test_labels": FileSpec("t10k-labels-idx1-ubyte.gz",
                                "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6", 4542),
    },
    mirrors=(
        "https://ossci-datasets.s3.amazonaws.com/mnist/",
        "https://storage.googleapis.com/cvdf-datasets/mnist/",
        "http://yann.lecun.com/exdb/mnist/",
    ),
    mirror_env="CNNFAST_MNIST_MIRROR",
)

# Zalando's own S3 bucket (the one torchvision uses), then the files in the
# fashion-mnist GitHub repository.
FASHION_MNIST = DatasetSpec(
    title="Fashion-MNIST",
    subdir="fashion-mnist",
    files={
        "train_images": FileSpec("train-images-idx3-ubyte.gz",
                                 "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84", 26421880),
        "train_labels": FileSpec("train-labels-idx1-ubyte.gz",
                                 "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845", 29515),
        "test_images": FileSpec("t10k-images-idx3-ubyte.gz",
                                "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073", 4422102),
        "test_labels": FileSpec("t10k-labels-idx1-ubyte.gz",
                                "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5", 5148),
    },
    mirrors=(
        "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
        "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/",
    ),
    mirror_env="CNNFAST_FASHION_MNIST_MIRROR",
    notes={"classes": ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                       "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")},
)

# sha256 -> "Title file" for every file we know, to say what a wrong file is.
_KNOWN = {f.sha256: f"{s.title} {f.name}" for s in (MNIST, FASHION_MNIST) for f in s.files.values()}

# The one place the network is touched; tests replace it with a guard that
# only lets loopback addresses through.
_urlopen = urllib.request.urlopen


def data_dir(path=None):
    """Resolve the data directory: ``path``, else ``$CNNFAST_DATA``, else ``~/.cache/cnnfast``.

    Returns
    -------
    (pathlib.Path, str)
        The absolute directory and a phrase saying where it came from (used in
        error messages).
    """
    if path is not None:
        return Path(os.fspath(path)).expanduser().absolute(), "the path argument"
    env = os.environ.get(DATA_ENV)
    if env:
        return Path(env).expanduser().absolute(), f"${DATA_ENV}"
    return (Path(DEFAULT_DATA_DIR).expanduser().absolute(),
            f"the default {DEFAULT_DATA_DIR} (no path argument, ${DATA_ENV} unset)")


def _candidates(root: Path, spec: DatasetSpec, fspec: FileSpec):
    # Sub-directory first: a flat directory of MNIST files would otherwise be
    # picked up for Fashion-MNIST too (same names) and fail verification.
    return [root / spec.subdir / fspec.name, root / fspec.name]


def _mirrors(spec: DatasetSpec, mirrors):
    if mirrors is None and spec.mirror_env and os.environ.get(spec.mirror_env):
        mirrors = re.split(r"[\s,]+", os.environ[spec.mirror_env].strip())
    if mirrors is None:
        mirrors = spec.mirrors
    if isinstance(mirrors, str):
        mirrors = [mirrors]
    mirrors = [m for m in mirrors if m]
    for m in mirrors:
        if urllib.parse.urlsplit(m).scheme not in ("http", "https"):
            raise ValueError(f"mirror {m!r}: only http:// and https:// URLs are allowed")
    if not mirrors:
        raise ValueError(f"{spec.title}: no download mirror given")
    return mirrors


def _verify(data: bytes, fspec: FileSpec, where, spec: DatasetSpec):
    actual = hashlib.sha256(data).hexdigest()
    if actual != fspec.sha256:
        what = _KNOWN.get(actual)
        if what:
            advice = (f"It is {what}: this directory holds another data set; point path= at "
                      f"the {spec.title} files.")
        else:
            advice = "Delete it and fetch it again (download=True)."
        raise ValueError(
            f"{spec.title} file {fspec.name!r} at {where} is corrupt or not the original: "
            f"sha256 expected {fspec.sha256}, actual {actual} "
            f"({len(data)} bytes, expected {fspec.size}). {advice}"
        )


def _download(spec: DatasetSpec, fspec: FileSpec, target_dir: Path, mirrors) -> bytes:
    """Fetch one file into ``target_dir`` atomically; return its verified bytes."""
    name = _check_bare_name(fspec.name, "file name")
    target = target_dir / name
    # Belt and braces: the joined path must still be directly in target_dir.
    if target.parent != target_dir:
        raise ValueError(f"refusing to write {target} outside {target_dir}")
    target_dir.mkdir(parents=True, exist_ok=True)
    errors, corrupt = [], False
    for base in mirrors:
        url = base.rstrip("/") + "/" + urllib.parse.quote(name)
        print(f"cnnfast: downloading {url} -> {target}", file=sys.stderr)
        fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=".part", dir=target_dir)
        try:
            h, n, parts = hashlib.sha256(), 0, []
            with os.fdopen(fd, "wb") as out:
                with _urlopen(url, timeout=_DOWNLOAD_TIMEOUT) as resp:
                    while True:
                        chunk = resp.read(_CHUNK)
                        if not chunk:
                            break
                        n += len(chunk)
                        # A server sending more than the known size is wrong;
                        # stop instead of filling the disk.
                        if n > fspec.size:
                            break
                        h.update(chunk)
                        parts.append(chunk)
                        out.write(chunk)
                out.flush()
                os.fsync(out.fileno())
            if n > fspec.size:
                corrupt = True
                errors.append(f"{url}: more than the expected {fspec.size} bytes")
                continue
            actual = h.hexdigest()
            if actual != fspec.sha256:
                corrupt = True
                errors.append(f"{url}: sha256 expected {fspec.sha256}, actual {actual} ({n} bytes)")
                continue
            # mkstemp creates 0600; a shared data directory wants readable files.
            os.chmod(tmp, 0o644)
            os.replace(tmp, target)
            tmp = None
            return b"".join(parts)
        except (OSError, http.client.HTTPException) as exc:
            # URLError/HTTPError/timeouts/disk errors are OSErrors; a connection
            # closed early raises http.client.IncompleteRead.  Try the next mirror.
            errors.append(f"{url}: {exc}")
        finally:
            if tmp is not None and os.path.exists(tmp):
                os.unlink(tmp)
    msg = (f"{spec.title}: could not download {name!r} into {target_dir}; "
           "nothing was written. Tried:\n  " + "\n  ".join(errors))
    if corrupt:
        raise ValueError(msg)
    raise OSError(msg)


def _fetch(spec, fspec, root, origin, download, mirrors):
    """Return the verified bytes of one file, downloading it if allowed."""
    places = _candidates(root, spec, fspec)
    for p in places:
        if p.is_file():
            data = p.read_bytes()
            _verify(data, fspec, p, spec)
            return data, p
    if not download:
        looked = "\n  ".join(str(p) for p in places)
        error = FileNotFoundError(
            f"{spec.title} file {fspec.name!r} not found. Looked in:\n  {looked}\n"
            f"(data directory {root} from {origin}). Pass download=True to fetch it into "
            f"{root / spec.subdir}, or pass path= / set ${DATA_ENV} to the directory holding it."
        )
        # For callers that word their own advice (cnnfast train names its --download and --data).
        error.missing, error.looked, error.download_dir = fspec.name, places, root / spec.subdir
        raise error
    target_dir = root / spec.subdir
    return _download(spec, fspec, target_dir, _mirrors(spec, mirrors)), target_dir / fspec.name


def load_idx_dataset(spec: DatasetSpec, path=None, download=False, mirrors=None):
    """Load an MNIST-like IDX data set described by ``spec``.

    Parameters
    ----------
    spec : DatasetSpec
        File names, checksums and mirrors (``MNIST``, ``FASHION_MNIST`` or
        your own).
    path : str or os.PathLike, optional
        Data directory; default ``$CNNFAST_DATA``, else ``~/.cache/cnnfast``.
    download : bool
        Fetch missing files from the mirrors into ``<path>/<spec.subdir>/``.
    mirrors : str or sequence of str, optional
        Base URLs to try in order instead of ``spec.mirrors`` (or of the
        environment variable ``spec.mirror_env``).

    Returns
    -------
    ((x_train, y_train), (x_test, y_test))
        ``x_*`` uint8 of shape ``(N, H, W)``, ``y_*`` uint8 of shape ``(N,)``.

    Raises
    ------
    FileNotFoundError
        A file is missing and ``download`` is false; the message names the
        file and every path tried.
    ValueError
        A file's SHA-256 is not the expected one (checked before parsing), or
        it is not well-formed IDX, or a download did not verify.
    OSError
        Every mirror failed for a network reason.
    """
    root, origin = data_dir(path)
    arrays = {}
    for role, fspec in spec.files.items():
        data, where = _fetch(spec, fspec, root, origin, download, mirrors)
        arrays[role] = (parse_idx(data, name=str(where)), where)
    out = []
    for split in ("train", "test"):
        (x, xp), (y, yp) = arrays[f"{split}_images"], arrays[f"{split}_labels"]
        # The checksums already pin these down for the built-in tables; the
        # checks guard user-made specs and make a wrong table fail loudly.
        if x.dtype != np.uint8 or x.ndim != 3 or x.shape[1:] != tuple(spec.image_shape):
            raise ValueError(f"{xp}: expected uint8 images of shape (N, {spec.image_shape[0]}, "
                             f"{spec.image_shape[1]}), got {x.dtype} {x.shape}")
        if y.dtype != np.uint8 or y.ndim != 1 or len(y) != len(x):
            raise ValueError(f"{yp}: expected {len(x)} uint8 labels, got {y.dtype} {y.shape}")
        if len(y) and int(y.max()) >= spec.num_classes:
            raise ValueError(f"{yp}: label {int(y.max())} outside 0..{spec.num_classes - 1}")
        out.append((x, y))
    return tuple(out)


def load_mnist(path=None, download=False, mirrors=None):
    """Load MNIST as Keras does.

    Pixels 0 (background) .. 255 (ink), labels 0..9.

    Parameters
    ----------
    path : str or path, optional
        The data directory (else ``$CNNFAST_DATA``, else ``~/.cache/cnnfast``),
        holding the four original ``.gz`` files directly or in ``mnist/``.
    download : bool
        Fetch missing files from the mirrors, checksums verified.
    mirrors : str or sequence of str, optional
        Base URLs overriding the built-in ones (and ``$CNNFAST_MNIST_MIRROR``).

    Returns
    -------
    ((x_train, y_train), (x_test, y_test))
        uint8 ``(60000, 28, 28)``, ``(60000,)``, ``(10000, 28, 28)``, ``(10000,)``.

    Raises
    ------
    FileNotFoundError, ValueError
        See :func:`load_idx_dataset`.
    """
    return load_idx_dataset(MNIST, path, download, mirrors)


def load_fashion_mnist(path=None, download=False, mirrors=None):
    """Load Fashion-MNIST, as :func:`load_mnist` loads MNIST.

    Labels 0..9 name ``FASHION_MNIST.notes["classes"]``; the files are looked for
    in ``path`` or ``path/fashion-mnist/``, and ``$CNNFAST_FASHION_MNIST_MIRROR``
    overrides the mirrors.  The arguments, result and errors are :func:`load_mnist`'s.
    """
    return load_idx_dataset(FASHION_MNIST, path, download, mirrors)
