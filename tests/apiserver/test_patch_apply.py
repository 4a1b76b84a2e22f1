"""Server-side apply and field ownership (server_side_apply, record_update).

Covers creating from an apply, merging into a live object (maps, keyed lists, set lists, atomic
lists), removing fields a manager stops applying unless someone else owns them, conflicts
between managers and their messages, force taking ownership, what an apply never writes
(status, resourceVersion, server metadata), and ownership transfer on ordinary writes.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from apiserver.patch import (
    ApplyConflict,
    FieldConflict,
    ManagedFields,
    PatchError,
    record_update,
    server_side_apply,
)

CONTAINERS = ("spec", "template", "spec", "containers")


def config_map(data: dict[str, str], **metadata: Any) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "demo", "namespace": "default", **metadata},
        "data": data,
    }


def deployment(*containers: dict[str, Any], **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "demo", "namespace": "default"},
        "spec": {**spec, "template": {"spec": {"containers": list(containers)}}},
    }


def apply(
    live: dict[str, Any] | None,
    managed: ManagedFields,
    applied: dict[str, Any],
    manager: str,
    force: bool = False,
) -> tuple[dict[str, Any], ManagedFields]:
    """server_side_apply, checking that it leaves its inputs untouched."""
    before = copy.deepcopy((live, managed, applied))
    result = server_side_apply(live, managed, applied, manager, force)
    assert (live, managed, applied) == before
    return result


def test_apply_creates_the_object_and_owns_its_fields() -> None:
    obj, managed = apply(None, {}, config_map({"a": "1"}, labels={"app": "demo"}), "helm")

    assert obj == config_map({"a": "1"}, labels={"app": "demo"})
    assert managed == {"helm": frozenset({("data", "a"), ("metadata", "labels", "app")})}


def test_apply_never_writes_status_or_server_metadata() -> None:
    applied = {
        **deployment({"name": "app", "image": "x"}),
        "status": {"replicas": 5},
    }
    applied["metadata"] |= {"resourceVersion": "7", "uid": "u", "managedFields": [{}]}

    obj, managed = apply(None, {}, applied, "helm")

    assert "status" not in obj
    assert obj["metadata"] == {"name": "demo", "namespace": "default"}
    assert all(path[0] != "status" for path in managed["helm"])


def test_keyed_list_elements_are_owned_by_merge_key() -> None:
    _, managed = apply(None, {}, deployment({"name": "app", "image": "x"}), "helm")

    assert managed["helm"] == {
        (*CONTAINERS, "k:name=app"),
        (*CONTAINERS, "k:name=app", "name"),
        (*CONTAINERS, "k:name=app", "image"),
    }


def test_reapply_without_a_field_removes_it() -> None:
    live, managed = apply(None, {}, config_map({"a": "1", "b": "2"}, labels={"x": "y"}), "helm")

    obj, managed = apply(live, managed, config_map({"a": "1"}), "helm")

    assert obj == config_map({"a": "1"})
    assert managed == {"helm": frozenset({("data", "a")})}


def test_reapply_without_a_container_or_env_var_removes_them() -> None:
    app = {"name": "app", "image": "x", "env": [{"name": "A", "value": "1"}, {"name": "B"}]}
    live, managed = apply(None, {}, deployment(app, {"name": "side", "image": "y"}), "helm")

    obj, _ = apply(
        live, managed, deployment({"name": "app", "image": "x", "env": [{"name": "B"}]}), "helm"
    )

    assert obj == deployment({"name": "app", "image": "x", "env": [{"name": "B"}]})


def test_reapply_without_every_field_of_a_map_removes_the_map() -> None:
    live, managed = apply(None, {}, config_map({"a": "1"}, annotations={"n": "v"}), "helm")

    obj, managed = apply(live, managed, config_map({"a": "1"}), "helm")

    assert "annotations" not in obj["metadata"]


def test_dropped_field_another_manager_owns_too_is_kept() -> None:
    live, managed = apply(None, {}, config_map({"a": "1", "b": "2"}), "helm")
    live, managed = apply(live, managed, config_map({"b": "2"}), "kubectl")

    obj, managed = apply(live, managed, config_map({"a": "1"}), "helm")

    assert obj["data"] == {"a": "1", "b": "2"}
    assert managed == {
        "helm": frozenset({("data", "a")}),
        "kubectl": frozenset({("data", "b")}),
    }


def test_dropped_element_keeps_when_another_manager_owns_a_field_inside_it() -> None:
    live, managed = apply(None, {}, deployment({"name": "app", "image": "x"}), "helm")
    live, managed = apply(live, managed, deployment({"name": "app", "args": ["--v"]}), "tuner")

    obj, _ = apply(live, managed, deployment(), "helm")

    assert obj["spec"]["template"]["spec"]["containers"] == [{"name": "app", "args": ["--v"]}]


def test_elements_added_by_another_manager_survive_a_reapply() -> None:
    live, managed = apply(None, {}, deployment({"name": "app", "image": "x"}), "helm")
    live, managed = apply(live, managed, deployment({"name": "mesh", "image": "proxy"}), "injector")

    obj, _ = apply(live, managed, deployment({"name": "app", "image": "x2"}), "helm")

    assert obj["spec"]["template"]["spec"]["containers"] == [
        {"name": "app", "image": "x2"},
        {"name": "mesh", "image": "proxy"},
    ]


def test_finalizers_are_owned_one_by_one() -> None:
    live, managed = apply(None, {}, config_map({}, finalizers=["a.io/x"]), "helm")
    live, managed = apply(live, managed, config_map({}, finalizers=["b.io/y"]), "ctrl")

    obj, managed = apply(live, managed, config_map({}), "helm")

    assert obj["metadata"]["finalizers"] == ["b.io/y"]
    assert managed == {"ctrl": frozenset({("metadata", "finalizers", 'v:"b.io/y"')})}


def test_atomic_lists_are_replaced_whole() -> None:
    live, managed = apply(None, {}, deployment({"name": "app", "args": ["--a", "--b"]}), "helm")

    obj, managed = apply(live, managed, deployment({"name": "app", "args": ["--c"]}), "helm")

    assert obj["spec"]["template"]["spec"]["containers"] == [{"name": "app", "args": ["--c"]}]
    assert (*CONTAINERS, "k:name=app", "args") in managed["helm"]


def test_custom_resource_lists_are_atomic() -> None:
    widget = {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}}
    live, managed = apply(None, {}, {**widget, "spec": {"items": [{"name": "a"}]}}, "helm")

    obj, managed = apply(live, managed, {**widget, "spec": {"items": [{"name": "b"}]}}, "helm")

    assert obj["spec"] == {"items": [{"name": "b"}]}
    assert managed == {"helm": frozenset({("spec", "items")})}


def test_changing_a_field_another_manager_owns_conflicts() -> None:
    live, managed = apply(None, {}, deployment(replicas=1), "helm")

    with pytest.raises(ApplyConflict) as excinfo:
        apply(live, managed, deployment(replicas=3), "kubectl")

    conflict = excinfo.value
    assert str(conflict) == 'Apply failed with 1 conflict: conflict with "helm": .spec.replicas'
    assert conflict.conflicts == ['conflict with "helm": .spec.replicas']
    assert conflict.fields == [FieldConflict("helm", ".spec.replicas")]


def test_conflicts_inside_keyed_lists_name_the_element() -> None:
    live, managed = apply(None, {}, deployment({"name": "app", "image": "x"}), "helm")

    with pytest.raises(ApplyConflict) as excinfo:
        apply(live, managed, deployment({"name": "app", "image": "y"}), "kubectl")

    assert excinfo.value.conflicts == [
        'conflict with "helm": .spec.template.spec.containers[name="app"].image'
    ]


def test_several_conflicts_are_listed_by_manager() -> None:
    live, managed = apply(None, {}, config_map({"a": "1", "b": "1"}), "helm")
    live, managed = apply(live, managed, config_map({"c": "1"}), "ops")

    with pytest.raises(ApplyConflict) as excinfo:
        apply(live, managed, config_map({"a": "2", "b": "2", "c": "2"}), "kubectl")

    assert str(excinfo.value) == (
        "Apply failed with 3 conflicts: "
        'conflicts with "helm":\n- .data.a\n- .data.b\n'
        'conflicts with "ops": .data.c'
    )


def test_applying_the_same_value_shares_ownership_without_conflict() -> None:
    live, managed = apply(None, {}, deployment(replicas=2), "helm")

    obj, managed = apply(live, managed, deployment(replicas=2), "kubectl")

    assert obj["spec"]["replicas"] == 2
    assert ("spec", "replicas") in managed["helm"]
    assert ("spec", "replicas") in managed["kubectl"]


def test_turning_an_owned_map_into_a_scalar_conflicts() -> None:
    live, managed = apply(None, {}, config_map({}, labels={"a": "1"}), "helm")
    applied = config_map({})
    applied["metadata"]["labels"] = "flat"

    with pytest.raises(ApplyConflict, match=r"\.metadata\.labels\.a"):
        apply(live, managed, applied, "kubectl")


def test_force_moves_ownership_and_the_old_owner_no_longer_removes_it() -> None:
    live, managed = apply(None, {}, deployment({"name": "app", "image": "x"}, replicas=1), "helm")

    live, managed = apply(live, managed, deployment(replicas=3), "kubectl", force=True)
    assert live["spec"]["replicas"] == 3
    assert ("spec", "replicas") not in managed["helm"]
    assert managed["kubectl"] == {("spec", "replicas")}

    obj, _ = apply(live, managed, deployment({"name": "app", "image": "x"}), "helm")
    assert obj["spec"]["replicas"] == 3


@pytest.mark.parametrize(
    ("applied", "message"),
    [
        pytest.param(["not", "an", "object"], "JSON object", id="not an object"),
        pytest.param(deployment({"image": "x"}), "merge key 'name'", id="element without key"),
        pytest.param(
            deployment({"name": "a"}, {"name": "a"}), "merge key 'name'", id="duplicate keys"
        ),
    ],
)
def test_invalid_apply_configurations_raise_patch_error(applied: Any, message: str) -> None:
    with pytest.raises(PatchError, match=message):
        server_side_apply(None, {}, applied, "helm", False)


def test_nulls_in_an_apply_configuration_mean_absent() -> None:
    live, managed = apply(None, {}, config_map({"a": "1", "b": "2"}), "helm")
    applied = config_map({"a": "1"})
    applied["data"]["b"] = None

    obj, _ = apply(live, managed, applied, "helm")

    assert obj["data"] == {"a": "1"}


# --- record_update -------------------------------------------------------------------------


def test_record_update_on_create_gives_the_writer_every_field() -> None:
    managed = record_update(None, config_map({"a": "1"}, labels={"x": "y"}), {}, "kubectl-create")

    assert managed == {"kubectl-create": frozenset({("data", "a"), ("metadata", "labels", "x")})}


def test_record_update_transfers_changed_fields_to_the_writer() -> None:
    old = config_map({"a": "1", "b": "1"})
    managed = record_update(None, old, {}, "helm")

    managed = record_update(
        old, config_map({"a": "1", "b": "2", "c": "3"}), managed, "kubectl-edit"
    )

    assert managed == {
        "helm": frozenset({("data", "a")}),
        "kubectl-edit": frozenset({("data", "b"), ("data", "c")}),
    }


def test_record_update_forgets_fields_that_no_longer_exist() -> None:
    old = config_map({"a": "1", "b": "1"})
    managed = record_update(None, old, {}, "helm")

    managed = record_update(old, config_map({"a": "1"}), managed, "kubectl-edit")

    assert managed == {"helm": frozenset({("data", "a")})}


def test_record_update_of_an_unchanged_object_changes_no_ownership() -> None:
    obj = deployment({"name": "app", "image": "x"})
    managed = record_update(None, obj, {}, "helm")

    assert record_update(obj, copy.deepcopy(obj), managed, "other") == managed


def test_a_field_taken_by_an_update_conflicts_with_the_next_apply() -> None:
    live, managed = apply(None, {}, deployment(replicas=1), "helm")
    edited = copy.deepcopy(live)
    edited["spec"]["replicas"] = 4
    managed = record_update(live, edited, managed, "kubectl-edit")

    with pytest.raises(ApplyConflict, match=r'conflict with "kubectl-edit": \.spec\.replicas'):
        apply(edited, managed, deployment(replicas=1), "helm")


# --- properties ----------------------------------------------------------------------------

data_maps = st.dictionaries(st.sampled_from("abcdef"), st.sampled_from(["1", "2"]), max_size=6)


@given(data_maps, data_maps)
def test_reapply_by_one_manager_leaves_exactly_the_new_configuration(
    first: dict[str, str], second: dict[str, str]
) -> None:
    live, managed = server_side_apply(None, {}, config_map(first), "helm", False)

    obj, managed = server_side_apply(live, managed, config_map(second), "helm", False)

    assert obj.get("data", {}) == second
    assert managed.get("helm", frozenset()) == {("data", key) for key in second}
