"""Operator use cases for models: aliases with prices, and access groups."""

from application.ports.catalog import PriceCatalog
from application.ports.unit_of_work import UnitOfWorkFactory
from domain.access import DEFAULT_MAX_TOKENS, AccessGroup, ModelAlias
from domain.catalog import Provider
from domain.errors import InvalidValueError
from domain.ids import OrganizationId
from domain.pricing import PriceSheet, with_derived_cache_prices


class ModelService:
    """Rules: provider costs come from the catalog unless overridden, and an alias whose
    model the catalog does not know must carry explicit provider costs (a model never
    silently costs $0); access groups name existing aliases only."""

    def __init__(self, *, uow: UnitOfWorkFactory, catalog: PriceCatalog) -> None:
        self._uow = uow
        self._catalog = catalog

    async def create_alias(
        self,
        *,
        alias: str,
        provider: Provider,
        provider_model: str,
        customer_prices: PriceSheet,
        provider_costs: PriceSheet | None = None,
        default_max_tokens: int = DEFAULT_MAX_TOKENS,
        access_groups: tuple[str, ...] = (),
        fallbacks: tuple[str, ...] = (),
        organization_id: OrganizationId | None = None,
    ) -> ModelAlias:
        listed = self._catalog.provider_prices(provider, provider_model)
        costs = provider_costs or listed
        if costs is None:
            raise InvalidValueError(
                f"the price catalog does not know {provider}/{provider_model}: give provider costs explicitly"
            )
        # Missing cache prices follow the catalog's ratio to input (API.md), else equal input.
        customer_prices = with_derived_cache_prices(customer_prices, listed)
        costs = with_derived_cache_prices(costs, listed)
        model = ModelAlias(
            alias=alias,
            provider=provider,
            provider_model=provider_model,
            customer_prices=customer_prices,
            provider_costs=costs,
            default_max_tokens=default_max_tokens,
            access_groups=access_groups,
            fallbacks=fallbacks,
            organization_id=organization_id,
        )
        async with self._uow() as uow:
            for group in access_groups:
                if await uow.access_groups.get(group) is None:
                    await uow.access_groups.add(AccessGroup(name=group))
            await uow.aliases.add(model)
            await uow.commit()
        return model

    async def get_alias(self, alias: str) -> ModelAlias | None:
        async with self._uow() as uow:
            return await uow.aliases.get(alias)

    async def list_aliases(self) -> list[ModelAlias]:
        async with self._uow() as uow:
            return await uow.aliases.list()

    async def create_access_group(self, *, name: str, models: tuple[str, ...] = ()) -> AccessGroup:
        if not name.strip():
            raise InvalidValueError("name must not be empty")
        group = AccessGroup(name=name, models=models)
        async with self._uow() as uow:
            for model in models:
                if await uow.aliases.get(model) is None:
                    raise InvalidValueError(f"model alias '{model}' does not exist")
            await uow.access_groups.add(group)
            await uow.commit()
        return group
