"""Who a request acts as, and whether RBAC lets it: the real API server's rules, as pure functions.

- ``impersonate``: the ``Impersonate-*`` headers -> the user a request acts as, and the
  ``impersonate`` checks its caller has to pass (a ServiceAccount user name without groups
  gets the ServiceAccount groups; ``system:authenticated`` is added);
- ``request_attributes``: method, path and query -> what the authorizer is asked, as the
  real server's RequestInfo reads it (verb, API group, resource and subresource, namespace,
  name, or a non-resource path);
- ``authorize``: user, attributes and the RBAC objects -> allowed or not, with the reason
  the real server gives; ``forbidden`` is its 403 ``Status``;
- ``access_review`` and ``rules_review``: the answers to SelfSubjectAccessReview and
  SelfSubjectRulesReview (``kubectl auth can-i [--list]``).

Members of ``system:masters`` may do anything, as on a real server. ``Policy`` reads the
Roles, ClusterRoles, RoleBindings and ClusterRoleBindings from wherever they are kept, with
the part of the real server's bootstrap policy clients rely on underneath: ``cluster-admin``
bound to ``system:masters``, and discovery, version, health and self-reviews for every
authenticated user. A stored object of the same name takes the place of a bootstrap one.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

from . import errors
from .requestinfo import is_true
from .resources import GroupResource
from .selectors import SelectorError, parse_field_selector

Obj = Mapping[str, Any]

MASTERS = "system:masters"
AUTHENTICATED = "system:authenticated"
UNAUTHENTICATED = "system:unauthenticated"
ANONYMOUS = "system:anonymous"
SERVICE_ACCOUNT_PREFIX = "system:serviceaccount:"
ALL_SERVICE_ACCOUNTS = "system:serviceaccounts"
SERVICE_ACCOUNT_GROUP_PREFIX = "system:serviceaccounts:"
RBAC_GROUP = "rbac.authorization.k8s.io"
AUTHENTICATION_V1 = "authentication.k8s.io/v1"
ROLES = GroupResource(RBAC_GROUP, "roles")
CLUSTER_ROLES = GroupResource(RBAC_GROUP, "clusterroles")
ROLE_BINDINGS = GroupResource(RBAC_GROUP, "rolebindings")
CLUSTER_ROLE_BINDINGS = GroupResource(RBAC_GROUP, "clusterrolebindings")

IMPERSONATE_USER = "Impersonate-User"
IMPERSONATE_GROUP = "Impersonate-Group"
IMPERSONATE_UID = "Impersonate-Uid"
IMPERSONATE_EXTRA_PREFIX = "impersonate-extra-"


@dataclass(frozen=True)
class User:
    """Who a request acts as."""

    name: str
    groups: tuple[str, ...] = ()
    uid: str = ""
    extra: tuple[tuple[str, tuple[str, ...]], ...] = ()


ADMIN = User("kubernetes-admin", (MASTERS, AUTHENTICATED))
"""Who a request without impersonation headers acts as: the kubeconfig's user, a cluster admin."""


@dataclass(frozen=True, slots=True)
class Attributes:
    """What the authorizer is asked: a resource request, or a non-resource one (``path``)."""

    verb: str
    path: str = ""
    resource_request: bool = False
    group: str = ""
    version: str = ""
    resource: str = ""
    subresource: str = ""
    namespace: str = ""
    name: str = ""


@dataclass(frozen=True)
class Decision:
    allowed: bool
    reason: str = ""


# --- impersonation ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Impersonation:
    """The user a request acts as, and what its caller must be allowed to impersonate for it."""

    user: User
    checks: tuple[Attributes, ...]


_DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
_DNS_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")


def split_service_account(username: str) -> tuple[str, str] | None:
    """(namespace, name) of a ``system:serviceaccount:NS:NAME`` user name, when it is valid."""
    if not username.startswith(SERVICE_ACCOUNT_PREFIX):
        return None
    parts = username[len(SERVICE_ACCOUNT_PREFIX) :].split(":")
    if len(parts) != 2:
        return None
    namespace, name = parts
    if len(namespace) > 63 or not _DNS_LABEL.fullmatch(namespace):
        return None
    if len(name) > 253 or not _DNS_SUBDOMAIN.fullmatch(name):
        return None
    return namespace, name


