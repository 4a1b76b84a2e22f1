"""Every HelmRelease example of helm-operator's guide converges, with real helm 3 and helm 4.

Covers: each example of ``tests/data/reference-examples/`` (completed as the guide and
``tests/manifests/test_reference_examples.py`` do), applied with the real kubectl in
``helm.fluxcd.io/v1`` and, unless it uses a v1-only field (``helmVersion``), in
``flux.weave.works/v1beta1``, all at once, settles on the in-memory API server for its
current generation as ``EXPECTED`` says: Ready, or Stalled with reason NotSupported and a
message naming the field of the feature not built yet (an s3:// repository,
``helmVersion: v2``, the annotation asking helm-operator to convert a helm 2 release),
retried naming the source of values that is not there, or retried for a chart that
cannot be fetched (a git repository over ssh: no ssh server here). The examples with rollbacks or
tests enabled are Ready once installed (with ``--wait``) and, for tests, once podinfo's
tests passed. A Ready one has
its release deployed under the release name and in the namespace its fields ask for; a
Stalled one has no release at all. One operator per helm major, four workers.

What the test changes in an example, and nothing else: its namespace and name (each
example gets a namespace of its own per API, created with it, as is the targetNamespace
``team-a``), and its repository chart: an http(s) repository becomes the test chart
repository, and a chart name or version that repository does not have becomes podinfo
6.7.1 (the guide's podinfo 3.2.0, and its redis); an https git repository becomes a git
server on loopback holding podinfo 6.7.1 at the example's path (and the credentials
Secret an example names is created). A git chart over ssh and the s3:// repository stay
as they are: they cannot be served here, and they are what those examples are about.

Needs the in-memory API server (it reads the store directly): not run against a cluster.
"""

from __future__ import annotations

import asyncio
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from apiserver import ApiServer
from apiserver.resources import GroupResource
from testkit import (
    CHARTS_DIR,
    ROOT,
    ChartRepository,
    GitServer,
    OperatorProcess,
    Unmet,
    chart_files,
    commit_files,
    init_bare,
    kubectl,
    wait_for,
)

pytestmark = pytest.mark.e2e

Doc = dict[str, Any]

EXAMPLES_DIR = ROOT / "tests" / "data" / "reference-examples"
MINIMAL = "introduction-01-podinfo"
WHOLE = {MINIMAL, "release-configuration-02-redis"}
"""The examples that are whole HelmReleases; the others are a ``spec:`` to complete."""
V1 = "helm.fluxcd.io/v1"
V1BETA1 = "flux.weave.works/v1beta1"
BOTH = (V1, V1BETA1)
V1_ONLY = (V1,)
"""The examples setting ``helmVersion``, which flux.weave.works/v1beta1 does not have."""
API_TAG = {V1: "hr", V1BETA1: "fhr"}
PAGE_TAG = {
    "chart-sources": "cs",
    "introduction": "in",
    "release-configuration": "rc",
    "rollbacks": "rb",
    "tests": "ts",
    "values": "va",
}
TARGET_NAMESPACE = "team-a"
"""The targetNamespace of the guide's example (release-configuration-03)."""
FALLBACK_CHART = {"name": "podinfo", "version": "6.7.1"}
GIT_PATH = "charts/podinfo"
"""Where every https git example of the guide keeps its chart."""
GIT_UNUSED = "https://git.invalid/unused"
NAMING = {"name", "namespace"}
"""The metadata fields the test sets: every example gets a namespace and name of its own."""
SECRETS = GroupResource("", "secrets")
CONVERGE_LIMIT = 240.0
"""Seconds for every HelmRelease to settle: only bounds a failure (it takes a few)."""

READY = "Ready"


def not_supported(field: str) -> str:
    return f"Stalled NotSupported {field}"


def retrying(field: str) -> str:
    """Not released, and retried: what a required source that is not there says."""
    return f"Retrying {field}"


FETCH_RETRIED = "Retrying ChartFetched"
"""Not released, the chart fetch retried: a git repository that cannot be reached."""


