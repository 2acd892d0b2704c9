"""The command line a new operator meets: the owner's password from a prompt or standard
input, organizations named by slug, and a database it cannot reach named in the error."""

import io
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.admin_helpers import PASSWORD
from tests.e2e.conftest import Server, free_port
from tests.e2e.test_admin_cli import cli_env, run_cli


class Terminal(io.StringIO):
    """Standard input that says it is a terminal (so the command prompts)."""

    def isatty(self) -> bool:
        return True


def typed(monkeypatch: pytest.MonkeyPatch, *answers: str) -> list[str]:
    """The prompt answers ``answers`` in turn; returns the prompts shown."""
    replies: Iterator[str] = iter(answers)
    prompts: list[str] = []

    def getpass(prompt: str = "") -> str:
        prompts.append(prompt)
        return next(replies)

    monkeypatch.setattr("getpass.getpass", getpass)
    monkeypatch.setattr("sys.stdin", Terminal())
    return prompts


async def can_log_in(server: Server, email: str) -> bool:
    async with server.client() as http:
        response = await http.post("/api/auth/login", json={"email": email, "password": PASSWORD})
        return response.status_code == 200


async def test_create_owner_reads_the_password_from_standard_input(
    server: Server, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO(PASSWORD + "\n"))
    code = await run_cli(monkeypatch, cli_env(server.settings), "create-owner", "--email", "piped@example.com",
                         "--password-stdin")  # fmt: skip
    out = capsys.readouterr()
    assert code == 0, out.err
    assert "created owner piped@example.com" in out.out and PASSWORD not in out.out + out.err
    assert await can_log_in(server, "piped@example.com")


async def test_create_owner_asks_the_password_twice_on_a_terminal(
    server: Server, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    prompts = typed(monkeypatch, PASSWORD, PASSWORD)
    code = await run_cli(monkeypatch, cli_env(server.settings), "create-owner", "--email", "typed@example.com")
    assert code == 0, capsys.readouterr().err
    assert len(prompts) == 2 and "again" in prompts[1]
    assert await can_log_in(server, "typed@example.com")

    typed(monkeypatch, PASSWORD, PASSWORD + "x")
    code = await run_cli(monkeypatch, cli_env(server.settings), "create-owner", "--email", "typo@example.com")
    assert code == 2 and "differ" in capsys.readouterr().err
    assert not await can_log_in(server, "typo@example.com")  # nobody was created


async def test_create_owner_without_a_terminal_or_a_password_says_how(
    server: Server, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    code = await run_cli(monkeypatch, cli_env(server.settings), "create-owner", "--email", "nobody@example.com")
    assert code == 2 and "--password-stdin" in capsys.readouterr().err
    assert not await can_log_in(server, "nobody@example.com")


async def test_import_takes_the_organization_by_slug(
    server: Server, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    deployment = {"model_name": "by-slug", "litellm_params": {"model": "gemini/gemini-2.5-flash", "api_key": "k"}}
    (tmp_path / "config.yaml").write_text(json.dumps({"model_list": [deployment]}))
    org = await server.services.organizations.create_organization(name="Slugged Inc", slug="slugged")
    code = await run_cli(monkeypatch, cli_env(server.settings), "import-litellm-config", str(tmp_path / "config.yaml"),
                         "--organization", "slugged")  # fmt: skip
    out = capsys.readouterr()
    assert code == 0, out.err
    assert "created model alias by-slug -> gemini/gemini-2.5-flash" in out.out
    stored = await server.services.credentials.stored_keys(org.id)
    assert [provider for provider, _, _ in stored] == ["gemini"]  # the slugged organization got it

    unknown = await run_cli(monkeypatch, cli_env(server.settings), "import-litellm-config",
                            str(tmp_path / "config.yaml"), "--organization", "no-such-slug")  # fmt: skip
    assert unknown == 2 and "no organization 'no-such-slug'" in capsys.readouterr().err


@pytest.mark.parametrize("command", [("migrate",), ("create-owner", "--email", "a@example.com", "--password-stdin")])
async def test_an_unreachable_database_is_named_without_its_password(
    command: tuple[str, ...],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    port = free_port()  # nothing listens there
    monkeypatch.setattr("sys.stdin", io.StringIO(PASSWORD + "\n"))
    env = {
        "DATABASE_URL": f"postgresql://operator:s3cret-pw@127.0.0.1:{port}/ghostdb",
        "DATA_DIR": str(tmp_path),
        "LOG_LEVEL": "WARNING",
    }
    code = await run_cli(monkeypatch, env, *command)
    err = capsys.readouterr().err
    assert code == 1
    assert "unavailable" in err and f"database ghostdb at 127.0.0.1:{port}" in err
    assert "s3cret-pw" not in err and "postgresql://" not in err
