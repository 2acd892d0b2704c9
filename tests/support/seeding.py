"""The world most tests start from: organization "Acme", its aliases, a credential, teams.

One copy, used by the unit, integration and end-to-end fixtures alike, so a change to
what a fresh organization needs is made once.
"""

from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any

from domain.budgets import BudgetMode, BudgetPolicy
from domain.catalog import Provider
from domain.organizations import Organization, Team
from domain.pricing import PriceSheet
from entrypoints.bootstrap import Services

D = Decimal
CUSTOMER = PriceSheet(input_per_million=D("2"), output_per_million=D("8"))
PROVIDER = PriceSheet(input_per_million=D("1"), output_per_million=D("4"))
PROVIDER_KEY = "sk-test-provider-secret-1234"


async def add_alias(
    services: Services,
    alias: str,
    provider: Provider,
    provider_model: str,
    *,
    groups: tuple[str, ...] = ("standard",),
    customer_prices: PriceSheet = CUSTOMER,
    provider_costs: PriceSheet = PROVIDER,
    **options: Any,
) -> None:
    """A platform alias, by default at the CUSTOMER / PROVIDER prices, in ``groups``."""
    await services.models.create_alias(
        alias=alias,
        provider=provider,
        provider_model=provider_model,
        customer_prices=customer_prices,
        provider_costs=provider_costs,
        access_groups=groups,
        **options,
    )


async def seed_organization(
    services: Services, *, api_key: str = PROVIDER_KEY, api_base: str | None = None, premium: bool = True
) -> Organization:
    """Acme with the ``smart`` alias (standard group), ``premium`` (premium group) and an OpenAI key."""
    organization = await services.organizations.create_organization(name="Acme")
    await add_alias(services, "smart", Provider.OPENAI, "gpt-test", default_max_tokens=100)
    if premium:
        await add_alias(services, "premium", Provider.OPENAI, "gpt-big", groups=("premium",))
    await services.credentials.add_credential(
        organization_id=organization.id, provider=Provider.OPENAI, name="main", api_key=api_key, api_base=api_base
    )
    return organization


async def create_team(
    services: Services,
    organization: Organization,
    mode: BudgetMode,
    credits: Decimal | None,
    groups: tuple[str, ...] = ("standard",),
    **rates: Any,
) -> tuple[Team, str]:
    """A team named after its budget mode; returns it with its virtual key."""
    team, key = await services.organizations.create_team(
        organization_id=organization.id,
        name=f"team-{mode}",
        budget=BudgetPolicy(mode=mode, **rates),
        credits=credits,
        access_groups=groups,
    )
    return team, key.api_key


# The aliases of the other three providers: (provider, alias, provider model).
OTHER_PROVIDERS = (
    (Provider.ANTHROPIC, "claude", "claude-test"),
    (Provider.GEMINI, "flash", "gemini-test"),
    (Provider.FIREWORKS, "llama", "accounts/fireworks/models/llama-test"),
)


async def seed_other_providers(services: Services, organization: Organization, api_base: Callable[[str], str]) -> None:
    """An alias per other provider, each with a credential at ``api_base(provider)``."""
    for provider, alias, model in OTHER_PROVIDERS:
        await add_alias(services, alias, provider, model, default_max_tokens=100)
        await services.credentials.add_credential(
            organization_id=organization.id,
            provider=provider,
            name=f"{provider} main",
            api_key=f"key-{provider}-0000",
            api_base=api_base(str(provider)),
        )


async def add_openai_upstream(
    services: Services,
    organization: Organization,
    upstream_url: str,
    aliases: Mapping[str, str],
    *,
    group: str,
    credential: tuple[str, str],
    **alias_options: Any,
) -> None:
    """Each alias of ``aliases`` (alias → provider model) not defined yet, on OpenAI in ``group``,
    and the organization's OpenAI ``credential`` (name, key) for the fake upstream at ``upstream_url``.

    ``alias_options`` go to every alias (prices, ``default_max_tokens``); the reliability cluster and
    the benchmarks seed their tenant this way.
    """
    for alias, provider_model in aliases.items():
        if await services.models.get_alias(alias) is None:
            await add_alias(services, alias, Provider.OPENAI, provider_model, groups=(group,), **alias_options)
    name, api_key = credential
    await services.credentials.add_credential(
        organization_id=organization.id,
        provider=Provider.OPENAI,
        name=name,
        api_key=api_key,
        api_base=f"{upstream_url}/v1",
    )
