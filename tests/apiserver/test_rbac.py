"""Impersonation and RBAC: the rules engine table-tested, then the real kubectl, helm 4 and
helm 3 acting as a ServiceAccount against the in-memory API server.

The engine's tables follow the real server: what a request asks (its RequestInfo), who an
impersonated request acts as, how rules, subjects and role references match, and the exact
403 messages. With the tools: denied without bindings with the real message, allowed as
soon as a binding exists, a RoleBinding to a ClusterRole only in its namespace, a
ClusterRoleBinding everywhere, resourceNames, subresources, group subjects, a watch refused
before it starts, ``kubectl auth can-i``, and helm refused until a Role grants what it needs.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import aiohttp
import pytest
from apitesting import Client, Run

from apiserver import ApiServer
from apiserver.errors import ApiError
from apiserver.rbac import (
    ADMIN,
    Attributes,
    Policy,
    User,
    access_review,
    authorize,
    forbidden,
    impersonate,
    request_attributes,
    rules_review,
)
from apiserver.resources import GroupResource

SA = "system:serviceaccount:team:deployer"
AS = f"--as={SA}"
SA_GROUPS = ("system:serviceaccounts", "system:serviceaccounts:team", "system:authenticated")
DEPLOYER = User(SA, SA_GROUPS)
RBAC = "rbac.authorization.k8s.io"
CONFIGMAPS = GroupResource("", "configmaps")
SECRETS = GroupResource("", "secrets")


def ask(verb: str, what: str, namespace: str = "team", name: str = "") -> Attributes:
    """A resource request, its resource spelt as kubectl does (``deployments.apps/status``)."""
    resource, _, subresource = what.partition("/")
    plural, _, group = resource.partition(".")
    return Attributes(
        verb,
        "",
        True,
        group=group,
        version="v1",
        resource=plural,
        subresource=subresource,
        namespace=namespace,
        name=name,
    )


def url(verb: str, path: str) -> Attributes:
    """A non-resource request."""
    return Attributes(verb, path)


# --- what a request asks --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("request_line", "expected"),
    [
        ("GET /api/v1/namespaces/team/pods", ask("list", "pods")),
        ("GET /api/v1/namespaces/team/pods?watch=true", ask("watch", "pods")),
        (
            "GET /api/v1/namespaces/team/pods?watch=1&fieldSelector=metadata.name%3Dweb",
            ask("watch", "pods", name="web"),
        ),
        (
            "GET /api/v1/namespaces/team/pods?fieldSelector=metadata.name%3Da%25b",
            ask("list", "pods"),
        ),
        ("GET /api/v1/watch/namespaces/team/pods/web", ask("watch", "pods", name="web")),
        (
            "GET /apis/apps/v1/namespaces/team/deployments/web/status",
            ask("get", "deployments.apps/status", name="web"),
        ),
        ("GET /api/v1/namespaces/team/pods/web/log", ask("get", "pods/log", name="web")),
        ("GET /apis/apps/v1/deployments", ask("list", "deployments.apps", namespace="")),
        # a namespace's own URL is in that namespace
        ("GET /api/v1/namespaces/team", ask("get", "namespaces", name="team")),
        ("PUT /api/v1/namespaces/team/finalize", ask("update", "namespaces/finalize", name="team")),
        ("GET /api/v1/namespaces", ask("list", "namespaces", namespace="")),
        ("POST /api/v1/namespaces/team/configmaps", ask("create", "configmaps")),
        ("PUT /api/v1/namespaces/team/configmaps/a", ask("update", "configmaps", name="a")),
        ("PATCH /api/v1/namespaces/team/configmaps/a", ask("patch", "configmaps", name="a")),
        ("DELETE /api/v1/namespaces/team/configmaps/a", ask("delete", "configmaps", name="a")),
        ("DELETE /api/v1/namespaces/team/configmaps", ask("deletecollection", "configmaps")),
        (
            "POST /apis/authorization.k8s.io/v1/selfsubjectaccessreviews",
            ask("create", "selfsubjectaccessreviews.authorization.k8s.io", namespace=""),
        ),
        # discovery, OpenAPI, version and health are non-resource paths
        ("GET /api", url("get", "/api")),
        ("GET /api/v1", url("get", "/api/v1")),
        ("GET /apis", url("get", "/apis")),
        ("GET /apis/apps", url("get", "/apis/apps")),
        ("GET /apis/apps/v1", url("get", "/apis/apps/v1")),
        ("GET /openapi/v3/apis/apps/v1", url("get", "/openapi/v3/apis/apps/v1")),
        ("GET /version", url("get", "/version")),
        ("POST /metrics", url("post", "/metrics")),
    ],
)
def test_request_attributes(request_line: str, expected: Attributes) -> None:
    method, _, target = request_line.partition(" ")
    path, _, query = target.partition("?")
    got = request_attributes(method, path, dict(parse_qsl(query)))
    assert got.path == path
    if expected.resource_request:
        got = dataclasses.replace(got, path="")
    assert got == expected


# --- who a request acts as ------------------------------------------------------------------


def may(resource: str, name: str, **fields: str) -> Attributes:
    """What the caller must be allowed to impersonate."""
    return Attributes("impersonate", "", True, version="v1", resource=resource, name=name, **fields)


AUTHN = "authentication.k8s.io"


@pytest.mark.parametrize(
    ("headers", "user", "checks"),
    [
        (
            [("Impersonate-User", SA)],
            DEPLOYER,
            [may("serviceaccounts", "deployer", namespace="team")],
        ),
        (  # explicit groups replace the ServiceAccount groups
            [("impersonate-user", SA), ("Impersonate-Group", "devs")],
            User(SA, ("devs", "system:authenticated")),
            [may("serviceaccounts", "deployer", namespace="team"), may("groups", "devs")],
        ),
        (  # the first user header counts
            [("Impersonate-User", "jane"), ("Impersonate-User", "ignored")],
            User("jane", ("system:authenticated",)),
            [may("users", "jane")],
        ),
        (  # not a valid ServiceAccount user name: a plain user
            [("Impersonate-User", "system:serviceaccount:Team:deployer")],
            User("system:serviceaccount:Team:deployer", ("system:authenticated",)),
            [may("users", "system:serviceaccount:Team:deployer")],
        ),
        (
            [("Impersonate-User", "jane"), ("Impersonate-Group", "system:unauthenticated")],
            User("jane", ("system:unauthenticated",)),
            [may("users", "jane"), may("groups", "system:unauthenticated")],
        ),
        (
            [("Impersonate-User", "system:anonymous")],
            User("system:anonymous", ("system:unauthenticated",)),
            [may("users", "system:anonymous")],
        ),
        (
            [
                ("Impersonate-User", "jane"),
                ("Impersonate-Extra-Scopes", "view"),
                ("Impersonate-Extra-Scopes", "edit"),
                ("Impersonate-Extra-Example.com%2fteam", "a"),
                ("Impersonate-Uid", "1234"),
            ],
            User(
                "jane",
                ("system:authenticated",),
                "1234",
                (("scopes", ("view", "edit")), ("example.com/team", ("a",))),
            ),
            [
                may("users", "jane"),
                may("userextras", "view", group=AUTHN, subresource="scopes"),
                may("userextras", "edit", group=AUTHN, subresource="scopes"),
                may("userextras", "a", group=AUTHN, subresource="example.com/team"),
                may("uids", "1234", group=AUTHN),
            ],
        ),
    ],
)
def test_impersonation(
    headers: list[tuple[str, str]], user: User, checks: list[Attributes]
) -> None:
    impersonation = impersonate(headers)
    assert impersonation is not None
    assert impersonation.user == user
    assert list(impersonation.checks) == checks


def test_impersonating_nobody() -> None:
    assert impersonate([("Accept", "application/json")]) is None
    assert impersonate([("Impersonate-User", "")]) is None


def test_groups_without_a_user_are_a_bad_request() -> None:
    with pytest.raises(ApiError) as raised:
        impersonate([("Impersonate-Group", "devs"), ("Impersonate-Uid", "7")])
    assert raised.value.status.code == 400
    assert raised.value.status.message == (
        "requested [{Group  devs    } {UID  7  authentication.k8s.io/v1  }] "
        "without impersonating a user"
    )


# --- rules, subjects and role references ----------------------------------------------------


def rule(verbs: str, what: str = "", names: str = "", urls: str = "") -> dict[str, Any]:
    """A PolicyRule; ``what`` is "group:resource resource ..." ("" for the core group)."""
    fields: dict[str, Any] = {}
    if what:
        group, _, resources = what.partition(":")
        fields = {"apiGroups": [group], "resources": resources.split()}
    if names:
        fields["resourceNames"] = names.split()
    if urls:
        fields["nonResourceURLs"] = urls.split()
    return {**fields, "verbs": verbs.split()}


def role(name: str, namespace: str, *rules: dict[str, Any]) -> dict[str, Any]:
    kind = "Role" if namespace else "ClusterRole"
    metadata = {"name": name, **({"namespace": namespace} if namespace else {})}
    return {"apiVersion": f"{RBAC}/v1", "kind": kind, "metadata": metadata, "rules": list(rules)}


def binding(name: str, namespace: str, ref: str, *subjects: dict[str, str]) -> dict[str, Any]:
    """A RoleBinding (ClusterRoleBinding without a namespace) to ``Kind/name``."""
    kind = "RoleBinding" if namespace else "ClusterRoleBinding"
    metadata = {"name": name, **({"namespace": namespace} if namespace else {})}
    ref_kind, ref_name = ref.split("/")
    return {
        "apiVersion": f"{RBAC}/v1",
        "kind": kind,
        "metadata": metadata,
        "roleRef": {"apiGroup": RBAC, "kind": ref_kind, "name": ref_name},
        "subjects": list(subjects),
    }


def sa(name: str = "deployer", namespace: str = "") -> dict[str, str]:
    return {
        "kind": "ServiceAccount",
        "name": name,
        **({"namespace": namespace} if namespace else {}),
    }


def group(name: str) -> dict[str, str]:
    return {"kind": "Group", "name": name, "apiGroup": RBAC}


def user(name: str) -> dict[str, str]:
    return {"kind": "User", "name": name, "apiGroup": RBAC}


POLICY = Policy.of(
    role("reader", "team", rule("get list watch", "apps:deployments")),
    binding("reader", "team", "Role/reader", sa()),
    role("cm-editor", "", rule("*", ":configmaps")),
    binding("cm-editor", "team", "ClusterRole/cm-editor", sa("deployer", "team")),
    role("web-only", "team", rule("get watch update", "apps:statefulsets", names="web")),
    binding("web-only", "team", "Role/web-only", group("system:serviceaccounts:team")),
    role("status", "team", rule("get patch", "apps:replicasets/status")),
    binding("status", "team", "Role/status", user(SA)),
    role("any-status", "", rule("get", "*:*/status")),
    binding("any-status", "", "ClusterRole/any-status", user("auditor")),
    role("everything", "", rule("get", "*:*")),
    binding("everything", "", "ClusterRole/everything", user("reader")),
    role("ns-reader", "", rule("get list", ":namespaces")),
    binding("ns-reader", "", "ClusterRole/ns-reader", sa("viewer", "ops")),
    # a ServiceAccount subject of a ClusterRoleBinding must name its namespace
    binding("no-sa-namespace", "", "ClusterRole/everything", sa("viewer")),
    role("metrics", "", rule("get", urls="/metrics /logs/*")),
    binding("metrics", "", "ClusterRole/metrics", group("monitoring")),
    binding("dangling", "broken", "Role/gone", sa("deployer", "team")),
    binding("dangling-cluster", "broken", "ClusterRole/gone", sa("deployer", "team")),
    binding("cm-editor", "odd", "ClusterRole/cm-editor", sa("deployer", "team")),
    binding("dangling", "odd", "Role/gone", sa("deployer", "team")),
    binding("odd", "odd", "Secret/x", sa("deployer", "team")),
)
VIEWER = User(
    "system:serviceaccount:ops:viewer", ("system:serviceaccounts", "system:authenticated")
)
AUDITOR = User("auditor", ("system:authenticated",))
READER = User("reader", ("system:authenticated",))
ANONYMOUS = User("system:anonymous", ("system:unauthenticated",))
MONITOR = User("prom", ("monitoring", "system:authenticated"))
SELF_REVIEW = ask("create", "selfsubjectaccessreviews.authorization.k8s.io", namespace="")
READER_GRANT = (
    'RBAC: allowed by RoleBinding "reader/team" of Role "reader" to ServiceAccount "deployer/team"'
)
MISSING_ROLE = 'role.rbac.authorization.k8s.io "gone" not found'
MISSING_CLUSTER_ROLE = 'clusterrole.rbac.authorization.k8s.io "gone" not found'


@pytest.mark.parametrize(
    ("who", "attributes", "allowed", "reason"),
    [
        # a RoleBinding to a Role: in its namespace only; the subject's namespace defaults to it
        (DEPLOYER, ask("list", "deployments.apps"), True, READER_GRANT),
        (DEPLOYER, ask("get", "deployments.apps", name="web"), True, READER_GRANT),
        (DEPLOYER, ask("watch", "deployments.apps"), True, READER_GRANT),
        (DEPLOYER, ask("create", "deployments.apps"), False, ""),
        (DEPLOYER, ask("list", "deployments.apps", "other"), False, ""),
        (DEPLOYER, ask("list", "deployments.apps", ""), False, ""),
        (DEPLOYER, ask("list", "deployments"), False, ""),  # another API group
        # a RoleBinding to a ClusterRole: the ClusterRole's rules, in the binding's namespace
        (
            DEPLOYER,
            ask("deletecollection", "configmaps"),
            True,
            'RBAC: allowed by RoleBinding "cm-editor/team" of ClusterRole "cm-editor" '
            'to ServiceAccount "deployer/team"',
        ),
        (DEPLOYER, ask("get", "configmaps", "default", "a"), False, ""),
        (DEPLOYER, ask("list", "configmaps", ""), False, ""),
        # resourceNames: only requests naming the object (a list never does)
        (DEPLOYER, ask("get", "statefulsets.apps", name="web"), True, None),
        (DEPLOYER, ask("watch", "statefulsets.apps", name="web"), True, None),
        (DEPLOYER, ask("get", "statefulsets.apps", name="db"), False, ""),
        (DEPLOYER, ask("list", "statefulsets.apps"), False, ""),
        (DEPLOYER, ask("update", "statefulsets.apps/status", name="web"), False, ""),
        # subresources: "resource/sub" is a resource of its own; "*/sub" and "*" match it
        (DEPLOYER, ask("get", "replicasets.apps", name="rs"), False, ""),
        (DEPLOYER, ask("patch", "replicasets.apps/status", name="rs"), True, None),
        (DEPLOYER, ask("get", "replicasets.apps/scale", name="rs"), False, ""),
        (DEPLOYER, ask("get", "deployments.apps/status", name="web"), False, ""),
        (AUDITOR, ask("get", "deployments.apps/status", name="web"), True, None),
        (AUDITOR, ask("get", "pods/status", name="p"), True, None),
        (AUDITOR, ask("get", "deployments.apps", name="web"), False, ""),
        (AUDITOR, ask("get", "pods/log", name="p"), False, ""),
        (READER, ask("get", "deployments.apps/status", name="web"), True, None),
        (READER, ask("get", "nodes", "", "n1"), True, None),
        (READER, ask("list", "deployments.apps"), False, ""),
        # a ClusterRoleBinding grants everywhere
        (VIEWER, ask("list", "namespaces", ""), True, None),
        (VIEWER, ask("get", "namespaces", "kube-system", "kube-system"), True, None),
        (VIEWER, ask("get", "pods", name="p"), False, ""),
        # non-resource URLs: discovery for every authenticated user; prefixes ending in *
        (DEPLOYER, url("get", "/apis/apps/v1"), True, None),
        (DEPLOYER, url("get", "/openapi/v3"), True, None),
        (DEPLOYER, url("get", "/version"), True, None),
        (DEPLOYER, url("post", "/api"), False, ""),
        (DEPLOYER, url("get", "/metrics"), False, ""),
        (MONITOR, url("get", "/metrics"), True, None),
        (MONITOR, url("get", "/logs/kubelet/x"), True, None),
        (MONITOR, url("get", "/logs"), False, ""),
        (ANONYMOUS, url("get", "/version"), True, None),
        (ANONYMOUS, url("get", "/api"), False, ""),
        (
            DEPLOYER,
            SELF_REVIEW,
            True,
            'RBAC: allowed by ClusterRoleBinding "system:basic-user" of ClusterRole '
            '"system:basic-user" to Group "system:authenticated"',
        ),
        # system:masters may do anything
        (ADMIN, ask("delete", "secrets", "kube-system", "s"), True, ""),
        (User("jane", ("system:masters",)), url("put", "/anything"), True, ""),
        # bindings whose role is missing: the reason says so, unless another one grants
        (
            DEPLOYER,
            ask("list", "pods", "broken"),
            False,
            f"RBAC: [{MISSING_ROLE}, {MISSING_CLUSTER_ROLE}]",
        ),
        (DEPLOYER, ask("list", "configmaps", "odd"), True, None),
        (
            DEPLOYER,
            ask("list", "pods", "odd"),
            False,
            f'RBAC: [{MISSING_ROLE}, unsupported role reference kind: "Secret"]',
        ),
    ],
)
def test_authorize(who: User, attributes: Attributes, allowed: bool, reason: str | None) -> None:
    decision = authorize(who, attributes, POLICY)
    assert decision.allowed is allowed
    if reason is not None:
        assert decision.reason == reason


def test_cluster_admin_is_bindable_and_stored_objects_replace_bootstrap_ones() -> None:
    ops = User("ops", ("system:authenticated",))
    admin = Policy.of(binding("ops-admin", "", "ClusterRole/cluster-admin", user("ops")))
    assert authorize(ops, url("delete", "/anything"), admin).allowed
    assert authorize(ops, ask("delete", "secrets", name="s"), admin).allowed
    # a bootstrap binding edited (here: emptied) counts instead of the default one
    emptied = Policy.of(binding("system:discovery", "", "ClusterRole/system:discovery"))
    assert authorize(ops, url("get", "/api"), Policy.of()).allowed
    assert not authorize(ops, url("get", "/api"), emptied).allowed
    assert authorize(ops, url("get", "/version"), emptied).allowed  # public info stays


# --- the 403 --------------------------------------------------------------------------------

CANNOT = f'is forbidden: User "{SA}" cannot'


@pytest.mark.parametrize(
    ("attributes", "reason", "message"),
    [
        (
            ask("get", "deployments.apps", name="web"),
            "",
            f'deployments.apps "web" {CANNOT} get resource "deployments" in API group "apps" '
            'in the namespace "team"',
        ),
        (
            ask("list", "deployments.apps"),
            "",
            f'deployments.apps {CANNOT} list resource "deployments" in API group "apps" '
            'in the namespace "team"',
        ),
        (
            ask("create", "secrets"),
            "",
            f'secrets {CANNOT} create resource "secrets" in API group "" in the namespace "team"',
        ),
        (
            ask("watch", "configmaps", ""),
            "",
            f'configmaps {CANNOT} watch resource "configmaps" in API group "" at the cluster scope',
        ),
        (
            ask("patch", "deployments.apps/status", name="web"),
            "",
            f'deployments.apps "web" {CANNOT} patch resource "deployments/status" '
            'in API group "apps" in the namespace "team"',
        ),
        (
            ask("list", "pods"),
            f"RBAC: {MISSING_ROLE}",
            f'pods {CANNOT} list resource "pods" in API group "" in the namespace "team": '
            f"RBAC: {MISSING_ROLE}",
        ),
        (url("get", "/metrics"), "", f'forbidden: User "{SA}" cannot get path "/metrics"'),
        (url("get", "/<x>&"), "", f'forbidden: User "{SA}" cannot get path "/&lt;x&gt;&amp;"'),
    ],
)
def test_forbidden_messages(attributes: Attributes, reason: str, message: str) -> None:
    status = forbidden(DEPLOYER, attributes, reason)
    assert (status.code, status.reason, status.message) == (403, "Forbidden", message)


def test_forbidden_details() -> None:
    assert forbidden(DEPLOYER, ask("get", "deployments.apps/status", name="web")).details == {
        "name": "web",
        "group": "apps",
        "kind": "deployments",
    }
    assert forbidden(DEPLOYER, ask("list", "pods")).details == {"kind": "pods"}
    assert forbidden(DEPLOYER, url("get", "/metrics")).details == {}


# --- self reviews ---------------------------------------------------------------------------


def test_access_review() -> None:
    attributes = {"namespace": "team", "verb": "list", "group": "apps", "resource": "deployments"}
    spec = {"resourceAttributes": attributes}
    assert access_review(DEPLOYER, spec, POLICY) == {"allowed": True, "reason": READER_GRANT}
    assert access_review(ADMIN, spec, POLICY) == {"allowed": True}
    other = {"resourceAttributes": {**attributes, "namespace": "other"}}
    assert access_review(DEPLOYER, other, POLICY) == {"allowed": False}
    metrics = {"nonResourceAttributes": {"path": "/metrics", "verb": "get"}}
    assert access_review(DEPLOYER, metrics, POLICY) == {"allowed": False}
    with pytest.raises(ApiError) as raised:
        access_review(DEPLOYER, {}, POLICY)
    assert raised.value.status.code == 422


def test_rules_review() -> None:
    broken = rules_review(DEPLOYER, "broken", POLICY)
    assert broken["incomplete"] is False
    assert broken["evaluationError"] == f"[{MISSING_ROLE}, {MISSING_CLUSTER_ROLE}]"
    public = ["/healthz", "/livez", "/readyz", "/version", "/version/"]
    assert {"verbs": ["get"], "nonResourceURLs": public} in broken["nonResourceRules"]
    assert {
        "verbs": ["create"],
        "apiGroups": ["authorization.k8s.io"],
        "resources": ["selfsubjectaccessreviews", "selfsubjectrulesreviews"],
    } in broken["resourceRules"]
    team = rules_review(DEPLOYER, "team", POLICY)
    assert "evaluationError" not in team
    assert {
        "verbs": ["get", "watch", "update"],
        "apiGroups": ["apps"],
        "resources": ["statefulsets"],
        "resourceNames": ["web"],
    } in team["resourceRules"]


# --- over HTTP: headers, watches, Tables, metadata, reviews ---------------------------------


async def send(
    client: Client, method: str, path: str, headers: dict[str, str], body: Any = None, **query: str
) -> tuple[int, Any, dict[str, str]]:
    data = None if body is None else json.dumps(body).encode()
    async with client.session.request(
        method,
        client.base + path,
        params=query or None,
        data=data,
        headers={**headers, **({"Content-Type": "application/json"} if data else {})},
        timeout=aiohttp.ClientTimeout(total=10),
    ) as response:
        text = await response.text()
        return response.status, json.loads(text) if text else None, dict(response.headers)


AS_DEPLOYER = {"Impersonate-User": SA}
TABLE = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"
PARTIAL = "application/json;as=PartialObjectMetadataList;v=v1;g=meta.k8s.io,application/json"
CM_PATH = "/api/v1/namespaces/team/configmaps"


async def test_watches_tables_and_metadata_are_refused_before_anything_is_served(
    apiserver: ApiServer, client: Client
) -> None:
    assert (await client.post("/api/v1/namespaces", {"metadata": {"name": "team"}})).status == 201
    message = (
        f'configmaps {CANNOT} watch resource "configmaps" in API group "" in the namespace "team"'
    )
    code, body, headers = await send(client, "GET", CM_PATH, AS_DEPLOYER, watch="true")
    assert (code, body["reason"], body["message"]) == (403, "Forbidden", message)
    assert body["details"] == {"kind": "configmaps"}
    assert headers["X-Content-Type-Options"] == "nosniff"
    for accept in (TABLE, PARTIAL):
        code, body, _ = await send(client, "GET", CM_PATH, {**AS_DEPLOYER, "Accept": accept})
        assert (code, body["message"]) == (403, message.replace("cannot watch", "cannot list"))
    assert len(apiserver.audit.find(resource="configmaps", code=403)) == 3
    # the same requests without impersonation act as the cluster admin
    assert (await client.get(CM_PATH)).status == 200
    async with client.watch(CM_PATH) as stream:
        assert stream.response.status == 200


async def test_headers_name_the_user_its_groups_and_extras(client: Client) -> None:
    assert (await client.post("/api/v1/namespaces", {"metadata": {"name": "team"}})).status == 201
    rbac_v1 = f"/apis/{RBAC}/v1"
    editor = role("cm-editor", "", rule("*", ":configmaps"))
    assert (await client.post(f"{rbac_v1}/clusterroles", editor)).status == 201
    grant = binding("devs-edit", "team", "ClusterRole/cm-editor", group("devs"))
    assert (await client.post(f"{rbac_v1}/namespaces/team/rolebindings", grant)).status == 201
    as_dev = {"Impersonate-User": "jane", "Impersonate-Group": "devs"}
    assert (await send(client, "POST", CM_PATH, as_dev, {"metadata": {"name": "c"}}))[0] == 201
    as_jane = {"Impersonate-User": "jane"}
    code, body, _ = await send(client, "POST", CM_PATH, as_jane, {"metadata": {"name": "d"}})
    assert (code, body["message"]) == (
        403,
        'configmaps is forbidden: User "jane" cannot create resource "configmaps" '
        'in API group "" in the namespace "team"',
    )
    # a ServiceAccount given groups has those (and system:authenticated) only
    as_sa = {"Impersonate-User": SA, "Impersonate-Group": "devs", "Impersonate-Extra-Scopes": "x"}
    assert (await send(client, "GET", f"{CM_PATH}/c", as_sa))[0] == 200
    code, body, _ = await send(client, "GET", CM_PATH, {"Impersonate-Group": "devs"})
    assert (code, body["reason"]) == (400, "BadRequest")
    # an empty user header impersonates nobody
    assert (await send(client, "GET", "/api/v1/secrets", {"Impersonate-User": ""}))[0] == 200


async def test_self_access_review_over_json(client: Client) -> None:
    review = {
        "apiVersion": "authorization.k8s.io/v1",
        "kind": "SelfSubjectAccessReview",
        "spec": {"resourceAttributes": {"verb": "list", "resource": "secrets", "namespace": "a"}},
    }
    path = "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews"
    code, body, _ = await send(client, "POST", path, AS_DEPLOYER, review)
    assert (code, body["kind"], body["spec"], body["status"]) == (
        201,
        "SelfSubjectAccessReview",
        review["spec"],
        {"allowed": False},
    )
    code, body, _ = await send(client, "POST", path, {}, review)
    assert (code, body["status"]) == (201, {"allowed": True})
    assert (await client.get(path)).status == 404  # reviews are only created


# --- the real kubectl -----------------------------------------------------------------------

WORKLOADS = """
apiVersion: v1
kind: Namespace
metadata: {name: team}
---
apiVersion: v1
kind: Namespace
metadata: {name: other}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: team}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec: {containers: [{name: web, image: nginx}]}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: db, namespace: team}
spec:
  selector: {matchLabels: {app: db}}
  template:
    metadata: {labels: {app: db}}
    spec: {containers: [{name: db, image: postgres}]}
