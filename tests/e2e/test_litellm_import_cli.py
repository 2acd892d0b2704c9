"""``saasllm import-litellm-config`` on a realistic LiteLLM config, against the real stack:
what is created, rotated, reported and refused, the exit status, and a call to an imported
alias priced at the imported prices."""

import asyncio
import json
import textwrap
from decimal import Decimal
from pathlib import Path

import pytest

from domain.admins import AdminRole
from domain.budgets import BudgetMode, BudgetPolicy
from tests.e2e.admin_helpers import admin_token
from tests.e2e.conftest import Server, openai_usage
from tests.e2e.test_admin_cli import cli_env, run_cli
from tests.support.fake_provider import Reply

D = Decimal

CONFIG = textwrap.dedent(
    """
    model_list:
      - model_name: gpt-4o
        litellm_params:
          model: openai/gpt-4o
          api_base: os.environ/OPENAI_API_BASE
          api_key: os.environ/OPENAI_API_KEY
          rpm: 480
          tpm: 80000
          timeout: 30
          stream_timeout: 60
        model_info:
          id: gpt-4o-primary
          base_model: gpt-4o
      - model_name: gpt-4o            # a second deployment of the same name: LiteLLM balances
        litellm_params:
          model: openai/gpt-4o
          api_base: os.environ/OPENAI_API_BASE
          api_key: os.environ/OPENAI_API_KEY_2
          rpm: 480
      - model_name: claude-sonnet
        litellm_params:
          model: anthropic/claude-sonnet-4-5-20250929
          api_key: os.environ/ANTHROPIC_API_KEY
          max_tokens: 8192
        model_info:
          access_groups: [premium-import]
      - model_name: gemini-flash
        litellm_params:
          model: gemini/gemini-2.5-flash
          api_key: os.environ/GEMINI_API_KEY
      - model_name: llama-8b
        litellm_params:
          model: fireworks_ai/accounts/fireworks/models/llama-v3p1-8b-instruct
          api_key: os.environ/FIREWORKS_API_KEY
          input_cost_per_token: 0.0000002
          output_cost_per_token: 0.0000002
      - model_name: in-house          # a second OpenAI endpoint: one per provider here
        litellm_params:
          model: openai/our-finetune-v3
          api_base: https://llm.internal.example/v1/
          api_key: sk-inline-key-for-in-house-0001
          input_cost_per_token: 0.0000025
          output_cost_per_token: 0.00001
      - model_name: azure-gpt
        litellm_params:
          model: azure/gpt-4o
          api_key: os.environ/AZURE_API_KEY
      - model_name: mystery
        litellm_params:
          model: openai/not-in-any-catalog
          api_base: os.environ/OPENAI_API_BASE
          api_key: os.environ/OPENAI_API_KEY
      - model_name: haiku
        litellm_params:
          model: anthropic/claude-haiku-4-5
          api_key: os.environ/HAIKU_API_KEY
    litellm_settings:
      num_retries: 2
      request_timeout: 60
      drop_params: true
      success_callback: [langfuse]
      fallbacks:
        - gpt-4o: [claude-sonnet, llama-8b]
        - claude-sonnet: [gpt-4o]
      context_window_fallbacks:
        - gpt-4o: [claude-sonnet]
      default_key_generate_params:
        rpm_limit: 100
        tpm_limit: 200000
    router_settings:
      routing_strategy: simple-shuffle
      num_retries: 3
      allowed_fails: 2
      cooldown_time: 30
    general_settings:
      master_key: os.environ/LITELLM_MASTER_KEY
    """
)
PRICES = textwrap.dedent(
    """
    claude-sonnet:
      input_price_per_million: 4
      output_price_per_million: 20
    """
)
KEYS = {
    "OPENAI_API_KEY": "sk-openai-import-secret-aaaa",
    "OPENAI_API_KEY_2": "sk-openai-import-secret-bbbb",
    "ANTHROPIC_API_KEY": "sk-ant-import-secret-cccc",
    "GEMINI_API_KEY": "AIza-import-secret-dddd",
    "FIREWORKS_API_KEY": "fw-import-secret-eeee",
    "AZURE_API_KEY": "azure-import-secret-ffff",
}


def lines_starting(text: str, start: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith(start)]


