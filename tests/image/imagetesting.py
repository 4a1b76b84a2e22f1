"""Harness of the image test: the image built by ``scripts/build-image`` (buildah), run by
podman as ``manifests/base/deployment.yaml`` runs it in a cluster.

``podman_run_argv`` turns the Deployment's operator container into ``podman run``
arguments: its args (``$(VAR)`` expanded from its env), its env, its security context
(user and groups, read-only root, capabilities, privilege escalation), its resource limits
and, as the only writable paths, its emptyDirs (directories as the kubelet makes them, their
sizeLimit left to eviction as in a cluster). What a pod has and a lone container does not
is replaced, and nothing else: the in-cluster API access by a kubeconfig mounted read-only,
the pod network by the host's (the API server, the chart repository and /metrics are on
loopback), ``fieldRef`` values by the container's name and the Deployment's namespace.
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import os
import platform
import re
import resource
import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from testkit import ROOT, ChildProcess, Completed, OperatorProcess

PODMAN = ("podman", "--runtime", "runc", "--cgroup-manager", "cgroupfs")
"""runc (crun may not cope with a host's cgroups) and cgroupfs (no systemd needed)."""
TOOLS = ("buildah", "podman", "runc")
DEPLOYMENT = ROOT / "manifests" / "base" / "deployment.yaml"
KUBECONFIG_IN_CONTAINER = "/etc/helmrelease-operator/kubeconfig"
BUILD_LIMIT = 1800.0
"""Seconds the image build may take (the base from Debian's packages included): only bounds
a failure."""
PROCESSES_LIMIT = 4096
"""The container's process limit: far above what the operator and its helm and kubectl
processes use."""
QUANTITY_SUFFIXES = {
    "Ki": 1 << 10,
    "Mi": 1 << 20,
    "Gi": 1 << 30,
    "k": 10**3,
    "M": 10**6,
    "G": 10**9,
}


def missing_tools() -> list[str]:
    return [tool for tool in TOOLS if shutil.which(tool) is None]


def skip_reason() -> str | None:
    """Why the image test cannot run here, or None."""
    if platform.machine().lower() not in ("x86_64", "amd64"):
        return "the image holds the pinned x86_64 helm and kubectl: it is built on x86_64 only"
    if os.geteuid() != 0:
        return "the image test runs buildah and podman as root (rootless podman is not modelled)"
    missing = missing_tools()
    if missing:
        return (
            f"{', '.join(missing)} not installed (make test installs the Debian packages "
            "buildah, podman and runc when it runs as root)"
        )
    return None


def build_image(tag: str, log: Path) -> None:
    """``scripts/build-image`` with buildah (podman runs what it builds), logged to ``log``."""
    argv = ("bash", str(ROOT / "scripts" / "build-image"), "--builder", "buildah", "--tag", tag)
    with log.open("wb") as out:
        done = subprocess.run(
            argv, cwd=ROOT, stdin=subprocess.DEVNULL, stdout=out, stderr=out, timeout=BUILD_LIMIT
        )
    if done.returncode != 0:
        tail = log.read_text(errors="replace")[-4000:]
        raise AssertionError(f"scripts/build-image failed ({done.returncode}):\n{tail}")


def podman(*args: str, timeout: float = 120.0, check: bool = True) -> Completed:
    """``podman ARGS`` to its end; unless ``check`` is false, failing unless it exits 0."""
    done = subprocess.run(
        [*PODMAN, *args], capture_output=True, text=True, timeout=timeout, check=False
    )
    completed = Completed(tuple(done.args), done.returncode, done.stdout, done.stderr)
    return completed.check() if check else completed


def image_config(tag: str) -> dict[str, Any]:
    """The image's size and config, as ``podman image inspect`` shows them."""
    inspected: list[dict[str, Any]] = podman("image", "inspect", tag).json()
    return inspected[0]


def install_tools() -> Any:
    """``scripts/install-tools`` as a module: its ``BINARIES`` are what the image must hold."""
    name = "install_tools"
    loader = importlib.machinery.SourceFileLoader(name, str(ROOT / "scripts" / "install-tools"))
    spec = importlib.util.spec_from_loader(name, loader)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # its dataclasses look their module up while it loads
    try:
        loader.exec_module(module)
    finally:
        del sys.modules[name]
    return module


# --- the Deployment as podman arguments -----------------------------------------------------


def deployment() -> dict[str, Any]:
    manifest: dict[str, Any] = yaml.safe_load(DEPLOYMENT.read_text())
    return manifest


def operator_container(manifest: Mapping[str, Any]) -> dict[str, Any]:
    containers = manifest["spec"]["template"]["spec"]["containers"]
    found: dict[str, Any] = next(c for c in containers if c["name"] == "operator")
    return found


def grace_period(manifest: Mapping[str, Any]) -> int:
    """The pod's terminationGracePeriodSeconds: SIGTERM to SIGKILL."""
    return int(manifest["spec"]["template"]["spec"]["terminationGracePeriodSeconds"])


def quantity(text: str | int) -> float:
    """A Kubernetes quantity (``512Mi``, ``1``, ``500m``) as a number."""
    text = str(text)
    if text.endswith("m"):
        return float(text[:-1]) / 1000
    for suffix, factor in QUANTITY_SUFFIXES.items():
        if text.endswith(suffix):
            return float(text[: -len(suffix)]) * factor
    return float(text)


def expand(arg: str, env: Mapping[str, str]) -> str:
    """``$(VAR)`` of a container arg replaced as Kubernetes does (``$$`` escapes)."""

    def replace(found: re.Match[str]) -> str:
        if found[0].startswith("$$"):
            return found[0][1:]
        return env.get(found[1], found[0])

    return re.sub(r"\$\$?\(([A-Za-z_][A-Za-z0-9_]*)\)", replace, arg)


def ulimits() -> list[str]:
    """The caller's own open-files limit and ``PROCESSES_LIMIT``: podman's defaults are above
    what a caller without CAP_SYS_RESOURCE may grant, and the container would not start."""
    _, files = resource.getrlimit(resource.RLIMIT_NOFILE)
    files = 65536 if files == resource.RLIM_INFINITY else min(files, 65536)
    processes = f"{PROCESSES_LIMIT}:{PROCESSES_LIMIT}"
    return ["--ulimit", f"nofile={files}:{files}", "--ulimit", f"nproc={processes}"]


def empty_dir(path: Path, fs_group: int | None) -> Path:
    """A directory as the kubelet makes an emptyDir: owned by root, writable by all, and
    with an fsGroup, of that group with the set-group-ID bit. (Not a tmpfs: runc gives a
    tmpfs the owner and mode of the image's directory beneath it.)"""
    path.mkdir(parents=True)
    path.chmod(0o777)
    if fs_group is not None:
        os.chown(path, 0, fs_group)
        path.chmod(0o2777)
    return path


def podman_run_argv(
    manifest: Mapping[str, Any],
    *,
    name: str,
    image: str,
    kubeconfig: Path,
    volumes_dir: Path,
    flags: Sequence[str],
) -> list[str]:
    """``podman run`` (attached) of the Deployment's operator container, its emptyDirs in
    ``volumes_dir``; ``flags`` are added to its args (later flags win)."""
    pod = manifest["spec"]["template"]["spec"]
    container = operator_container(manifest)
    assert "command" not in container, "the Deployment runs the image's entrypoint"
    field_values = {"metadata.name": name, "metadata.namespace": manifest["metadata"]["namespace"]}
    env = {
        item["name"]: item["value"]
        if "value" in item
        else field_values[item["valueFrom"]["fieldRef"]["fieldPath"]]
        for item in container.get("env", [])
    }

    pod_security = pod.get("securityContext", {})
    security = {**pod_security, **container.get("securityContext", {})}
    assert security["runAsNonRoot"] is True
    assert security["runAsUser"] != 0
    argv = [f"--user={security['runAsUser']}:{security['runAsGroup']}"]
    if "fsGroup" in pod_security:
        argv.append(f"--group-add={pod_security['fsGroup']}")
    if security.get("readOnlyRootFilesystem"):
        # podman would add writable /tmp, /var/tmp and /run of its own: only mounts may be.
        argv += ["--read-only", "--read-only-tmpfs=false"]
    if security.get("allowPrivilegeEscalation") is False:
        argv.append("--security-opt=no-new-privileges")
    argv += [f"--cap-drop={cap}" for cap in security.get("capabilities", {}).get("drop", [])]
    argv += [f"--cap-add={cap}" for cap in security.get("capabilities", {}).get("add", [])]
    assert security.get("seccompProfile", {}).get("type") == "RuntimeDefault"  # podman's own

    limits = container.get("resources", {}).get("limits", {})
    if "memory" in limits:
        argv.append(f"--memory={int(quantity(limits['memory']))}b")
    if "cpu" in limits:
        argv.append(f"--cpus={quantity(limits['cpu'])}")

    volumes = {volume["name"]: volume for volume in pod.get("volumes", [])}
    for mount in container.get("volumeMounts", []):
        volume = volumes[mount["name"]]
        assert "emptyDir" in volume, f"only emptyDir volumes are modelled, not {volume}"
        directory = empty_dir(volumes_dir / volume["name"], pod_security.get("fsGroup"))
        argv.append(f"--volume={directory}:{mount['mountPath']}:rw")

    kubeconfig.chmod(0o644)  # readable by its user, as a service account token is
    args = [expand(arg, env) for arg in container.get("args", [])]
    return [
        *(*PODMAN, "run", f"--name={name}", "--network=host", "--pull=never"),
        *ulimits(),
        *argv,
        *(f"--env={key}={value}" for key, value in env.items()),
        f"--volume={kubeconfig}:{KUBECONFIG_IN_CONTAINER}:ro",
        image,
        *args,
        *("--kubeconfig", KUBECONFIG_IN_CONTAINER),
        *flags,
    ]


# --- the running container ------------------------------------------------------------------


class OperatorContainer(OperatorProcess):
    """The operator in the image, run attached by ``podman run`` (its output in ``log``).

    An ``OperatorProcess`` (its /metrics address read from the log, ``ready``, ``metrics``)
    whose process is the podman client: it exits with the container's exit status.
    ``remove`` removes the container, running or not.
    """

    def __init__(self, argv: Sequence[str], log: Path, *, name: str) -> None:
        ChildProcess.__init__(self, argv, log, env=dict(os.environ), name=name)
        self.url = None

    def exit_code(self) -> int:
        """The container's exit status, as podman recorded it."""
        return int(podman("inspect", "--format={{.State.ExitCode}}", self.name).stdout)

    def remove(self) -> None:
        podman("rm", "--force", "--time=0", self.name, check=False)
        self.terminate()  # the podman client, if still attached
