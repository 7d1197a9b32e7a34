"""What a decorated function says about its entries, decided once at decoration time.

Tags computed from a call's arguments (``tags=lambda user_id: [f"user:{user_id}"]``),
batch functions (``batch=True``, ``cache_absent=True``) and the report of
``f.warm(...)``. The steps that wait on the engine are in
:mod:`twat_cache._async.entries` (sync twin generated); this module never waits.
"""

from __future__ import annotations

import inspect
import weakref
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from twat_cache.config import _check_tags
from twat_cache.constants import TAG_PATTERN, TAG_RULE
from twat_cache.exceptions import CacheKeyError, ConfigurationError

__all__ = [
    "ABSENT",
    "EntryOptions",
    "TagsOf",
    "WarmReport",
    "call_of",
    "check_batch_size",
    "learn_tags",
    "pop_entry_options",
    "seen_tags",
]

TagsFunc = Callable[..., Iterable[str] | str]


class _Absent:
    """Stands for an id a batch function left out of its result (``cache_absent=True``)."""

    __slots__ = ()

    def __reduce__(self) -> str:
        return "ABSENT"

    def __repr__(self) -> str:
        return "ABSENT"


ABSENT: Final = _Absent()


# per cache: tags found on entries read before, most recent last
_seen: weakref.WeakKeyDictionary[object, dict[str, None]] = weakref.WeakKeyDictionary()
SEEN_TAGS: Final = 64
"""How many tags a cache remembers to read speculatively with a ``get_many``."""


def seen_tags(cache: object, limit: int) -> list[str]:
    """The tags recently found on ``cache``'s entries (at most ``limit``, the newest).

    ``get_many`` reads their counters in the same round trip as the entries, so that
    a batch of tagged entries costs one round trip once their tags have been seen.
    """
    seen = _seen.get(cache)
    if not seen or limit <= 0:
        return []
    return list(seen)[-limit:]


def learn_tags(cache: object, tags: Iterable[str]) -> None:
    """Remember ``tags`` as found on ``cache``'s entries (see :func:`seen_tags`)."""
    seen = _seen.setdefault(cache, {})
    for tag in tags:
        seen.pop(tag, None)
        seen[tag] = None
    while len(seen) > SEEN_TAGS:
        del seen[next(iter(seen))]


