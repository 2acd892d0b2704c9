"""`saasllm serve` writes one stream of JSON lines: the server's own lines, Litestar's and
ours alike, and no per-request access line beside the canonical one."""

import json
from pathlib import Path

import httpx

from tests.postgres import fresh_database
from tests.support.served import served


async def test_the_served_process_logs_only_json_lines(postgres_server_url: str, tmp_path: Path) -> None:
    log_path = tmp_path / "serve.log"
    async with fresh_database(postgres_server_url, prefix="saasllm_logs") as url:
        with log_path.open("wb") as out:
            async with (
                served(url, tmp_path, output=out, LOG_LEVEL="INFO") as server,
                httpx.AsyncClient(base_url=server.url, timeout=2) as http,
            ):
                assert (await http.get("/api/jobs", headers={"Authorization": "Bearer nope"})).status_code == 401
    lines = [line for line in log_path.read_text(encoding="utf-8").splitlines() if line.strip()]
    records = []
    for line in lines:
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError as exc:
            raise AssertionError(f"not a JSON line: {line!r}") from exc
    events = [r.get("event", "") for r in records]
    assert all(isinstance(r, dict) and "level" in r and "timestamp" in r for r in records)
    assert "serving" in events  # our own start line
    assert any("Uvicorn running" in e or "Application startup complete" in e for e in events)  # the server's
    requests = [r for r in records if r.get("event") == "request"]
    assert {r.get("status") for r in requests} >= {200, 401}
    assert not any('HTTP/1.1"' in e for e in events)  # no access-log line beside ours
