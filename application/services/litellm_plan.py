"""What a LiteLLM proxy ``config.yaml`` maps to here, decided without touching anything:
the aliases, the credential per provider and the team limits it asks for, what is imported
differently from how LiteLLM runs it (notes), and every setting left out with the reason
why (an error when it should have been imported). ``litellm_import`` carries a plan out;
the mapping itself is described there and in docs/api.md."""

from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

import msgspec

from application.ports.catalog import PriceCatalog
from domain.catalog import Provider
from domain.errors import DomainError
from domain.pricing import PriceSheet, marked_up
from domain.rate_limits import MAX_LIMIT, RateLimits
from domain.routing import RoutingStrategy
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

_PRICE_PARAMS = ("input_cost_per_token", "output_cost_per_token", "cache_read_input_token_cost",
                 "cache_creation_input_token_cost")  # fmt: skip
_IMPORTED_PARAMS = {"model", "api_key", "api_base", "max_tokens", *_PRICE_PARAMS}
_IMPORTED_INFO = {"access_groups", "mode", *_PRICE_PARAMS}

_CAPACITY = (
    "per-deployment limits (a deployment's provider capacity) are not modelled; rate limits "
    "are per team (rpm_limit, tpm_limit)"
)
_TIMEOUT = "one provider timeout for the whole service (PROVIDER_TIMEOUT_S)"
_RETRIES = "one retry policy for the whole service (PROVIDER_MAX_RETRIES)"
_DEFAULTS = "default request parameters per model are not modelled: clients send them"
_NOT_MODELLED = "not modelled by this service"
_PARAM_REASONS = {
    "rpm": _CAPACITY,
    "tpm": _CAPACITY,
    "timeout": _TIMEOUT,
    "stream_timeout": _TIMEOUT,
    "request_timeout": _TIMEOUT,
    "max_retries": _RETRIES,
    "num_retries": _RETRIES,
    **{p: _DEFAULTS for p in ("temperature", "top_p", "stop", "seed", "frequency_penalty", "presence_penalty",
                              "response_format", "max_completion_tokens", "reasoning_effort")},
}  # fmt: skip
_INFO_REASONS = {
    "id": "deployment ids are not kept (a deployment is a target of its model_name's alias)",
    "base_model": "provider costs come from the deployment's model in the price catalog, or from its cost_per_token",
}
_SETTING_REASONS = {
    "litellm_settings": {
        "num_retries": _RETRIES,
        "request_timeout": _TIMEOUT,
        "context_window_fallbacks": "only fallbacks on errors are modelled (alias fallbacks)",
        "content_policy_fallbacks": "only fallbacks on errors are modelled (alias fallbacks)",
        "default_fallbacks": "only fallbacks named per model are modelled",
        "drop_params": "a request field that cannot be honoured is refused by name (422), never dropped silently",
        "success_callback": "logging callbacks are not supported: the service logs JSON and serves /metrics",
        "failure_callback": "logging callbacks are not supported: the service logs JSON and serves /metrics",
        "callbacks": "logging callbacks are not supported: the service logs JSON and serves /metrics",
        "cache": "the response cache is set per alias (cache_ttl_s, admin API), in memory or REDIS_URL",
        "cache_params": "the response cache is set per alias (cache_ttl_s, admin API), in memory or REDIS_URL",
        "set_verbose": "logging is configured with LOG_LEVEL",
        "json_logs": "logs are JSON in production already",
        "max_budget": "budgets are team credits (POST /api/teams/{team_id}/credits)",
        "upperbound_key_generate_params": "bounds on key settings are not modelled",
        "default_team_settings": "teams are created with the admin API",
    },
    "router_settings": {
        "routing_strategy_args": "routing strategies take no arguments here",
        "num_retries": _RETRIES,
        "timeout": _TIMEOUT,
        "retry_after": _RETRIES,
        "allowed_fails": "the circuit breaker of failing targets is set per instance (BREAKER_FAILURES)",
        "cooldown_time": "the circuit breaker of failing targets is set per instance (BREAKER_COOL_DOWN_S)",
        "context_window_fallbacks": "only fallbacks on errors are modelled (alias fallbacks)",
        "content_policy_fallbacks": "only fallbacks on errors are modelled (alias fallbacks)",
        "default_fallbacks": "only fallbacks named per model are modelled",
        "redis_host": "shared state goes to REDIS_URL",
        "redis_port": "shared state goes to REDIS_URL",
        "redis_password": "shared state goes to REDIS_URL",
        "enable_pre_call_checks": "rate limits are per team and always checked before a call",
        "model_group_alias": "model names are the aliases themselves",
    },
    "general_settings": {
        "master_key": "admin users (JWT) and team virtual keys replace the master key",
        "database_url": "the service's database is DATABASE_URL",
        "max_parallel_requests": "concurrency limits are not modelled; rate limits are per team",
        "global_max_parallel_requests": "concurrency limits are not modelled; rate limits are per team",
    },
}
_KEY_PARAMS_IMPORTED = {"rpm_limit", "tpm_limit"}
_READ_ELSEWHERE = {
    ("litellm_settings", "fallbacks"),
    ("router_settings", "fallbacks"),
    ("router_settings", "routing_strategy"),
    ("litellm_settings", "default_key_generate_params"),
}


