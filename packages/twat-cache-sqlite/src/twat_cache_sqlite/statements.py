"""The SQL of the sqlite engine: one statement per operation, for a given table name."""

from __future__ import annotations

import re
from typing import Final

__all__ = ["TABLE_NAME", "statements"]

TABLE_NAME: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")
"""What a table name may be: a plain identifier, so that it can carry no SQL."""

_LIVE: Final = "(expires_at IS NULL OR expires_at > ?)"
_TEMPLATES: Final = {
    "create_table": "CREATE TABLE IF NOT EXISTS {table} (namespace TEXT NOT NULL, "
    "key TEXT NOT NULL, value BLOB NOT NULL, expires_at REAL, PRIMARY KEY (namespace, key))",
    "create_index": "CREATE INDEX IF NOT EXISTS {table}_expires_at ON {table} (expires_at) "
    "WHERE expires_at IS NOT NULL",
    "get": "SELECT value FROM {table} WHERE namespace = ? AND key = ? AND {live}",
    "get_in": "SELECT key, value FROM {table} WHERE namespace = ? AND {live} AND key IN ",
    # the first bytes of each value (an entry's header), never the whole value
    "heads_in": "SELECT key, substr(value, 1, ?) FROM {table} WHERE namespace = ? AND {live} "
    "AND key IN ",
    "expiries_in": "SELECT key, expires_at FROM {table} WHERE namespace = ? AND {live} AND key IN ",
    "put": "INSERT OR REPLACE INTO {table} (namespace, key, value, expires_at) VALUES (?, ?, ?, ?)",
    "replace_value": "UPDATE {table} SET value = ? WHERE namespace = ? AND key = ?",
    "touch": "UPDATE {table} SET expires_at = ? WHERE namespace = ? AND key = ? AND {live}",
    "delete": "DELETE FROM {table} WHERE namespace = ? AND key = ? AND {live}",
    # compare-and-delete: one statement, atomic under SQLite's write lock
    "delete_if": "DELETE FROM {table} WHERE namespace = ? AND key = ? AND value = ? AND {live}",
    "delete_in": "DELETE FROM {table} WHERE namespace = ? AND {live} AND key IN ",
    "clear": "DELETE FROM {table} WHERE namespace = ?",
    "keys": "SELECT key FROM {table} WHERE namespace = ? AND {live}",
    "purge": "DELETE FROM {table} WHERE rowid IN "
    "(SELECT rowid FROM {table} WHERE expires_at <= ? LIMIT ?)",
    "count": "SELECT COUNT(*) FROM {table} WHERE namespace = ?",
    "purge_namespace": "DELETE FROM {table} WHERE namespace = ? AND expires_at <= ?",
    # a write (INSERT OR REPLACE) gives its row a new, highest rowid: the lowest is the
    # least recently written
    "evict_oldest": "DELETE FROM {table} WHERE rowid IN "
    "(SELECT rowid FROM {table} WHERE namespace = ? ORDER BY rowid LIMIT ?)",
}


def statements(table: str) -> dict[str, str]:
    """Return every statement of the engine for ``table`` (which has matched TABLE_NAME)."""
    # The one place a name enters SQL: ``table`` has matched TABLE_NAME (a plain identifier), so it
    # cannot carry SQL of its own; every value goes in as a ``?`` parameter.
    return {name: sql.format(table=table, live=_LIVE) for name, sql in _TEMPLATES.items()}
