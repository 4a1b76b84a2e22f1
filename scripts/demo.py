"""`make run`: the operator on an embedded default, no cluster needed.

Starts the in-memory Kubernetes API server (with workload simulation), a local Helm
repository serving the charts in tests/data/charts, and the operator as its own
process; applies the HelmReleases in examples/ pointed at that repository; shows
progress until every release is Ready; then tells how to talk to it and runs until
Ctrl-C. `--cluster existing` runs the operator against the cluster in KUBECONFIG.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp
import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from apiserver.server import ApiServer  # noqa: E402
from testkit import (  # noqa: E402
    EXAMPLES_DIR,
    ChartRepository,
    OperatorProcess,
    Unmet,
    helm_bin,
    kubectl,
    kubectl_bin,
    register_crds,
    tool_env,
    wait_for,
)

RUN_DIR = ROOT / ".run"
HELMRELEASE_APIS = {"hr": "helm.fluxcd.io/v1", "fhr": "flux.weave.works/v1beta1"}
"""Both HelmRelease APIs, by their kubectl short names."""
READY_TIMEOUT = 300.0


def examples_for(repository: str) -> str:
    """The example HelmReleases with their chart repository pointed at the local one."""
    documents: list[Any] = []
    for path in sorted(EXAMPLES_DIR.glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if isinstance(doc, dict) and doc.get("kind") == "HelmRelease":
                doc["spec"]["chart"]["repository"] = repository
                documents.append(doc)
    return yaml.safe_dump_all(documents)


def operator_on(kubeconfig: Path) -> OperatorProcess:
    """The operator, logging to .run/operator.log, its chart cache in .run/."""
    return OperatorProcess(RUN_DIR, "--workers", "4", kubeconfig=kubeconfig)


def release_row(kind: str, hr: dict[str, Any]) -> tuple[str, str, str, str]:
    status = hr.get("status", {})
    ready: dict[str, Any] = next(
        (c for c in status.get("conditions", []) if c.get("type") == "Ready"), {}
    )
    name = f"{kind}/{hr['metadata']['namespace']}/{hr['metadata']['name']}"
    return (
        name,
        str(status.get("phase", "Pending")),
        str(status.get("revision", "-")),
        "Ready" if ready.get("status") == "True" else str(ready.get("reason", "waiting")),
    )


async def show_progress(api_url: str, expected: int, started: float, stop: asyncio.Event) -> bool:
    """Print a line whenever a release changes; True once every release is Ready."""
    seen: dict[str, tuple[str, str, str, str]] = {}
    async with aiohttp.ClientSession() as session:

        async def all_ready_or_stopped() -> bool:
            rows = []
            for kind, api_version in HELMRELEASE_APIS.items():
                async with session.get(f"{api_url}/apis/{api_version}/helmreleases") as r:
                    rows += [release_row(kind, item) for item in (await r.json())["items"]]
            for row in rows:
                if seen.get(row[0]) != row:
                    seen[row[0]] = row
                    print(
                        f"[{time.monotonic() - started:6.1f}s] {row[0]:<32} phase={row[1]:<12} "
                        f"revision={row[2]:<3} {row[3]}",
                        flush=True,
                    )
            ready = len(rows) >= expected and all(r[3] == "Ready" for r in seen.values())
            return ready or stop.is_set()

        try:
            await wait_for(
                all_ready_or_stopped,
                what="every release to be Ready",
                within=READY_TIMEOUT,
                changed=stop,
            )
        except Unmet:
            return False
    return not stop.is_set()


def stop_on_signals() -> asyncio.Event:
    """An event set by Ctrl-C or SIGTERM; installed first so no signal falls in a gap."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    return stop


async def demo() -> int:
    stop = stop_on_signals()
    RUN_DIR.mkdir(exist_ok=True)
    kubeconfig = RUN_DIR / "kubeconfig"
    async with ApiServer(simulate=True) as api, ChartRepository() as repository:
        await api.write_kubeconfig(kubeconfig)
        env = tool_env(RUN_DIR / "home", kubeconfig)
        print(f"API server   {api.url}  (kubeconfig {kubeconfig.relative_to(ROOT)})")
        print(f"chart repo   {repository.url}/")
        await register_crds(kubeconfig)
        async with operator_on(kubeconfig) as operator:
            log = operator.log_path.relative_to(ROOT)
            print(f"operator     pid {operator.pid}, {operator.url}, log {log}")
            manifest = examples_for(f"{repository.url}/")
            expected = manifest.count("kind: HelmRelease")
            started = time.monotonic()
            await kubectl(env, "apply", "-f", "-", stdin=manifest)
            ready = await show_progress(api.url, expected, started, stop)
            if stop.is_set():
                print("stopping...", flush=True)
                return 0
            if not ready:
                print(
                    f"not every release became Ready within {READY_TIMEOUT:.0f}s; see {log}",
                    file=sys.stderr,
                )
                return 1
            print(
                f"\nall {expected} releases Ready in {time.monotonic() - started:.1f}s. Try:\n"
                f"  export KUBECONFIG={kubeconfig}\n"
                f"  {kubectl_bin()} get helmreleases-all -A\n"
                f"  {helm_bin()} list -A\n"
                f"  curl -s {operator.url}/metrics | grep ^helmrelease_\n"
                f"Edit a HelmRelease (kubectl edit fhr rabbit) to watch it upgrade. "
                f"Ctrl-C stops everything.",
                flush=True,
            )
            await stop.wait()
            print("stopping...", flush=True)
    return 0


async def existing_cluster() -> int:
    stop = stop_on_signals()
    kubeconfig = os.environ.get("KUBECONFIG")
    if not kubeconfig:
        print("make run CLUSTER=existing needs KUBECONFIG pointing at the cluster", file=sys.stderr)
        return 2
    RUN_DIR.mkdir(exist_ok=True)
    await register_crds(Path(kubeconfig))
    async with operator_on(Path(kubeconfig)) as operator:
        print(
            f"operator running against {kubeconfig} (pid {operator.pid}, {operator.url}, "
            f"log {operator.log_path}); Ctrl-C stops it.",
            flush=True,
        )
        waiter = asyncio.create_task(stop.wait())
        exited = asyncio.create_task(operator.exited())
        await asyncio.wait({waiter, exited}, return_when=asyncio.FIRST_COMPLETED)
        waiter.cancel()
    await exited  # ended by the block's SIGTERM if still running
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cluster", choices=["embedded", "existing"], default="embedded")
    args = parser.parse_args()
    return asyncio.run(existing_cluster() if args.cluster == "existing" else demo())


if __name__ == "__main__":
    sys.exit(main())
