"""Model aliases, access groups and the rule deciding which team may use which alias."""

from collections.abc import Iterable
from decimal import Decimal

import msgspec

from domain.admins import AdminPrincipal, sees
from domain.catalog import Provider
from domain.errors import InvalidValueError, ModelNotAllowedError
from domain.ids import OrganizationId
from domain.pricing import PriceSheet
from domain.routing import MAX_TARGETS, AliasTarget, RoutingStrategy, check_cache_settings

DEFAULT_MAX_TOKENS = 4096


class ModelAlias(msgspec.Struct, frozen=True, kw_only=True):
    """A client-facing model name bound to a provider model and its prices.

    ``provider``/``provider_model`` and the two sheets are its primary target; ``targets``
    are further targets of its own (``routing`` chooses among them all), ``fallbacks`` other
    aliases tried after them. ``fallback_targets`` is read-only: the fallback aliases'
    targets as loaded with the alias (one level: a fallback's own fallbacks are not
    followed), so a call needs no further lookup to fall back.
    """

    alias: str
    provider: Provider
    provider_model: str
    customer_prices: PriceSheet
    provider_costs: PriceSheet
    default_max_tokens: int = DEFAULT_MAX_TOKENS
    access_groups: tuple[str, ...] = ()
    fallbacks: tuple[str, ...] = ()
    organization_id: OrganizationId | None = None  # None: available to every organization
    version: int = 1  # bumped by every change of the alias or of its group memberships
    targets: tuple[AliasTarget, ...] = ()
    routing: RoutingStrategy = RoutingStrategy.ORDERED
    cache_ttl_s: int | None = None  # None: answers are not cached
    cached_response_price_factor: Decimal = Decimal(1)  # × the customer price of a cached answer
    fallback_targets: tuple[AliasTarget, ...] = ()

    def __post_init__(self) -> None:
        if not self.alias or not self.provider_model:
            raise InvalidValueError("alias and provider_model must not be empty")
        if self.default_max_tokens <= 0:
            raise InvalidValueError("default_max_tokens must be positive")
        if self.alias in self.fallbacks:
            raise InvalidValueError("an alias cannot fall back to itself")
        if len(self.targets) + 1 > MAX_TARGETS:
            raise InvalidValueError(f"an alias has at most {MAX_TARGETS} targets")
        check_cache_settings(self.cache_ttl_s, self.cached_response_price_factor)

    @property
    def primary(self) -> AliasTarget:
        return AliasTarget(
            provider=self.provider,
            provider_model=self.provider_model,
            customer_prices=self.customer_prices,
            provider_costs=self.provider_costs,
        )

    @property
    def own_targets(self) -> tuple[AliasTarget, ...]:
        """The primary target, then the alias's further targets, in order."""
        return (self.primary, *self.targets)

    def max_tokens_for(self, requested: int | None) -> int:
        """The max_tokens actually sent to the provider (and used for the hold)."""
        return requested if requested is not None else self.default_max_tokens


class AccessGroup(msgspec.Struct, frozen=True, kw_only=True):
    name: str
    models: tuple[str, ...] = ()
    version: int = 1  # bumped by every change of its members


def open_to(alias: ModelAlias, organization_id: OrganizationId | None) -> bool:
    """Whether an organization may see the alias at all: a platform-wide alias (organization
    None) is open to every organization, a bound one to its own only. ``organization_id``
    None asks for "every organization" (an unscoped admin, the system): it sees them all."""
    return organization_id is None or alias.organization_id in (None, organization_id)


def seen_by(actor: AdminPrincipal | None, alias: ModelAlias) -> bool:
    """Whether an admin (None: the system) sees the alias: the organization scope rule
    (``domain.admins.sees``) applied to aliases, where platform-wide ones are everyone's."""
    return alias.organization_id is None or sees(actor, alias.organization_id)


def may_use(team_groups: Iterable[str], alias: ModelAlias) -> bool:
    """A team may use an alias only through an access group assigned to it."""
    return not set(team_groups).isdisjoint(alias.access_groups)


def offered_to(organization_id: OrganizationId, team_groups: Iterable[str], alias: ModelAlias) -> bool:
    """Whether a team of this organization, with these access groups, may call the alias:
    the alias is platform-wide or its organization's own, and one of the team's groups has it."""
    return open_to(alias, organization_id) and may_use(team_groups, alias)


def ensure_may_use(team_groups: Iterable[str], alias: ModelAlias) -> None:
    if not may_use(team_groups, alias):
        raise ModelNotAllowedError(f"model '{alias.alias}' is not available to this team")


def ensure_offered_to(organization_id: OrganizationId, team_groups: Iterable[str], alias: ModelAlias) -> None:
    """``offered_to`` as a check: another organization's alias answers exactly like one the
    team's groups lack, so a team learns nothing about other organizations' aliases."""
    if not offered_to(organization_id, team_groups, alias):
        raise ModelNotAllowedError(f"model '{alias.alias}' is not available to this team")


def fallback_usable_by(alias: ModelAlias, fallback: ModelAlias) -> bool:
    """Whether the alias's calls could ever fall back to ``fallback``: a fallback bound to
    another organization never serves them (the route leaves it out). A platform-wide alias
    may fall back to one organization's alias (that organization's teams use it)."""
    return open_to(fallback, alias.organization_id)
