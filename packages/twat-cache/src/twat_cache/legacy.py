"""The twat-cache 2.x names and keywords, kept working through the 3.x line (gone in 4.0).

Each old spelling either means what it meant (then it is silent), or is translated to its
3.x form with one :class:`DeprecationWarning` that names that form, or -- where the old
meaning cannot be kept -- fails with an error that says what to write instead.
``docs/migration.md`` lists every name. The rest of the package calls in here through a
few small hooks (decorator keywords, ``CacheContext`` keywords, module ``__getattr__``),
so removing the 2.x layer in 4.0 means deleting this module and those hooks.
"""

from __future__ import annotations

import os
import re
import sys
import warnings
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import asdict, fields, replace
from pathlib import Path
from typing import Any
from urllib.parse import quote

from twat_cache.cache import Cache
from twat_cache.config import CacheConfig, resolve_config
from twat_cache.exceptions import ConfigurationError

__all__ = [
    "ENGINE_ALIASES",
    "cache_delete",
    "create_cache_config",
    "decorator_args",
    "default_cache_root",
    "deprecated",
    "engine_context",
    "get_cache_path",
    "get_or_create_engine",
    "module_attribute",
    "translate_options",
]

# the 2.x engine names (``preferred_engine=``/``engine_name=``) and the 3.x URL serving each
ENGINE_ALIASES: dict[str, str] = {
    "memory": "memory://",
    "functools": "memory://",
    "cachetools": "memory://",
    "cachebox": "memory://",
    "lru": "memory://",
    "disk": "disk://",
    "diskcache": "disk://",
    "klepto": "disk://",
    "file": "disk://",
    "joblib": "disk://",
    "aiocache": "aiocache+memory://",
    "redis": "redis://",
}
# the 2.x engines that kept one file per value (3.x: disk:// with min_file_size=0, as fcache)
_FILE_ENGINES = frozenset({"file", "joblib"})
# where redis_host/redis_port/... went when no redis_* keyword is given (the 2.x defaults)
REDIS_DEFAULT = ("localhost", 6379, 0, None)

_REDIS_KEYS = ("redis_host", "redis_port", "redis_db", "redis_password")
# 2.x keywords that 3.x translates; any of them sends a call through translate_options.
# 2.x's `secure` is not among them: CacheConfig(secure=True) is 3.x's own option
# (docs/security.md); create_cache_config still drops the 2.x one with a warning.
KEYWORDS = frozenset(
    {"folder_name", "preferred_engine", "engine_name", "engine", "use_sql",
     "cache_dir", "cache_type", "config", *_REDIS_KEYS}
)  # fmt: skip
_FOLDER_NAME = re.compile(r"[A-Za-z0-9_.-]+")
# 2.x positional parameters of each decorator, in order
_POSITIONAL = {
    "mcache": ("maxsize", "ttl", "policy"),
    "bcache": ("folder_name", "maxsize", "ttl", "policy"),
    "fcache": ("folder_name", "maxsize", "ttl"),
    "acache": ("maxsize", "ttl", "policy"),
}
# the package folder, with a separator so that twat_cache_disk/... does not count as ours
_HERE = str(Path(__file__).resolve().parent) + os.sep


def _stacklevel() -> int:
    """The ``stacklevel`` that points a warning at the first frame outside twat_cache."""
    frame = sys._getframe(1)
    level = 1
    while frame is not None and str(Path(frame.f_code.co_filename).resolve()).startswith(_HERE):
        frame = frame.f_back  # type: ignore[assignment]
        level += 1
    return level


def _call(where: str, text: str) -> str:
    return f"{where}({text})" if where else text


def deprecated(old: str, new: str) -> None:
    """Raise one DeprecationWarning, at the caller outside twat_cache: ``old`` is now ``new``."""
    warnings.warn(
        f"{old} is the twat-cache 2.x form (removed in 4.0); write {new}",
        DeprecationWarning,
        stacklevel=_stacklevel(),
    )


