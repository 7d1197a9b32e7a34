"""The ``twat-cache`` command line: argument parsing, logging, and errors as exit codes."""

from __future__ import annotations

import argparse
import logging
import os
import sys
import traceback
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, NoReturn

from twat_cache.config import SERIALIZERS
from twat_cache.exceptions import TwatCacheError
from twat_cache.urls import redact_text

from twat_cache_cli.bench import cmd_bench
from twat_cache_cli.commands import COMMANDS, URL_VARIABLE, Command, resolve_url
from twat_cache_cli.completion import SHELLS, completion_script
from twat_cache_cli.inspection import cmd_doctor, cmd_info
from twat_cache_cli.live import cmd_stats, cmd_top
from twat_cache_cli.migrate import cmd_migrate
from twat_cache_cli.outcome import CommandError, ExitCode, UsageError, classify
from twat_cache_cli.profile import cmd_profile
from twat_cache_cli.reply import COLOR_MODES, Reply
from twat_cache_cli.report import cmd_report
from twat_cache_cli.warm import cmd_warm

__all__ = ["EXIT_CODE_MEANINGS", "build_parser", "main"]

LOGGER_NAME = "twat_cache"

EXIT_CODE_MEANINGS = {
    ExitCode.OK: "done",
    ExitCode.FAILED: "the backend failed or refused (not an integer, cannot list keys, corrupt)",
    ExitCode.USAGE: "bad command line (a missing argument is named)",
    ExitCode.ENGINE_MISSING: "the URL's engine is not installed or unknown (says what to install)",
    ExitCode.NOT_FOUND: "get, delete, incr: the key is absent",
    ExitCode.UNREACHABLE: "the server cannot be reached (refused, timed out, unknown host)",
    ExitCode.CONFIG: "bad URL, option or TWAT_CACHE_* variable",
    ExitCode.REFUSED: "refused something unsafe: clear without --yes, get of unsigned pickle",
    ExitCode.INTERRUPTED: "interrupted (Ctrl-C)",
}


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are raised, so that ``--json`` can report them too."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{self.prog.removeprefix('twat-cache ')}: {message}")


_EXIT_TABLE = "\n".join(
    f"  {int(code):<3} {code.name.lower():<16}{meaning}"
    for code, meaning in EXIT_CODE_MEANINGS.items()
)

_EPILOG = f"""\
The URL may be left out when ${URL_VARIABLE} is set. Like the library, the command
reads the other TWAT_CACHE_* variables (TWAT_CACHE_NAMESPACE, TWAT_CACHE_SERIALIZER,
TWAT_CACHE_TTL...); options on the command line win over them.

--json: every command writes one JSON document to stdout (keys: one a line), errors too:
  {{"ok": false, "error": {{"code": 4, "kind": "not_found", "message": "..."}}}}

exit codes:
{_EXIT_TABLE}
"""


def _version_text() -> str:
    from twat_cache import __version__ as core_version

    from twat_cache_cli import __version__

    return f"twat-cache-cli {__version__} (twat-cache {core_version})"


