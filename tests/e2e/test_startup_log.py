"""What `make run` says when it starts: one JSON stream that ends with the API docs URL
and, while no owner exists, the exact command that creates one; generated secrets are
named with the file that keeps them, and that file is reused by the next start."""

import asyncio
import json
import os
import signal
import subprocess
from pathlib import Path
from typing import Any

from tests.e2e.admin_helpers import PASSWORD
from tests.e2e.conftest import free_port
from tests.postgres import fresh_database

ROOT = Path(__file__).resolve().parents[2]
SAASLLM = ".venv/bin/saasllm"  # as `make run` starts it, from the repository root


def text(path: Path) -> str:
    return path.read_text(encoding="utf-8")  # a few kilobytes: no need for a thread


async def start_log(env: dict[str, str], log_path: Path) -> list[dict[str, Any]]:
    """Start ``saasllm serve``, wait for its ``ready`` line (and what follows it), stop it."""
    with log_path.open("wb") as out:
        server = subprocess.Popen(  # noqa: ASYNC220 - our own CLI
            [SAASLLM, "serve"], cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
        try:
            for _ in range(600):
                if '"ready"' in text(log_path):
                    break
                assert server.poll() is None, text(log_path)
                await asyncio.sleep(0.1)
            await asyncio.sleep(0.5)  # the line after ``ready``, when there is one
        finally:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(timeout=30)
    records = [json.loads(line) for line in text(log_path).splitlines() if line.strip()]
    # What the start logs, up to its last line (stopping logs its own lines after it).
    last = max(i for i, r in enumerate(records) if r["event"] in {"ready", "next_step"})
    return records[: last + 1]


async def test_the_start_ends_with_the_docs_and_how_to_create_the_first_owner(
    postgres_server_url: str, tmp_path: Path
) -> None:
    data_dir = tmp_path / "data"
    async with fresh_database(postgres_server_url, prefix="saasllm_startlog") as url:
        port = free_port()
        env = {**os.environ, "DATABASE_URL": url, "PORT": str(port), "DATA_DIR": str(data_dir), "LOG_LEVEL": "INFO"}
        env.pop("JWT_SECRET", None)
        env.pop("FERNET_KEYS", None)
        first = await start_log(env, tmp_path / "first.log")

        ready, step = first[-2], first[-1]
        assert ready["event"] == "ready" and ready["api_docs"] == f"http://127.0.0.1:{port}/schema"
        assert step["event"] == "next_step"
        assert step["command"] == f"{SAASLLM} create-owner --email you@example.com"
        assert "--password-stdin" in step["hint"] and f"http://127.0.0.1:{port}/admin/setup" in step["hint"]
        assert any("Uvicorn running" in r["event"] for r in first[:-2])  # uvicorn's lines come before
        warned = {r["name"]: r for r in first if r["event"] == "secret_generated"}
        assert set(warned) == {"JWT_SECRET", "FERNET_KEYS"}
        secrets = {name: Path(r["path"]) for name, r in warned.items()}
        assert all(path.parent == data_dir and path.is_file() for path in secrets.values())
        assert all("reused by every later start" in r["hint"] for r in warned.values())
        kept = {name: path.read_text() for name, path in secrets.items()}

        created = subprocess.run(  # noqa: ASYNC221 - our own CLI, briefly
            [SAASLLM, "create-owner", "--email", "first@example.com", "--password-stdin"],
            cwd=ROOT, env=env, input=PASSWORD + "\n", capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
        assert created.returncode == 0, created.stderr

        again = await start_log(env, tmp_path / "again.log")
        assert again[-1]["event"] == "ready"  # an owner exists: nothing more to do
        assert not any(r["event"] == "next_step" for r in again)
        assert {name: path.read_text() for name, path in secrets.items()} == kept  # reused, not regenerated
