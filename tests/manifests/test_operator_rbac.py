"""The operator's RBAC is exactly what its code sends: no request beyond it, no rule unused.

The operator runs as a process, leader election on, against the in-memory API server,
through every path that makes a request:

- the Lease created, renewed and released at shutdown;
- the watches of both HelmRelease APIs, helm's release records, ConfigMaps and Secrets;
- a release helm-operator installed (plain helm, objects annotated with its antecedent)
  adopted by a ``flux.weave.works/v1beta1`` HelmRelease (antecedent reads, the record
  relabelled), then deleted (finalizer, uninstall);
- a ``helm.fluxcd.io/v1`` install whose values come from a ConfigMap and a Secret and
  whose chart repository wants the credentials of a chartPullSecret, then the upgrade an
  edit of that ConfigMap causes;
- a patch of each API's HelmRelease that meets a conflict (the object is read again);
- status, conditions and Events throughout;
- a release run as its ServiceAccount with drift detection ``enabled``: while the
  ServiceAccount's RoleBinding is gone, the check of a deleted Service is refused by the
  server's RBAC in the ServiceAccount's name (so the operator impersonated it); once bound
  again, the Service is created again;
- every HelmRelease deleted (finalizers, uninstalls).

Then every request of the operator in the API server's audit log (its user agent) is
authorized, with ``apiserver.rbac``'s own request reading and rule matching, as the
operator's ServiceAccount against the roles ``kubectl apply -k manifests/`` creates: the
operator's ClusterRole and the leader election Role (discovery: the built-in
system:discovery role), or, for the objects of a release (drift check, drift watch,
antecedent reads), helm's ClusterRole; the impersonation the refusal proves is authorized
too. Conversely every (API group, resource, verb, name) of the operator's two roles is
needed by at least one of those requests. The audit log keeps neither the query (a list or
watch naming its object by field selector would not be told apart; the operator sends none)
nor who a request acted as: the impersonation is read from the server's refusal.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest
import yaml

from apiserver import ApiServer, rbac
from apiserver.faults import AuditRecord
from apiserver.resources import GroupResource
from testkit import (
    CHARTS_DIR,
    ROOT,
    ChartRepository,
    OperatorProcess,
    helm_bin,
    kubectl,
    kubectl_bin,
    run,
    wait_for,
)

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

OPERATOR_AGENT = "helmrelease-operator"
"""The User-Agent of every request the operator sends (``controller/kube/client.py``)."""
OPERATOR_NAMESPACE = "helmrelease-operator"
OPERATOR_USER = f"system:serviceaccount:{OPERATOR_NAMESPACE}:helmrelease-operator"
OPERATOR_ROLES = (
    ("ClusterRole", "helmrelease-operator"),
    ("Role", "helmrelease-operator-leader-election"),
)
HELM_ROLE = ("ClusterRole", "helmrelease-operator-helm")

APPS, TENANT = "apps", "tenant"
ACCOUNT = "deployer"
PULL_SECRET = "repository-credentials"
USER, PASSWORD = "charts", "s3cret"
CHART = {"name": "podinfo", "version": "6.7.1", "chartPullSecret": {"name": PULL_SECRET}}

RELEASE_KINDS = {("apps", "deployments"), ("", "services")}
"""What podinfo 6.7.1 is made of: the kinds of a release's objects in this test."""
RELEASE_VERBS = {"get", "list", "watch", "patch"}
"""What the operator does to a release's objects (docs: what a narrowed helm role keeps)."""

HELMRELEASES = {
    group: GroupResource(group, "helmreleases") for group in ("helm.fluxcd.io", "flux.weave.works")
}
SECRETS = GroupResource("", "secrets")
SERVICES = GroupResource("", "services")
ANTECEDENT = "helm.fluxcd.io/antecedent"
METHODS = {
    "get": "GET",
    "list": "GET",
    "watch": "GET",
    "create": "POST",
    "update": "PUT",
    "patch": "PATCH",
    "delete": "DELETE",
    "deletecollection": "DELETE",
}
"""The method of each verb the audit log records (``apiserver.requestinfo``)."""

