"""Values stay secret end to end: a distinctive marker used as a value, in a release that
installs and in one whose helm error quotes the value, never shows up in the operator's
logs, in Events or in any HelmRelease status.
"""

from __future__ import annotations

import json
import secrets
from typing import Any

import pytest
from e2etesting import Env, current

from testkit import wait_for

pytestmark = pytest.mark.e2e


async def events_about(env: Env, namespace: str, name: str) -> tuple[str, list[dict[str, Any]]]:
    """All Events of the cluster as JSON text (both APIs), and those about one HelmRelease."""
    pages = [
        (await env.kubectl("get", resource, "-A", "-o", "json")).stdout
        for resource in ("events", "events.v1.events.k8s.io")
    ]
    about = [
        event
        for page in pages
        for event in json.loads(page)["items"]
        if event["metadata"]["namespace"] == namespace
        and (event.get("regarding") or event.get("involvedObject") or {}).get("name") == name
    ]
    return "\n".join(pages), about


async def helm_error_event(env: Env, namespace: str, name: str) -> str | None:
    """All Events as text once one about the HelmRelease quotes helm's range error."""
    everything, about = await events_about(env, namespace, name)
    quoted = any(
        "range can't iterate over" in (event.get("note") or event.get("message") or "")
        for event in about
    )
    return everything if quoted else None


async def test_values_never_appear_in_logs_events_or_status(env: Env, namespace: str) -> None:
    marker = f"e2e-secret-{secrets.token_hex(8)}"
    await env.apply(env.helmrelease(namespace, "app", values={"ui": {"message": marker}}))
    await env.wait_ready(namespace, "app", revision=1)

    # podinfo ranges over podAnnotations: helm's error quotes the string it got there.
    await env.apply(
        env.helmrelease(
            namespace, "app", values={"podAnnotations": marker, "ui": {"color": marker}}
        )
    )
    failed = await env.wait_hr(
        namespace, "app", lambda hr: current(hr).get("status") == "False", what="Ready False"
    )
    assert "range can't iterate over" in current(failed)["message"], current(failed)

    # The Event is posted alongside the status write: it may land just after it.
    everything = await wait_for(
        lambda: helm_error_event(env, namespace, "app"),
        what=f"{namespace}/app: an Event quoting helm's error",
    )
    assert marker not in everything
    statuses = (await env.kubectl("get", "hr", "-A", "-o", "json")).json()["items"]
    assert marker not in json.dumps([hr.get("status") for hr in statuses])
    logs = await env.operator_logs()
    assert f"hr={namespace}/app" in logs or f'"hr":"{namespace}/app"' in logs
    assert marker not in logs
