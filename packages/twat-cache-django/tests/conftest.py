"""Django settings for the twat-cache-django tests, configured once before any test runs."""

from __future__ import annotations

import django
from django.conf import settings

if not settings.configured:
    settings.configure(
        CACHES={
            "default": {
                "BACKEND": "twat_cache_django.TwatCache",
                "LOCATION": "builtin://",
                "OPTIONS": {"namespace": "settings-default"},
            }
        },
        USE_TZ=True,
        SECRET_KEY="twat-cache-django-tests",
        ALLOWED_HOSTS=["testserver"],
        INSTALLED_APPS=[],
    )
    django.setup()
