"""`saasllm serve` as its own process, the way `make run` starts it."""

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import httpx

from tests.e2e.conftest import free_port


@dataclass(frozen=True)
class ServedProcess:
    process: "subprocess.Popen[bytes]"
    port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@asynccontextmanager
async def served(
    database_url: str, data_dir: Path, *, output: IO[bytes] | None = None, **env: str
) -> AsyncIterator[ServedProcess]:
    """The CLI's server on a free port, once ``/health/db`` answers; stopped with SIGTERM after."""
    port = free_port()
    full = {**os.environ, "DATABASE_URL": database_url, "PORT": str(port), "DATA_DIR": str(data_dir), **env}
    process = subprocess.Popen(  # noqa: ASYNC220 - our own CLI, started once
        [sys.executable, "-m", "entrypoints.cli", "serve"],
        env=full,
        stdout=output,
        stderr=subprocess.STDOUT if output is not None else None,
        start_new_session=True,
    )
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=2) as http:
            for _ in range(300):
                try:
                    if (await http.get("/health/db")).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.1)
        yield ServedProcess(process=process, port=port)
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)
