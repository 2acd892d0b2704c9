"""Operator use cases for models: aliases with prices, access groups, the price list."""

from decimal import Decimal, localcontext
from typing import Any

import msgspec

from application.errors import ConflictError, NotFoundError
from application.ports.catalog import PriceCatalog
from application.ports.repositories import AliasPatch, PricePatch
from application.ports.system import Clock
from application.ports.unit_of_work import UnitOfWork, UnitOfWorkFactory
from application.services._access import found
from application.services._audit import audit
from application.services._providers import EVERY_PROVIDER, OfferedProviders
from application.services._versions import changed_fields, check_version, given, stored
from domain.access import DEFAULT_MAX_TOKENS, AccessGroup, ModelAlias, fallback_usable_by, seen_by
from domain.admins import AdminPrincipal, ensure_platform_wide
from domain.catalog import ProviderName
from domain.errors import InvalidValueError
from domain.ids import OrganizationId
from domain.money import EXACT
from domain.pricing import PriceSheet, with_derived_cache_prices
from domain.routing import AliasTarget, RoutingStrategy

MAX_NAME_LENGTH = 200
SET_PRICES = ("input", "output", "cached_input", "cache_write")  # the price categories an alias update sets


class CostOverrides(msgspec.Struct, frozen=True, kw_only=True):
    """Provider costs given by the operator (USD per 1M tokens), each overriding the catalog."""

    input_per_million: Decimal | None = None
    output_per_million: Decimal | None = None
    cached_input_per_million: Decimal | None = None
    cache_write_per_million: Decimal | None = None

    @property
    def empty(self) -> bool:
        return all(getattr(self, f) is None for f in self.__struct_fields__)


class TargetSpec(msgspec.Struct, frozen=True, kw_only=True):
    """A further target of an alias as an operator gives it: customer prices default to the
    alias's own, provider costs come from the catalog unless overridden (as for the alias)."""

    provider: ProviderName
    provider_model: str
    customer_prices: PriceSheet | None = None
    cost_overrides: CostOverrides = msgspec.field(default_factory=CostOverrides)
    provider_costs: PriceSheet | None = None  # a whole sheet, instead of the catalog and overrides


class AliasChanges(msgspec.Struct, frozen=True, kw_only=True):
    """A partial alias update: ``UNSET`` keeps a value; a cache price set to None is derived again."""

    provider: ProviderName | msgspec.UnsetType = msgspec.UNSET
    provider_model: str | msgspec.UnsetType = msgspec.UNSET
    input_price_per_million: Decimal | msgspec.UnsetType = msgspec.UNSET
    output_price_per_million: Decimal | msgspec.UnsetType = msgspec.UNSET
    cached_input_price_per_million: Decimal | msgspec.UnsetType | None = msgspec.UNSET
    cache_write_price_per_million: Decimal | msgspec.UnsetType | None = msgspec.UNSET
    provider_input_cost_per_million: Decimal | msgspec.UnsetType = msgspec.UNSET
    provider_output_cost_per_million: Decimal | msgspec.UnsetType = msgspec.UNSET
    provider_cached_input_cost_per_million: Decimal | msgspec.UnsetType | None = msgspec.UNSET
    provider_cache_write_cost_per_million: Decimal | msgspec.UnsetType | None = msgspec.UNSET
    default_max_tokens: int | msgspec.UnsetType = msgspec.UNSET
    access_groups: tuple[str, ...] | msgspec.UnsetType = msgspec.UNSET
    fallbacks: tuple[str, ...] | msgspec.UnsetType = msgspec.UNSET
    targets: tuple[TargetSpec, ...] | msgspec.UnsetType = msgspec.UNSET  # replaces every further target
    routing: RoutingStrategy | msgspec.UnsetType = msgspec.UNSET
    cache_ttl_s: int | msgspec.UnsetType | None = msgspec.UNSET
    cached_response_price_factor: Decimal | msgspec.UnsetType = msgspec.UNSET


