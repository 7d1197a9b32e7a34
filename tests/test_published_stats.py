"""publish_stats: each process of a fleet writes its figures to the server; one reads them all."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest
from twat_cache import Cache
from twat_cache.stats import process_id, read_published

OTHER_PROCESS = textwrap.dedent(
    """
    import sys
    from twat_cache import Cache

    with Cache(sys.argv[1], namespace=sys.argv[2], publish_stats=60) as cache:
        cache.set("k", 1)
        for _ in range(3):
            cache.get("k")
        assert cache._publisher is not None and cache._publisher.publish()
    """
)


@pytest.mark.parametrize("server", ["redis_server", "postgres_server"])
def test_every_process_figures_are_read_back(
    server: str, namespace: str, request: pytest.FixtureRequest
) -> None:
    url: str = request.getfixturevalue(server).url
    subprocess.run([sys.executable, "-c", OTHER_PROCESS, url, namespace], check=True, timeout=120)
    with Cache(url, namespace=namespace, publish_stats=60) as cache:
        cache.get("k")
        cache.get("absent")
        assert cache._publisher is not None
        assert cache._publisher.publish()
        published = read_published(cache)
        assert set(published) - {"total"} >= {process_id()}
        assert len(published) == 3  # two processes and the total
        mine = published[process_id()]
        (other,) = [v for k, v in published.items() if k not in ("total", process_id())]
        assert (mine["hits"], mine["misses"]) == (1, 1)
        assert (other["hits"], other["sets"]) == (3, 1)
        assert other["bytes_read"] > 0
        assert other["read_count"] == 3
        total = published["total"]
        assert (total["hits"], total["misses"], total["sets"]) == (4, 1, 1)
        assert total["hit_ratio"] == pytest.approx(0.8)
        assert sorted(cache.keys()) == ["k"]  # the figures stay out of the namespace's keys