def build_parser() -> argparse.ArgumentParser:
    """Return the parser of ``twat-cache`` and its commands.

    The cache options (``--namespace``, ``--serializer``, ``--secret-env``,
    ``--debug``) are accepted before and after the command name.
    """
    common = _Parser(add_help=False)
    group = common.add_argument_group("cache options (before or after the command)")

    def option(*flags: str, **settings: Any) -> None:
        # SUPPRESS: an option not given after the command keeps the value given before it
        group.add_argument(*flags, default=argparse.SUPPRESS, **settings)

    option(
        "-n",
        "--namespace",
        metavar="NS",
        help="the namespace to work in (default: $TWAT_CACHE_NAMESPACE, else 'default')",
    )
    option(
        "--serializer",
        choices=SERIALIZERS,
        help="how values are encoded; must match the writers' (default: pickle)",
    )
    option(
        "--secret-env",
        metavar="VAR",
        help="read the HMAC signing secret from environment variable VAR "
        "(it is never taken from the command line, where ps would show it)",
    )
    option(
        "--debug",
        action="store_true",
        help="log what the twat_cache library does to stderr, and show tracebacks",
    )
    option(
        "--json",
        action="store_true",
        help="answer with JSON on stdout (errors too); set: VALUE is JSON",
    )
    option(
        "--color",
        choices=COLOR_MODES,
        help="tables, colour and progress bars: on a terminal (auto, the default), always, never",
    )

    parser = _Parser(
        prog="twat-cache",
        description="Inspect and operate a twat-cache cache, by URL.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        parents=[common],
    )
    parser.add_argument("--version", action="version", version=_version_text())
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(
        name: str, summary: str, *positionals: tuple[str, str, str], url: bool = True
    ) -> argparse.ArgumentParser:
        """Add a command; ``positionals`` are (dest, METAVAR, help), the last may be ``KEY...``."""
        sub = commands.add_parser(name, help=summary, description=summary, parents=[common])
        if url:
            sub.add_argument(
                "url", nargs="?", metavar="URL", help=f"the cache URL (default: ${URL_VARIABLE})"
            )
        for dest, metavar, text in positionals:
            many = metavar.endswith("...")
            sub.add_argument(
                dest, metavar=metavar.removesuffix("..."), nargs="+" if many else None, help=text
            )
        sub.set_defaults(positionals=tuple((dest, metavar) for dest, metavar, _ in positionals))
        return sub

    engines = command(
        "engines",
        "which engine serves each URL scheme here, from which package, and what to install",
        url=False,
    )
    engines.add_argument(
        "--installed", action="store_true", help="leave out the engines that are not installed"
    )
    command("ping", "write, read back and delete a private key; print the latency of each")
    get = command("get", "print the value under KEY", ("key", "KEY", "the key to read"))
    get.add_argument(
        "--raw",
        action="store_true",
        help="write the stored bytes as they are (--json: base64 and the format header)",
    )
    get.add_argument(
        "--unsafe-unpickle",
        action="store_true",
        help="unpickle an unsigned pickle entry from shared storage (runs any code its "
        "writer put in it: only when you trust every writer)",
    )
    set_ = command(
        "set",
        "store VALUE under KEY",
        ("key", "KEY", "the key to write"),
        ("value", "VALUE", "the value: a string, or JSON with --json (42 is then an integer)"),
    )
    set_.add_argument(
        "--ttl",
        type=float,
        metavar="S",
        help="seconds to live (default: $TWAT_CACHE_TTL, else no expiry)",
    )
    command("delete", "remove each KEY", ("key", "KEY...", "the keys to remove"))
    incr = command(
        "incr",
        "add N to the integer under KEY atomically; print the result",
        ("key", "KEY", "the counter's key"),
    )
    incr.add_argument("--by", type=int, default=1, metavar="N", help="the increment (default: 1)")
    keys = command("keys", "list the namespace's live keys, one a line")
    keys.add_argument(
        "--pattern", metavar="GLOB", help="only the keys matching GLOB (fnmatch: *, ?, [abc])"
    )
    keys.add_argument(
        "--limit",
        type=int,
        default=1000,
        metavar="N",
        help="list at most N keys; 0: all (default: 1000)",
    )
    command(
        "invalidate-tag",
        "make every entry written under any TAG a miss, in every process",
        ("tag", "TAG...", "the tags to invalidate"),
    )
    clear = command("clear", "remove every entry of the namespace (nothing outside it)")
    clear.add_argument("--yes", action="store_true", help="really clear the namespace")
    stats = command(
        "stats",
        "print the engine, namespace, settings, number of keys and every process's published "
        "figures (publish_stats=SECONDS) with their total",
    )
    stats.add_argument(
        "--watch", action="store_true", help="refresh the published figures every --interval s"
    )
    _add_refresh_options(stats)
    top = command("top", "every process's published figures, busiest first, refreshed live")
    _add_refresh_options(top)
    _add_operator_commands(command)
    completion = command(
        "completion",
        'print the shell completion script: eval "$(twat-cache completion bash)"',
        url=False,
    )
    completion.add_argument("shell", choices=SHELLS, metavar="SHELL", help="bash or zsh")
    return parser


def _add_refresh_options(sub: argparse.ArgumentParser) -> None:
    """``--interval`` and ``--count`` of ``stats --watch`` and ``top``."""
    sub.add_argument(
        "--interval",
        type=_positive_float,
        default=2.0,
        metavar="S",
        help="seconds between refreshes (default: 2)",
    )
    sub.add_argument(
        "--count",
        type=_positive_int,
        metavar="N",
        help="stop after N refreshes (default: until Ctrl-C)",
    )


