"""Parsers of the fields helm-controller added to the HelmRelease API, which both of our
API versions accept with its names and meanings: ``serviceAccountName``,
``driftDetection`` and ``postRenderers`` (the smaller ones are read in ``parsing``)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from controller.api.fields import Invalid, items, json_type, mapping, string
from controller.api.selectors import SelectorError, parse_selector
from controller.api.spec import DriftIgnoreRule, DriftMode, DriftPolicy, DriftTarget

MAX_SERVICE_ACCOUNT_NAME = 253
DNS_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
"""Kubernetes' DNS-1123 subdomain (the names of ServiceAccounts): only the whole name has a
length limit, not each part."""


def service_account_name(spec: Mapping[str, Any]) -> str | None:
    """``spec.serviceAccountName``: a ServiceAccount of the HelmRelease's namespace."""
    name = string(spec, "serviceAccountName", "spec.serviceAccountName", required=False)
    if not name:
        return None
    if len(name) > MAX_SERVICE_ACCOUNT_NAME or not DNS_SUBDOMAIN.fullmatch(name):
        raise Invalid(
            "spec.serviceAccountName",
            f"must be a DNS subdomain name (lower case alphanumeric, '-' or '.', at most "
            f"{MAX_SERVICE_ACCOUNT_NAME} characters)",
        )
    return name


def drift_policy(spec: Mapping[str, Any]) -> DriftPolicy:
    """``spec.driftDetection``: its mode (``disabled`` when unset) and ignore rules."""
    where = "spec.driftDetection"
    body = mapping(spec, "driftDetection", where, required=False)
    mode_text = string(body, "mode", f"{where}.mode", required=False) or "disabled"
    try:
        mode = DriftMode(mode_text)
    except ValueError:
        raise Invalid(f"{where}.mode", "must be enabled, warn or disabled") from None
    rules = tuple(
        _ignore_rule(entry, f"{where}.ignore[{index}]")
        for index, entry in enumerate(items(body, "ignore", f"{where}.ignore"))
    )
    return DriftPolicy(mode=mode, ignore=rules)


def _ignore_rule(entry: Any, field: str) -> DriftIgnoreRule:
    body = _map(entry, field)
    paths = items(body, "paths", f"{field}.paths")
    if not paths:
        raise Invalid(f"{field}.paths", "must list at least one JSON pointer")
    for index, path in enumerate(paths):
        if not isinstance(path, str) or (path and not path.startswith("/")):
            raise Invalid(f"{field}.paths[{index}]", "must be a JSON pointer: empty or /...")
    target = body.get("target")
    return DriftIgnoreRule(
        tuple(paths), None if target is None else _target(target, f"{field}.target")
    )


TARGET_PATTERNS = ("group", "version", "kind", "name", "namespace")
TARGET_SELECTORS = {"labelSelector": "label_selector", "annotationSelector": "annotation_selector"}


def _target(entry: Any, field: str) -> DriftTarget:
    body = _map(entry, field)
    found: dict[str, str | None] = {}
    for key in TARGET_PATTERNS:
        found[key] = pattern = string(body, key, f"{field}.{key}", required=False) or None
        if pattern is not None:
            try:
                re.compile(pattern)
            # a repetition count too large, or groups nested too deep, are errors too
            except (re.error, OverflowError, RecursionError):
                raise Invalid(f"{field}.{key}", "must be a regular expression") from None
    for key, attribute in TARGET_SELECTORS.items():
        found[attribute] = selector = string(body, key, f"{field}.{key}", required=False) or None
        if selector is not None:
            try:
                parse_selector(selector)
            except SelectorError as error:
                raise Invalid(f"{field}.{key}", f"must be a label selector: {error}") from None
    return DriftTarget(**found)


def post_renderers(spec: Mapping[str, Any]) -> tuple[Mapping[str, Any], ...]:
    """``spec.postRenderers``: each a ``kustomize`` of ``patches`` (a strategic merge or JSON
    6902 patch as YAML text, with an optional ``target``) and ``images``; normalised to the
    fields kustomize is given, so that the digest changes only when what kustomize does may."""
    found = []
    for index, entry in enumerate(items(spec, "postRenderers", "spec.postRenderers")):
        field = f"spec.postRenderers[{index}]"
        kustomize = mapping(_map(entry, field), "kustomize", f"{field}.kustomize", required=True)
        found.append({"kustomize": _kustomize(kustomize, f"{field}.kustomize")})
    return tuple(found)


PATCH_TARGET = ("group", "version", "kind", "name", "namespace")
PATCH_TARGET_SELECTORS = ("labelSelector", "annotationSelector")
IMAGE_FIELDS = ("name", "newName", "newTag", "digest")


def _kustomize(body: Mapping[str, Any], field: str) -> dict[str, Any]:
    patches = []
    for index, entry in enumerate(items(body, "patches", f"{field}.patches")):
        where = f"{field}.patches[{index}]"
        patch = _map(entry, where)
        text = string(patch, "patch", f"{where}.patch", required=True)
        normalised: dict[str, Any] = {"patch": text}
        if patch.get("target") is not None:
            normalised["target"] = _patch_target(patch, f"{where}.target")
        patches.append(normalised)
    images = []
    for index, entry in enumerate(items(body, "images", f"{field}.images")):
        where = f"{field}.images[{index}]"
        image = _map(entry, where)
        fields = {key: string(image, key, f"{where}.{key}", required=False) for key in IMAGE_FIELDS}
        if not fields["name"]:
            raise Invalid(f"{where}.name", "is required")
        images.append({key: value for key, value in fields.items() if value})
    if not patches and not images:
        raise Invalid(field, "must have patches or images")
    return {"patches": patches, "images": images}


def _patch_target(patch: Mapping[str, Any], field: str) -> dict[str, str]:
    """A patch's ``target``, its empty fields left out. Given, even empty, it is kept: for
    kustomize a target selects the objects it matches (an empty one: all of them), while a
    patch without one applies to the object its own kind and name identify."""
    target = mapping(patch, "target", field, required=True)
    chosen = {
        key: string(target, key, f"{field}.{key}", required=False)
        for key in (*PATCH_TARGET, *PATCH_TARGET_SELECTORS)
    }
    return {key: value for key, value in chosen.items() if value}


def _map(entry: Any, field: str) -> Mapping[str, Any]:
    if not isinstance(entry, Mapping):
        raise Invalid(field, f"must be a map, not {json_type(entry)}")
    return entry