def default_cache_root() -> Path:
    """Return the per-user cache folder that 2.x ``folder_name=`` folders now live under.

    It is the ``disk://`` engine's own default (:func:`twat_cache.paths.default_folder`,
    e.g. ``~/.cache/twat-cache`` on Linux), so old folder names and new default caches sit
    side by side.
    """
    from twat_cache.paths import default_folder

    return default_folder()


def get_cache_path(folder_name: str | None = None) -> Path:
    """Return (and create) the folder a 2.x ``folder_name`` now stands for.

    Args:
        folder_name: A plain folder name; ``None`` means ``default``.

    Raises:
        ConfigurationError: for a name with path separators or other characters.
    """
    deprecated("get_cache_path(folder_name)", "folder= with a path of your choice")
    path = _folder(folder_name or "default")
    path.mkdir(parents=True, exist_ok=True)
    return path


def _folder(folder_name: object) -> Path:
    if (
        not isinstance(folder_name, str)
        or not _FOLDER_NAME.fullmatch(folder_name)
        or not folder_name.strip(".")  # "." and ".." are not folders of their own
    ):
        raise ConfigurationError(
            "folder_name",
            folder_name,
            "a plain folder name (letters, digits, - _ .); for a path write folder='/path'",
        )
    return default_cache_root() / folder_name


def _engine_url(name: object, redis: dict[str, Any]) -> tuple[str, bool]:
    """The 3.x URL for a 2.x engine name, and whether it kept one file per value."""
    if not isinstance(name, str) or name.lower() not in ENGINE_ALIASES:
        raise ConfigurationError(
            "preferred_engine",
            name,
            "one of " + ", ".join(sorted(ENGINE_ALIASES)) + "; in 3.x write a URL instead, "
            "e.g. ucache('disk:///path') or ucache('redis://host:6379/0')",
        )
    lowered = name.lower()
    url = ENGINE_ALIASES[lowered]
    if lowered == "redis":
        host, port, db, password = (
            redis.get(k, default) for k, default in zip(_REDIS_KEYS, REDIS_DEFAULT, strict=True)
        )
        auth = f":{quote(str(password), safe='')}@" if password else ""
        url = f"redis://{auth}{host}:{port}/{db}"
    return url, lowered in _FILE_ENGINES


def _config_options(config: object) -> dict[str, Any]:
    if not isinstance(config, CacheConfig):
        raise ConfigurationError(
            "config", config, "a twat_cache.CacheConfig (create_cache_config() returns one)"
        )
    return {f.name: getattr(config, f.name) for f in fields(config)}


def translate_options(
    url: str | None, options: dict[str, Any], where: str = ""
) -> tuple[str | None, dict[str, Any]]:
    """Turn 2.x keywords into a 3.x URL and options, warning once per keyword.

    Args:
        url: The URL given in 3.x form, if any (a decorator's default URL, say).
        options: The keywords given; 2.x ones are removed from the result.
        where: The name of the caller, for messages (``CacheContext``...); empty for
            the decorators, whose messages name the keyword alone.

    Returns:
        The URL and the options to build the cache from.

    Raises:
        ConfigurationError: for a 2.x value that has no 3.x meaning.
    """
    options = dict(options)
    config = options.pop("config", None)
    secure_3x = None
    if config is not None:
        deprecated(_call(where, "config=..."), "the options, or Cache(config=config)")
        own = _config_options(config)
        secure_3x = own.pop("secure")  # the 3.x option (docs/security.md), not 2.x's keyword
        options = {**own, **options}
        url = options.pop("url", None) or url
    url, engine = _translate_engine(url, options, where)
    url = _translate_folder(url, engine, options, where)
    _translate_disk_policy(url, options, where)
    for name, instead in _IGNORED.items():
        if options.pop(name, None) is not None:
            deprecated(_call(where, f"{name}=..."), instead)
    if secure_3x:
        options["secure"] = secure_3x
    serializer = options.get("serializer")
    if serializer is not None and callable(serializer):
        raise ConfigurationError(
            "serializer",
            serializer,
            "pickle, json or msgpack (a 2.x key serializer function is now key=func)",
        )
    return url, options


