"""Writes docs/user-guide/cli.md, the `twat-cache` command reference, from its own parser.

    uv run --package twat-cache-cli python tools/gen_cli_docs.py           rewrite the page
    uv run --package twat-cache-cli python tools/gen_cli_docs.py --check   exit 1 when stale

The CLI's tests run the same check (test_cli_reference_is_current).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from twat_cache_cli.main import EXIT_CODE_MEANINGS, build_parser
from twat_cache_cli.reference import reference

ROOT = Path(__file__).resolve().parent.parent
TARGET = ROOT / "docs" / "user-guide" / "cli.md"


def main() -> int:
    options = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    options.add_argument("--check", action="store_true", help="exit 1 when the page is stale")
    check = options.parse_args().check
    text = reference(build_parser(), EXIT_CODE_MEANINGS)
    if check:
        current = TARGET.read_text(encoding="utf-8") if TARGET.exists() else ""
        if current != text:
            print(
                f"{TARGET.relative_to(ROOT)} is stale: run tools/gen_cli_docs.py", file=sys.stderr
            )
            return 1
        print(f"{TARGET.relative_to(ROOT)} is current")
        return 0
    TARGET.write_text(text, encoding="utf-8")
    print(f"wrote {TARGET.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
