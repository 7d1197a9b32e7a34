"""Changelogs from news fragments (towncrier), one configuration per package.

Each package keeps its unreleased changes as fragments in ``packages/<pkg>/changelog.d/``,
named ``+<slug>.<type>.md`` (or ``<issue>.<type>.md``), ``<type>`` one of added, changed,
fixed, deprecated, removed, security; the content is one or two Markdown sentences for users.
``[tool.towncrier]`` in the package's pyproject.toml renders them into its CHANGELOG.md
(Keep a Changelog headings) at the ``<!-- towncrier release notes start -->`` line.

    python tools/changelog.py check [PKG ...]       every fragment valid; towncrier renders it
    python tools/changelog.py required --base REF   a change to a package's src/ adds a fragment
    python tools/changelog.py notes PKG VERSION     the release notes (for the release workflow)
    python tools/changelog.py release PKG VERSION   write CHANGELOG.md, remove the fragments

Run it where towncrier is installed: ``uv run --isolated --only-group quality python tools/...``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TYPES = ("added", "changed", "fixed", "deprecated", "removed", "security")
FRAGMENT = re.compile(r"^(?:\+[A-Za-z0-9][A-Za-z0-9._-]*|\d+)\.(?P<type>[a-z]+)(?:\.\d+)?\.md$")
START = "<!-- towncrier release notes start -->"
# files in changelog.d/ that are not fragments
NOT_FRAGMENTS = {".gitkeep", ".gitignore"}


def packages(root: Path = ROOT) -> list[Path]:
    """Every package folder (one with a pyproject.toml) under ``root/packages``."""
    return sorted(p for p in (root / "packages").iterdir() if (p / "pyproject.toml").is_file())


def fragment_problem(path: Path) -> str | None:
    """Why ``path`` is not a valid fragment, or None when it is."""
    match = FRAGMENT.match(path.name)
    if match is None:
        return (
            f"{path}: a fragment is named +<slug>.<type>.md or <issue>.<type>.md "
            f"(type one of {', '.join(TYPES)})"
        )
    if match["type"] not in TYPES:
        return f"{path}: type {match['type']!r} is not one of {', '.join(TYPES)}"
    if not path.read_text(encoding="utf-8").strip():
        return f"{path}: the fragment is empty; write one or two sentences for users"
    return None


def fragments(package: Path) -> list[Path]:
    """The files in the package's changelog.d/ (valid fragments or not)."""
    folder = package / "changelog.d"
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.is_file() and p.name not in NOT_FRAGMENTS)


def towncrier(package: Path, version: str, *extra: str) -> subprocess.CompletedProcess[str]:
    """Run ``towncrier build`` for one package with this interpreter."""
    cmd = [
        sys.executable,
        "-m",
        "towncrier",
        "build",
        "--dir",
        str(package),
        "--config",
        str(package / "pyproject.toml"),
        "--version",
        version,
        "--date",
        dt.date.today().isoformat(),
        *extra,
    ]
    # in the package's folder: towncrier asks git about the fragments it removes from there
    return subprocess.run(cmd, cwd=package, capture_output=True, text=True, check=False)


def draft(package: Path, version: str) -> str:
    """The section a release of ``version`` would add to the package's CHANGELOG.md."""
    proc = towncrier(package, version, "--draft")
    if proc.returncode != 0:
        raise SystemExit(f"{package.name}: towncrier build --draft failed:\n{proc.stderr}")
    return proc.stdout


def check(names: list[str], root: Path = ROOT) -> list[str]:
    """Problems with the fragments and towncrier setup of the named packages (all if none)."""
    problems: list[str] = []
    for package in packages(root):
        if names and package.name not in names:
            continue
        changelog = package / "CHANGELOG.md"
        if START not in changelog.read_text(encoding="utf-8"):
            problems.append(f"{changelog}: the line {START} is missing")
            continue
        found = fragments(package)
        bad = [problem for problem in map(fragment_problem, found) if problem]
        problems += bad
        if bad:
            continue
        text = draft(package, "0.0.0.dev0")
        # every fragment is rendered: its first line appears in the draft
        for fragment in found:
            first = fragment.read_text(encoding="utf-8").strip().splitlines()[0].strip()
            if first not in text:
                problems.append(f"{fragment}: towncrier did not render it (check the name)")
    return problems


