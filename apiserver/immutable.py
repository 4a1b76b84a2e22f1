"""What an update may not change, refused as the real server's update validation does.

``update_causes`` gives the field errors of an update of a built-in object (422 Invalid):

- Deployments, ReplicaSets and DaemonSets: ``spec.selector`` is immutable (their registry
  strategies, for apps/v1);
- StatefulSets: only ``replicas``, ``ordinals``, ``template``, ``updateStrategy``,
  ``persistentVolumeClaimRetentionPolicy`` and ``minReadySeconds`` may change
  (``ValidateStatefulSetUpdate``);
- Jobs: ``spec.completions`` (but for an Indexed Job changed with ``parallelism``),
  ``spec.selector``, ``spec.template`` (whose scheduling directives, labels and annotations
  may change while the Job is suspended and has never started) and ``spec.completionMode``
  (``ValidateJobSpecUpdate``);
- Services: their cluster IPs, once set (``validateUpgradeDowngradeClusterIPs``), after the
  registry has kept the allocated ones a client left out and synchronised ``clusterIP`` with
  ``clusterIPs`` (``service_ips``);
- Secrets (``type`` always) and ConfigMaps with ``immutable: true``: their data, and
  ``immutable`` itself.

Values are compared as the real server compares the decoded objects (``semantic_equal``: an
absent, null or empty value equals another, as Go's zero values and apimachinery's semantic
equality make them), with the defaults it would have filled in. Values in messages are
rendered as the real server renders them since 1.34: strings quoted, other values as JSON
(``go_json``). A Job's template is rendered from the object as sent; the real server renders
its internal Go struct, with every field.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from .errors import StatusCause

IMMUTABLE = "field is immutable"
IMMUTABLE_WHEN_SET = "field is immutable when `immutable` is set"
STATEFULSET_MUTABLE = (
    "replicas",
    "ordinals",
    "template",
    "updateStrategy",
    "persistentVolumeClaimRetentionPolicy",
    "minReadySeconds",
)
STATEFULSET_FORBIDDEN = (
    "updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template', "
    "'updateStrategy', 'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden"
)
_SCHEDULING_DIRECTIVES = ("nodeSelector", "tolerations", "schedulingGates")


def go_json(value: Any) -> str:
    """``value`` as Go's json.Marshal writes it: compact, map keys sorted, HTML escaped."""
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False, sort_keys=True)
    for raw, escaped in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026")):
        text = text.replace(raw, escaped)
    return text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")


def bad_value(value: Any) -> str:
    """A field error's bad value as ErrorBody renders it."""
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, bool):
        return "true" if value else "false"
    return go_json(value)


def label_selector_json(selector: Any) -> str:
    """A *metav1.LabelSelector as json.Marshal writes it (struct order, empty fields left out)."""
    if not isinstance(selector, dict):
        return "null"
    parts = []
    labels = selector.get("matchLabels")
    if labels:
        parts.append(f'"matchLabels":{go_json(labels)}')
    expressions = selector.get("matchExpressions")
    if expressions:
        rendered = []
        for requirement in expressions if isinstance(expressions, list) else []:
            req = requirement if isinstance(requirement, dict) else {}
            fields = [f'"key":{go_json(req.get("key", ""))}']
            fields.append(f'"operator":{go_json(req.get("operator", ""))}')
            if req.get("values"):
                fields.append(f'"values":{go_json(req["values"])}')
            rendered.append("{" + ",".join(fields) + "}")
        parts.append(f'"matchExpressions":[{",".join(rendered)}]')
    return "{" + ",".join(parts) + "}"


def _is_zero(value: Any) -> bool:
    """A zero value once decoded: null, empty, "", 0, false, or an object of zero values."""
    if isinstance(value, dict):
        return all(_is_zero(item) for item in value.values())
    return (
        value is None or value in ([], "") or value is False or (type(value) is int and value == 0)
    )


