"""``stats`` and ``top``: the figures every process published (``publish_stats=SECONDS``).

Each process writes its own figures to the shared backend;
:func:`twat_cache.stats.read_published` reads them all back with their total.
``stats URL`` shows them once under the engine and settings; ``--watch`` (and
``top``, busiest process first) redraws them every ``--interval`` seconds: in
place with rich on a terminal, one table (or, with ``--json``, one JSON line)
per refresh in a pipe, so that a script can follow them.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Mapping
from typing import Any

from rich.console import Group
from rich.live import Live
from rich.table import Table
from rich.text import Text
from twat_cache import Cache
from twat_cache.exceptions import CacheOperationError
from twat_cache.stats import read_published

from twat_cache_cli.commands import open_cache, stats_fields
from twat_cache_cli.outcome import ExitCode
from twat_cache_cli.reply import Reply

__all__ = ["COLUMNS", "cmd_stats", "cmd_top", "published", "rows"]

COLUMNS = (
    "process", "hits", "misses", "hit ratio", "sets", "errors",
    "read p50 ms", "read p99 ms", "compute p50 ms", "time saved s",
)  # fmt: skip


def published(cache: Cache) -> dict[str, Any] | None:
    """Every process's published figures and ``total``; None when the engine cannot list keys."""
    if not cache.capabilities.lists_keys:
        return None
    try:
        return read_published(cache)
    except (CacheOperationError, NotImplementedError):  # it says it lists keys, but cannot
        return None


def _busy(figures: Mapping[str, Any]) -> int:
    return int(figures.get("hits", 0)) + int(figures.get("misses", 0))


def _ms(value: object) -> str:
    return f"{value:.3f}" if isinstance(value, (int, float)) else "-"


def rows(figures: Mapping[str, Any], *, busiest_first: bool = False) -> list[list[str]]:
    """One row a process (by name, or busiest first), then the total."""
    processes = [(name, f) for name, f in figures.items() if name != "total"]
    if busiest_first:
        processes.sort(key=lambda item: (-_busy(item[1]), item[0]))
    else:
        processes.sort()
    result = []
    for name, f in [*processes, ("total", figures.get("total", {}))]:
        result.append(
            [
                name,
                str(f.get("hits", 0)),
                str(f.get("misses", 0)),
                f"{float(f.get('hit_ratio', 0.0)):.1%}",
                str(f.get("sets", 0)),
                str(f.get("errors", 0)),
                _ms(f.get("read_p50_ms")),
                _ms(f.get("read_p99_ms")),
                _ms(f.get("compute_p50_ms")),
                f"{float(f.get('time_saved_s', 0.0)):.3f}",
            ]
        )
    return result


def _title(cache: Cache, figures: Mapping[str, Any]) -> str:
    count = len(figures) - 1
    return f"published stats of namespace {cache.config.namespace!r}: {count} process(es)"


def _rich_table(title: str, body: list[list[str]]) -> Table:
    table = Table(title=title, header_style="bold cyan", title_justify="left")
    for column in COLUMNS:
        table.add_column(column, justify="left" if column == "process" else "right")
    for row in body:
        table.add_row(*row, style="bold" if row[0] == "total" else None)
    return table


def cmd_stats(args: argparse.Namespace, reply: Reply) -> int:
    """The engine, settings and keys, and every process's published figures (``--watch``: live)."""
    if args.watch:
        return _watch(args, reply, busiest_first=False)
    with open_cache(args) as cache:
        data, lines = stats_fields(cache)
        figures = published(cache)
        data["published"] = figures
        reply.fields(data, lines)
        if figures is not None and len(figures) > 1 and not reply.json_mode:
            reply.stdout.write("\n")
            reply.table({}, COLUMNS, rows(figures), title=_title(cache, figures))
    return ExitCode.OK


def cmd_top(args: argparse.Namespace, reply: Reply) -> int:
    """Every process's published figures, busiest first, refreshed every ``--interval`` s."""
    return _watch(args, reply, busiest_first=True)


def _watch(args: argparse.Namespace, reply: Reply, *, busiest_first: bool) -> int:
    with open_cache(args) as cache:
        refreshes = 0

        def more() -> bool:
            return args.count is None or refreshes < args.count

        def snapshot() -> tuple[dict[str, Any], str, list[list[str]]]:
            figures = published(cache)
            if figures is None:
                raise CacheOperationError(
                    f"the {cache.config.engine} engine cannot list its keys, so published "
                    "stats cannot be found"
                )
            return figures, _title(cache, figures), rows(figures, busiest_first=busiest_first)

        def pause() -> None:
            if more():
                time.sleep(args.interval)

        if reply.rich:
            with Live(console=reply.console(), auto_refresh=False, transient=False) as live:
                while more():
                    figures, title, body = snapshot()
                    refreshes += 1
                    stamp = Text(time.strftime("%H:%M:%S") + f"  refresh #{refreshes}", "dim")
                    live.update(Group(_rich_table(title, body), stamp), refresh=True)
                    pause()
            return ExitCode.OK
        while more():
            figures, title, body = snapshot()
            refreshes += 1
            if refreshes > 1 and not reply.json_mode:
                reply.stdout.write("\n")  # a blank line between the tables of a pipe
            data = {"refresh": refreshes, "time": time.time(), "published": figures}
            reply.table(data, COLUMNS, body, title=title)
            reply.stdout.flush()
            pause()
    return ExitCode.OK