"""
CLUSTER = "at the cluster scope"
OTHER = 'in the namespace "other"'


def refusal(verb: str, what: str, name: str = "", where: str = 'in the namespace "team"') -> str:
    """The real server's 403 message to the deployer ServiceAccount (``what`` as in ``ask``)."""
    resource, _, subresource = what.partition("/")
    plural, _, group_name = resource.partition(".")
    named = f'{resource} "{name}"' if name else resource
    asked = f"{plural}/{subresource}" if subresource else plural
    return (
        f'{named} is forbidden: User "{SA}" cannot {verb} resource "{asked}" '
        f'in API group "{group_name}" {where}'
    )


def refused(verb: str, what: str, name: str = "", where: str = 'in the namespace "team"') -> str:
    """kubectl's line for that 403."""
    return f"Error from server (Forbidden): {refusal(verb, what, name, where)}"


async def as_deployer(run: Run, *args: str) -> tuple[int, str, str]:
    done = await run("kubectl", *args, AS)
    return done.code, done.stdout, done.stderr.strip()


async def apply(run: Run, manifest: str) -> None:
    (await run("kubectl", "apply", "-f", "-", stdin=manifest)).check()


def role_yaml(kind: str, name: str, namespace: str, *rules: str) -> str:
    where = f", namespace: {namespace}" if namespace else ""
    lines = "\n".join(f"- {{{r}}}" for r in rules)
    return f"""
apiVersion: {RBAC}/v1
kind: {kind}
metadata: {{name: {name}{where}}}
rules:
{lines}
"""


