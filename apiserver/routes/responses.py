"""What every response is made of: JSON bodies serialised once, Status errors, versioned objects.

``versioned`` gives an object the apiVersion of the resource type a request addressed, which
may differ from the one it was written at.
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from .. import errors
from ..resources import ResourceType
from .requests import JSON


def json_response(body: Any, status: int = 200) -> web.Response:
    return web.Response(
        body=json.dumps(body, separators=(",", ":")).encode(), status=status, content_type=JSON
    )


def status_response(error: errors.Status) -> web.Response:
    return json_response(error.body(), status=error.code)


def versioned(obj: dict[str, Any], resource_type: ResourceType) -> dict[str, Any]:
    if obj.get("apiVersion") == resource_type.api_version:
        return obj
    return {**obj, "apiVersion": resource_type.api_version}
