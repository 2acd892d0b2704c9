"""Model aliases, access groups and the price list.

Names may contain slashes (``openai/gpt-4o``), so they come last in a path. Aliases and
groups are platform-wide: the use cases let only unscoped admins change them.
"""

from decimal import Decimal
from pathlib import PurePosixPath
from typing import Any

import msgspec
from litestar import Controller, Response, get, post
from litestar.di import NamedDependency
from litestar.exceptions import ClientException
from litestar.params import FromPath, FromQuery

from application.errors import NotFoundError
from application.services.models import AliasChanges, CostOverrides, TargetSpec
from domain.access import DEFAULT_MAX_TOKENS, ModelAlias, fallback_usable_by
from domain.catalog import Provider
from domain.errors import DomainError, InvalidValueError
from domain.pricing import PriceSheet
from domain.routing import RoutingStrategy
from entrypoints.http.admin.format import exact
from entrypoints.http.admin.forms import CALLER_REFUSALS, Form, prefilled
from entrypoints.http.admin.pages import Panel, see_other
from entrypoints.http.admin.session import PANEL
from entrypoints.http.inputs import decimal_plan, decode_json_body
from entrypoints.http.schemas.amounts import PRICE_FACTOR
from entrypoints.http.schemas.models import Targets, pricing_out, target_out, target_spec

ROUTINGS = tuple(r.value for r in RoutingStrategy)
MAX_CACHE_TTL_S = 30 * 86400
MAX_TARGETS_TEXT = 64 * 1024
CUSTOMER_PRICES = (
    "input_price_per_million",
    "output_price_per_million",
    "cached_input_price_per_million",
    "cache_write_price_per_million",
)
PROVIDER_COSTS = (
    "provider_input_cost_per_million",
    "provider_output_cost_per_million",
    "provider_cached_input_cost_per_million",
    "provider_cache_write_cost_per_million",
)
# Which form field a use case's message is about.
ALIAS_FIELDS = {
    "price catalog": "provider_input_cost_per_million",
    "fallback": "fallbacks",
    "access group": "new_groups",
    "alias and": "provider_model",
    "default_max_tokens": "default_max_tokens",
    "an alias": "fallbacks",
    "model alias": "alias",
    "a target": "targets",
}


def _name(path: PurePosixPath) -> str:
    return str(path).lstrip("/")


def alias_form(alias: ModelAlias) -> Form:
    c, p = alias.customer_prices, alias.provider_costs

    def text(value: Decimal | None) -> str:
        return exact(value) if value is not None else ""

    return prefilled(
        {
            "alias": alias.alias,
            "provider": str(alias.provider),
            "provider_model": alias.provider_model,
            "input_price_per_million": text(c.input_per_million),
            "output_price_per_million": text(c.output_per_million),
            "cached_input_price_per_million": text(c.cached_input_per_million),
            "cache_write_price_per_million": text(c.cache_write_per_million),
            "provider_input_cost_per_million": text(p.input_per_million),
            "provider_output_cost_per_million": text(p.output_per_million),
            "provider_cached_input_cost_per_million": text(p.cached_input_per_million),
            "provider_cache_write_cost_per_million": text(p.cache_write_per_million),
            "default_max_tokens": str(alias.default_max_tokens),
            "access_groups": list(alias.access_groups),
            "fallbacks": ", ".join(alias.fallbacks),
            "routing": alias.routing.value,
            "cache_ttl_s": str(alias.cache_ttl_s) if alias.cache_ttl_s is not None else "",
            "cached_response_price_factor": exact(alias.cached_response_price_factor),
            "targets": targets_text(alias),
            "version": str(alias.version),
        }
    )


def targets_text(alias: ModelAlias) -> str:
    """The alias's further targets as the admin API's JSON (every price filled in, as billed)."""
    if not alias.targets:
        return ""
    return msgspec.json.format(msgspec.json.encode([target_out(t) for t in alias.targets]), indent=2).decode()


def chosen_fallbacks(form: Form) -> tuple[str, ...]:
    """The fallbacks in the order given (comma-separated; repeated fields are read in turn)."""
    names = [n.strip() for value in form.values("fallbacks") for n in value.split(",") if n.strip()]
    return tuple(dict.fromkeys(names))


