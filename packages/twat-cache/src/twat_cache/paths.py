r"""Where file-based engines keep their data when no folder is given.

One rule for every engine (disk and sqlite both use :func:`default_folder`), the
same folder ``platformdirs.user_cache_dir("twat-cache")`` names, computed here
without depending on platformdirs so that core stays free of dependencies:

* Linux: ``$XDG_CACHE_HOME/twat-cache`` when that is an absolute path, else
  ``~/.cache/twat-cache``;
* macOS: ``$XDG_CACHE_HOME/twat-cache`` when that is an absolute path, else
  ``~/Library/Caches/twat-cache``;
* Windows: ``%LOCALAPPDATA%\twat-cache\twat-cache\Cache`` (platformdirs' layout:
  author, application, ``Cache``).

Other Unix systems follow the Linux rule.
"""

from __future__ import annotations

import ntpath
import os
import posixpath
import sys
from collections.abc import Mapping
from pathlib import Path, PurePath, PurePosixPath, PureWindowsPath

__all__ = ["APP_NAME", "default_folder", "default_folder_for"]

APP_NAME = "twat-cache"


def default_folder() -> Path:
    """Return the per-user cache folder of twat-cache on this system (not created).

    Example:
        >>> default_folder().name in ("twat-cache", "Cache")
        True
    """
    return Path(default_folder_for(sys.platform, os.environ, str(Path.home())))


def default_folder_for(platform: str, environ: Mapping[str, str], home: str) -> PurePath:
    """Return the cache folder :func:`default_folder` picks on ``platform``.

    Args:
        platform: A ``sys.platform`` value (``linux``, ``darwin``, ``win32``...).
        environ: The environment variables to read.
        home: The user's home folder.

    Returns:
        A Windows path on ``win32``, a POSIX path elsewhere.

    Example:
        >>> str(default_folder_for("darwin", {}, "/Users/ann"))
        '/Users/ann/Library/Caches/twat-cache'
    """
    if platform == "win32":
        local = environ.get("LOCALAPPDATA", "")
        base = local if ntpath.isabs(local) else ntpath.join(home, "AppData", "Local")
        return PureWindowsPath(base, APP_NAME, APP_NAME, "Cache")
    xdg = environ.get("XDG_CACHE_HOME", "")
    if posixpath.isabs(xdg):  # the XDG spec: a relative value is invalid and ignored
        return PurePosixPath(xdg, APP_NAME)
    if platform == "darwin":
        return PurePosixPath(home, "Library", "Caches", APP_NAME)
    return PurePosixPath(home, ".cache", APP_NAME)
