"""``bench``: latency percentiles and throughput of get, set and get_many against one backend.

The benchmark writes its own keys (``twat-cache-cli:bench:<run>:<n>``, with a
TTL so that an interrupted run cleans up after itself) and deletes them at the
end; the namespace's other entries are never read or touched.
"""

from __future__ import annotations

import argparse
import secrets
import statistics
import time
from collections.abc import Callable
from functools import partial
from typing import Any

from twat_cache_cli.commands import open_cache, where
from twat_cache_cli.outcome import ExitCode, UsageError
from twat_cache_cli.reply import Reply

__all__ = ["cmd_bench", "summary"]

BENCH_TTL = 600.0  # seconds: the keys of an interrupted run expire by themselves


def summary(seconds: list[float], operations: int) -> dict[str, float]:
    """Percentiles (ms) of ``seconds`` and the throughput of ``operations`` done in their sum.

    Example:
        >>> summary([0.001] * 10, 10)["ops_per_s"]
        1000.0
    """
    if len(seconds) > 1:
        cuts = statistics.quantiles(seconds, n=100, method="inclusive")
        p50, p95, p99 = cuts[49], cuts[94], cuts[98]
    else:
        p50 = p95 = p99 = seconds[0]
    total = sum(seconds)
    return {
        "p50_ms": p50 * 1000,
        "p95_ms": p95 * 1000,
        "p99_ms": p99 * 1000,
        "max_ms": max(seconds) * 1000,
        "ops_per_s": round(operations / total, 1) if total > 0 else float("inf"),
    }


def _timed(call: Callable[[], Any]) -> float:
    started = time.perf_counter()
    call()
    return time.perf_counter() - started


def cmd_bench(args: argparse.Namespace, reply: Reply) -> int:
    """Time ``--ops`` sets and gets of ``--size``-byte values, and get_many of ``--batch`` keys."""
    if args.ops < 1 or args.size < 0 or args.batch < 1:
        raise UsageError("bench: --ops and --batch must be >= 1, --size >= 0")
    run = secrets.token_hex(4)
    keys = [f"twat-cache-cli:bench:{run}:{n}" for n in range(args.ops)]
    value = secrets.token_bytes(args.size)
    batches = [keys[i : i + args.batch] for i in range(0, len(keys), args.batch)]
    times: dict[str, list[float]] = {"set": [], "get": [], "get_many": []}
    with open_cache(args) as cache:
        place = where(cache)
        try:
            with reply.progress("bench", 2 * len(keys) + len(batches)) as advance:
                for key in keys:
                    times["set"].append(_timed(partial(cache.set, key, value, BENCH_TTL)))
                    advance(1)
                for key in keys:
                    times["get"].append(_timed(partial(cache.get, key)))
                    advance(1)
                for batch in batches:
                    times["get_many"].append(_timed(partial(cache.get_many, batch)))
                    advance(1)
        finally:
            cache.delete_many(keys)
    results = {
        "set": summary(times["set"], len(keys)),
        "get": summary(times["get"], len(keys)),
        "get_many": summary(times["get_many"], len(keys)),
    }
    data = {"url": place, "ops": args.ops, "size": args.size, "batch": args.batch, **results}
    rows = [
        (
            name if name != "get_many" else f"get_many ({args.batch} keys)",
            *(f"{result[field]:.3f}" for field in ("p50_ms", "p95_ms", "p99_ms", "max_ms")),
            f"{result['ops_per_s']:,.0f}",
        )
        for name, result in results.items()
    ]
    reply.table(
        data,
        ("OPERATION", "P50 MS", "P95 MS", "P99 MS", "MAX MS", "KEYS/S"),
        rows,
        title=f"{place}: {args.ops} keys, {args.size}-byte values",
    )
    return ExitCode.OK
