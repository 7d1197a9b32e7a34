"""Which engine serves each URL scheme here, and what to install for the others.

Every row comes from :func:`twat_cache.registry.known_engines`: the CLI keeps no
list of its own.
"""

from __future__ import annotations

from dataclasses import dataclass

from twat_cache.exceptions import EngineNotAvailableError
from twat_cache.registry import EngineRecord, engine_class, known_engines

__all__ = ["EngineRow", "engine_rows"]


@dataclass(frozen=True)
class EngineRow:
    """One URL scheme and what serves it, as ``twat-cache engines`` prints it.

    Attributes:
        scheme: The URL scheme (``redis``, ``disk``...).
        package: The distribution and version that provides the engine, how it
            got there (``registered at run time``), or ``twat-cache-redis (not
            installed)``.
        engine: The engine class as ``module.Class``, why it cannot be loaded, or
            the command that installs it.
        installed: Whether the scheme can be used here.
        ok: False for an installed engine whose class cannot be imported.
    """

    scheme: str
    package: str
    engine: str
    installed: bool = True
    ok: bool = True


def _row(record: EngineRecord) -> EngineRow:
    if not record.installed:
        return EngineRow(
            record.scheme,
            f"{record.distribution} (not installed)",
            record.install_command or "",
            installed=False,
        )
    if record.distribution is None:
        package = "registered at run time"
    else:
        package = " ".join(filter(None, (record.distribution, record.version)))
        if record.engine.startswith("twat_cache."):  # builtin://, memory:// without the package
            package += " (built in)"
    try:
        cls = engine_class(record.scheme)
    except EngineNotAvailableError as exc:  # an installed engine that fails to import
        return EngineRow(record.scheme, package, str(exc), ok=False)
    return EngineRow(record.scheme, package, f"{cls.__module__}.{cls.__qualname__}")


def engine_rows(*, installed_only: bool = False) -> list[EngineRow]:
    """Return one row per scheme, sorted: installed engines, then those that can be installed.

    Each installed engine class is imported, so that a broken install shows up
    as a row with ``ok=False`` and the import error, instead of failing on first use.

    Args:
        installed_only: Leave out the engines that are not installed.

    Example:
        >>> [row.scheme for row in engine_rows(installed_only=True)][:1]
        ['builtin']
    """
    rows = [_row(record) for record in known_engines()]
    if installed_only:
        return [row for row in rows if row.installed]
    return sorted(rows, key=lambda row: (not row.installed, row.scheme))
