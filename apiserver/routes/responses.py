"""What every response is made of: JSON bodies serialised once, Status errors, versioned objects.

``versioned`` gives an object the apiVersion of the resource type a request addressed, which
may differ from the one it was written at, converted when the type stores another form (an
events.k8s.io/v1 Event is stored as a core/v1 Event).
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from .. import errors, jsontext
from ..errors import ApiError
from ..patch import ApplyConflict
from ..resources import ResourceType, served
from .requests import JSON


def json_response(body: Any, status: int = 200) -> web.Response:
    return web.Response(body=jsontext.dumps(body), status=status, content_type=JSON)


def status_response(error: errors.Status) -> web.Response:
    return json_response(error.body(), status=error.code)


def versioned(obj: dict[str, Any], resource_type: ResourceType) -> dict[str, Any]:
    if resource_type.conversion is None and obj.get("apiVersion") == resource_type.api_version:
        return obj  # the common case, once per item of a LIST
    return served(obj, resource_type)


def apply_conflict(resource_type: ResourceType, name: str, conflict: ApplyConflict) -> ApiError:
    """409 naming each field another manager owns (a server-side apply without force)."""
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
