"""One frozen, validated configuration for a cache.

Sources, later wins: defaults < ``TWAT_CACHE_*`` environment variables < options
in the URL's query string < keyword arguments. Every value is checked when the
config is built -- that is, when a function is decorated -- and a bad one raises
:class:`~twat_cache.exceptions.ConfigurationError` naming the field, the value
and what is allowed.
"""

from __future__ import annotations

import difflib
import logging
import math
import os
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Literal
from urllib.parse import unquote_plus

from twat_cache.constants import (
    COMPRESS_THRESHOLD,
    DEFAULT_LOCK_TIMEOUT,
    DEFAULT_LOCK_TTL,
    DEFAULT_NAMESPACE,
    DEFAULT_RETRY_AFTER,
    DEFAULT_TTL,
    DEFAULT_URL,
    NAMESPACE_PATTERN,
    NAMESPACE_RULE,
    TAG_PATTERN,
    TAG_RULE,
)
from twat_cache.exceptions import ConfigurationError, PathError
from twat_cache.legacy_names import module_getattr
from twat_cache.serializers.formats import Serializer, get_serializer
from twat_cache.urls import EngineURL, parse_url, redact

if sys.version_info >= (3, 11):
    from typing import TypedDict, Unpack
else:  # pragma: no cover - 3.10
    from typing_extensions import TypedDict, Unpack

__all__ = [
    "POLICIES",
    "SERIALIZERS",
    "CacheConfig",
    "CacheOptions",
    "ensure_folder",
    "refuse_options",
    "resolve_config",
]

Policy = Literal["lru", "lfu", "fifo", "rr", "ttl"]
SerializerName = Literal["pickle", "json", "msgpack", "typed"]
Compression = Literal["zlib", "zstd"]
OnSerializationError = Literal["raise", "warn"]
OnLockTimeout = Literal["compute", "raise"]
EncryptKey = str | bytes | tuple[str | bytes, ...] | list[str | bytes] | None

POLICIES: tuple[str, ...] = ("lru", "lfu", "fifo", "rr", "ttl")
SERIALIZERS: tuple[str, ...] = ("pickle", "json", "msgpack", "typed")
logger = logging.getLogger("twat_cache")
MAX_RETRIES = 10


class CacheOptions(TypedDict, total=False):
    """The keyword options every decorator and :class:`~twat_cache.Cache` accepts.

    Used with ``Unpack`` so that type checkers check decorator keywords.
    """

    url: str | None
    namespace: str
    ttl: float | None
    maxsize: int | None
    maxbytes: int | None
    policy: Policy
    serializer: SerializerName | str | Serializer
    compress: bool | Compression
    compress_min_size: int
    secret: str | bytes | None
    encrypt_key: EncryptKey
    secure: bool
    folder: str | os.PathLike[str] | None
    strict: bool
    jitter: float
    retry_after: float
    # decorators also take callables computing tags from the arguments (twat_cache.entries)
    tags: tuple[str | Callable[..., Any], ...] | list[str | Callable[..., Any]] | Callable[..., Any]
    # decorators only: a function of an iterable of ids returning {id: value}
    batch: bool
    cache_absent: bool
    on_serialization_error: OnSerializationError
    options: Mapping[str, object]
    version: str | None
    typed: bool
    publish_stats: float | None
    otel: bool
    lock: bool
    lock_ttl: float
    lock_timeout: float
    on_lock_timeout: OnLockTimeout
    stale_ttl: float | None
    early_refresh: bool
    retries: int
    timeout: float | None
    l1_ttl: float | None


