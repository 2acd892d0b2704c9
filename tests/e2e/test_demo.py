"""The demo a new user runs: seed, then a job with three calls (one streamed) over HTTP."""

from decimal import Decimal

from entrypoints.demo import drive, seed
from tests.e2e.conftest import Server


async def test_demo_runs_green(server: Server) -> None:
    team_id, key = await seed(server.services)
    lines: list[str] = []
    completion = await drive(server.url, team_id, key, out=lines.append)
    assert completion["status"] == "completed"
    assert completion["costs"]["total_calls"] == 3
    assert Decimal(completion["credits_deducted"]) > 0
    assert lines[-1].startswith("job completed: 3 calls")
