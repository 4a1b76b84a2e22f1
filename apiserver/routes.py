"""HTTP handlers: discovery, OpenAPI and the resource verbs, answering errors with ``Status``.

Handlers decode and check the request, run the patch algorithms, admit the new
object (names, namespaces, kind-specific defaults, CRD schemas) and hand it to
the store. Responses are always JSON, serialised once. A get, list or watch whose
Accept header asks for a meta.k8s.io Table (as ``kubectl get [-w]`` does) gets one
(one per watch event), with the CRD's printer columns; a get, list or watch asking
for PartialObjectMetadata(List) (as metadata-only informers do) gets the objects'
metadata alone.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import ipaddress
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import yaml
from aiohttp import web

from . import errors
from .crds import AGE_COLUMN, NAME_COLUMN, PrinterColumn, cell, crd_errors, printer_columns
from .discovery import (
    KUBERNETES_VERSION,
    OpenApi,
    api_group,
    api_group_list,
    api_resource_list,
    api_versions,
)
from .errors import ApiError, StatusCause
from .patch import (
    ApplyConflict,
    ManagedFields,
    PatchError,
    apply_json_patch,
    apply_merge_patch,
    apply_strategic_merge_patch,
    record_update,
    server_side_apply,
)
from .protobuf import ProtobufError, decode_object, is_protobuf
from .requestinfo import RequestInfo, is_true, parse_request_info
from .resources import CRDS, GroupResource, Registry, ResourceType
from .schema import apply_defaults, prune, validate
from .selectors import SelectorError, parse_field_selector, parse_label_selector
from .store import Store, meta, sort_key
from .watch import PARTIAL, Watcher, WatchHub, WatchOptions, error_event_line, partial_metadata

JSON = "application/json"
JSON_PATCH = "application/json-patch+json"
MERGE_PATCH = "application/merge-patch+json"
STRATEGIC_PATCH = "application/strategic-merge-patch+json"
APPLY_PATCH = "application/apply-patch+yaml"
YAML_TYPES = frozenset({"application/yaml", "application/x-yaml", "text/yaml", APPLY_PATCH})
_NAME = re.compile(r"[a-z0-9]([-a-z0-9.]*[a-z0-9])?")
BODY_TIMEOUT = 30.0
META_OPTIONS = GroupResource("meta.k8s.io", "options")
"""Where request options (ListOptions, PatchOptions) live, for their 422 messages."""
REQUEST_INFO = web.RequestKey("request_info", RequestInfo)
META_VERSIONS = ("v1", "v1beta1")
"""Versions of meta.k8s.io's Table and PartialObjectMetadata(List) the server offers."""
TABLE = "Table"
PARTIAL_LIST = "PartialObjectMetadataList"
INCLUDE_OBJECT = ("None", "Metadata", "Object")
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@dataclass(frozen=True)
class TableForm:
    """How a request asked for Tables: their meta.k8s.io version, ``includeObject`` and
    the kind's columns (fixed when the request arrives, also for a whole watch)."""

    version: str
    include: str
    columns: tuple[PrinterColumn, ...]
    resource_type: ResourceType

    def render(self, objects: list[dict[str, Any]], metadata: dict[str, Any]) -> dict[str, Any]:
        now = datetime.now(UTC)
        return {
            "kind": "Table",
            "apiVersion": f"meta.k8s.io/{self.version}",
            "metadata": metadata,
            "columnDefinitions": [c.definition() for c in self.columns],
            "rows": [self._row(obj, now) for obj in objects],
        }

    def render_one(self, obj: dict[str, Any]) -> dict[str, Any]:
        """``obj`` as a one-row Table (a get, a watch event) at the object's resourceVersion."""
        return self.render([obj], {"resourceVersion": meta(obj).get("resourceVersion", "")})

    def _row(self, obj: dict[str, Any], now: datetime) -> dict[str, Any]:
        row: dict[str, Any] = {"cells": [cell(c, obj, now) for c in self.columns]}
        if self.include == "Object":
            row["object"] = _versioned(obj, self.resource_type)
        elif self.include == "Metadata":
            row["object"] = partial_metadata(obj, self.version)
        return row


def json_response(body: Any, status: int = 200) -> web.Response:
    return web.Response(
        body=json.dumps(body, separators=(",", ":")).encode(), status=status, content_type=JSON
    )


