"""WORKERS=2 runs two full instances on one port (the real CLI, as `make run` starts it)."""

import asyncio
import subprocess
from pathlib import Path

import httpx

from tests.postgres import fresh_database
from tests.support.served import served


def children(pid: int) -> list[int]:
    found = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True, check=False)
    return [int(p) for p in found.stdout.split()]


async def test_two_workers_serve_one_port(postgres_server_url: str, tmp_path: Path) -> None:
    async with (
        fresh_database(postgres_server_url, prefix="saasllm_workers") as url,
        served(url, tmp_path, WORKERS="2") as server,
        httpx.AsyncClient(base_url=server.url, timeout=2) as http,
    ):
        answers = await asyncio.gather(*(http.get("/api/setup/status") for _ in range(20)))
        assert {r.status_code for r in answers} == {200}
        assert len(children(server.process.pid)) >= 2  # uvicorn's two worker processes