# 2.x keywords without a 3.x meaning: accepted (with a warning) and dropped
_IGNORED = {
    "use_sql": "nothing: disk:// indexes in SQLite already; one SQLite file: 'sqlite:///path.db'",
    "secure": "nothing: keys are always stable, collision-safe hashes",
    "cache_type": "a URL naming the engine",
}


def _translate_engine(
    url: str | None, options: dict[str, Any], where: str
) -> tuple[str | None, str | None]:
    """Apply ``preferred_engine``/``engine_name`` (and ``redis_*``) to the URL, in place."""
    redis = {k: options.pop(k) for k in _REDIS_KEYS if k in options}
    engine: str | None = None
    for name in ("preferred_engine", "engine_name", "engine"):
        value = options.pop(name, None)
        if value is None:
            continue
        if engine is not None:
            raise ConfigurationError(name, value, "one engine name, given once")
        engine = str(value).lower()
        url, files = _engine_url(value, redis)
        deprecated(_call(where, f"{name}={value!r}"), f"the URL {url!r}")
        if files:
            options["options"] = {"min_file_size": 0, **dict(options.get("options") or {})}
    if redis and engine != "redis":
        first = next(iter(redis))
        raise ConfigurationError(first, redis[first], "a redis URL: ucache('redis://host:6379/0')")
    return url, engine


# 2.x passed ``policy`` on to diskcache; on disk:// it is diskcache's own option now
_DISK_POLICIES = {
    "lru": "least-recently-used",
    "lfu": "least-frequently-used",
    "fifo": "least-recently-stored",
}


def _translate_disk_policy(url: str | None, options: dict[str, Any], where: str) -> None:
    """On ``disk://``, turn a 2.x ``policy`` into diskcache's ``eviction_policy`` option."""
    policy = options.get("policy")
    if not (url or "").startswith("disk:") or policy not in _DISK_POLICIES:
        return
    del options["policy"]
    eviction = _DISK_POLICIES[str(policy)]
    options["options"] = {"eviction_policy": eviction, **dict(options.get("options") or {})}
    deprecated(
        _call(where, f"policy={policy!r}") + " on disk://",
        f"options={{'eviction_policy': {eviction!r}}}",
    )


def _translate_folder(
    url: str | None, engine: str | None, options: dict[str, Any], where: str
) -> str | None:
    """Turn ``folder_name``/``cache_dir`` into ``folder``; a folder alone means disk://."""
    folder_name = options.pop("folder_name", None)
    cache_dir = options.pop("cache_dir", None)
    if folder_name is not None:
        folder: object = _folder(folder_name)
        deprecated(_call(where, f"folder_name={folder_name!r}"), f"folder={str(folder)!r}")
    elif cache_dir is not None:
        folder = cache_dir
        deprecated(_call(where, "cache_dir=..."), f"folder={str(cache_dir)!r}")
    else:
        return url
    options["folder"] = folder
    if engine is None and url in (None, "memory://"):  # a folder meant a disk cache in 2.x
        return "disk://"
    return url


def decorator_args(
    name: str, args: tuple[Any, ...], options: dict[str, Any]
) -> tuple[Callable[..., Any] | None, dict[str, Any]]:
    """Read the positional arguments of ``mcache``/``bcache``/``fcache``/``acache``.

    A lone function is the bare decorator (``@mcache``: the same as ``@mcache()``); other
    positional values are the 2.x parameters in order (``mcache(100, 60)``), translated to
    keywords with a DeprecationWarning.

    Returns:
        The function to decorate at once (bare use), or None, and the keyword options.

    Raises:
        TypeError: for more positional values than 2.x took, or a value given twice.
    """
    if len(args) == 1 and (callable(args[0]) or isinstance(args[0], (classmethod, staticmethod))):
        if options:
            raise TypeError(f"{name}(func, ...): give options as {name}(**options)(func)")
        return args[0], options
    names = _POSITIONAL[name]
    if len(args) > len(names):
        raise TypeError(
            f"{name}() takes at most {len(names)} positional values ({', '.join(names)})"
        )
    given = dict(zip(names, args, strict=False))
    twice = sorted(set(given) & set(options))
    if twice:
        raise TypeError(f"{name}() got {twice[0]} both by position and by keyword")
    spelled = ", ".join(f"{k}={v!r}" for k, v in given.items())
    deprecated(f"{name}({', '.join(repr(a) for a in args)})", f"{name}({spelled})")
    return None, {**given, **options}