def status_response(error: errors.Status) -> web.Response:
    return json_response(error.body(), status=error.code)


def request_info(request: web.Request) -> RequestInfo:
    """The request's RequestInfo, parsed once and shared by the middlewares."""
    info = request.get(REQUEST_INFO)
    if info is None:
        info = parse_request_info(request.method, request.path, request.query)
        request[REQUEST_INFO] = info
    return info


class ClusterIps:
    """Hands out Service cluster IPs from 10.96.0.0/12, never the same one twice."""

    def __init__(self) -> None:
        self._hosts = ipaddress.ip_network("10.96.0.0/12").hosts()
        next(self._hosts)  # 10.96.0.1 belongs to the "kubernetes" Service on a real cluster

    def allocate(self) -> str:
        return str(next(self._hosts))


class Handlers:
    """Every route of the server, bound to one store, registry and watch hub."""

    def __init__(self, store: Store, registry: Registry, hub: WatchHub) -> None:
        self.store = store
        self.registry = registry
        self.hub = hub
        self.openapi = OpenApi(registry)
        self.cluster_ips = ClusterIps()

    def add_routes(self, app: web.Application) -> None:
        app.router.add_get("/version", self.version)
        app.router.add_get("/api", self.api)
        app.router.add_get("/apis", self.apis)
        app.router.add_get("/apis/{group}", self.group)
        app.router.add_get("/openapi/v3", self.openapi_root)
        app.router.add_get("/openapi/v3/{path:.+}", self.openapi_document)
        app.router.add_get("/openapi/v2", self.not_found)  # clients fall back to v3 or built-ins
        for path in ("/healthz", "/livez", "/readyz"):
            app.router.add_get(path, self.healthz)
        app.router.add_route("*", "/api/{path:.+}", self.resource)
        app.router.add_route("*", "/apis/{path:.+}", self.resource)

    # -- discovery -------------------------------------------------------------------------

    async def version(self, request: web.Request) -> web.Response:
        return json_response(KUBERNETES_VERSION)

    async def not_found(self, request: web.Request) -> web.Response:
        return status_response(errors.no_resource().status)

    async def healthz(self, request: web.Request) -> web.Response:
        return web.Response(text="ok")

    async def api(self, request: web.Request) -> web.Response:
        host = request.host
        return json_response(api_versions(host))

    async def apis(self, request: web.Request) -> web.Response:
        return json_response(api_group_list(self.registry))

    async def group(self, request: web.Request) -> web.Response:
        body = api_group(self.registry, request.match_info["group"])
        if body is None:
            return await self.not_found(request)
        return json_response(body)

    async def openapi_root(self, request: web.Request) -> web.Response:
        return json_response(self.openapi.root())

    async def openapi_document(self, request: web.Request) -> web.Response:
        prefix, _, group_version = request.match_info["path"].partition("/")
        document = self.openapi.document(group_version) if prefix in ("api", "apis") else None
        if document is None:
            return await self.not_found(request)
        return web.Response(body=document[0], content_type=JSON)

    # -- resources -------------------------------------------------------------------------

    async def resource(self, request: web.Request) -> web.StreamResponse:
        info = request_info(request)
        try:
            if info.is_discovery and request.method == "GET":
                return self._group_version(info)
            resource_type = self._resource_type(info)
            return await self._dispatch(request, info, resource_type)
        except ApiError as error:
            return status_response(error.status)

    def _group_version(self, info: RequestInfo) -> web.Response:
        group_version = f"{info.group}/{info.version}" if info.group else info.version
        body = api_resource_list(self.registry, group_version)
        if body is None:
            raise errors.no_resource()
        return json_response(body)

    def _resource_type(self, info: RequestInfo) -> ResourceType:
        resource_type = self.registry.lookup(info.group, info.version, info.resource)
        if resource_type is None:
            raise errors.no_resource()
        if info.namespace is not None and not resource_type.namespaced:
            raise errors.no_resource()
        if info.subresource is not None and info.subresource not in resource_type.subresources:
            raise errors.no_resource()
        if info.name is not None and resource_type.namespaced and info.namespace is None:
            raise errors.no_resource()
        return resource_type

    async def _dispatch(
        self, request: web.Request, info: RequestInfo, resource_type: ResourceType
    ) -> web.StreamResponse:
        handler: Callable[..., Any] | None = {
            "get": self._get,
            "list": self._list,
            "watch": self._watch,
            "create": self._create,
            "update": self._update,
            "patch": self._patch,
            "delete": self._delete,
            "deletecollection": self._delete_collection,
        }.get(info.verb)
        if handler is None or (info.verb == "create" and info.name is not None):
            raise errors.method_not_allowed(request.method)
        if info.verb == "create" and resource_type.namespaced and info.namespace is None:
            raise errors.method_not_allowed(request.method)  # namespaced objects need a namespace
        response: web.StreamResponse = await handler(request, info, resource_type)
        return response

    async def _get(
        self, request: web.Request, info: RequestInfo, resource_type: ResourceType
    ) -> web.Response:
        assert info.name is not None
        obj = self.store.get_object(resource_type.group_resource, info.namespace or "", info.name)
        form = _meta_form(request, (TABLE, PARTIAL))
        if form is None:
            return json_response(_versioned(obj, resource_type))
        kind, version = form
        if kind == PARTIAL:
            return json_response(partial_metadata(obj, version))
        return json_response(self._table_form(request, version, resource_type).render_one(obj))

    async def _list(
        self, request: web.Request, info: RequestInfo, resource_type: ResourceType
    ) -> web.Response:
        matches = _matcher(request)
        items = [
            obj
            for obj in self.store.objects(resource_type.group_resource, info.namespace)
            if matches is None or matches(obj)
        ]
        items.sort(key=sort_key)
        metadata: dict[str, Any] = {"resourceVersion": str(self.store.resource_version)}
        items = _paginate(request, items, metadata)
        form = _meta_form(request, (TABLE, PARTIAL_LIST))
        if form is not None and form[0] == TABLE:
            return self._table(request, form[1], resource_type, items, metadata)
        if form is not None:
            return json_response(
                {
                    "kind": PARTIAL_LIST,
                    "apiVersion": f"meta.k8s.io/{form[1]}",
                    "metadata": metadata,
                    "items": [partial_metadata(obj, form[1]) for obj in items],
                }
            )
        return json_response(
            {
                "kind": f"{resource_type.kind}List",
                "apiVersion": resource_type.api_version,
                "metadata": metadata,
                "items": [_versioned(obj, resource_type) for obj in items],
            }
        )

    def _table(
        self,
        request: web.Request,
        table_version: str,
        resource_type: ResourceType,
        objects: list[dict[str, Any]],
        metadata: dict[str, Any],
    ) -> web.Response:
        form = self._table_form(request, table_version, resource_type)
        return json_response(form.render(objects, metadata))

    def _table_form(
        self, request: web.Request, table_version: str, resource_type: ResourceType
    ) -> TableForm:
        include = request.query.get("includeObject") or "Metadata"
        if include not in INCLUDE_OBJECT:
            raise errors.bad_request(f'invalid includeObject "{include}"')
        columns = (NAME_COLUMN, *self._printer_columns(resource_type))
        return TableForm(table_version, include, columns, resource_type)

    def _printer_columns(self, resource_type: ResourceType) -> tuple[PrinterColumn, ...]:
        """A custom kind's columns from its CRD; Age for built-in kinds."""
        crd = self.store.get(CRDS, "", str(resource_type.group_resource))
        if not resource_type.is_custom or crd is None:
            return (AGE_COLUMN,)
        return printer_columns(crd.obj, resource_type.version)

    async def _watch(
        self, request: web.Request, info: RequestInfo, resource_type: ResourceType
    ) -> web.StreamResponse:
        query = request.query
        initial = is_true(query.get("sendInitialEvents"))
        if initial and query.get("resourceVersionMatch") != "NotOlderThan":
            raise errors.invalid(
                "ListOptions",
                META_OPTIONS,
                "",
                [
                    StatusCause(
                        "FieldValueForbidden",
                        "Forbidden: sendInitialEvents is forbidden for watch "
                        "unless resourceVersionMatch is set to NotOlderThan",
                        "sendInitialEvents",
                    )
                ],
            )
        form = _meta_form(request, (TABLE, PARTIAL))
        table = None
        if form is not None and form[0] == TABLE:
            table = self._table_form(request, form[1], resource_type)
        rv_text = query.get("resourceVersion", "")
        since = None if initial or rv_text in ("", "0") else _parse_rv(rv_text)
        options = WatchOptions(
            namespace=info.namespace,
            matches=_matcher(request, info.name),
            timeout=_timeout_seconds(query.get("timeoutSeconds")),
            bookmarks=is_true(query.get("allowWatchBookmarks")),
            send_initial_events=initial,
            metadata_version=form[1] if form is not None and form[0] == PARTIAL else None,
            table=None if table is None else table.render_one,
        )
        opened = self.hub.open(resource_type, options, since)
        if not isinstance(opened, Watcher):
            response = web.StreamResponse(headers={"Content-Type": JSON})
            await response.prepare(request)
            await response.write(error_event_line(opened))
            await response.write_eof()
            return response
        return await self.hub.stream(request, opened)

    async def _create(
        self, request: web.Request, info: RequestInfo, resource_type: ResourceType
    ) -> web.Response:
        obj = await _read_object(request)
        obj = self._admit(resource_type, obj, info, None, strict=_strict(request))
        manager = _field_manager(request)
        managed = record_update(None, obj, _empty_managed(), manager)
        created = self.store.create(
            resource_type.group_resource, obj, managed, dry_run=_dry_run(request)
        )
        return json_response(_versioned(created, resource_type), status=201)

    async def _update(
        self, request: web.Request, info: RequestInfo, resource_type: ResourceType
    ) -> web.Response:
        assert info.name is not None
        obj = await _read_object(request)
        entry = self.store.get(resource_type.group_resource, info.namespace or "", info.name)
        if entry is None:
            raise errors.not_found(resource_type.group_resource, info.name)
        if info.subresource == "status":
            obj = {
                **entry.obj,
                "status": obj.get("status"),
                "metadata": {**meta(entry.obj), **_rv_only(obj)},
            }
        obj = self._admit(resource_type, obj, info, entry.obj, strict=_strict(request))
        managed = record_update(entry.obj, obj, entry.managed, _field_manager(request))
        updated = self.store.update(
            resource_type.group_resource,
            obj,
            managed,
            subresource=info.subresource,
            dry_run=_dry_run(request),
        )
        return json_response(_versioned(updated, resource_type))

    async def _patch(
        self, request: web.Request, info: RequestInfo, resource_type: ResourceType
    ) -> web.Response:
        assert info.name is not None
        content_type = request.content_type
        raw = await _read_body(request)
        entry = self.store.get(resource_type.group_resource, info.namespace or "", info.name)
        live = None if entry is None else entry.obj
        managed = _empty_managed() if entry is None else entry.managed
        manager = _field_manager(request)
        if content_type == APPLY_PATCH:
            if not request.query.get("fieldManager"):
                raise errors.invalid(
                    "PatchOptions",
                    META_OPTIONS,
                    "",
                    [
                        StatusCause(
                            "FieldValueRequired",
                            "Required value: is required for apply patch",
                            "fieldManager",
                        )
                    ],
                )
            applied = _parse_yaml(raw)
            if not isinstance(applied, dict):
                raise errors.bad_request("apply patch body must be an object")
            base = None if live is None else _versioned(live, resource_type)
            if base is None and info.subresource is not None:
                raise errors.not_found(resource_type.group_resource, info.name)
            applied_rv = meta(applied).get("resourceVersion")
            if applied_rv and (base is None or applied_rv != meta(base)["resourceVersion"]):
                raise errors.stale(resource_type.group_resource, info.name)
            try:
                new, managed = server_side_apply(
                    base, managed, applied, manager, is_true(request.query.get("force"))
                )
            except ApplyConflict as conflict:
                raise _apply_conflict(resource_type, info.name, conflict) from None
            except PatchError as error:
                raise errors.bad_request(str(error)) from None
        else:
            if live is None:
                raise errors.not_found(resource_type.group_resource, info.name)
            new = self._apply_patch(resource_type, content_type, raw, live)
            managed = record_update(live, new, managed, manager)
        if not isinstance(new, dict):
            raise errors.bad_request("the patch result is not an object")
        if live is None:
            new = self._admit(resource_type, new, info, None, strict=_strict(request))
            created = self.store.create(
                resource_type.group_resource, new, managed, dry_run=_dry_run(request)
            )
            return json_response(_versioned(created, resource_type), status=201)
        new_rv = meta(new).get("resourceVersion")
        if new_rv not in (None, meta(live)["resourceVersion"]):
            raise errors.stale(resource_type.group_resource, info.name)
        new = self._admit(resource_type, new, info, live, strict=_strict(request))
        updated = self.store.update(
            resource_type.group_resource,
            new,
            managed,
            subresource=info.subresource,
            dry_run=_dry_run(request),
        )
        return json_response(_versioned(updated, resource_type))

    def _apply_patch(
        self, resource_type: ResourceType, content_type: str, raw: bytes, live: dict[str, Any]
    ) -> Any:
        if content_type not in (JSON_PATCH, MERGE_PATCH, STRATEGIC_PATCH):
            raise errors.unsupported_media_type(content_type)
        if content_type == STRATEGIC_PATCH and resource_type.is_custom:
            raise errors.unsupported_media_type(content_type)
        patch = _parse_json(raw)
        base = _versioned(live, resource_type)
        try:
            if content_type == JSON_PATCH:
                if not isinstance(patch, list):
                    raise errors.bad_request("json patch must be a list of operations")
                return apply_json_patch(base, patch)
            if not isinstance(patch, dict):
                raise errors.bad_request("patch body must be an object")
            if content_type == MERGE_PATCH:
                return apply_merge_patch(base, patch)
            gvk = (resource_type.group, resource_type.version, resource_type.kind)
            return apply_strategic_merge_patch(base, patch, gvk)
        except PatchError as error:
            raise errors.bad_request(str(error)) from None

    async def _delete(
        self, request: web.Request, info: RequestInfo, resource_type: ResourceType
    ) -> web.Response:
        assert info.name is not None
        options = await _delete_options(request)
        preconditions = options.get("preconditions") or {}
        deleted = self.store.delete(
            resource_type.group_resource,
            info.namespace or "",
            info.name,
            propagation=_propagation(request, options),
            precondition_rv=preconditions.get("resourceVersion"),
            precondition_uid=preconditions.get("uid"),
            dry_run=_dry_run(request),
        )
        return json_response(_versioned(deleted, resource_type))

    async def _delete_collection(
        self, request: web.Request, info: RequestInfo, resource_type: ResourceType
    ) -> web.Response:
        options = await _delete_options(request)
        matches = _matcher(request)
        resource = resource_type.group_resource
        targets = [
            obj
            for obj in self.store.objects(resource, info.namespace)
            if matches is None or matches(obj)
        ]
        deleted = []
        for obj in sorted(targets, key=sort_key):
            md = meta(obj)
            if self.store.get(resource, md.get("namespace", ""), md["name"]) is not None:
                deleted.append(
                    self.store.delete(
                        resource,
                        md.get("namespace", ""),
                        md["name"],
                        propagation=_propagation(request, options),
                        dry_run=_dry_run(request),
                    )
                )
        return json_response(
            {
                "kind": f"{resource_type.kind}List",
                "apiVersion": resource_type.api_version,
                "metadata": {"resourceVersion": str(self.store.resource_version)},
                "items": [_versioned(obj, resource_type) for obj in deleted],
            }
        )

    # -- admission -------------------------------------------------------------------------

    def _admit(
        self,
        resource_type: ResourceType,
        obj: dict[str, Any],
        info: RequestInfo,
        live: dict[str, Any] | None,
        *,
        strict: bool = False,
    ) -> dict[str, Any]:
        """Check and complete an object about to be stored; raise the real server's errors."""
        obj = _with_type_and_name(resource_type, obj, info)
        if resource_type.group_resource == CRDS:
            causes = crd_errors(obj)
            if causes:
                raise errors.invalid(
                    resource_type.kind,
                    resource_type.group_resource,
                    meta(obj).get("name", ""),
                    causes,
                )
        if resource_type.schema is not None:
            obj = _custom_admission(resource_type, obj, strict)
        if resource_type.plural == "secrets" and not resource_type.group:
            obj = _secret_defaults(obj)
        if resource_type.plural == "services" and not resource_type.group:
            obj = self._with_cluster_ip(obj, live)
        return obj

    def _with_cluster_ip(self, obj: dict[str, Any], live: dict[str, Any] | None) -> dict[str, Any]:
        spec = obj.get("spec") if isinstance(obj.get("spec"), dict) else {}
        assert isinstance(spec, dict)
        if spec.get("type") == "ExternalName" or spec.get("clusterIP"):
            return obj
        live_spec = (live or {}).get("spec") or {}
        ip = live_spec.get("clusterIP") or self.cluster_ips.allocate()
        spec = {**spec, "clusterIP": ip, "clusterIPs": [ip]}
        spec.setdefault("type", "ClusterIP")
        return {**obj, "spec": spec}


