"""Admin API bodies for model aliases, access groups and the price list (USD per 1M tokens)."""

from decimal import Decimal
from typing import Annotated, Literal
from uuid import UUID

import msgspec

from application.services.models import AliasPricing, CostOverrides, PriceMargins, TargetSpec, listed_models
from domain.access import DEFAULT_MAX_TOKENS, AccessGroup, ModelAlias
from domain.errors import InvalidValueError
from domain.pricing import PriceSheet
from domain.routing import MAX_TARGETS, AliasTarget
from entrypoints.http.schemas.amounts import PriceFactor, PricePerMillion
from entrypoints.http.schemas.copying import from_attributes
from entrypoints.http.schemas.money import Body, Money, fixed_point
from entrypoints.http.schemas.tenants import Groups, ProviderName

AliasName = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
Aliases = Annotated[list[AliasName], msgspec.Meta(max_length=500)]
MaxTokens = Annotated[int, msgspec.Meta(ge=1, le=10_000_000)]
CacheTtl = Annotated[int, msgspec.Meta(ge=1, le=2_592_000, description="seconds an answer is replayed")]
Routing = Literal["ordered", "cheapest"]
ProviderModel = Annotated[str, msgspec.Meta(min_length=1, max_length=300)]


class TargetBody(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """A further target of an alias: customer prices default to the alias's own (give
    input and output together), provider costs come from the catalog unless given."""

    provider: ProviderName
    provider_model: ProviderModel
    input_price_per_million: PricePerMillion | None = None
    output_price_per_million: PricePerMillion | None = None
    cached_input_price_per_million: PricePerMillion | None = None
    cache_write_price_per_million: PricePerMillion | None = None
    provider_input_cost_per_million: PricePerMillion | None = None
    provider_output_cost_per_million: PricePerMillion | None = None
    provider_cached_input_cost_per_million: PricePerMillion | None = None
    provider_cache_write_cost_per_million: PricePerMillion | None = None


Targets = Annotated[list[TargetBody], msgspec.Meta(max_length=MAX_TARGETS - 1)]


def target_spec(body: TargetBody) -> TargetSpec:
    given = (body.input_price_per_million, body.output_price_per_million)
    if (given[0] is None) != (given[1] is None):
        raise InvalidValueError("a target's input_price_per_million and output_price_per_million go together")
    customer = None
    if body.input_price_per_million is not None and body.output_price_per_million is not None:
        customer = PriceSheet(
            input_per_million=body.input_price_per_million,
            output_per_million=body.output_price_per_million,
            cached_input_per_million=body.cached_input_price_per_million,
            cache_write_per_million=body.cache_write_price_per_million,
        )
    return TargetSpec(
        provider=body.provider,
        provider_model=body.provider_model,
        customer_prices=customer,
        cost_overrides=cost_overrides(body),
    )


class CreateAliasBody(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    alias: AliasName
    provider: ProviderName
    provider_model: Annotated[str, msgspec.Meta(min_length=1, max_length=300)]
    input_price_per_million: PricePerMillion
    output_price_per_million: PricePerMillion
    cached_input_price_per_million: PricePerMillion | None = None
    cache_write_price_per_million: PricePerMillion | None = None
    provider_input_cost_per_million: PricePerMillion | None = None
    provider_output_cost_per_million: PricePerMillion | None = None
    provider_cached_input_cost_per_million: PricePerMillion | None = None
    provider_cache_write_cost_per_million: PricePerMillion | None = None
    default_max_tokens: MaxTokens = DEFAULT_MAX_TOKENS
    access_groups: Groups = msgspec.field(default_factory=list)
    fallbacks: Aliases = msgspec.field(default_factory=list)
    targets: Targets = msgspec.field(default_factory=list)
    routing: Routing = "ordered"
    cache_ttl_s: CacheTtl | None = None
    cached_response_price_factor: PriceFactor = Decimal(1)


def cost_overrides(body: TargetBody | CreateAliasBody) -> CostOverrides:
    """The provider costs an alias or a target gives instead of the catalog's."""
    return CostOverrides(
        input_per_million=body.provider_input_cost_per_million,
        output_per_million=body.provider_output_cost_per_million,
        cached_input_per_million=body.provider_cached_input_cost_per_million,
        cache_write_per_million=body.provider_cache_write_cost_per_million,
    )


class UpdateAliasBody(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """Fields not given keep their value; a cache price set to null is derived again."""

    provider: ProviderName | msgspec.UnsetType = msgspec.UNSET
    provider_model: Annotated[str, msgspec.Meta(min_length=1, max_length=300)] | msgspec.UnsetType = msgspec.UNSET
    input_price_per_million: PricePerMillion | msgspec.UnsetType = msgspec.UNSET
    output_price_per_million: PricePerMillion | msgspec.UnsetType = msgspec.UNSET
    cached_input_price_per_million: PricePerMillion | msgspec.UnsetType | None = msgspec.UNSET
    cache_write_price_per_million: PricePerMillion | msgspec.UnsetType | None = msgspec.UNSET
    provider_input_cost_per_million: PricePerMillion | msgspec.UnsetType = msgspec.UNSET
    provider_output_cost_per_million: PricePerMillion | msgspec.UnsetType = msgspec.UNSET
    provider_cached_input_cost_per_million: PricePerMillion | msgspec.UnsetType | None = msgspec.UNSET
    provider_cache_write_cost_per_million: PricePerMillion | msgspec.UnsetType | None = msgspec.UNSET
    default_max_tokens: MaxTokens | msgspec.UnsetType = msgspec.UNSET
    access_groups: Groups | msgspec.UnsetType = msgspec.UNSET
    fallbacks: Aliases | msgspec.UnsetType = msgspec.UNSET
    targets: Targets | msgspec.UnsetType = msgspec.UNSET
    routing: Routing | msgspec.UnsetType = msgspec.UNSET
    cache_ttl_s: CacheTtl | msgspec.UnsetType | None = msgspec.UNSET
    cached_response_price_factor: PriceFactor | msgspec.UnsetType = msgspec.UNSET


class TargetOut(msgspec.Struct, frozen=True, kw_only=True):
    provider: str
    provider_model: str
    input_price_per_million: str
    output_price_per_million: str
    cached_input_price_per_million: str
    cache_write_price_per_million: str
    provider_input_cost_per_million: str
    provider_output_cost_per_million: str
    provider_cached_input_cost_per_million: str
    provider_cache_write_cost_per_million: str


def target_out(target: AliasTarget) -> TargetOut:
    c, p = target.customer_prices, target.provider_costs
    return TargetOut(
        provider=str(target.provider),
        provider_model=target.provider_model,
        input_price_per_million=fixed_point(c.input_per_million),
        output_price_per_million=fixed_point(c.output_per_million),
        cached_input_price_per_million=fixed_point(c.cached_input),
        cache_write_price_per_million=fixed_point(c.cache_write),
        provider_input_cost_per_million=fixed_point(p.input_per_million),
        provider_output_cost_per_million=fixed_point(p.output_per_million),
        provider_cached_input_cost_per_million=fixed_point(p.cached_input),
        provider_cache_write_cost_per_million=fixed_point(p.cache_write),
    )


class AliasOut(Body, frozen=True, kw_only=True):
    """An alias with its effective prices (cache prices filled in as they are billed)."""

    id: str
    alias: str
    provider: str
    provider_model: str
    input_price_per_million: Money
    output_price_per_million: Money
    cached_input_price_per_million: Money
    cache_write_price_per_million: Money
    reasoning_price_per_million: Money
    provider_input_cost_per_million: Money
    provider_output_cost_per_million: Money
    provider_cached_input_cost_per_million: Money
    provider_cache_write_cost_per_million: Money
    provider_reasoning_cost_per_million: Money
    default_max_tokens: int
    access_groups: list[str]
    fallbacks: list[str]
    organization_id: UUID | None
    version: int  # also the ETag; send it back in If-Match to update only what you read
    targets: list[TargetOut]  # after the primary one (the alias's own provider and prices)
    routing: str
    cache_ttl_s: int | None
    cached_response_price_factor: Money


def alias_out(alias: ModelAlias) -> AliasOut:
    c, p = alias.customer_prices, alias.provider_costs
    return from_attributes(
        AliasOut,
        alias,
        id=alias.alias,
        provider=str(alias.provider),
        input_price_per_million=c.input_per_million,
        output_price_per_million=c.output_per_million,
        cached_input_price_per_million=c.cached_input,
        cache_write_price_per_million=c.cache_write,
        reasoning_price_per_million=c.reasoning,
        provider_input_cost_per_million=p.input_per_million,
        provider_output_cost_per_million=p.output_per_million,
        provider_cached_input_cost_per_million=p.cached_input,
        provider_cache_write_cost_per_million=p.cache_write,
        provider_reasoning_cost_per_million=p.reasoning,
        access_groups=list(alias.access_groups),
        fallbacks=list(alias.fallbacks),
        targets=[target_out(t) for t in alias.targets],
        routing=alias.routing.value,
    )


class CreateGroupBody(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    name: AliasName
    models: Aliases = msgspec.field(default_factory=list)


class UpdateGroupBody(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    models: Aliases


class GroupOut(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    name: str
    models: list[str]
    version: int


def group_out(group: AccessGroup) -> GroupOut:
    return GroupOut(id=group.name, name=group.name, models=list(group.models), version=group.version)


# ---- pricing ----------------------------------------------------------------------------


class PricesOut(msgspec.Struct, frozen=True, kw_only=True):
    """USD per 1M tokens of each category, as billed (fallbacks applied).

    Strings, not ``Money``: the panel's price list reads them as text (its sign)."""

    input: str
    output: str
    cached_input: str
    cache_write: str
    reasoning: str


def prices_out(sheet: PriceSheet) -> PricesOut:
    return PricesOut(
        input=fixed_point(sheet.input_per_million),
        output=fixed_point(sheet.output_per_million),
        cached_input=fixed_point(sheet.cached_input),
        cache_write=fixed_point(sheet.cache_write),
        reasoning=fixed_point(sheet.reasoning),
    )


def margin_out(margins: PriceMargins) -> PricesOut:
    return PricesOut(**{category: fixed_point(m) for category, m in msgspec.structs.asdict(margins).items()})


class AliasPricingOut(msgspec.Struct, frozen=True, kw_only=True):
    alias: str
    provider: str
    provider_model: str
    customer_price_per_million: PricesOut
    provider_cost_per_million: PricesOut
    margin_per_million: PricesOut
    catalog_price_per_million: PricesOut | None  # the built-in list price; None: not in the catalog


class CatalogEntryOut(msgspec.Struct, frozen=True, kw_only=True):
    provider: str
    model: str
    price_per_million: PricesOut


class PricingOut(msgspec.Struct, frozen=True, kw_only=True):
    items: list[AliasPricingOut]
    catalog: list[CatalogEntryOut]  # the built-in catalog for the aliases' provider models
    next_cursor: str | None = None


def pricing_out(pricing: list[AliasPricing]) -> PricingOut:
    return PricingOut(
        items=[
            AliasPricingOut(
                alias=entry.alias.alias,
                provider=str(entry.alias.provider),
                provider_model=entry.alias.provider_model,
                customer_price_per_million=prices_out(entry.alias.customer_prices),
                provider_cost_per_million=prices_out(entry.alias.provider_costs),
                margin_per_million=margin_out(entry.margin_per_million),
                catalog_price_per_million=prices_out(entry.catalog) if entry.catalog is not None else None,
            )
            for entry in pricing
        ],
        catalog=[
            CatalogEntryOut(provider=str(provider), model=model, price_per_million=prices_out(sheet))
            for provider, model, sheet in listed_models(pricing)
        ],
    )
