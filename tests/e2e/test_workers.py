"""WORKERS=2 runs two full instances on one port (the real CLI, as `make run` starts it)."""

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx

from tests.e2e.conftest import free_port
from tests.postgres import fresh_database


def children(pid: int) -> list[int]:
    found = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True, check=False)
    return [int(p) for p in found.stdout.split()]


async def test_two_workers_serve_one_port(postgres_server_url: str, tmp_path: Path) -> None:
    port = free_port()
    async with fresh_database(postgres_server_url, prefix="saasllm_workers") as url:
        env = {**os.environ, "DATABASE_URL": url, "PORT": str(port), "WORKERS": "2", "DATA_DIR": str(tmp_path)}
        command = [sys.executable, "-m", "entrypoints.cli", "serve"]
        server = subprocess.Popen(command, env=env, start_new_session=True)  # noqa: ASYNC220 - our own CLI
        try:
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=2) as http:
                for _ in range(300):
                    try:
                        if (await http.get("/health/db")).status_code == 200:
                            break
                    except httpx.TransportError:
                        pass
                    await asyncio.sleep(0.1)
                answers = await asyncio.gather(*(http.get("/api/setup/status") for _ in range(20)))
            assert {r.status_code for r in answers} == {200}
            assert len(children(server.pid)) >= 2  # uvicorn's two worker processes
        finally:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(timeout=30)
