"""Finding engines: URL scheme -> engine class -> distribution -> meta-package extra.

Engines register in the ``twat_cache.engines`` entry-point group::

    [project.entry-points."twat_cache.engines"]
    redis = "twat_cache_redis:RedisBackend"

Core never imports an engine package by name; a third-party engine plugs in the
same way. ``memory`` falls back to the built-in engine when twat-cache-memory is
not installed.

What is installed comes from entry-point metadata (``EntryPoint.dist`` names the
distribution, the ``twat-cache`` meta package's ``Requires-Dist`` names the extra).
What could be installed comes from :data:`twat_cache.engines.catalog.CATALOG`,
generated from the workspace's pyprojects by ``tools/gen_engines.py``, so that
``ucache("redis://")`` without twat-cache-redis says what to ``pip install``.
"""

from __future__ import annotations

import difflib
import functools
import logging
import re
from dataclasses import dataclass
from importlib.metadata import (
    EntryPoint,
    PackageNotFoundError,
    entry_points,
    packages_distributions,
    requires,
    version,
)
from typing import Any

from twat_cache.config import CacheConfig
from twat_cache.constants import ENTRY_POINT_GROUP, META_PACKAGE
from twat_cache.engines.builtin import BuiltinMemoryBackend
from twat_cache.engines.catalog import CATALOG
from twat_cache.exceptions import ConfigurationError, EngineNotAvailableError

__all__ = [
    "CATALOG",
    "ENTRY_POINT_GROUP",
    "EngineRecord",
    "available_engines",
    "create_backend",
    "engine_class",
    "known_engines",
    "register_engine",
]

logger = logging.getLogger("twat_cache")

_BUILTIN_TARGET = f"{BuiltinMemoryBackend.__module__}:{BuiltinMemoryBackend.__qualname__}"
_BUILTIN: dict[str, type[Any]] = {"builtin": BuiltinMemoryBackend}
_registered: dict[str, type[Any]] = {}
_REQUIREMENT = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")
_EXTRA_MARKER = re.compile(r"""extra\s*==\s*["']([^"']+)["']""")


@dataclass(frozen=True)
class EngineRecord:
    """What serves one URL scheme, or what would.

    Attributes:
        scheme: The URL scheme (``redis``, ``disk``...).
        engine: The engine class as ``module:Class`` (the entry point's value).
        distribution: The distribution that brings it (``twat-cache-redis``), or
            ``None`` for an engine registered at run time.
        extra: The ``twat-cache`` meta-package extra that installs it, if any.
        installed: Whether ``Cache(f"{scheme}://...")`` can use it here.
        version: The installed distribution's version, when installed.

    Example:
        >>> record = next(r for r in known_engines() if r.scheme == "builtin")
        >>> record.installed, record.engine
        (True, 'twat_cache.engines.builtin:BuiltinMemoryBackend')
    """

    scheme: str
    engine: str
    distribution: str | None
    extra: str | None
    installed: bool
    version: str | None = None

    @property
    def install_command(self) -> str | None:
        """``pip install "twat-cache[EXTRA]"`` (or the distribution alone), or ``None``."""
        if self.extra is not None:
            return f'pip install "{META_PACKAGE}[{self.extra}]"'
        if self.distribution is not None:
            return f"pip install {self.distribution}"
        return None


def _normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


@functools.lru_cache(maxsize=1)
def _entry_points() -> dict[str, EntryPoint]:
    return {ep.name.lower(): ep for ep in entry_points(group=ENTRY_POINT_GROUP)}


@functools.lru_cache(maxsize=1)
def _meta_requirements() -> list[str]:
    """The meta package's ``Requires-Dist`` lines (empty when it is not installed)."""
    try:
        return requires(META_PACKAGE) or []
    except PackageNotFoundError:
        return []


def _extras() -> dict[str, str]:
    """Normalized distribution name -> the meta-package extra that installs it directly.

    The installed meta package's metadata wins; the generated catalog fills in
    the rest (the meta package itself need not be installed).
    """
    installs: dict[str, set[str]] = {}  # extra -> the distributions it installs
    for line in _meta_requirements():
        name, marker = _REQUIREMENT.match(line), _EXTRA_MARKER.search(line)
        if name and marker and _normalized(name.group(1)) != META_PACKAGE:
            installs.setdefault(marker.group(1), set()).add(_normalized(name.group(1)))
    found: dict[str, str] = {}
    # the narrowest extra wins: "redis" rather than "all" (which installers may expand)
    for option in sorted(installs, key=lambda option: (len(installs[option]), option)):
        for dist in installs[option]:
            found.setdefault(dist, option)
    for _, _, dist, extra in CATALOG:
        if extra is not None:
            found.setdefault(_normalized(dist), extra)
    return found