def _prices_set(changes: AliasChanges, field: str) -> dict[str, Any]:
    """The prices a partial update sets, by ``PriceSheet`` field (``input_per_million``, ...):
    read from its fields named ``field`` with the category (``input``, ``output``,
    ``cached_input``, ``cache_write``) in it; a price left ``UNSET`` is not among them."""
    values = {f"{category}_per_million": getattr(changes, field.format(category)) for category in SET_PRICES}
    return {name: value for name, value in values.items() if not isinstance(value, msgspec.UnsetType)}


class PriceMargins(msgspec.Struct, frozen=True, kw_only=True):
    """Customer price minus provider cost, USD per 1M tokens of each category (negative: at a loss)."""

    input: Decimal
    output: Decimal
    cached_input: Decimal
    cache_write: Decimal
    reasoning: Decimal


class AliasPricing(msgspec.Struct, frozen=True, kw_only=True):
    """An alias's prices next to the built-in catalog's list price of its model (None: unknown)."""

    alias: ModelAlias
    catalog: PriceSheet | None

    @property
    def margin_per_million(self) -> PriceMargins:
        price, cost = self.alias.customer_prices, self.alias.provider_costs
        with localcontext(EXACT):
            return PriceMargins(
                input=price.input_per_million - cost.input_per_million,
                output=price.output_per_million - cost.output_per_million,
                cached_input=price.cached_input - cost.cached_input,
                cache_write=price.cache_write - cost.cache_write,
                reasoning=price.reasoning - cost.reasoning,
            )


def listed_models(pricing: list[AliasPricing]) -> list[tuple[ProviderName, str, PriceSheet]]:
    """The catalog's list price of each provider model the aliases use, once, by provider and model."""
    listed = {(p.alias.provider, p.alias.provider_model): p.catalog for p in pricing if p.catalog is not None}
    return [(provider, model, sheet) for (provider, model), sheet in sorted(listed.items(), key=lambda kv: kv[0])]


def alias_snapshot(alias: ModelAlias) -> dict[str, Any]:
    built: dict[str, Any] = msgspec.to_builtins(alias)
    built.pop("fallback_targets", None)  # read from the fallback aliases, not part of this one
    return built


