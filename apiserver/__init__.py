"""An in-memory Kubernetes API server for tests, benchmarks and the local demo.

Faithful enough for the real helm 3/4 and kubectl binaries and for
kubernetes-asyncio; the operator itself never imports it. A request flows
``server`` (listener, audit and fault middlewares) -> ``routes`` (decoding,
patches, admission) -> ``store`` (objects, resourceVersions, event history) ->
``watch`` (fan-out to open watches). ``crds`` serves the kinds of stored CRDs,
``events`` serves one Event at core/v1 and events.k8s.io/v1, ``printers`` prints
the built-in kinds' Tables, ``discovery`` describes what is served, ``rbac`` authorizes
impersonated requests, ``lists`` reads LIST options (resourceVersion semantics, paging),
``immutable`` refuses the updates a real server refuses, ``gc`` collects dependents by
ownerReferences (background, foreground, orphan), ``simulate`` plays the workload
controllers and ``faults`` makes the server misbehave on purpose (and keeps the audit
log, bounded).

    async with ApiServer(simulate=True) as api:
        await api.write_kubeconfig(path)
"""

from .server import ApiServer

__all__ = ["ApiServer"]
