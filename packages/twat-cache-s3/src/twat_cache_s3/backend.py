"""The ``s3://`` engine: one object per entry in Amazon S3 or any S3-compatible store, on boto3.

How entries map onto objects (names, expiry metadata, lifecycle tag) is in
:mod:`twat_cache_s3.objects`; options and the client in :mod:`twat_cache_s3.settings`.

S3 has no increment and no "store if absent": ``add`` is a conditional write
(``If-None-Match: *``, or ``If-Match`` on an expired entry's ETag) and ``incr`` a
compare-and-swap loop (read with the ETag, write back with ``If-Match``, retry on
412 or 409). Both are atomic where the endpoint honours conditional writes; on one
that ignores those headers they degrade to read-then-write (see the README).
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import replace
from typing import TYPE_CHECKING, Any, Final, TypeVar

from botocore.exceptions import BotoCoreError, ClientError
from twat_cache.config import refuse_options
from twat_cache.engines.base import BaseBackend, check_int64
from twat_cache.exceptions import BackendError, ConfigurationError
from twat_cache.protocols import Capabilities
from twat_cache.serializers import decode_int, encode_int
from twat_cache.timeouts import client_timeouts

from twat_cache_s3.objects import Names, StoredObject, expired, tagging, write_arguments
from twat_cache_s3.settings import S3Settings

if TYPE_CHECKING:
    from twat_cache.config import CacheConfig
    from twat_cache.urls import EngineURL
    from types_boto3_s3.client import S3Client
    from types_boto3_s3.type_defs import ObjectIdentifierTypeDef

__all__ = ["S3Backend"]

logger = logging.getLogger("twat_cache")

_BATCH: Final = 1000  # keys per DeleteObjects request, S3's limit
_ATTEMPTS: Final = 64  # conditional writes one add/incr/touch tries before giving up
_MISSING: Final = frozenset({"404", "NoSuchKey", "NotFound"})
_CONFLICT: Final = frozenset(
    {"412", "PreconditionFailed", "409", "ConditionalRequestConflict", *_MISSING}
)
_MAX_PUT: Final = 5 * 2**30  # bytes one PutObject may carry (S3's limit)
_BOUND_THE_BUCKET: Final = "bound the bucket with a lifecycle rule"
_T = TypeVar("_T")
_R = TypeVar("_R")


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


class S3Backend(BaseBackend):
    """Entries as objects under ``{prefix}/{namespace}/`` of one bucket.

    Args:
        settings: The bucket, prefix, endpoint and client options (see :class:`S3Settings`).
        namespace: This engine's namespace: one folder under the prefix.

    Raises:
        ConfigurationError: for a namespace with a ``/``.

    Example:
        >>> settings = S3Settings("my-bucket", "cache", endpoint_url="http://127.0.0.1:9000")
        >>> cache = S3Backend(settings, namespace="app")
        >>> cache.set("k", b"v", ttl=3600)  # doctest: +SKIP
    """

    # add and incr are conditional writes (atomic where the endpoint honours If-None-Match and
    # If-Match: AWS S3 does); expiry is metadata checked on read, plus a lifecycle tag
    capabilities = Capabilities(native_ttl=False, persistent=True, max_value_size=_MAX_PUT)
    stores_objects = False
    blocking = True

    def __init__(self, settings: S3Settings, *, namespace: str = "default") -> None:
        super().__init__(namespace)
        if not namespace or "/" in namespace:
            raise ConfigurationError("s3 namespace", namespace, "a non-empty name without '/'")
        self.settings = settings
        self.bucket = settings.bucket
        self.names = Names(settings.prefix, namespace)
        self._client: S3Client | None = None
        self._pool: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()
        self._bucket_seen = False

    @classmethod
    def from_config(cls, config: CacheConfig, url: EngineURL) -> S3Backend:
        """Build from ``s3://BUCKET[/PREFIX][?endpoint_url=...&region=...]``; no network I/O.

        Raises:
            ConfigurationError: for a bad URL, a bad or unknown option, or a limit
                S3 cannot keep (``maxsize``, ``maxbytes``, ``policy``).
        """
        # S3 keeps every object until its ttl; a count or size would need a scan per write
        refuse_options(config, "s3", "maxsize", "maxbytes", "policy", hint=_BOUND_THE_BUCKET)
        settings = S3Settings.from_url(url)
        # timeout= bounds botocore's own connects and reads too (unless the URL sets them)
        own = client_timeouts(config, url, reply=["read_timeout"], connect=["connect_timeout"])
        bounded = replace(
            settings,
            read_timeout=own.get("read_timeout", settings.read_timeout),
            connect_timeout=own.get("connect_timeout", settings.connect_timeout),
        )
        return cls(bounded, namespace=config.namespace)

    # --- plumbing ----------------------------------------------------------------------------

    def _s3(self) -> S3Client:
        """The client, made on first use: making it resolves credentials, maybe over the network."""
        self._check_open()
        with self._lock:
            if self._client is None:
                self._client = self.settings.client()
            return self._client

    def _map(self, function: Callable[[_T], _R], items: list[_T]) -> list[_R]:
        """Apply ``function`` to ``items`` on the bounded pool (inline for one item)."""
        self._check_open()
        if len(items) <= 1:
            return [function(item) for item in items]
        with self._lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(
                    self.settings.max_workers, thread_name_prefix="twat-cache-s3"
                )
            pool = self._pool
        return list(pool.map(function, items))

    @contextmanager
    def _errors(self, operation: str) -> Iterator[None]:
        """Turn boto3's errors into BackendError (the original as ``__cause__``)."""
        try:
            yield
        except ClientError as exc:
            code = _code(exc)
            if code == "NoSuchBucket":
                raise self._no_bucket() from exc
            message = f"s3 {operation} failed on bucket {self.bucket!r}: {code or exc}"
            raise BackendError(message, engine="s3", code=code) from exc
        except BotoCoreError as exc:
            message = (
                f"s3 {operation} failed on bucket {self.bucket!r} at {self.settings.where}: {exc}"
            )
            raise BackendError(message, engine="s3") from exc

    def _no_bucket(self) -> BackendError:
        return BackendError(
            f"S3 bucket {self.bucket!r} does not exist at {self.settings.where}: create it first",
            engine="s3",
        )

    def _until_written(self, operation: str, key: str, attempt: Callable[[], _R]) -> _R:
        """Run ``attempt`` (reads, then a conditional write) until no other writer interferes."""
        with self._errors(operation):
            for tries in range(_ATTEMPTS):
                try:
                    return attempt()
                except ClientError as exc:
                    if _code(exc) not in _CONFLICT:
                        raise
                # a random 0-50 ms, growing with the tries, spreads the racing writers out
                time.sleep(secrets.randbelow(1 + min(50, 2**tries)) / 1000)
        raise BackendError(
            f"s3 {operation} of {key!r} gave up after {_ATTEMPTS} conflicting writes", engine="s3"
        )

    def _fetch(self, name: str, *, body: bool) -> StoredObject | None:
        """GET (``body``) or HEAD ``name``; ``None`` when absent. May return an expired object."""
        client = self._s3()
        try:
            if body:
                response = client.get_object(Bucket=self.bucket, Key=name)
                with response["Body"] as stream:  # an expired body is left unread
                    value = None if expired(response["Metadata"]) else stream.read()
                found = StoredObject(value, response["ETag"], response["Metadata"])
            else:
                head = client.head_object(Bucket=self.bucket, Key=name)
                found = StoredObject(None, head["ETag"], head["Metadata"])
        except ClientError as exc:
            if _code(exc) not in _MISSING:
                raise
            if (
                not self._bucket_seen and not body
            ):  # a HEAD's 404 says "no key" and "no bucket" alike
                try:
                    client.head_bucket(Bucket=self.bucket)
                except ClientError as missing:
                    if _code(missing) in _MISSING:
                        raise self._no_bucket() from missing
                    raise
            found = None
        self._bucket_seen = True
        return found

    def _live(self, name: str, *, body: bool) -> StoredObject | None:
        """Like :meth:`_fetch`, but an expired object is deleted and reads as absent."""
        found = self._fetch(name, body=body)
        if found is None or not found.expired:
            return found
        try:  # only if no one has replaced it since it was read
            self._s3().delete_object(Bucket=self.bucket, Key=name, IfMatch=found.etag)
        except (ClientError, BotoCoreError) as exc:  # replaced, gone, or unreachable: still a miss
            logger.debug("s3: expired %s left in place: %s", name, exc, extra={"engine": "s3"})
        return None

    def _delete_objects(self, names: list[str], operation: str) -> None:
        with self._errors(operation):
            for start in range(0, len(names), _BATCH):
                batch: list[ObjectIdentifierTypeDef] = [
                    {"Key": name} for name in names[start : start + _BATCH]
                ]
                response = self._s3().delete_objects(
                    Bucket=self.bucket, Delete={"Objects": batch, "Quiet": True}
                )
                errors = response.get("Errors", [])
                if errors:
                    first = errors[0]
                    raise BackendError(
                        f"s3 {operation}: {len(errors)} objects not deleted from bucket "
                        f"{self.bucket!r}, first {first.get('Key')!r}: {first.get('Code')} "
                        f"{first.get('Message')}",
                        engine="s3",
                    )

    def _names(self) -> Iterator[str]:
        """The object names of this namespace only: ``Delimiter='/'`` leaves deeper folders out."""
        paginator = self._s3().get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=self.names.base, Delimiter="/"):
            for item in page.get("Contents", []):
                yield item["Key"]

    # --- the Backend protocol ----------------------------------------------------------------

    def get(self, key: str) -> bytes | None:
        """Return the value under ``key``, or ``None`` when absent or expired (then deleted)."""
        with self._errors("get"):
            found = self._live(self.names.name(key), body=True)
        return None if found is None else found.value

    def get_many(self, keys: Sequence[str]) -> dict[str, bytes]:
        """Return the present entries among ``keys``, fetched in parallel (``max_workers``)."""
        wanted = list(dict.fromkeys(keys))
        values = self._map(self.get, wanted)
        return {key: value for key, value in zip(wanted, values, strict=True) if value is not None}

    def set(self, key: str, value: bytes, ttl: float | None = None) -> bool:
        """Store ``value`` under ``key``, replacing any entry, for ``ttl`` seconds.

        Returns:
            True, or False for a value over S3's 5 GiB limit of one upload (not sent).
        """
        if len(value) > _MAX_PUT:
            return False
        name = self.names.name(key)
        with self._errors("set"):
            self._s3().put_object(
                Bucket=self.bucket, Key=name, Body=value, **write_arguments(self.names, key, ttl)
            )
        return True

    def set_many(self, items: Mapping[str, bytes], ttl: float | None = None) -> bool:
        """Store every item with the same ``ttl``, written in parallel; whether all were."""
        return all(self._map(lambda item: self.set(item[0], item[1], ttl), list(items.items())))

    def add(self, key: str, value: bytes, ttl: float | None = None) -> bool:
        """Store ``value`` only if ``key`` is absent or expired, by a conditional write.

        Raises:
            BackendError: also when the write kept losing races with others (64 tries).
        """
        name = self.names.name(key)

        def attempt() -> bool:
            current = self._fetch(name, body=False)
            if current is not None and not current.expired:
                return False
            condition: dict[str, Any] = (
                {"IfNoneMatch": "*"} if current is None else {"IfMatch": current.etag}
            )
            arguments = write_arguments(self.names, key, ttl)
            self._s3().put_object(
                Bucket=self.bucket, Key=name, Body=value, **arguments, **condition
            )
            return True

        return self._until_written("add", key, attempt)

    def delete(self, key: str) -> bool:
        """Remove ``key``; return whether it was present (and not expired)."""
        name = self.names.name(key)
        with self._errors("delete"):
            if self._live(name, body=False) is None:
                return False
            self._s3().delete_object(Bucket=self.bucket, Key=name)
        return True

    def delete_many(self, keys: Sequence[str]) -> int:
        """Remove ``keys`` (parallel HEADs, then DeleteObjects); return how many were present."""
        names = list(dict.fromkeys(self.names.name(key) for key in keys))

        def present(name: str) -> bool:
            with self._errors("delete_many"):
                return self._live(name, body=False) is not None

        live = [name for name, found in zip(names, self._map(present, names), strict=True) if found]
        self._delete_objects(live, "delete_many")
        return len(live)

    def touch(self, key: str, ttl: float | None = None) -> bool:
        """Give ``key`` a new ``ttl``: the object is copied onto itself with new metadata.

        The copy is conditional on the ETag just read, so that a concurrent ``set``
        is not undone (on endpoints that honour ``x-amz-copy-source-if-match``).
        """
        name = self.names.name(key)

        def attempt() -> bool:
            current = self._live(name, body=False)
            if current is None:
                return False
            self._s3().copy_object(
                Bucket=self.bucket,
                Key=name,
                CopySource={"Bucket": self.bucket, "Key": name},
                CopySourceIfMatch=current.etag,
                MetadataDirective="REPLACE",
                TaggingDirective="REPLACE",
                **write_arguments(self.names, key, ttl),
            )
            return True

        return self._until_written("touch", key, attempt)

    def incr(self, key: str, delta: int = 1) -> int:
        """Add ``delta`` to the integer under ``key``: read with the ETag, write back with If-Match.

        Raises:
            ValueError: when ``key`` is absent or expired.
            TypeError: when the value is not an integer.
            OverflowError: when the result leaves the signed 64-bit range (nothing written).
            BackendError: also when the write kept losing races with others (64 tries).
        """
        name = self.names.name(key)

        def attempt() -> int:
            current = self._live(name, body=True)
            if current is None or current.value is None:
                raise ValueError(f"key {key!r} not found")
            value = check_int64(decode_int(current.value) + delta)
            self._s3().put_object(
                Bucket=self.bucket,
                Key=name,
                Body=encode_int(value),
                Metadata=current.metadata,  # the same expiry: incr does not extend a ttl
                IfMatch=current.etag,
                **tagging(current.metadata),
            )
            return value

        return self._until_written("incr", key, attempt)

    def clear(self) -> None:
        """Remove every object of this namespace (and nothing deeper), 1000 per request."""
        with self._errors("clear"):
            names = list(self._names())
        self._delete_objects(names, "clear")

    def keys(self) -> Iterator[str]:
        """Iterate over this namespace's keys, listing a page of 1000 at a time.

        A listing carries no metadata, so entries that expired but were not yet
        deleted are listed too; a long key costs one HEAD to read it from its
        object's metadata (and one too long even for that is left out).
        """
        self._check_open()

        def scan() -> Iterator[str]:
            with self._errors("keys"):
                for name in self._names():
                    stored = self._fetch(name, body=False) if self.names.is_hashed(name) else None
                    key = self.names.key(name, stored.metadata if stored is not None else {})
                    if key is not None:
                        yield key

        return scan()

    def _close(self) -> None:
        with self._lock:
            pool, self._pool = self._pool, None
            client, self._client = self._client, None
        if pool is not None:
            pool.shutdown(wait=True)
        if client is not None:
            client.close()

    def __repr__(self) -> str:
        state = " closed" if self.closed else ""
        return (
            f"<S3Backend s3://{self.bucket}/{self.names.base} namespace={self.namespace!r}{state}>"
        )