def read_amounts(form: Form) -> dict[str, Decimal | None]:
    """The alias's prices and provider costs as typed, by field (the input and output prices required)."""
    return {name: form.decimal(name, required=name in CUSTOMER_PRICES[:2]) for name in CUSTOMER_PRICES + PROVIDER_COSTS}


def read_routing(form: Form) -> RoutingStrategy | None:
    chosen = form.choice("routing", ROUTINGS, required=False)
    return RoutingStrategy(chosen) if chosen else None


def read_cache_ttl(form: Form) -> int | None:
    return form.integer("cache_ttl_s", minimum=1, maximum=MAX_CACHE_TTL_S)


def read_price_factor(form: Form) -> Decimal | None:
    """The cached answers' price factor, by the admin API's rule (0 to 10, 6 places)."""
    raw = form.value("cached_response_price_factor")
    if not raw:
        return None
    try:
        PRICE_FACTOR.check(raw, "cached_response_price_factor")
    except InvalidValueError as exc:
        form.add_error("cached_response_price_factor", exc.detail)
        return None
    return Decimal(raw)


def read_targets(form: Form) -> tuple[TargetSpec, ...] | None:
    """The further targets typed as the admin API's JSON list (empty: none); None when
    they cannot be read, with the reason next to the field."""
    raw = form.value("targets")
    if not raw:
        return ()
    if len(raw) > MAX_TARGETS_TEXT:
        form.add_error("targets", f"at most {MAX_TARGETS_TEXT:,} characters")
        return None
    try:
        value = decode_json_body(raw.encode(), decimal_plan(Targets))
        return tuple(target_spec(body) for body in msgspec.convert(value, Targets))
    except (InvalidValueError, ClientException) as exc:
        form.add_error("targets", str(getattr(exc, "detail", exc)))
    except msgspec.ValidationError as exc:
        form.add_error("targets", f"not a list of targets as the admin API takes them: {exc}")
    return None


def refused(form: Form, exc: DomainError, targets: tuple[TargetSpec, ...] | None) -> None:
    """A use case's refusal beside its field; one about a further target's model (an
    unknown model without costs) beside the targets."""
    if exc.code not in CALLER_REFUSALS and any(
        f"{t.provider!s}/{t.provider_model}" in exc.detail for t in targets or ()
    ):
        form.add_error("targets", exc.detail)
        return
    form.refused(exc, ALIAS_FIELDS)


def _may_fall_back_to(editing: ModelAlias | None, other: ModelAlias) -> bool:
    """Whether ``other`` may be a fallback of the alias being edited (of a new one: any)."""
    if editing is None:
        return True
    if other.alias == editing.alias:
        return False
    return fallback_usable_by(editing, other)


def chosen_groups(form: Form) -> tuple[str, ...]:
    typed = [g.strip() for g in form.value("new_groups").split(",") if g.strip()]
    return tuple(dict.fromkeys([*form.values("access_groups"), *typed]))