Doc = dict[str, Any]


# --- the objects ----------------------------------------------------------------------------


def namespace(name: str) -> Doc:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}


def secret(where: str, name: str, data: Mapping[str, str]) -> Doc:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "namespace": where},
        "type": "Opaque",
        "data": {key: base64.b64encode(value.encode()).decode() for key, value in data.items()},
    }


def configmap(where: str, name: str, values: str) -> Doc:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": where},
        "data": {"values.yaml": values},
    }


def helmrelease(api_version: str, where: str, name: str, repository: str, **spec: Any) -> Doc:
    return {
        "apiVersion": api_version,
        "kind": "HelmRelease",
        "metadata": {"name": name, "namespace": where},
        "spec": {"chart": {"repository": f"{repository}/", **CHART}, **spec},
    }


def deployer_rbac() -> list[Doc]:
    """The ServiceAccount a release runs as, a Role of what its chart needs, and its binding."""
    meta = {"name": ACCOUNT, "namespace": TENANT}
    return [
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": meta},
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "Role",
            "metadata": meta,
            "rules": [{"apiGroups": ["", "apps"], "resources": ["*"], "verbs": ["*"]}],
        },
        role_binding(),
    ]


def role_binding() -> Doc:
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "RoleBinding",
        "metadata": {"name": ACCOUNT, "namespace": TENANT},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": ACCOUNT},
        "subjects": [{"kind": "ServiceAccount", "name": ACCOUNT, "namespace": TENANT}],
    }


# --- reading the server ---------------------------------------------------------------------


def stored(api: ApiServer, resource: GroupResource, where: str, name: str) -> Doc | None:
    entry = api.store.get(resource, where, name)
    return entry.obj if entry is not None else None


def condition(api: ApiServer, group: str, where: str, name: str, kind: str) -> Doc:
    hr = stored(api, HELMRELEASES[group], where, name) or {}
    for found in (hr.get("status") or {}).get("conditions") or []:
        if found.get("type") == kind:
            return dict(found)
    return {}


def ready(api: ApiServer, group: str, where: str, name: str) -> bool:
    return condition(api, group, where, name, "Ready").get("status") == "True"


def deployed(api: ApiServer, where: str, release: str, revision: int) -> bool:
    record = stored(api, SECRETS, where, f"sh.helm.release.v1.{release}.v{revision}")
    return record is not None and record["metadata"]["labels"].get("status") == "deployed"


def operator_requests(api: ApiServer, since: int = 0) -> list[AuditRecord]:
    return [record for record in api.audit[since:] if record.user_agent == OPERATOR_AGENT]


def read_again(api: ApiServer, group: str, since: int) -> bool:
    """Whether the operator read a HelmRelease of ``group`` whole since audit record ``since``
    (what it does after a conflicting patch, and only then)."""
    return any(
        record.verb == "get"
        and record.resource == "helmreleases"
        and f"/apis/{group}/" in record.path
        for record in operator_requests(api, since)
    )


# --- the roles and the requests -------------------------------------------------------------


async def rendered_rbac(env: Mapping[str, str]) -> list[Doc]:
    """The RBAC objects ``kubectl apply -k manifests/`` creates."""
    done = (await run((kubectl_bin(), "kustomize", str(ROOT / "manifests")), env)).check()
    kinds = {"Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding"}
    return [doc for doc in yaml.safe_load_all(done.stdout) if doc and doc["kind"] in kinds]


def named(docs: Sequence[Doc], kind: str, name: str) -> Doc:
    found = [doc for doc in docs if doc["kind"] == kind and doc["metadata"]["name"] == name]
    assert len(found) == 1, (kind, name)
    return found[0]