def semantic_equal(a: Any, b: Any) -> bool:
    """Equal as decoded Go values compare: absent, null, empty and zero values are equal."""
    if _is_zero(a) and _is_zero(b):
        return True
    if isinstance(a, dict) and isinstance(b, dict):
        return all(semantic_equal(a.get(k), b.get(k)) for k in a.keys() | b.keys())
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(semantic_equal(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b) and isinstance(a, bool) == isinstance(b, bool)


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _invalid(field: str, value: str, detail: str) -> StatusCause:
    return StatusCause("FieldValueInvalid", f"Invalid value: {value}: {detail}", field)


def _forbidden(field: str, detail: str) -> StatusCause:
    return StatusCause("FieldValueForbidden", f"Forbidden: {detail}", field)


def update_causes(
    group: str, plural: str, new: dict[str, Any], old: dict[str, Any]
) -> list[StatusCause]:
    """The field errors of an update of a built-in object, [] when it may be stored."""
    check = _CHECKS.get((group, plural))
    return [] if check is None else check(new, old)


def _selector(new: dict[str, Any], old: dict[str, Any]) -> list[StatusCause]:
    selector = _dict(new.get("spec")).get("selector")
    if semantic_equal(selector, _dict(old.get("spec")).get("selector")):
        return []
    return [_invalid("spec.selector", label_selector_json(selector), IMMUTABLE)]


def _statefulset(new: dict[str, Any], old: dict[str, Any]) -> list[StatusCause]:
    if semantic_equal(_statefulset_rest(new), _statefulset_rest(old)):
        return []
    return [_forbidden("spec", STATEFULSET_FORBIDDEN)]


def _statefulset_rest(obj: dict[str, Any]) -> dict[str, Any]:
    """The fields of a StatefulSet's spec that may not change, defaulted as stored."""
    spec = _dict(obj.get("spec"))
    rest = {k: v for k, v in spec.items() if k not in STATEFULSET_MUTABLE}
    rest["podManagementPolicy"] = rest.get("podManagementPolicy") or "OrderedReady"
    if rest.get("revisionHistoryLimit") is None:
        rest["revisionHistoryLimit"] = 10
    templates = rest.get("volumeClaimTemplates")
    if isinstance(templates, list):
        rest["volumeClaimTemplates"] = [_claim_template(t) for t in templates]
    return rest


def _claim_template(template: Any) -> Any:
    if not isinstance(template, dict):
        return template
    claim = {k: v for k, v in template.items() if k not in ("apiVersion", "kind", "status")}
    spec = _dict(claim.get("spec"))
    claim["spec"] = {**spec, "volumeMode": spec.get("volumeMode") or "Filesystem"}
    return claim


def _job(new: dict[str, Any], old: dict[str, Any]) -> list[StatusCause]:
    spec, old_spec = _dict(new.get("spec")), _dict(old.get("spec"))
    causes = _completions(spec, old_spec)
    causes += _selector(new, old)
    template = _dict(spec.get("template"))
    old_template = _dict(old_spec.get("template"))
    suspended = old_spec.get("suspend") is True
    if suspended and not _dict(old.get("status")).get("startTime"):
        old_template = _with_scheduling_of(old_template, template)
    if not semantic_equal(template, old_template):
        causes.append(_invalid("spec.template", go_json(template), IMMUTABLE))
    mode, old_mode = spec.get("completionMode"), old_spec.get("completionMode")
    if (mode or "NonIndexed") != (old_mode or "NonIndexed"):
        causes.append(_invalid("spec.completionMode", bad_value(mode), IMMUTABLE))
    return causes


def _completions(spec: dict[str, Any], old_spec: dict[str, Any]) -> list[StatusCause]:
    completions = spec.get("completions")
    if semantic_equal(completions, old_spec.get("completions")):
        return []
    if spec.get("completionMode") != "Indexed":
        return [_invalid("spec.completions", bad_value(completions), IMMUTABLE)]
    if completions is None or completions == spec.get("parallelism"):
        return []
    detail = "can only be modified in tandem with spec.parallelism"
    return [_invalid("spec.completions", bad_value(completions), detail)]


def _with_scheduling_of(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """The old template with what a suspended, never started Job may change taken from the
    new one: node affinity, node selector, tolerations, scheduling gates, labels and
    annotations (validatePodTemplateUpdate)."""
    old_spec, new_spec = dict(_dict(old.get("spec"))), _dict(new.get("spec"))
    for field in _SCHEDULING_DIRECTIVES:
        old_spec[field] = new_spec.get(field)
    affinity, old_affinity = new_spec.get("affinity"), old_spec.get("affinity")
    if isinstance(old_affinity, dict):
        old_affinity = {k: v for k, v in old_affinity.items() if k != "nodeAffinity"}
    if isinstance(affinity, dict):
        old_affinity = {**_dict(old_affinity), "nodeAffinity": affinity.get("nodeAffinity")}
    old_spec["affinity"] = old_affinity
    metadata = dict(_dict(old.get("metadata")))
    new_metadata = _dict(new.get("metadata"))
    metadata["labels"] = new_metadata.get("labels")
    metadata["annotations"] = new_metadata.get("annotations")
    return {**old, "metadata": metadata, "spec": old_spec}


def _configmap(new: dict[str, Any], old: dict[str, Any]) -> list[StatusCause]:
    return _immutable_data(new, old, ("data", "binaryData"))


def _secret(new: dict[str, Any], old: dict[str, Any]) -> list[StatusCause]:
    causes = []
    kind, old_kind = new.get("type") or "Opaque", old.get("type") or "Opaque"
    if kind != old_kind:
        causes.append(_invalid("type", bad_value(kind), IMMUTABLE))
    return causes + _immutable_data(new, old, ("data",))


def _immutable_data(
    new: dict[str, Any], old: dict[str, Any], fields: tuple[str, ...]
) -> list[StatusCause]:
    if old.get("immutable") is not True:
        return []
    causes = []
    if new.get("immutable") is not True:
        causes.append(_forbidden("immutable", IMMUTABLE_WHEN_SET))
    for field in fields:
        if (new.get(field) or None) != (old.get(field) or None):
            causes.append(_forbidden(field, IMMUTABLE_WHEN_SET))
    return causes


def service_ips(spec: dict[str, Any], old_spec: dict[str, Any] | None) -> dict[str, Any]:
    """A Service's spec with the cluster IPs the registry fills in before validation: on
    create, ``clusterIPs`` from ``clusterIP``; on update, the allocated ones a client left
    out (patchAllocatedValues), then the two fields synchronised (normalizeClusterIPs)."""
    spec = dict(spec)
    if old_spec is None:
        if spec.get("clusterIP") and not spec.get("clusterIPs"):
            spec["clusterIPs"] = [spec["clusterIP"]]
        return spec
    external = "ExternalName"
    if spec.get("type") != external and old_spec.get("type") != external:
        if not spec.get("clusterIP") and old_spec.get("clusterIP"):
            spec["clusterIP"] = old_spec["clusterIP"]
        if not spec.get("clusterIPs") and old_spec.get("clusterIPs"):
            spec["clusterIPs"] = old_spec["clusterIPs"]
    old_ip, ip = old_spec.get("clusterIP") or "", spec.get("clusterIP") or ""
    old_ips, ips = old_spec.get("clusterIPs") or [], spec.get("clusterIPs") or []
    if old_ips and not ips and old_ip == ip:
        spec["clusterIPs"] = ips = old_ips
    if old_ip != ip and ips == old_ips:
        if old_ip and not ip:
            spec.pop("clusterIPs", None)
        else:
            spec["clusterIPs"] = [ip]
    return spec


def _service(new: dict[str, Any], old: dict[str, Any]) -> list[StatusCause]:
    """validateUpgradeDowngradeClusterIPs: the cluster IPs may not change once set."""
    spec, old_spec = _dict(new.get("spec")), _dict(old.get("spec"))
    if "ExternalName" in (spec.get("type"), old_spec.get("type")):
        return []
    if spec.get("clusterIP") == "None" and old_spec.get("clusterIP") == "None":
        return []
    ips, old_ips = spec.get("clusterIPs") or [], old_spec.get("clusterIPs") or []
    shown = go_json(spec.get("clusterIPs")) if spec.get("clusterIPs") else "null"
    first = "spec.clusterIPs[0]"
    changed = "may not change once set"
    if len(ips) == len(old_ips):
        return [
            _invalid(f"spec.clusterIPs[{i}]", shown, changed)
            for i, ip in enumerate(old_ips)
            if ip != ips[i]
        ]
    causes = []
    if len(old_ips) > len(ips):
        if not ips:
            causes.append(_invalid(first, shown, "primary clusterIP can not be unset"))
        elif ips[0] != old_ips[0]:
            causes.append(_invalid(first, shown, changed))
        if len(ips) == 1 and spec.get("ipFamilyPolicy") != "SingleStack":
            detail = (
                "`ipFamilyPolicy` must be set to 'SingleStack' when releasing the secondary "
                "clusterIP"
            )
            causes.append(_invalid(first, shown, detail))
    elif old_ips and ips[0] != old_ips[0]:
        causes.append(_invalid(first, shown, changed))
    return causes


_CHECKS: dict[tuple[str, str], Callable[[dict[str, Any], dict[str, Any]], list[StatusCause]]] = {
    ("apps", "deployments"): _selector,
    ("apps", "replicasets"): _selector,
    ("apps", "daemonsets"): _selector,
    ("apps", "statefulsets"): _statefulset,
    ("batch", "jobs"): _job,
    ("", "services"): _service,
    ("", "configmaps"): _configmap,
    ("", "secrets"): _secret,
}
