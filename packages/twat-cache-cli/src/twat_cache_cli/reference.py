"""The command reference (docs/user-guide/cli.md), written from the parser: it never falls behind.

``python tools/gen_cli_docs.py`` writes docs/user-guide/cli.md with :func:`reference`; the
CLI's tests fail when the file differs from what the parser says today.
"""

from __future__ import annotations

import argparse

from twat_cache_cli.outcome import ExitCode

__all__ = ["CASTS", "GENERATED_BY", "reference"]

GENERATED_BY = "python tools/gen_cli_docs.py"

CASTS = {
    "quickstart": "the quickstart, `bash tools/demo` (no server needed)",
    "cli-tour": "a tour of the command line on a disk cache",
    "migrate": "a disk cache migrated to Redis, each entry keeping its remaining TTL",
}
"""The recorded sessions (``docs/casts/NAME.cast``, written by ``python tools/casts.py``)."""

# the page is docs/user-guide/cli.md, served as user-guide/cli/: two levels below the root
_PLAYER = "../../assets/asciinema-player/asciinema-player"  # vendored (see its VENDORED.txt)


def _sessions() -> list[str]:
    lines = [
        "## Recorded sessions",
        "",
        "Real runs of the commands, recorded by `python tools/casts.py` as asciinema casts "
        "(the temporary folder is shown as /tmp/demo and the harness's Redis port as 6379). "
        "The CLI's tests record them again and fail when what the commands print has changed.",
        "",
    ]
    for name, title in CASTS.items():
        lines += [
            f"**{title[0].upper()}{title[1:]}** ([{name}.cast](../casts/{name}.cast))",
            "",
            f'<div class="twat-cast" data-cast="../../casts/{name}.cast"></div>',
            "",
        ]
    return [
        *lines,
        f'<link rel="stylesheet" href="{_PLAYER}.css">',
        f'<script src="{_PLAYER}.min.js"></script>',
        "<script>",
        'document.querySelectorAll(".twat-cast").forEach(function (box) {',
        "  AsciinemaPlayer.create(box.dataset.cast, box, "
        '{fit: "width", idleTimeLimit: 2, terminalFontSize: "small"});',
        "});",
        "</script>",
        "",
    ]


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def _name(action: argparse.Action) -> str:
    if action.option_strings:
        names = ", ".join(f"`{option}`" for option in action.option_strings)
        takes_value = action.nargs != 0
        if takes_value:
            if action.choices:
                value = "{" + ",".join(map(str, action.choices)) + "}"
            else:
                value = str(action.metavar or action.dest.upper())
            names += f" `{value}`"
        return names
    metavar = str(action.metavar or action.dest)
    if action.nargs == "+":
        metavar += "..."
    if action.nargs == "?":
        metavar = f"[{metavar}]"
    return f"`{metavar}`"


def _help(action: argparse.Action) -> str:
    text = action.help or ""
    if action.choices and not action.option_strings:
        text += f" (one of: {', '.join(map(str, action.choices))})"
    default = action.default
    shown = default not in (None, False, argparse.SUPPRESS) and "default" not in text
    if action.option_strings and shown:
        text += f" (default: {default})"
    return _cell(text)


def _table(actions: list[argparse.Action]) -> list[str]:
    rows = ["| argument | meaning |", "|---|---|"]
    rows += [f"| {_name(action)} | {_help(action)} |" for action in actions]
    return rows


def _usage(parser: argparse.ArgumentParser) -> str:
    # a fixed width: the terminal's would make the file differ from one machine to the next
    formatter = argparse.HelpFormatter(parser.prog, width=100)
    formatter.add_usage(parser.usage, parser._actions, parser._mutually_exclusive_groups)
    return formatter.format_help().strip()


def _subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:  # argparse has no public listing of its subparsers
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}  # pragma: no cover - the twat-cache parser always has commands


def reference(parser: argparse.ArgumentParser, exit_codes: dict[ExitCode, str]) -> str:
    """Return docs/user-guide/cli.md for ``parser``: commands, arguments, options, exit codes.

    Args:
        parser: The ``twat-cache`` parser (:func:`twat_cache_cli.main.build_parser`).
        exit_codes: What each exit code means.
    """
    common = {
        id(action)
        for action in parser._actions
        if action.option_strings and action.dest not in ("help", "version")
    }
    common_dests = {action.dest for action in parser._actions if id(action) in common}
    lines = [
        "<!-- GENERATED from the twat-cache parser by: "
        f"{GENERATED_BY} -- do not edit; the CLI's tests check it is current -->",
        "",
        "# Command reference: `twat-cache`",
        "",
        _cell(parser.description or ""),
        "",
        "Install with `pip install twat-cache-cli` (and the engines you operate). "
        "The package README has a guided tour.",
        "",
        *_sessions(),
        "## Options of every command",
        "",
        "Given before or after the command name.",
        "",
        *_table([action for action in parser._actions if id(action) in common]),
        "",
        "## Exit codes",
        "",
        "| code | name | meaning |",
        "|---|---|---|",
        *(
            f"| {int(code)} | `{code.name.lower()}` | {_cell(text)} |"
            for code, text in exit_codes.items()
        ),
        "",
        "## Commands",
        "",
    ]
    for name, sub in _subcommands(parser).items():
        own = [
            action
            for action in sub._actions
            if action.dest not in common_dests and action.dest != "help"
        ]
        lines += [
            f"### `twat-cache {name}`",
            "",
            _cell(sub.description or ""),
            "",
            "```text",
            _usage(sub),
            "```",
            "",
        ]
        if own:
            lines += [*_table(own), ""]
    return "\n".join(lines).rstrip("\n") + "\n"
