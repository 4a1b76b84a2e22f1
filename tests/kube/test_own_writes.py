"""Read-your-writes over the cache: our last write wins only while the cache lags it.

The cache may still hold a version our write superseded (the watch has not delivered
our write yet): then the written object is the truth. Any other version in the cache
(ours arrived, or someone wrote after us) wins and the write is forgotten; a deleted
object is gone whatever we wrote.
"""

from __future__ import annotations

from typing import Any

from controller.keys import ObjectKey
from controller.kube.cache import Cache, OwnWrites

KEY = ObjectKey("flux.weave.works", "default", "rabbit")


def version(rv: str, **status: Any) -> dict[str, Any]:
    return {"metadata": {"resourceVersion": rv}, "status": status}


def cache_with(obj: dict[str, Any] | None) -> Cache:
    cache = Cache()
    if obj is not None:
        cache.put(KEY, obj)
    return cache


def test_nothing_written_reads_the_cache() -> None:
    cached = version("1")
    assert OwnWrites(cache_with(cached)).get(KEY) is cached
    assert OwnWrites(Cache()).get(KEY) is None


def test_a_lagging_cache_reads_our_write() -> None:
    written = version("3", phase="Succeeded")
    writes = OwnWrites(cache_with(version("1")))
    writes.remember(KEY, {"1", "2"}, written)
    assert writes.get(KEY) is written


def test_the_cache_wins_once_it_holds_another_version() -> None:
    cache = cache_with(version("1"))
    writes = OwnWrites(cache)
    writes.remember(KEY, {"1"}, version("2"))
    newer = version("5", phase="Failed")  # ours arrived and someone wrote after us
    cache.put(KEY, newer)
    assert writes.get(KEY) is newer


def test_superseded_versions_accumulate_over_reconciles() -> None:
    cache = cache_with(version("1"))
    writes = OwnWrites(cache)
    writes.remember(KEY, {"1"}, version("2"))
    last = version("3")
    writes.remember(KEY, {"2"}, last)
    assert writes.get(KEY) is last
    cache.put(KEY, version("2"))  # the watch delivers our first write only
    assert writes.get(KEY) is last


def test_a_reconcile_that_wrote_nothing_changes_nothing() -> None:
    cached = version("1")
    writes = OwnWrites(cache_with(cached))
    writes.remember(KEY, set(), version("9"))
    assert writes.get(KEY) is cached


def test_a_deleted_object_is_gone_and_forgotten() -> None:
    cache = cache_with(version("1"))
    writes = OwnWrites(cache)
    writes.remember(KEY, {"1"}, version("2"))
    cache.delete(KEY)
    assert writes.get(KEY) is None
    cache.put(KEY, version("1"))  # recreated with a version we once superseded
    assert writes.get(KEY) == version("1")


def test_forget() -> None:
    cached = version("1")
    writes = OwnWrites(cache_with(cached))
    writes.remember(KEY, {"1"}, version("2"))
    writes.forget(KEY)
    assert writes.get(KEY) is cached