def binding_yaml(kind: str, name: str, namespace: str, ref: str, subject: str) -> str:
    where = f", namespace: {namespace}" if namespace else ""
    ref_kind, ref_name = ref.split("/")
    return f"""
apiVersion: {RBAC}/v1
kind: {kind}
metadata: {{name: {name}{where}}}
roleRef: {{apiGroup: {RBAC}, kind: {ref_kind}, name: {ref_name}}}
subjects: [{subject}]
"""


DEPLOYER_SUBJECT = "{kind: ServiceAccount, name: deployer, namespace: team}"
TEAM_GROUP = f"{{kind: Group, name: 'system:serviceaccounts:team', apiGroup: {RBAC}}}"
READ_DEPLOYMENTS = "apiGroups: [apps], resources: [deployments], verbs: [get, list, watch]"
ALL_VERBS = "[get, list, watch, create, update, patch, delete]"
EDIT_CONFIGMAPS = "apiGroups: [''], resources: [configmaps], verbs: ['*']"
HELM_CONFIGMAPS = f"apiGroups: [''], resources: [configmaps], verbs: {ALL_VERBS}"
HELM_STORAGE = f"apiGroups: [''], resources: [configmaps, secrets], verbs: {ALL_VERBS}"
LOCAL_DEPLOYER = "{kind: ServiceAccount, name: deployer}"
"""The deployer ServiceAccount in a RoleBinding of its namespace (which the subject defaults to)."""