def _impersonate_check(
    resource: str, name: str, *, group: str = "", namespace: str = "", subresource: str = ""
) -> Attributes:
    return Attributes(
        verb="impersonate",
        resource_request=True,
        group=group,
        version="v1",
        resource=resource,
        subresource=subresource,
        namespace=namespace,
        name=name,
    )


def impersonate(headers: Iterable[tuple[str, str]]) -> Impersonation | None:
    """The user the ``Impersonate-*`` headers name; None when they name nobody.

    Raises ApiError (400) for groups, extras or a UID without a user, as the real server does.
    """
    user_name = ""
    groups: list[str] = []
    extras: list[tuple[str, str]] = []
    uid = ""
    for header, value in headers:
        lowered = header.lower()
        if lowered == "impersonate-user":
            user_name = user_name or value  # the first one counts, as Go's Header.Get
        elif lowered == "impersonate-group":
            groups.append(value)
        elif lowered == "impersonate-uid":
            uid = uid or value
        elif lowered.startswith(IMPERSONATE_EXTRA_PREFIX):
            extras.append((unquote(lowered[len(IMPERSONATE_EXTRA_PREFIX) :]), value))
    if not user_name:
        if groups or extras or uid:
            raise errors.bad_request(
                f"requested {_references(groups, extras, uid)} without impersonating a user"
            )
        return None
    checks: list[Attributes] = []
    service_account = split_service_account(user_name)
    if service_account is not None:
        namespace, name = service_account
        checks.append(_impersonate_check("serviceaccounts", name, namespace=namespace))
    else:
        checks.append(_impersonate_check("users", user_name))
    checks += [_impersonate_check("groups", group) for group in groups]
    checks += [
        _impersonate_check("userextras", value, group="authentication.k8s.io", subresource=key)
        for key, value in extras
    ]
    if uid:
        checks.append(_impersonate_check("uids", uid, group="authentication.k8s.io"))
    all_groups = list(groups)
    if service_account is not None and not groups:
        all_groups = [ALL_SERVICE_ACCOUNTS, SERVICE_ACCOUNT_GROUP_PREFIX + service_account[0]]
    if user_name != ANONYMOUS:
        if AUTHENTICATED not in all_groups and UNAUTHENTICATED not in all_groups:
            all_groups.append(AUTHENTICATED)
    elif UNAUTHENTICATED not in all_groups:
        all_groups.append(UNAUTHENTICATED)
    extra: dict[str, list[str]] = {}
    for key, value in extras:
        extra.setdefault(key, []).append(value)
    user = User(
        user_name,
        tuple(all_groups),
        uid,
        tuple((key, tuple(values)) for key, values in extra.items()),
    )
    return Impersonation(user, tuple(checks))


def _references(groups: list[str], extras: list[tuple[str, str]], uid: str) -> str:
    """The impersonation requests as Go prints a list of ObjectReferences."""
    # Fields: kind, namespace, name, uid, apiVersion, resourceVersion, fieldPath.
    refs = [f"{{Group  {group}    }}" for group in groups]
    refs += [f"{{UserExtra  {value}  {AUTHENTICATION_V1}  {key}}}" for key, value in extras]
    if uid:
        refs.append(f"{{UID  {uid}  {AUTHENTICATION_V1}  }}")
    return "[" + " ".join(refs) + "]"


# --- request attributes -----------------------------------------------------------------------

_SPECIAL_VERBS = frozenset({"proxy", "watch"})
_NAMESPACE_SUBRESOURCES = frozenset({"status", "finalize"})
_METHOD_VERBS = {
    "POST": "create",
    "GET": "get",
    "HEAD": "get",
    "PUT": "update",
    "PATCH": "patch",
    "DELETE": "delete",
}


