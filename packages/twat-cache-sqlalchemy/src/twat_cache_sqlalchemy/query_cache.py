"""The ORM query cache: ``FromCache`` on a statement, served on SQLAlchemy's ``do_orm_execute``.

A cached ``SELECT`` is stored as a :class:`~sqlalchemy.engine.FrozenResult` and merged into
the asking session on a hit (``merge_frozen_result(..., load=False)``), so the objects are
the session's own. Keys are the statement compiled for the session's dialect plus its bound
parameters; invalidation is by tag and, opt-in, by the mapped classes a flush touched.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import FrozenResult, Result
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import (
    Mapper,
    ORMExecuteState,
    Session,
    UserDefinedOption,
    class_mapper,
    merge_frozen_result,
    object_mapper,
    sessionmaker,
)
from sqlalchemy.orm.exc import UnmappedInstanceError
from sqlalchemy.sql import ClauseElement
from twat_cache import Cache, ConfigurationError
from twat_cache.copies import freeze, thaw

logger = logging.getLogger("twat_cache")

DEFAULT_NAMESPACE = "sqlalchemy"
"""The twat-cache namespace of query results when the cache is made from a URL."""

# SQLAlchemy ships merge_frozen_result without annotations
_merge: Callable[..., FrozenResult[Any]] = merge_frozen_result

_TOUCHED = "twat_cache_touched"  # session.info: mapped classes flushed in the open transaction


def class_tag(cls: type) -> str:
    """The tag every cached result that loads ``cls`` carries (with ``auto_invalidate``).

    Args:
        cls: A mapped class.

    Returns:
        ``orm:<module>.<qualified name>``.
    """
    return f"orm:{cls.__module__}.{cls.__qualname__}"


class FromCache(UserDefinedOption):
    """Load a statement's result from the cache: ``select(User).options(FromCache("users"))``.

    Args:
        *tags: Tags of the stored result (:meth:`QueryCache.invalidate` drops them).
        ttl: Seconds the result lives; None takes the cache's default.
        key: Extra text for the key, to tell apart statements that compile alike but load
            differently (say, the same ``select`` with other loader options).
    """

    propagate_to_loaders = False  # lazy loads of the loaded objects go to the database

    def __init__(self, *tags: str, ttl: int | None = None, key: str = "") -> None:
        super().__init__()
        self.tags = tags
        self.ttl = ttl
        self.key = key

    def __repr__(self) -> str:
        return f"FromCache(tags={self.tags!r}, ttl={self.ttl!r}, key={self.key!r})"


class QueryCache:
    """Serves ``FromCache`` statements of the sessions it listens to from a twat-cache.

    Args:
        cache: A :class:`~twat_cache.Cache`, or a twat-cache URL; None takes
            ``TWAT_CACHE_URL`` from the environment, else ``memory://``.
        auto_invalidate: True to drop the cached results of a mapped class when a flush
            inserts, updates or deletes its rows (or a bulk ``update``/``delete`` runs),
            in every process sharing the cache. Results are then tagged by class, and a
            session with flushed, uncommitted changes neither reads nor writes the cache.
        namespace: The namespace of a cache made from a URL.

    Example:
        >>> from sqlalchemy.orm import sessionmaker
        >>> query_cache = QueryCache("builtin://", auto_invalidate=True)
        >>> Session = sessionmaker()
        >>> query_cache.listen(Session)
    """

    def __init__(
        self,
        cache: Cache | str | None = None,
        *,
        auto_invalidate: bool = False,
        namespace: str = DEFAULT_NAMESPACE,
    ) -> None:
        self.cache = cache if isinstance(cache, Cache) else Cache(cache, namespace=namespace)
        self.auto_invalidate = auto_invalidate

    def __repr__(self) -> str:
        return f"<QueryCache {self.cache!r} auto_invalidate={self.auto_invalidate}>"

    def listen(self, target: Any) -> None:
        """Serve ``FromCache`` statements of ``target``'s sessions.

        Args:
            target: A ``Session`` subclass, a ``sessionmaker``, a ``Session``, or an
                ``AsyncSession`` (its ``sync_session``). For every session made by an
                ``async_sessionmaker``, listen to its ``sync_session_class``.

        Raises:
            ConfigurationError: for anything else.
        """
        if isinstance(target, AsyncSession):
            target = target.sync_session
        known = isinstance(target, (Session, sessionmaker)) or (
            isinstance(target, type) and issubclass(target, Session)
        )
        if not known:
            raise ConfigurationError(
                "target", target, "a Session class, a sessionmaker, a Session or an AsyncSession"
            )
        event.listen(target, "do_orm_execute", self._do_orm_execute)
        if self.auto_invalidate:
            event.listen(target, "after_flush", self._after_flush)
            event.listen(target, "after_commit", self._after_commit)
            event.listen(target, "after_soft_rollback", self._after_rollback)

    def invalidate(self, *tags: str) -> None:
        """Make every result stored under any of ``tags`` a miss, in every process.

        Args:
            *tags: Tags given to ``FromCache``, or :func:`class_tag` of a mapped class.
        """
        self.cache.invalidate_tags(*tags)

    def invalidate_class(self, *classes: type) -> None:
        """Drop the results that loaded any of ``classes`` (needs ``auto_invalidate``).

        Args:
            *classes: Mapped classes.
        """
        self.invalidate(*(class_tag(cls) for cls in classes))

    def key_of(self, state: ORMExecuteState, option: FromCache) -> str:
        """The cache key of a statement: its SQL for the session's dialect and its values.

        Args:
            state: The execution (from ``do_orm_execute``).
            option: The statement's ``FromCache``.

        Returns:
            The key (long keys are hashed by twat-cache).
        """
        bind = state.session.get_bind(**state.bind_arguments)
        statement = state.statement
        if not isinstance(statement, ClauseElement):  # pragma: no cover - ORM selects are
            raise TypeError(f"cannot key {statement!r}")
        compiled = statement.compile(dialect=bind.dialect)
        values = dict(compiled.params)
        if isinstance(state.parameters, dict):
            values.update(state.parameters)
        return repr((str(compiled), sorted(values.items()), option.key))

    def _do_orm_execute(self, state: ORMExecuteState) -> Result[Any] | None:
        if self.auto_invalidate and (state.is_update or state.is_delete):
            self.invalidate_class(*_touch(state.session, (m.class_ for m in state.all_mappers)))
            return None
        option = next((o for o in state.user_defined_options if isinstance(o, FromCache)), None)
        if option is None or not state.is_select or state.session.info.get(_TOUCHED):
            return None
        key = self.key_of(state, option)
        frozen = thaw(self.cache.get(key))
        if frozen is None:
            frozen = state.invoke_statement().freeze()
            tags = list(option.tags)
            if self.auto_invalidate:
                tags += sorted(
                    {
                        class_tag(m.class_)
                        for top in state.all_mappers
                        for m in top.iterate_to_root()
                    }
                )
            # in-process engines keep a pickled copy: the frozen rows hold the objects of
            # the session that ran the statement, which it may change before committing
            kept = freeze(frozen) if self.cache.local else frozen
            if not self.cache.set(key, kept, ttl=option.ttl, tags=tags):
                logger.debug("query result not stored (the engine declined or failed): %s", key)
        merged = _merge(state.session, state.statement, frozen, load=False)
        return merged()

    def _after_flush(self, session: Session, _flush_context: object) -> None:
        changed = [*session.new, *session.dirty, *session.deleted]
        # now for the other sessions, and again at commit: until then this session's
        # changes are invisible to them, and they may have stored the old rows again
        self.invalidate_class(*_touch(session, (_class_of(obj) for obj in changed)))

    def _after_commit(self, session: Session) -> None:
        touched: set[type] = session.info.pop(_TOUCHED, set())
        if touched:
            self.invalidate_class(*touched)

    def _after_rollback(self, session: Session, previous: object) -> None:
        if not session.in_transaction():
            session.info.pop(_TOUCHED, None)


def _class_of(obj: object) -> type:
    try:
        mapper: Mapper[Any] = object_mapper(obj)
    except UnmappedInstanceError:  # pragma: no cover - the session holds mapped objects only
        return type(obj)
    return mapper.class_


def _touch(session: Session, classes: Iterable[type]) -> set[type]:
    """Record ``classes`` (and their mapped bases) as changed in the open transaction."""
    touched: set[type] = session.info.setdefault(_TOUCHED, set())
    added = {m.class_ for cls in classes for m in class_mapper(cls).iterate_to_root()}
    touched |= added
    return added
