"""twat-cache-cli: the ``twat-cache`` command, to inspect and operate any twat-cache engine by URL.

Example:
    $ twat-cache ping redis://127.0.0.1:6379/0
    $ twat-cache set --json redis://127.0.0.1:6379/0 hits 0
    $ twat-cache incr redis://127.0.0.1:6379/0 hits
"""

from importlib.metadata import PackageNotFoundError, version

from twat_cache_cli.main import main
from twat_cache_cli.outcome import ExitCode

try:
    __version__ = version("twat-cache-cli")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0.0.0"

__all__ = ["ExitCode", "__version__", "main"]
