"""Fault injection, the audit log, restart and the command-line entry point.

Covers fail_next (matching by verb and resource, 429 with Retry-After, counting
down), latency, restart on the same port keeping state (and closing watches),
the audit records and their query helper, and ``python -m
apiserver`` writing a working kubeconfig and exiting 0 on
SIGTERM.
"""

from __future__ import annotations

import asyncio
import signal
import sys
from pathlib import Path

import aiohttp
import yaml
from apitesting import Client

from apiserver import ApiServer
from testkit import ROOT

CM = "/api/v1/namespaces/default/configmaps"


def configmap(name: str) -> dict[str, object]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}}


async def test_fail_next_fails_only_matching_requests_n_times(
    apiserver: ApiServer, client: Client
) -> None:
    apiserver.faults.fail_next(2, verb="create", resource="configmaps", status=500)
    assert (await client.get(CM)).status == 200
    first = await client.post(CM, configmap("a"))
    assert first.status == 500
    assert first.body["reason"] == "InternalError"
    assert (await client.post(CM, configmap("a"))).status == 500
    assert (await client.post(CM, configmap("a"))).status == 201


async def test_fail_next_with_retry_after(apiserver: ApiServer, client: Client) -> None:
    apiserver.faults.fail_next(1, status=429, retry_after=3)
    throttled = await client.get(CM)
    assert throttled.status == 429
    assert throttled.headers["Retry-After"] == "3"
    assert throttled.body["reason"] == "TooManyRequests"
    assert (await client.get(CM)).status == 200


async def test_latency_delays_requests(apiserver: ApiServer, client: Client) -> None:
    apiserver.faults.latency(0.2)
    loop = asyncio.get_running_loop()
    started = loop.time()
    await client.get("/version")
    assert loop.time() - started >= 0.19  # the loop may wake a clock tick early
    apiserver.faults.latency(0)


async def test_restart_keeps_state_and_port_and_closes_watches(
    apiserver: ApiServer, client: Client
) -> None:
    await client.post(CM, configmap("survivor"))
    port = apiserver.port
    async with client.watch(CM, resourceVersion="1") as stream:
        await stream.take(1)
        await apiserver.restart()
        assert await stream.rest() == []
    assert apiserver.port == port
    async with aiohttp.ClientSession() as session:
        fresh = Client(session, apiserver.url)
        assert (await fresh.get(f"{CM}/survivor")).status == 200


async def test_audit_records_requests(apiserver: ApiServer, client: Client) -> None:
    await client.request(
        "PATCH",
        f"{CM}/audited",
        configmap("audited"),
        content_type="application/apply-patch+yaml",
        params={"fieldManager": "helm"},
    )
    await client.get(f"{CM}/missing")
    [applied] = apiserver.audit.find(verb="patch", resource="configmaps")
    assert (applied.namespace, applied.name, applied.field_manager, applied.code) == (
        "default",
        "audited",
        "helm",
        201,
    )
    assert applied.user_agent.startswith("Python")
    [missing] = apiserver.audit.find(verb="get", name="missing")
    assert missing.code == 404
    assert apiserver.audit.find(user_agent_contains="aiohttp")
    assert apiserver.audit.find(verb="delete") == []


async def test_module_entry_point_serves_until_sigterm(tmp_path: Path) -> None:
    kubeconfig = tmp_path / "kubeconfig"
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "apiserver",
        "--kubeconfig",
        str(kubeconfig),
        "--no-simulate",
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        assert process.stdout is not None
        url = (await asyncio.wait_for(process.stdout.readline(), 20)).decode().strip()
        assert url.startswith("http://127.0.0.1:")
        written = yaml.safe_load(await asyncio.to_thread(kubeconfig.read_text))
        assert written["clusters"][0]["cluster"]["server"] == url
        async with aiohttp.ClientSession() as session:
            assert (await Client(session, url).get("/version")).status == 200
    finally:
        process.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(process.wait(), 20)
    assert code == 0
