"""An example twat-cache engine on the standard library's ``dbm.dumb`` (scheme ``dbm``)."""

from twat_cache_dbm.backend import DbmBackend

__all__ = ["DbmBackend"]
