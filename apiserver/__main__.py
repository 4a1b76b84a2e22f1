"""Run the in-memory API server: ``python -m apiserver --kubeconfig PATH``.

Writes a kubeconfig for the server to PATH once it listens, prints its URL on one
line, and serves until SIGINT or SIGTERM (exit status 0).
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys

from .faults import DEFAULT_AUDIT_LIMIT
from .server import ApiServer


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m apiserver", description="In-memory Kubernetes API server"
    )
    parser.add_argument("--kubeconfig", required=True, help="where to write a kubeconfig for it")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int, default=0, help="port (a free one when omitted)")
    parser.add_argument(
        "--no-simulate",
        action="store_true",
        help="do not simulate workload controllers (statuses stay empty)",
    )
    parser.add_argument(
        "--simulate-delay",
        type=float,
        default=0.5,
        help="seconds before a changed workload becomes ready",
    )
    parser.add_argument(
        "--audit-limit",
        type=int,
        default=DEFAULT_AUDIT_LIMIT,
        help="requests the audit log keeps (the oldest are dropped)",
    )
    return parser.parse_args(argv)


async def serve(args: argparse.Namespace) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    async with ApiServer(
        host=args.host,
        port=args.port,
        simulate=not args.no_simulate,
        simulate_delay=args.simulate_delay,
        audit_limit=args.audit_limit,
    ) as api:
        await api.write_kubeconfig(args.kubeconfig)
        print(api.url, flush=True)
        await stop.wait()


def main(argv: list[str] | None = None) -> int:
    asyncio.run(serve(parse_args(sys.argv[1:] if argv is None else argv)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
