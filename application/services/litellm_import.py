"""Migration from LiteLLM: a proxy ``config.yaml`` model_list → aliases and credentials."""

from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

import msgspec

from application.errors import ConflictError
from application.ports.catalog import PriceCatalog
from application.ports.repositories import StoredCredential
from application.services.credentials import CredentialService
from application.services.models import ModelService
from domain.access import DEFAULT_MAX_TOKENS, ModelAlias
from domain.admins import AdminPrincipal
from domain.catalog import Provider
from domain.ids import OrganizationId
from domain.pricing import PriceSheet
from domain.secrets import key_hint

MILLION = Decimal(1_000_000)
DEFAULT_GROUP = "litellm-import"

_PREFIXES = {
    "openai": Provider.OPENAI,
    "anthropic": Provider.ANTHROPIC,
    "gemini": Provider.GEMINI,
    "fireworks_ai": Provider.FIREWORKS,
    "fireworks": Provider.FIREWORKS,
}
_UNSUPPORTED = {"azure", "azure_ai", "bedrock", "vertex_ai", "vertex_ai_beta", "ollama", "huggingface", "together_ai"}
_BARE = (("gpt-", Provider.OPENAI), ("o1", Provider.OPENAI), ("o3", Provider.OPENAI), ("o4", Provider.OPENAI),
         ("chatgpt", Provider.OPENAI), ("claude", Provider.ANTHROPIC), ("gemini", Provider.GEMINI))  # fmt: skip


class PlannedAlias(msgspec.Struct, frozen=True, kw_only=True):
    alias: str
    provider: Provider
    provider_model: str
    provider_costs: PriceSheet
    access_groups: tuple[str, ...]
    max_tokens: int | None = None


class PlannedCredential(msgspec.Struct, frozen=True, kw_only=True):
    provider: Provider
    name: str
    api_key: str
    api_base: str | None

    def __repr__(self) -> str:
        return f"PlannedCredential(provider={self.provider!s}, name={self.name!r}, api_base={self.api_base!r})"


class Skipped(msgspec.Struct, frozen=True, kw_only=True):
    item: str
    reason: str


class ImportPlan(msgspec.Struct, frozen=True, kw_only=True):
    aliases: list[PlannedAlias]
    credentials: list[PlannedCredential]
    skipped: list[Skipped]


def plan_import(config: Mapping[str, Any], env: Mapping[str, str], catalog: PriceCatalog) -> ImportPlan:
    """What the config asks for, and what cannot be imported with the reason why.

    Customer prices start equal to the provider costs (margin 0), to be set by the operator.
    """
    aliases: list[PlannedAlias] = []
    credentials: list[PlannedCredential] = []
    skipped: list[Skipped] = []
    seen_aliases: set[str] = set()
    seen_credentials: set[tuple[Provider, str, str | None]] = set()
    entries = config.get("model_list")
    if not isinstance(entries, list):
        return ImportPlan(aliases=[], credentials=[], skipped=[Skipped(item="config", reason="no model_list found")])
    for index, entry in enumerate(entries):
        name = str(entry.get("model_name") or "") if isinstance(entry, dict) else ""
        label = name or f"model_list[{index}]"
        params = entry.get("litellm_params") if isinstance(entry, dict) else None
        if not name or not isinstance(params, dict) or not params.get("model"):
            skipped.append(Skipped(item=label, reason="needs model_name and litellm_params.model"))
            continue
        target = _provider_and_model(str(params["model"]))
        if isinstance(target, str):
            skipped.append(Skipped(item=label, reason=target))
            continue
        provider, provider_model = target
        api_base = str(params["api_base"]).rstrip("/") if params.get("api_base") else None
        key = _resolve_key(params.get("api_key"), env)
        if isinstance(key, Skipped):
            skipped.append(Skipped(item=f"{label} credential", reason=key.reason))
        elif key is not None and (provider, key, api_base) not in seen_credentials:
            seen_credentials.add((provider, key, api_base))
            credentials.append(
                PlannedCredential(
                    provider=provider, name=f"litellm {provider} {len(credentials) + 1}", api_key=key, api_base=api_base
                )
            )
        if name in seen_aliases:
            skipped.append(Skipped(item=label, reason="another deployment of this model_name was imported first"))
            continue
        costs = _costs(params) or catalog.provider_prices(provider, provider_model)
        if costs is None:
            skipped.append(
                Skipped(item=label, reason="unknown model price: set input_cost_per_token and output_cost_per_token")
            )
            continue
        info = entry.get("model_info") if isinstance(entry.get("model_info"), dict) else {}
        groups = tuple(str(g) for g in (info.get("access_groups") or [DEFAULT_GROUP]))
        max_tokens = params.get("max_tokens")
        seen_aliases.add(name)
        aliases.append(
            PlannedAlias(
                alias=name,
                provider=provider,
                provider_model=provider_model,
                provider_costs=costs,
                access_groups=groups,
                max_tokens=int(max_tokens) if isinstance(max_tokens, int) and max_tokens > 0 else None,
            )
        )
    return ImportPlan(aliases=aliases, credentials=credentials, skipped=skipped)