async def test_kubectl_without_bindings_is_refused(apiserver: ApiServer, run: Run) -> None:
    await apply(run, WORKLOADS)
    assert await as_deployer(run, "get", "deployments", "-n", "team") == (
        1,
        "",
        "Error from server (Forbidden): deployments.apps is forbidden: User "
        '"system:serviceaccount:team:deployer" cannot list resource "deployments" '
        'in API group "apps" in the namespace "team"',
    )
    got = await as_deployer(run, "get", "deployment", "web", "-n", "team")
    assert got[2] == refused("get", "deployments.apps", "web")
    got = await as_deployer(run, "get", "configmaps", "-A")
    assert got[2] == refused("list", "configmaps", where=CLUSTER)
    got = await as_deployer(run, "get", "namespace", "team")
    assert got[2] == refused("get", "namespaces", "team")
    got = await as_deployer(run, "create", "configmap", "c", "-n", "team")
    assert got[2] == f"error: failed to create configmap: {refusal('create', 'configmaps')}"
    got = await as_deployer(run, "delete", "deployment", "web", "-n", "team")
    assert got[2] == refused("delete", "deployments.apps", "web")
    assert apiserver.store.get(GroupResource("apps", "deployments"), "team", "web") is not None
    assert (await as_deployer(run, "api-resources", "-o", "name"))[0] == 0  # discovery works


