"""Which engine serves each URL scheme in this environment (``python -m twat_cache`` prints it)."""

from __future__ import annotations

from importlib.metadata import entry_points

from twat_cache.registry import ENTRY_POINT_GROUP

__all__ = ["installed_engines"]

_BUILT_IN = "twat-cache (built in)"


def installed_engines() -> dict[str, str]:
    """Return ``{url_scheme: "distribution version"}`` for every installed engine.

    The built-in in-process engine (``builtin``, and ``memory`` when
    twat-cache-memory is absent) ships with twat-cache and is always there.

    Example:
        >>> "builtin" in installed_engines()
        True
    """
    found = {"builtin": _BUILT_IN}
    for entry in entry_points(group=ENTRY_POINT_GROUP):
        dist = entry.dist
        found[entry.name] = f"{dist.name} {dist.version}" if dist is not None else entry.value
    found.setdefault("memory", _BUILT_IN)
    return dict(sorted(found.items()))
