"""``report URL --html FILE``: one self-contained HTML page with charts of what a cache holds.

The charts are inline SVG drawn here (no script, no stylesheet or font from the
network), so the page opens anywhere, offline, and can be mailed as one file.
Like ``info``, the report reads entries as bytes (header and size), never values.
"""

from __future__ import annotations

import argparse
import datetime
import html
import math
import secrets
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from twat_cache.exceptions import CacheOperationError

from twat_cache_cli.commands import listed_keys, open_cache, raw_entries, where
from twat_cache_cli.entries import describe
from twat_cache_cli.lifetimes import AGE_NOTE, lifetimes, ttl_text
from twat_cache_cli.outcome import CommandError, ExitCode, UsageError
from twat_cache_cli.reply import Reply

__all__ = ["bar_chart", "cmd_report", "size_buckets"]

READ_BATCH = 500
WIDTH = 640
BAR = 22  # pixels per bar of a horizontal chart


def size_buckets(sizes: Sequence[int]) -> list[tuple[str, int]]:
    """Count entry sizes in powers-of-two buckets (``<64 B``, ``64 B-127 B``...).

    Example:
        >>> size_buckets([10, 100, 120, 5000])
        [('<64 B', 1), ('64-127 B', 2), ('4-8 KiB', 1)]
    """
    counts: Counter[int] = Counter(int(math.log2(size)) if size >= 64 else 5 for size in sizes)
    return [(_bucket_label(power), counts[power]) for power in sorted(counts)]


def _bucket_label(power: int) -> str:
    if power <= 5:
        return "<64 B"
    low = 2**power
    if low < 1024:
        return f"{low}-{2 * low - 1} B"
    for unit, scale in (("KiB", 2**10), ("MiB", 2**20), ("GiB", 2**30)):
        if low < scale * 1024 or unit == "GiB":
            return f"{low // scale}-{2 * low // scale} {unit}"
    return f"{low} B"  # pragma: no cover - the loop returns


def bar_chart(title: str, rows: Sequence[tuple[str, int]]) -> str:
    """Return a horizontal bar chart as an inline ``<svg>`` (labels left, counts right).

    Example:
        >>> "<svg" in bar_chart("formats", [("pickle", 3)])
        True
    """
    label_width, count_width = 220, 70
    height = BAR * max(len(rows), 1) + 8
    top = max((count for _, count in rows), default=0) or 1
    span = WIDTH - label_width - count_width
    parts = [
        f'<svg role="img" aria-label="{html.escape(title)}" width="{WIDTH}" height="{height}" '
        f'viewBox="0 0 {WIDTH} {height}" xmlns="http://www.w3.org/2000/svg">'
    ]
    for index, (label, count) in enumerate(rows):
        y = 4 + index * BAR
        width = max(1, round(span * count / top))
        parts += [
            f'<text x="{label_width - 8}" y="{y + 15}" text-anchor="end">'
            f"{html.escape(label[:32])}</text>",
            f'<rect x="{label_width}" y="{y + 2}" width="{width}" height="{BAR - 6}" rx="2"/>',
            f'<text x="{label_width + width + 6}" y="{y + 15}">{count}</text>',
        ]
    if not rows:
        parts.append('<text x="8" y="18">no entries</text>')
    parts.append("</svg>")
    return "".join(parts)


_STYLE = """
body { font: 14px system-ui, sans-serif; margin: 2em auto; max-width: 720px; color: #222; }
h1 { font-size: 1.4em; } h2 { font-size: 1.1em; margin-top: 2em; }
svg rect { fill: #3b7dd8; } svg text { font: 12px system-ui, sans-serif; fill: #222; }
table { border-collapse: collapse; } td, th { padding: 2px 12px 2px 0; text-align: left; }
.note { color: #666; }
"""


def _ttl_section(expiry: dict[str, Any] | None, place: str) -> str:
    if expiry is None:
        return f'<p class="note">Not shown: {html.escape(place)} does not report expiry times.</p>'
    rows = "".join(
        f"<tr><th>{title}</th><td>"
        + (
            ", ".join(
                f"{html.escape(str(entry['key'])[:60])} (in {ttl_text(entry['ttl'])})"
                for entry in expiry[field]
            )
            or "none (no entry expires)"
        )
        + "</td></tr>"
        for title, field in (("expire first", "expiring_first"), ("expire last", "expiring_last"))
    )
    return (
        bar_chart("remaining ttl", list(expiry["histogram"].items()))
        + f"<table>{rows}</table>"
        + f'<p class="note">Oldest and newest: {html.escape(AGE_NOTE)}.</p>'
    )


def cmd_report(args: argparse.Namespace, reply: Reply) -> int:
    """Write a self-contained HTML report of the namespace: sizes, formats, key groups."""
    if args.sample < 1:
        raise UsageError(f"--sample {args.sample}: give a number of entries >= 1")
    with open_cache(args) as cache:
        place = where(cache)
        if cache.capabilities.stores_objects:
            raise UsageError(f"{place} is an in-process engine: from the command line it is empty")
        try:
            keys = [key for key in listed_keys(cache) if isinstance(key, str)]
        except CacheOperationError as exc:
            raise CommandError(f"report needs a key listing: {exc}") from None
        sample = (
            keys if len(keys) <= args.sample else secrets.SystemRandom().sample(keys, args.sample)
        )
        sizes: list[int] = []
        formats: Counter[str] = Counter()
        for start in range(0, len(sample), READ_BATCH):
            for raw in raw_entries(cache, sample[start : start + READ_BATCH]).values():
                frame = describe(raw)
                sizes.append(frame.size)
                formats[frame.label] += 1
        expiry = lifetimes(cache, sample)
    groups = Counter(key.rsplit(":", 1)[0] if ":" in key else "(no prefix)" for key in keys)
    when = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    sampled = f" (a random sample of {len(sample)})" if len(sample) < len(keys) else ""
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>twat-cache report: {html.escape(place)}</title>
<style>{_STYLE}</style></head>
<body>
<h1>twat-cache report</h1>
<table>
<tr><th>cache</th><td>{html.escape(place)}</td></tr>
<tr><th>entries</th><td>{len(keys)}{html.escape(sampled)}</td></tr>
<tr><th>bytes read</th><td>{sum(sizes)}</td></tr>
<tr><th>written</th><td>{when}</td></tr>
</table>
<h2>Entry sizes</h2>
{bar_chart("entry sizes", size_buckets(sizes))}
<h2>Formats</h2>
{bar_chart("formats", formats.most_common())}
<h2>Keys per function (top 15)</h2>
{bar_chart("keys per function", groups.most_common(15))}
<h2>Remaining TTLs</h2>
{_ttl_section(expiry, place)}
</body></html>
"""
    Path(args.html).write_text(page, encoding="utf-8")
    reply.document(
        {"file": str(args.html), "entries": len(keys), "sampled": len(sample) < len(keys)},
        f"wrote {args.html}: {len(keys)} entries of {place}",
    )
    return ExitCode.OK
