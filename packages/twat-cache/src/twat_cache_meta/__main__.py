"""``python -m twat_cache_meta``: list the installed engines."""

from twat_cache_meta import installed_engines

for scheme, provider in installed_engines().items():
    print(f"{scheme:20} {provider}")
