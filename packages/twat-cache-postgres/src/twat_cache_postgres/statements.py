"""The SQL of the engine, composed once per table with :mod:`psycopg.sql`.

The schema and table names are validated identifiers and are always quoted
with :class:`psycopg.sql.Identifier`; keys, values, namespaces and TTLs are
always bound parameters. Each statement is rendered to bytes once, here: psycopg
then finds its parsed (and, after a few runs, server-prepared) form by those
bytes, instead of composing the query again on every call. Expiry is computed
and compared on the server's clock (``now()``), so clients with skewed clocks
agree on what has expired.
"""

from __future__ import annotations

import hashlib

from psycopg import sql

__all__ = ["Statements"]

# an entry is live when it never expires or expires after this statement's transaction start
_LIVE = sql.SQL("(expires_at IS NULL OR expires_at > now())")
# NULL seconds make a NULL interval, so a ttl of None stores expires_at = NULL (never expires)
_EXPIRES = sql.SQL("now() + make_interval(secs => %s::float8)")
_MAX_IDENTIFIER = 63  # NAMEDATALEN - 1: longer names are silently truncated by the server


def _index_name(table: str) -> str:
    name = f"{table}_expires_at_idx"
    if len(name) <= _MAX_IDENTIFIER:
        return name
    # a long table name is cut; a digest of the full name keeps two such tables apart
    digest = hashlib.blake2b(table.encode(), digest_size=4).hexdigest()
    return f"{table[:40]}_{digest}_expires_idx"


class Statements:
    """Every statement the engine runs against one ``schema.table``.

    Args:
        schema: The schema holding the table (validated identifier).
        table: The table name (validated identifier).
        unlogged: Create the table ``UNLOGGED`` (no WAL: faster writes, emptied after a crash).
    """

    def __init__(self, schema: str, table: str, unlogged: bool) -> None:
        qualified = sql.Identifier(schema, table)

        def q(text: str) -> bytes:
            return sql.SQL(text).format(table=qualified, live=_LIVE, expires=_EXPIRES).as_bytes()

        self.qualified = qualified
        self.exists = (
            sql.SQL("SELECT to_regclass({name}) IS NOT NULL")
            .format(name=sql.Literal(f'"{schema}"."{table}"'))
            .as_bytes()
        )
        self.create_table = (
            sql.SQL(
                "CREATE {unlogged}TABLE IF NOT EXISTS {table} ("
                ' namespace text COLLATE "C" NOT NULL,'
                ' key text COLLATE "C" NOT NULL,'
                " value bytea NOT NULL,"
                " expires_at timestamptz,"
                " PRIMARY KEY (namespace, key))"
            )
            .format(unlogged=sql.SQL("UNLOGGED " if unlogged else ""), table=qualified)
            .as_bytes()
        )
        self.create_index = (
            sql.SQL(
                "CREATE INDEX IF NOT EXISTS {index} ON {table} (expires_at)"
                " WHERE expires_at IS NOT NULL"
            )
            .format(index=sql.Identifier(_index_name(table)), table=qualified)
            .as_bytes()
        )
        self.get = q("SELECT value FROM {table} WHERE namespace = %s AND key = %s AND {live}")
        self.get_many = q(
            "SELECT key, value FROM {table} WHERE namespace = %s AND key = ANY(%s) AND {live}"
        )
        self.server_version = b"SHOW server_version"
        # seconds left as the server counts them: the client adds its own clock (no skew)
        self.expiries = q(
            "SELECT key, extract(epoch FROM expires_at - now())::float8 FROM {table}"
            " WHERE namespace = %s AND key = ANY(%s) AND {live}"
        )
        self.set = q(
            "INSERT INTO {table} AS entry (namespace, key, value, expires_at)"
            " VALUES (%s, %s, %s, {expires}) ON CONFLICT (namespace, key) DO UPDATE"
            " SET value = EXCLUDED.value, expires_at = EXCLUDED.expires_at"
        )
        # replaces only an expired row: ON CONFLICT's row lock makes check-and-write atomic
        self.add = q(
            "INSERT INTO {table} AS entry (namespace, key, value, expires_at)"
            " VALUES (%s, %s, %s, {expires}) ON CONFLICT (namespace, key) DO UPDATE"
            " SET value = EXCLUDED.value, expires_at = EXCLUDED.expires_at"
            " WHERE entry.expires_at IS NOT NULL AND entry.expires_at <= now() RETURNING 1"
        )
        # RETURNING tells a live row (present) from an expired one (absent, but removed anyway)
        self.delete = q("DELETE FROM {table} WHERE namespace = %s AND key = %s RETURNING {live}")
        # compare-and-delete: one statement, so the row lock makes it atomic. A success also
        # leaves a short-lived wake row (in the engine's wake namespace, which no namespace's
        # keys or clear see) and NOTIFYs the waiters: both happen when the statement commits
        self.delete_if = q(
            "WITH gone AS (DELETE FROM {table} WHERE namespace = %s AND key = %s AND value = %s"
            " AND {live} RETURNING 1), woke AS (INSERT INTO {table} (namespace, key, value,"
            " expires_at) SELECT %s, %s, decode('00', 'hex'), {expires} FROM gone"
            " ON CONFLICT (namespace, key) DO UPDATE SET expires_at = EXCLUDED.expires_at)"
            " SELECT pg_notify(%s, %s) FROM gone"
        )
        self.woke = q("SELECT 1 FROM {table} WHERE namespace = %s AND key = %s AND {live}")
        # the first bytes of each value (an entry's header), never the whole value
        self.get_heads = q(
            "SELECT key, substring(value FROM 1 FOR %s) FROM {table}"
            " WHERE namespace = %s AND key = ANY(%s) AND {live}"
        )
        self.delete_many = q(
            "WITH gone AS (DELETE FROM {table} WHERE namespace = %s AND key = ANY(%s)"
            " RETURNING expires_at) SELECT count(*) FROM gone WHERE {live}"
        )
        self.touch = q(
            "UPDATE {table} SET expires_at = {expires} WHERE namespace = %s AND key = %s AND {live}"
        )
        # one statement: the row lock makes read-add-write atomic; a bad value fails the cast
        self.incr = q(
            "UPDATE {table} SET value ="
            " convert_to((convert_from(value, 'UTF8')::bigint + %s::bigint)::text, 'UTF8')"
            " WHERE namespace = %s AND key = %s AND {live} RETURNING value"
        )
        self.clear = q("DELETE FROM {table} WHERE namespace = %s")
        self.keys_first = q(
            "SELECT key FROM {table} WHERE namespace = %s AND {live} ORDER BY key LIMIT %s"
        )
        self.keys_after = q(
            "SELECT key FROM {table} WHERE namespace = %s AND key > %s AND {live}"
            " ORDER BY key LIMIT %s"
        )
        # a TID scan of at most N rows, skipping rows other sessions hold: no long locks, no waits
        self.purge = q(
            "DELETE FROM {table} WHERE ctid = ANY(ARRAY("
            "SELECT ctid FROM {table} WHERE expires_at <= now() LIMIT %s FOR UPDATE SKIP LOCKED))"
            " AND expires_at <= now()"
        )
        self.unlisten = b"UNLISTEN *"

    @staticmethod
    def listen(channel: str) -> bytes:
        """The ``LISTEN`` statement of ``channel`` (a quoted identifier)."""
        return sql.SQL("LISTEN {}").format(sql.Identifier(channel)).as_bytes()