@dataclass(frozen=True)
class CacheConfig:
    """A validated cache configuration.

    Args:
        url: Where entries live: ``memory://``, ``disk:///path``, ``redis://h:6379/0``...
            ``None`` means the embedded default, ``memory://``.
        namespace: Keys live under this name; ``clear()`` removes only this namespace.
        ttl: Default time to live in seconds; ``None`` means entries never expire.
        maxsize: The most entries an in-process or disk engine keeps.
        maxbytes: The most bytes an engine keeps, where it can count them.
        policy: Eviction policy of in-process engines: lru, lfu, fifo, rr or ttl.
        serializer: ``pickle`` (any object), ``json`` (keeps datetime, UUID, Decimal,
            enums, sets, tuples, dataclasses...), ``msgpack``, ``typed`` (rebuilt from
            the return annotation, no pickle), an installed serializer's name, or a
            :class:`~twat_cache.serializers.Serializer` instance.
        compress: Compress serialized values larger than ``compress_min_size``:
            ``True`` or ``"zlib"``, or ``"zstd"`` (the ``zstd`` extra).
        compress_min_size: Values up to this many bytes are stored uncompressed.
        secret: Sign entries with HMAC-SHA256; a tampered entry is then a miss.
        encrypt_key: Encrypt entries at rest with AES-GCM (the ``crypto`` extra): a
            key, or a list of keys (writes use the first, reads try each: rotation).
        secure: Refuse a shared cache that would unpickle unsigned data: use
            ``typed`` where the return annotation allows it, else demand ``secret``
            or ``encrypt_key`` (see docs/security.md).
        folder: Folder of file-based engines (disk, sqlite, files).
        strict: Raise :class:`~twat_cache.exceptions.BackendError` when the backend
            fails, instead of running the function uncached (fail-open).
        jitter: Spread expiry by up to this fraction of ``ttl`` (0 to 1) so that
            entries written together do not all expire together.
        retry_after: Seconds a failed backend is left alone before it is tried again.
        tags: Tags of every entry this cache writes (see ``invalidate_tags``).
        on_serialization_error: ``raise`` a SerializationError for a value that
            cannot be serialized, or ``warn`` (log) and return it uncached.
        options: Engine options, merged over the URL's query string.
        version: Stands for a decorated function's code in its keys, so that its
            entries survive edits of its body (by default a changed body is a
            new function, see docs/keys.md).
        typed: Make each argument's type part of the key: ``f(1)``, ``f(True)``
            and ``f(1.0)`` are then three entries (by default one, as Python
            calls them equal).
        publish_stats: Every this many seconds, write this process's figures to the
            backend, where :func:`twat_cache.stats.read_published` reads every
            process's (``None``: never).
        otel: Report metrics and spans through OpenTelemetry (needs the ``otel``
            extra; also ``TWAT_CACHE_OTEL=1``).
        lock: On a miss, let one caller in the whole fleet compute (a lock on the
            shared engine, see docs/freshness.md); the others wait for its result.
        lock_ttl: Seconds after which a lock left by a crashed holder expires.
        lock_timeout: Seconds a waiter polls for the holder's result.
        on_lock_timeout: What a waiter does then: ``compute`` the value itself, or
            ``raise`` :class:`~twat_cache.exceptions.LockTimeoutError`.
        stale_ttl: Seconds after ``ttl`` during which a decorated function's stale
            value is served at once while one caller refreshes it in the background.
        early_refresh: Refresh a decorated function's entries shortly before they
            expire, with a chance that rises as expiry nears (XFetch).
        retries: Retry an engine call up to this many times after a transient
            error (connection reset or refused, timeout, server busy, S3 5xx),
            with exponential backoff and full jitter; never after a logic error.
        timeout: Seconds every engine operation may take, enforced in core on every
            engine (the engine's own client timeouts apply too); a slower one is a
            failure (fail-open). ``None``: only the engine's own timeouts. Keyword
            only: a URL's ``?timeout=`` is the engine's own option.
        l1_ttl: With tiers (a list of URLs), the longest a copy in an upper tier
            lives; ``None``: as long as ``ttl`` (see docs/tiers.md).

    Raises:
        ConfigurationError: when a value is not allowed.

    Example:
        >>> CacheConfig(ttl=60, maxsize=1000).engine
        'memory'
    """

    url: str | None = None
    namespace: str = DEFAULT_NAMESPACE
    ttl: float | None = DEFAULT_TTL
    maxsize: int | None = None
    maxbytes: int | None = None
    policy: Policy = "lru"
    serializer: SerializerName | str | Serializer = "pickle"
    compress: bool | Compression = False
    secret: str | bytes | None = field(default=None, repr=False)
    folder: str | os.PathLike[str] | None = None
    strict: bool = False
    jitter: float = 0.0
    retry_after: float = DEFAULT_RETRY_AFTER
    tags: tuple[str, ...] = ()
    on_serialization_error: OnSerializationError = "raise"
    options: Mapping[str, object] = field(default_factory=dict)
    version: str | None = None
    typed: bool = False
    compress_min_size: int = COMPRESS_THRESHOLD
    encrypt_key: EncryptKey = field(default=None, repr=False)
    secure: bool = False
    publish_stats: float | None = None
    otel: bool = False
    lock: bool = False
    lock_ttl: float = DEFAULT_LOCK_TTL
    lock_timeout: float = DEFAULT_LOCK_TIMEOUT
    on_lock_timeout: OnLockTimeout = "compute"
    stale_ttl: float | None = None
    early_refresh: bool = False
    retries: int = 0
    timeout: float | None = None
    l1_ttl: float | None = None

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        set_(self, "ttl", _check_ttl("ttl", self.ttl))
        set_(self, "l1_ttl", _check_ttl("l1_ttl", self.l1_ttl))
        for name in ("maxsize", "maxbytes"):
            value = getattr(self, name)
            if value is not None and (
                isinstance(value, bool) or not isinstance(value, int) or value < 1
            ):
                raise ConfigurationError(name, value, "a positive integer, or None for no limit")
        _check_choice("policy", self.policy, POLICIES)
        get_serializer(self.serializer)  # an unknown name or a missing extra fails here
        _check_choice("on_serialization_error", self.on_serialization_error, ("raise", "warn"))
        if not isinstance(self.namespace, str) or not NAMESPACE_PATTERN.fullmatch(self.namespace):
            raise ConfigurationError("namespace", self.namespace, NAMESPACE_RULE)
        if not isinstance(self.compress, bool) and self.compress not in ("zlib", "zstd"):
            raise ConfigurationError("compress", self.compress, "True, False, 'zlib' or 'zstd'")
        set_(self, "encrypt_key", _check_encrypt_key(self.encrypt_key))
        if (
            isinstance(self.compress_min_size, bool)
            or not isinstance(self.compress_min_size, int)
            or self.compress_min_size < 0
        ):
            raise ConfigurationError("compress_min_size", self.compress_min_size, "bytes, >= 0")
        for name in ("strict", "secure", "otel"):
            if not isinstance(getattr(self, name), bool):
                raise ConfigurationError(name, getattr(self, name), "True or False")
        _check_number("jitter", self.jitter, "a number from 0 up to (not including) 1", below=1.0)
        _check_number("retry_after", self.retry_after, "a finite number of seconds >= 0")
        if self.publish_stats is not None:
            _check_number("publish_stats", self.publish_stats, "seconds > 0, or None")
            if not self.publish_stats:
                raise ConfigurationError("publish_stats", 0, "seconds > 0, or None")
        if self.secret is not None and (
            not isinstance(self.secret, (str, bytes)) or not self.secret
        ):
            raise ConfigurationError("secret", "<hidden>", "a non-empty str or bytes, or None")
        set_(self, "tags", _check_tags(self.tags))
        _check_places(self.url, self.folder, self.options)
        _check_key_options(self.version, self.typed)
        _check_lock_options(self.lock, self.lock_ttl, self.lock_timeout, self.on_lock_timeout)
        set_(self, "stale_ttl", _check_fresh_options(self.ttl, self.stale_ttl, self.early_refresh))
        if (
            isinstance(self.retries, bool)
            or not isinstance(self.retries, int)
            or not (0 <= self.retries <= MAX_RETRIES)
        ):
            raise ConfigurationError("retries", self.retries, f"an integer from 0 to {MAX_RETRIES}")
        set_(self, "timeout", _check_ttl("timeout", self.timeout))

    def __repr__(self) -> str:  # the URL may hold a password, and the secret is never shown
        shown = {f.name: getattr(self, f.name) for f in fields(self) if f.name not in _HIDDEN}
        if self.url is not None:
            shown["url"] = redact(self.url)
        return "CacheConfig(" + ", ".join(f"{k}={v!r}" for k, v in shown.items()) + ")"

    @property
    def engine(self) -> str:
        """The engine name: the URL's scheme (``memory`` by default)."""
        return (self.url or DEFAULT_URL).split("://", 1)[0].lower()

    def engine_url(self) -> EngineURL:
        """Parse :attr:`url`, with :attr:`options` merged over its query string."""
        url = parse_url(self.url or DEFAULT_URL, self.options)
        url.core_options = _TEXT_FIELDS
        return url

    # -- building step by step (the config is immutable: each step returns a new one) ------
    @classmethod
    def from_url(cls, url: str, /, **options: Unpack[CacheOptions]) -> CacheConfig:
        """Build a config from a URL and keyword options, without reading the environment.

        The URL's query string may hold config fields (``?ttl=60&namespace=shop``)
        besides the engine's options; keywords win over it. Unlike
        :func:`resolve_config`, ``TWAT_CACHE_*`` variables are not read: the result
        is exactly what the code says.

        Args:
            url: The cache URL (``memory://``, ``redis://host:6379/0?ttl=60``...).
            **options: Any :class:`CacheOptions`.

        Returns:
            The validated configuration.

        Raises:
            ConfigurationError: naming the field, the value and what is allowed.

        Example:
            >>> base = CacheConfig.from_url("redis://cache:6379/0?namespace=shop", ttl=300)
            >>> (base.engine, base.namespace, base.ttl)
            ('redis', 'shop', 300.0)
            >>> base.evolve(ttl=30).with_options(max_connections=20).with_tags("users").ttl
            30.0
        """
        return resolve_config(url, environ={}, **options)

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str] | None = None, **options: Unpack[CacheOptions]
    ) -> CacheConfig:
        """Build a config from ``TWAT_CACHE_*`` variables, with keyword options over them.

        Args:
            environ: The variables to read (``os.environ`` by default).
            **options: Any :class:`CacheOptions`; they win over the environment.

        Raises:
            ConfigurationError: naming the field (and the variable) that is wrong.

        Example:
            >>> CacheConfig.from_env({"TWAT_CACHE_TTL": "60"}).ttl
            60.0
        """
        return resolve_config(environ=environ, **options)

    def evolve(self, **changes: Unpack[CacheOptions]) -> CacheConfig:
        """Return a copy with ``changes`` applied, validated as keyword options are.

        A new ``url`` may carry config fields in its query string, as in
        :meth:`from_url`. The environment is not read again.

        Args:
            **changes: Any :class:`CacheOptions`.

        Returns:
            The new configuration; this one is unchanged.

        Raises:
            ConfigurationError: for an unknown option or a bad value, naming it.

        Example:
            >>> CacheConfig(ttl=60).evolve(ttl=5, namespace="short").ttl
            5.0
        """
        base = self
        if "url" in changes and changes["url"] is None:  # back to the default engine
            base = replace(self, url=None)
            changes = {k: v for k, v in changes.items() if k != "url"}  # type: ignore[assignment]
        return resolve_config(base=base, **changes)

    def with_options(self, **engine_options: object) -> CacheConfig:
        """Return a copy with engine options added (over this config's ``options``).

        Example:
            >>> CacheConfig.from_url("redis://h/0").with_options(max_connections=20).options
            {'max_connections': 20}
        """
        return replace(self, options={**self.options, **engine_options})

    def with_tags(self, *tags: str) -> CacheConfig:
        """Return a copy whose entries also carry ``tags``.

        Raises:
            ConfigurationError: for a tag with spaces, empty, or too long.

        Example:
            >>> CacheConfig(tags=("users",)).with_tags("orders").tags
            ('users', 'orders')
        """
        return replace(self, tags=(*self.tags, *(t for t in tags if t not in self.tags)))

    @property
    def serializer_name(self) -> str:
        """The serializer's name (as recorded in every stored value's header)."""
        return self.serializer if isinstance(self.serializer, str) else self.serializer.name

    @property
    def encrypt_keys(self) -> tuple[bytes, ...]:
        """The encryption keys as bytes, the writing one first (empty: no encryption)."""
        keys = self.encrypt_key
        if keys is None:
            return ()
        if isinstance(keys, (str, bytes)):
            keys = (keys,)
        return tuple(k.encode() if isinstance(k, str) else k for k in keys)

    @property
    def secret_bytes(self) -> bytes | None:
        """The signing secret as bytes, or ``None``."""
        if self.secret is None:
            return None
        return self.secret.encode() if isinstance(self.secret, str) else self.secret


