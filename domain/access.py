"""Model aliases, access groups and the rule deciding which team may use which alias."""

from collections.abc import Iterable

import msgspec

from domain.catalog import Provider
from domain.errors import InvalidValueError, ModelNotAllowedError
from domain.ids import OrganizationId
from domain.pricing import PriceSheet

DEFAULT_MAX_TOKENS = 4096


class ModelAlias(msgspec.Struct, frozen=True, kw_only=True):
    """A client-facing model name bound to a provider model and its prices."""

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

    def __post_init__(self) -> None:
        if not self.alias or not self.provider_model:
            raise InvalidValueError("alias and provider_model must not be empty")
        if self.default_max_tokens <= 0:
            raise InvalidValueError("default_max_tokens must be positive")
        if self.alias in self.fallbacks:
            raise InvalidValueError("an alias cannot fall back to itself")

    def max_tokens_for(self, requested: int | None) -> int:
        """The max_tokens actually sent to the provider (and used for the hold)."""
        return requested if requested is not None else self.default_max_tokens


class AccessGroup(msgspec.Struct, frozen=True, kw_only=True):
    name: str
    models: tuple[str, ...] = ()
    version: int = 1  # bumped by every change of its members


def may_use(team_groups: Iterable[str], alias: ModelAlias) -> bool:
    """A team may use an alias only through an access group assigned to it."""
    return not set(team_groups).isdisjoint(alias.access_groups)


def offered_to(organization_id: OrganizationId, team_groups: Iterable[str], alias: ModelAlias) -> bool:
    """Whether a team of this organization, with these access groups, may call the alias:
    the alias is platform-wide or its organization's own, and one of the team's groups has it."""
    return alias.organization_id in (None, organization_id) and may_use(team_groups, alias)


def ensure_may_use(team_groups: Iterable[str], alias: ModelAlias) -> None:
    if not may_use(team_groups, alias):
        raise ModelNotAllowedError(f"model '{alias.alias}' is not available to this team")
