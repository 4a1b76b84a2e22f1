"""Reading a request: media types, query options, selectors, delete options and bodies.

Each helper turns one part of a request into what a handler needs and answers a malformed
one with the real server's error (400, 408, 415), so the handlers only see valid input. A
request's RequestInfo is parsed once here and shared with the server's middlewares.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import yaml
from aiohttp import web

from .. import errors, jsontext
from ..errors import ApiError, StatusCause
from ..events import field_labels as selectable_fields
from ..gc import POLICIES, Propagation, default_policy
from ..patch import PatchError, apply_json_patch, apply_merge_patch, apply_strategic_merge_patch
from ..protobuf import ProtobufError, decode_object, is_protobuf
from ..requestinfo import RequestInfo, is_true, parse_request_info
from ..resources import GroupResource, ResourceType
from ..selectors import SelectorError, parse_field_selector, parse_label_selector
from ..store import meta
from .admission import Source

JSON = "application/json"
JSON_PATCH = "application/json-patch+json"
MERGE_PATCH = "application/merge-patch+json"
STRATEGIC_PATCH = "application/strategic-merge-patch+json"
APPLY_PATCH = "application/apply-patch+yaml"
YAML_TYPES = frozenset({"application/yaml", "application/x-yaml", "text/yaml", APPLY_PATCH})
BODY_TIMEOUT = 30.0
REQUEST_INFO = web.RequestKey("request_info", RequestInfo)
META_VERSIONS = ("v1", "v1beta1")
"""Versions of meta.k8s.io's Table and PartialObjectMetadata(List) the server offers."""
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
DELETE_OPTIONS = GroupResource("meta.k8s.io", "options")


def request_info(request: web.Request) -> RequestInfo:
    """The request's RequestInfo, parsed once and shared by the middlewares."""
    info = request.get(REQUEST_INFO)
    if info is None:
        info = parse_request_info(request.method, request.path, request.query)
        request[REQUEST_INFO] = info
    return info


def meta_form(request: web.Request, offered: tuple[str, ...]) -> tuple[str, str] | None:
    """The meta.k8s.io kind (one of ``offered``) and version the Accept header prefers.

    None when it prefers plain objects. As the real server does, a media range asking
    for a form not offered here is skipped in favour of the next one.
    """
    for media_range in request.headers.get("Accept", "").split(","):
        media_type, *parameters = (part.strip() for part in media_range.split(";"))
        options = dict(parameter.partition("=")[::2] for parameter in parameters)
        if "as" not in options:
            return None
        if (
            media_type in (JSON, "application/*", "*/*")
            and options["as"] in offered
            and options.get("g") == "meta.k8s.io"
            and options.get("v") in META_VERSIONS
        ):
            return options["as"], options["v"]
    return None


def dry_run(request: web.Request) -> bool:
    return "All" in request.query.getall("dryRun", [])


def field_validation(request: web.Request) -> str:
    """The field validation directive: Strict, Warn or Ignore; Warn when absent, as on a real
    server (any other value reads as Warn here)."""
    directive = request.query.get("fieldValidation")
    return directive if directive in ("Strict", "Ignore") else "Warn"


def field_manager(request: web.Request) -> str:
    manager = request.query.get("fieldManager")
    if manager:
        return manager
    user_agent = request.headers.get("User-Agent", "unknown")
    return user_agent.split("/", 1)[0] or "unknown"


