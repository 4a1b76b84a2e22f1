"""The audit log is bounded: the last N requests, indexed from the first one ever recorded.

Covers the ring itself (``len`` counting every request, absolute indices and slices over the
records kept, AuditOverflow for a read reaching a dropped record, ``find`` over the kept ones),
a server keeping the last ``audit_limit`` requests while a reader slices from a position it
noted (as the benchmarks do), the default limit and ``python -m apiserver --audit-limit``.
"""

from __future__ import annotations

from collections.abc import Callable

import aiohttp
import pytest
from apitesting import Client

from apiserver import ApiServer
from apiserver.__main__ import parse_args
from apiserver.faults import DEFAULT_AUDIT_LIMIT, AuditLog, AuditOverflow, AuditRecord
from apiserver.requestinfo import parse_request_info

CM = "/api/v1/namespaces/default/configmaps"


def filled(limit: int, names: list[str]) -> AuditLog:
    """An audit log of ``limit`` records that has recorded a GET of each ConfigMap in turn."""
    log = AuditLog(limit)
    for name in names:
        log.record(parse_request_info("GET", f"{CM}/{name}", {}), "test", None, 200)
    return log


def names(records: list[AuditRecord]) -> list[str | None]:
    return [record.name for record in records]


def test_the_log_keeps_the_last_records_and_counts_them_all() -> None:
    log = filled(3, ["a", "b", "c", "d", "e"])
    assert (len(log), log.total, log.first, log.limit) == (5, 5, 2, 3)
    assert names(log.find(verb="get")) == ["c", "d", "e"]
    assert names(log[2:]) == ["c", "d", "e"]
    assert names(log[3:]) == ["d", "e"]
    assert names(log[2:4]) == ["c", "d"]
    assert names(log[4:2:-1]) == ["e", "d"]
    assert log[5:] == []
    assert names([log[2], log[-1]]) == ["c", "e"]


@pytest.mark.parametrize(
    "read",
    [
        lambda log: log[1:],
        lambda log: log[0],
        lambda log: log[-4],
        lambda log: list(log),
        lambda log: log[:3],
    ],
    ids=["slice-from-dropped", "index-dropped", "negative-dropped", "iterate-all", "slice-to"],
)
def test_a_read_reaching_a_dropped_record_fails_instead_of_miscounting(
    read: Callable[[AuditLog], object],
) -> None:
    log = filled(3, ["a", "b", "c", "d", "e"])
    with pytest.raises(
        AuditOverflow, match=r"audit record \d was dropped: the log keeps the last 3"
    ):
        read(log)


def test_nothing_dropped_reads_like_a_list() -> None:
    log = filled(10, ["a", "b", "c"])
    assert names(list(log)) == ["a", "b", "c"]
    assert names(log[:]) == ["a", "b", "c"]
    with pytest.raises(IndexError):
        log[3]


def test_a_log_keeps_at_least_one_record() -> None:
    with pytest.raises(ValueError, match="at least one record"):
        AuditLog(0)


async def test_a_server_keeps_its_last_requests_and_slices_from_a_noted_position() -> None:
    async with ApiServer(audit_limit=4) as api, aiohttp.ClientSession() as session:
        client = Client(session, api.url)
        for index in range(6):
            await client.get(f"{CM}/before-{index}")
        noted = len(api.audit)
        for index in range(3):
            await client.get(f"{CM}/after-{index}")
        assert (len(api.audit), api.audit.first) == (9, 5)
        assert names(api.audit[noted:]) == ["after-0", "after-1", "after-2"]
        assert len(api.audit.find(code=404)) == 4
        with pytest.raises(AuditOverflow):
            api.audit[noted - 2 :]


def test_the_default_limit_and_the_command_line() -> None:
    assert ApiServer().audit.limit == DEFAULT_AUDIT_LIMIT == 200_000
    assert parse_args(["--kubeconfig", "k"]).audit_limit == DEFAULT_AUDIT_LIMIT
    assert parse_args(["--kubeconfig", "k", "--audit-limit", "7"]).audit_limit == 7