class Skipped(msgspec.Struct, frozen=True, kw_only=True):
    """Something of the config that was not imported; ``error``: it should have been."""

    item: str
    reason: str
    error: bool = False


class Note(msgspec.Struct, frozen=True, kw_only=True):
    """Something imported differently from how LiteLLM runs it."""

    item: str
    message: str


class PlannedTarget(msgspec.Struct, frozen=True, kw_only=True):
    """A further deployment of a model_name: one more target of its alias."""

    label: str
    provider: Provider
    provider_model: str
    api_base: str | None
    provider_costs: PriceSheet
    customer_prices: PriceSheet


class PlannedAlias(msgspec.Struct, frozen=True, kw_only=True):
    alias: str
    model_name: str
    provider: Provider
    provider_model: str
    api_base: str | None
    provider_costs: PriceSheet
    customer_prices: PriceSheet
    access_groups: tuple[str, ...]
    max_tokens: int | None = None
    targets: tuple[PlannedTarget, ...] = ()  # the name's other deployments, in order
    routing: RoutingStrategy = RoutingStrategy.ORDERED
    fallbacks: tuple[str, ...] = ()  # the config's fallbacks (other model names), in order

    @property
    def zero_margin(self) -> bool:
        return self.customer_prices == self.provider_costs


class PlannedCredential(msgspec.Struct, frozen=True, kw_only=True):
    """The key (and endpoint) a provider's imported deployments use: the first one given."""

    provider: Provider
    api_key: str | None
    api_base: str | None
    source: str

    @property
    def name(self) -> str:
        return credential_name(self.provider)

    def __repr__(self) -> str:
        return f"PlannedCredential(provider={self.provider!s}, api_base={self.api_base!r}, source={self.source!r})"


class ImportPlan(msgspec.Struct, frozen=True, kw_only=True):
    aliases: list[PlannedAlias]
    credentials: list[PlannedCredential]
    team_limits: RateLimits | None
    notes: list[Note]
    skipped: list[Skipped]


def credential_name(provider: Provider) -> str:
    return f"litellm {provider}"


def plan_import(
    config: Mapping[str, Any],
    env: Mapping[str, str],
    catalog: PriceCatalog,
    *,
    markup: Decimal | None = None,
    prices: Mapping[str, Any] | None = None,
) -> ImportPlan:
    """What the config asks for, what of it is imported and how, and what is not, with why."""
    return _Planner(config, env, catalog, markup, prices).plan()