class ModelService:
    """Rules:

    - provider costs come from the catalog unless overridden, and an alias whose model the
      catalog does not know must carry explicit provider costs (a model never silently
      costs $0); missing cache prices follow the catalog's ratio to input;
    - access groups name existing aliases only; fallbacks name existing aliases that the
      alias's organization may use (a fallback bound to another organization is refused:
      its calls would never use it); an alias another one falls back to cannot be deleted;
    - aliases and access groups are platform-wide: only an unscoped admin changes them,
      every admin reads them (an alias bound to one organization is hidden from others);
    - every target names a provider this instance offers (422 ``provider_not_offered``);
    - every write appends an audit entry in its own transaction (``actor`` None: system).
    """

    def __init__(
        self, *, uow: UnitOfWorkFactory, catalog: PriceCatalog, clock: Clock, offered: OfferedProviders | None = None
    ) -> None:
        self._uow = uow
        self._catalog = catalog
        self._clock = clock
        self._offered = offered or EVERY_PROVIDER

    async def create_alias(
        self,
        *,
        alias: str,
        provider: ProviderName,
        provider_model: str,
        customer_prices: PriceSheet,
        provider_costs: PriceSheet | None = None,
        cost_overrides: CostOverrides | None = None,
        default_max_tokens: int = DEFAULT_MAX_TOKENS,
        access_groups: tuple[str, ...] = (),
        fallbacks: tuple[str, ...] = (),
        organization_id: OrganizationId | None = None,
        actor: AdminPrincipal | None = None,
        targets: tuple[TargetSpec, ...] = (),
        routing: RoutingStrategy = RoutingStrategy.ORDERED,
        cache_ttl_s: int | None = None,
        cached_response_price_factor: Decimal = Decimal(1),
    ) -> ModelAlias:
        if actor is not None:
            ensure_platform_wide(actor)
        self._offered.require(provider)
        listed = self._catalog.provider_prices(provider, provider_model)
        costs = provider_costs or self._costs(provider, provider_model, listed, cost_overrides or CostOverrides())
        # Missing cache prices follow the catalog's ratio to input (API.md), else equal input.
        model = ModelAlias(
            alias=check_name(alias, "alias"),
            provider=provider,
            provider_model=provider_model,
            customer_prices=with_derived_cache_prices(customer_prices, listed),
            provider_costs=with_derived_cache_prices(costs, listed),
            default_max_tokens=default_max_tokens,
            access_groups=tuple(dict.fromkeys(access_groups)),
            fallbacks=tuple(dict.fromkeys(fallbacks)),
            organization_id=organization_id,
            targets=tuple(self._target(t, customer_prices) for t in targets),
            routing=routing,
            cache_ttl_s=cache_ttl_s,
            cached_response_price_factor=cached_response_price_factor,
        )
        async with self._uow() as uow:
            await _ensure_usable_fallbacks(uow, model)
            for group in model.access_groups:
                if await uow.access_groups.get(group) is None:
                    await uow.access_groups.add(AccessGroup(name=check_name(group, "access group")))
            await uow.aliases.add(model)
            await self._audit(uow, actor, "model.create", model.alias, None, alias_snapshot(model), organization_id)
            await uow.commit()
        return model

    async def get_alias(self, alias: str, *, actor: AdminPrincipal | None = None) -> ModelAlias | None:
        async with self._uow() as uow:
            found = await uow.aliases.get(alias)
        return found if found is not None and seen_by(actor, found) else None

    async def list_aliases(self, *, actor: AdminPrincipal | None = None) -> list[ModelAlias]:
        async with self._uow() as uow:
            aliases = await uow.aliases.list()
        return [a for a in aliases if seen_by(actor, a)]

    async def update_alias(
        self, actor: AdminPrincipal | None, alias: str, changes: AliasChanges, *, expected_version: int | None = None
    ) -> ModelAlias:
        """Change the fields given: only the columns whose value changes are written;
        ``actor`` None is the system (the CLI)."""
        if actor is not None:
            ensure_platform_wide(actor)
        async with self._uow() as uow:
            current = found(await uow.aliases.get(alias), "model alias")
            check_version(current.version, expected_version)
            wanted = self._apply(current, changes)
            await _ensure_usable_fallbacks(uow, wanted)
            for group in wanted.access_groups:
                check_name(group, "access group")
            updated = stored(
                await uow.aliases.update(alias, alias_patch(current, wanted), expected_version=expected_version),
                expected_version,
                "model alias",
            )
            await self._audit(
                uow,
                actor,
                "model.update",
                alias,
                alias_snapshot(current),
                alias_snapshot(updated),
                current.organization_id,
            )
            await uow.commit()
        return updated

    async def delete_alias(self, actor: AdminPrincipal, alias: str) -> None:
        ensure_platform_wide(actor)
        async with self._uow() as uow:
            current = found(await uow.aliases.get(alias), "model alias")
            dependents = [a.alias for a in await uow.aliases.list() if alias in a.fallbacks]
            if dependents:
                raise ConflictError(f"model alias '{alias}' is a fallback of {', '.join(dependents)}")
            await uow.aliases.delete(alias)
            await self._audit(uow, actor, "model.delete", alias, alias_snapshot(current), None, current.organization_id)
            await uow.commit()

    def catalog_price(self, provider: ProviderName, provider_model: str) -> PriceSheet | None:
        """The built-in catalog's list price of a provider model; None when the catalog does not know it."""
        return self._catalog.provider_prices(provider, provider_model)

    async def pricing(self, actor: AdminPrincipal) -> list[AliasPricing]:
        """Every alias the actor sees, with the catalog's list price of its provider model."""
        return [
            AliasPricing(alias=a, catalog=self._catalog.provider_prices(a.provider, a.provider_model))
            for a in await self.list_aliases(actor=actor)
        ]

    # ---- access groups -------------------------------------------------------------

    async def create_access_group(
        self, *, name: str, models: tuple[str, ...] = (), actor: AdminPrincipal | None = None
    ) -> AccessGroup:
        if actor is not None:
            ensure_platform_wide(actor)
        group = AccessGroup(name=check_name(name, "name"), models=tuple(dict.fromkeys(models)))
        async with self._uow() as uow:
            await _ensure_aliases_exist(uow, group.models, "model")
            await uow.access_groups.add(group)
            await self._audit_group(uow, actor, "model_access_group.create", group.name, None, group)
            await uow.commit()
        return group

    async def list_access_groups(self, actor: AdminPrincipal) -> list[AccessGroup]:
        async with self._uow() as uow:
            return await uow.access_groups.list()

    async def update_access_group(
        self, actor: AdminPrincipal, name: str, models: tuple[str, ...], *, expected_version: int | None = None
    ) -> AccessGroup:
        ensure_platform_wide(actor)
        models = tuple(dict.fromkeys(models))
        async with self._uow() as uow:
            before = found(await uow.access_groups.get(name), "access group")
            check_version(before.version, expected_version)
            await _ensure_aliases_exist(uow, models, "model")
            if set(models) == set(before.models):
                after = before  # nothing changes, nothing is written
            else:
                after = stored(
                    await uow.access_groups.set_models(name, models, expected_version=expected_version),
                    expected_version,
                    "access group",
                )
            await self._audit_group(uow, actor, "model_access_group.update", name, before, after)
            await uow.commit()
        return after

    async def delete_access_group(self, actor: AdminPrincipal, name: str) -> None:
        """Delete a group; teams and aliases that had it lose it."""
        ensure_platform_wide(actor)
        async with self._uow() as uow:
            before = await uow.access_groups.get(name)
            if before is None or not await uow.access_groups.delete(name):
                raise NotFoundError("access group not found")
            await self._audit_group(uow, actor, "model_access_group.delete", name, before, None)
            await uow.commit()

    # ---- helpers -------------------------------------------------------------------

    def _costs(
        self, provider: ProviderName, provider_model: str, listed: PriceSheet | None, overrides: CostOverrides
    ) -> PriceSheet:
        """The catalog's list price with the operator's overrides; a cache price not given is
        left to be derived from the (possibly overridden) input price."""
        if overrides.empty and listed is not None:
            return listed
        input_price = overrides.input_per_million if overrides.input_per_million is not None else _attr(listed, "input")
        output_price = (
            overrides.output_per_million if overrides.output_per_million is not None else _attr(listed, "output")
        )
        if input_price is None or output_price is None:
            raise InvalidValueError(
                f"the price catalog does not know {provider}/{provider_model}: give provider costs explicitly"
            )
        keep_listed_cache = listed is not None and overrides.input_per_million is None
        return PriceSheet(
            input_per_million=input_price,
            output_per_million=output_price,
            cached_input_per_million=overrides.cached_input_per_million
            if overrides.cached_input_per_million is not None
            else (_attr(listed, "cached_input") if keep_listed_cache else None),
            cache_write_per_million=overrides.cache_write_per_million
            if overrides.cache_write_per_million is not None
            else (_attr(listed, "cache_write") if keep_listed_cache else None),
            reasoning_per_million=_attr(listed, "reasoning"),
        )

    def _target(self, spec: TargetSpec, alias_prices: PriceSheet) -> AliasTarget:
        self._offered.require(spec.provider)
        listed = self._catalog.provider_prices(spec.provider, spec.provider_model)
        costs = spec.provider_costs or self._costs(spec.provider, spec.provider_model, listed, spec.cost_overrides)
        return AliasTarget(
            provider=spec.provider,
            provider_model=check_name(spec.provider_model, "provider_model"),
            customer_prices=with_derived_cache_prices(spec.customer_prices or alias_prices, listed),
            provider_costs=with_derived_cache_prices(costs, listed),
        )

    def _apply(self, current: ModelAlias, c: AliasChanges) -> ModelAlias:
        if not isinstance(c.provider, msgspec.UnsetType):
            self._offered.require(c.provider)
        provider = given(c.provider, current.provider)
        provider_model = given(c.provider_model, current.provider_model)
        listed = self._catalog.provider_prices(provider, provider_model)
        customer = msgspec.structs.replace(current.customer_prices, **_prices_set(c, "{}_price_per_million"))
        moved = (provider, provider_model) != (current.provider, current.provider_model)
        cost_changes = _prices_set(c, "provider_{}_cost_per_million")
        if moved:  # another model: its costs come from the catalog again, unless overridden
            costs = self._costs(provider, provider_model, listed, CostOverrides(**cost_changes))
        else:
            costs = msgspec.structs.replace(current.provider_costs, **cost_changes)
        return ModelAlias(
            alias=current.alias,
            provider=provider,
            provider_model=provider_model,
            customer_prices=with_derived_cache_prices(customer, listed),
            provider_costs=with_derived_cache_prices(costs, listed),
            default_max_tokens=given(c.default_max_tokens, current.default_max_tokens),
            access_groups=tuple(dict.fromkeys(given(c.access_groups, current.access_groups))),
            fallbacks=tuple(dict.fromkeys(given(c.fallbacks, current.fallbacks))),
            organization_id=current.organization_id,
            targets=current.targets
            if isinstance(c.targets, msgspec.UnsetType)
            else tuple(self._target(t, customer) for t in c.targets),
            routing=given(c.routing, current.routing),
            cache_ttl_s=given(c.cache_ttl_s, current.cache_ttl_s),
            cached_response_price_factor=given(c.cached_response_price_factor, current.cached_response_price_factor),
        )

    async def _audit(
        self,
        uow: UnitOfWork,
        actor: AdminPrincipal | None,
        action: str,
        alias: str,
        before: object,
        after: object,
        organization_id: OrganizationId | None,
        *,
        target_type: str = "model_alias",
    ) -> None:
        await audit(
            uow,
            actor,
            action,
            target_type=target_type,
            target_id=alias,
            organization_id=organization_id,
            at=self._clock.now(),
            before=before,
            after=after,
        )

    async def _audit_group(
        self,
        uow: UnitOfWork,
        actor: AdminPrincipal | None,
        action: str,
        name: str,
        before: AccessGroup | None,
        after: AccessGroup | None,
    ) -> None:
        # Access groups are platform-wide: no organization.
        await self._audit(uow, actor, action, name, before, after, None, target_type="model_access_group")


