"""The VS Code snippets (editors/vscode): the file parses as VS Code reads it, each body is Python.

VS Code reads ``.code-snippets`` as JSON with comments (and trailing commas). A
snippet's body holds tab stops (``$1``, ``${1:default}``, ``${1|a,b|}``) and
variables; filled with their defaults, as when a user tabs through a snippet
without typing, every body must compile.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

SNIPPETS = Path(__file__).parent.parent / "editors" / "vscode" / "twat-cache.code-snippets"
# the prefixes docs/editors.md lists
DOCUMENTED = {
    "ucache",
    "acache",
    "Cache",
    "CacheContext",
    "acachecontext",
    "tiers",
    "ucache-stale",
    "django-twat-cache",
    "flask-twat-cache",
    "frozen-clock",
    "cache-fixture",
}


def strip_comments(text: str) -> str:
    """Drop ``//`` and ``/* */`` comments outside strings, and trailing commas (JSONC)."""
    out: list[str] = []
    i, n = 0, len(text)
    while i < n:
        char = text[i]
        if char == '"':  # a string, with its escapes, copied as it is
            end = i + 1
            while text[end] != '"':
                end += 2 if text[end] == "\\" else 1
            out.append(text[i : end + 1])
            i = end + 1
        elif text.startswith("//", i):
            i = text.find("\n", i) if "\n" in text[i:] else n
        elif text.startswith("/*", i):
            i = text.index("*/", i) + 2
        else:
            out.append(char)
            i += 1
    return re.sub(r",(\s*[}\]])", r"\1", "".join(out))


def load_snippets(path: Path = SNIPPETS) -> dict[str, Any]:
    data = json.loads(strip_comments(path.read_text(encoding="utf-8")))
    assert isinstance(data, dict)
    return data


_TABSTOP = re.compile(r"\$(\d+)|\$\{(\d+)\}")
_VARIABLE = re.compile(r"\$([A-Z_][A-Z_0-9]*)|\$\{([A-Z_][A-Z_0-9]*)\}")


def fill(body: str) -> str:
    """The text a snippet inserts when every placeholder keeps its default.

    ``${N:default}`` (defaults may nest placeholders) and ``${NAME:default}`` become
    their default, ``${N|first,...|}`` its first choice, ``$N``/``${N}`` the
    default given to tab stop N elsewhere (else nothing), ``$NAME`` nothing;
    ``\\$``, ``\\}`` and ``\\\\`` are the characters themselves.
    """
    defaults: dict[str, str] = {}

    def parse(i: int, inside: bool) -> tuple[str, int]:
        out: list[str] = []
        while i < len(body):
            char = body[i]
            if char == "\\" and i + 1 < len(body) and body[i + 1] in "$}\\,|":
                out.append(body[i + 1])
                i += 2
            elif inside and char == "}":
                return "".join(out), i + 1
            elif choice := re.match(r"\$\{(\d+)\|((?:[^|\\]|\\.)*)\|\}", body[i:]):
                first = re.split(r"(?<!\\),", choice.group(2))[0].replace("\\,", ",")
                defaults.setdefault(choice.group(1), first)
                out.append(first)
                i += choice.end()
            elif holder := re.match(r"\$\{(\d+|[A-Z_][A-Z_0-9]*):", body[i:]):
                text, i = parse(i + holder.end(), inside=True)
                defaults.setdefault(holder.group(1), text)
                out.append(text)
            elif ref := _TABSTOP.match(body, i) or _VARIABLE.match(body, i):
                out.append(f"\0{ref.group(1) or ref.group(2)}\0")
                i = ref.end()
            else:
                out.append(char)
                i += 1
        assert not inside, "a placeholder is not closed"
        return "".join(out), i

    text, _ = parse(0, inside=False)
    return re.sub(r"\0(\w+)\0", lambda m: defaults.get(m.group(1), ""), text)


def test_the_file_parses_and_offers_the_documented_prefixes() -> None:
    snippets = load_snippets()
    prefixes = {snippet["prefix"] for snippet in snippets.values()}
    assert prefixes == DOCUMENTED
    for name, snippet in snippets.items():
        assert set(snippet) <= {"scope", "prefix", "body", "description"}, name
        assert snippet["scope"] == "python", name
        assert snippet["description"], name
        assert isinstance(snippet["body"], list), name
        assert all(isinstance(line, str) for line in snippet["body"]), name


@pytest.mark.parametrize("name", sorted(load_snippets()))
def test_each_snippet_body_is_python(name: str) -> None:
    body = "\n".join(load_snippets()[name]["body"])
    source = fill(body)
    assert "$" not in source, source
    compile(source, f"<snippet {name}>", "exec")


def test_documented_in_docs_editors() -> None:
    page = (SNIPPETS.parent.parent.parent / "docs" / "editors.md").read_text(encoding="utf-8")
    for prefix in DOCUMENTED:
        assert f"`{prefix}`" in page, prefix


@pytest.mark.parametrize(
    ("body", "filled"),
    [
        ("${1:a} + $1", "a + a"),
        ("$2 = ${2|x,y|}", "x = x"),
        ("${1:f(${2:b})}($2)", "f(b)(b)"),
        ("${0:done}$0 $TM_FILENAME ${CLIPBOARD:clip}", "donedone  clip"),
        ("\\$1 ${1:\\}}", "$1 }"),
    ],
)
def test_fill_reads_placeholders_as_vs_code_does(body: str, filled: str) -> None:
    assert fill(body) == filled


def test_comments_and_trailing_commas_are_read_as_vs_code_does() -> None:
    text = '{\n  // a comment\n  "a": "http://x", /* block */ "b": [1, 2,],\n}\n'
    assert json.loads(strip_comments(text)) == {"a": "http://x", "b": [1, 2]}


def test_a_broken_snippet_is_caught(tmp_path: Path) -> None:
    broken = tmp_path / "broken.code-snippets"
    broken.write_text('{"x": {"prefix": "x", "body": ["def ${1:f}(:"]}}', encoding="utf-8")
    body = "\n".join(load_snippets(broken)["x"]["body"])
    with pytest.raises(SyntaxError):
        compile(fill(body), "<snippet x>", "exec")
