"""Fault injection and the audit log: how tests make the server misbehave and see what it got."""

from __future__ import annotations

import itertools
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from typing import overload

from .errors import Status
from .requestinfo import RequestInfo
from .store import Store
from .watch import WatchHub

_REASONS = {
    400: "BadRequest",
    403: "Forbidden",
    404: "NotFound",
    409: "Conflict",
    410: "Expired",
    422: "Invalid",
    429: "TooManyRequests",
    500: "InternalError",
    503: "ServiceUnavailable",
    504: "Timeout",
}


@dataclass(frozen=True)
class InjectedFailure:
    """The answer a failed request gets instead of being handled."""

    status: Status
    retry_after: int | None


@dataclass
class _FailRule:
    remaining: int
    verb: str
    resource: str
    failure: InjectedFailure

    def matches(self, info: RequestInfo) -> bool:
        return self.verb in ("*", info.verb) and self.resource in ("*", info.resource)


class Faults:
    """Controls on a running server: cut watches, compact history, fail or slow requests."""

    def __init__(self, store: Store, hub: WatchHub) -> None:
        self._store = store
        self._hub = hub
        self._rules: list[_FailRule] = []
        self.latency_seconds = 0.0

    def cut_watches(self) -> None:
        """Close every open watch stream now (clients see a clean end of stream)."""
        self._hub.cut_all()

    def compact(self) -> None:
        """Drop the event history: the next watch from an older resourceVersion gets 410."""
        self._store.compact()

    def fail_next(
        self,
        n: int,
        verb: str = "*",
        resource: str = "*",
        status: int = 500,
        retry_after: int | None = None,
    ) -> None:
        """Fail the next ``n`` requests matching verb and resource ("*" matches any)."""
        reason = _REASONS.get(status, "InternalError")
        failure = InjectedFailure(
            Status(status, reason, f"injected failure ({status} {reason})"), retry_after
        )
        self._rules.append(_FailRule(n, verb, resource, failure))

    def latency(self, seconds: float) -> None:
        """Delay every request by ``seconds`` before it is handled (0 turns it off)."""
        self.latency_seconds = max(0.0, seconds)

    def take_failure(self, info: RequestInfo) -> InjectedFailure | None:
        for rule in self._rules:
            if rule.remaining > 0 and rule.matches(info):
                rule.remaining -= 1
                if rule.remaining == 0:
                    self._rules.remove(rule)
                return rule.failure
        return None


@dataclass(frozen=True, slots=True)
class AuditRecord:
    """One handled request."""

    time: float
    verb: str
    resource: str
    namespace: str | None
    name: str | None
    subresource: str | None
    user_agent: str
    field_manager: str | None
    code: int
    path: str


DEFAULT_AUDIT_LIMIT = 200_000
"""Records an AuditLog keeps: about 90 MB at most, and four times what the largest benchmark
reads from one server (1,000 releases converging, then resynced and changed 200 times: about
50,000 requests)."""


class AuditOverflow(LookupError):
    """A read asked for records the bounded audit log has already dropped."""


class AuditLog:
    """The last ``limit`` requests the server answered, oldest first, indexed from the first
    request ever recorded.

    ``len()`` counts every request since the server started, dropped or kept, so a reader can
    note ``len(audit)`` and later read ``audit[start:]``: indices and slices are absolute, and
    so is ``total``. A read that reaches a record already dropped (a slice starting before
    ``first``, or iterating the whole log once it has dropped anything) raises AuditOverflow
    instead of answering with part of what was asked; ``find`` looks at the kept records only.
    """

    def __init__(self, limit: int = DEFAULT_AUDIT_LIMIT) -> None:
        if limit < 1:
            raise ValueError(f"an audit log keeps at least one record, not {limit}")
        self.limit = limit
        self._kept: deque[AuditRecord] = deque(maxlen=limit)
        self._total = 0

    @property
    def total(self) -> int:
        """Requests recorded since the server started (kept or dropped)."""
        return self._total

    @property
    def first(self) -> int:
        """The index of the oldest record still kept (how many were dropped)."""
        return self._total - len(self._kept)

    def record(
        self, info: RequestInfo, user_agent: str, field_manager: str | None, code: int
    ) -> None:
        self._kept.append(
            AuditRecord(
                time=time.time(),
                verb=info.verb,
                resource=info.resource,
                namespace=info.namespace,
                name=info.name,
                subresource=info.subresource,
                user_agent=user_agent,
                field_manager=field_manager,
                code=code,
                path=info.path,
            )
        )
        self._total += 1

    def __len__(self) -> int:
        return self._total

    def __iter__(self) -> Iterator[AuditRecord]:
        """Every record since the server started; AuditOverflow once some were dropped."""
        self._require(0)
        return iter(list(self._kept))

    @overload
    def __getitem__(self, index: int) -> AuditRecord: ...
    @overload
    def __getitem__(self, index: slice) -> list[AuditRecord]: ...
    def __getitem__(self, index: int | slice) -> AuditRecord | list[AuditRecord]:
        if isinstance(index, slice):
            positions = range(*index.indices(self._total))
            if not positions:
                return []
            self._require(min(positions[0], positions[-1]))
            first = self.first
            if positions.step == 1:
                return list(
                    itertools.islice(self._kept, positions.start - first, positions.stop - first)
                )
            return [self._kept[position - first] for position in positions]
        position = index + self._total if index < 0 else index
        if not 0 <= position < self._total:
            raise IndexError("audit log index out of range")
        self._require(position)
        return self._kept[position - self.first]

    def _require(self, index: int) -> None:
        if index < self.first:
            raise AuditOverflow(
                f"audit record {index} was dropped: the log keeps the last {self.limit} of "
                f"{self._total} requests (records {self.first} on); raise its limit"
            )

    def find(
        self,
        *,
        verb: str | None = None,
        resource: str | None = None,
        namespace: str | None = None,
        name: str | None = None,
        subresource: str | None = None,
        user_agent_contains: str | None = None,
        field_manager: str | None = None,
        code: int | None = None,
    ) -> list[AuditRecord]:
        """Kept records matching every given criterion."""
        wanted = {
            "verb": verb,
            "resource": resource,
            "namespace": namespace,
            "name": name,
            "subresource": subresource,
            "field_manager": field_manager,
            "code": code,
        }
        return [
            record
            for record in self._kept
            if all(v is None or getattr(record, k) == v for k, v in wanted.items())
            and (user_agent_contains is None or user_agent_contains in record.user_agent)
        ]
