"""The tenant every benchmark measures: an organization, its ``bench`` aliases on the fake upstream, a team."""

from decimal import Decimal


async def seed_bench_team(
    settings_env: dict[str, str],
    upstream_url: str,
    *,
    organization: str,
    aliases: tuple[tuple[str, str], ...],
    credits: Decimal,
) -> tuple[str, str]:
    """Create ``organization``, each missing (alias, provider model) and a team; return its id and key."""
    from domain.budgets import BudgetMode, BudgetPolicy
    from domain.catalog import Provider
    from domain.pricing import PriceSheet
    from entrypoints.runtime import open_runtime
    from entrypoints.settings import load_settings

    settings = load_settings(settings_env)
    async with open_runtime(settings) as runtime:
        services = runtime.services
        org = await services.organizations.create_organization(name=organization)
        for alias, model in aliases:
            if await services.models.get_alias(alias) is None:
                await services.models.create_alias(
                    alias=alias,
                    provider=Provider.OPENAI,
                    provider_model=model,
                    customer_prices=PriceSheet(input_per_million=Decimal("2"), output_per_million=Decimal("8")),
                    provider_costs=PriceSheet(input_per_million=Decimal("1"), output_per_million=Decimal("4")),
                    default_max_tokens=64,
                    access_groups=("bench",),
                )
        await services.credentials.add_credential(
            organization_id=org.id,
            provider=Provider.OPENAI,
            name="bench upstream",
            api_key="sk-bench-upstream",
            api_base=f"{upstream_url}/v1",
        )
        team, key = await services.organizations.create_team(
            organization_id=org.id,
            name="bench",
            # every measured call goes into one job: lift the per-job bound out of the way
            budget=BudgetPolicy(mode=BudgetMode.CONSUMPTION_USD, max_calls_per_job=1_000_000),
            credits=credits,
            access_groups=("bench",),
        )
    return str(team.id), key.api_key