def _check_ttl(name: str, ttl: object) -> float | None:
    if ttl is None:
        return None
    if (
        isinstance(ttl, bool)
        or not isinstance(ttl, (int, float))
        or not math.isfinite(ttl)
        or ttl <= 0
    ):
        raise ConfigurationError(
            name, ttl, "a positive, finite number of seconds, or None for no expiry"
        )
    return float(ttl)


_HIDDEN = frozenset(("secret", "encrypt_key"))


def _check_encrypt_key(keys: object) -> EncryptKey:
    """Return a key or a non-empty tuple of keys, or raise without showing them."""
    if keys is None or (isinstance(keys, (str, bytes)) and keys):
        return keys
    if (
        isinstance(keys, (list, tuple))
        and keys
        and all(isinstance(k, (str, bytes)) and k for k in keys)
    ):
        return tuple(keys)
    raise ConfigurationError(
        "encrypt_key", "<hidden>", "a non-empty str or bytes, a list of them, or None"
    )


def _check_number(name: str, value: object, allowed: str, below: float | None = None) -> None:
    """Check a finite number >= 0 (and < ``below`` when given)."""
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not math.isfinite(value)
        or value < 0
        or (below is not None and value >= below)
    ):
        raise ConfigurationError(name, value, allowed)


def _check_tags(tags: object) -> tuple[str, ...]:
    """Return ``tags`` as a tuple (a lone string is one tag); check each tag."""
    if isinstance(tags, str):
        tags = (tags,)
    if not isinstance(tags, (tuple, list, set, frozenset)):
        raise ConfigurationError("tags", tags, "a list of strings")
    for tag in tags:
        if not isinstance(tag, str) or not TAG_PATTERN.fullmatch(tag):
            raise ConfigurationError("tags", tag, TAG_RULE)
    return tuple(tags)