def _provider_and_model(model: str) -> tuple[Provider, str] | str:
    prefix, slash, rest = model.partition("/")
    if slash:
        if prefix in _PREFIXES:
            return _PREFIXES[prefix], rest
        if prefix in _UNSUPPORTED:
            return f"provider '{prefix}' is not supported (openai, anthropic, gemini, fireworks are)"
        if model.startswith("accounts/fireworks/"):
            return Provider.FIREWORKS, model
        return f"unknown provider prefix '{prefix}'"
    for start, provider in _BARE:
        if model.startswith(start):
            return provider, model
    return f"cannot tell the provider of '{model}': use a provider/model form"


def _resolve_key(raw: object, env: Mapping[str, str]) -> str | Skipped | None:
    if raw is None or raw == "":
        return None
    text = str(raw)
    if text.startswith("os.environ/"):
        variable = text.removeprefix("os.environ/")
        value = env.get(variable)
        if not value:
            return Skipped(item=variable, reason=f"environment variable {variable} is not set")
        return value
    return text


def _per_million(value: object) -> Decimal | None:
    if value is None:
        return None
    try:
        # str() of a YAML float is its shortest exact repr: 2.5e-06 → Decimal('2.5E-6').
        return Decimal(str(value)) * MILLION
    except InvalidOperation:
        return None


def _costs(params: Mapping[str, Any]) -> PriceSheet | None:
    inp, out = _per_million(params.get("input_cost_per_token")), _per_million(params.get("output_cost_per_token"))
    if inp is None or out is None:
        return None
    return PriceSheet(
        input_per_million=inp.normalize(),
        output_per_million=out.normalize(),
        cached_input_per_million=_norm(_per_million(params.get("cache_read_input_token_cost"))),
        cache_write_per_million=_norm(_per_million(params.get("cache_creation_input_token_cost"))),
    )


def _norm(value: Decimal | None) -> Decimal | None:
    return value.normalize() if value is not None else None


class ImportReport(msgspec.Struct, frozen=True, kw_only=True):
    """What an import created, and what it left out with the reason why."""

    aliases: list[ModelAlias]
    credentials: list[StoredCredential]
    skipped: list[Skipped]


class LiteLlmImporter:
    """Carries out a plan: provider credentials for one organization (encrypted), and
    platform-wide model aliases at margin 0 (customer price = provider cost, to be set).

    Rules: running it again creates nothing new: an alias that exists is skipped, and a
    credential is skipped when the organization already stores the same key for the same
    provider and ``api_base`` (found by decrypting its credentials, in memory only).
    """

    def __init__(self, *, models: ModelService, credentials: CredentialService, catalog: PriceCatalog) -> None:
        self._models = models
        self._credentials = credentials
        self._catalog = catalog

    async def run(
        self,
        config: Mapping[str, Any],
        env: Mapping[str, str],
        organization_id: OrganizationId,
        *,
        actor: AdminPrincipal | None = None,
    ) -> ImportReport:
        plan = plan_import(config, env, self._catalog)
        skipped = list(plan.skipped)
        stored = await self._credentials.stored_keys(organization_id)  # 404 for an unknown organization
        credentials: list[StoredCredential] = []
        for planned in plan.credentials:
            label = f"{planned.name} ({planned.provider}, {key_hint(planned.api_key)})"
            same = stored.get((planned.provider, planned.api_key, planned.api_base))
            if same is not None:
                skipped.append(Skipped(item=label, reason=f"the same key is already stored as credential '{same}'"))
                continue
            credentials.append(
                await self._credentials.add_credential(
                    organization_id=organization_id,
                    provider=planned.provider,
                    name=planned.name,
                    api_key=planned.api_key,
                    api_base=planned.api_base,
                    actor=actor,
                )
            )
        aliases: list[ModelAlias] = []
        for planned_alias in plan.aliases:
            if await self._models.get_alias(planned_alias.alias) is not None:
                skipped.append(Skipped(item=planned_alias.alias, reason="a model alias with this name exists"))
                continue
            try:
                alias = await self._models.create_alias(
                    alias=planned_alias.alias,
                    provider=planned_alias.provider,
                    provider_model=planned_alias.provider_model,
                    customer_prices=planned_alias.provider_costs,
                    provider_costs=planned_alias.provider_costs,
                    default_max_tokens=planned_alias.max_tokens or DEFAULT_MAX_TOKENS,
                    access_groups=planned_alias.access_groups,
                    actor=actor,
                )
            except ConflictError:  # created concurrently
                skipped.append(Skipped(item=planned_alias.alias, reason="a model alias with this name exists"))
                continue
            aliases.append(alias)
        return ImportReport(aliases=aliases, credentials=credentials, skipped=skipped)
