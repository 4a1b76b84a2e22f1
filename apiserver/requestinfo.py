"""What a request is about, read from its method, path and query alone.

Shared by routing, fault injection and the audit log, like the real server's
RequestInfo: it needs no knowledge of which resources exist.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

NAMESPACE_SUBRESOURCES = frozenset({"status", "finalize"})


@dataclass(frozen=True)
class RequestInfo:
    """A resource request (``resource`` set) or a non-resource one (discovery, OpenAPI)."""

    verb: str
    path: str
    group: str = ""
    version: str = ""
    resource: str = ""
    namespace: str | None = None
    name: str | None = None
    subresource: str | None = None

    @property
    def is_discovery(self) -> bool:
        return bool(self.version) and not self.resource


TRUE_TEXTS = frozenset({"1", "t", "T", "true", "TRUE", "True"})
"""What Go's strconv.ParseBool reads as true, as the real server parses boolean parameters."""


def is_true(text: str | None) -> bool:
    return text in TRUE_TEXTS


_VERBS = {"POST": "create", "PUT": "update", "PATCH": "patch"}


def parse_request_info(method: str, path: str, query: Mapping[str, str]) -> RequestInfo:
    parts = [p for p in path.split("/") if p]
    if parts[:1] == ["api"] and len(parts) >= 2:
        group, version, rest = "", parts[1], parts[2:]
    elif parts[:1] == ["apis"] and len(parts) >= 3:
        group, version, rest = parts[1], parts[2], parts[3:]
    else:
        return RequestInfo(verb=method.lower(), path=path)
    namespace = None
    if (
        len(rest) >= 3
        and rest[0] == "namespaces"
        and not (len(rest) == 3 and rest[2] in NAMESPACE_SUBRESOURCES)
    ):
        namespace, rest = rest[1], rest[2:]
    if not rest:
        return RequestInfo(verb="get", path=path, group=group, version=version)
    resource = rest[0]
    name = rest[1] if len(rest) >= 2 else None
    subresource = "/".join(rest[2:]) or None
    return RequestInfo(
        verb=_verb(method, name, query),
        path=path,
        group=group,
        version=version,
        resource=resource,
        namespace=namespace,
        name=name,
        subresource=subresource,
    )


def _verb(method: str, name: str | None, query: Mapping[str, str]) -> str:
    if method == "GET":
        if is_true(query.get("watch")):
            return "watch"
        return "get" if name else "list"
    if method == "DELETE":
        return "delete" if name else "deletecollection"
    return _VERBS.get(method, method.lower())