class TagsOf:
    """The tags of one call: static tags plus those the callables compute from the arguments.

    Each callable receives, by name, the function's parameters it names (all of
    them when it takes ``**kwargs``), bound as the function binds its call,
    defaults applied.

    Args:
        func: The decorated function.
        static: Tags every entry of the function carries.
        computed: Callables returning a tag or an iterable of tags.

    Raises:
        ConfigurationError: when a callable names a parameter the function does not have.

    Example:
        >>> def profile(user_id: int, verbose: bool = False) -> dict: ...
        >>> TagsOf(profile, ("profiles",), [lambda user_id: f"user:{user_id}"])((7,), {})
        ('profiles', 'user:7')
    """

    __slots__ = ("_computed", "_names", "_picks", "_signature", "static")

    def __init__(
        self, func: Callable[..., Any], static: tuple[str, ...], computed: Iterable[TagsFunc]
    ) -> None:
        self.static = static
        self._signature = inspect.signature(func)
        params = self._signature.parameters
        # a call passing every parameter positionally binds without inspect (the common case)
        plain = all(p.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD for p in params.values())
        self._names = tuple(params) if plain else None
        self._computed: list[tuple[TagsFunc, tuple[str, ...] | None]] = []
        for tags_func in computed:
            wanted = inspect.signature(tags_func).parameters.values()
            if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in wanted):
                self._computed.append((tags_func, None))  # every argument, by name
                continue
            names = tuple(p.name for p in wanted if p.kind is not inspect.Parameter.VAR_POSITIONAL)
            unknown = [n for n in names if n not in params]
            if unknown:
                raise ConfigurationError(
                    "tags",
                    tags_func,
                    f"a callable taking parameters of {getattr(func, '__qualname__', func)!r} "
                    f"by name; it has no parameter {unknown[0]!r}",
                )
            self._computed.append((tags_func, names))
        # the hit path of a plain call: each callable's arguments picked by position, when
        # both the function and the callable take them positionally (no dict per call)
        # (None: the callable takes the function's own parameters, in order: the call's args)
        self._picks: list[tuple[TagsFunc, tuple[int, ...] | None]] | None = None
        if self._names is not None and all(
            names is not None and _positional(tags_func) for tags_func, names in self._computed
        ):
            self._picks = [
                (
                    tags_func,
                    None
                    if names == self._names
                    else tuple(self._names.index(n) for n in names or ()),
                )
                for tags_func, names in self._computed
            ]

    def __call__(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[str, ...]:
        """Return the tags of a call with these arguments (static ones first, no repeats).

        Raises:
            CacheKeyError: when a computed tag is not a valid tag (the message names it).
            TypeError: when the arguments do not fit the function (as the call would).
        """
        names = self._names
        tags = dict.fromkeys(self.static)
        if names is not None and not kwargs and len(args) == len(names):
            picks = self._picks
            if picks is not None:  # the common case: arguments by position, no binding
                for tags_func, where in picks:
                    made = (
                        tags_func(*args) if where is None else tags_func(*[args[i] for i in where])
                    )
                    _add_tags(tags, tags_func, made)
                return tuple(tags)
            given: Mapping[str, Any] = dict(zip(names, args, strict=True))
        else:
            bound = self._signature.bind(*args, **kwargs)
            bound.apply_defaults()
            given = bound.arguments
        for tags_func, wanted in self._computed:
            chosen = given if wanted is None else {n: given[n] for n in wanted}
            _add_tags(tags, tags_func, tags_func(**chosen))
        return tuple(tags)


# computed tags already checked (a bounded set: a tag per user stays cheap to check again)
_checked_tags: set[str] = set()
_CHECKED_KEPT: Final = 4096


def _add_tags(tags: dict[str, None], tags_func: TagsFunc, made: Iterable[str] | str) -> None:
    """Add what a tags callable returned to ``tags``, checking each tag.

    Raises:
        CacheKeyError: when a tag is not a string of the allowed characters.
    """
    for tag in (made,) if isinstance(made, str) else made:
        if type(tag) is not str or tag not in _checked_tags:  # a list is not hashable
            if not isinstance(tag, str) or not TAG_PATTERN.fullmatch(tag):
                raise CacheKeyError(f"tag {tag!r} computed by {tags_func!r}: tags are {TAG_RULE}")
            if len(_checked_tags) >= _CHECKED_KEPT:
                _checked_tags.clear()
            _checked_tags.add(tag)
        tags[tag] = None


def _positional(tags_func: TagsFunc) -> bool:
    """Whether every parameter of ``tags_func`` can be passed by position."""
    kinds = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    return all(p.kind in kinds for p in inspect.signature(tags_func).parameters.values())


@dataclass(frozen=True)
class EntryOptions:
    """The decorator-only options about entries (see :func:`pop_entry_options`).

    Attributes:
        tags_of: The call's tags when some are computed from its arguments, else None.
        batch: The function takes an iterable of ids and returns a dict id -> value.
        cache_absent: In a batch, ids left out of the result are cached as absent.
    """

    tags_of: TagsOf | None = None
    batch: bool = False
    cache_absent: bool = False


def pop_entry_options(
    func: Callable[..., Any], options: dict[str, Any], shared: bool
) -> EntryOptions:
    """Take ``batch``, ``cache_absent`` and computed ``tags`` out of a decorator's options.

    Static tags stay in ``options`` (the cache's own tags) unless some are computed,
    or the function uses a shared ``cache=``: then they are the function's.

    Raises:
        ConfigurationError: for a value that is not allowed.
    """
    batch = options.pop("batch", False)
    cache_absent = options.pop("cache_absent", False)
    for name, value in (("batch", batch), ("cache_absent", cache_absent)):
        if not isinstance(value, bool):
            raise ConfigurationError(name, value, "True or False")
    if cache_absent and not batch:
        raise ConfigurationError("cache_absent", cache_absent, "used with batch=True only")
    tags = options.get("tags", ())
    items = [tags] if callable(tags) or isinstance(tags, str) else list(tags)
    computed = [t for t in items if callable(t)]
    tags_of = None
    if computed or (shared and items):
        options.pop("tags", None)
        static = _check_tags([t for t in items if not callable(t)])
        tags_of = TagsOf(func, static, computed)
    return EntryOptions(tags_of, batch, cache_absent)


def call_of(item: Any) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """The ``(args, kwargs)`` of one item of ``f.warm(items)``.

    A tuple is the positional arguments, a mapping the keyword arguments, anything
    else the one argument (wrap a tuple argument in a 1-tuple: ``((1, 2),)``).
    """
    if isinstance(item, tuple):
        return item, {}
    if isinstance(item, Mapping):
        return (), dict(item)
    return (item,), {}


def check_batch_size(batch_size: object) -> int:
    """Return ``batch_size`` when it is a positive integer.

    Raises:
        ConfigurationError: when it is not.
    """
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ConfigurationError("batch_size", batch_size, "a positive integer")
    return batch_size


@dataclass
class WarmReport:
    """What ``f.warm(items)`` did.

    Attributes:
        warmed: Items whose call ran and was stored.
        cached: Items already cached (their function did not run).
        failed: ``(item, exception)`` for each item whose call raised.
        absent: Ids a batch function left out of its result (stored as absent
            with ``cache_absent=True``, else not stored).
    """

    warmed: int = 0
    cached: int = 0
    failed: list[tuple[Any, BaseException]] = field(default_factory=list)
    absent: int = 0