def _with_type_and_name(
    resource_type: ResourceType, obj: dict[str, Any], info: RequestInfo
) -> dict[str, Any]:
    """Fill apiVersion, kind and namespace; reject mismatches with the URL and bad names."""
    api_version, kind = obj.get("apiVersion"), obj.get("kind")
    if kind not in (None, "", resource_type.kind):
        raise errors.bad_request(
            f"the kind in the data ({kind}) does not match the expected kind ({resource_type.kind})"
        )
    if api_version not in (None, "", resource_type.api_version):
        raise errors.bad_request(
            f"the API version in the data ({api_version}) does not match the expected API "
            f"version ({resource_type.api_version})"
        )
    raw_meta = obj.get("metadata")
    if raw_meta is not None and not isinstance(raw_meta, dict):
        raise errors.bad_request("metadata must be an object")
    metadata = dict(raw_meta or {})
    metadata.pop("managedFields", None)
    if resource_type.namespaced:
        namespace = metadata.get("namespace") or info.namespace
        if info.namespace is not None and namespace != info.namespace:
            raise errors.bad_request(
                "the namespace of the provided object does not match the "
                "namespace sent on the request"
            )
        metadata["namespace"] = namespace
    else:
        metadata.pop("namespace", None)
    name = metadata.get("name")
    if info.name is not None:
        if name not in (None, "", info.name):
            raise errors.bad_request(
                f"the name of the object ({name}) does not match the name on the URL ({info.name})"
            )
        metadata["name"] = info.name
    _check_metadata(resource_type, metadata)
    return {
        **obj,
        "apiVersion": resource_type.api_version,
        "kind": resource_type.kind,
        "metadata": metadata,
    }


