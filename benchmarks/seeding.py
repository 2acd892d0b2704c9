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
    from entrypoints.runtime import open_runtime
    from entrypoints.settings import load_settings
    from tests.support.seeding import add_openai_upstream

    settings = load_settings(settings_env)
    async with open_runtime(settings) as runtime:
        services = runtime.services
        org = await services.organizations.create_organization(name=organization)
        await add_openai_upstream(
            services,
            org,
            upstream_url,
            dict(aliases),
            group="bench",
            credential=("bench upstream", "sk-bench-upstream"),
            default_max_tokens=64,
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