async def test_kubectl_role_and_cluster_role_bindings(run: Run) -> None:
    await apply(run, WORKLOADS)
    await apply(run, role_yaml("Role", "reader", "team", READ_DEPLOYMENTS))
    await apply(run, binding_yaml("RoleBinding", "reader", "team", "Role/reader", DEPLOYER_SUBJECT))
    code, out, _ = await as_deployer(run, "get", "deployments", "-n", "team", "-o", "name")
    assert (code, out.split()) == (0, ["deployment.apps/db", "deployment.apps/web"])
    got = await as_deployer(run, "get", "deployments", "-n", "other")
    assert got[2] == refused("list", "deployments.apps", where=OTHER)
    got = await as_deployer(run, "get", "deployments", "-A")
    assert got[2] == refused("list", "deployments.apps", where=CLUSTER)
    got = await as_deployer(run, "scale", "deployment", "web", "-n", "team", "--replicas=2")
    assert got[2] == refused("patch", "deployments.apps/scale", "web")
    # a RoleBinding to a ClusterRole grants its rules in the binding's namespace only
    await apply(run, role_yaml("ClusterRole", "cm-editor", "", EDIT_CONFIGMAPS))
    cm_editor = "ClusterRole/cm-editor"
    await apply(run, binding_yaml("RoleBinding", "cm-editor", "team", cm_editor, DEPLOYER_SUBJECT))
    (await run("kubectl", "create", "configmap", "c", "-n", "team", AS)).check()
    got = await as_deployer(run, "create", "configmap", "c", "-n", "other")
    assert (
        got[2]
        == f"error: failed to create configmap: {refusal('create', 'configmaps', where=OTHER)}"
    )
    # a ClusterRoleBinding grants everywhere, cluster-wide lists included
    crb = binding_yaml("ClusterRoleBinding", "cm-editor", "", cm_editor, DEPLOYER_SUBJECT)
    await apply(run, crb)
    (await run("kubectl", "create", "configmap", "c", "-n", "other", AS)).check()
    code, out, _ = await as_deployer(run, "get", "configmaps", "-A", "-o", "name")
    assert (code, out.split()) == (0, ["configmap/c", "configmap/c"])
    (await run("kubectl", "delete", "clusterrolebinding", "cm-editor")).check()
    got = await as_deployer(run, "get", "configmaps", "-n", "other")
    assert got[2] == refused("list", "configmaps", where=OTHER)