def _diff_names(base: str, head: str, option: str, root: Path) -> list[str]:
    """``git diff --name-only`` between the merge base of ``base`` and ``head``, with ``option``."""
    out = subprocess.run(
        ["git", "diff", "--name-only", option, f"{base}...{head}"],
        cwd=root,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return [line for line in out.splitlines() if line]


def changed_files(base: str, head: str, root: Path = ROOT) -> list[str]:
    """Paths added, changed or deleted between the merge base of ``base`` and ``head``."""
    return _diff_names(base, head, "--no-renames", root)


def added_files(base: str, head: str, root: Path = ROOT) -> list[str]:
    """Paths added (or modified) between the merge base of ``base`` and ``head``."""
    return _diff_names(base, head, "--diff-filter=AM", root)


def missing_fragments(changed: list[str], added: list[str]) -> list[str]:
    """Packages whose src/ changed while their changelog.d/ got no fragment."""
    touched = sorted(
        {
            parts[1]
            for parts in (p.split("/") for p in changed)
            if parts[:1] == ["packages"] and len(parts) > 3 and parts[2] == "src"
        }
    )
    with_fragment = {
        parts[1]
        for parts in (p.split("/") for p in added)
        if len(parts) == 4
        and parts[0] == "packages"
        and parts[2] == "changelog.d"
        and FRAGMENT.match(parts[3])
    }
    return [name for name in touched if name not in with_fragment]


def notes(package: Path, version: str) -> str:
    """Release notes: the version's CHANGELOG.md section if rendered already, else a draft."""
    lines = (package / "CHANGELOG.md").read_text(encoding="utf-8").splitlines()
    heading = re.compile(rf"^## \[{re.escape(version)}\]")
    for i, line in enumerate(lines):
        if heading.match(line):
            end = next(
                (j for j in range(i + 1, len(lines)) if lines[j].startswith("## ")), len(lines)
            )
            return "\n".join(lines[i + 1 : end]).strip() + "\n"
    text = draft(package, version)
    body = text.split("\n", 1)[1] if text.startswith("## ") else text
    return body.strip() + "\n" if body.strip() else "No user-visible changes recorded.\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", required=True)
    p_check = sub.add_parser("check", help="every fragment valid and rendered by towncrier")
    p_check.add_argument("packages", nargs="*", help="package folder names (default: all)")
    p_required = sub.add_parser("required", help="a change to src/ adds a fragment")
    p_required.add_argument("--base", required=True, help="the branch the change goes into")
    p_required.add_argument("--head", default="HEAD")
    for name in ("notes", "release"):
        p = sub.add_parser(name)
        p.add_argument("package")
        p.add_argument("version")
    args = parser.parse_args(argv)

    if args.command == "check":
        problems = check(args.packages)
        for problem in problems:
            print(problem, file=sys.stderr)
        if not problems:
            print("changelog fragments: ok")
        return 1 if problems else 0
    if args.command == "required":
        missing = missing_fragments(
            changed_files(args.base, args.head), added_files(args.base, args.head)
        )
        for name in missing:
            print(
                f"packages/{name}/src changed but packages/{name}/changelog.d/ has no new "
                f"fragment: add +<slug>.<type>.md (type one of {', '.join(TYPES)}) with one "
                "or two sentences for users",
                file=sys.stderr,
            )
        if not missing:
            print("every package whose src/ changed adds a changelog fragment")
        return 1 if missing else 0
    package = ROOT / "packages" / args.package
    if not (package / "pyproject.toml").is_file():
        print(f"no package {args.package!r} under packages/", file=sys.stderr)
        return 2
    if args.command == "notes":
        sys.stdout.write(notes(package, args.version))
        return 0
    problems = check([args.package])
    if problems:
        print("\n".join(problems), file=sys.stderr)
        return 1
    proc = towncrier(package, args.version, "--yes")
    sys.stdout.write(proc.stdout)
    sys.stderr.write(proc.stderr)
    return proc.returncode


if __name__ == "__main__":
    sys.exit(main())
