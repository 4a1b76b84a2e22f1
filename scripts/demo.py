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
import contextlib
import os
import signal
import socket
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from apiserver.server import ApiServer, serve_directory  # noqa: E402

RUN_DIR = ROOT / ".run"
CHARTS = ROOT / "tests" / "data" / "charts"
EXAMPLES = ROOT / "examples"
CRDS = ROOT / "manifests" / "crds"
READY_TIMEOUT = 300.0
TOOLS = ROOT / ".tools" / "bin"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def client_env(kubeconfig: Path) -> dict[str, str]:
    """Environment for kubectl/helm: the demo's kubeconfig and private caches."""
    return {
        **os.environ,
        "PATH": f"{TOOLS}{os.pathsep}{os.environ.get('PATH', '')}",
        "KUBECONFIG": str(kubeconfig),
        "KUBECACHEDIR": str(RUN_DIR / "kube-cache"),
        "HELM_CACHE_HOME": str(RUN_DIR / "helm" / "cache"),
        "HELM_CONFIG_HOME": str(RUN_DIR / "helm" / "config"),
        "HELM_DATA_HOME": str(RUN_DIR / "helm" / "data"),
    }


async def kubectl(env: dict[str, str], *args: str, stdin: bytes | None = None) -> str:
    binary = os.environ.get("KUBECTL_BIN", str(TOOLS / "kubectl"))
    proc = await asyncio.create_subprocess_exec(
        binary,
        *args,
        env=env,
        stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(stdin), timeout=60)
    if proc.returncode != 0:
        raise RuntimeError(f"kubectl {' '.join(args)} failed: {err.decode().strip()}")
    return out.decode()


def examples_for(repository: str) -> bytes:
    """The example HelmReleases with their chart repository pointed at the local one."""
    documents: list[Any] = []
    for path in sorted(EXAMPLES.glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if isinstance(doc, dict) and doc.get("kind") == "HelmRelease":
                doc["spec"]["chart"]["repository"] = repository
                documents.append(doc)
    return yaml.safe_dump_all(documents).encode()


@contextlib.asynccontextmanager
async def operator_process(
    kubeconfig: Path | None, listen: str, log_path: Path
) -> AsyncIterator[asyncio.subprocess.Process]:
    args = [
        sys.executable,
        "-m",
        "controller",
        "run",
        "--listen",
        listen,
        "--workers",
        "4",
        "--chart-cache-dir",
        str(RUN_DIR / "chart-cache"),
        "--no-leader-election",
        "--helm-bin",
        os.environ.get("HELM_BIN", str(TOOLS / "helm")),
    ]
    if kubeconfig is not None:
        args += ["--kubeconfig", str(kubeconfig)]
    env = dict(os.environ)
    with log_path.open("ab") as log:
        proc = await asyncio.create_subprocess_exec(
            *args, env=env, stdin=asyncio.subprocess.DEVNULL, stdout=log, stderr=log
        )
    try:
        yield proc
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(proc.wait(), timeout=70)
            except TimeoutError:
                proc.kill()
                await proc.wait()


def release_row(hr: dict[str, Any]) -> tuple[str, str, str, str]:
    status = hr.get("status", {})
    ready = next((c for c in status.get("conditions", []) if c.get("type") == "Ready"), {})
    name = f"{hr['metadata']['namespace']}/{hr['metadata']['name']}"
    return (
        name,
        str(status.get("phase", "Pending")),
        str(status.get("revision", "-")),
        "Ready" if ready.get("status") == "True" else str(ready.get("reason", "waiting")),
    )


async def show_progress(api_url: str, expected: int, started: float, stop: asyncio.Event) -> bool:
    """Print a line whenever a release changes; True once every release is Ready."""
    seen: dict[str, tuple[str, str, str, str]] = {}
    deadline = started + READY_TIMEOUT
    async with aiohttp.ClientSession() as session:
        while time.monotonic() < deadline and not stop.is_set():
            async with session.get(f"{api_url}/apis/flux.weave.works/v1beta1/helmreleases") as r:
                items = (await r.json())["items"]
            for hr in items:
                row = release_row(hr)
                if seen.get(row[0]) != row:
                    seen[row[0]] = row
                    elapsed = time.monotonic() - started
                    print(
                        f"[{elapsed:6.1f}s] {row[0]:<32} phase={row[1]:<12} "
                        f"revision={row[2]:<3} {row[3]}",
                        flush=True,
                    )
            if len(items) >= expected and all(r[3] == "Ready" for r in seen.values()):
                return True
            await asyncio.sleep(0.5)  # display refresh, not synchronisation
    return False


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
    log_path = RUN_DIR / "operator.log"
    metrics_port = free_port()
    async with ApiServer(simulate=True) as api, serve_directory(CHARTS) as repo_url:
        await api.write_kubeconfig(kubeconfig)
        env = client_env(kubeconfig)
        print(f"API server   {api.url}  (kubeconfig {kubeconfig.relative_to(ROOT)})")
        print(f"chart repo   {repo_url}/")
        await kubectl(env, "apply", "-f", str(CRDS))
        await kubectl(
            env,
            "wait",
            "--for=condition=Established",
            "--timeout=30s",
            "crd/helmreleases.flux.weave.works",
        )
        async with operator_process(kubeconfig, f"127.0.0.1:{metrics_port}", log_path) as proc:
            print(f"operator     pid {proc.pid}, log {log_path.relative_to(ROOT)}")
            manifest = examples_for(f"{repo_url}/")
            expected = manifest.count(b"kind: HelmRelease")
            started = time.monotonic()
            await kubectl(env, "apply", "-f", "-", stdin=manifest)
            ready = await show_progress(api.url, expected, started, stop)
            if stop.is_set():
                print("stopping...", flush=True)
                return 0
            if not ready:
                print(
                    f"not every release became Ready within {READY_TIMEOUT:.0f}s; "
                    f"see {log_path.relative_to(ROOT)}",
                    file=sys.stderr,
                )
                return 1
            print(
                f"\nall {expected} releases Ready in {time.monotonic() - started:.1f}s. Try:\n"
                f"  export KUBECONFIG={kubeconfig}\n"
                f"  {TOOLS / 'kubectl'} get hr -A\n"
                f"  {TOOLS / 'helm'} list -A\n"
                f"  curl -s http://127.0.0.1:{metrics_port}/metrics | grep ^helmrelease_\n"
                f"Edit a HelmRelease (kubectl edit hr rabbit) to watch it upgrade. "
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
    env = {**os.environ, "PATH": f"{TOOLS}{os.pathsep}{os.environ.get('PATH', '')}"}
    await kubectl(env, "apply", "-f", str(CRDS))
    log_path = RUN_DIR / "operator.log"
    async with operator_process(Path(kubeconfig), "127.0.0.1:8080", log_path) as proc:
        print(
            f"operator running against {kubeconfig} (pid {proc.pid}, log {log_path}); "
            "Ctrl-C stops it.",
            flush=True,
        )
        waiter = asyncio.create_task(stop.wait())
        exited = asyncio.create_task(proc.wait())
        await asyncio.wait({waiter, exited}, return_when=asyncio.FIRST_COMPLETED)
        for task in (waiter, exited):
            task.cancel()
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cluster", choices=["embedded", "existing"], default="embedded")
    args = parser.parse_args()
    return asyncio.run(existing_cluster() if args.cluster == "existing" else demo())


if __name__ == "__main__":
    sys.exit(main())
