"""The real kubectl 1.35 against the in-memory API server.

Covers a CRD's life (apply, wait for Established, discovery of the new kind, apply
and re-apply of custom resources, rejection of an invalid one with 422 naming the
field, get, a bounded get -w, delete with a finalizer and wait --for=delete),
server-side apply (including its conflict), the protobuf-bodied create commands,
``--dry-run=server`` and get all.
"""

from __future__ import annotations

import asyncio
import json

from apitesting import READ_LIMIT, Run

from apiserver import ApiServer
from apiserver.resources import GroupResource
from testkit import pinned

CRD = """
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.example.com
spec:
  group: example.com
  scope: Namespaced
  names: {plural: widgets, singular: widget, kind: Widget, shortNames: [wg]}
  versions:
  - name: v1
    served: true
    storage: true
    subresources: {status: {}}
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            required: [size]
            properties:
              size: {type: integer, minimum: 1}
              color: {type: string, default: blue}
          status:
            type: object
            x-kubernetes-preserve-unknown-fields: true
"""


def widget(name: str, size: int, extra: str = "") -> str:
    return f"""
apiVersion: example.com/v1
kind: Widget
metadata: {{name: {name}{extra}}}
spec: {{size: {size}}}
"""


async def test_crd_and_custom_resources_lifecycle(apiserver: ApiServer, run: Run) -> None:
    (await run("kubectl", "apply", "-f", "-", stdin=CRD)).check()
    (
        await run(
            "kubectl",
            "wait",
            "--for=condition=Established",
            "crd/widgets.example.com",
            "--timeout=10s",
        )
    ).check()
    (await run("kubectl", "apply", "-f", "-", stdin=widget("w1", 2))).check()
    reapplied = (await run("kubectl", "apply", "-f", "-", stdin=widget("w1", 3))).check()
    assert "configured" in reapplied.stdout
    got = (await run("kubectl", "get", "wg", "w1", "-o", "json")).check().json()
    assert got["spec"] == {"size": 3, "color": "blue"}
    assert got["metadata"]["generation"] == 2
    invalid = await run("kubectl", "apply", "-f", "-", stdin=widget("bad", 0))
    assert invalid.code != 0
    assert "spec.size" in invalid.stderr
    assert apiserver.audit.find(resource="widgets", code=422)
    listed = (await run("kubectl", "get", "widgets")).check()
    assert "w1" in listed.stdout


async def test_get_watch_prints_new_objects(
    apiserver: ApiServer, run: Run, helm_env: dict[str, str]
) -> None:
    (await run("kubectl", "apply", "-f", "-", stdin=CRD)).check()
    (await run("kubectl", "apply", "-f", "-", stdin=widget("first", 1))).check()
    process = await asyncio.create_subprocess_exec(
        str(pinned("kubectl")),
        "get",
        "widgets",
        "-w",
        "--no-headers",
        env=helm_env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        assert process.stdout is not None
        first = await asyncio.wait_for(process.stdout.readline(), READ_LIMIT)
        assert first.split()[0] == b"first"
        (await run("kubectl", "apply", "-f", "-", stdin=widget("second", 1))).check()
        second = await asyncio.wait_for(process.stdout.readline(), READ_LIMIT)
        assert second.split()[0] == b"second"
    finally:
        process.terminate()
        await process.wait()


async def test_delete_waits_for_finalizers(apiserver: ApiServer, run: Run) -> None:
    (await run("kubectl", "apply", "-f", "-", stdin=CRD)).check()
    held = widget("held", 1, ", finalizers: [example.com/hold]")
    (await run("kubectl", "apply", "-f", "-", stdin=held)).check()
    (await run("kubectl", "delete", "widget", "held", "--wait=false")).check()
    marked = (await run("kubectl", "get", "widget", "held", "-o", "json")).check().json()
    assert marked["metadata"]["deletionTimestamp"]
    waiter = asyncio.create_task(
        run("kubectl", "wait", "--for=delete", "widget/held", "--timeout=60s")
    )
    try:
        patch = json.dumps({"metadata": {"finalizers": None}})
        (await run("kubectl", "patch", "widget", "held", "--type=merge", "-p", patch)).check()
        (await waiter).check()
    finally:
        waiter.cancel()
    assert (await run("kubectl", "get", "widget", "held")).code != 0


async def test_server_side_apply_and_create_commands(apiserver: ApiServer, run: Run) -> None:
    (await run("kubectl", "create", "namespace", "team")).check()
    (
        await run(
            "kubectl",
            "create",
            "secret",
            "generic",
            "creds",
            "-n",
            "team",
            "--from-literal=token=s3cr3t",
        )
    ).check()
    (
        await run("kubectl", "create", "configmap", "settings", "-n", "team", "--from-literal=a=1")
    ).check()
    manifest = """
apiVersion: v1
kind: ConfigMap
metadata: {name: settings, namespace: team}
data: {a: "2"}
"""
    conflict = await run("kubectl", "apply", "--server-side", "-f", "-", stdin=manifest)
    assert conflict.code != 0
    assert "conflict" in conflict.stderr.lower()
    forced = await run(
        "kubectl", "apply", "--server-side", "--force-conflicts", "-f", "-", stdin=manifest
    )
    forced.check()
    data = (await run("kubectl", "get", "cm", "settings", "-n", "team", "-o", "json")).json()
    assert data["data"] == {"a": "2"}
    assert apiserver.audit.find(verb="patch", field_manager="kubectl", resource="configmaps")
    secret = apiserver.store.get_object(GroupResource("", "secrets"), "team", "creds")
    assert secret["data"] == {"token": "czNjcjN0"}
    dry = await run("kubectl", "create", "configmap", "dry", "-n", "team", "--dry-run=server")
    dry.check()
    assert apiserver.store.get(GroupResource("", "configmaps"), "team", "dry") is None
    all_kinds = (await run("kubectl", "get", "all", "-n", "team")).check()
    assert all_kinds.code == 0