def bound_to_operator(docs: Sequence[Doc]) -> dict[tuple[str, str], Doc]:
    """Every binding that names the operator's ServiceAccount, by the role it refers to."""
    subject = {
        "kind": "ServiceAccount",
        "name": "helmrelease-operator",
        "namespace": OPERATOR_NAMESPACE,
    }
    return {
        (binding["roleRef"]["kind"], binding["roleRef"]["name"]): binding
        for binding in docs
        if binding["kind"].endswith("Binding") and subject in binding["subjects"]
    }


def attributes(record: AuditRecord) -> rbac.Attributes:
    """What the real server's authorizer is asked for a request of the audit log."""
    query = {"watch": "true"} if record.verb == "watch" else {}
    found = rbac.request_attributes(METHODS[record.verb], record.path, query)
    assert not found.resource_request or found.verb == record.verb, record
    return found


def atoms(role: Doc) -> Iterator[Doc]:
    """A role's rules, one (API group, resource, verb, name) each."""
    for rule in role["rules"]:
        for group in rule["apiGroups"]:
            for resource in rule["resources"]:
                for verb in rule["verbs"]:
                    for name in rule.get("resourceNames") or [None]:
                        atom = {"apiGroups": [group], "resources": [resource], "verbs": [verb]}
                        yield atom if name is None else {**atom, "resourceNames": [name]}


def shown(attrs: rbac.Attributes) -> str:
    if not attrs.resource_request:
        return f"{attrs.verb} {attrs.path}"
    resource = attrs.resource + (f"/{attrs.subresource}" if attrs.subresource else "")
    where = f" in {attrs.namespace}" if attrs.namespace else ""
    name = f" {attrs.name}" if attrs.name else ""
    return f"{attrs.verb} {resource}.{attrs.group or 'core'}{name}{where}"


# --- the scenario ---------------------------------------------------------------------------


