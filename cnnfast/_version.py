"""The version of the installed cnnfast, read once from its metadata.

Its own module so that the package (``cnnfast.__version__``) and the modules
below it (``_runtime``'s configuration report) read it without importing
upwards.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("cnnfast")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0+unknown"