class _Planner:
    def __init__(
        self,
        config: Mapping[str, Any],
        env: Mapping[str, str],
        catalog: PriceCatalog,
        markup: Decimal | None,
        prices: Mapping[str, Any] | None,
    ) -> None:
        self.config = config
        declared = config.get("environment_variables")
        # LiteLLM exports its own environment_variables at start; the real environment wins here.
        self.env = {**({str(k): str(v) for k, v in declared.items()} if isinstance(declared, dict) else {}), **env}
        self.catalog = catalog
        self.markup = markup
        self.raw_prices = prices or {}
        self.aliases: list[PlannedAlias] = []
        self.credentials: dict[Provider, PlannedCredential] = {}
        self.notes: list[Note] = []
        self.skipped: list[Skipped] = []

    def skip(self, item: str, reason: str, *, error: bool = False) -> None:
        self.skipped.append(Skipped(item=item, reason=reason, error=error))

    def plan(self) -> ImportPlan:
        entries = self.config.get("model_list")
        if not isinstance(entries, list) or not entries:
            self.skip("config", "no model_list found", error=True)
            return ImportPlan(aliases=[], credentials=[], team_limits=None, notes=[], skipped=self.skipped)
        prices = self._explicit_prices(entries)
        by_name: dict[str, list[tuple[int, Mapping[str, Any]]]] = {}
        for index, entry in enumerate(entries):
            name = str(entry.get("model_name") or "") if isinstance(entry, dict) else ""
            if not name:
                self.skip(f"model_list[{index}]", "needs model_name and litellm_params.model", error=True)
                continue
            by_name.setdefault(name, []).append((index, entry))
        for name, deployments in by_name.items():
            self._model(name, deployments, prices.get(name))
        self._fallbacks(set(by_name))
        self._routing_setting()
        team_limits = self._team_limits()
        self._other_settings()
        return ImportPlan(
            aliases=self.aliases,
            credentials=list(self.credentials.values()),
            team_limits=team_limits,
            notes=self.notes,
            skipped=self.skipped,
        )

    # -- models -----------------------------------------------------------------------

    def _model(self, name: str, deployments: list[tuple[int, Mapping[str, Any]]], price: PriceSheet | None) -> None:
        planned: list[tuple[str, PlannedAlias]] = []
        for position, (_, entry) in enumerate(deployments, start=1):
            label = name if len(deployments) == 1 else f"{name} (deployment {position})"
            found = self._deployment(name, name, label, entry, price)
            if found is not None:
                planned.append((label, found))
        if not planned:
            return
        (_, primary), others = planned[0], planned[1:]
        routing, how = self._routing()
        targets = tuple(
            PlannedTarget(
                label=label,
                provider=a.provider,
                provider_model=a.provider_model,
                api_base=a.api_base,
                provider_costs=a.provider_costs,
                customer_prices=a.customer_prices,
            )
            for label, a in others
        )
        self.aliases.append(msgspec.structs.replace(primary, targets=targets, routing=routing))
        if others:
            self.notes.append(
                Note(
                    item=name,
                    message=f"{len(planned)} deployments: one alias '{name}' with {len(planned)} targets, {how}; "
                    "each target is priced at its own provider cost",
                )
            )

    def _routing(self) -> tuple[RoutingStrategy, str]:
        """``router_settings.routing_strategy`` as an alias's routing, and how it is described."""
        settings = self.config.get("router_settings")
        strategy = settings.get("routing_strategy") if isinstance(settings, dict) else None
        if strategy == "cost-based-routing":
            return RoutingStrategy.CHEAPEST, "cheapest first (routing_strategy cost-based-routing)"
        return RoutingStrategy.ORDERED, "tried in their order (routing 'ordered')"

    def _deployment(
        self, name: str, alias: str, label: str, entry: Mapping[str, Any], price: PriceSheet | None
    ) -> PlannedAlias | None:
        params = entry.get("litellm_params")
        if not isinstance(params, dict) or not params.get("model"):
            self.skip(label, "needs model_name and litellm_params.model", error=True)
            return None
        raw_info = entry.get("model_info")
        info: Mapping[str, Any] = raw_info if isinstance(raw_info, dict) else {}
        for key in entry:
            if key not in ("model_name", "litellm_params", "model_info"):
                self.skip(f"{label} {key}", _PARAM_REASONS.get(str(key), _NOT_MODELLED))
        for key in params:
            if key not in _IMPORTED_PARAMS:
                self.skip(f"{label} litellm_params.{key}", _PARAM_REASONS.get(str(key), _NOT_MODELLED))
        for key in info:
            if key not in _IMPORTED_INFO:
                self.skip(f"{label} model_info.{key}", _INFO_REASONS.get(str(key), _NOT_MODELLED))
        mode = info.get("mode")
        if mode not in (None, "chat"):
            self.skip(label, f"mode '{mode}' is not served: only chat models are", error=True)
            return None
        target = _provider_and_model(str(params["model"]))
        if isinstance(target, str):
            self.skip(label, target, error=True)
            return None
        provider, provider_model = target
        api_base = self._resolve(params.get("api_base"), label, "api_base")
        api_key = self._resolve(params.get("api_key"), label, "api_key")
        if isinstance(api_base, Skipped) or isinstance(api_key, Skipped):
            return None
        api_base = api_base.rstrip("/") if api_base else None
        costs = _costs(params) or _costs(info) or self.catalog.provider_prices(provider, provider_model)
        if costs is None:
            self.skip(
                label,
                "unknown model price: set input_cost_per_token and output_cost_per_token",
                error=True,
            )
            return None
        if not self._endpoint(provider, api_base, api_key, label):
            return None
        max_tokens = params.get("max_tokens")
        groups = info.get("access_groups") or [DEFAULT_GROUP]
        return PlannedAlias(
            alias=alias,
            model_name=name,
            provider=provider,
            provider_model=provider_model,
            api_base=api_base,
            provider_costs=costs,
            customer_prices=price or (marked_up(costs, self.markup) if self.markup is not None else costs),
            # The name's other deployments are reached through it, never called directly.
            access_groups=tuple(str(g) for g in groups) if alias == name else (),
            max_tokens=max_tokens if isinstance(max_tokens, int) and max_tokens > 0 else None,
        )

    def _resolve(self, raw: object, label: str, field: str) -> str | Skipped | None:
        if raw is None or raw == "":
            return None
        text = str(raw)
        if not text.startswith("os.environ/"):
            return text
        variable = text.removeprefix("os.environ/")
        value = self.env.get(variable)
        if value:
            return value
        skipped = Skipped(
            item=label, reason=f"its {field} names the environment variable {variable}, which is not set", error=True
        )
        self.skipped.append(skipped)
        return skipped

    def _endpoint(self, provider: Provider, api_base: str | None, api_key: str | None, label: str) -> bool:
        """One endpoint and one key per provider and organization: the first deployment's."""
        first = self.credentials.get(provider)
        if first is None:
            self.credentials[provider] = PlannedCredential(
                provider=provider, api_key=api_key, api_base=api_base, source=label
            )
            return True
        if first.api_base != api_base:
            self.skip(
                label,
                f"it needs {provider} at {api_base or 'the default endpoint'} while {first.source} uses "
                f"{first.api_base or 'the default endpoint'}: an organization has one endpoint per provider",
                error=True,
            )
            return False
        if api_key is not None and first.api_key is None:
            self.credentials[provider] = msgspec.structs.replace(first, api_key=api_key, source=label)
        elif api_key is not None and api_key != first.api_key:
            self.notes.append(
                Note(
                    item=label,
                    message=f"its {provider} key ({key_hint(api_key)}) is not stored: an organization uses one key "
                    f"per provider, the one of {first.source}",
                )
            )
        return True

    def _explicit_prices(self, entries: list[Any]) -> dict[str, PriceSheet]:
        names = {str(e.get("model_name")) for e in entries if isinstance(e, dict) and e.get("model_name")}
        found: dict[str, PriceSheet] = {}
        for name, raw in self.raw_prices.items():
            if str(name) not in names:
                self.skip(f"prices {name}", "not a model_name of this config", error=True)
                continue
            try:
                found[str(name)] = msgspec.convert(raw, ModelPrices, strict=False).sheet()
            except (msgspec.ValidationError, DomainError) as exc:
                self.skip(f"prices {name}", f"not a price sheet: {exc}", error=True)
        return found

    # -- fallbacks, limits and the other settings ---------------------------------------

    def _routing_setting(self) -> None:
        settings = self.config.get("router_settings")
        strategy = settings.get("routing_strategy") if isinstance(settings, dict) else None
        if strategy not in (None, "cost-based-routing"):
            self.skip(
                "router_settings.routing_strategy",
                f"'{strategy}' is not built: an alias's targets are tried in order (routing 'ordered'); "
                "'cost-based-routing' maps to routing 'cheapest'",
            )

    def _fallbacks(self, names: set[str]) -> None:
        by_alias = {a.alias: a for a in self.aliases}
        for section in ("litellm_settings", "router_settings"):
            settings = self.config.get(section)
            rules = settings.get("fallbacks") if isinstance(settings, dict) else None
            if rules is None:
                continue
            if not isinstance(rules, list):
                self.skip(f"{section}.fallbacks", "expected a list of {model_name: [fallbacks]}", error=True)
                continue
            for rule in rules:
                for source, targets in rule.items() if isinstance(rule, dict) else []:
                    self._fallback_rule(section, str(source), targets, names, by_alias)
        self.aliases[:] = list(by_alias.values())

    def _fallback_rule(
        self, section: str, source: str, targets: object, names: set[str], by_alias: dict[str, PlannedAlias]
    ) -> None:
        item = f"{section}.fallbacks {source}"
        if source not in names:
            self.skip(item, f"'{source}' is not a model_name of this config", error=True)
            return
        primary = by_alias.get(source)
        if primary is None:
            return  # the model itself was not imported: already reported
        wanted = list(primary.fallbacks)
        for target in targets if isinstance(targets, list) else [targets]:
            target = str(target)
            if target == source or target in wanted:
                continue
            if target not in names:
                self.skip(item, f"fallback '{target}' is not a model_name of this config", error=True)
            elif target not in by_alias:
                self.skip(item, f"fallback '{target}' was not imported", error=True)
            else:
                wanted.append(target)
        by_alias[source] = msgspec.structs.replace(primary, fallbacks=tuple(wanted))

    def _team_limits(self) -> RateLimits | None:
        settings = self.config.get("litellm_settings")
        params = settings.get("default_key_generate_params") if isinstance(settings, dict) else None
        if not isinstance(params, dict):
            return None
        for key in params:
            if key not in _KEY_PARAMS_IMPORTED:
                self.skip(f"litellm_settings.default_key_generate_params.{key}", _NOT_MODELLED)
        limits: dict[str, int] = {}
        for key, field in (("rpm_limit", "requests_per_minute"), ("tpm_limit", "tokens_per_minute")):
            value = params.get(key)
            if value is None:
                continue
            if not isinstance(value, int) or isinstance(value, bool) or not 0 < value <= MAX_LIMIT:
                self.skip(f"litellm_settings.default_key_generate_params.{key}", "not a positive integer", error=True)
                continue
            limits[field] = value
        return RateLimits(**limits) if limits else None

    def _other_settings(self) -> None:
        for section, value in self.config.items():
            if section == "model_list":
                continue
            if section == "environment_variables":
                self.skip(section, "used to resolve os.environ/ references only; the service reads its own environment")
                continue
            reasons = _SETTING_REASONS.get(section)
            if reasons is None or not isinstance(value, dict):
                self.skip(section, _NOT_MODELLED)
                continue
            for key in value:
                if (section, key) in _READ_ELSEWHERE:
                    continue  # imported; what of it is not is reported where it is read
                self.skip(f"{section}.{key}", reasons.get(str(key), _NOT_MODELLED))