async def test_the_operator_roles_allow_every_request_it_sends_and_nothing_more(
    apiserver: ApiServer, crds: None, kubeconfig: Path, helm_env: dict[str, str], tmp_path: Path
) -> None:
    async def apply(*docs: Doc) -> None:
        await kubectl(helm_env, "apply", "-f", "-", stdin=yaml.safe_dump_all(docs))

    await apply(
        *(namespace(name) for name in (OPERATOR_NAMESPACE, APPS, TENANT)),
        *(
            secret(where, PULL_SECRET, {"username": USER, "password": PASSWORD})
            for where in (APPS, TENANT)
        ),
        configmap(APPS, "web-values", "ui:\n  message: first\n"),
        secret(APPS, "web-secret-values", {"values.yaml": "ui:\n  color: '#34577c'\n"}),
        *deployer_rbac(),
    )
    election = (
        *("--leader-election", "--lease-namespace", OPERATOR_NAMESPACE),
        *("--leader-identity", "rbac-check", "--retry-initial", "0.2", "--retry-max", "1"),
    )
    started = len(apiserver.audit)  # testkit registered the CRDs with the operator's client
    async with (
        ChartRepository() as repository,
        OperatorProcess(tmp_path, *election, kubeconfig=kubeconfig) as operator,
    ):
        repository.credentials = (USER, PASSWORD)
        url = repository.url

        async def leading() -> bool:
            return (await operator.metrics()).total("helmrelease_leader") == 1

        await wait_for(leading, what="the operator to hold the Lease")

        # helm-operator's release, adopted by a v1beta1 HelmRelease; a conflict on its first patch
        chart = str(CHARTS_DIR / "podinfo-6.7.1.tgz")
        install = ("upgrade", "--install", "apps-legacy", chart, "-n", APPS)
        (await run((helm_bin(), *install, "--set", "replicaCount=1"), helm_env)).check()
        objects = ("deployment/apps-legacy-podinfo", "service/apps-legacy-podinfo")
        owner = f"{ANTECEDENT}={APPS}:helmrelease/legacy"
        await kubectl(helm_env, "annotate", "-n", APPS, *objects, owner)
        mark = len(apiserver.audit)
        apiserver.faults.fail_next(1, verb="patch", resource="helmreleases", status=409)
        legacy = helmrelease(
            "flux.weave.works/v1beta1", APPS, "legacy", url, values={"replicaCount": 1}
        )
        await apply(legacy)
        await wait_for(
            lambda: ready(apiserver, "flux.weave.works", APPS, "legacy"), what="legacy adopted"
        )
        released = condition(apiserver, "flux.weave.works", APPS, "legacy", "Released")
        assert "adopted" in released["message"]
        assert read_again(apiserver, "flux.weave.works", mark)
        await kubectl(
            helm_env,
            "delete",
            "helmreleases.flux.weave.works",
            "legacy",
            "-n",
            APPS,
            "--wait=false",
        )
        await wait_for(
            lambda: stored(apiserver, HELMRELEASES["flux.weave.works"], APPS, "legacy") is None,
            what="legacy uninstalled and gone",
        )
        assert not deployed(apiserver, APPS, "apps-legacy", 1)

        # values from a ConfigMap and a Secret, a chartPullSecret; a conflict on the first patch
        mark = len(apiserver.audit)
        apiserver.faults.fail_next(1, verb="patch", resource="helmreleases", status=409)
        sources = [
            {"configMapKeyRef": {"name": "web-values"}},
            {"secretKeyRef": {"name": "web-secret-values"}},
        ]
        await apply(helmrelease("helm.fluxcd.io/v1", APPS, "web", url, valuesFrom=sources))
        await wait_for(
            lambda: (
                deployed(apiserver, APPS, "apps-web", 1)
                and ready(apiserver, "helm.fluxcd.io", APPS, "web")
            ),
            what="web installed",
        )
        assert read_again(apiserver, "helm.fluxcd.io", mark)
        await apply(configmap(APPS, "web-values", "ui:\n  message: second\n"))
        await wait_for(
            lambda: (
                deployed(apiserver, APPS, "apps-web", 2)
                and ready(apiserver, "helm.fluxcd.io", APPS, "web")
            ),
            what="web upgraded by the edit of its ConfigMap",
        )

        # a release run as its ServiceAccount, drift detection on
        owned = helmrelease(
            "helm.fluxcd.io/v1",
            TENANT,
            "owned",
            url,
            values={"replicaCount": 1},
            serviceAccountName=ACCOUNT,
            driftDetection={"mode": "enabled"},
            interval="1s",  # drift is checked at each reconcile in sync: the first one soon
        )
        await apply(owned)

        def drifted(reason: str) -> Doc | None:
            found = condition(apiserver, "helm.fluxcd.io", TENANT, "owned", "Drifted")
            return found if found.get("reason") == reason else None

        await wait_for(lambda: drifted("NoDriftDetected"), what="owned installed and checked")
        service = "tenant-owned-podinfo"
        await kubectl(helm_env, "delete", "rolebinding", ACCOUNT, "-n", TENANT)
        await kubectl(helm_env, "delete", "service", service, "-n", TENANT)
        refused = await wait_for(
            lambda: drifted("DriftCorrectionFailed"), what="the check refused to the ServiceAccount"
        )
        impersonated = re.findall(r'User "([^"]+)" cannot get resource', refused["message"])
        assert impersonated, refused["message"]
        assert set(impersonated) == {f"system:serviceaccount:{TENANT}:{ACCOUNT}"}
        await apply(role_binding())
        await wait_for(
            lambda: stored(apiserver, SERVICES, TENANT, service), what="the Service back"
        )

        # every HelmRelease deleted: finalizers, uninstalls
        await kubectl(
            helm_env, "delete", "helmreleases.helm.fluxcd.io", "web", "-n", APPS, "--wait=false"
        )
        await kubectl(
            helm_env, "delete", "helmreleases.helm.fluxcd.io", "owned", "-n", TENANT, "--wait=false"
        )
        await wait_for(
            lambda: not list(apiserver.store.objects(HELMRELEASES["helm.fluxcd.io"], None)),
            what="every HelmRelease uninstalled and gone",
        )
        assert not deployed(apiserver, TENANT, "tenant-owned", 1)
        await operator.stop()  # releases the Lease

    recorded = [r for r in operator_requests(apiserver, started) if r.resource == "events"]
    assert all(record.code == 201 for record in recorded)
    assert recorded, "no Event recorded"
    verdict(operator_requests(apiserver, started), await rendered_rbac(helm_env), impersonated[0])