def _check_places(url: object, folder: object, options: object) -> None:
    """Check the types of ``url``, ``folder`` and ``options`` (engines check their values)."""
    if url is not None and (not isinstance(url, str) or "://" not in url):
        raise ConfigurationError(
            "url", url, "a URL such as memory://, disk:///path or redis://host:6379/0"
        )
    if folder is not None and not isinstance(folder, (str, os.PathLike)):
        raise ConfigurationError("folder", folder, "a path (str or os.PathLike), or None")
    if not isinstance(options, Mapping) or not all(isinstance(k, str) for k in options):
        raise ConfigurationError("options", options, "a mapping of option names to values")


def _check_key_options(version: object, typed: object) -> None:
    """Check ``version`` (a short label or None) and ``typed`` (a bool)."""
    if version is not None and (not isinstance(version, str) or not version or len(version) > 128):
        raise ConfigurationError("version", version, "a string of 1-128 characters, or None")
    if not isinstance(typed, bool):
        raise ConfigurationError("typed", typed, "True or False")


def _check_lock_options(lock: object, ttl: object, timeout: object, on_timeout: object) -> None:
    """Check the options of the fleet-wide computation lock."""
    if not isinstance(lock, bool):
        raise ConfigurationError("lock", lock, "True or False")
    if _check_ttl("lock_ttl", ttl) is None:
        raise ConfigurationError("lock_ttl", ttl, "a positive, finite number of seconds")
    _check_number("lock_timeout", timeout, "a finite number of seconds >= 0")
    _check_choice("on_lock_timeout", on_timeout, ("compute", "raise"))