def _check_metadata(resource_type: ResourceType, metadata: dict[str, Any]) -> None:
    name = metadata.get("name")
    causes = []
    if not name and not metadata.get("generateName"):
        causes.append(
            StatusCause(
                "FieldValueRequired",
                "Required value: name or generateName is required",
                "metadata.name",
            )
        )
    elif name and (not isinstance(name, str) or len(name) > 253 or not _NAME.fullmatch(name)):
        causes.append(
            StatusCause(
                "FieldValueInvalid",
                f'Invalid value: "{name}": a lowercase RFC 1123 subdomain must consist of '
                "lower case alphanumeric characters, '-' or '.', and must start and end with an "
                "alphanumeric character",
                "metadata.name",
            )
        )
    for field in ("labels", "annotations"):
        value = metadata.get(field)
        if value is not None and not (
            isinstance(value, dict)
            and all(isinstance(k, str) and isinstance(v, str) for k, v in value.items())
        ):
            causes.append(
                StatusCause(
                    "FieldValueInvalid",
                    "Invalid value: must be a map of strings",
                    f"metadata.{field}",
                )
            )
    if causes:
        raise errors.invalid(
            resource_type.kind, resource_type.group_resource, str(name or ""), causes
        )


def _custom_admission(
    resource_type: ResourceType, obj: dict[str, Any], strict: bool
) -> dict[str, Any]:
    """Prune unknown fields (rejected when strict), default, then validate against the schema."""
    schema = resource_type.schema or {}
    if not schema:
        return obj
    unknown: list[str] = []
    admitted = apply_defaults(schema, prune(schema, obj, unknown))
    if unknown and strict:
        fields = ", ".join(f'unknown field "{path}"' for path in unknown)
        raise errors.bad_request(
            f'{resource_type.kind} in version "{resource_type.version}" cannot be handled as a '
            f"{resource_type.kind}: strict decoding error: {fields}"
        )
    field_errors = validate(schema, admitted)
    if field_errors:
        causes = [StatusCause(e.reason, e.message, e.field) for e in field_errors]
        raise errors.invalid(
            resource_type.kind, resource_type.group_resource, str(meta(obj).get("name", "")), causes
        )
    return admitted


