# shellcheck shell=bash
# Sourced by tools/test and tools/demo: puts `uv` on PATH, installing it with pip when missing.
# Only Python 3 and pip are assumed. uv goes into a private venv (.uv-bootstrap/) so that
# an "externally managed" system Python (PEP 668) is never touched.
if ! command -v uv >/dev/null 2>&1; then
  root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
  boot="$root/.uv-bootstrap"
  if [ ! -x "$boot/bin/uv" ]; then
    echo "uv not found: installing it with pip into $boot" >&2
    if ! { python3 -m venv "$boot" && "$boot/bin/python" -m pip install --quiet --disable-pip-version-check uv; }; then
      echo "could not install uv with pip; install it yourself: python3 -m pip install uv" >&2
      exit 1
    fi
  fi
  export PATH="$boot/bin:$PATH"
fi
