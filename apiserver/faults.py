"""Fault injection and the audit log: how tests make the server misbehave and see what it got."""

from __future__ import annotations

import time
from dataclasses import dataclass

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


@dataclass(frozen=True)
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


class AuditLog(list[AuditRecord]):
    """Every request the server answered, oldest first."""

    def record(
        self, info: RequestInfo, user_agent: str, field_manager: str | None, code: int
    ) -> None:
        self.append(
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
        """Records matching every given criterion."""
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
            for record in self
            if all(v is None or getattr(record, k) == v for k, v in wanted.items())
            and (user_agent_contains is None or user_agent_contains in record.user_agent)
        ]
