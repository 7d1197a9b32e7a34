"""Exit codes and errors: what a failure is called, which code it ends with, how it is told.

The codes are part of the command's contract (scripts branch on them), so a number
never changes meaning; new kinds of failure get new numbers.
"""

from __future__ import annotations

import enum
import re
import socket
from typing import Any

from twat_cache.exceptions import (
    BackendUnavailableError,
    ConfigurationError,
    EngineNotAvailableError,
    TwatCacheError,
)

__all__ = ["CommandError", "ExitCode", "UsageError", "classify", "is_unreachable"]


class ExitCode(enum.IntEnum):
    """The exit status of ``twat-cache`` (stable: scripts may rely on each number)."""

    OK = 0
    """The command did what it was asked."""
    FAILED = 1
    """The backend refused or failed the operation (not an integer, cannot list, corrupt entry)."""
    USAGE = 2
    """A bad command line: a missing or malformed argument, an unknown option."""
    ENGINE_MISSING = 3
    """The URL's engine is not installed or unknown: the message says what to install."""
    NOT_FOUND = 4
    """``get``, ``delete`` or ``incr``: the key is absent."""
    UNREACHABLE = 5
    """The server cannot be reached (refused, timed out, unknown host)."""
    CONFIG = 6
    """A bad URL, option or ``TWAT_CACHE_*`` variable (the message names it and what is allowed)."""
    REFUSED = 7
    """The command refused to do something unsafe (unpickle unsigned shared data, clear unasked)."""
    INTERRUPTED = 130
    """Interrupted by Ctrl-C (128 + SIGINT, as shells report it)."""


class CommandError(Exception):
    """A failure the command explains itself; ends the command with ``code``.

    Args:
        message: One line saying what went wrong and what to do.
        code: The exit code.
        details: What ``--json`` adds to the error document (``deleted``, ``missing``...).
    """

    def __init__(self, message: str, code: ExitCode = ExitCode.FAILED, **details: Any) -> None:
        super().__init__(message)
        self.code = code
        self.details = details


class UsageError(CommandError):
    """The command line is incomplete or malformed (exit code 2)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, ExitCode.USAGE)


# client exceptions that mean "the server is not there", by name: the CLI imports no client
_UNREACHABLE_NAMES = re.compile(
    r"Connection|Timeout|Unreachable|Unavailable|OperationalError|EndpointConnection|"
    r"ConnectTimeout|gaierror|NoBrokersAvailable"
)
_UNREACHABLE_TYPES = (BackendUnavailableError, ConnectionError, TimeoutError, socket.gaierror)


def is_unreachable(exc: BaseException) -> bool:
    """Whether ``exc`` (or an exception it was raised from) says the server cannot be reached.

    Example:
        >>> is_unreachable(ConnectionRefusedError(111, "refused")), is_unreachable(KeyError())
        (True, False)
    """
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        # socket.gaierror: the host name does not resolve
        if isinstance(current, _UNREACHABLE_TYPES):
            return True
        if _UNREACHABLE_NAMES.search(type(current).__name__):
            return True
        current = current.__cause__ or current.__context__
    return False


def classify(exc: BaseException) -> ExitCode:
    """Return the exit code a failure ends the command with.

    Example:
        >>> classify(ConfigurationError("ttl", -1, "a number >= 0")).name
        'CONFIG'
    """
    if isinstance(exc, CommandError):
        return exc.code
    if isinstance(exc, EngineNotAvailableError):
        return ExitCode.ENGINE_MISSING
    if isinstance(exc, ConfigurationError):
        return ExitCode.CONFIG
    if is_unreachable(exc):
        return ExitCode.UNREACHABLE
    if isinstance(exc, TwatCacheError):
        return ExitCode.FAILED
    raise exc  # pragma: no cover - main only classifies the errors it catches
