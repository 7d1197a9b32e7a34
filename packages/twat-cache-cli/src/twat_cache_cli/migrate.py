"""``migrate SRC DST``: copy a namespace between any two engines, resumably, then verify.

Entries are copied as the bytes they are stored as (format header, tag versions,
signature and all), so nothing is decoded or unpickled and a signed entry stays
signed. The tag counters are copied too (without expiry), so that entries keep
their tags. Each batch written is recorded in a checkpoint file; a run that was
interrupted resumes where it stopped. The checkpoint is removed only after the
verification pass (every copied entry present at DST, a sample compared byte for
byte) has succeeded, and ``--move`` deletes from SRC only after that.

Each copy keeps the remaining lifetime of its entry, read from SRC's engine
(``Capabilities.reports_expiry``) when the batch is copied, rounded up to the
second so that the entries of a batch share a few ``set_many`` calls. ``--ttl``
gives every copy that lifetime instead; a SRC that cannot tell (aiocache's
memcached) makes the copies live for ``--ttl``, default DST's default TTL.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import secrets
import time
from collections import defaultdict
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

from twat_cache import Cache
from twat_cache.constants import TAG_PREFIX
from twat_cache.exceptions import BackendError
from twat_cache.protocols import NEVER_EXPIRES
from twat_cache.urls import redact

from twat_cache_cli.commands import open_cache, where
from twat_cache_cli.outcome import CommandError, ExitCode, UsageError
from twat_cache_cli.reply import Reply

__all__ = ["Checkpoint", "cmd_migrate"]

T = TypeVar("T")


class Checkpoint:
    """The keys already copied by a migration, one JSON string a line, appended per batch.

    Args:
        path: The checkpoint file.
        header: What the migration is (source, destination, namespace); a
            checkpoint written for another migration is refused.
    """

    def __init__(self, path: Path, header: dict[str, str]) -> None:
        self.path = path
        self.header = header

    def load(self) -> set[str]:
        """Return the keys copied by earlier runs (empty when there is no checkpoint).

        Raises:
            UsageError: when the file belongs to another migration.
        """
        if not self.path.exists():
            return set()
        lines = self.path.read_text(encoding="utf-8").splitlines()
        if not lines or json.loads(lines[0]) != self.header:
            raise UsageError(
                f"{self.path} is the checkpoint of another migration; remove it or give "
                "another --checkpoint"
            )
        done: set[str] = set()
        for line in lines[1:]:
            try:
                done.add(json.loads(line))
            except ValueError:  # the last line of a run killed while writing it
                break
        return done

    def add(self, keys: Sequence[str]) -> None:
        """Record ``keys`` as copied (flushed to disk before the next batch starts)."""
        new = not self.path.exists()
        with self.path.open("a", encoding="utf-8") as file:
            if new:
                file.write(json.dumps(self.header) + "\n")
            file.writelines(json.dumps(key) + "\n" for key in keys)
            file.flush()
            os.fsync(file.fileno())

    def remove(self) -> None:
        """Delete the checkpoint (the migration is complete and verified)."""
        self.path.unlink(missing_ok=True)


def _engine(cache: Cache, what: str, call: Callable[..., T], *args: Any) -> T:
    """Call the engine directly; any client exception becomes a BackendError naming the cache."""
    try:
        return call(*args)
    except Exception as exc:
        raise BackendError(f"{what} {where(cache)}: {exc}") from exc


def _batches(keys: Sequence[str], size: int) -> Iterator[Sequence[str]]:
    for start in range(0, len(keys), size):
        yield keys[start : start + size]


def _checkpoint_path(args: argparse.Namespace, header: dict[str, str]) -> Path:
    if args.checkpoint is not None:
        return Path(args.checkpoint)
    digest = hashlib.sha256(json.dumps(header, sort_keys=True).encode()).hexdigest()[:12]
    return Path(f".twat-cache-migrate-{digest}.checkpoint")


def by_remaining_ttl(
    entries: Mapping[str, bytes], expiries: Mapping[str, float], now: float
) -> dict[float | None, dict[str, bytes]]:
    """Group ``entries`` by their remaining ttl in whole seconds, rounded up (None: no expiry).

    Entries that expired since they were read (absent from ``expiries``, or due
    by ``now``) are left out.

    Example:
        >>> by_remaining_ttl({"a": b"1", "b": b"2"}, {"a": 100.2, "b": float("inf")}, 90.0)
        {11: {'a': b'1'}, None: {'b': b'2'}}
    """
    groups: dict[float | None, dict[str, bytes]] = defaultdict(dict)
    for key, raw in entries.items():
        expires = expiries.get(key)
        if expires is None or expires <= now:
            continue
        groups[None if expires == NEVER_EXPIRES else math.ceil(expires - now)][key] = raw
    return dict(groups)


def _copy(
    source: Cache,
    target: Cache,
    keys: Sequence[str],
    ttl: float | None,
    checkpoint: Checkpoint,
    *,
    keep_ttl: bool,
) -> int:
    """Copy one batch; return how many entries were found at the source."""
    found: dict[str, bytes] = dict(_engine(source, "reading", source.backend.get_many, keys))
    counters = {key: raw for key, raw in found.items() if key.startswith(TAG_PREFIX)}
    entries = {key: raw for key, raw in found.items() if key not in counters}
    if counters:  # tag counters never expire: an entry outliving its counter would be a miss
        _engine(target, "writing", target.backend.set_many, counters, None)
    if entries and keep_ttl:
        engine: Any = source.backend  # capabilities.reports_expiry: it has expiries()
        expiries = _engine(source, "reading expiry times", engine.expiries, list(entries))
        for left, group in by_remaining_ttl(entries, expiries, time.time()).items():
            _engine(target, "writing", target.backend.set_many, group, left)
    elif entries:
        _engine(target, "writing", target.backend.set_many, entries, ttl)
    checkpoint.add(keys)
    return len(found)


def _verify(
    source: Cache, target: Cache, keys: Sequence[str], batch: int, sample: int
) -> dict[str, int]:
    """Count the source's entries present at the target; compare a sample byte for byte."""
    checked = set(secrets.SystemRandom().sample(list(keys), min(sample, len(keys))))
    counts = {"source": 0, "present": 0, "compared": 0, "different": 0}
    for part in _batches(keys, batch):
        there: dict[str, bytes] = dict(_engine(source, "reading", source.backend.get_many, part))
        here: dict[str, bytes] = dict(_engine(target, "reading", target.backend.get_many, part))
        counts["source"] += len(there)
        counts["present"] += sum(1 for key in there if key in here)
        for key in checked.intersection(there):
            counts["compared"] += 1
            counts["different"] += here.get(key) != there[key]
    return counts