EXPECTED: dict[str, tuple[str, tuple[str, ...]]] = {
    # example: (what every HelmRelease made of it settles as, the APIs it is applied in)
    "chart-sources-01-chart-repository-https": (READY, BOTH),
    "chart-sources-02-chart-repository-s3": (not_supported("spec.chart.repository"), BOTH),
    # over ssh: no ssh server here (the URL stays the guide's)
    "chart-sources-03-chart-git": (FETCH_RETRIED, BOTH),
    "chart-sources-04-chart-git": (FETCH_RETRIED, BOTH),
    # over https: served on loopback
    "chart-sources-05-chart-git-secretref": (READY, BOTH),
    "chart-sources-06-chart-git": (READY, BOTH),
    "chart-sources-07-chart-git-skipdepupdate": (FETCH_RETRIED, BOTH),
    "introduction-01-podinfo": (READY, BOTH),
    "release-configuration-01-helmversion": (READY, V1_ONLY),  # helmVersion: v3
    # helmVersion: v3, and helm.fluxcd.io/migrate: a helm 2 release to convert first
    "release-configuration-02-redis": (
        not_supported("metadata.annotations[helm.fluxcd.io/migrate]"),
        V1_ONLY,
    ),
    "release-configuration-03-targetnamespace": (READY, BOTH),
    "release-configuration-04-releasename": (READY, BOTH),
    "release-configuration-05-forceupgrade": (READY, BOTH),
    "release-configuration-06-resetvalues": (READY, BOTH),
    "release-configuration-07-timeout": (READY, BOTH),
    "release-configuration-08-wait": (READY, BOTH),
    "release-configuration-09-maxhistory": (READY, BOTH),
    "rollbacks-01-rollback": (READY, BOTH),
    "rollbacks-02-rollback-disablehooks-force-recreate-timeout": (READY, BOTH),
    "rollbacks-03-rollback-retry-maxretries": (READY, BOTH),
    # installed, then tested: Ready once podinfo's tests passed
    "tests-01-test": (READY, BOTH),
    "tests-02-test-ignorefailures": (READY, BOTH),
    "tests-03-test-timeout": (READY, BOTH),
    # helmVersion: v2 is refused, whatever else the spec asks for.
    "tests-04-helmversion-test-cleanup": (not_supported("spec.helmVersion"), V1_ONLY),
    "values-01-values": (READY, BOTH),
    # the guide's sources do not exist here (its URL's host cannot be reached): a required
    # one is retried, an optional one skipped, as helm-operator did
    "values-02-valuesfrom-configmapkeyref": (retrying("spec.valuesFrom"), BOTH),
    "values-03-valuesfrom-secretkeyref": (READY, BOTH),
    "values-04-valuesfrom-externalsourceref": (READY, BOTH),
    "values-05-valuesfrom-chartfileref": (READY, BOTH),
}


@dataclass(frozen=True)
class Case:
    """One HelmRelease made of one example in one API."""

    stem: str
    api_version: str
    manifest: Doc

    @property
    def key(self) -> str:
        return f"{API_TAG[self.api_version]} {self.stem}"

    @property
    def namespace(self) -> str:
        namespace: str = self.manifest["metadata"]["namespace"]
        return namespace

    @property
    def name(self) -> str:
        name: str = self.manifest["metadata"]["name"]
        return name

    @property
    def target_namespace(self) -> str:
        return self.manifest["spec"].get("targetNamespace") or self.namespace

    @property
    def release_name(self) -> str:
        """helm-operator's release name for this HelmRelease (the names are short enough
        never to be shortened)."""
        given: str | None = self.manifest["spec"].get("releaseName")
        if given:
            return given
        if self.api_version == V1 and self.target_namespace != self.namespace:
            return f"{self.namespace}-{self.target_namespace}-{self.name}"
        return f"{self.namespace}-{self.name}"


def documents(path: Path) -> list[Doc]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc is not None]


def example(stem: str) -> Doc:
    """The HelmRelease of an example, completed as the guide does (the README beside them)."""
    (doc,) = documents(EXAMPLES_DIR / f"{stem}.yaml")
    if stem in WHOLE:
        return doc
    (minimal,) = documents(EXAMPLES_DIR / f"{MINIMAL}.yaml")
    return {**minimal, "spec": {**minimal["spec"], **doc["spec"]}}


def available_charts(repository: ChartRepository) -> set[tuple[str, str]]:
    """(name, version) of every chart the test repository serves."""
    return {
        (name, str(entry["version"]))
        for name, entries in repository.index()["entries"].items()
        for entry in entries
    }


def installable(chart: Doc, repository: ChartRepository, git: str) -> Doc:
    """``chart`` from the test repository if it is a chart of an http(s) repository, from
    the git server ``git`` if it is an https git repository."""
    if str(chart.get("git", "")).startswith("https://"):
        return {**chart, "git": git}
    url = chart.get("repository")
    if not isinstance(url, str) or url.partition("://")[0] not in ("http", "https"):
        return chart  # git, s3://: kept, the examples are about them
    moved = {**chart, "repository": f"{repository.url}/"}
    if (chart.get("name"), chart.get("version")) not in available_charts(repository):
        moved.update(FALLBACK_CHART)
    return moved


def cases(repository: ChartRepository, git: str = GIT_UNUSED) -> list[Case]:
    made = []
    for stem, (_, apis) in EXPECTED.items():
        numbered = re.fullmatch(r"([a-z-]+?)-(\d\d)-.+", stem)
        assert numbered is not None, stem
        name = PAGE_TAG[numbered[1]] + numbered[2]  # rc04: page and number, short names
        manifest = example(stem)
        chart = installable(manifest["spec"]["chart"], repository, git)
        spec = {**manifest["spec"], "chart": chart}
        for api_version in apis:
            metadata = {
                **manifest["metadata"],
                "name": name,
                "namespace": f"{API_TAG[api_version]}-{name}",
            }
            body = {**manifest, "apiVersion": api_version, "metadata": metadata, "spec": spec}
            made.append(Case(stem, api_version, body))
    return made


def git_repository(root: Path) -> Path:
    """A bare repository with podinfo 6.7.1 at the guide's path (blocking): its parent."""
    bare = init_bare(root, "charts.git")
    commit_files(bare, chart_files(CHARTS_DIR / "podinfo-6.7.1.tgz", GIT_PATH), "podinfo")
    return root


def git_secret(case: Case) -> Doc:
    """The Secret a git example's secretRef names (any credentials: the server asks none)."""
    name = case.manifest["spec"]["chart"]["secretRef"]["name"]
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "namespace": case.namespace},
        "stringData": {"username": "reader", "password": "unused"},
    }


def namespace_manifest(name: str) -> Doc:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}


def outcome(apiserver: ApiServer, case: Case) -> str:
    """What the HelmRelease says for its current generation: ``Ready``, ``Stalled <reason>
    <the first field its message names>``, or else how far it got."""
    group = case.api_version.split("/")[0]
    entry = apiserver.store.get(GroupResource(group, "helmreleases"), case.namespace, case.name)
    if entry is None:
        return "not stored"
    generation = entry.obj["metadata"].get("generation")
    conditions = {
        body.get("type"): body
        for body in (entry.obj.get("status") or {}).get("conditions") or []
        if body.get("observedGeneration") == generation
    }
    ready = conditions.get("Ready") or {}
    if ready.get("status") == "True":
        return READY
    stalled = conditions.get("Stalled") or {}
    if stalled.get("status") == "True":
        named = re.search(r"(spec(\.\w+)+|metadata\.annotations\[[^]]+\])", stalled["message"])
        return f"Stalled {stalled.get('reason')} {named[0] if named else '(names no field)'}"
    reconciling = conditions.get("Reconciling") or {}
    fetched = conditions.get("ChartFetched") or {}
    if reconciling.get("reason") == "ProgressingWithRetry" and fetched.get("status") == "False":
        return FETCH_RETRIED
    if reconciling.get("reason") == "ProgressingWithRetry" and ready.get("status") == "False":
        named = re.search(r"spec(\.\w+)+", reconciling.get("message", ""))
        return f"Retrying {named[0] if named else '(names no field)'}"
    if not ready:
        return f"no Ready condition for generation {generation}"
    return f"Ready {ready.get('status')} {ready.get('reason')}: {ready.get('message')}"


def converged(said: str) -> bool:
    return said == READY or said.startswith(("Stalled ", "Retrying "))


