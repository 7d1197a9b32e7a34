"""The ``twat-cache`` command line: argument parsing, logging, and errors as exit codes."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager

from twat_cache.config import SERIALIZERS
from twat_cache.exceptions import ConfigurationError, EngineNotAvailableError, TwatCacheError
from twat_cache.urls import redact_text

from twat_cache_cli.commands import COMMANDS, URL_VARIABLE, ExitCode, UsageError

__all__ = ["build_parser", "main"]

LOGGER_NAME = "twat_cache"

_EPILOG = f"""\
The URL may be left out when ${URL_VARIABLE} is set. Like the library, the command
reads the other TWAT_CACHE_* variables (TWAT_CACHE_NAMESPACE, TWAT_CACHE_SERIALIZER,
TWAT_CACHE_TTL...); options on the command line win over them.

exit codes:
  0  done
  1  the backend failed or refused (down, timeout, not an integer, cannot list keys)
  2  bad command line, URL or option
  3  the URL's engine is not installed (the message says what to pip install)
  4  get, delete, incr: the key is absent
"""


# the first match wins: EngineNotAvailableError is an ImportError, ConfigurationError a ValueError
_EXIT_CODES: tuple[tuple[type[Exception], ExitCode], ...] = (
    (UsageError, ExitCode.USAGE),
    (EngineNotAvailableError, ExitCode.ENGINE_MISSING),
    (ConfigurationError, ExitCode.USAGE),
    (TwatCacheError, ExitCode.FAILED),
)


def _version_text() -> str:
    from twat_cache import __version__ as core_version

    from twat_cache_cli import __version__

    return f"twat-cache-cli {__version__} (twat-cache {core_version})"


def build_parser() -> argparse.ArgumentParser:
    """Return the parser of ``twat-cache`` and its commands.

    The cache options (``--namespace``, ``--serializer``, ``--secret-env``,
    ``--debug``) are accepted before and after the command name.
    """
    common = argparse.ArgumentParser(add_help=False)
    group = common.add_argument_group("cache options (before or after the command)")
    # SUPPRESS: an option not given after the command keeps the value given before it
    group.add_argument(
        "-n",
        "--namespace",
        metavar="NS",
        default=argparse.SUPPRESS,
        help="the namespace to work in (default: $TWAT_CACHE_NAMESPACE, else 'default')",
    )
    group.add_argument(
        "--serializer",
        choices=SERIALIZERS,
        default=argparse.SUPPRESS,
        help="how values are encoded; must match the writers' (default: pickle)",
    )
    group.add_argument(
        "--secret-env",
        metavar="VAR",
        default=argparse.SUPPRESS,
        help="read the HMAC signing secret from environment variable VAR "
        "(it is never taken from the command line, where ps would show it)",
    )
    group.add_argument(
        "--debug",
        action="store_true",
        default=argparse.SUPPRESS,
        help="log what the twat_cache library does to stderr",
    )

    parser = argparse.ArgumentParser(
        prog="twat-cache",
        description="Inspect and operate a twat-cache cache, by URL.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        parents=[common],
    )
    parser.add_argument("--version", action="version", version=_version_text())
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, summary: str, *, url: bool = True) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=summary, description=summary, parents=[common])
        if url:
            sub.add_argument(
                "url", nargs="?", metavar="URL", help=f"the cache URL (default: ${URL_VARIABLE})"
            )
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
    get = command("get", "print the value under KEY")
    get.add_argument("key", metavar="KEY")
    set_ = command("set", "store VALUE under KEY")
    set_.add_argument("key", metavar="KEY")
    set_.add_argument("value", metavar="VALUE")
    set_.add_argument(
        "--ttl",
        type=float,
        metavar="S",
        help="seconds to live (default: $TWAT_CACHE_TTL, else no expiry)",
    )
    set_.add_argument(
        "--json",
        action="store_true",
        help="VALUE is JSON (42 is then an integer that incr can increment)",
    )
    delete = command("delete", "remove KEY")
    delete.add_argument("key", metavar="KEY")
    incr = command("incr", "add N to the integer under KEY atomically; print the result")
    incr.add_argument("key", metavar="KEY")
    incr.add_argument("--by", type=int, default=1, metavar="N", help="the increment (default: 1)")
    keys = command("keys", "list the namespace's keys, one a line")
    keys.add_argument(
        "--limit",
        type=int,
        default=1000,
        metavar="N",
        help="list at most N keys; 0: all (default: 1000)",
    )
    clear = command("clear", "remove every entry of the namespace (nothing outside it)")
    clear.add_argument("--yes", action="store_true", help="really clear the namespace")
    command("stats", "print the engine, namespace, settings and number of keys")
    return parser


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


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``twat-cache`` with ``argv`` (default: ``sys.argv[1:]``); return the exit code.

    Args:
        argv: The arguments after the program name.

    Returns:
        An :class:`~twat_cache_cli.commands.ExitCode` value.

    Example:
        >>> main(["set", "memory://", "greeting", "hello"])
        0
    """
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version, or a usage error already printed
        return exc.code if isinstance(exc.code, int) else ExitCode.OK
    url: str | None = getattr(args, "url", None) or os.environ.get(URL_VARIABLE)
    variable: str | None = getattr(args, "secret_env", None)
    hidden = [os.environ.get(name, "") for name in (variable, "TWAT_CACHE_SECRET") if name]

    with _library_logging(getattr(args, "debug", False), url, hidden):
        try:
            return COMMANDS[args.command](args)
        except (UsageError, TwatCacheError) as exc:
            code = next(code for kind, code in _EXIT_CODES if isinstance(exc, kind))
            print(f"twat-cache: error: {redact_text(str(exc), *hidden, url=url)}", file=sys.stderr)
            return code
        except BrokenPipeError:
            _silence_stdout()
            return ExitCode.FAILED
        except KeyboardInterrupt:
            print("twat-cache: interrupted", file=sys.stderr)
            return ExitCode.INTERRUPTED
