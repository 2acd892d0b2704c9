"""Making races happen on purpose: pause a unit of work right after one repository read.

A lost update needs one transaction to read, another to commit, and the first to write
what it read. Left to the scheduler that interleaving is rare; these helpers force it so
a test fails every time on code that is not safe, not once in a while.
"""

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import Any

from application.ports.unit_of_work import UnitOfWork, UnitOfWorkFactory

Gate = Callable[[], Awaitable[None]]


class Rendezvous:
    """A gate that opens once ``parties`` callers reached it, or after ``timeout_s`` for each.

    The timeout is what lets correct code through: when a lock keeps the other party from
    arriving, the first one goes on alone after ``timeout_s``.
    """

    def __init__(self, parties: int, *, timeout_s: float = 0.5) -> None:
        self._parties = parties
        self._timeout_s = timeout_s
        self._arrived = 0
        self._open = asyncio.Event()

    async def __call__(self) -> None:
        self._arrived += 1
        if self._arrived >= self._parties:
            self._open.set()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._open.wait(), self._timeout_s)


class Until:
    """A gate that stays shut until ``open()`` (at most ``timeout_s``, so a bug cannot hang a test)."""

    def __init__(self, *, timeout_s: float = 10.0) -> None:
        self._timeout_s = timeout_s
        self._open = asyncio.Event()
        self.reached = asyncio.Event()

    def open(self) -> None:
        self._open.set()

    async def __call__(self) -> None:
        self.reached.set()
        await asyncio.wait_for(self._open.wait(), self._timeout_s)


def pause_after(factory: UnitOfWorkFactory, repository: str, method: str, gate: Gate) -> UnitOfWorkFactory:
    """Units of work whose ``repository.method`` awaits ``gate`` after it returned."""

    def make() -> UnitOfWork:
        uow = factory()
        repo = getattr(uow, repository)
        original = getattr(repo, method)

        async def paused(*args: Any, **kwargs: Any) -> Any:
            result = await original(*args, **kwargs)
            await gate()
            return result

        setattr(repo, method, paused)
        return uow

    return make
