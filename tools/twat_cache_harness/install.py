"""Find server binaries; install missing Debian packages when running as root."""

from __future__ import annotations

import fcntl
import glob
import os
import re
import shutil
import subprocess
import threading
import time

from .errors import HarnessError

APT_TIMEOUT = 900.0
_KNOWN_DIRS = ("/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin")
_PG_TOOLS = ("initdb", "postgres", "createdb", "psql")
_APT_LOCK_FILE = "/tmp/twat-cache-harness-apt.lock"
_apt_lock = threading.Lock()
_apt_updated = False


def postgres_bin_dirs() -> list[str]:
    """Return Debian's ``/usr/lib/postgresql/*/bin`` directories, highest version first."""

    def version(path: str) -> tuple[int, ...]:
        return tuple(int(n) for n in re.findall(r"\d+", os.path.basename(os.path.dirname(path))))

    return sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=version, reverse=True)


def find_binary(name: str) -> str | None:
    """Return the path of executable ``name`` on PATH or in the usual system dirs, else None."""
    found = shutil.which(name)
    if found:
        return found
    for directory in (*_KNOWN_DIRS, *postgres_bin_dirs()):
        candidate = os.path.join(directory, name)
        if os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    return None


def _apt_get(*args: str) -> subprocess.CompletedProcess[str]:
    cmd = ["apt-get", "-q", "-o", "DPkg::Lock::Timeout=300", *args]
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    try:
        return subprocess.run(
            cmd,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            env=env,
            timeout=APT_TIMEOUT,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise HarnessError(f"`{' '.join(cmd)}` failed: {exc}") from exc


def _apt_install(package: str) -> None:
    global _apt_updated
    deadline = time.monotonic() + APT_TIMEOUT
    with _apt_lock, open(_APT_LOCK_FILE, "a") as lock:  # serialise pytest-xdist workers too
        while True:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise HarnessError(f"timed out waiting for {_APT_LOCK_FILE}") from None
                time.sleep(0.5)
        update_note = ""
        if not _apt_updated:
            update = _apt_get("update")
            _apt_updated = True
            if update.returncode != 0:  # a stale source may fail; the install may still work
                update_note = (
                    f"\n(apt-get update exited {update.returncode}: {update.stderr[-800:]})"
                )
        result = _apt_get("install", "-y", "--no-install-recommends", package)
        if result.returncode != 0:
            raise HarnessError(
                f"`apt-get install -y --no-install-recommends {package}` exited "
                f"{result.returncode}:\n{(result.stdout + result.stderr)[-2000:]}{update_note}"
            )


def ensure_binary(name: str, apt_package: str) -> str:
    """Return the path of executable ``name``, installing ``apt_package`` if it is missing.

    Looks on PATH, in the usual system dirs and in ``/usr/lib/postgresql/*/bin``. When it is
    missing and we are root on a machine with apt-get, runs ``apt-get update`` (once per
    process) and ``apt-get install -y --no-install-recommends apt_package``.

    Args:
        name: Executable to find, e.g. ``"redis-server"``.
        apt_package: Debian package that provides it, e.g. ``"redis-server"``.

    Returns:
        The absolute path of the executable.

    Raises:
        HarnessError: It is missing and could not be installed; the message says what to install.
    """
    found = find_binary(name)
    if found:
        return found
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        raise HarnessError(
            f"`{name}` is not installed (looked on PATH, in {', '.join(_KNOWN_DIRS)} and "
            f"/usr/lib/postgresql/*/bin). Install it: `sudo apt-get install {apt_package}` "
            f"on Debian/Ubuntu, or your platform's {apt_package} package."
        )
    _apt_install(apt_package)
    found = find_binary(name)
    if not found:
        raise HarnessError(
            f"`apt-get install {apt_package}` succeeded but `{name}` is still missing"
        )
    return found


def postgres_bin_dir() -> str:
    """Return one directory holding initdb, postgres, createdb and psql of the same version.

    Resolves ``initdb`` (installing Debian's ``postgresql`` if needed) through symlinks, so
    ``/usr/local/bin/initdb -> /usr/lib/postgresql/15/bin/initdb`` gives the real bin dir rather
    than Debian's ``pg_wrapper`` client scripts in /usr/bin.

    Raises:
        HarnessError: No complete PostgreSQL server installation was found or installed.
    """
    initdb = ensure_binary("initdb", "postgresql")
    for directory in (
        os.path.dirname(os.path.realpath(initdb)),
        os.path.dirname(initdb),
        *postgres_bin_dirs(),
    ):
        if all(os.access(os.path.join(directory, tool), os.X_OK) for tool in _PG_TOOLS):
            return directory
    raise HarnessError(
        f"found {initdb} but no directory holding all of {', '.join(_PG_TOOLS)}; "
        "install them: `sudo apt-get install postgresql`"
    )
