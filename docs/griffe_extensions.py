"""A griffe extension for the API reference (loaded by mkdocstrings, see mkdocs.yml).

griffe's Google-style parser knows ``Examples:`` as a section, whose doctests it renders as
highlighted code, but reads the singular ``Example:`` (which the twat-cache docstrings use,
as the Google style guide does) as an admonition of Markdown text, where ``>>>`` becomes
nested quotes and a ``[...]`` output line a broken cross-reference. This extension reads
``Example:`` as ``Examples:`` before any docstring is parsed. It changes nothing in the code.
"""

from __future__ import annotations

import re
from typing import Any

import griffe

_EXAMPLE_TITLE = re.compile(r"^([ \t]*)Example:[ \t]*$", re.MULTILINE)


class GoogleExampleSections(griffe.Extension):
    """Parse every Google ``Example:`` section as an ``Examples:`` section."""

    def on_instance(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        """Rename the section title in ``obj``'s docstring, if it has one."""
        if obj.docstring is not None:
            obj.docstring.value = _EXAMPLE_TITLE.sub(r"\1Examples:", obj.docstring.value)
