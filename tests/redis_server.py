"""A Redis for the tests: the one at 127.0.0.1:6379 when it answers, else a ``redis-server``
the test starts itself on a free port (and stops); skipped only when neither exists."""

import asyncio
import contextlib
import shutil
import socket
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest

DEFAULT = ("127.0.0.1", 6379)


def answers(host: str, port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=0.2) as conn:
        conn.sendall(b"PING\r\n")
        return conn.recv(16).startswith(b"+PONG")
    return False


@asynccontextmanager
async def started_redis() -> AsyncIterator[str]:
    """A private ``redis-server`` (no persistence) for as long as the context lasts."""
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("no Redis at 127.0.0.1:6379 and no redis-server binary to start one")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    with tempfile.TemporaryDirectory(prefix="saasllm-test-redis-") as workdir:
        process = await asyncio.create_subprocess_exec(
            binary,
            *("--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", workdir),
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )
        try:
            for _ in range(100):
                if answers("127.0.0.1", port):
                    break
                await asyncio.sleep(0.05)
            else:
                pytest.fail("the redis-server started for the tests did not answer")
            yield f"redis://127.0.0.1:{port}/0"
        finally:
            process.terminate()
            await process.wait()


@asynccontextmanager
async def redis_url() -> AsyncIterator[str]:
    if answers(*DEFAULT):
        yield f"redis://{DEFAULT[0]}:{DEFAULT[1]}/0"
        return
    async with started_redis() as url:
        yield url
