"""Impersonation and RBAC at the edge of the server, and the self-review endpoints.

A request with ``Impersonate-*`` headers (``kubectl --as``, ``helm --kube-as-user``) acts as
the user they name and is authorized with RBAC over the stored objects (``rbac``) before any
handler runs: a watch before its stream starts, a Table or PartialObjectMetadata request like
any other. A denial is the real server's 403. The kubeconfig's user is a cluster admin: it may
impersonate anyone, and a request without these headers acts as it and is not checked.

SelfSubjectAccessReview and SelfSubjectRulesReview (``kubectl auth can-i [--list]``) are
answered for whoever the request acts as; they are served but not listed in discovery.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from multidict import CIMultiDictProxy

from .. import errors, rbac
from ..errors import ApiError
from ..resources import GroupResource
from ..store import Store
from .requests import read_object
from .responses import json_response, status_response

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
USER = web.RequestKey("user", rbac.User)
"""Who an impersonated request acts as; absent on the others (they act as ``rbac.ADMIN``)."""

AUTHORIZATION_V1 = "authorization.k8s.io/v1"
ACCESS_REVIEWS = f"/apis/{AUTHORIZATION_V1}/selfsubjectaccessreviews"
RULES_REVIEWS = f"/apis/{AUTHORIZATION_V1}/selfsubjectrulesreviews"


def impersonating(headers: CIMultiDictProxy[str]) -> bool:
    """Whether a request asks to act as someone else: the only requests RBAC is checked for."""
    return (
        rbac.IMPERSONATE_USER in headers
        or rbac.IMPERSONATE_GROUP in headers
        or rbac.IMPERSONATE_UID in headers
    )


class Authorization:
    """RBAC over one store, for impersonated requests and self reviews."""

    def __init__(self, store: Store) -> None:
        def get(resource: GroupResource, namespace: str, name: str) -> dict[str, Any] | None:
            entry = store.get(resource, namespace, name)
            return None if entry is None else entry.obj

        self.policy = rbac.Policy(store.objects, get)

    def add_routes(self, app: web.Application) -> None:
        """The self-review routes; added before the resource routes, which would 404 them."""
        app.router.add_post(ACCESS_REVIEWS, self.access_review)
        app.router.add_post(RULES_REVIEWS, self.rules_review)

    async def guard(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """Hand an impersonated request on as its user, or answer it with the refusal."""
        try:
            impersonation = rbac.impersonate(request.headers.items())
        except ApiError as error:
            return status_response(error.status)
        if impersonation is None:  # empty headers: the request acts as its caller
            return await handler(request)
        for check in impersonation.checks:
            decision = rbac.authorize(rbac.ADMIN, check, self.policy)
            if not decision.allowed:
                return _forbidden(rbac.forbidden(rbac.ADMIN, check, decision.reason))
        user = impersonation.user
        attributes = rbac.request_attributes(request.method, request.path, request.query)
        decision = rbac.authorize(user, attributes, self.policy)
        if not decision.allowed:
            return _forbidden(rbac.forbidden(user, attributes, decision.reason))
        request[USER] = user
        return await handler(request)

    async def access_review(self, request: web.Request) -> web.Response:
        try:
            review = await read_object(request)
            spec = review.get("spec")
            status = rbac.access_review(
                request.get(USER, rbac.ADMIN), spec if isinstance(spec, dict) else {}, self.policy
            )
        except ApiError as error:
            return status_response(error.status)
        return json_response(_review("SelfSubjectAccessReview", review, status), status=201)

    async def rules_review(self, request: web.Request) -> web.Response:
        try:
            review = await read_object(request)
            spec = review.get("spec")
            namespace = spec.get("namespace") if isinstance(spec, dict) else None
            if not namespace or not isinstance(namespace, str):
                raise errors.bad_request("no namespace on request")
        except ApiError as error:
            return status_response(error.status)
        status = rbac.rules_review(request.get(USER, rbac.ADMIN), namespace, self.policy)
        answer = _review("SelfSubjectRulesReview", {"spec": {}}, status)
        return json_response(answer, status=201)


def _review(kind: str, review: dict[str, Any], status: dict[str, Any]) -> dict[str, Any]:
    metadata = review.get("metadata")
    return {
        "kind": kind,
        "apiVersion": AUTHORIZATION_V1,
        "metadata": {**(metadata if isinstance(metadata, dict) else {}), "creationTimestamp": None},
        "spec": review.get("spec") or {},
        "status": status,
    }


def _forbidden(status: errors.Status) -> web.Response:
    response = status_response(status)
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response
