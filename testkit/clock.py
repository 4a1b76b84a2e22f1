"""A clock for code that takes one (``clock=``): time moves only when a test says so."""

from __future__ import annotations


class FakeClock:
    """A monotonic clock the test moves forward by hand."""

    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds
