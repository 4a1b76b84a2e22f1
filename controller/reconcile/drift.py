"""Drift between a release's manifest and its live objects, decided without I/O.

The comparison is the one helm-controller makes: each object of the manifest, as helm
applied it (its namespace, helm's ownership label and annotations), is sent to the API
server as a server-side apply in dry-run mode, forced, by helm's own field manager
(``helm``); what the server would make of the live object is compared with the live
object. The server does the defaulting, the normalising (``500m`` and ``0.5``) and the
merging of what other managers own, so only fields the manifest sets and someone changed
count as drift. Applying as ``helm`` (not a manager of ours) means a correction leaves the
fields owned as helm's own apply left them: a later upgrade by helm 4's server-side apply
meets no conflict, and a field a later chart drops is removed as usual.

Ignore rules (JSON pointers, optionally for a target) are taken out of the comparison and
given their live value in what is applied, so that a correction never resets them (an
HPA's replicas); a rule with the pointer ``""`` leaves the whole object out.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterator, Mapping
from typing import Any

from controller.api import DriftIgnoreRule, DriftTarget
from controller.api.selectors import parse_selector
from controller.keys import ReleaseKey

FIELD_MANAGER = "helm"
"""helm's field manager (helm 3's updates and helm 4's server-side applies)."""
DISABLED_KEY = "helm.toolkit.fluxcd.io/driftDetection"
"""helm-controller's label or annotation: the value ``disabled`` leaves an object out."""
WHOLE_OBJECT = ""
NOISE = ("managedFields", "resourceVersion", "generation", "creationTimestamp", "uid")
"""Metadata the server maintains: never drift."""


def as_helm_applied(
    obj: Mapping[str, Any], release: ReleaseKey, namespaced: bool
) -> dict[str, Any]:
    """The object as helm sent it: in the release's namespace unless the manifest names
    one (cluster-scoped kinds in none), with the ownership metadata helm adds to all."""
    applied = copy.deepcopy(dict(obj))
    metadata = applied["metadata"] = dict(applied.get("metadata") or {})
    if namespaced:
        metadata.setdefault("namespace", release.namespace)
    else:
        metadata.pop("namespace", None)
    metadata["labels"] = {**(metadata.get("labels") or {}), "app.kubernetes.io/managed-by": "Helm"}
    metadata["annotations"] = {
        **(metadata.get("annotations") or {}),
        "meta.helm.sh/release-name": release.name,
        "meta.helm.sh/release-namespace": release.namespace,
    }
    return applied


def left_out(obj: Mapping[str, Any]) -> bool:
    """Whether an object is marked out of drift detection (label or annotation)."""
    metadata = obj.get("metadata") or {}
    marks = (metadata.get("labels") or {}, metadata.get("annotations") or {})
    return any(mark.get(DISABLED_KEY) == "disabled" for mark in marks)


def ignored_paths(rules: tuple[DriftIgnoreRule, ...], obj: Mapping[str, Any]) -> tuple[str, ...]:
    """The pointers ignored for ``obj``: those of every rule whose target it matches."""
    return tuple(
        path
        for rule in rules
        if rule.target is None or targets(rule.target, obj)
        for path in rule.paths
    )


def targets(target: DriftTarget, obj: Mapping[str, Any]) -> bool:
    """Whether ``obj`` is one of the objects ``target`` selects."""
    group, _, version = str(obj.get("apiVersion", "")).rpartition("/")
    metadata = obj.get("metadata") or {}
    named = {
        target.group: group,
        target.version: version,
        target.kind: str(obj.get("kind", "")),
        target.name: str(metadata.get("name", "")),
        target.namespace: str(metadata.get("namespace", "")),
    }
    if not all(re.fullmatch(pattern, value) for pattern, value in named.items() if pattern):
        return False
    selected = (
        (target.label_selector, metadata.get("labels") or {}),
        (target.annotation_selector, metadata.get("annotations") or {}),
    )
    return all(parse_selector(text).matches(marks) for text, marks in selected if text)


def with_live_values(
    applied: dict[str, Any], live: Mapping[str, Any] | None, paths: tuple[str, ...]
) -> dict[str, Any]:
    """``applied`` with each ignored field as it is live (absent when it is not live)."""
    for path in paths:
        tokens = pointer_tokens(path)
        if not tokens:
            continue
        found, value = _get(live, tokens) if live is not None else (False, None)
        if found:
            _set(applied, tokens, copy.deepcopy(value))
        else:
            _remove(applied, tokens)
    return applied


def differences(
    live: Mapping[str, Any], result: Mapping[str, Any], ignored: tuple[str, ...]
) -> tuple[str, ...]:
    """JSON pointers of the fields where the dry-run ``result`` differs from ``live``,
    server-maintained metadata, the status and ``ignored`` left out."""
    if WHOLE_OBJECT in ignored:
        return ()
    before, after = _comparable(live, ignored), _comparable(result, ignored)
    return tuple(_walk(before, after, ""))


def _comparable(obj: Mapping[str, Any], ignored: tuple[str, ...]) -> dict[str, Any]:
    trimmed = copy.deepcopy(dict(obj))
    trimmed.pop("status", None)
    metadata = trimmed.get("metadata")
    if isinstance(metadata, dict):
        for key in NOISE:
            metadata.pop(key, None)
    for path in ignored:
        _remove(trimmed, pointer_tokens(path))
    return trimmed


def _walk(before: Any, after: Any, at: str) -> Iterator[str]:
    if isinstance(before, dict) and isinstance(after, dict):
        for key in sorted(before.keys() | after.keys()):
            yield from _walk(before.get(key), after.get(key), f"{at}/{escape(str(key))}")
    elif isinstance(before, list) and isinstance(after, list) and len(before) == len(after):
        for index, (old, new) in enumerate(zip(before, after, strict=True)):
            yield from _walk(old, new, f"{at}/{index}")
    elif before != after:
        yield at


def escape(token: str) -> str:
    return token.replace("~", "~0").replace("/", "~1")


def pointer_tokens(pointer: str) -> list[str]:
    """The reference tokens of a JSON pointer (RFC 6901); ``""`` has none."""
    if not pointer:
        return []
    return [token.replace("~1", "/").replace("~0", "~") for token in pointer[1:].split("/")]


def _get(obj: Any, tokens: list[str]) -> tuple[bool, Any]:
    for token in tokens:
        if isinstance(obj, Mapping) and token in obj:
            obj = obj[token]
        elif isinstance(obj, list) and token.isdigit() and int(token) < len(obj):
            obj = obj[int(token)]
        else:
            return False, None
    return True, obj


def _set(obj: Any, tokens: list[str], value: Any) -> None:
    for token in tokens[:-1]:
        if isinstance(obj, dict):
            obj = obj.setdefault(token, {})
        elif isinstance(obj, list) and token.isdigit() and int(token) < len(obj):
            obj = obj[int(token)]
        else:
            return  # no place for it: the field is not in what is applied
    if isinstance(obj, dict):
        obj[tokens[-1]] = value
    elif isinstance(obj, list) and tokens[-1].isdigit() and int(tokens[-1]) < len(obj):
        obj[int(tokens[-1])] = value


def _remove(obj: Any, tokens: list[str]) -> None:
    if not tokens:
        return
    _, parent = _get(obj, tokens[:-1])
    if isinstance(parent, dict):
        parent.pop(tokens[-1], None)
    elif isinstance(parent, list) and tokens[-1].isdigit() and int(tokens[-1]) < len(parent):
        del parent[int(tokens[-1])]
