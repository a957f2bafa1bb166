"""replyd: a self-hosted AI reply server that remembers every customer's conversation."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("replyd")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0"

__all__ = ["__version__"]
