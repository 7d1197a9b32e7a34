"""The license of every runtime dependency of every package is on the allow-list.

Run in an environment holding every workspace package with every extra (tools/test does:
``uv run --isolated --all-packages --all-extras --no-default-groups --group quality``).
The dependencies checked are the locked runtime closure (``uv export --all-packages
--all-extras --no-dev``): what a user can install, never the test or lint tools. Their
licenses are read by pip-licenses from the installed metadata (license expression,
classifiers or license field) and compared with tools/licenses.toml.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

try:
    import tomllib
except ImportError:  # Python 3.10
    import tomli as tomllib  # type: ignore[no-redef]

ROOT = Path(__file__).resolve().parent.parent
_REQ = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==")
# how licenses are spelled besides their SPDX identifier (classifiers, free text)
_SPLIT = re.compile(r"\s+(?:OR|AND|or|and)\s+|;\s*|\s*/\s*|[()]")


def canonical(name: str) -> str:
    """A distribution name as PEP 503 compares them."""
    return re.sub(r"[-_.]+", "-", name).lower()


def runtime_closure() -> dict[str, str]:
    """The locked runtime dependencies of every package (all extras): name -> marker line."""
    out = subprocess.run(
        [
            "uv", "export", "--frozen", "--all-packages", "--all-extras", "--no-dev",
            "--no-emit-workspace", "--no-hashes", "--no-header", "--no-annotate",
            "--format", "requirements-txt",
        ],
        cwd=ROOT, capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    closure = {}
    for line in out.splitlines():
        match = _REQ.match(line.strip())
        if match:
            closure[canonical(match[1])] = line.strip()
    return closure


def installed_licenses() -> dict[str, tuple[str, str]]:
    """Installed distribution -> (version, license text) as pip-licenses reads them."""
    out = subprocess.run(
        [sys.executable, "-m", "piplicenses", "--format=json", "--from=mixed", "--with-system"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    return {canonical(row["Name"]): (row["Version"], row["License"]) for row in json.loads(out)}


def license_ok(text: str, allowed: set[str]) -> bool:
    """True when every license named in ``text`` (an expression or a list) is allowed."""
    parts = [part.strip() for part in _SPLIT.split(text) if part and part.strip()]
    return bool(parts) and all(part in allowed for part in parts)


def check(
    closure: dict[str, str], installed: dict[str, tuple[str, str]], config: dict[str, object]
) -> tuple[list[str], list[str]]:
    """(problems, notes) for the dependencies in ``closure``."""
    allowed = set(config["allowed"])  # type: ignore[call-overload]
    reviewed: dict[str, dict[str, str]] = config.get("reviewed", {})  # type: ignore[assignment]
    problems: list[str] = []
    notes: list[str] = []
    for name in sorted(closure):
        if name not in installed:
            # an environment marker excludes it here (another OS or Python version)
            notes.append(f"not installed here, not checked: {closure[name]}")
            continue
        version, text = installed[name]
        if license_ok(text, allowed):
            continue
        review = reviewed.get(name)
        if review and review.get("license") == text:
            continue
        problems.append(
            f"{name} {version}: license {text!r} is not allowed (tools/licenses.toml: add it "
            "to `allowed`, or review this package under [reviewed] with its exact license)"
        )
    for name in sorted(set(reviewed) - set(closure)):
        problems.append(f"tools/licenses.toml reviews {name}, which is no longer a dependency")
    return problems, notes


def main() -> int:
    config = tomllib.loads((ROOT / "tools" / "licenses.toml").read_text(encoding="utf-8"))
    closure = runtime_closure()
    problems, notes = check(closure, installed_licenses(), config)
    for note in notes:
        print(note)
    for problem in problems:
        print(problem, file=sys.stderr)
    if not problems:
        print(f"{len(closure)} runtime dependencies: every license is allowed")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