async def test_kubectl_resource_names_subresources_and_group_subjects(run: Run) -> None:
    await apply(run, WORKLOADS)
    web_only = "apiGroups: [apps], resources: [deployments], resourceNames: [web], verbs: [get]"
    status = "apiGroups: [apps], resources: [deployments/status], verbs: [get]"
    await apply(run, role_yaml("Role", "web", "team", web_only, status))
    await apply(run, binding_yaml("RoleBinding", "web", "team", "Role/web", TEAM_GROUP))
    code, out, _ = await as_deployer(run, "get", "deployment", "web", "-n", "team", "-o", "name")
    assert (code, out) == (0, "deployment.apps/web\n")
    got = await as_deployer(run, "get", "deployment", "db", "-n", "team")
    assert got[2] == refused("get", "deployments.apps", "db")
    got = await as_deployer(run, "get", "deployments", "-n", "team")
    assert got[2] == refused("list", "deployments.apps")
    got = await as_deployer(run, "get", "deploy", "db", "-n", "team", "--subresource=status")
    assert got[0] == 0
    # a watch is refused before it starts when only the list is allowed
    list_only = "apiGroups: [''], resources: [configmaps], verbs: [list]"
    await apply(run, role_yaml("Role", "cm-list", "team", list_only))
    await apply(run, binding_yaml("RoleBinding", "cm-list", "team", "Role/cm-list", TEAM_GROUP))
    watched = await run("kubectl", "get", "configmaps", "-n", "team", "-w", AS)
    assert (watched.code, watched.stderr.strip()) == (1, refused("watch", "configmaps"))
    # another ServiceAccount of the namespace is in the group; one of another namespace is not
    ci = "--as=system:serviceaccount:team:ci"
    (await run("kubectl", "get", "deployment", "web", "-n", "team", ci)).check()
    stranger = "--as=system:serviceaccount:apps:ci"
    got_stranger = await run("kubectl", "get", "deployment", "web", "-n", "team", stranger)
    assert 'User "system:serviceaccount:apps:ci" cannot get resource' in got_stranger.stderr