def request_attributes(method: str, path: str, query: Mapping[str, str]) -> Attributes:
    """What a request asks the authorizer, read as the real server's RequestInfo reads it.

    ``/api/v1`` and ``/apis/GROUP/VERSION`` are non-resource paths (discovery); a namespace's
    own URL is in that namespace; a list or watch whose field selector pins ``metadata.name``
    names that object; ``/watch/`` and ``/proxy/`` path prefixes are verbs. ``watch=`` is
    read as the server's routing reads it, so what is authorized is what is served.
    """
    trimmed = path.strip("/")
    parts = trimmed.split("/") if trimmed else []
    non_resource = Attributes(verb=method.lower(), path=path)
    if len(parts) < 3 or parts[0] not in ("api", "apis"):
        return non_resource
    rest = parts[1:]
    group = ""
    if parts[0] == "apis":
        if len(rest) < 3:
            return non_resource
        group, rest = rest[0], rest[1:]
    version, rest = rest[0], rest[1:]
    from_prefix = rest[0] in _SPECIAL_VERBS and len(rest) >= 2
    if from_prefix:
        verb, rest = rest[0], rest[1:]
    else:
        verb = _METHOD_VERBS.get(method, "")
    namespace = ""
    if rest[0] == "namespaces" and len(rest) > 1:
        namespace = rest[1]
        if len(rest) > 2 and rest[2] not in _NAMESPACE_SUBRESOURCES:
            rest = rest[2:]
    subresource = rest[2] if len(rest) >= 3 and verb != "proxy" else ""
    name = rest[1] if len(rest) >= 2 else ""
    if not name and verb == "get":
        verb = "watch" if is_true(query.get("watch")) else "list"
        name = _selected_name(query.get("fieldSelector", ""))
    if not name and verb == "delete":
        verb = "deletecollection"
    return Attributes(
        verb=verb,
        path=path,
        resource_request=True,
        group=group,
        version=version,
        resource=rest[0],
        subresource=subresource,
        namespace=namespace,
        name=name,
    )


def _selected_name(field_selector: str) -> str:
    if not field_selector:
        return ""
    try:
        name = parse_field_selector(field_selector).required_value("metadata.name")
    except SelectorError:
        return ""
    if name is None or name in (".", "..") or "/" in name or "%" in name:
        return ""
    return name


# --- the RBAC objects -------------------------------------------------------------------------


def _rule(verbs: list[str], **fields: list[str]) -> dict[str, Any]:
    return {**fields, "verbs": verbs}


def _cluster_role(name: str, *rules: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": f"{RBAC_GROUP}/v1",
        "kind": "ClusterRole",
        "metadata": {"name": name},
        "rules": list(rules),
    }


def _group_binding(name: str, *groups: str) -> dict[str, Any]:
    return {
        "apiVersion": f"{RBAC_GROUP}/v1",
        "kind": "ClusterRoleBinding",
        "metadata": {"name": name},
        "roleRef": {"apiGroup": RBAC_GROUP, "kind": "ClusterRole", "name": name},
        "subjects": [{"apiGroup": RBAC_GROUP, "kind": "Group", "name": g} for g in groups],
    }


_PUBLIC_PATHS = ["/healthz", "/livez", "/readyz", "/version", "/version/"]
BOOTSTRAP_CLUSTER_ROLES: dict[str, dict[str, Any]] = {
    role["metadata"]["name"]: role
    for role in (
        _cluster_role(
            "cluster-admin",
            _rule(["*"], apiGroups=["*"], resources=["*"]),
            _rule(["*"], nonResourceURLs=["*"]),
        ),
        _cluster_role(
            "system:basic-user",
            _rule(
                ["create"],
                apiGroups=["authorization.k8s.io"],
                resources=["selfsubjectaccessreviews", "selfsubjectrulesreviews"],
            ),
            _rule(
                ["create"], apiGroups=["authentication.k8s.io"], resources=["selfsubjectreviews"]
            ),
        ),
        _cluster_role(
            "system:discovery",
            _rule(
                ["get"],
                nonResourceURLs=sorted(
                    [*_PUBLIC_PATHS, "/api", "/api/*", "/apis", "/apis/*", "/openapi", "/openapi/*"]
                ),
            ),
        ),
        _cluster_role("system:public-info-viewer", _rule(["get"], nonResourceURLs=_PUBLIC_PATHS)),
    )
}
"""The bootstrap ClusterRoles every client relies on, as a real server creates them."""