@functools.lru_cache(maxsize=1)
def _core() -> tuple[str, str | None]:
    """The distribution that holds ``twat_cache`` here, and its version."""
    # an editable install records a .pth file, not the package: then the name core has always had
    for name in (*packages_distributions().get("twat_cache", []), "twat-cache"):
        try:
            return name, version(name)
        except PackageNotFoundError:  # pragma: no cover - a half-uninstalled environment
            continue
    return "twat-cache", None  # pragma: no cover - running from a source tree


def register_engine(scheme: str, engine: type[Any]) -> None:
    """Register ``engine`` for ``scheme`` at run time (tests, or code not installed as a package).

    A registered engine wins over an entry point of the same name.

    Example:
        >>> register_engine("mine", BuiltinMemoryBackend)
        >>> engine_class("mine") is BuiltinMemoryBackend
        True
    """
    _registered[scheme.lower()] = engine


def available_engines() -> list[str]:
    """Return the schemes an engine is installed for, sorted."""
    return sorted({*_BUILTIN, "memory", *_entry_points(), *_registered})


def known_engines() -> list[EngineRecord]:
    """Return one record per scheme: every installed engine and every installable one.

    Installed engines come from entry points (their distribution from
    ``EntryPoint.dist``), the built-in one and run-time registrations; those not
    installed come from the generated catalog of the workspace's engines. Nothing
    is imported: an installed engine that fails to import shows up when used.

    Returns:
        The records, sorted by scheme.

    Example:
        >>> records = {r.scheme: r for r in known_engines()}
        >>> records["redis"].extra, records["redis"].distribution
        ('redis', 'twat-cache-redis')
    """
    extras = _extras()
    core, core_version = _core()
    records: dict[str, EngineRecord] = {
        scheme: EngineRecord(scheme, target, dist, extra, installed=False)
        for scheme, target, dist, extra in CATALOG
    }
    builtin = EngineRecord("builtin", _BUILTIN_TARGET, core, None, True, core_version)
    records["builtin"] = builtin
    records["memory"] = EngineRecord("memory", _BUILTIN_TARGET, core, None, True, core_version)
    for scheme, entry in _entry_points().items():
        dist = entry.dist
        name = dist.name if dist is not None else None
        records[scheme] = EngineRecord(
            scheme,
            entry.value,
            name,
            extras.get(_normalized(name)) if name is not None else None,
            installed=True,
            version=dist.version if dist is not None else None,
        )
    for scheme, cls in _registered.items():
        target = f"{cls.__module__}:{cls.__qualname__}"
        records[scheme] = EngineRecord(scheme, target, None, None, installed=True)
    return [records[scheme] for scheme in sorted(records)]


def _unknown_scheme(scheme: str) -> ConfigurationError:
    """The error for a scheme no engine is known by: what is installed, what can be."""
    records = known_engines()
    installed = [r.scheme for r in records if r.installed]
    installable: dict[str, list[str]] = {}
    for record in records:
        if not record.installed and record.install_command is not None:
            installable.setdefault(record.install_command, []).append(record.scheme)
    allowed = "one of the installed engines: " + ", ".join(installed)
    if installable:
        allowed += "; or, once installed, " + "; ".join(
            f"{', '.join(schemes)} ({command})" for command, schemes in installable.items()
        )
    close = difflib.get_close_matches(scheme, [r.scheme for r in records], n=1)
    if close:
        allowed = f"did you mean {close[0]!r}? " + allowed
    return ConfigurationError("url scheme", scheme, allowed)


def engine_class(scheme: str) -> type[Any]:
    """Return the engine class registered for ``scheme``.

    Raises:
        EngineNotAvailableError: when the engine's package is not installed (the
            message says what to ``pip install``), or fails to import.
        ConfigurationError: when no engine is known by that name at all; the
            message lists the installed and installable schemes and the closest one.

    Example:
        >>> engine_class("builtin").__name__
        'BuiltinMemoryBackend'
    """
    scheme = scheme.lower()
    if scheme in _registered:
        return _registered[scheme]
    entry = _entry_points().get(scheme)
    if entry is not None:
        try:
            return entry.load()  # type: ignore[no-any-return]
        except ImportError as exc:
            raise EngineNotAvailableError(
                f"the {scheme!r} engine failed to import ({exc}); reinstall its package"
            ) from exc
    if scheme in _BUILTIN:
        return _BUILTIN[scheme]
    if scheme == "memory":
        return BuiltinMemoryBackend
    for record in known_engines():
        if record.scheme == scheme:
            raise EngineNotAvailableError(
                f"the {scheme!r} engine needs {record.distribution}: {record.install_command}"
            )
    raise _unknown_scheme(scheme)


def create_backend(config: CacheConfig) -> Any:
    """Create (without connecting) the engine ``config`` asks for.

    Raises:
        ConfigurationError: for a bad URL or engine option.
        EngineNotAvailableError: when the engine's package is missing.
    """
    url = config.engine_url()
    cls = engine_class(url.scheme)
    backend = cls.from_config(config, url)
    logger.debug("created %s engine", url.scheme, extra={"engine": url.scheme, "url": url.redacted})
    return backend
