"""What one reconcile tells the work queue to do next with its key."""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Next(enum.Enum):
    # converged (or nothing to do): forget backoff, come back at the resync interval
    RESYNC = "resync"  # ``after``: the HelmRelease's own interval, if it has one
    RETRY = "retry"  # failed: come back after the key's exponential backoff
    REQUEUE = "requeue"  # waiting on something: come back after `after` seconds, backoff untouched
    FORGET = "forget"  # the object is gone: drop the key entirely


@dataclass(frozen=True)
class Outcome:
    next: Next
    after: float | None = None

    @classmethod
    def resync(cls, interval: float | None = None) -> Outcome:
        return cls(Next.RESYNC, interval)

    @classmethod
    def retry(cls) -> Outcome:
        return cls(Next.RETRY)

    @classmethod
    def requeue(cls, after: float) -> Outcome:
        return cls(Next.REQUEUE, after)

    @classmethod
    def forget(cls) -> Outcome:
        return cls(Next.FORGET)