def cache_delete(invalidate: Callable[..., bool]) -> Callable[..., bool]:
    """The 2.x ``f.cache_delete(*args)`` of a decorated function: ``f.invalidate(*args)``."""

    def cache_delete(*args: Any, **kwargs: Any) -> bool:
        deprecated("f.cache_delete(...)", "f.invalidate(...)")
        return invalidate(*args, **kwargs)

    return cache_delete


class LegacyEngine(Cache):
    """What ``engine_context``/``get_or_create_engine`` give: a :class:`Cache` with ``cleanup``."""

    def cleanup(self) -> None:
        """Close the cache (2.x name of :meth:`Cache.close`)."""
        self.close()


def _legacy_cache(
    where: str, config: CacheConfig | None, engine_name: str | None, kwargs: dict[str, Any]
) -> LegacyEngine:
    options = dict(kwargs)
    if config is not None:
        options["config"] = config
    if engine_name is not None:
        options["engine_name"] = engine_name
    url, options = translate_options(None, options, where)
    return LegacyEngine(config=resolve_config(url, **options))


@contextmanager
def _closing(cache: LegacyEngine) -> Iterator[LegacyEngine]:
    try:
        yield cache
    finally:
        cache.close()


def engine_context(
    config: CacheConfig | None = None, engine_name: str | None = None, **kwargs: Any
) -> AbstractContextManager[LegacyEngine]:
    """A cache for a ``with`` block, closed after (2.x; write ``CacheContext(url, ...)``)."""
    deprecated("engine_context(...)", "CacheContext(url, **options)")
    return _closing(_legacy_cache("engine_context", config, engine_name, kwargs))


def get_or_create_engine(
    config: CacheConfig | None = None, engine_name: str | None = None, **kwargs: Any
) -> LegacyEngine:
    """A cache the caller closes with ``cleanup()`` (2.x; write ``Cache(url, ...)``)."""
    deprecated("get_or_create_engine(...)", "Cache(url, **options) and cache.close()")
    return _legacy_cache("get_or_create_engine", config, engine_name, kwargs)


def create_cache_config(**kwargs: Any) -> CacheConfig:
    """Build a :class:`CacheConfig` from 2.x keywords (2.x; write ``CacheConfig(...)``)."""
    deprecated("create_cache_config(...)", "CacheConfig(**options) or resolve_config(url, ...)")
    options = {k: v for k, v in kwargs.items() if v is not None or k in ("ttl",)}
    for default_false in ("use_sql", "compress", "secure"):
        if options.get(default_false) is False:
            options.pop(default_false)
    url, options = translate_options(None, options, "create_cache_config")
    return resolve_config(url, **options)


def _clear_cache(name: str | None = None) -> int:
    from twat_cache.context import clear_cache

    deprecated("twat_cache.cache.clear_cache", "twat_cache.clear_cache")
    return clear_cache(name)


def _get_stats(name: str | None = None) -> dict[str, Any]:
    from twat_cache.context import get_stats

    deprecated("twat_cache.cache.get_stats", "twat_cache.get_stats")
    return get_stats(name)


_dataclass_init = CacheConfig.__init__


def _config_init(self: CacheConfig, *args: Any, **kwargs: Any) -> None:
    """``CacheConfig(folder_name=..., preferred_engine=...)``: the 2.x fields, translated."""
    if kwargs.keys() & KEYWORDS:
        url, kwargs = translate_options(kwargs.pop("url", None), kwargs, "CacheConfig")
        if url is not None:
            kwargs["url"] = url
    _dataclass_init(self, *args, **kwargs)


def _model_copy(self: CacheConfig, *, update: dict[str, Any] | None = None) -> CacheConfig:
    """``config.model_copy(update={...})`` of 2.x (pydantic): ``dataclasses.replace``."""
    deprecated("config.model_copy(update=...)", "dataclasses.replace(config, **changes)")
    return replace(self, **(update or {}))


