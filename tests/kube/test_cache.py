"""Cache: latest object per key, change callbacks, relist diffs and the synced flag.

Covers put/delete notifying once per real change (same resourceVersion is not a
change), deletions notified after the object is gone, ``replace`` turning
vanished objects into deletions and setting ``synced``; and, as a hypothesis
property, that any sequence of puts, deletes and replaces leaves the cache
equal to a plain dict model with a notification for every key whose state changed.
"""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from controller.keys import ObjectKey
from controller.kube.cache import Cache


def key(name: str) -> ObjectKey:
    return ObjectKey("flux.weave.works", "default", name)


def obj(name: str, version: int) -> dict[str, Any]:
    return {"metadata": {"name": name, "resourceVersion": str(version)}}


def test_put_and_delete_notify_each_real_change() -> None:
    seen: list[tuple[ObjectKey, dict[str, Any] | None]] = []
    cache = Cache()
    cache.set_on_change(lambda k: seen.append((k, cache.get(k))))
    cache.put(key("a"), obj("a", 1))
    cache.put(key("a"), obj("a", 1))  # same version again: not a change
    cache.put(key("a"), obj("a", 2))
    cache.delete(key("a"))
    cache.delete(key("a"))  # already gone: not a change
    assert seen == [(key("a"), obj("a", 1)), (key("a"), obj("a", 2)), (key("a"), None)]
    assert len(cache) == 0


def test_replace_diffs_against_the_cache_and_marks_synced() -> None:
    changed: list[ObjectKey] = []
    cache = Cache(on_change=changed.append)
    assert not cache.synced.is_set()
    cache.put(key("kept"), obj("kept", 1))
    cache.put(key("gone"), obj("gone", 2))
    cache.put(key("changed"), obj("changed", 3))
    changed.clear()
    cache.replace(
        "flux.weave.works",
        [
            (key("kept"), obj("kept", 1)),
            (key("changed"), obj("changed", 4)),
            (key("new"), obj("new", 5)),
        ],
    )
    assert sorted(changed) == sorted([key("changed"), key("new"), key("gone")])
    assert set(cache.keys()) == {key("kept"), key("changed"), key("new")}
    assert key("gone") not in cache
    assert cache.synced.is_set()


OPERATIONS = st.lists(
    st.one_of(
        st.tuples(st.just("put"), st.sampled_from("abcd"), st.integers(1, 4)),
        st.tuples(st.just("delete"), st.sampled_from("abcd"), st.just(0)),
        st.tuples(
            st.just("replace"),
            st.dictionaries(st.sampled_from("abcd"), st.integers(1, 4)),
            st.just(0),
        ),
    ),
    max_size=30,
)


@given(OPERATIONS)
def test_cache_matches_a_dict_model_and_notifies_every_change(
    operations: list[tuple[str, Any, int]],
) -> None:
    notified: set[ObjectKey] = set()
    cache = Cache(on_change=notified.add)
    model: dict[str, int] = {}
    for operation, target, version in operations:
        before = dict(model)
        notified.clear()
        if operation == "put":
            cache.put(key(target), obj(target, version))
            model[target] = version
        elif operation == "delete":
            cache.delete(key(target))
            model.pop(target, None)
        else:
            cache.replace(
                "flux.weave.works", [(key(name), obj(name, v)) for name, v in target.items()]
            )
            model = dict(target)
        changed = {
            name for name in before.keys() | model.keys() if before.get(name) != model.get(name)
        }
        assert notified == {key(name) for name in changed}
        assert {k.name: cache.get(k) for k in cache} == {n: obj(n, v) for n, v in model.items()}


def test_each_group_lists_only_its_own_keys_and_sync_waits_for_every_group() -> None:
    cache = Cache(groups=("flux.weave.works", "helm.fluxcd.io"))
    other = ObjectKey("helm.fluxcd.io", "default", "kept")
    cache.replace("helm.fluxcd.io", [(other, obj("kept", 1))])
    assert not cache.synced.is_set()
    cache.replace("flux.weave.works", [(key("new"), obj("new", 2))])
    assert cache.synced.is_set()
    cache.replace("flux.weave.works", [])
    assert list(cache) == [other]