def parse_rv(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise errors.bad_request(f'invalid resource version "{text}"') from None


def timeout_seconds(text: str | None) -> float | None:
    if not text:
        return None
    try:
        return max(0.0, float(text))
    except ValueError:
        raise errors.bad_request(f'invalid timeoutSeconds "{text}"') from None


def matcher(
    request: web.Request, name: str | None = None
) -> Callable[[dict[str, Any]], bool] | None:
    """The request's label and field selectors; ``name`` narrows to one object (watch by URL).

    Field labels are the resource's own (``events.field_labels``), else metadata's."""
    label_text = request.query.get("labelSelector", "")
    field_text = request.query.get("fieldSelector", "")
    if name is not None:
        field_text = ",".join(filter(None, (field_text, f"metadata.name={name}")))
    info = request_info(request)
    field_labels = selectable_fields(info.group, info.resource)
    try:
        labels = parse_label_selector(label_text) if label_text else None
        fields = parse_field_selector(field_text, field_labels) if field_text else None
    except SelectorError as error:
        raise errors.bad_request(str(error)) from None
    if labels is None and fields is None:
        return None

    def matches(obj: dict[str, Any]) -> bool:
        if labels is not None and not labels.matches(meta(obj).get("labels") or {}):
            return False
        return fields is None or fields.matches(obj)

    return matches


def parse_json(raw: bytes) -> Any:
    try:
        return jsontext.loads(raw)
    except ValueError as error:
        raise errors.bad_request(f"invalid JSON body: {error}") from None


def parse_yaml(raw: bytes) -> Any:
    try:
        return yaml.load(raw, Loader=_YAML_LOADER)
    except yaml.YAMLError as error:
        raise errors.bad_request(f"invalid YAML body: {error}") from None


async def read_body(request: web.Request) -> bytes:
    """The request body; a client that stops sending it gets a 408 instead of a stuck handler."""
    try:
        async with asyncio.timeout(BODY_TIMEOUT):
            return await request.read()
    except TimeoutError:
        raise ApiError(
            errors.Status(408, "Timeout", "timed out reading the request body")
        ) from None


async def read_object(request: web.Request) -> dict[str, Any]:
    raw = await read_body(request)
    content_type = request.content_type
    if is_protobuf(content_type):
        try:
            obj: Any = decode_object(raw)
        except ProtobufError as error:
            raise errors.bad_request(str(error)) from None
    elif content_type in (JSON, "application/octet-stream", ""):
        obj = parse_json(raw)
    elif content_type in YAML_TYPES:
        obj = parse_yaml(raw)
    else:
        raise errors.unsupported_media_type(content_type)
    if not isinstance(obj, dict):
        raise errors.bad_request("the request body must be an object")
    return obj


async def delete_options(request: web.Request) -> dict[str, Any]:
    """DeleteOptions from the body (JSON or protobuf), else from the query, as the real server
    reads them (a body wins whole)."""
    raw = await read_body(request)
    if raw:
        if is_protobuf(request.content_type):
            try:
                options: Any = decode_object(raw)
            except ProtobufError as error:
                raise errors.bad_request(str(error)) from None
        else:
            options = parse_json(raw)
        return options if isinstance(options, dict) else {}
    query = request.query
    from_query: dict[str, Any] = {"dryRun": query.getall("dryRun", [])}
    if "propagationPolicy" in query:
        from_query["propagationPolicy"] = query["propagationPolicy"]
    if "orphanDependents" in query:
        from_query["orphanDependents"] = is_true(query["orphanDependents"])
    return from_query


def propagation(options: dict[str, Any], resource_type: ResourceType) -> Propagation:
    """How a DELETE propagates to dependents; 422 for invalid options (ValidateDeleteOptions)."""
    policy = options.get("propagationPolicy")
    orphan = options.get("orphanDependents")
    causes = []
    if orphan is not None and policy is not None:
        causes.append(
            StatusCause(
                "FieldValueInvalid",
                f"Invalid value: {json.dumps(policy)}: orphanDependents and deletionPropagation "
                "cannot be both set",
                "propagationPolicy",
            )
        )
    if policy is not None and policy not in POLICIES:
        causes.append(
            StatusCause(
                "FieldValueNotSupported",
                f"Unsupported value: {json.dumps(policy)}: supported values: "
                '"Foreground", "Background", "Orphan", "nil"',
                "propagationPolicy",
            )
        )
    if causes:
        raise errors.invalid("DeleteOptions", DELETE_OPTIONS, "", causes)
    default = default_policy(resource_type.group, resource_type.version, resource_type.plural)
    return Propagation(
        str(policy) if policy is not None else None,
        bool(orphan) if orphan is not None else None,
        default,
    )


def delete_dry_run(request: web.Request, options: dict[str, Any]) -> bool:
    """Whether a DELETE is a dry run: its options' ``dryRun`` (the body's, else the query's)."""
    values = options.get("dryRun")
    return dry_run(request) or (isinstance(values, list) and "All" in values)


def patch_source(content_type: str) -> Source:
    """How a patch type's result is decoded (JSON and merge patches: Source.PATCH)."""
    return _PATCH_SOURCES.get(content_type, Source.PATCH)


_PATCH_SOURCES = {STRATEGIC_PATCH: Source.STRATEGIC, APPLY_PATCH: Source.APPLY}


def patched_body(
    content_type: str, raw: bytes, base: dict[str, Any], gvk: tuple[str, str, str]
) -> Any:
    """What a JSON, merge or strategic merge patch (of kind ``gvk``) makes of ``base``: 400
    for a body that is not one, 415 for another content type."""
    if content_type not in (JSON_PATCH, MERGE_PATCH, STRATEGIC_PATCH):
        raise errors.unsupported_media_type(content_type)
    patch = parse_json(raw)
    try:
        if content_type == JSON_PATCH:
            if not isinstance(patch, list):
                raise errors.bad_request("json patch must be a list of operations")
            return apply_json_patch(base, patch)
        if not isinstance(patch, dict):
            raise errors.bad_request("patch body must be an object")
        if content_type == MERGE_PATCH:
            return apply_merge_patch(base, patch)
        return apply_strategic_merge_patch(base, patch, gvk)
    except PatchError as error:
        raise errors.bad_request(str(error)) from None