def _to_dict(self: CacheConfig) -> dict[str, Any]:
    """``config.to_dict()`` of 2.x: ``dataclasses.asdict``."""
    deprecated("config.to_dict()", "dataclasses.asdict(config)")
    return asdict(self)


def _from_dict(cls: type[CacheConfig], data: dict[str, Any]) -> CacheConfig:
    """``CacheConfig.from_dict(data)`` of 2.x: ``CacheConfig(**data)``."""
    deprecated("CacheConfig.from_dict(data)", "CacheConfig(**data)")
    return cls(**data)


# CacheConfig was a pydantic model in 2.x: its 2.x keywords and methods keep working
setattr(CacheConfig, "__init__", _config_init)  # noqa: B010 - a method is replaced on purpose
setattr(CacheConfig, "model_copy", _model_copy)  # noqa: B010
setattr(CacheConfig, "to_dict", _to_dict)  # noqa: B010
setattr(CacheConfig, "from_dict", classmethod(_from_dict))  # noqa: B010


# 2.x module attributes that 3.x keeps (module -> name -> object)
_MOVED: dict[str, dict[str, Any]] = {
    "twat_cache": {
        "engine_context": engine_context,
        "get_or_create_engine": get_or_create_engine,
        "get_cache_path": get_cache_path,
        "create_cache_config": create_cache_config,
    },
    "twat_cache.cache": {"clear_cache": _clear_cache, "get_stats": _get_stats},
    "twat_cache.config": {"create_cache_config": create_cache_config},
}
# 2.x names with no 3.x equivalent, and what to write instead
_REMOVED = {
    "hybrid_cache": "ucache(url) with the engine of your choice",
    "smart_cache": "ucache(url) with the engine of your choice",
    "select_backend_for_data": "a URL (memory://, disk:///path, redis://...)",
    "configure_for_numpy": "fcache(folder=...) (large values, one file each)",
    "configure_for_pandas": "fcache(folder=...) (large values, one file each)",
    "configure_for_images": "fcache(folder=...) (large values, one file each)",
    "configure_for_json": "ucache(url, serializer='json')",
    "configure_for_type": "a URL (memory://, disk:///path, redis://...)",
    "DataSize": "a URL (memory://, disk:///path, redis://...)",
    "DataPersistence": "a URL (memory://, disk:///path, redis://...)",
    "AccessPattern": "a URL (memory://, disk:///path, redis://...)",
    "ConcurrencyLevel": "a URL (memory://, disk:///path, redis://...)",
    "register_cache": "Cache(url, name=...) (every open cache is listed by get_stats())",
    "update_stats": "nothing: caches count their own hits and misses",
}


_REMOVED_ENGINES = frozenset({"BaseCacheEngine", "CacheEngine", "is_package_available"})


def module_attribute(module: str, name: str) -> Any:
    """Resolve a 2.x attribute of a twat_cache module (called by the modules' ``__getattr__``).

    Raises:
        ImportError: for a 2.x name 3.x dropped, saying what to write (an ImportError, not an
            AttributeError, so that ``from twat_cache import hybrid_cache`` shows the message).
        AttributeError: for a name 2.x did not have either.
    """
    moved = _MOVED.get(module, {})
    if name in moved:
        return moved[name]
    if name in _REMOVED_ENGINES and module == "twat_cache.engines.base":
        raise ImportError(
            f"{module}.{name} (twat-cache 2.x) was removed in 3.0: engines are picked by URL "
            "(ucache('disk:///path')); a new engine implements twat_cache.protocols.Backend, "
            "e.g. on twat_cache.engines.base.BaseBackend (see docs/plugins.md)"
        )
    if name in _REMOVED and module in ("twat_cache", "twat_cache.cache"):
        raise ImportError(
            f"{module}.{name} (twat-cache 2.x) was removed in 3.0; write {_REMOVED[name]} "
            "(see docs/migration.md)"
        )
    raise AttributeError(f"module {module!r} has no attribute {name!r}")