class AliasesController(Controller):
    path = "/models"

    @get("/", name="panel:models")
    async def list_(self, panel: NamedDependency[Panel]) -> Response[Any]:
        return panel.page("models.html", aliases=await panel.services.models.list_aliases(actor=panel.admin))

    async def _form(
        self, panel: Panel, form: Form, *, editing: ModelAlias | None = None, status: int = 200
    ) -> Response[Any]:
        models = panel.services.models
        provider = form.value("provider")
        model = form.value("provider_model")
        catalog = models.catalog_price(provider, model) if provider in panel.providers and model else None
        aliases = await models.list_aliases(actor=panel.admin)
        return panel.page(
            "model_form.html",
            status=status,
            form=form,
            editing=editing,
            providers=panel.providers,
            routings=ROUTINGS,
            catalog=catalog,
            groups=await models.list_access_groups(panel.admin),
            # The fallbacks this alias may have: its organization's and platform-wide aliases.
            other_aliases=[a.alias for a in aliases if _may_fall_back_to(editing, a)],
        )

    @get("/new", name="panel:new-model")
    async def new(self, panel: NamedDependency[Panel]) -> Response[Any]:
        form = prefilled(
            {
                "provider": Provider.OPENAI.value,
                "default_max_tokens": str(DEFAULT_MAX_TOKENS),
                "routing": RoutingStrategy.ORDERED.value,
                "cached_response_price_factor": "1",
            }
        )
        return await self._form(panel, form)

    @get("/catalog-price", name="panel:catalog-price")
    async def catalog_price(
        self, panel: NamedDependency[Panel], provider: FromQuery[str] = "", provider_model: FromQuery[str] = ""
    ) -> Response[Any]:
        """The catalog's list price of the model being typed (an htmx fragment of the alias form)."""
        name = provider_model.strip()
        known = provider in panel.providers and name
        catalog = panel.services.models.catalog_price(provider, name) if known else None
        return panel.page("model/_catalog.html", catalog=catalog, asked=bool(known))

    @post("/", status_code=200)
    async def create(self, panel: NamedDependency[Panel]) -> Response[Any]:
        form = await panel.form()
        alias = form.text("alias")
        provider = form.choice("provider", panel.providers)
        provider_model = form.text("provider_model")
        amounts = read_amounts(form)
        max_tokens = form.integer("default_max_tokens", minimum=1, maximum=10_000_000) or DEFAULT_MAX_TOKENS
        routing = read_routing(form) or RoutingStrategy.ORDERED
        cache_ttl_s = read_cache_ttl(form)
        factor = read_price_factor(form)
        targets = read_targets(form)
        input_price, output_price = amounts["input_price_per_million"], amounts["output_price_per_million"]
        if (
            form.ok
            and alias
            and provider
            and provider_model
            and input_price is not None
            and output_price is not None
            and targets is not None
        ):
            await form.attempt(
                panel.services.models.create_alias(
                    alias=alias,
                    provider=provider,
                    provider_model=provider_model,
                    customer_prices=PriceSheet(
                        input_per_million=input_price,
                        output_per_million=output_price,
                        cached_input_per_million=amounts["cached_input_price_per_million"],
                        cache_write_per_million=amounts["cache_write_price_per_million"],
                    ),
                    cost_overrides=CostOverrides(
                        input_per_million=amounts["provider_input_cost_per_million"],
                        output_per_million=amounts["provider_output_cost_per_million"],
                        cached_input_per_million=amounts["provider_cached_input_cost_per_million"],
                        cache_write_per_million=amounts["provider_cache_write_cost_per_million"],
                    ),
                    default_max_tokens=max_tokens,
                    access_groups=chosen_groups(form),
                    fallbacks=chosen_fallbacks(form),
                    actor=panel.admin,
                    targets=targets,
                    routing=routing,
                    cache_ttl_s=cache_ttl_s,
                    cached_response_price_factor=factor if factor is not None else Decimal(1),
                ),
                refuse=lambda exc: refused(form, exc, targets),
            )
            if form.ok:
                return see_other(f"{PANEL}/models", "created")
        return await self._form(panel, form, status=422)

    @get("/alias/{alias:path}", name="panel:model")
    async def edit(self, panel: NamedDependency[Panel], alias: FromPath[PurePosixPath]) -> Response[Any]:
        found = await self._alias(panel, _name(alias))
        return await self._form(panel, alias_form(found), editing=found)

    @post("/alias/{alias:path}", status_code=200)
    async def update(self, panel: NamedDependency[Panel], alias: FromPath[PurePosixPath]) -> Response[Any]:
        current = await self._alias(panel, _name(alias))
        was = alias_form(current)
        form = await panel.form()
        provider = form.choice("provider", panel.providers)
        provider_model = form.text("provider_model")
        amounts = read_amounts(form)  # each checked; only the changed ones are sent (below)
        max_tokens = form.integer("default_max_tokens", required=True, minimum=1, maximum=10_000_000)
        version = form.integer("version", minimum=1)
        routing = read_routing(form)
        cache_ttl_s = read_cache_ttl(form)
        factor = read_price_factor(form)
        # The targets are replaced only when their text changed (an unchanged list is not
        # resent: its prices, shown as billed, would become explicit).
        targets_changed = form.has("targets") and form.value("targets") != was.value("targets")
        targets = read_targets(form) if targets_changed else None
        if form.ok and provider and provider_model:
            # Only what the operator changed is sent: an unchanged provider cost shown in the
            # form must not become an override when the model changes (its catalog price applies).
            def changed(name: str) -> Any:
                value = form.value(name)
                if value == was.value(name):
                    return msgspec.UNSET
                parsed = amounts[name]
                return parsed if parsed is not None or name.startswith(("cached", "cache_write")) else msgspec.UNSET

            changes = AliasChanges(
                provider=provider if provider != str(current.provider) else msgspec.UNSET,
                provider_model=provider_model if provider_model != current.provider_model else msgspec.UNSET,
                **{name: changed(name) for name in CUSTOMER_PRICES + PROVIDER_COSTS},
                default_max_tokens=max_tokens if max_tokens is not None else msgspec.UNSET,
                access_groups=chosen_groups(form),
                fallbacks=chosen_fallbacks(form),
                targets=targets if targets is not None else msgspec.UNSET,
                routing=routing if routing is not None else msgspec.UNSET,
                cache_ttl_s=cache_ttl_s if form.has("cache_ttl_s") else msgspec.UNSET,
                cached_response_price_factor=factor if factor is not None else msgspec.UNSET,
            )
            await form.attempt(
                panel.services.models.update_alias(panel.admin, current.alias, changes, expected_version=version),
                refuse=lambda exc: refused(form, exc, targets),
            )
            if form.ok:
                return see_other(f"{PANEL}/models", "saved")
        return await self._form(panel, form, editing=current, status=422)

    @post("/delete/{alias:path}", status_code=200)
    async def delete_(self, panel: NamedDependency[Panel], alias: FromPath[PurePosixPath]) -> Response[Any]:
        await panel.services.models.delete_alias(panel.admin, _name(alias))
        return see_other(f"{PANEL}/models", "deleted")

    @staticmethod
    async def _alias(panel: Panel, name: str) -> ModelAlias:
        found = await panel.services.models.get_alias(name, actor=panel.admin)
        if found is None:
            raise NotFoundError("model alias not found")
        return found