BOOTSTRAP_CLUSTER_ROLE_BINDINGS: dict[str, dict[str, Any]] = {
    binding["metadata"]["name"]: binding
    for binding in (
        _group_binding("cluster-admin", MASTERS),
        _group_binding("system:basic-user", AUTHENTICATED),
        _group_binding("system:discovery", AUTHENTICATED),
        _group_binding("system:public-info-viewer", AUTHENTICATED, UNAUTHENTICATED),
    )
}
"""Their bindings, as a real server creates them."""


def _meta(obj: Obj) -> Mapping[str, Any]:
    metadata = obj.get("metadata")
    return metadata if isinstance(metadata, Mapping) else {}


def _name(obj: Obj) -> str:
    return str(_meta(obj).get("name", ""))


class Policy:
    """Where decisions read the RBAC objects from, live: ``objects(resource, namespace or None)``
    lists them and ``get(resource, namespace, name)`` finds one ("" for cluster-scoped ones).

    The bootstrap ClusterRoles and ClusterRoleBindings are under the stored ones.
    """

    def __init__(
        self,
        objects: Callable[[GroupResource, str | None], Iterable[Obj]],
        get: Callable[[GroupResource, str, str], Obj | None],
    ) -> None:
        self._objects = objects
        self._get = get

    @classmethod
    def of(cls, *objects: Obj) -> Policy:
        """A policy of the given RBAC objects (any of the four kinds)."""
        resources = {
            "Role": ROLES,
            "ClusterRole": CLUSTER_ROLES,
            "RoleBinding": ROLE_BINDINGS,
            "ClusterRoleBinding": CLUSTER_ROLE_BINDINGS,
        }
        index: dict[tuple[GroupResource, str, str], Obj] = {}
        for obj in objects:
            metadata = _meta(obj)
            key = (resources[obj["kind"]], metadata.get("namespace", ""), metadata["name"])
            index[key] = obj

        def listed(resource: GroupResource, namespace: str | None) -> Iterator[Obj]:
            return (
                obj
                for (r, ns, _), obj in index.items()
                if r == resource and namespace in (None, ns)
            )

        return cls(listed, lambda resource, ns, name: index.get((resource, ns, name)))

    def cluster_role_bindings(self) -> list[Obj]:
        """Every ClusterRoleBinding, by name."""
        by_name: dict[str, Obj] = dict(BOOTSTRAP_CLUSTER_ROLE_BINDINGS)
        by_name.update((_name(b), b) for b in self._objects(CLUSTER_ROLE_BINDINGS, None))
        return [by_name[name] for name in sorted(by_name)]

    def role_bindings(self, namespace: str) -> list[Obj]:
        """The RoleBindings of one namespace, by name."""
        return sorted(self._objects(ROLE_BINDINGS, namespace), key=_name)

    def cluster_role(self, name: str) -> Obj | None:
        return self._get(CLUSTER_ROLES, "", name) or BOOTSTRAP_CLUSTER_ROLES.get(name)

    def role(self, namespace: str, name: str) -> Obj | None:
        return self._get(ROLES, namespace, name)


# --- rules ------------------------------------------------------------------------------------


def _strings(rule: Obj, field: str) -> Sequence[str]:
    value = rule.get(field)
    return value if isinstance(value, list) else ()


def _resource_matches(rule: Obj, combined: str, subresource: str) -> bool:
    for resource in _strings(rule, "resources"):
        if resource in ("*", combined):
            return True
        # "*/status" matches the status subresource of every resource
        if subresource and resource == "*/" + subresource:
            return True
    return False


def _url_matches(rule: Obj, path: str) -> bool:
    for url in _strings(rule, "nonResourceURLs"):
        if url in ("*", path):
            return True
        if url.endswith("*") and path.startswith(url.rstrip("*")):
            return True
    return False


def rule_allows(attributes: Attributes, rule: Obj) -> bool:
    """Whether one PolicyRule allows the request, with the real server's matching."""
    verbs = _strings(rule, "verbs")
    if "*" not in verbs and attributes.verb not in verbs:
        return False
    if not attributes.resource_request:
        return _url_matches(rule, attributes.path)
    groups = _strings(rule, "apiGroups")
    if "*" not in groups and attributes.group not in groups:
        return False
    combined = attributes.resource
    if attributes.subresource:
        combined += "/" + attributes.subresource
    if not _resource_matches(rule, combined, attributes.subresource):
        return False
    names = _strings(rule, "resourceNames")
    return not names or attributes.name in names


