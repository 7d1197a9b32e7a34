"""MkDocs hooks of the documentation site (mkdocs.yml `hooks:`), also used by its tests.

A page includes text kept elsewhere with one marker line, so the site never copies it:

    <!-- include: readme twat-cache-redis -->   the package README, without its title and its
                                                 "Development" section (engine and example pages)
    <!-- include: changelogs -->                 every package's CHANGELOG.md (the changelog page)

tests/test_docs_examples.py runs the Python blocks of the expanded pages, READMEs included.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ROOT / "packages"
_MARKER = re.compile(r"^<!-- include: (readme (?P<package>[\w-]+)|changelogs) -->$", re.MULTILINE)
# a README links its siblings' READMEs (`../twat-cache-core/README.md`): on the site, the home page
_SIBLING = re.compile(r"\]\(\.\./twat-cache[\w-]*(?:/README\.md)?\)")


def _demote(text: str) -> str:
    """Move every Markdown heading one level down (outside code fences)."""
    lines, fenced = [], False
    for line in text.splitlines():
        if line.startswith("```"):
            fenced = not fenced
        if not fenced and line.startswith("#"):
            line = "#" + line
        lines.append(line)
    return "\n".join(lines)


def readme(package: str, home: str) -> str:
    """Return ``package``'s README for a docs page: no title, no "Development" section.

    Args:
        package: The distribution name, e.g. ``twat-cache-redis``.
        home: The relative link from the including page to the home page (``../../index.md``).
    """
    text = (PACKAGES / package / "README.md").read_text(encoding="utf-8")
    body = text.split("\n", 1)[1] if text.startswith("# ") else text
    body = re.sub(r"\n## Development\n.*?(?=\n## |\Z)", "\n", body, flags=re.DOTALL)
    return _SIBLING.sub(f"]({home})", body).strip() + "\n"


def changelogs() -> str:
    """Return every package's CHANGELOG.md under a heading of its own, twat-cache first."""
    names = sorted(p.name for p in PACKAGES.iterdir() if (p / "CHANGELOG.md").exists())
    names.sort(key=lambda name: name != "twat-cache")
    parts = []
    for name in names:
        text = (PACKAGES / name / "CHANGELOG.md").read_text(encoding="utf-8")
        body = text.split("\n", 1)[1] if text.startswith("# ") else text
        parts.append(f"## {name}\n\n{_demote(body.strip())}\n")
    return "\n".join(parts)


def expand(markdown: str, page_path: str) -> str:
    """Replace the include markers of the page at ``page_path`` (relative to docs/)."""
    depth = page_path.count("/")
    home = "../" * depth + "index.md"

    def include(match: re.Match[str]) -> str:
        package = match.group("package")
        return readme(package, home) if package else changelogs()

    return _MARKER.sub(include, markdown)


def on_page_markdown(markdown: str, page: Any, **_: Any) -> str:
    """MkDocs hook: expand the include markers before the page is rendered."""
    return expand(markdown, page.file.src_uri)
