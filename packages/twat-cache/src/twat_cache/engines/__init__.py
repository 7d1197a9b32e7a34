"""Engine building blocks shipped with core: base classes and the built-in memory engine."""

from twat_cache.engines.base import BaseAsyncBackend, BaseBackend
from twat_cache.engines.builtin import BuiltinMemoryBackend

__all__ = ["BaseAsyncBackend", "BaseBackend", "BuiltinMemoryBackend"]
