"""``profile module:function [ARGS...]``: where a hit and a miss of a cached function spend time.

The function is called ``--repeat`` times as a miss (its entry invalidated
first) and as a hit; each part is timed on its own through the decorated
function's public helpers: ``cache_key`` (key building), ``cache.backend.get``
(the engine round trip), the cache's codec (serialization), ``__wrapped__``
(the function itself). "other" is what the whole call took beyond those parts
(tags, statistics, locks). Medians are shown, as a table with bars.
"""

from __future__ import annotations

import argparse
import asyncio
import inspect
import json
import statistics
import time
from collections.abc import Callable
from contextlib import nullcontext
from functools import partial
from typing import Any

from twat_cache.serializers.policy import build_codec

from twat_cache_cli.outcome import ExitCode, UsageError
from twat_cache_cli.reply import Reply
from twat_cache_cli.warm import _cache_environment, load_function

__all__ = ["cmd_profile", "parse_argument"]

BAR_WIDTH = 30


def parse_argument(text: str) -> Any:
    """An argument from the command line: JSON when it parses (``7``, ``[1]``), else the text.

    Example:
        >>> parse_argument("7"), parse_argument("seven")
        (7, 'seven')
    """
    try:
        return json.loads(text)
    except ValueError:
        return text


def _timer(call: Callable[[], Any]) -> Callable[[], tuple[float, Any]]:
    def timed() -> tuple[float, Any]:
        started = time.perf_counter()
        result = call()
        if inspect.isawaitable(result):
            result = asyncio.run(_awaited(result))
        return time.perf_counter() - started, result

    return timed


async def _awaited(value: Any) -> Any:
    return await value


def _median_ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1000


def cmd_profile(args: argparse.Namespace, reply: Reply) -> int:
    """Time the parts of a hit and a miss of ``module:function`` called with ARGS."""
    if args.repeat < 1:
        raise UsageError(f"--repeat {args.repeat}: give a number >= 1")
    values = [parse_argument(text) for text in args.arguments]
    with (
        _cache_environment(args.url, getattr(args, "namespace", None))
        if args.url
        else nullcontext()
    ):
        # a cached function's helpers (cache, cache_key, invalidate) are attributes of the function
        function: Any = load_function(args.function)
        cache = getattr(function, "cache", None)
        if cache is None:
            raise UsageError(f"{args.function} is not a cached function (no twat_cache decorator)")
        codec = (
            None
            if cache.capabilities.stores_objects
            else build_codec(cache.config, cache.capabilities)
        )
        parts: dict[str, list[float]] = {
            name: []
            for name in ("miss", "hit", "key", "function", "engine", "serialize", "deserialize")
        }
        for _ in range(args.repeat):
            function.invalidate(*values)
            elapsed, result = _timer(lambda: function(*values))()
            parts["miss"].append(elapsed)
            parts["hit"].append(_timer(lambda: function(*values))()[0])
            elapsed, key = _timer(lambda: function.cache_key(*values))()
            parts["key"].append(elapsed)
            parts["function"].append(_timer(lambda: function.__wrapped__(*values))()[0])
            parts["engine"].append(_timer(partial(cache.backend.get, key))()[0])
            if codec is not None:
                elapsed, data = _timer(partial(codec.dumps, result))()
                parts["serialize"].append(elapsed)
                parts["deserialize"].append(_timer(partial(codec.loads, data))()[0])
    medians = {name: _median_ms(samples) if samples else 0.0 for name, samples in parts.items()}
    hit = {
        "key building": medians["key"],
        "engine read": medians["engine"],
        "deserialization": medians["deserialize"],
    }
    hit["other"] = max(0.0, medians["hit"] - sum(hit.values()))
    miss = {
        "key building": medians["key"],
        "engine read + write (est. 2 reads)": 2 * medians["engine"],
        "function": medians["function"],
        "serialization": medians["serialize"],
    }
    miss["other"] = max(0.0, medians["miss"] - sum(miss.values()))
    data = {
        "function": args.function,
        "repeat": args.repeat,
        "hit_ms": medians["hit"],
        "miss_ms": medians["miss"],
        "hit": hit,
        "miss": miss,
    }
    longest = max([*hit.values(), *miss.values(), 1e-9])
    rows = [
        (call, part, f"{ms:.3f}", "█" * max(1, round(BAR_WIDTH * ms / longest)) if ms else "")
        for call, breakdown in (("hit", hit), ("miss", miss))
        for part, ms in breakdown.items()
    ]
    reply.table(
        data,
        ("CALL", "PART", "MS (MEDIAN)", ""),
        rows,
        title=f"{args.function}{tuple(values)!r}: hit {medians['hit']:.3f} ms, "
        f"miss {medians['miss']:.3f} ms ({args.repeat} runs)",
    )
    return ExitCode.OK
