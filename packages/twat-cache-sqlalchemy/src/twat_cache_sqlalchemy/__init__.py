"""twat-cache-sqlalchemy: an ORM query cache for SQLAlchemy 2 on any twat-cache engine.

``QueryCache(url).listen(Session)``, then
``session.execute(select(User).options(FromCache("users", ttl=60)))``.
"""

from twat_cache_sqlalchemy.query_cache import DEFAULT_NAMESPACE, FromCache, QueryCache, class_tag

__all__ = ["DEFAULT_NAMESPACE", "FromCache", "QueryCache", "class_tag"]
