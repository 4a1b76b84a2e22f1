"""The ``scale`` subresource of Deployments, ReplicaSets and StatefulSets (``kubectl scale``).

As on a real server (k8s.io/kubernetes pkg/registry/apps/*/storage's ScaleREST), the
subresource reads and writes an autoscaling/v1 Scale made from the object: its name,
namespace, uid, resourceVersion and creationTimestamp, ``spec.replicas`` (the object's, 1 when
unset) and ``status.replicas`` with ``status.selector``, the object's label selector as a
string. A GET answers that Scale (or its Table: Name, Desired, Available, Age). A PUT sends a
Scale, a PATCH (JSON, merge, strategic merge or server-side apply) changes the current one;
the new Scale is decoded and checked like any body (its kind, apiVersion, name and types),
``spec.replicas`` must not be negative (422, ``Scale.autoscaling``), a uid in it must be the
object's (409), and its resourceVersion is a precondition on the object, as in a PUT of the
object itself. Then only the object's ``spec.replicas`` changes: a write of the main resource,
so its generation grows, and the writer's field manager takes ``spec.replicas`` (a server-side
apply to the Scale owns it, and conflicts with its owner, as the real server maps the Scale's
managed fields to the object's).
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from .. import errors, printers
from ..errors import StatusCause
from ..patch import (
    ApplyConflict,
    FieldPath,
    ManagedFields,
    PatchError,
    record_update,
    server_side_apply,
)
from ..requestinfo import RequestInfo, is_true
from ..resources import GroupResource, ResourceType
from ..store import Entry, Store, meta
from .admission import Admission, Decoding, Source, check_apply
from .requests import (
    APPLY_PATCH,
    dry_run,
    field_manager,
    field_validation,
    meta_form,
    parse_yaml,
    patch_source,
    patched_body,
    read_body,
    read_object,
)
from .responses import apply_conflict, json_response
from .tables import TABLE, table_form

SCALE_GROUP, SCALE_VERSION, SCALE_KIND = "autoscaling", "v1", "Scale"
REPLICAS: FieldPath = ("spec", "replicas")
"""The one field a Scale writes, at the same path in the object."""


def scale_type(resource_type: ResourceType) -> ResourceType:
    """The autoscaling/v1 Scale a resource's ``scale`` subresource serves."""
    return ResourceType(
        group=SCALE_GROUP,
        version=SCALE_VERSION,
        plural=resource_type.plural,
        singular="",
        kind=SCALE_KIND,
        namespaced=resource_type.namespaced,
    )


def _member(obj: dict[str, Any], key: str) -> dict[str, Any]:
    value = obj.get(key)
    return value if isinstance(value, dict) else {}


def scale_of(obj: dict[str, Any]) -> dict[str, Any]:
    """The autoscaling/v1 Scale of a Deployment, ReplicaSet or StatefulSet."""
    metadata, spec, status = meta(obj), _member(obj, "spec"), _member(obj, "status")
    selector = printers.label_selector(spec.get("selector"))
    if selector is None:
        raise errors.bad_request("the object's label selector has an operator that is not valid")
    replicas = spec.get("replicas", 1)
    observed = status.get("replicas", 0)
    return {
        "kind": SCALE_KIND,
        "apiVersion": f"{SCALE_GROUP}/{SCALE_VERSION}",
        "metadata": {
            key: metadata[key]
            for key in ("name", "namespace", "uid", "resourceVersion", "creationTimestamp")
            if key in metadata
        },
        "spec": {"replicas": replicas} if replicas else {},  # omitempty, as Go writes it
        "status": {"replicas": observed, **({"selector": selector} if selector else {})},
    }