def cmd_migrate(args: argparse.Namespace, reply: Reply) -> int:
    """Copy every entry of the namespace from SRC to DST in batches; resumable; verified."""
    if args.batch < 1 or args.verify_sample < 0:
        raise UsageError("migrate: --batch must be >= 1 and --verify-sample >= 0")
    with open_cache(args, args.src) as source, open_cache(args, args.dst) as target:
        for cache in (source, target):
            if cache.capabilities.stores_objects:
                raise UsageError(
                    f"{where(cache)} is an in-process engine: from the command line it is empty"
                )
        header = {
            "src": redact(args.src),
            "dst": redact(args.dst),
            "namespace": source.config.namespace,
        }
        checkpoint = Checkpoint(_checkpoint_path(args, header), header)
        done = checkpoint.load()
        listed = _engine(source, "listing", lambda: list(source.backend.keys()))
        keys = sorted(key for key in listed if isinstance(key, str))
        todo = [key for key in keys if key not in done]
        keep_ttl = args.ttl is None and source.capabilities.reports_expiry
        ttl = args.ttl if args.ttl is not None else target.config.ttl
        ttl_text = "kept" if keep_ttl else "none" if ttl is None else f"{ttl:g} s"
        data: dict[str, Any] = {
            **header,
            "entries": len(keys),
            "already_copied": len(keys) - len(todo),
            "to_copy": len(todo),
            "ttl": "kept" if keep_ttl else ttl,
            "checkpoint": str(checkpoint.path),
            "dry_run": args.dry_run,
        }
        if args.dry_run:
            reply.document(
                data,
                f"would copy {len(todo)} of {len(keys)} entries from {where(source)} "
                f"to {where(target)} (ttl: {ttl_text}; "
                f"{len(keys) - len(todo)} already copied by an interrupted run)",
            )
            return ExitCode.OK
        copied = 0
        with reply.progress("migrate", len(keys)) as advance:
            advance(len(keys) - len(todo))
            for batch in _batches(todo, args.batch):
                copied += _copy(source, target, batch, ttl, checkpoint, keep_ttl=keep_ttl)
                advance(len(batch))
        verification = _verify(source, target, keys, args.batch, args.verify_sample)
        data.update(copied=copied, verification=verification)
        missing = verification["source"] - verification["present"]
        if missing or verification["different"]:
            raise CommandError(
                f"verification failed: {missing} entries missing at {where(target)}, "
                f"{verification['different']} of {verification['compared']} compared differ; "
                f"the checkpoint {checkpoint.path} is kept: run migrate again to resume",
                **data,
            )
        moved = 0
        if args.move:
            for batch in _batches(keys, args.batch):
                moved += _engine(source, "deleting", source.backend.delete_many, list(batch))
            data["moved"] = moved
        checkpoint.remove()
    reply.document(
        data,
        f"copied {copied} entries ({data['already_copied']} before an interruption) from "
        f"{header['src']} to {header['dst']} (ttl: {ttl_text}); verified: "
        f"{verification['present']} of {verification['source']} present, "
        f"{verification['compared']} compared byte for byte"
        + (f"; deleted {moved} from the source" if args.move else ""),
    )
    return ExitCode.OK