def _positive_float(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"{text}: not a positive number")
    return value


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text}: not a positive integer")
    return value


def _add_operator_commands(command: Callable[..., argparse.ArgumentParser]) -> None:
    """``info``, ``doctor``, ``bench`` and ``migrate``: added by ``build_parser``."""
    info = command(
        "info",
        "engine, settings and what the namespace holds: entries, bytes, formats, largest",
    )
    info.add_argument(
        "--sample",
        type=int,
        default=10_000,
        metavar="N",
        help="read at most N entries (at random) for sizes and formats (default: 10000)",
    )
    doctor = command(
        "doctor",
        "check installed engines and, given a URL, the connection and risky settings",
    )
    doctor.set_defaults(optional_url=True)
    bench = command("bench", "latency percentiles and throughput of get, set and get_many")
    bench.add_argument("--ops", type=int, default=1000, metavar="N", help="keys (default 1000)")
    bench.add_argument(
        "--size", type=int, default=100, metavar="BYTES", help="value size (default 100)"
    )
    bench.add_argument(
        "--batch", type=int, default=100, metavar="N", help="keys per get_many (default 100)"
    )
    warm = command(
        "warm",
        "fill the cache: warm module:function with each line of --args-file (JSON lines)",
        ("function", "FUNCTION", "the decorated function, as module:function"),
    )
    warm.add_argument(
        "--args-file",
        required=True,
        metavar="FILE",
        help='one call a line: [positional, ...], {"args": [...], "kwargs": {...}}, or one value',
    )
    warm.add_argument(
        "--concurrency", type=int, default=4, metavar="N", help="calls at a time (default 4)"
    )
    warm.add_argument(
        "--batch-size",
        type=int,
        metavar="N",
        help="ids per call of a batch=True function (default 100)",
    )
    profile = command(
        "profile",
        "time the parts of a hit and a miss of a cached function (key, engine, codec, function)",
        url=False,
    )
    profile.add_argument(
        "function", metavar="FUNCTION", help="the cached function: module:function"
    )
    profile.add_argument(
        "arguments", nargs="*", metavar="ARG", help="its arguments (JSON when they parse: 7, [1])"
    )
    profile.add_argument(
        "--url",
        metavar="URL",
        help="import with TWAT_CACHE_URL=URL (functions decorated without one)",
    )
    profile.set_defaults(optional_url=True)  # the function's own cache unless --url
    profile.add_argument("--repeat", type=int, default=20, metavar="N", help="runs (default 20)")
    report = command(
        "report", "write a self-contained HTML page with charts of what the namespace holds"
    )
    report.add_argument("--html", required=True, metavar="FILE", help="the page to write")
    report.add_argument(
        "--sample",
        type=int,
        default=10_000,
        metavar="N",
        help="read at most N entries (at random) for sizes and formats (default: 10000)",
    )
    migrate = command(
        "migrate",
        "copy every entry of the namespace from SRC to DST (any two engines); resumable, verified",
        ("src", "SRC", "the cache URL to copy from"),
        ("dst", "DST", "the cache URL to copy to"),
        url=False,
    )
    migrate.add_argument(
        "--batch", type=int, default=500, metavar="N", help="entries per batch (default 500)"
    )
    migrate.add_argument(
        "--ttl",
        type=float,
        metavar="S",
        help="seconds to live of every copy (default: each entry's remaining TTL at SRC; "
        "DST's default TTL when SRC cannot tell)",
    )
    migrate.add_argument(
        "--dry-run", action="store_true", help="count what would be copied; write nothing"
    )
    migrate.add_argument(
        "--move", action="store_true", help="delete from SRC once the copy is verified"
    )
    migrate.add_argument(
        "--checkpoint",
        metavar="FILE",
        help="where the copied keys are recorded, to resume an interrupted run "
        "(default: .twat-cache-migrate-<hash>.checkpoint here)",
    )
    migrate.add_argument(
        "--verify-sample",
        type=int,
        default=100,
        metavar="N",
        help="entries compared byte for byte after the copy (default 100)",
    )


