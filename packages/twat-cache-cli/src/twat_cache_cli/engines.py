"""Which engine serves each URL scheme in this environment, and which package brings it."""

from __future__ import annotations

from dataclasses import dataclass
from importlib.metadata import entry_points, version

from twat_cache.exceptions import EngineNotAvailableError
from twat_cache.registry import ENTRY_POINT_GROUP, available_engines, engine_class

__all__ = ["EngineRow", "installed_engines"]

_CORE = "twat-cache"  # the distribution that ships twat_cache (twat-cache-core only requires it)


@dataclass(frozen=True)
class EngineRow:
    """One URL scheme and what serves it.

    Attributes:
        scheme: The URL scheme (``redis``, ``disk``...).
        package: The distribution and version that provides the engine, or how it
            got there (``twat-cache 3.0.0 (built in)``, ``registered at run time``).
        engine: The engine class as ``module.Class``, or why it cannot be loaded.
        ok: Whether the engine class could be imported.
    """

    scheme: str
    package: str
    engine: str
    ok: bool = True


def _top(module: str) -> str:
    return module.split(".", 1)[0]


def installed_engines() -> list[EngineRow]:
    """Return one row per scheme that ``Cache(url)`` accepts here, sorted by scheme.

    Every engine class is imported, so that a broken install shows up as a row
    with ``ok=False`` and the import error, instead of failing on first use.

    Example:
        >>> [row.scheme for row in installed_engines()][:1]
        ['builtin']
    """
    points = {ep.name.lower(): ep for ep in entry_points(group=ENTRY_POINT_GROUP)}
    rows = []
    for scheme in available_engines():
        entry = points.get(scheme)
        try:
            cls = engine_class(scheme)
        except EngineNotAvailableError as exc:  # an installed engine that fails to import
            package = f"{entry.dist.name} {entry.dist.version}" if entry and entry.dist else "?"
            rows.append(EngineRow(scheme, package, str(exc), ok=False))
            continue
        module = _top(cls.__module__)
        if entry is not None and entry.dist is not None and _top(entry.module) == module:
            package = f"{entry.dist.name} {entry.dist.version}"
        elif module == "twat_cache":  # builtin://, and memory:// without twat-cache-memory
            package = f"{_CORE} {version(_CORE)} (built in)"
        else:  # twat_cache.registry.register_engine(), which wins over an entry point
            package = "registered at run time"
        rows.append(EngineRow(scheme, package, f"{cls.__module__}.{cls.__qualname__}"))
    return rows
