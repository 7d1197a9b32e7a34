"""How a command answers: text for people, or JSON for scripts (``--json``).

With ``--json`` a command writes exactly one JSON document to stdout (or, for a
stream such as ``keys``, one JSON document a line), errors included; without it,
text goes to stdout and notes and errors to stderr. On a terminal (or with
``--color always``) tables and progress bars are drawn by rich, in colour; in a
pipe the same answer is plain aligned text that ``grep`` and ``cut`` can read.
"""

from __future__ import annotations

import base64
import json
import math
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import IO, Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

__all__ = ["COLOR_MODES", "Reply", "jsonable"]

COLOR_MODES = ("auto", "always", "never")


def jsonable(value: object) -> Any:
    """Return ``value`` as something :func:`json.dumps` writes without losing what it was.

    JSON values stay as they are; ``bytes`` become ``{"type": "bytes", "base64": ...}``;
    anything else (a set, an object, a NaN) ``{"type": NAME, "repr": ...}``.

    Example:
        >>> jsonable({"a": [1, None]}), jsonable(b"hi")
        ({'a': [1, None]}, {'type': 'bytes', 'base64': 'aGk='})
    """
    if value is None or isinstance(value, (str, bool, int)):
        return value
    if isinstance(value, float) and math.isfinite(value):
        return value
    if isinstance(value, (bytes, bytearray, memoryview)):
        return {"type": "bytes", "base64": base64.b64encode(bytes(value)).decode("ascii")}
    if isinstance(value, (list, tuple)):
        return [jsonable(item) for item in value]
    if isinstance(value, dict) and all(isinstance(key, str) for key in value):
        return {key: jsonable(item) for key, item in value.items()}
    return {"type": type(value).__name__, "repr": repr(value)}


class Reply:
    """Where a command's answer goes, and in which form.

    Args:
        json_mode: Answer in JSON (``--json``).
        color: ``auto`` (rich tables and colour when the stream is a terminal),
            ``always`` or ``never``.
        stdout: The answer's stream (default: ``sys.stdout`` at the time of writing).
        stderr: Notes and errors (default: ``sys.stderr`` at the time of writing).
    """

    def __init__(
        self,
        *,
        json_mode: bool,
        color: str = "auto",
        stdout: IO[str] | None = None,
        stderr: IO[str] | None = None,
    ) -> None:
        self.json_mode = json_mode
        self.color = color
        self._stdout = stdout
        self._stderr = stderr
        self.answered = False

    def _rich(self, stream: IO[str]) -> bool:
        if self.color != "auto":
            return self.color == "always"
        isatty: Callable[[], bool] | None = getattr(stream, "isatty", None)
        return bool(isatty and isatty())

    @property
    def rich(self) -> bool:
        """Whether the answer is drawn by rich (a terminal, or ``--color always``)."""
        return not self.json_mode and self._rich(self.stdout)

    def _console(self, stream: IO[str]) -> Console:
        # force_terminal: rich's own detection would undo --color always in a pipe
        return Console(file=stream, force_terminal=True, highlight=False, soft_wrap=False)

    def console(self) -> Console:
        """A rich console on stdout (for live displays that redraw in place)."""
        return self._console(self.stdout)

    @property
    def stdout(self) -> IO[str]:
        """The stream answers go to."""
        return self._stdout or sys.stdout

    @property
    def stderr(self) -> IO[str]:
        """The stream notes and errors go to."""
        return self._stderr or sys.stderr

    def _json(self, data: Mapping[str, Any]) -> None:
        self.stdout.write(json.dumps(jsonable(dict(data)), ensure_ascii=False) + "\n")
        self.stdout.flush()
        self.answered = True

    def document(self, data: Mapping[str, Any], text: str | None = None) -> None:
        """Answer with ``data`` (``--json``) or ``text`` (nothing when ``text`` is None)."""
        if self.json_mode:
            self._json(data)
        elif text is not None:
            self.stdout.write(text + "\n")
            self.answered = True

    def table(
        self,
        data: Mapping[str, Any],
        columns: Sequence[str],
        rows: Sequence[Sequence[str]],
        *,
        title: str | None = None,
    ) -> None:
        """Answer with a table: rich on a terminal, aligned columns in a pipe, ``data`` as JSON."""
        if self.json_mode:
            self._json(data)
            return
        if self.rich:
            table = Table(title=title, header_style="bold cyan", title_justify="left")
            for column in columns:
                table.add_column(column, overflow="fold")
            for row in rows:
                table.add_row(*row)
            self._console(self.stdout).print(table)
            self.answered = True
            return
        lines = [list(columns), *(list(row) for row in rows)]
        widths = [max(len(line[i]) for line in lines) for i in range(len(columns) - 1)]
        text = "\n".join(
            "  ".join([*(cell.ljust(widths[i]) for i, cell in enumerate(line[:-1])), line[-1]])
            for line in lines
        )
        self.document(data, (f"{title}\n" if title else "") + text)

    def fields(self, data: Mapping[str, Any], shown: Mapping[str, str]) -> None:
        """Answer with ``name: value`` lines (a two-column grid on a terminal)."""
        if self.json_mode:
            self._json(data)
            return
        if self.rich:
            grid = Table.grid(padding=(0, 2))
            grid.add_column(style="bold cyan")
            grid.add_column()
            for name, text in shown.items():
                grid.add_row(name, text)
            self._console(self.stdout).print(grid)
            self.answered = True
            return
        width = max(map(len, shown)) + 1
        self.document(
            data, "\n".join(f"{name + ':':<{width}} {text}" for name, text in shown.items())
        )

    @contextmanager
    def progress(self, label: str, total: int | None) -> Iterator[Callable[[int], None]]:
        """A progress bar with ETA on stderr when it is a terminal; yields ``advance(n)``.

        Under ``--json`` or in a pipe nothing is drawn (the answer says how it went).
        """
        if self.json_mode or not self._rich(self.stderr):
            yield lambda n: None
            return
        bar = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("eta"),
            TimeRemainingColumn(),
            console=self._console(self.stderr),
            transient=False,
        )
        with bar:
            task = bar.add_task(label, total=total)
            yield lambda n: bar.advance(task, n)

    def item(self, data: Mapping[str, Any], text: str) -> None:
        """One element of a stream: a JSON line, or a line of text."""
        self.document(data, text)

    def note(self, text: str) -> None:
        """A remark for the person at the terminal (stderr, also under ``--json``)."""
        self.stderr.write(f"twat-cache: {text}\n")

    def error(
        self, code: int, kind: str, message: str, details: Mapping[str, Any] | None = None
    ) -> None:
        """Report a failure: one line on stderr, and a JSON document on stdout under ``--json``.

        Args:
            code: The exit code.
            kind: The exit code's name (``not_found``, ``unreachable``...).
            message: One line.
            details: More fields of the JSON document (what was done before the failure).
        """
        self.stderr.write(f"twat-cache: error: {message}\n")
        if self.json_mode:
            error = {"code": int(code), "kind": kind, "message": message}
            self._json({"ok": False, "error": error, **(details or {})})