@dataclass(frozen=True)
class _Grant:
    """The rules one binding gives a user, or why they could not be read."""

    source: str
    rules: Sequence[Obj]
    error: str = ""


def _subject_applies(user: User, subject: Obj, namespace: str) -> bool:
    kind, name = subject.get("kind"), subject.get("name")
    if kind == "User":
        return bool(user.name == name)
    if kind == "Group":
        return name in user.groups
    if kind == "ServiceAccount":
        sa_namespace = subject.get("namespace") or namespace
        return bool(sa_namespace) and user.name == f"{SERVICE_ACCOUNT_PREFIX}{sa_namespace}:{name}"
    return False


def _describe_subject(subject: Obj, binding_namespace: str) -> str:
    kind, name = subject.get("kind", ""), subject.get("name", "")
    if kind == "ServiceAccount":
        return f'{kind} "{name}/{subject.get("namespace") or binding_namespace}"'
    return f'{kind} "{name}"'


def _grant(policy: Policy, binding: Obj, subject: Obj, namespace: str) -> _Grant:
    ref = binding.get("roleRef") or {}
    kind, role_name = ref.get("kind", ""), ref.get("name", "")
    if namespace:
        where = f'RoleBinding "{_name(binding)}/{namespace}"'
    else:
        where = f'ClusterRoleBinding "{_name(binding)}"'
    source = f'{where} of {kind} "{role_name}" to {_describe_subject(subject, namespace)}'
    if kind == "ClusterRole":
        role = policy.cluster_role(role_name)
        missing = f'clusterrole.{RBAC_GROUP} "{role_name}" not found'
    elif kind == "Role":
        role = policy.role(namespace, role_name)
        missing = f'role.{RBAC_GROUP} "{role_name}" not found'
    else:
        return _Grant(source, (), f'unsupported role reference kind: "{kind}"')
    if role is None:
        return _Grant(source, (), missing)
    return _Grant(source, [r for r in role.get("rules") or () if isinstance(r, Mapping)])


def _grants(user: User, namespace: str, policy: Policy) -> Iterator[_Grant]:
    """What every binding that names the user gives it: ClusterRoleBindings, then the
    RoleBindings of the namespace (a RoleBinding to a ClusterRole grants in its namespace)."""
    bindings = [("", b) for b in policy.cluster_role_bindings()]
    if namespace:
        bindings += [(namespace, b) for b in policy.role_bindings(namespace)]
    for binding_namespace, binding in bindings:
        for subject in binding.get("subjects") or ():
            if isinstance(subject, Mapping) and _subject_applies(user, subject, binding_namespace):
                yield _grant(policy, binding, subject, binding_namespace)
                break


def _aggregate(messages: list[str]) -> str:
    """Several errors as Go's aggregate error prints them (duplicates once)."""
    distinct = list(dict.fromkeys(messages))
    return distinct[0] if len(distinct) == 1 else "[" + ", ".join(distinct) + "]"


def authorize(user: User, attributes: Attributes, policy: Policy) -> Decision:
    """Whether the user may do what the attributes say, and the reason the real server gives."""
    if MASTERS in user.groups:
        return Decision(True)
    problems: list[str] = []
    for grant in _grants(user, attributes.namespace, policy):
        if grant.error:
            problems.append(grant.error)
        elif any(rule_allows(attributes, rule) for rule in grant.rules):
            return Decision(True, f"RBAC: allowed by {grant.source}")
    return Decision(False, f"RBAC: {_aggregate(problems)}" if problems else "")


def rules_for(user: User, namespace: str, policy: Policy) -> tuple[list[Obj], list[str]]:
    """Every rule the user has in the namespace, and the bindings whose role is missing."""
    rules: list[Obj] = []
    problems: list[str] = []
    for grant in _grants(user, namespace, policy):
        rules += grant.rules
        if grant.error:
            problems.append(grant.error)
    return rules, problems


