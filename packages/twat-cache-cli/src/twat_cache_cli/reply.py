"""How a command answers: text for people, or JSON for scripts (``--json``).

With ``--json`` a command writes exactly one JSON document to stdout (or, for a
stream such as ``keys``, one JSON document a line), errors included; without it,
text goes to stdout and notes and errors to stderr.
"""

from __future__ import annotations

import base64
import json
import math
import sys
from collections.abc import Mapping
from typing import IO, Any

__all__ = ["Reply", "jsonable"]


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
        stdout: The answer's stream (default: ``sys.stdout`` at the time of writing).
        stderr: Notes and errors (default: ``sys.stderr`` at the time of writing).
    """

    def __init__(
        self, *, json_mode: bool, stdout: IO[str] | None = None, stderr: IO[str] | None = None
    ) -> None:
        self.json_mode = json_mode
        self._stdout = stdout
        self._stderr = stderr
        self.answered = False

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