def _secret_defaults(obj: dict[str, Any]) -> dict[str, Any]:
    """Secrets store ``stringData`` as base64 ``data`` and default to type Opaque."""
    secret = {**obj, "type": obj.get("type") or "Opaque"}
    string_data = secret.pop("stringData", None)
    if not isinstance(string_data, dict):
        return secret
    data = dict(secret.get("data") or {})
    for key, value in string_data.items():
        data[key] = base64.b64encode(str(value).encode()).decode()
    secret["data"] = data
    return secret


def _versioned(obj: dict[str, Any], resource_type: ResourceType) -> dict[str, Any]:
    if obj.get("apiVersion") == resource_type.api_version:
        return obj
    return {**obj, "apiVersion": resource_type.api_version}


def _meta_form(request: web.Request, offered: tuple[str, ...]) -> tuple[str, str] | None:
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


def _rv_only(obj: dict[str, Any]) -> dict[str, Any]:
    rv = meta(obj).get("resourceVersion")
    return {"resourceVersion": rv} if rv else {}


def _empty_managed() -> ManagedFields:
    return {}


def _dry_run(request: web.Request) -> bool:
    return "All" in request.query.getall("dryRun", [])


def _strict(request: web.Request) -> bool:
    return request.query.get("fieldValidation") == "Strict"