def _check_fresh_options(ttl: float | None, stale_ttl: object, early: object) -> float | None:
    """Check ``stale_ttl`` and ``early_refresh`` (both need a ttl); return ``stale_ttl``."""
    stale = _check_ttl("stale_ttl", stale_ttl)
    if not isinstance(early, bool):
        raise ConfigurationError("early_refresh", early, "True or False")
    if ttl is None and stale is not None:
        raise ConfigurationError("stale_ttl", stale, "None when ttl is None (nothing goes stale)")
    if ttl is None and early:
        raise ConfigurationError("early_refresh", early, "False when ttl is None (nothing expires)")
    return stale


def _check_choice(name: str, value: object, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ConfigurationError(name, value, "one of " + ", ".join(allowed))


_FIELD_NAMES = frozenset(f.name for f in fields(CacheConfig))
_CONVERTERS: dict[str, Any] = {
    # "0" is not "no expiry": it is refused, as ttl=0 is (None or "none" means no expiry)
    "ttl": lambda v: None if v.lower() in ("", "none") else _number("ttl", v),
    "maxsize": lambda v: None if v.lower() in ("", "none") else _integer("maxsize", v),
    "maxbytes": lambda v: None if v.lower() in ("", "none") else _integer("maxbytes", v),
    "compress": lambda v: (
        v.strip().lower() if v.strip().lower() in ("zlib", "zstd") else _boolean("compress", v)
    ),
    "compress_min_size": lambda v: _integer("compress_min_size", v),
    "secure": lambda v: _boolean("secure", v),
    # a comma-separated list rotates keys: the first encrypts, every one decrypts
    "encrypt_key": lambda v: tuple(k for k in v.split(",") if k) if "," in v else v,
    "strict": lambda v: _boolean("strict", v),
    "jitter": lambda v: _number("jitter", v),
    "retry_after": lambda v: _number("retry_after", v),
    "tags": lambda v: tuple(t for t in v.split(",") if t),
    "typed": lambda v: _boolean("typed", v),
    "publish_stats": lambda v: None if v.lower() in ("", "none") else _number("publish_stats", v),
    "otel": lambda v: _boolean("otel", v),
    "lock": lambda v: _boolean("lock", v),
    "lock_ttl": lambda v: _number("lock_ttl", v),
    "lock_timeout": lambda v: _number("lock_timeout", v),
    "stale_ttl": lambda v: None if v.lower() in ("", "none") else _number("stale_ttl", v),
    "early_refresh": lambda v: _boolean("early_refresh", v),
    "retries": lambda v: _integer("retries", v),
    "l1_ttl": lambda v: None if v.lower() in ("", "none") else _number("l1_ttl", v),
}
# fields that may come from TWAT_CACHE_* or from a URL query string
_TEXT_FIELDS = (
    "namespace", "ttl", "maxsize", "maxbytes", "policy", "serializer", "compress",
    "secret", "folder", "strict", "jitter", "retry_after", "on_serialization_error", "tags",
    "typed", "compress_min_size", "encrypt_key", "secure", "publish_stats", "otel", "lock",
    "lock_ttl", "lock_timeout", "on_lock_timeout", "stale_ttl", "early_refresh", "retries",
    "l1_ttl",
)  # fmt: skip
# TWAT_CACHE_* variables that are not options: read by twat_cache.observe
_OTHER_VARIABLES = frozenset({"TWAT_CACHE_DEBUG", "TWAT_CACHE_LOG_FORMAT"})


def _number(name: str, text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise ConfigurationError(name, text, "a number") from None


def _integer(name: str, text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise ConfigurationError(name, text, "an integer") from None


def _boolean(name: str, text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off", ""):
        return False
    raise ConfigurationError(name, text, "true or false")


def _from_text(values: Mapping[str, str]) -> dict[str, Any]:
    return {name: _CONVERTERS.get(name, str)(text) for name, text in values.items()}


def resolve_config(
    url: str | None = None,
    /,
    *,
    base: CacheConfig | None = None,
    environ: Mapping[str, str] | None = None,
    **options: Any,
) -> CacheConfig:
    """Build a :class:`CacheConfig` from every source, later wins.

    Order: the defaults < ``TWAT_CACHE_*`` variables < the URL's query string <
    keyword ``options``. A ``base`` config replaces the first two: it already is
    a complete configuration, so the environment is not read again over it.

    Args:
        url: The cache URL; falls back to ``options["url"]``, then ``base.url``,
            then ``TWAT_CACHE_URL``.
        base: A config to start from instead of the defaults and the environment.
        environ: The environment to read (``os.environ`` by default).
        **options: Keyword options (see :class:`CacheOptions`).

    Returns:
        The validated configuration.

    Raises:
        ConfigurationError: naming the field, the value and what is allowed.

    Example:
        >>> resolve_config("memory://?ttl=5", environ={"TWAT_CACHE_TTL": "1"}).ttl
        5.0
    """
    unknown = sorted(set(options) - _FIELD_NAMES)
    if unknown:
        raise ConfigurationError.unknown("option", unknown[0], _FIELD_NAMES)
    # the texts of fields read from the environment: an error in one names its variable
    env_texts = {} if base is not None else _environment(os.environ if environ is None else environ)
    env_url = env_texts.get("url") or None
    values = _env_values(env_texts)
    given_url = options.pop("url", None)
    chosen_url = url if url is not None else given_url
    url_from_env = chosen_url is None and base is None and env_url is not None
    if chosen_url is None:
        chosen_url = base.url if base is not None else env_url
    core_options: dict[str, str] = {}
    if chosen_url is not None:
        if not isinstance(chosen_url, str) or "://" not in chosen_url:
            raise ConfigurationError(
                "url",
                chosen_url,
                "a URL such as memory://, disk:///path or redis://host:6379/0",
                source=_env_name("url") if url_from_env else None,
            )
        parsed = parse_url(chosen_url)
        core_options = {k: v for k, v in parsed.options.items() if k in _TEXT_FIELDS}
        values.update(_from_text(core_options))
        values["url"] = _strip_query(chosen_url, core_options)
    values.update(options)
    if base is not None:
        return replace(base, **values)
    still_from_env = set(env_texts) - set(core_options) - set(options) - {"url"}
    try:
        return CacheConfig(**values)
    except ConfigurationError as exc:
        if exc.source is None and exc.field in still_from_env:
            raise _named(exc, env_texts[exc.field]) from None
        raise


_ENV_PREFIX = "TWAT_CACHE_"


def _env_name(field_name: str) -> str:
    return f"environment variable {_ENV_PREFIX}{field_name.upper()}"


def _environment(env: Mapping[str, str]) -> dict[str, str]:
    """The ``TWAT_CACHE_*`` variables as ``{field: text}``; a misspelt one is an error.

    A variable under the prefix that names no option but is close to one
    (``TWAT_CACHE_TTLL``) is a typo that would otherwise be ignored silently, so
    it raises with a "did you mean". Other names under the prefix are left alone
    (logged at debug level): such variables may be set where 3.x runs. ``TWAT_CACHE_DEBUG``
    and ``TWAT_CACHE_LOG_FORMAT`` are not options: :mod:`twat_cache.observe` reads them.
    """
    known = {_ENV_PREFIX + name.upper(): name for name in (*_TEXT_FIELDS, "url")}
    found: dict[str, str] = {}
    for variable, text in env.items():
        if not variable.startswith(_ENV_PREFIX):
            continue
        if variable in known:
            found[known[variable]] = text
            continue
        if variable in _OTHER_VARIABLES:
            logger.debug(
                "%s is read by twat_cache.observe (debug output), not a cache option", variable
            )
            continue
        # matched on what follows the prefix, which every name shares
        suffixes = [name[len(_ENV_PREFIX) :] for name in sorted(known)]
        close = difflib.get_close_matches(variable[len(_ENV_PREFIX) :], suffixes, n=3)
        if not close:
            logger.debug("ignoring %s: not a twat-cache option", variable)
            continue
        raise ConfigurationError(
            "environment variable",
            variable,
            "did you mean "
            + " or ".join(repr(_ENV_PREFIX + c) for c in close)
            + "? known variables are: "
            + ", ".join(sorted(known)),
        )
    return found


def _env_values(env_texts: Mapping[str, str]) -> dict[str, Any]:
    """Convert the environment's texts (all but the URL) to field values, naming a bad variable."""
    values: dict[str, Any] = {}
    for name, text in env_texts.items():
        if name != "url":
            try:
                values.update(_from_text({name: text}))
            except ConfigurationError as exc:
                raise _named(exc, text) from None
    return values


def _named(exc: ConfigurationError, text: str) -> ConfigurationError:
    """``exc`` again, naming the variable its value came from and showing its text."""
    value = exc.value if exc.field in _HIDDEN else text
    return type(exc)(exc.field, value, exc.allowed, source=_env_name(exc.field))


def _strip_query(url: str, remove: Mapping[str, str]) -> str:
    if not remove or "?" not in url:
        return url
    head, _, query = url.partition("?")
    kept = [p for p in query.split("&") if unquote_plus(p.split("=", 1)[0]) not in remove]
    return head + ("?" + "&".join(kept) if kept else "")


# which engines keep each bounding option, for the errors of engines that cannot
_KEPT_BY: dict[str, str] = {
    "maxsize": "memory://, builtin://, disk:// and sqlite://",
    "maxbytes": "memory://, builtin:// and disk://",
    "policy": "memory:// (lfu, fifo, rr, ttl) and builtin:// (fifo, ttl)",
}


def refuse_options(config: CacheConfig, engine: str, *names: str, hint: str = "") -> None:
    """Raise for a bounding option (``maxsize``, ``maxbytes``, ``policy``) the engine cannot keep.

    An engine calls this from ``from_config`` with the options it does not
    implement, so that none is accepted and then ignored. ``policy`` counts as
    set when it is not the default ``lru``.

    Args:
        config: The configuration the engine is built from.
        engine: The engine's scheme, for the message (``s3``).
        *names: The options the engine cannot keep.
        hint: What to use instead on this engine, appended to the message.

    Raises:
        ConfigurationError: naming the option, its value and the engines that keep it.

    Example:
        >>> refuse_options(CacheConfig(), "s3", "maxsize", "policy")  # nothing set: no error
    """
    for name in names:
        value = getattr(config, name)
        if value is None or (name == "policy" and value == "lru"):
            continue
        default = "lru, the default" if name == "policy" else "None"
        raise ConfigurationError(
            name,
            value,
            f"{default} on {engine}://, which does not implement it; "
            f"{name} is kept by {_KEPT_BY[name]}" + (f"; {hint}" if hint else ""),
        )


def ensure_folder(folder: str | os.PathLike[str]) -> Path:
    """Create ``folder`` (and parents) if needed and check that it is writable.

    Raises:
        PathError: when the folder cannot be created or written.
    """
    path = Path(folder).expanduser()
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise PathError(
            "folder", str(path), f"a folder that can be created ({exc.strerror})"
        ) from exc
    if not os.access(path, os.W_OK | os.X_OK):
        raise PathError("folder", str(path), "a writable folder")
    return path


__getattr__ = module_getattr(__name__)  # the twat-cache 2.x names (twat_cache.legacy)
