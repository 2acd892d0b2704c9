"""Carrying out a LiteLLM import on fakes: credentials created once and rotated, targets, fallbacks,
an operator's own credential kept, team limits, zero margin called out."""

from decimal import Decimal
from typing import Any
from uuid import uuid4

import pytest

from application.errors import NotFoundError
from application.services.credentials import CredentialChanges
from domain.budgets import BudgetMode
from domain.catalog import Provider
from domain.ids import OrganizationId, TeamId
from domain.pricing import PriceSheet
from tests.unit.application.conftest import World

D = Decimal


def deployment(name: str, model: str, key: str | None = "os.environ/OPENAI_KEY", **params: Any) -> dict[str, Any]:
    litellm_params: dict[str, Any] = {"model": model, "input_cost_per_token": 1e-06, "output_cost_per_token": 2e-06}
    if key is not None:
        litellm_params["api_key"] = key
    return {"model_name": name, "litellm_params": {**litellm_params, **params}}


CONFIG = {
    "model_list": [
        deployment("a", "openai/gpt-a"),
        deployment("a", "openai/gpt-a2"),
        deployment("b", "anthropic/claude-b", key="sk-ant-b-0001"),
    ],
    "litellm_settings": {
        "fallbacks": [{"a": ["b"]}, {"b": ["a"]}],  # a cycle: both stored
        "default_key_generate_params": {"rpm_limit": 60, "tpm_limit": 1000},
    },
}
ENV = {"OPENAI_KEY": "sk-openai-first-1111"}


async def test_an_import_creates_aliases_fallbacks_and_one_credential_per_provider(world: World) -> None:
    org = await world.services.organizations.create_organization(name="Imported")
    report = await world.services.litellm_import.run(CONFIG, ENV, org.id, markup=D("0.5"))
    by_alias = {a.alias: a for a in report.aliases}
    assert sorted(by_alias) == ["a", "b"]
    assert by_alias["a"].fallbacks == ("b",) and by_alias["b"].fallbacks == ("a",)
    # The second deployment of "a" is its second target, at its own cost and marked-up price.
    [second] = by_alias["a"].targets
    assert (second.provider, second.provider_model) == (Provider.OPENAI, "gpt-a2")
    assert second.customer_prices == PriceSheet(input_per_million=D("1.5"), output_per_million=D(3))
    assert by_alias["a"].provider_costs == PriceSheet(input_per_million=D(1), output_per_million=D(2))
    assert by_alias["a"].customer_prices == PriceSheet(input_per_million=D("1.5"), output_per_million=D(3))
    assert sorted((c.provider, c.name) for c in report.credentials) == [
        (Provider.ANTHROPIC, "litellm anthropic"),
        (Provider.OPENAI, "litellm openai"),
    ]
    assert report.zero_margin == [] and report.errors == [] and report.rotated == []
    assert any("rpm_limit/tpm_limit not applied" in s.reason for s in report.skipped)  # no team named


async def test_a_changed_key_rotates_the_credential_and_a_rerun_creates_nothing(world: World) -> None:
    org = await world.services.organizations.create_organization(name="Imported")
    first = await world.services.litellm_import.run(CONFIG, ENV, org.id)
    assert sorted(first.zero_margin) == ["a", "b"]  # no markup, no prices
    same = await world.services.litellm_import.run(CONFIG, ENV, org.id)
    assert (same.aliases, same.credentials, same.rotated) == ([], [], [])
    assert {s.item for s in same.skipped if "exists" in s.reason} == {"a", "b"}
    changed = await world.services.litellm_import.run(CONFIG, {"OPENAI_KEY": "sk-openai-second-2222"}, org.id)
    (rotated,) = changed.rotated
    assert rotated.name == "litellm openai" and rotated.key_hint.endswith("2222") and changed.credentials == []
    stored = await world.services.credentials.decrypted_credentials(org.id)
    openai = [(c, k) for c, k in stored if c.provider is Provider.OPENAI]
    assert len(openai) == 1 and openai[0][1] == "sk-openai-second-2222" and openai[0][0].id == rotated.id
    # Deactivated by an operator since: the import activates it again with the config's key.
    await world.services.credentials.update_credential(None, rotated.id, CredentialChanges(is_active=False))
    again = await world.services.litellm_import.run(CONFIG, {"OPENAI_KEY": "sk-openai-second-2222"}, org.id)
    assert [c.is_active for c in again.rotated] == [True]


async def test_a_provider_the_organization_already_serves_keeps_its_credential(world: World) -> None:
    report = await world.services.litellm_import.run(
        {"model_list": [deployment("x", "openai/gpt-x")]}, ENV, world.organization.id
    )
    assert [a.alias for a in report.aliases] == ["x"] and report.credentials == []
    assert any("served by the organization's credential 'main'" in n.message for n in report.notes)
    stored = await world.services.credentials.decrypted_credentials(world.organization.id)
    assert [c.name for c, _ in stored] == ["main"]
    elsewhere = await world.services.litellm_import.run(
        {"model_list": [deployment("y", "openai/gpt-y", api_base="https://proxy.example/v1")]},
        ENV,
        world.organization.id,
    )
    assert elsewhere.aliases == [] and [s.item for s in elsewhere.errors] == ["y"]
    assert "points at the default endpoint" in elsewhere.errors[0].reason


async def test_per_key_limits_go_to_the_named_team_of_the_organization(world: World) -> None:
    team, _ = await world.team(BudgetMode.JOB_BASED)
    report = await world.services.litellm_import.run(CONFIG, ENV, world.organization.id, team_id=team.id)
    assert report.team is not None and (report.team.rpm_limit, report.team.tpm_limit) == (60, 1000)
    other = await world.services.organizations.create_organization(name="Other")
    refused = await world.services.litellm_import.run(CONFIG, ENV, other.id, team_id=team.id)
    assert refused.team is None and [s.reason for s in refused.errors] == ["the team is not of this organization"]
    missing = await world.services.litellm_import.run(CONFIG, ENV, other.id, team_id=TeamId(uuid4()))
    assert [s.item for s in missing.errors] == ["team"]


async def test_a_missing_key_imports_neither_the_model_nor_a_credential(world: World) -> None:
    org = await world.services.organizations.create_organization(name="Imported")
    report = await world.services.litellm_import.run(
        {"model_list": [deployment("z", "anthropic/claude-z", key="os.environ/NOT_SET")]}, {}, org.id
    )
    assert report.aliases == [] and report.credentials == []
    assert [s.item for s in report.errors] == ["z"] and "NOT_SET" in report.errors[0].reason


async def test_an_unknown_organization_is_not_found(world: World) -> None:
    with pytest.raises(NotFoundError):
        await world.services.litellm_import.run(CONFIG, ENV, OrganizationId(uuid4()))
