"""Kubernetes strategic merge patch of built-in kinds, as helm 3 and kubectl send it.

Covers merging lists by their patch merge key (containers, env, ports, volumes, Service ports,
conditions, ownerReferences), set-merged finalizers, atomic lists, every directive ($patch
delete/replace in maps and lists, $setElementOrder, $deleteFromPrimitiveList, $retainKeys),
null deletion, custom resources, invalid patches, and that no directive ever reaches the result
and inputs are never mutated.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from apiserver.patch import (
    PatchError,
    apply_strategic_merge_patch,
    supports_strategic_merge,
)

DEPLOYMENT = ("apps", "v1", "Deployment")


def directive_keys(value: Any) -> list[str]:
    """Every key starting with $ anywhere in value."""
    if isinstance(value, dict):
        own = [key for key in value if key.startswith("$")]
        return own + [k for child in value.values() for k in directive_keys(child)]
    if isinstance(value, list):
        return [k for child in value for k in directive_keys(child)]
    return []


def smp(obj: dict[str, Any], patch: Any, gvk: tuple[str, str, str] = DEPLOYMENT) -> Any:
    """Applies the patch, checking that the inputs stay untouched and no directive is left."""
    obj_before, patch_before = copy.deepcopy(obj), copy.deepcopy(patch)
    result = apply_strategic_merge_patch(obj, patch, gvk)
    assert obj == obj_before
    assert patch == patch_before
    assert directive_keys(result) == []
    return result


def deployment(pod_spec: dict[str, Any], **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "demo", "namespace": "default"},
        "spec": {**spec, "template": {"spec": pod_spec}},
    }


def pod_spec_of(obj: dict[str, Any]) -> Any:
    return obj["spec"]["template"]["spec"]


def test_helm3_image_upgrade_patch() -> None:
    live = deployment({"containers": [{"name": "demo", "image": "nginx:1.26", "ports": []}]})
    patch = {
        "spec": {
            "template": {
                "spec": {
                    "$setElementOrder/containers": [{"name": "demo"}],
                    "containers": [{"image": "nginx:1.27", "name": "demo"}],
                }
            }
        }
    }

    result = smp(live, patch)

    assert pod_spec_of(result) == {
        "containers": [{"name": "demo", "image": "nginx:1.27", "ports": []}]
    }


def test_helm3_replicas_patch_keeps_everything_else() -> None:
    live = deployment({"containers": [{"name": "demo", "image": "x"}]}, replicas=1)

    result = smp(live, {"spec": {"replicas": 2}})

    assert result == deployment({"containers": [{"name": "demo", "image": "x"}]}, replicas=2)


def test_kubectl_env_patch_merges_by_name_and_reorders() -> None:
    env = [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}, {"name": "C", "value": "3"}]
    live = deployment({"containers": [{"name": "app", "image": "x", "env": env}]})
    patch = {
        "spec": {
            "template": {
                "spec": {
                    "$setElementOrder/containers": [{"name": "app"}],
                    "containers": [
                        {
                            "$setElementOrder/env": [{"name": "C"}, {"name": "A"}, {"name": "D"}],
                            "env": [{"name": "A", "value": "10"}, {"name": "D", "value": "4"}],
                            "name": "app",
                        }
                    ],
                }
            }
        }
    }

    result = smp(live, patch)

    assert pod_spec_of(result)["containers"][0]["env"] == [
        {"name": "C", "value": "3"},
        {"name": "A", "value": "10"},
        {"name": "D", "value": "4"},
        {"name": "B", "value": "2"},
    ]


def test_new_containers_are_appended_and_existing_ones_kept() -> None:
    live = deployment({"containers": [{"name": "app", "image": "x"}]})
    patch = {"spec": {"template": {"spec": {"containers": [{"name": "side", "image": "y"}]}}}}

    assert pod_spec_of(smp(live, patch))["containers"] == [
        {"name": "app", "image": "x"},
        {"name": "side", "image": "y"},
    ]


def test_patch_delete_directive_removes_a_list_element_by_key() -> None:
    live = deployment({"containers": [{"name": "app"}, {"name": "side"}]})
    patch = {"spec": {"template": {"spec": {"containers": [{"name": "side", "$patch": "delete"}]}}}}

    assert pod_spec_of(smp(live, patch))["containers"] == [{"name": "app"}]


def test_patch_delete_directive_removes_a_map() -> None:
    live = deployment({}, strategy={"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1}})

    result = smp(live, {"spec": {"strategy": {"$patch": "delete"}}})

    assert "strategy" not in result["spec"]


def test_patch_replace_directive_replaces_a_map() -> None:
    live = {"metadata": {"name": "c", "labels": {"a": "1", "b": "2"}}}
    patch = {"metadata": {"labels": {"$patch": "replace", "c": "3", "d": None}}}

    result = smp(live, patch, ("", "v1", "ConfigMap"))

    assert result == {"metadata": {"name": "c", "labels": {"c": "3"}}}


def test_patch_replace_element_replaces_a_keyed_list() -> None:
    live = deployment({"containers": [{"name": "app", "image": "x"}, {"name": "side"}]})
    patch = {
        "spec": {
            "template": {
                "spec": {"containers": [{"$patch": "replace"}, {"name": "new", "image": "z"}]}
            }
        }
    }

    assert pod_spec_of(smp(live, patch))["containers"] == [{"name": "new", "image": "z"}]


def test_null_deletes_fields_at_any_depth() -> None:
    live = deployment({"containers": [{"name": "app", "image": "x", "args": ["a"]}]}, replicas=3)
    patch = {
        "spec": {
            "replicas": None,
            "template": {"spec": {"containers": [{"name": "app", "args": None}]}},
        }
    }

    result = smp(live, patch)

    assert "replicas" not in result["spec"]
    assert pod_spec_of(result)["containers"] == [{"name": "app", "image": "x"}]


def test_nulls_inside_new_elements_are_dropped() -> None:
    live = deployment({"containers": []})
    patch = {"spec": {"template": {"spec": {"containers": [{"name": "a", "image": None}]}}}}

    assert pod_spec_of(smp(live, patch))["containers"] == [{"name": "a"}]


def test_finalizers_merge_as_a_set_and_delete_from_primitive_list() -> None:
    live = {"metadata": {"name": "w", "finalizers": ["a", "b"]}}
    patch = {"metadata": {"$deleteFromPrimitiveList/finalizers": ["a"], "finalizers": ["c", "b"]}}

    result = smp(live, patch, ("example.com", "v1", "Widget"))

    assert result["metadata"]["finalizers"] == ["b", "c"]


def test_set_element_order_of_a_primitive_list() -> None:
    live = {"metadata": {"name": "w", "finalizers": ["a", "b", "c"]}}
    patch = {"metadata": {"$setElementOrder/finalizers": ["c", "a", "b"]}}

    result = smp(live, patch, ("", "v1", "ConfigMap"))

    assert result["metadata"]["finalizers"] == ["c", "a", "b"]


def test_retain_keys_drops_fields_not_listed() -> None:
    live = deployment({}, strategy={"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1}})
    patch = {"spec": {"strategy": {"$retainKeys": ["type"], "type": "Recreate"}}}

    assert smp(live, patch)["spec"]["strategy"] == {"type": "Recreate"}


@pytest.mark.parametrize(
    ("pod_spec", "patch_pod_spec", "expected"),
    [
        pytest.param(
            {"containers": [{"name": "a", "ports": [{"containerPort": 80, "name": "http"}]}]},
            {"containers": [{"name": "a", "ports": [{"containerPort": 9090, "name": "m"}]}]},
            {
                "containers": [
                    {
                        "name": "a",
                        "ports": [
                            {"containerPort": 80, "name": "http"},
                            {"containerPort": 9090, "name": "m"},
                        ],
                    }
                ]
            },
            id="container ports by containerPort",
        ),
        pytest.param(
            {
                "volumes": [{"name": "data", "emptyDir": {}}],
                "containers": [
                    {"name": "a", "volumeMounts": [{"mountPath": "/d", "name": "data"}]}
                ],
            },
            {
                "volumes": [{"name": "cfg", "configMap": {"name": "c"}}],
                "containers": [
                    {"name": "a", "volumeMounts": [{"mountPath": "/d", "readOnly": True}]}
                ],
            },
            {
                "volumes": [
                    {"name": "data", "emptyDir": {}},
                    {"name": "cfg", "configMap": {"name": "c"}},
                ],
                "containers": [
                    {
                        "name": "a",
                        "volumeMounts": [{"mountPath": "/d", "name": "data", "readOnly": True}],
                    }
                ],
            },
            id="volumes by name, volumeMounts by mountPath",
        ),
        pytest.param(
            {
                "initContainers": [{"name": "init", "image": "a"}],
                "imagePullSecrets": [{"name": "r"}],
            },
            {
                "initContainers": [{"name": "init", "image": "b"}],
                "imagePullSecrets": [{"name": "s"}],
            },
            {
                "initContainers": [{"name": "init", "image": "b"}],
                "imagePullSecrets": [{"name": "r"}, {"name": "s"}],
            },
            id="initContainers and imagePullSecrets by name",
        ),
        pytest.param(
            {"tolerations": [{"key": "a", "operator": "Exists"}]},
            {"tolerations": [{"key": "b", "operator": "Exists"}]},
            {"tolerations": [{"key": "b", "operator": "Exists"}]},
            id="tolerations are replaced",
        ),
        pytest.param(
            {"containers": [{"name": "a", "args": ["--x", "--y"]}]},
            {"containers": [{"name": "a", "args": ["--z"]}]},
            {"containers": [{"name": "a", "args": ["--z"]}]},
            id="lists without a merge key are replaced",
        ),
    ],
)
def test_pod_spec_lists(
    pod_spec: dict[str, Any], patch_pod_spec: dict[str, Any], expected: dict[str, Any]
) -> None:
    patch = {"spec": {"template": {"spec": patch_pod_spec}}}

    assert pod_spec_of(smp(deployment(pod_spec), patch)) == expected


@pytest.mark.parametrize(
    ("gvk", "prefix"),
    [
        (("", "v1", "Pod"), ("spec",)),
        (("apps", "v1", "StatefulSet"), ("spec", "template", "spec")),
        (("apps", "v1", "DaemonSet"), ("spec", "template", "spec")),
        (("batch", "v1", "Job"), ("spec", "template", "spec")),
        (("batch", "v1", "CronJob"), ("spec", "jobTemplate", "spec", "template", "spec")),
    ],
)
def test_pod_templates_of_every_workload_kind_merge_containers(
    gvk: tuple[str, str, str], prefix: tuple[str, ...]
) -> None:
    def nest(value: Any) -> Any:
        for key in reversed(prefix):
            value = {key: value}
        return value

    live = nest({"containers": [{"name": "a", "image": "x"}, {"name": "b", "image": "y"}]})
    patch = nest({"containers": [{"name": "b", "image": "z"}]})

    assert smp(live, patch, gvk) == nest(
        {"containers": [{"name": "a", "image": "x"}, {"name": "b", "image": "z"}]}
    )


def test_service_ports_merge_by_port() -> None:
    live = {"spec": {"ports": [{"port": 80, "targetPort": 8080}, {"port": 443}]}}
    patch = {"spec": {"ports": [{"port": 80, "targetPort": "http"}]}}

    result = smp(live, patch, ("", "v1", "Service"))

    assert result["spec"]["ports"] == [{"port": 80, "targetPort": "http"}, {"port": 443}]


def test_role_binding_subjects_and_role_rules_are_replaced() -> None:
    binding = {"subjects": [{"kind": "ServiceAccount", "name": "a"}], "roleRef": {"name": "r"}}
    role = {"rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]}]}
    new_subjects = {"subjects": [{"kind": "ServiceAccount", "name": "b"}]}
    new_rules = {"rules": [{"apiGroups": ["apps"], "resources": ["deployments"], "verbs": ["*"]}]}

    rbac = "rbac.authorization.k8s.io"
    assert smp(binding, new_subjects, (rbac, "v1", "RoleBinding")) == {**binding, **new_subjects}
    assert smp(role, new_rules, (rbac, "v1", "Role")) == new_rules


def test_status_conditions_merge_by_type() -> None:
    live = {"status": {"conditions": [{"type": "Available", "status": "False"}]}}
    patch = {
        "status": {
            "conditions": [
                {"type": "Progressing", "status": "True"},
                {"type": "Available", "status": "True"},
            ]
        }
    }

    assert smp(live, patch)["status"]["conditions"] == [
        {"type": "Available", "status": "True"},
        {"type": "Progressing", "status": "True"},
    ]


def test_owner_references_merge_by_uid() -> None:
    live = {"metadata": {"ownerReferences": [{"uid": "1", "name": "a"}]}}
    patch = {"metadata": {"ownerReferences": [{"uid": "2", "name": "b"}]}}

    assert smp(live, patch, ("", "v1", "ConfigMap"))["metadata"]["ownerReferences"] == [
        {"uid": "1", "name": "a"},
        {"uid": "2", "name": "b"},
    ]


def test_custom_resource_lists_are_replaced() -> None:
    live = {"spec": {"containers": [{"name": "a"}]}}
    patch = {"spec": {"containers": [{"name": "b"}]}}

    assert smp(live, patch, ("example.com", "v1", "Widget")) == patch


@pytest.mark.parametrize(
    ("gvk", "supported"),
    [
        (("", "v1", "ConfigMap"), True),
        (("apps", "v1", "Deployment"), True),
        (("rbac.authorization.k8s.io", "v1", "Role"), True),
        (("example.com", "v1", "Widget"), False),
        (("flux.weave.works", "v1beta1", "HelmRelease"), False),
    ],
)
def test_supports_strategic_merge_only_for_builtin_groups(
    gvk: tuple[str, str, str], supported: bool
) -> None:
    assert supports_strategic_merge(gvk) is supported


@pytest.mark.parametrize(
    ("patch", "message"),
    [
        pytest.param(["not", "an", "object"], "JSON object", id="not an object"),
        pytest.param({"$patch": "delete"}, "whole object", id="delete the object"),
        pytest.param({"spec": {"$patch": "explode"}}, "unknown \\$patch", id="bad $patch"),
        pytest.param({"spec": {"$frobnicate": 1}}, "unknown directive", id="unknown directive"),
        pytest.param({"spec": {"$retainKeys": "type"}}, "retainKeys", id="bad retainKeys"),
        pytest.param({"spec": {"$setElementOrder/x": {}}}, "must be a list", id="bad order"),
        pytest.param(
            {"metadata": {"$deleteFromPrimitiveList/finalizers": "a"}}, "must be a list", id="del"
        ),
        pytest.param(
            {"spec": {"template": {"spec": {"containers": [{"image": "x"}]}}}},
            "merge key 'name'",
            id="element without merge key",
        ),
        pytest.param(
            {"spec": {"template": {"spec": {"containers": ["app"]}}}},
            "merge key 'name'",
            id="element not an object",
        ),
    ],
)
def test_invalid_strategic_patches_raise_patch_error(patch: Any, message: str) -> None:
    live = deployment({"containers": [{"name": "app"}]})

    with pytest.raises(PatchError, match=message):
        apply_strategic_merge_patch(live, patch, DEPLOYMENT)


def test_result_shares_nothing_with_the_patch() -> None:
    patch = {"spec": {"template": {"spec": {"containers": [{"name": "a", "args": ["x"]}]}}}}

    result = smp(deployment({"containers": []}), patch)
    pod_spec_of(result)["containers"][0]["args"].append("y")

    assert patch["spec"]["template"]["spec"]["containers"][0]["args"] == ["x"]


# --- no directive ever reaches the result --------------------------------------------------

patch_keys = st.sampled_from(
    [
        "containers",
        "env",
        "name",
        "image",
        "finalizers",
        "$patch",
        "$retainKeys",
        "$setElementOrder/containers",
        "$setElementOrder/env",
        "$deleteFromPrimitiveList/finalizers",
    ]
)
patch_values = st.recursive(
    st.none() | st.sampled_from(["a", "b", "delete", "replace", "merge"]) | st.integers(0, 2),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(patch_keys, children, max_size=4)
    ),
    max_leaves=15,
)


@given(st.dictionaries(patch_keys, patch_values, max_size=4))
def test_random_patches_never_leave_directives(patch: dict[str, Any]) -> None:
    live = deployment({"containers": [{"name": "a", "env": [{"name": "a"}]}]})
    live["metadata"]["finalizers"] = ["a"]
    for wrapped in (patch, {"metadata": patch}, {"spec": {"template": {"spec": patch}}}):
        try:
            result = apply_strategic_merge_patch(live, wrapped, DEPLOYMENT)
        except PatchError:
            continue
        assert directive_keys(result) == []