class ModelPrices(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """Explicit customer prices of one model (USD per 1M tokens), as the admin API names them."""

    input_price_per_million: Decimal
    output_price_per_million: Decimal
    cached_input_price_per_million: Decimal | None = None
    cache_write_price_per_million: Decimal | None = None

    def sheet(self) -> PriceSheet:
        return PriceSheet(
            input_per_million=self.input_price_per_million,
            output_per_million=self.output_price_per_million,
            cached_input_per_million=self.cached_input_price_per_million,
            cache_write_per_million=self.cache_write_price_per_million,
        )


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


def _per_million(value: object) -> Decimal | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        # str() of a YAML float is its shortest exact repr: 2.5e-06 → Decimal('2.5E-6').
        return (Decimal(str(value)) * MILLION).normalize()
    except InvalidOperation:
        return None


def _costs(params: Mapping[str, Any]) -> PriceSheet | None:
    inp, out = _per_million(params.get("input_cost_per_token")), _per_million(params.get("output_cost_per_token"))
    if inp is None or out is None:
        return None
    return PriceSheet(
        input_per_million=inp,
        output_per_million=out,
        cached_input_per_million=_per_million(params.get("cache_read_input_token_cost")),
        cache_write_per_million=_per_million(params.get("cache_creation_input_token_cost")),
    )
