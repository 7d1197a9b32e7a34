"""``python -m twat_cache_cli``: the ``twat-cache`` command."""

import sys

from twat_cache_cli.main import main

sys.exit(main())
