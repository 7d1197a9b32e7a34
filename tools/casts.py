"""Records the terminal sessions of docs/user-guide/cli.md as asciinema v2 casts, from real runs.

    bash tools/casts                        rewrite docs/casts/*.cast
    bash tools/casts --out DIR [NAME...]    write them (or some) to DIR instead

Every command really runs (the CLI against a temporary disk cache and a Redis
server started by tools/twat_cache_harness; the quickstart example as
``tools/demo`` runs it), and its output is what the cast shows. Only what
changes from run to run is written in a fixed form: the temporary folder is shown
as /tmp/demo, the server's port as 6379, and the timing of the cast is synthetic
(typing and pauses at a fixed pace) so that a cast changes only when the output
does. The CLI's tests run this script and compare the casts with the committed
ones (numbers aside: timings, sizes and versions vary by machine).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGET = ROOT / "docs" / "casts"
WIDTH, HEIGHT = 100, 30
TYPING = 0.03  # seconds per typed character
PAUSE = 1.2  # seconds after each command's output
SHOWN_FOLDER = "/tmp/demo"
SHOWN_REDIS = "redis://127.0.0.1:6379/0"


class Session:
    """One cast: commands typed at a prompt, each followed by what it printed."""

    def __init__(self, title: str, replacements: dict[str, str]) -> None:
        self.title = title
        self.replacements = replacements
        self.clock = 0.5
        self.events: list[tuple[float, str, str]] = []

    def _shown(self, text: str) -> str:
        for real, shown in self.replacements.items():
            text = text.replace(real, shown)
        return text

    def _out(self, text: str, delay: float) -> None:
        self.clock = round(self.clock + delay, 3)
        self.events.append((self.clock, "o", text))

    def _type(self, shown: str) -> None:
        self._out("\u001b[1;32m$\u001b[0m ", 0.2)
        for char in self._shown(shown):
            self._out(char, TYPING)
        self._out("\r\n", 0.3)

    def export(self, name: str, value: str, env: dict[str, str]) -> None:
        """Type ``export NAME=value`` and set it for the commands that follow, as a shell does."""
        self._type(f"export {name}={value}")
        env[name] = value

    def run(self, shown: str, argv: list[str], env: dict[str, str], cwd: Path) -> None:
        """Type ``shown`` at the prompt, run ``argv``, and record its output."""
        self._type(shown)
        result = subprocess.run(
            argv,
            capture_output=True,
            text=True,
            env=env,
            cwd=cwd,
            timeout=300,
            check=False,
        )
        output = self._shown(result.stdout + result.stderr)
        for line in output.splitlines():
            self._out(line + "\r\n", 0.05)
        self.clock = round(self.clock + PAUSE, 3)

    def cast(self) -> str:
        """The asciinema v2 file: a header line, then one JSON event a line."""
        header = {
            "version": 2,
            "width": WIDTH,
            "height": HEIGHT,
            "title": self.title,
            "env": {"SHELL": "/bin/bash", "TERM": "xterm-256color"},
        }
        lines = [json.dumps(header)]
        lines += [json.dumps([time, kind, text]) for time, kind, text in self.events]
        return "\n".join(lines) + "\n"


def _environment() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TWAT_CACHE_")}
    # colours as on a terminal, at the cast's width
    env.update(COLUMNS=str(WIDTH), LINES=str(HEIGHT), FORCE_COLOR="1", TERM="xterm-256color")
    env.pop("NO_COLOR", None)
    return env


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "twat_cache_cli", *args]


@contextmanager
def _redis() -> Iterator[str]:
    sys.path.insert(0, str(ROOT / "tools"))
    from twat_cache_harness import RedisServer  # the test suite's own server, on a free port

    with RedisServer() as server:
        yield server.url


def quickstart(folder: Path, env: dict[str, str]) -> Session:
    """``bash tools/demo``: the quickstart example, no server needed."""
    session = Session("twat-cache: the quickstart (bash tools/demo)", {})
    session.run("bash tools/demo", [sys.executable, "examples/quickstart.py"], env, ROOT)
    return session


def tour(folder: Path, env: dict[str, str]) -> Session:
    """The CLI on a disk cache: write, read, list, inspect."""
    session = Session("twat-cache: a tour of the command line", {str(folder): SHOWN_FOLDER})
    session.export("TWAT_CACHE_URL", f"disk://{folder}", env)
    session.export("TWAT_CACHE_SERIALIZER", "json", env)
    steps = [
        ("set", "greeting", "hello", "--ttl", "3600"),
        ("set", "app.users:1", '{"name": "Ada"}', "--json", "--ttl", "86400"),
        ("set", "hits", "41", "--json"),
        ("incr", "hits"),
        ("get", "app.users:1"),
        ("get", "missing"),
        ("keys",),
        ("info",),
        ("get", "greeting", "--json"),
    ]
    for step in steps:
        shown = " ".join(_quoted(part) for part in step)
        session.run(f"twat-cache {shown}", _cli(*step), env, folder)
    return session


def migrate(folder: Path, env: dict[str, str]) -> Session:
    """A disk cache copied to Redis, each entry with its remaining TTL."""
    url = f"disk://{folder}"
    with _redis() as redis_url:
        session = Session(
            "twat-cache: migrate a disk cache to Redis",
            {str(folder): SHOWN_FOLDER, redis_url: SHOWN_REDIS},
        )
        for n in range(3):
            subprocess.run(
                # values of distinct sizes: info lists the largest first, whatever the key order
                _cli("set", url, f"report:{n}", "x" * 10 * (n + 1), "--ttl", str(3600 * (n + 1))),
                env=env,
                check=True,
                capture_output=True,
            )
        steps = [
            ("keys", url),
            ("migrate", url, redis_url, "--dry-run"),
            ("migrate", url, redis_url),
            ("info", redis_url),
        ]
        for step in steps:
            shown = " ".join(_quoted(part) for part in step)
            session.run(f"twat-cache {shown}", _cli(*step), env, folder)
    return session


SESSIONS: dict[str, Callable[[Path, dict[str, str]], Session]] = {
    "quickstart": quickstart,
    "cli-tour": tour,
    "migrate": migrate,
}


def _quoted(part: str) -> str:
    return f"'{part}'" if any(c in part for c in ' "{}') else part


def record(out: Path, names: list[str] | None = None) -> list[Path]:
    """Record the sessions (all by default) into ``out``; return the files written."""
    out.mkdir(parents=True, exist_ok=True)
    env = _environment()
    written = []
    for name, make in SESSIONS.items():
        if names and name not in names:
            continue
        with tempfile.TemporaryDirectory(prefix="twat-casts-") as folder:
            session = make(Path(folder), dict(env))
        path = out / f"{name}.cast"
        path.write_text(session.cast(), encoding="utf-8")
        written.append(path)
    return written


def main() -> int:
    options = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    options.add_argument("--out", type=Path, default=TARGET, help="folder of the .cast files")
    options.add_argument("names", nargs="*", help="sessions to record (default: all)")
    args = options.parse_args()
    for path in record(args.out, args.names):
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
