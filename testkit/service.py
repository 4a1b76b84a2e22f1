"""Something a test, benchmark or the demo starts for the length of an ``async with`` block."""

from __future__ import annotations

import abc
from types import TracebackType
from typing import Self


class Service(abc.ABC):
    """``async with`` runs ``start``, and ``end`` when the block ends or ``start`` fails."""

    @abc.abstractmethod
    async def start(self) -> None:
        """Get it going."""

    @abc.abstractmethod
    async def end(self) -> None:
        """Stop whatever ``start`` got going (safe to call when nothing is running)."""

    async def __aenter__(self) -> Self:
        try:
            await self.start()
        except BaseException:
            await self.end()
            raise
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.end()