def release_records(apiserver: ApiServer, namespace: str) -> dict[str, str]:
    """helm's release records in ``namespace``: release name -> status of its latest."""
    records = sorted(
        (labels.get("name", ""), int(labels.get("version", 0)), labels.get("status", ""))
        for secret in apiserver.store.objects(SECRETS, namespace)
        if (labels := secret["metadata"].get("labels") or {}).get("owner") == "helm"
    )
    return {name: status for name, _, status in records}


def test_the_table_covers_every_example() -> None:
    assert sorted(EXPECTED) == sorted(path.stem for path in EXAMPLES_DIR.glob("*.yaml"))
    for stem, (_, apis) in EXPECTED.items():
        assert ("helmVersion" in example(stem)["spec"]) == (apis == V1_ONLY), stem


def unnamed_chartless(manifest: Doc) -> Doc:
    """``manifest`` in v1 without its name, namespace and chart: what the test never changes."""
    metadata = {key: value for key, value in manifest["metadata"].items() if key not in NAMING}
    spec = {key: value for key, value in manifest["spec"].items() if key != "chart"}
    return {**manifest, "apiVersion": V1, "metadata": metadata, "spec": spec}


def test_only_the_namespace_name_and_a_repository_chart_change() -> None:
    repository = ChartRepository()  # not serving: its index and a URL are enough here
    for case in cases(repository):
        original = example(case.stem)
        chart, made_chart = original["spec"]["chart"], case.manifest["spec"]["chart"]
        if "git" in chart:
            moved = {**chart, "git": GIT_UNUSED}
            assert made_chart == (moved if chart["git"].startswith("https://") else chart)
            assert chart["path"] == GIT_PATH, case.key
        elif made_chart != chart:
            assert made_chart["repository"] == f"{repository.url}/", case.key
            assert {**made_chart, "repository": chart["repository"]} in (
                chart,
                {**chart, **FALLBACK_CHART},
            ), case.key
        assert unnamed_chartless(case.manifest) == unnamed_chartless(original), case.key


async def test_every_example_converges(
    apiserver: ApiServer,
    crds: None,
    kubeconfig: Path,
    helm_env: dict[str, str],
    helm_bin: Path,
    tmp_path: Path,
) -> None:
    async with (
        ChartRepository() as repository,
        GitServer(await asyncio.to_thread(git_repository, tmp_path / "git")) as git,
        OperatorProcess(
            tmp_path,
            *("--workers", "4", "--helm-bin", str(helm_bin)),
            *("--values-timeout", "5s"),  # bounds the wait for the guide's unreachable URL
            kubeconfig=kubeconfig,
        ) as operator,
    ):
        made = cases(repository, f"{git.url}/charts.git")
        namespaces = sorted({case.namespace for case in made} | {TARGET_NAMESPACE})
        secrets = [
            git_secret(case) for case in made if "secretRef" in case.manifest["spec"]["chart"]
        ]
        everything = [
            *map(namespace_manifest, namespaces),
            *secrets,
            *(case.manifest for case in made),
        ]
        applied = tmp_path / "examples.yaml"
        applied.write_text(yaml.safe_dump_all(everything, sort_keys=False))
        await kubectl(helm_env, "apply", "-f", str(applied))

        def outcomes() -> dict[str, str]:
            return {case.key: outcome(apiserver, case) for case in made}

        def all_converged() -> dict[str, str] | None:
            operator.check_running()
            now = outcomes()
            return now if all(map(converged, now.values())) else None

        try:
            settled = await wait_for(
                all_converged,
                what="every HelmRelease to be Ready or Stalled for its generation",
                within=CONVERGE_LIMIT,
            )
        except Unmet as unmet:
            behind = {key: said for key, said in outcomes().items() if not converged(said)}
            raise Unmet(f"{unmet}; not there: {json.dumps(behind, indent=1)}") from None
        assert settled == {case.key: EXPECTED[case.stem][0] for case in made}

        for case in made:
            records = release_records(apiserver, case.target_namespace)
            if EXPECTED[case.stem][0] == READY:
                assert records.get(case.release_name) == "deployed", (case.key, records)
            else:
                assert records == {}, (case.key, records)