def verdict(records: list[AuditRecord], docs: list[Doc], impersonated: str) -> None:
    """Every request of the operator allowed, every rule of its roles needed."""
    bindings = bound_to_operator(docs)
    assert set(bindings) == {*OPERATOR_ROLES, HELM_ROLE}, (
        "the operator's rights come from elsewhere too"
    )
    own = [named(docs, kind, name) for kind, name in OPERATOR_ROLES]
    own_policy = rbac.Policy.of(*own, *(bindings[role] for role in OPERATOR_ROLES))
    helm_policy = rbac.Policy.of(named(docs, *HELM_ROLE), bindings[HELM_ROLE])
    as_operator = rbac.impersonate([(rbac.IMPERSONATE_USER, OPERATOR_USER)])
    assert as_operator is not None
    operator = as_operator.user

    needed: list[rbac.Attributes] = []  # what the operator's own roles must allow
    on_release_objects: list[tuple[AuditRecord, rbac.Attributes]] = []
    unexplained: list[str] = []
    for record in records:
        attrs = attributes(record)
        if record.code == 403:  # only impersonated requests are checked by this server
            assert record.namespace == TENANT, record
            assert (attrs.group, attrs.resource) in RELEASE_KINDS, record
        if rbac.authorize(operator, attrs, own_policy).allowed:
            needed.append(attrs)
        elif (attrs.group, attrs.resource) in RELEASE_KINDS and attrs.verb in RELEASE_VERBS:
            assert rbac.authorize(operator, attrs, helm_policy).allowed, shown(attrs)
            on_release_objects.append((record, attrs))
        else:
            unexplained.append(f"{shown(attrs)} (answered {record.code})")
    assert not unexplained, "requests the operator's roles do not allow:\n" + "\n".join(
        sorted(set(unexplained))
    )

    # The refusals prove the drift check acted as the ServiceAccount: the operator's own right
    as_account = rbac.impersonate([(rbac.IMPERSONATE_USER, impersonated)])
    assert as_account is not None
    for check in as_account.checks:
        assert rbac.authorize(operator, check, own_policy).allowed, shown(check)
        needed.append(check)

    unused = [
        f"{kind} {role['metadata']['name']}: {atom}"
        for (kind, _), role in zip(OPERATOR_ROLES, own, strict=True)
        for atom in atoms(role)
        if not any(
            rbac.rule_allows(attrs, atom)
            and (kind == "ClusterRole" or attrs.namespace == role["metadata"]["namespace"])
            for attrs in needed
        )
    ]
    assert not unused, "rules no request of the operator needed:\n" + "\n".join(unused)

    # What helm's role is relied on for, as the roles' comments say.
    uses = {
        "drift check reads": any(
            r.verb == "get" and r.namespace == TENANT for r, _ in on_release_objects
        ),
        "drift check applies": any(
            r.verb == "patch" and r.field_manager == "helm" for r, _ in on_release_objects
        ),
        "drift watches": any(r.verb == "watch" and not r.namespace for r, _ in on_release_objects),
        "antecedent reads": any(
            r.verb == "get" and r.namespace == APPS for r, _ in on_release_objects
        ),
    }
    assert all(uses.values()), uses
    discovery = [attrs for attrs in needed if not attrs.resource_request]
    assert discovery, "the operator located no kind"
    assert all(
        "system:discovery" in rbac.authorize(operator, attrs, own_policy).reason
        for attrs in discovery
    )