async def test_kubectl_auth_can_i(run: Run) -> None:
    await apply(run, WORKLOADS)

    async def can_i(*args: str) -> tuple[int, str]:
        done = await run("kubectl", "auth", "can-i", *args)
        return done.code, done.stdout.strip()

    assert await can_i("list", "deployments", "-n", "team", AS) == (1, "no")
    assert await can_i("list", "deployments", "-n", "team") == (0, "yes")  # the cluster admin
    await apply(run, role_yaml("Role", "reader", "team", READ_DEPLOYMENTS))
    await apply(run, binding_yaml("RoleBinding", "reader", "team", "Role/reader", DEPLOYER_SUBJECT))
    assert await can_i("list", "deployments", "-n", "team", AS) == (0, "yes")
    assert await can_i("get", "deployments", "--subresource=status", "-n", "team", AS) == (1, "no")
    assert await can_i("get", "deployments/web", "-n", "team", AS) == (0, "yes")
    assert await can_i("create", "deployments", "-n", "team", AS) == (1, "no")
    assert await can_i("list", "deployments", "-n", "other", AS) == (1, "no")
    assert await can_i("get", "/version", AS) == (0, "yes")
    assert await can_i("get", "/metrics", AS) == (1, "no")
    masters = ("--as=jane", "--as-group=system:masters")
    assert await can_i("delete", "secrets", "-n", "kube-system", *masters) == (0, "yes")
    await apply(run, binding_yaml("RoleBinding", "gone", "team", "Role/gone", DEPLOYER_SUBJECT))
    assert await can_i("list", "secrets", "-n", "team", AS) == (1, f"no - RBAC: {MISSING_ROLE}")
    listed = (await run("kubectl", "auth", "can-i", "--list", "-n", "team", AS)).check()
    rows = [line.split() for line in listed.stdout.splitlines()]
    assert ["deployments.apps", "[]", "[]", "[get", "list", "watch]"] in rows
    assert ["selfsubjectaccessreviews.authorization.k8s.io", "[]", "[]", "[create]"] in rows


