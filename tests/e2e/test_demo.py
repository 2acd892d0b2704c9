"""The demo a new user runs: seed, then a job with three calls (one streamed) over HTTP;
`saasllm demo` run twice against a server, and without one."""

import re
from decimal import Decimal
from uuid import uuid4

import pytest

from domain.admins import AdminPrincipal, AdminRole
from domain.ids import AdminUserId
from entrypoints.demo import drive, seed
from tests.e2e.conftest import Server, free_port
from tests.e2e.test_admin_cli import cli_env, run_cli


async def test_demo_runs_green(server: Server) -> None:
    team_id, key = await seed(server.services)
    lines: list[str] = []
    completion = await drive(server.url, team_id, key, out=lines.append)
    assert completion["status"] == "completed"
    assert completion["costs"]["total_calls"] == 3
    assert Decimal(completion["credits_deducted"]) > 0
    assert lines[-1].startswith("job completed: 3 calls")


async def test_make_demo_twice_reuses_its_organization_team_and_alias(
    server: Server, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    env = {**cli_env(server.settings), "BASE_URL": "", "HOST": "127.0.0.1", "PORT": str(server.settings.port)}
    assert await run_cli(monkeypatch, env, "demo") == 0, capsys.readouterr().err  # found by HOST/PORT
    first = capsys.readouterr().out
    env = {**env, "BASE_URL": server.url, "PORT": str(free_port())}  # BASE_URL wins over PORT
    assert await run_cli(monkeypatch, env, "demo") == 0, capsys.readouterr().err
    second = capsys.readouterr().out

    demo = await server.services.organizations.find_organization("demo")
    assert demo is not None
    owner = AdminPrincipal(user_id=AdminUserId(uuid4()), email="o@example.com", role=AdminRole.OWNER)
    organizations = await server.services.organizations.list_organizations(owner, limit=500)
    assert [o.slug for o in organizations].count("demo") == 1  # no second organization
    teams = await server.services.organizations.list_teams(owner, organization_id=demo.id)
    assert [t.name for t in teams] == ["Demo team"]
    for out in (first, second):
        assert "job completed: 3 calls" in out
        key = re.search(r"key (\S+) \(shown once", out)
        assert key is not None and f"team {teams[0].id}, alias demo-fast" in out
        assert f"export SAASLLM_KEY={key.group(1)}" in out and f"curl -s {server.url}/api/jobs/create" in out
    async with server.client(re.findall(r"SAASLLM_KEY=(\S+)", first)[0]) as http:  # both keys work by hand
        assert (await http.get(f"/api/teams/{teams[0].id}/credits")).status_code == 200


async def test_make_demo_without_a_server_says_so_in_one_line(
    server: Server, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    nowhere = f"http://127.0.0.1:{free_port()}"
    code = await run_cli(monkeypatch, {**cli_env(server.settings), "BASE_URL": nowhere}, "demo")
    err = capsys.readouterr().err.strip()
    assert code == 1
    assert err.splitlines() == [err] and nowhere in err and "make run" in err and "Traceback" not in err
