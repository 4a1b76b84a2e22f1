"""Reading a request: media types, query options, selectors, pagination and bodies.

Each helper turns one part of a request into what a handler needs and answers a malformed
one with the real server's error (400, 408, 415), so the handlers only see valid input. A
request's RequestInfo is parsed once here and shared with the server's middlewares.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
from collections.abc import Callable
from typing import Any

import yaml
from aiohttp import web

from .. import errors
from ..errors import ApiError
from ..protobuf import ProtobufError, decode_object, is_protobuf
from ..requestinfo import RequestInfo, parse_request_info
from ..selectors import SelectorError, parse_field_selector, parse_label_selector
from ..store import meta, sort_key

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
    """The request's label and field selectors; ``name`` narrows to one object (watch by URL)."""
    label_text = request.query.get("labelSelector", "")
    field_text = request.query.get("fieldSelector", "")
    if name is not None:
        field_text = ",".join(filter(None, (field_text, f"metadata.name={name}")))
    try:
        labels = parse_label_selector(label_text) if label_text else None
        fields = parse_field_selector(field_text) if field_text else None
    except SelectorError as error:
        raise errors.bad_request(str(error)) from None
    if labels is None and fields is None:
        return None

    def matches(obj: dict[str, Any]) -> bool:
        if labels is not None and not labels.matches(meta(obj).get("labels") or {}):
            return False
        return fields is None or fields.matches(obj)

    return matches


def paginate(
    request: web.Request, items: list[dict[str, Any]], metadata: dict[str, Any]
) -> list[dict[str, Any]]:
    """Apply ``limit`` and ``continue``; the token is the last key of the previous page."""
    token = request.query.get("continue")
    if token:
        try:
            start = json.loads(base64.urlsafe_b64decode(token.encode()))
            after = (str(start["ns"]), str(start["name"]))
        except (ValueError, KeyError, TypeError, binascii.Error):
            raise errors.bad_request("continue key is not valid") from None
        items = [obj for obj in items if sort_key(obj) > after]
    limit_text = request.query.get("limit")
    limit = int(limit_text) if limit_text and limit_text.isdigit() else 0
    if limit <= 0 or len(items) <= limit:
        return items
    page = items[:limit]
    last_ns, last_name = sort_key(page[-1])
    next_token = json.dumps({"ns": last_ns, "name": last_name}).encode()
    metadata["continue"] = base64.urlsafe_b64encode(next_token).decode()
    metadata["remainingItemCount"] = len(items) - limit
    return page


def parse_json(raw: bytes) -> Any:
    try:
        return json.loads(raw)
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
    """DeleteOptions from a JSON body; protobuf and empty bodies mean the defaults."""
    raw = await read_body(request)
    if not raw or is_protobuf(request.content_type):
        return {}
    options = parse_json(raw)
    return options if isinstance(options, dict) else {}


def propagation(request: web.Request, options: dict[str, Any]) -> str:
    policy = request.query.get("propagationPolicy") or options.get("propagationPolicy")
    if options.get("orphanDependents") is True:
        policy = "Orphan"
    return str(policy or "Background")