class ScaleSubresource:
    """GET, PUT and PATCH of ``.../NAME/scale``, over the store and the server's admission."""

    def __init__(self, store: Store, admission: Admission) -> None:
        self.store = store
        self.admission = admission

    async def handle(
        self, request: web.Request, info: RequestInfo, resource_type: ResourceType
    ) -> web.Response:
        if info.name is None or info.verb not in ("get", "update", "patch"):
            raise errors.method_not_allowed(request.method)
        if info.verb == "get":
            return self._get(request, resource_type, self._entry(info, resource_type))
        if info.verb == "update":
            sent = await read_object(request)
            entry = self._entry(info, resource_type)  # read after the body: the latest
            decoding = Decoding(Source.BODY, field_validation(request))
            scale = self.admission.admit(scale_type(resource_type), sent, info, None, decoding)
            managed = None
        else:
            raw = await read_body(request)
            entry = self._entry(info, resource_type)
            scale, managed, decoding = self._patched(request, info, resource_type, entry, raw)
        return self._write(request, info, resource_type, entry, scale, managed, decoding)

    def _entry(self, info: RequestInfo, resource_type: ResourceType) -> Entry:
        assert info.name is not None
        entry = self.store.get(resource_type.group_resource, info.namespace or "", info.name)
        if entry is None:
            raise errors.not_found(resource_type.group_resource, info.name)
        return entry

    def _get(self, request: web.Request, resource_type: ResourceType, entry: Entry) -> web.Response:
        scale = scale_of(entry.obj)
        form = meta_form(request, (TABLE,))
        if form is None:
            return json_response(scale)
        served = scale_type(resource_type)
        table = table_form(request, form[1], served, self.store, printers.SCALE)
        return json_response(table.render_one(scale))

    def _patched(
        self,
        request: web.Request,
        info: RequestInfo,
        resource_type: ResourceType,
        entry: Entry,
        raw: bytes,
    ) -> tuple[dict[str, Any], ManagedFields | None, Decoding]:
        """The Scale a PATCH leaves, and for an apply the object's new field ownership."""
        content_type = request.content_type
        served = scale_type(resource_type)
        base = scale_of(entry.obj)
        decoding = Decoding(patch_source(content_type), field_validation(request), raw)
        managed: ManagedFields | None = None
        try:
            if content_type == APPLY_PATCH:
                patched, managed = self._apply(request, resource_type, raw, base, entry.managed)
            else:
                gvk = (SCALE_GROUP, SCALE_VERSION, SCALE_KIND)
                patched = patched_body(content_type, raw, base, gvk)
        except PatchError as error:
            raise errors.bad_request(str(error)) from None
        if not isinstance(patched, dict):
            raise errors.bad_request("the patch result is not an object")
        return self.admission.admit(served, patched, info, base, decoding), managed, decoding

    def _apply(
        self,
        request: web.Request,
        resource_type: ResourceType,
        raw: bytes,
        base: dict[str, Any],
        managed: ManagedFields,
    ) -> tuple[dict[str, Any], ManagedFields]:
        """A server-side apply to the Scale: the Scale it leaves and the object's ownership,
        ``spec.replicas`` mapped between the object and its Scale."""
        manager = request.query.get("fieldManager")
        if not manager:
            raise errors.invalid(
                "PatchOptions",
                GroupResource("meta.k8s.io", "options"),
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
        served, name = scale_type(resource_type), str(meta(base).get("name", ""))
        check_apply(served, applied)
        applied_rv = meta(applied).get("resourceVersion")
        if applied_rv and applied_rv != meta(base).get("resourceVersion"):
            raise errors.stale(resource_type.group_resource, name)
        scale_managed: ManagedFields = {
            name: frozenset({REPLICAS}) for name, owned in managed.items() if REPLICAS in owned
        }
        force = is_true(request.query.get("force"))
        try:
            scale, scale_managed = server_side_apply(base, scale_managed, applied, manager, force)
        except ApplyConflict as conflict:
            raise apply_conflict(resource_type, name, conflict) from None
        owners = {name for name, owned in scale_managed.items() if REPLICAS in owned}
        ownership = {
            name: (owned - {REPLICAS}) | ({REPLICAS} if name in owners else frozenset())
            for name, owned in managed.items()
        }
        for name in owners - ownership.keys():
            ownership[name] = frozenset({REPLICAS})
        return scale, {name: owned for name, owned in ownership.items() if owned}

    def _write(
        self,
        request: web.Request,
        info: RequestInfo,
        resource_type: ResourceType,
        entry: Entry,
        scale: dict[str, Any],
        managed: ManagedFields | None,
        decoding: Decoding,
    ) -> web.Response:
        """Check the new Scale and move its replicas (and resourceVersion) to the object."""
        assert info.name is not None
        replicas = _member(scale, "spec").get("replicas", 0)
        if isinstance(replicas, int) and replicas < 0:
            cause = StatusCause(
                "FieldValueInvalid",
                f"Invalid value: {replicas}: must be greater than or equal to 0",
                "spec.replicas",
            )
            raise errors.invalid(
                SCALE_KIND, GroupResource(SCALE_GROUP, resource_type.plural), info.name, [cause]
            )
        uid, live_meta = meta(scale).get("uid"), meta(entry.obj)
        if uid and uid != live_meta.get("uid"):
            raise errors.conflict(
                GroupResource(resource_type.group, f"{resource_type.plural}/scale"),
                info.name,
                f"Precondition failed: UID in precondition: {uid}, "
                f"UID in object meta: {live_meta.get('uid')}",
            )
        wanted = {
            **entry.obj,
            "spec": {**_member(entry.obj, "spec"), "replicas": replicas},
            "metadata": {**live_meta, "resourceVersion": meta(scale).get("resourceVersion", "")},
        }
        if managed is None:
            managed = record_update(entry.obj, wanted, entry.managed, field_manager(request))
        updated = self.store.update(
            resource_type.group_resource, wanted, managed, dry_run=dry_run(request)
        )
        response = json_response(scale_of(updated))
        for warning in decoding.warning_headers():
            response.headers.add("Warning", warning)
        return response