_SANITIZER = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;"})


def forbidden(user: User, attributes: Attributes, reason: str = "") -> errors.Status:
    """The real server's 403 for a denied request."""
    if attributes.resource_request:
        resource = attributes.resource
        if attributes.subresource:
            resource += "/" + attributes.subresource
        scope = (
            f'in the namespace "{attributes.namespace}"'
            if attributes.namespace
            else "at the cluster scope"
        )
        what = (
            f'User "{user.name}" cannot {attributes.verb} resource "{resource}" '
            f'in API group "{attributes.group}" {scope}'
        )
    else:
        what = f'User "{user.name}" cannot {attributes.verb} path "{attributes.path}"'
    what = what.translate(_SANITIZER)
    if reason:
        what = f"{what}: {reason}"
    qualified = str(GroupResource(attributes.group, attributes.resource))
    details = {
        key: value
        for key, value in (
            ("name", attributes.name),
            ("group", attributes.group),
            ("kind", attributes.resource),
        )
        if value
    }
    if not qualified:
        message = f"forbidden: {what}"
    elif attributes.name:
        message = f'{qualified} "{attributes.name}" is forbidden: {what}'
    else:
        message = f"{qualified} is forbidden: {what}"
    return errors.Status(403, "Forbidden", message, details)


# --- self reviews -----------------------------------------------------------------------------


def _text(attributes: Obj, field: str) -> str:
    value = attributes.get(field)
    return value if isinstance(value, str) else ""


def access_review(user: User, spec: Obj, policy: Policy) -> dict[str, Any]:
    """The status of a SelfSubjectAccessReview of ``spec``; ApiError (422) for a bad spec."""
    resource = spec.get("resourceAttributes")
    non_resource = spec.get("nonResourceAttributes")
    if isinstance(resource, Mapping) == isinstance(non_resource, Mapping):
        field, why = (
            (
                "spec.nonResourceAttributes",
                "cannot be specified in combination with resourceAttributes",
            )
            if isinstance(resource, Mapping)
            else (
                "spec.resourceAttributes",
                "exactly one of nonResourceAttributes or resourceAttributes must be specified",
            )
        )
        cause = errors.StatusCause("FieldValueInvalid", f"Invalid value: {why}", field)
        reviews = GroupResource("authorization.k8s.io", "selfsubjectaccessreviews")
        raise errors.invalid("SelfSubjectAccessReview", reviews, "", [cause])
    if isinstance(resource, Mapping):
        attributes = Attributes(
            verb=_text(resource, "verb"),
            resource_request=True,
            group=_text(resource, "group"),
            version=_text(resource, "version") or "*",
            resource=_text(resource, "resource"),
            subresource=_text(resource, "subresource"),
            namespace=_text(resource, "namespace"),
            name=_text(resource, "name"),
        )
    else:
        assert isinstance(non_resource, Mapping)
        attributes = Attributes(verb=_text(non_resource, "verb"), path=_text(non_resource, "path"))
    decision = authorize(user, attributes, policy)
    status: dict[str, Any] = {"allowed": decision.allowed}
    if decision.reason:
        status["reason"] = decision.reason
    return status


def rules_review(user: User, namespace: str, policy: Policy) -> dict[str, Any]:
    """The status of a SelfSubjectRulesReview of the namespace."""
    rules, problems = rules_for(user, namespace, policy)
    resource_rules = [
        {
            "verbs": list(_strings(rule, "verbs")),
            **{
                field: list(_strings(rule, field))
                for field in ("apiGroups", "resources", "resourceNames")
                if _strings(rule, field)
            },
        }
        for rule in rules
        if _strings(rule, "resources")
    ]
    non_resource_rules = [
        {
            "verbs": list(_strings(rule, "verbs")),
            "nonResourceURLs": list(_strings(rule, "nonResourceURLs")),
        }
        for rule in rules
        if _strings(rule, "nonResourceURLs")
    ]
    status: dict[str, Any] = {
        "resourceRules": resource_rules,
        "nonResourceRules": non_resource_rules,
        "incomplete": False,
    }
    if problems:
        status["evaluationError"] = _aggregate(problems)
    return status