class AccessGroupsController(Controller):
    path = "/access-groups"

    @get("/", name="panel:access-groups")
    async def list_(self, panel: NamedDependency[Panel]) -> Response[Any]:
        return await self._list(panel, Form())

    async def _list(self, panel: Panel, form: Form, status: int = 200) -> Response[Any]:
        models = panel.services.models
        return panel.page(
            "access_groups.html",
            status=status,
            form=form,
            groups=await models.list_access_groups(panel.admin),
            aliases=[a.alias for a in await models.list_aliases(actor=panel.admin)],
        )

    @post("/", status_code=200)
    async def create(self, panel: NamedDependency[Panel]) -> Response[Any]:
        form = await panel.form()
        name = form.text("name")
        if form.ok and name is not None:
            await form.attempt(
                panel.services.models.create_access_group(
                    name=name, models=tuple(form.values("models")), actor=panel.admin
                ),
                {"model": "models", "access": "name"},
            )
            if form.ok:
                return see_other(f"{PANEL}/access-groups", "created")
        return await self._list(panel, form, status=422)

    @post("/edit/{name:path}", status_code=200)
    async def update(self, panel: NamedDependency[Panel], name: FromPath[PurePosixPath]) -> Response[Any]:
        form = await panel.form()
        version = form.integer("version", minimum=1)
        # Sent whatever the version field says: the use case decides, and only its refusal re-renders.
        saved = await form.attempt(
            panel.services.models.update_access_group(
                panel.admin, _name(name), tuple(form.values("models")), expected_version=version
            )
        )
        if saved is None:
            return await self._list(panel, form, status=422)
        return see_other(f"{PANEL}/access-groups", "saved")

    @post("/delete/{name:path}", status_code=200)
    async def delete_(self, panel: NamedDependency[Panel], name: FromPath[PurePosixPath]) -> Response[Any]:
        await panel.services.models.delete_access_group(panel.admin, _name(name))
        return see_other(f"{PANEL}/access-groups", "deleted")


class PricingController(Controller):
    path = "/pricing"

    @get("/", name="panel:pricing")
    async def pricing(self, panel: NamedDependency[Panel]) -> Response[Any]:
        # The same figures as GET /api/pricing, from the same mapping.
        return panel.page("pricing.html", pricing=pricing_out(await panel.services.models.pricing(panel.admin)))
