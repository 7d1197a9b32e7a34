"""``python -m twat_cache``: list the installed engines."""

from twat_cache.installed import installed_engines

for scheme, provider in installed_engines().items():
    print(f"{scheme:20} {provider}")
