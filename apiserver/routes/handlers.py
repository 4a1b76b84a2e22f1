"""The route table and its handlers: discovery, OpenAPI and the resource verbs.

Each verb reads its request (``requests``), runs the patch algorithms, admits the new object
(``admission``) and hands it to the store or the watch hub; errors anywhere become the real
server's ``Status``, and the warnings admission collects become ``Warning`` headers. A server-side
apply configuration is typed before anything merges it, as on a real server. A get, list or
watch may ask for Tables (``tables``) or for PartialObjectMetadata instead of the objects
themselves. A list is served at the resourceVersion its options ask for, a page at a time
(``lists``); a delete sets the garbage collector's finalizers as its options say (``gc``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from aiohttp import web

from .. import errors
from ..discovery import (
    KUBERNETES_VERSION,
    OpenApi,
    api_group,
    api_group_list,
    api_resource_list,
    api_versions,
)
from ..errors import ApiError, StatusCause
from ..gc import delete_warnings
from ..lists import (
    WAIT_FOR_RESOURCE_VERSION,
    ListOrders,
    encode_continue,
    expired,
    expired_continue,
    page,
    parse_list_options,
    too_large,
)
from ..patch import (
    ApplyConflict,
    ManagedFields,
    PatchError,
    record_update,
    server_side_apply,
)
from ..requestinfo import RequestInfo, is_true
from ..resources import GroupResource, Registry, ResourceType
from ..schema import go_quote
from ..store import Store, WatchEvent, meta, sort_key
from ..watch import PARTIAL, Watcher, WatchHub, WatchOptions, error_event_line, partial_metadata
from .admission import Admission, Decoding, Source, check_apply
from .requests import (
    APPLY_PATCH,
    JSON,
    STRATEGIC_PATCH,
    delete_dry_run,
    delete_options,
    dry_run,
    field_manager,
    field_validation,
    matcher,
    meta_form,
    parse_rv,
    parse_yaml,
    patch_source,
    patched_body,
    propagation,
    read_body,
    read_object,
    request_info,
    timeout_seconds,
)
from .responses import apply_conflict, json_response, status_response, versioned
from .scale import ScaleSubresource
from .tables import TABLE, table_form

META_OPTIONS = GroupResource("meta.k8s.io", "options")
"""Where request options (ListOptions, PatchOptions) live, for their 422 messages."""
PARTIAL_LIST = "PartialObjectMetadataList"


class Handlers:
    """Every route of the server, bound to one store, registry and watch hub."""

    def __init__(self, store: Store, registry: Registry, hub: WatchHub) -> None:
        self.store = store
        self.registry = registry
        self.hub = hub
        self.openapi = OpenApi(registry)
        self.admission = Admission()
        self.scale = ScaleSubresource(store, self.admission)
        self.list_orders = ListOrders()

    def add_routes(self, app: web.Application) -> None:
        app.router.add_get("/version", self.version)
        app.router.add_get("/api", self.api)
        app.router.add_get("/apis", self.apis)
        app.router.add_get("/apis/{group}", self.group)
        app.router.add_get("/openapi/v3", self.openapi_root)
        app.router.add_get("/openapi/v3/{path:.+}", self.openapi_document)
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
        if info.subresource == "scale":
            return await self.scale.handle(request, info, resource_type)
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
        form = meta_form(request, (TABLE, PARTIAL))
        if form is None:
            return json_response(versioned(obj, resource_type))
        kind, version = form
        if kind == PARTIAL:
            return json_response(partial_metadata(obj, version))
        return json_response(
            table_form(request, version, resource_type, self.store).render_one(obj)
        )

    async def _list(
        self, request: web.Request, info: RequestInfo, resource_type: ResourceType
    ) -> web.Response:
        options = parse_list_options(request.query)
        matches = matcher(request)
        resource = resource_type.group_resource
        wanted = options.wanted()
        read_rv = self.store.resource_version
        if wanted is not None:
            rv, exact = wanted
            if rv > read_rv:
                await self._until_resource_version(rv)
            read_rv = rv if exact else self.store.resource_version
        across = resource_type.namespaced and info.namespace is None
        current = read_rv == self.store.resource_version
        ordered = (
            self.list_orders.ordered(
                (resource, info.namespace, read_rv),
                lambda: (
                    self.store.objects(resource, info.namespace)
                    if current
                    else self.store.snapshot(resource, info.namespace, read_rv)
                ),
                across,
            )
            if current or read_rv >= self.store.history_floor
            else None  # compacted away, even if its order is still kept
        )
        if ordered is None:
            if options.start is not None:
                return json_response(expired_continue(options.start), status=410)
            raise expired()
        found = page(ordered, options, matches)
        items = found.items
        metadata: dict[str, Any] = {"resourceVersion": str(read_rv)}
        if found.next_start is not None:
            metadata["continue"] = encode_continue(found.next_start, read_rv)
            if found.remaining is not None:
                metadata["remainingItemCount"] = found.remaining
        form = meta_form(request, (TABLE, PARTIAL_LIST))
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
                "items": [versioned(obj, resource_type) for obj in items],
            }
        )

    async def _until_resource_version(self, rv: int) -> None:
        """Wait until the store reaches ``rv``; 504 when it does not in time."""
        reached = asyncio.Event()

        def listener(event: WatchEvent) -> None:
            if event.rv >= rv:
                reached.set()

        self.store.add_listener(listener)
        try:
            async with asyncio.timeout(WAIT_FOR_RESOURCE_VERSION):
                await reached.wait()
        except TimeoutError:
            raise too_large(rv, self.store.resource_version) from None
        finally:
            self.store.remove_listener(listener)

    def _table(
        self,
        request: web.Request,
        table_version: str,
        resource_type: ResourceType,
        objects: list[dict[str, Any]],
        metadata: dict[str, Any],
    ) -> web.Response:
        form = table_form(request, table_version, resource_type, self.store)
        return json_response(form.render(objects, metadata))

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
        form = meta_form(request, (TABLE, PARTIAL))
        table = None
        if form is not None and form[0] == TABLE:
            table = table_form(request, form[1], resource_type, self.store)
        rv_text = query.get("resourceVersion", "")
        since = None if initial or rv_text in ("", "0") else parse_rv(rv_text)
        options = WatchOptions(
            namespace=info.namespace,
            matches=matcher(request, info.name),
            timeout=timeout_seconds(query.get("timeoutSeconds")),
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
        obj = await read_object(request)
        decoding = Decoding(Source.BODY, field_validation(request))
        obj = self.admission.admit(resource_type, obj, info, None, decoding)
        manager = field_manager(request)
        managed = record_update(None, obj, _empty_managed(), manager)
        created = self.store.create(
            resource_type.group_resource, obj, managed, dry_run=dry_run(request)
        )
        return _warned(json_response(versioned(created, resource_type), status=201), decoding)

    async def _update(
        self, request: web.Request, info: RequestInfo, resource_type: ResourceType
    ) -> web.Response:
        assert info.name is not None
        obj = await read_object(request)
        entry = self.store.get(resource_type.group_resource, info.namespace or "", info.name)
        if entry is None:
            raise errors.not_found(resource_type.group_resource, info.name)
        if info.subresource == "status":
            obj = {
                **entry.obj,
                "status": obj.get("status"),
                "metadata": {**meta(entry.obj), **_rv_only(obj)},
            }
        decoding = Decoding(Source.BODY, field_validation(request))
        obj = self.admission.admit(resource_type, obj, info, entry.obj, decoding)
        managed = record_update(entry.obj, obj, entry.managed, field_manager(request))
        updated = self.store.update(
            resource_type.group_resource,
            obj,
            managed,
            subresource=info.subresource,
            dry_run=dry_run(request),
        )
        return _warned(json_response(versioned(updated, resource_type)), decoding)

    async def _patch(
        self, request: web.Request, info: RequestInfo, resource_type: ResourceType
    ) -> web.Response:
        assert info.name is not None
        content_type = request.content_type
        raw = await read_body(request)
        entry = self.store.get(resource_type.group_resource, info.namespace or "", info.name)
        live = None if entry is None else entry.obj
        managed = _empty_managed() if entry is None else entry.managed
        manager = field_manager(request)
        decoding = Decoding(patch_source(content_type), field_validation(request), raw)
        if content_type == APPLY_PATCH:
            new, managed = self._server_side_apply(
                request, info, resource_type, raw, live, managed, manager
            )
        else:
            if live is None:
                raise errors.not_found(resource_type.group_resource, info.name)
            new = self._apply_patch(resource_type, content_type, raw, live)
            managed = record_update(live, new, managed, manager)
        if not isinstance(new, dict):
            raise errors.bad_request("the patch result is not an object")
        if live is None:
            new = self.admission.admit(resource_type, new, info, None, decoding)
            created = self.store.create(
                resource_type.group_resource, new, managed, dry_run=dry_run(request)
            )
            return _warned(json_response(versioned(created, resource_type), status=201), decoding)
        new_rv = meta(new).get("resourceVersion")
        if new_rv not in (None, meta(live)["resourceVersion"]):
            raise errors.stale(resource_type.group_resource, info.name)
        new = self.admission.admit(resource_type, new, info, live, decoding)
        updated = self.store.update(
            resource_type.group_resource,
            new,
            managed,
            subresource=info.subresource,
            dry_run=dry_run(request),
        )
        return _warned(json_response(versioned(updated, resource_type)), decoding)

    def _server_side_apply(
        self,
        request: web.Request,
        info: RequestInfo,
        resource_type: ResourceType,
        raw: bytes,
        live: dict[str, Any] | None,
        managed: ManagedFields,
        manager: str,
    ) -> tuple[dict[str, Any], ManagedFields]:
        """An apply patch by ``manager``: the object it leaves and the new field ownership."""
        assert info.name is not None
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
        applied = parse_yaml(raw)
        if not isinstance(applied, dict):
            raise errors.bad_request("apply patch body must be an object")
        check_apply(resource_type, applied)
        base = None if live is None else versioned(live, resource_type)
        if base is None and info.subresource is not None:
            raise errors.not_found(resource_type.group_resource, info.name)
        applied_rv = meta(applied).get("resourceVersion")
        if applied_rv and (base is None or applied_rv != meta(base)["resourceVersion"]):
            raise errors.stale(resource_type.group_resource, info.name)
        try:
            return server_side_apply(
                base, managed, applied, manager, is_true(request.query.get("force"))
            )
        except ApplyConflict as conflict:
            raise apply_conflict(resource_type, info.name, conflict) from None
        except PatchError as error:
            raise errors.bad_request(str(error)) from None

    def _apply_patch(
        self, resource_type: ResourceType, content_type: str, raw: bytes, live: dict[str, Any]
    ) -> Any:
        if content_type == STRATEGIC_PATCH and resource_type.is_custom:
            raise errors.unsupported_media_type(content_type)
        gvk = (resource_type.group, resource_type.version, resource_type.kind)
        return patched_body(content_type, raw, versioned(live, resource_type), gvk)

    async def _delete(
        self, request: web.Request, info: RequestInfo, resource_type: ResourceType
    ) -> web.Response:
        assert info.name is not None
        options = await delete_options(request)
        preconditions = options.get("preconditions") or {}
        how = propagation(options, resource_type)
        deleted = self.store.delete(
            resource_type.group_resource,
            info.namespace or "",
            info.name,
            propagation=how,
            precondition_rv=preconditions.get("resourceVersion"),
            precondition_uid=preconditions.get("uid"),
            dry_run=delete_dry_run(request, options),
        )
        return _warned_by(json_response(versioned(deleted, resource_type)), delete_warnings(how))

    async def _delete_collection(
        self, request: web.Request, info: RequestInfo, resource_type: ResourceType
    ) -> web.Response:
        options = await delete_options(request)
        how = propagation(options, resource_type)
        dry = delete_dry_run(request, options)
        matches = matcher(request)
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
                        propagation=how,
                        dry_run=dry,
                    )
                )
        listed = json_response(
            {
                "kind": f"{resource_type.kind}List",
                "apiVersion": resource_type.api_version,
                "metadata": {"resourceVersion": str(self.store.resource_version)},
                "items": [versioned(obj, resource_type) for obj in deleted],
            }
        )
        return _warned_by(listed, delete_warnings(how))


def _warned(response: web.Response, decoding: Decoding) -> web.Response:
    """The response with the warnings admission collected, one header each."""
    for warning in decoding.warning_headers():
        response.headers.add("Warning", warning)
    return response


def _warned_by(response: web.Response, warnings: list[str]) -> web.Response:
    for warning in warnings:
        response.headers.add("Warning", f"299 - {go_quote(warning)}")
    return response


def _rv_only(obj: dict[str, Any]) -> dict[str, Any]:
    rv = meta(obj).get("resourceVersion")
    return {"resourceVersion": rv} if rv else {}


def _empty_managed() -> ManagedFields:
    return {}
