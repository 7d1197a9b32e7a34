"""Which engine serves each URL scheme in this environment (``python -m twat_cache`` prints it).

The records come from the registry (:func:`twat_cache.registry.known_engines`).
"""

from __future__ import annotations

from twat_cache.registry import known_engines

__all__ = ["installed_engines"]


def installed_engines() -> dict[str, str]:
    """Return ``{url_scheme: "distribution version"}`` for every installed engine.

    The built-in in-process engine (``builtin``, and ``memory`` when
    twat-cache-memory is absent) ships with twat-cache and is always there.

    Example:
        >>> "builtin" in installed_engines()
        True
    """
    return {
        record.scheme: " ".join(filter(None, (record.distribution, record.version)))
        + (" (built in)" if record.engine.startswith("twat_cache.") else "")
        for record in known_engines()
        if record.installed
    }