# The alias fields an update writes as they are when they change (access groups are a set,
# prices are patched one by one).
_PATCHED_AS_THEY_ARE = (
    "provider",
    "provider_model",
    "default_max_tokens",
    "fallbacks",
    "targets",
    "routing",
    "cache_ttl_s",
    "cached_response_price_factor",
)


def alias_patch(before: ModelAlias, after: ModelAlias) -> AliasPatch:
    """What an alias update writes: the fields (and single prices) whose value changes."""
    return AliasPatch(
        **changed_fields(before, after, *_PATCHED_AS_THEY_ARE),
        access_groups=msgspec.UNSET if set(before.access_groups) == set(after.access_groups) else after.access_groups,
        customer_prices=_price_patch(before.customer_prices, after.customer_prices),
        provider_costs=_price_patch(before.provider_costs, after.provider_costs),
    )


def _price_patch(before: PriceSheet, after: PriceSheet) -> PricePatch:
    return PricePatch(**changed_fields(before, after, *PriceSheet.__struct_fields__))


def _attr(sheet: PriceSheet | None, name: str) -> Decimal | None:
    value: Decimal | None = getattr(sheet, f"{name}_per_million") if sheet is not None else None
    return value


async def _ensure_aliases_exist(uow: UnitOfWork, names: tuple[str, ...], what: str) -> None:
    for name in names:
        if await uow.aliases.get(name) is None:
            raise InvalidValueError(f"{what} '{name}' is not a model alias")


async def _ensure_usable_fallbacks(uow: UnitOfWork, alias: ModelAlias) -> None:
    """Every fallback exists, and the alias's organization may use it (``fallback_usable_by``)."""
    for name in alias.fallbacks:
        fallback = await uow.aliases.get(name)
        if fallback is None:
            raise InvalidValueError(f"fallback '{name}' is not a model alias")
        if not fallback_usable_by(alias, fallback):
            raise InvalidValueError(
                f"fallback '{name}' belongs to another organization: this alias's calls could never use it"
            )


def check_name(name: str, what: str) -> str:
    if not name.strip() or name != name.strip() or len(name) > MAX_NAME_LENGTH:
        raise InvalidValueError(f"{what} must be 1-{MAX_NAME_LENGTH} characters without surrounding spaces")
    return name
