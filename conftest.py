"""Root conftest: real-server fixtures from tools/twat_cache_harness for every test."""

pytest_plugins = ["twat_cache_harness.pytest_plugin"]