# --- the real helm 4 and helm 3 -------------------------------------------------------------

CHART = {
    "Chart.yaml": "apiVersion: v2\nname: tiny\nversion: 0.1.0\n",
    "templates/settings.yaml": (
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-settings\n"
        "data:\n  greeting: hello\n"
    ),
}


def tiny_chart(directory: Path) -> str:
    for name, text in CHART.items():
        (directory / name).parent.mkdir(parents=True, exist_ok=True)
        (directory / name).write_text(text)
    return str(directory)


@pytest.mark.parametrize("helm", ["helm", "helm3"])
async def test_helm_as_a_service_account(
    apiserver: ApiServer, run: Run, tmp_path: Path, helm: str
) -> None:
    chart = tiny_chart(tmp_path / "tiny")
    (await run("kubectl", "create", "namespace", "team")).check()
    as_sa = ("-n", "team", "--kube-as-user", SA)

    async def install() -> tuple[int, str]:
        done = await run(helm, "install", "demo", chart, *as_sa)
        return done.code, done.stderr

    code, stderr = await install()
    assert code != 0
    assert (
        f'configmaps "demo-settings" {CANNOT} get resource "configmaps" in API group "" '
        'in the namespace "team"'
    ) in stderr
    await apply(run, role_yaml("Role", "deployer", "team", HELM_CONFIGMAPS))
    await apply(
        run, binding_yaml("RoleBinding", "deployer", "team", "Role/deployer", LOCAL_DEPLOYER)
    )
    code, stderr = await install()
    assert code != 0
    # helm's release storage
    assert (
        f'secrets {CANNOT} create resource "secrets" in API group "" in the namespace "team"'
    ) in stderr
    assert list(apiserver.store.objects(SECRETS, "team")) == []
    await apply(run, role_yaml("Role", "deployer", "team", HELM_STORAGE))
    code, stderr = await install()
    assert code == 0, stderr
    settings = apiserver.store.get_object(CONFIGMAPS, "team", "demo-settings")
    assert settings["data"] == {"greeting": "hello"}
    listed = (await run(helm, "list", "-o", "json", *as_sa)).check().json()
    assert [(r["name"], r["status"]) for r in listed] == [("demo", "deployed")]
    (await run(helm, "uninstall", "demo", *as_sa)).check()
    assert apiserver.store.get(CONFIGMAPS, "team", "demo-settings") is None