async def test_a_realistic_config_imports_what_maps_and_reports_the_rest(
    server: Server, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    (tmp_path / "config.yaml").write_text(CONFIG)
    (tmp_path / "prices.yaml").write_text(PRICES)
    org = await server.services.organizations.create_organization(name="Imported")
    team, key = await server.services.organizations.create_team(
        organization_id=org.id,
        name="migrated app",
        budget=BudgetPolicy(mode=BudgetMode.CONSUMPTION_USD),
        credits=D(100),
        access_groups=(),
    )
    env = {**cli_env(server.settings), **KEYS, "OPENAI_API_BASE": server.upstream.api_base("openai")}
    argv = ("import-litellm-config", str(tmp_path / "config.yaml"), "--organization", str(org.id))
    options = ("--markup", "0.3", "--prices", str(tmp_path / "prices.yaml"), "--team", str(team.id))
    code = await run_cli(monkeypatch, env, *argv, *options)
    out = capsys.readouterr()
    assert code == 1, out.out + out.err  # errors below: a non-zero exit
    created = sorted(line.split()[3] for line in lines_starting(out.out, "created model alias"))
    assert created == ["claude-sonnet", "gemini-flash", "gpt-4o", "llama-8b"]
    assert (
        "created model alias gpt-4o -> openai/gpt-4o, openai/gpt-4o (ordered) (fallbacks: claude-sonnet, llama-8b)"
        in out.out
    )
    assert len(lines_starting(out.out, "created credential")) == 4  # one per provider, only for what was imported
    assert f"set team {team.id} rate limits: rpm_limit 100, tpm_limit 200000" in out.out
    errors = "\n".join(lines_starting(out.out, "error "))
    assert "error in-house: it needs openai at https://llm.internal.example/v1" in errors
    assert "error azure-gpt: provider 'azure' is not supported" in errors
    assert "error mystery: unknown model price" in errors
    assert "error haiku: its api_key names the environment variable HAIKU_API_KEY, which is not set" in errors
    assert len(lines_starting(out.out, "error ")) == 4
    reported = "\n".join(lines_starting(out.out, "not imported "))
    for item in (
        "gpt-4o (deployment 1) litellm_params.rpm",
        "gpt-4o (deployment 1) litellm_params.tpm",
        "gpt-4o (deployment 1) litellm_params.timeout",
        "gpt-4o (deployment 1) litellm_params.stream_timeout",
        "gpt-4o (deployment 1) model_info.id",
        "gpt-4o (deployment 1) model_info.base_model",
        "gpt-4o (deployment 2) litellm_params.rpm",
        "litellm_settings.num_retries",
        "litellm_settings.request_timeout",
        "litellm_settings.drop_params",
        "litellm_settings.success_callback",
        "litellm_settings.context_window_fallbacks",
        "router_settings.routing_strategy",
        "router_settings.num_retries",
        "router_settings.allowed_fails",
        "router_settings.cooldown_time",
        "general_settings.master_key",
    ):
        assert f"not imported {item}: " in reported, item
    notes = "\n".join(lines_starting(out.out, "note "))
    assert "note gpt-4o: 2 deployments" in notes and "not stored" in notes  # deployment 2's key
    assert "WARNING zero margin" not in out.out
    for secret in (*KEYS.values(), "sk-inline-key-for-in-house-0001"):
        assert secret not in out.out + out.err

    owner = await admin_token(server, AdminRole.OWNER)
    async with server.client(owner) as http:
        models = {m["alias"]: m for m in (await http.get("/api/models")).json()["items"]}
        credentials = (await http.get(f"/api/provider-credentials/organization/{org.id}")).json()["items"]
        shown = (await http.get(f"/api/teams/{team.id}")).json()
        await http.put(f"/api/teams/{team.id}", json={"access_groups": ["litellm-import"]})
    gpt = models["gpt-4o"]
    assert gpt["fallbacks"] == ["claude-sonnet", "llama-8b"] and models["claude-sonnet"]["fallbacks"] == ["gpt-4o"]
    assert "gpt-4o@2" not in models and gpt["access_groups"] == ["litellm-import"]
    assert gpt["routing"] == "ordered" and [t["provider_model"] for t in gpt["targets"]] == ["gpt-4o"]
    assert D(gpt["input_price_per_million"]) == D(gpt["provider_input_cost_per_million"]) * D("1.3")
    assert D(gpt["output_price_per_million"]) == D(gpt["provider_output_cost_per_million"]) * D("1.3")
    assert (
        models["claude-sonnet"]["input_price_per_million"],
        models["claude-sonnet"]["output_price_per_million"],
    ) == (
        "4",
        "20",
    )
    assert models["claude-sonnet"]["default_max_tokens"] == 8192
    assert sorted((c["provider"], c["name"]) for c in credentials) == [
        ("anthropic", "litellm anthropic"),
        ("fireworks", "litellm fireworks"),
        ("gemini", "litellm gemini"),
        ("openai", "litellm openai"),
    ]
    assert (shown["rpm_limit"], shown["tpm_limit"]) == (100, 200000)

    # The imported alias serves calls at the imported prices (through the fake upstream).
    await asyncio.sleep(1.1)  # past the call path's one-second team cache
    server.upstream.push(Reply(chunks=("imported",), usage=openai_usage(1000, 500)))
    async with server.client(key.api_key) as http:
        response = await http.post(
            "/v1/chat/completions", json={"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}
        )
        assert response.status_code == 200, response.text
        job = (await http.get(f"/api/jobs/{response.headers['x-job-id']}")).json()
    expected = (D(1000) * D(gpt["input_price_per_million"]) + D(500) * D(gpt["output_price_per_million"])) / D(10**6)
    assert D(job["costs"]["customer_cost_usd"]) == expected
    assert server.upstream.received[-1].headers["authorization"] == f"Bearer {KEYS['OPENAI_API_KEY']}"

    # Again, with the OpenAI key changed and the missing variable set: the credential is
    # rotated (not duplicated), haiku comes in, nothing else is created twice.
    changed = {**env, "OPENAI_API_KEY": "sk-openai-import-secret-zzzz", "HAIKU_API_KEY": "sk-ant-haiku-1234"}
    again = await run_cli(monkeypatch, changed, *argv, *options)
    out2 = capsys.readouterr().out
    assert again == 1  # azure, mystery and in-house still cannot be imported
    assert lines_starting(out2, "created model alias") == ["created model alias haiku -> anthropic/claude-haiku-4-5"]
    assert lines_starting(out2, "rotated credential") == ["rotated credential 'litellm openai' (openai, now sk-…zzzz)"]
    assert lines_starting(out2, "created credential") == []
    assert "WARNING zero margin" not in out2
    async with server.client(owner) as http:
        credentials = (await http.get(f"/api/provider-credentials/organization/{org.id}")).json()["items"]
    assert sorted(c["provider"] for c in credentials) == ["anthropic", "fireworks", "gemini", "openai"]
    assert {c["key_hint"] for c in credentials if c["provider"] == "openai"} == {"sk-…zzzz"}


async def test_a_clean_import_exits_zero_and_calls_out_zero_margin(
    server: Server, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    deployment = {"model_name": "flash-clean", "litellm_params": {"model": "gemini/gemini-2.5-flash", "api_key": "k"}}
    (tmp_path / "config.yaml").write_text(json.dumps({"model_list": [deployment]}))  # JSON is YAML
    org = await server.services.organizations.create_organization(name="Clean")
    code = await run_cli(
        monkeypatch,
        cli_env(server.settings),
        "import-litellm-config",
        str(tmp_path / "config.yaml"),
        "--organization",
        str(org.id),
    )
    out = capsys.readouterr().out
    assert code == 0, out
    assert "WARNING zero margin: 1 aliases were created with customer prices equal to their provider costs" in out
    assert "(flash-clean)" in out


async def test_bad_arguments_and_files_exit_non_zero(
    server: Server, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    env = cli_env(server.settings)
    (tmp_path / "config.yaml").write_text("model_list: []\n")
    organization = str(server.organization.id)
    cases: list[tuple[tuple[str, ...], int, str]] = [
        ((str(tmp_path / "missing.yaml"), "--organization", organization), 1, "cannot read"),
        ((str(tmp_path / "config.yaml"), "--organization", "nope"), 2, "must be ids"),
        ((str(tmp_path / "config.yaml"), "--organization", organization, "--markup", "-1"), 2, "--markup"),
        ((str(tmp_path / "config.yaml"), "--organization", organization, "--markup", "lots"), 2, "--markup"),
        (
            (str(tmp_path / "config.yaml"), "--organization", organization, "--prices", str(tmp_path / "none.yaml")),
            1,
            "cannot read",
        ),
    ]
    for args, status, message in cases:
        assert await run_cli(monkeypatch, env, "import-litellm-config", *args) == status, args
        assert message in capsys.readouterr().err
    assert await run_cli(monkeypatch, env, "import-litellm-config", str(tmp_path / "config.yaml"), "--organization",
                         organization) == 1  # fmt: skip
    assert "error config: no model_list found" in capsys.readouterr().out
