"""API errors as the real server reports them: a ``Status`` body with reason and code."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .resources import GroupResource


@dataclass(frozen=True)
class StatusCause:
    reason: str
    message: str
    field: str = ""


@dataclass(frozen=True)
class Status:
    """A failed request, as the ``Status`` object the client receives."""

    code: int
    reason: str
    message: str
    details: dict[str, Any] = field(default_factory=dict)
    causes: tuple[StatusCause, ...] = ()

    def body(self) -> dict[str, Any]:
        details = dict(self.details)
        if self.causes:
            details["causes"] = [
                {"reason": c.reason, "message": c.message, "field": c.field} for c in self.causes
            ]
        body: dict[str, Any] = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        }
        if details:
            body["details"] = details
        return body


class ApiError(Exception):
    """Raised inside a request to answer it with a ``Status``; never escapes a handler."""

    def __init__(self, status: Status) -> None:
        super().__init__(status.message)
        self.status = status


def _details(resource: GroupResource, name: str) -> dict[str, Any]:
    return {"name": name, "group": resource.group, "kind": resource.plural}


def not_found(resource: GroupResource, name: str) -> ApiError:
    return ApiError(
        Status(404, "NotFound", f'{resource} "{name}" not found', _details(resource, name))
    )


def already_exists(resource: GroupResource, name: str) -> ApiError:
    return ApiError(
        Status(
            409, "AlreadyExists", f'{resource} "{name}" already exists', _details(resource, name)
        )
    )


def conflict(resource: GroupResource, name: str, why: str) -> ApiError:
    message = f'Operation cannot be fulfilled on {resource} "{name}": {why}'
    return ApiError(Status(409, "Conflict", message, _details(resource, name)))


def stale(resource: GroupResource, name: str) -> ApiError:
    return conflict(
        resource,
        name,
        "the object has been modified; please apply your changes to the latest version "
        "and try again",
    )


def invalid(kind: str, resource: GroupResource, name: str, causes: list[StatusCause]) -> ApiError:
    qualified = f"{kind}.{resource.group}" if resource.group else kind
    summary = ", ".join(f"{c.field}: {c.message}" if c.field else c.message for c in causes)
    message = f'{qualified} "{name}" is invalid: {summary}'
    if len(causes) > 1:
        message = f'{qualified} "{name}" is invalid: [{summary}]'
    details = {"name": name, "group": resource.group, "kind": kind}
    return ApiError(Status(422, "Invalid", message, details, tuple(causes)))


def bad_request(message: str) -> ApiError:
    return ApiError(Status(400, "BadRequest", message))


def unsupported_media_type(content_type: str) -> ApiError:
    return ApiError(
        Status(
            415,
            "UnsupportedMediaType",
            f"the body of the request was in an unknown format "
            f"- accepted media types include: application/json, application/yaml, "
            f"application/vnd.kubernetes.protobuf (got {content_type!r})",
        )
    )


def expired(message: str) -> Status:
    return Status(410, "Expired", message)


def method_not_allowed(method: str) -> ApiError:
    return ApiError(
        Status(
            405,
            "MethodNotAllowed",
            f"the server does not allow this method ({method}) on the requested resource",
        )
    )


def no_resource() -> ApiError:
    return ApiError(Status(404, "NotFound", "the server could not find the requested resource"))
