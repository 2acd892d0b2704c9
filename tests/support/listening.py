"""A throwaway TCP server on a free local port (webhook receivers and the like)."""

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


@asynccontextmanager
async def listening(handle: Handler, path: str = "/hook") -> AsyncIterator[str]:
    """Runs ``handle`` for each connection; yields the URL of ``path`` on it. Handlers still
    running when the block ends (a receiver told to hang) are cancelled."""
    running: set[asyncio.Task[Any]] = set()

    async def tracked(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        running.add(task)
        try:
            await handle(reader, writer)
        finally:
            running.discard(task)

    server = await asyncio.start_server(tracked, "127.0.0.1", 0)
    try:
        yield f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}{path}"
    finally:
        server.close()
        for task in list(running):
            task.cancel()
