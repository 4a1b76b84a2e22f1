"""A prober in a process of its own: ``python -m bench.probe URL EVERY``.

GETs ``URL`` every ``EVERY`` seconds over one keep-alive connection until its standard
input closes, then prints the longest answer in seconds. Its own process, so that what it
measures is the server's answer alone: a prober on the bench's event loop would also
count the time that loop spends serving the in-memory API server and the chart
repository.
"""

from __future__ import annotations

import http.client
import select
import sys
import time
import urllib.parse


def longest_answer(url: str, every: float) -> float:
    parts = urllib.parse.urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=60)
    worst = 0.0
    try:
        while True:
            started = time.monotonic()
            connection.request("GET", parts.path or "/")
            with connection.getresponse() as response:
                response.read()
            worst = max(worst, time.monotonic() - started)
            readable, _, _ = select.select([sys.stdin], [], [], every)
            if readable and not sys.stdin.buffer.read1(4096):
                return worst
    finally:
        connection.close()


if __name__ == "__main__":
    print(longest_answer(sys.argv[1], float(sys.argv[2])), flush=True)