def _field_manager(request: web.Request) -> str:
    manager = request.query.get("fieldManager")
    if manager:
        return manager
    user_agent = request.headers.get("User-Agent", "unknown")
    return user_agent.split("/", 1)[0] or "unknown"


def _parse_rv(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise errors.bad_request(f'invalid resource version "{text}"') from None


def _timeout_seconds(text: str | None) -> float | None:
    if not text:
        return None
    try:
        return max(0.0, float(text))
    except ValueError:
        raise errors.bad_request(f'invalid timeoutSeconds "{text}"') from None


def _matcher(
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


def _paginate(
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


def _parse_json(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except ValueError as error:
        raise errors.bad_request(f"invalid JSON body: {error}") from None


def _parse_yaml(raw: bytes) -> Any:
    try:
        return yaml.load(raw, Loader=_YAML_LOADER)
    except yaml.YAMLError as error:
        raise errors.bad_request(f"invalid YAML body: {error}") from None


async def _read_body(request: web.Request) -> bytes:
    """The request body; a client that stops sending it gets a 408 instead of a stuck handler."""
    try:
        async with asyncio.timeout(BODY_TIMEOUT):
            return await request.read()
    except TimeoutError:
        raise ApiError(
            errors.Status(408, "Timeout", "timed out reading the request body")
        ) from None


async def _read_object(request: web.Request) -> dict[str, Any]:
    raw = await _read_body(request)
    content_type = request.content_type
    if is_protobuf(content_type):
        try:
            obj: Any = decode_object(raw)
        except ProtobufError as error:
            raise errors.bad_request(str(error)) from None
    elif content_type in (JSON, "application/octet-stream", ""):
        obj = _parse_json(raw)
    elif content_type in YAML_TYPES:
        obj = _parse_yaml(raw)
    else:
        raise errors.unsupported_media_type(content_type)
    if not isinstance(obj, dict):
        raise errors.bad_request("the request body must be an object")
    return obj


async def _delete_options(request: web.Request) -> dict[str, Any]:
    """DeleteOptions from a JSON body; protobuf and empty bodies mean the defaults."""
    raw = await _read_body(request)
    if not raw or is_protobuf(request.content_type):
        return {}
    options = _parse_json(raw)
    return options if isinstance(options, dict) else {}


def _propagation(request: web.Request, options: dict[str, Any]) -> str:
    policy = request.query.get("propagationPolicy") or options.get("propagationPolicy")
    if options.get("orphanDependents") is True:
        policy = "Orphan"
    return str(policy or "Background")


def _apply_conflict(resource_type: ResourceType, name: str, conflict: ApplyConflict) -> ApiError:
    causes = [
        {
            "reason": "FieldManagerConflict",
            "message": f'conflict with "{c.manager}"',
            "field": c.field,
        }
        for c in conflict.fields
    ]
    details = {
        "name": name,
        "group": resource_type.group,
        "kind": resource_type.plural,
        "causes": causes,
    }
    return ApiError(errors.Status(409, "Conflict", str(conflict), details))