def cmd_completion(args: argparse.Namespace, reply: Reply) -> int:
    """Print the completion script of ``twat-cache`` for ``SHELL``."""
    script = completion_script(build_parser(), args.shell)
    reply.document({"shell": args.shell, "script": script}, script.rstrip("\n"))
    return ExitCode.OK


_ALL_COMMANDS: dict[str, Command] = {
    **COMMANDS,
    "stats": cmd_stats,
    "top": cmd_top,
    "info": cmd_info,
    "doctor": cmd_doctor,
    "bench": cmd_bench,
    "migrate": cmd_migrate,
    "report": cmd_report,
    "warm": cmd_warm,
    "profile": cmd_profile,
    "completion": cmd_completion,
}


class _RedactingFormatter(logging.Formatter):
    """A formatter that keeps the URL's password and the secret out of log lines."""

    def __init__(self, url: str | None, secrets: Iterable[str]) -> None:
        super().__init__("twat-cache: %(levelname)s %(name)s: %(message)s")
        self.url = url
        self.secrets = tuple(secrets)

    def format(self, record: logging.LogRecord) -> str:
        return redact_text(super().format(record), *self.secrets, url=self.url)


@contextmanager
def _library_logging(debug: bool, url: str | None, secrets: Iterable[str]) -> Iterator[None]:
    """Route the ``twat_cache`` logger for one command.

    With ``--debug`` its records go to stderr; without, they are dropped (the
    library's fail-open warnings do not apply to the strict CLI, whose own
    messages say what failed). The previous state is restored afterwards.
    """
    logger = logging.getLogger(LOGGER_NAME)
    handler: logging.Handler
    if debug:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(_RedactingFormatter(url, secrets))
    else:  # without any handler, logging's last resort would print warnings
        handler = logging.NullHandler()
    level = logger.level
    logger.addHandler(handler)
    if debug:
        logger.setLevel(logging.DEBUG)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


def _silence_stdout() -> None:
    """After a closed pipe (``twat-cache keys URL | head``), send what is left to /dev/null."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # not a real file (captured output): nothing to flush
        pass


def _fail(
    reply: Reply, exc: BaseException, *, debug: bool, hidden: list[str], url: str | None
) -> int:
    code = classify(exc)
    message = redact_text(
        str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__,
        *hidden,
        url=url,
    )
    if code == ExitCode.UNREACHABLE and not isinstance(exc, CommandError):
        message = f"unreachable: {message}"
    if debug:
        text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
        reply.stderr.write(redact_text(text, *hidden, url=url))
    reply.error(code, code.name.lower(), message, getattr(exc, "details", None))
    return code


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``twat-cache`` with ``argv`` (default: ``sys.argv[1:]``); return the exit code.

    Args:
        argv: The arguments after the program name.

    Returns:
        An :class:`~twat_cache_cli.outcome.ExitCode` value.

    Example:
        >>> main(["set", "memory://", "greeting", "hello"])
        <ExitCode.OK: 0>
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    # known before parsing, so that a usage error is reported as JSON too
    reply = Reply(json_mode="--json" in argv)
    try:
        args = parser.parse_args(argv)
        resolve_url(args)
    except SystemExit as exc:  # --help, --version
        return exc.code if isinstance(exc.code, int) else ExitCode.OK
    except UsageError as exc:
        if not reply.json_mode:
            parser.print_usage(sys.stderr)
        return _fail(reply, exc, debug=False, hidden=[], url=None)
    reply.json_mode = getattr(args, "json", False)
    reply.color = getattr(args, "color", "auto")
    debug = getattr(args, "debug", False)
    url: str | None = getattr(args, "url", None) or os.environ.get(URL_VARIABLE)
    variable: str | None = getattr(args, "secret_env", None)
    hidden = [os.environ.get(name, "") for name in (variable, "TWAT_CACHE_SECRET") if name]

    with _library_logging(debug, url, hidden):
        try:
            return _ALL_COMMANDS[args.command](args, reply)
        except (CommandError, TwatCacheError) as exc:
            return _fail(reply, exc, debug=debug, hidden=hidden, url=url)
        except BrokenPipeError:
            _silence_stdout()
            return ExitCode.FAILED
        except KeyboardInterrupt:
            print("twat-cache: interrupted", file=sys.stderr)
            return ExitCode.INTERRUPTED
