"""HelmReleases in sync without installing each: made from one real install.

Installing 10,000 real releases would take ten times the N=1,000 convergence run (over
20 minutes on two cores), so that state is made the way it would look after real
installs: one release is installed for real by the operator; its HelmRelease (spec,
finalizer, status) and its helm release Secret (labels and the gzipped release record,
names rewritten) are copied per release straight into the API server's store, each
status holding the digest the operator computes for that release (checked against the
real one first). A fresh operator then relists them all and must find every one in sync
without starting helm: exactly the work of real in-sync releases. The workloads
themselves (Deployment, Service) are not copied, as the operator never reads them.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import hashlib
import json
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from bench.convergence import VALUES
from bench.harness import (
    CHART_FILE,
    HELMRELEASES,
    NAMESPACE,
    SECRETS,
    BenchError,
    World,
    release_names,
    run_operator,
)
from controller.api import DIGEST_LABEL, ReleaseSpec, parse
from controller.reconcile.state import desired_digest, digest_label
from controller.releases import decode_release, encode_release
from controller.values import merge_values, values_digest

WORKERS = 4
COPIES_PER_JOB = 2000

Copy = tuple[dict[str, Any], dict[str, Any], dict[str, Any]]
"""A HelmRelease (without status), its status, its helm release Secret."""


async def make_in_sync(world: World, releases: int) -> str:
    """``releases`` HelmReleases in sync in ``world``'s store (one installed for real);
    what was done, for a note."""
    template = await _template(world)
    made = time.monotonic()
    copies = await _copies_in_parallel(template, release_names(releases)[1:])
    _store_copies(world, copies)
    return (
        f"the {releases:,} in-sync HelmReleases were made from one real install in "
        f"{time.monotonic() - made:.0f} s: its HelmRelease and helm release Secret copied per "
        "release into the store (names rewritten, the operator's digest recomputed per "
        "release); the workloads themselves (Deployment, Service) were not copied, as the "
        "operator never reads them."
    )


@dataclass(frozen=True)
class Template:
    """One real, in-sync release: its HelmRelease and its helm release Secret."""

    name: str
    helmrelease: Mapping[str, Any]
    secret: Mapping[str, Any]
    release: dict[str, Any]
    """The decoded release record of the Secret."""
    chart_digest: str


def _spec(obj: Mapping[str, Any]) -> ReleaseSpec:
    spec = parse(obj)
    if not isinstance(spec, ReleaseSpec):
        raise BenchError(f"the template HelmRelease does not parse: {spec}")
    return spec


def _digest(obj: Mapping[str, Any], chart_digest: str) -> str:
    """The digest the operator records for a HelmRelease (chart, values, options)."""
    spec = _spec(obj)
    return desired_digest(spec, chart_digest, values_digest(merge_values([spec.values])))


async def _template(world: World) -> Template:
    name = release_names(1)[0]
    async with run_operator(world, workers=WORKERS, tag="template"):
        await world.create_helmreleases([name], VALUES)
        events = world.helmreleases
        await events.wait(lambda: name in events.first_ready, within=120, what=f"{name} Ready")
    store = world.api.store
    helmrelease = store.get_object(HELMRELEASES, NAMESPACE, name)
    release = _spec(helmrelease).release_name
    secrets = [
        s
        for s in store.objects(SECRETS, NAMESPACE)
        if s["metadata"].get("labels", {}).get("name") == release
    ]
    if len(secrets) != 1:
        raise BenchError(f"expected one release record of {release}, found {len(secrets)}")
    chart = await asyncio.to_thread(CHART_FILE.read_bytes)
    template = Template(
        name=name,
        helmrelease=helmrelease,
        secret=secrets[0],
        release=await asyncio.to_thread(decode_release, secrets[0]["data"]["release"]),
        chart_digest=hashlib.sha256(chart).hexdigest(),
    )
    if _digest(helmrelease, template.chart_digest) != helmrelease["status"]["lastAppliedDigest"]:
        raise BenchError("cannot reproduce the digest the operator recorded; nothing copied")
    return template


def _renamed(value: Any, old: str, new: str) -> Any:
    """``value`` with every occurrence of one release's name replaced (same length)."""
    return json.loads(json.dumps(value).replace(old, new))


def _copies(template: Template, names: list[str]) -> list[Copy]:
    """(HelmRelease, status, Secret) per name, as real installs would have left them."""
    copies: list[Copy] = []
    helmrelease = template.helmrelease
    for name in names:
        obj = {
            "apiVersion": helmrelease["apiVersion"],
            "kind": helmrelease["kind"],
            "metadata": {
                "name": name,
                "namespace": NAMESPACE,
                "finalizers": helmrelease["metadata"]["finalizers"],
            },
            "spec": helmrelease["spec"],
        }
        digest = _digest(obj, template.chart_digest)
        status = _renamed(helmrelease["status"], template.name, name)
        status["lastAppliedDigest"] = digest
        secret = _renamed(
            {k: v for k, v in template.secret.items() if k != "data"}, template.name, name
        )
        metadata = secret["metadata"]
        secret["metadata"] = {
            "name": metadata["name"],
            "namespace": NAMESPACE,
            "labels": {**metadata["labels"], DIGEST_LABEL: digest_label(digest)},
        }
        record = _renamed(template.release, template.name, name)
        secret["data"] = {"release": encode_release(record)}
        copies.append((obj, status, secret))
    return copies


async def _copies_in_parallel(template: Template, names: list[str]) -> list[Copy]:
    """``_copies`` in one process per CPU (most of the work is gzip, as helm's own)."""
    loop = asyncio.get_running_loop()
    chunks = [names[i : i + COPIES_PER_JOB] for i in range(0, len(names), COPIES_PER_JOB)]
    with concurrent.futures.ProcessPoolExecutor(os.cpu_count() or 1) as pool:
        done = await asyncio.gather(
            *(loop.run_in_executor(pool, _copies, template, chunk) for chunk in chunks)
        )
    return [copy for chunk in done for copy in chunk]


def _store_copies(world: World, copies: list[Copy]) -> None:
    """Write the copies into the store.

    On the event loop, as the store is not thread-safe; nothing else runs meanwhile (the
    operator starts after).
    """
    store = world.api.store
    for obj, status, secret in copies:
        created = store.create(HELMRELEASES, obj, {})
        store.update(HELMRELEASES, {**created, "status": status}, {}, subresource="status")
        store.create(SECRETS, secret, {})
