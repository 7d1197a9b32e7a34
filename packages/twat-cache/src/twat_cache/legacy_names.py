"""The ``__getattr__`` that lets a twat_cache module answer for its twat-cache 2.x names.

A leaf module (it imports nothing of twat_cache at import time), so that any module can
use it without an import cycle: :mod:`twat_cache.legacy` is loaded only when an unknown
name is looked up.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

__all__ = ["module_getattr"]


def module_getattr(module: str) -> Callable[[str], Any]:
    """Return a module-level ``__getattr__`` resolving ``module``'s 2.x names.

    Example:
        >>> __getattr__ = module_getattr(__name__)  # at the end of a twat_cache module
    """

    def resolve(name: str) -> Any:
        if name.startswith("_"):  # import machinery probing a half-initialized module
            raise AttributeError(f"module {module!r} has no attribute {name!r}")
        from twat_cache.legacy import module_attribute

        return module_attribute(module, name)

    resolve.__doc__ = f"Resolve the twat-cache 2.x names of {module} (see twat_cache.legacy)."
    return resolve
