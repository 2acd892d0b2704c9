"""Migration from LiteLLM: a proxy ``config.yaml`` → model aliases, provider credentials and a
team's rate limits, with every setting that is not imported listed with the reason why.

What maps, and how (docs/api.md, "Importing a LiteLLM config"):

- each chat ``model_name`` of ``model_list`` (openai, anthropic, gemini, fireworks) → a
  model alias. Several deployments under one name (LiteLLM balances between them) become
  one alias with several targets: the first that can be imported is its primary target,
  the others its further targets, in order, each at its own provider cost; its routing is
  ``cheapest`` for ``router_settings.routing_strategy: cost-based-routing``, else
  ``ordered`` (other strategies are reported);
- ``fallbacks`` (``litellm_settings`` or ``router_settings``) → the alias's fallbacks;
- keys → one credential per provider, named ``litellm <provider>``: created once, its key
  (and ``api_base``) rotated when the config's changed. Only deployments that are
  imported bring their credential. A provider the organization already serves with a
  credential of its own keeps it (the config's key is reported, not stored);
- ``litellm_settings.default_key_generate_params`` ``rpm_limit`` / ``tpm_limit`` (the
  limits LiteLLM gives each new virtual key) → the rate limits of the team given; the
  per-deployment ``rpm`` / ``tpm`` (a deployment's provider capacity) have no
  counterpart here and are reported;
- customer prices: explicit prices per model, else the provider cost × (1 + markup),
  else the provider cost itself: zero margin, which the report calls out.

An **error** (a missing environment variable, an unsupported provider or mode, an
unknown price, a fallback to a model that is not imported, a second endpoint for one
provider) skips what it concerns and is flagged, so the command exits non-zero; a
setting that is simply not modelled is reported without being an error. Running the
import again creates nothing twice: existing aliases are left as they are.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import msgspec

from application.errors import ConflictError
from application.ports.catalog import PriceCatalog
from application.ports.repositories import StoredCredential
from application.services.credentials import CredentialChanges, CredentialService
from application.services.litellm_plan import ImportPlan, Note, PlannedAlias, PlannedCredential, Skipped, plan_import
from application.services.models import AliasChanges, ModelService, TargetSpec
from application.services.organizations import OrganizationService, TeamChanges
from domain.access import DEFAULT_MAX_TOKENS, ModelAlias
from domain.admins import AdminPrincipal
from domain.catalog import ProviderName
from domain.errors import DomainError
from domain.ids import OrganizationId, TeamId
from domain.organizations import Team
from domain.rate_limits import RateLimits

__all__ = ["ImportPlan", "ImportReport", "LiteLlmImporter", "Note", "Skipped", "plan_import"]


class ImportReport(msgspec.Struct, frozen=True, kw_only=True):
    """What an import created or changed, and what it left out with the reason why."""

    aliases: list[ModelAlias]
    credentials: list[StoredCredential]
    rotated: list[StoredCredential]
    team: Team | None
    zero_margin: list[str]  # aliases created with customer price = provider cost
    notes: list[Note]
    skipped: list[Skipped]

    @property
    def errors(self) -> list[Skipped]:
        return [s for s in self.skipped if s.error]


class _Served(msgspec.Struct, frozen=True, kw_only=True):
    """How the organization reaches a provider after the import: through which credential, where."""

    credential: str
    api_base: str | None


@dataclass(frozen=True, kw_only=True)
class LiteLlmImporter:
    """Carries out a plan for one organization: its credentials (encrypted), platform-wide
    model aliases and, when asked, one of its teams' rate limits. Every write is audited
    as the system (or ``actor``)."""

    models: ModelService
    credentials: CredentialService
    organizations: OrganizationService
    catalog: PriceCatalog

    async def run(
        self,
        config: Mapping[str, Any],
        env: Mapping[str, str],
        organization_id: OrganizationId,
        *,
        markup: Decimal | None = None,
        prices: Mapping[str, Any] | None = None,
        team_id: TeamId | None = None,
        actor: AdminPrincipal | None = None,
    ) -> ImportReport:
        plan = plan_import(config, env, self.catalog, markup=markup, prices=prices)
        skipped, notes = list(plan.skipped), list(plan.notes)
        stored = await self.credentials.decrypted_credentials(organization_id)  # 404: unknown organization
        created: list[StoredCredential] = []
        rotated: list[StoredCredential] = []
        served: dict[ProviderName, _Served] = {}
        for planned in plan.credentials:
            outcome = await self._credential(organization_id, planned, stored, actor, notes, skipped)
            if isinstance(outcome, tuple):
                change, credential = outcome
                (created if change == "created" else rotated).append(credential)
                served[planned.provider] = _Served(credential=credential.name, api_base=credential.api_base)
            elif outcome is not None:
                served[planned.provider] = outcome
        aliases = await self._aliases(plan.aliases, served, actor, skipped)
        team = await self._team(plan.team_limits, team_id, organization_id, actor, notes, skipped)
        planned_by_name = {a.alias: a for a in plan.aliases}
        zero = [a.alias for a in aliases if planned_by_name[a.alias].zero_margin]
        return ImportReport(
            aliases=aliases,
            credentials=created,
            rotated=rotated,
            team=team,
            zero_margin=zero,
            notes=notes,
            skipped=skipped,
        )

    async def _credential(
        self,
        organization_id: OrganizationId,
        planned: PlannedCredential,
        stored: list[tuple[StoredCredential, str | None]],
        actor: AdminPrincipal | None,
        notes: list[Note],
        skipped: list[Skipped],
    ) -> tuple[str, StoredCredential] | _Served | None:
        """Make sure the provider is served: (created|rotated, credential), or how it already is."""
        mine = [(c, k) for c, k in stored if c.provider == planned.provider]
        active = [(c, k) for c, k in mine if c.is_active]
        serving = active[-1] if active else None  # the call path uses the newest active one
        own = next(((c, k) for c, k in reversed(mine) if c.name == planned.name), None)
        label = f"credential '{planned.name}'"
        try:
            if serving is not None and serving[0].name != planned.name:
                credential, key = serving
                if key != planned.api_key or credential.api_base != planned.api_base:
                    notes.append(
                        Note(
                            item=label,
                            message=f"{planned.provider} is served by the organization's credential "
                            f"'{credential.name}' ({credential.key_hint}); the config's key is not stored "
                            "(one active credential per provider): change that one if it should",
                        )
                    )
                return _Served(credential=credential.name, api_base=credential.api_base)
            if planned.api_key is None:
                if own is None:
                    skipped.append(
                        Skipped(
                            item=label,
                            reason=f"no api_key for {planned.provider} in the config and no {planned.provider} "
                            "credential in the organization",
                            error=True,
                        )
                    )
                    return None
                return _Served(credential=own[0].name, api_base=own[0].api_base)
            if own is None:
                return "created", await self.credentials.add_credential(
                    organization_id=organization_id,
                    provider=planned.provider,
                    name=planned.name,
                    api_key=planned.api_key,
                    api_base=planned.api_base,
                    actor=actor,
                )
            credential, key = own
            if key == planned.api_key and credential.api_base == planned.api_base and credential.is_active:
                return _Served(credential=credential.name, api_base=credential.api_base)
            changes = CredentialChanges(api_key=planned.api_key, api_base=planned.api_base, is_active=True)
            return "rotated", await self.credentials.update_credential(actor, credential.id, changes)
        except DomainError as exc:  # the api_base refused by the address policy, say
            skipped.append(Skipped(item=label, reason=exc.detail, error=True))
            return None

    async def _aliases(
        self,
        planned: list[PlannedAlias],
        served: dict[ProviderName, _Served],
        actor: AdminPrincipal | None,
        skipped: list[Skipped],
    ) -> list[ModelAlias]:
        created: list[ModelAlias] = []
        # Aliases (with their deployments as targets) first, config fallbacks once all exist.
        for alias in planned:
            how = served.get(alias.provider)
            if how is None:
                skipped.append(Skipped(item=alias.alias, reason=f"{alias.provider} is not served", error=True))
                continue
            if how.api_base != alias.api_base:
                skipped.append(
                    Skipped(
                        item=alias.alias,
                        reason=f"it needs {alias.provider} at {alias.api_base or 'the default endpoint'}, and the "
                        f"organization's credential '{how.credential}' points at "
                        f"{how.api_base or 'the default endpoint'}",
                        error=True,
                    )
                )
                continue
            if await self.models.get_alias(alias.alias) is not None:
                skipped.append(Skipped(item=alias.alias, reason="a model alias with this name exists: left as it is"))
                continue
            targets: list[TargetSpec] = []
            for target in alias.targets:
                reach = served.get(target.provider)
                if reach is None or reach.api_base != target.api_base:
                    where = target.api_base or "the default endpoint"
                    skipped.append(
                        Skipped(item=target.label, reason=f"{target.provider} at {where} is not served", error=True)
                    )
                    continue
                targets.append(
                    TargetSpec(
                        provider=target.provider,
                        provider_model=target.provider_model,
                        customer_prices=target.customer_prices,
                        provider_costs=target.provider_costs,
                    )
                )
            try:
                created.append(
                    await self.models.create_alias(
                        alias=alias.alias,
                        provider=alias.provider,
                        provider_model=alias.provider_model,
                        customer_prices=alias.customer_prices,
                        provider_costs=alias.provider_costs,
                        default_max_tokens=alias.max_tokens or DEFAULT_MAX_TOKENS,
                        access_groups=alias.access_groups,
                        actor=actor,
                        targets=tuple(targets),
                        routing=alias.routing,
                    )
                )
            except ConflictError:  # created concurrently
                skipped.append(Skipped(item=alias.alias, reason="a model alias with this name exists: left as it is"))
        by_name = {a.alias: a for a in planned}
        for index, made in enumerate(created):
            wanted = list(made.fallbacks)
            for name in by_name[made.alias].fallbacks:
                if await self.models.get_alias(name) is not None:
                    wanted.append(name)
            if tuple(wanted) != made.fallbacks:
                changes = AliasChanges(fallbacks=tuple(wanted))
                created[index] = await self.models.update_alias(actor, made.alias, changes)
        return created

    async def _team(
        self,
        limits: RateLimits | None,
        team_id: TeamId | None,
        organization_id: OrganizationId,
        actor: AdminPrincipal | None,
        notes: list[Note],
        skipped: list[Skipped],
    ) -> Team | None:
        item = "litellm_settings.default_key_generate_params"
        if team_id is None:
            if limits is not None:
                skipped.append(
                    Skipped(item=item, reason="rpm_limit/tpm_limit not applied: name the team to apply them to")
                )
            return None
        if limits is None:
            notes.append(Note(item="team", message="the config sets no per-key limits: the team is left as it is"))
            return None
        try:
            team = await self.organizations.get_team(actor, team_id)
        except DomainError as exc:
            skipped.append(Skipped(item="team", reason=exc.detail, error=True))
            return None
        if team.organization_id != organization_id:
            skipped.append(Skipped(item="team", reason="the team is not of this organization", error=True))
            return None
        changes = TeamChanges(
            rpm_limit=limits.requests_per_minute if limits.requests_per_minute is not None else msgspec.UNSET,
            tpm_limit=limits.tokens_per_minute if limits.tokens_per_minute is not None else msgspec.UNSET,
        )
        return await self.organizations.update_team(actor, team_id, changes)
