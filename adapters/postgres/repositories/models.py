"""Model aliases and the access groups that make them reachable by teams."""

from decimal import Decimal
from typing import Any

import msgspec

from adapters.postgres.repositories.rows import from_row
from adapters.postgres.session import SessionRepository
from application.ports.repositories import AliasPatch, PricePatch
from domain.access import AccessGroup, ModelAlias
from domain.catalog import Provider
from domain.pricing import PriceSheet
from domain.routing import AliasTarget, RoutingStrategy

_PRICES = ("input", "output", "cached_input", "cache_write", "reasoning")
_PRICE_COLUMNS = tuple(f"{side}_{p}_per_million" for side in ("customer", "provider") for p in _PRICES)


def _target_json(row: str) -> str:
    """A target row as JSON, prices as text (a JSON number would come back as a float)."""
    prices = ", ".join(f"'{c}', {row}.{c}::text" for c in _PRICE_COLUMNS)
    return f"json_build_object('provider', {row}.provider, 'provider_model', {row}.provider_model, {prices})"


# The alias with its own further targets and its fallbacks' targets (each fallback's
# primary, then its own targets; fallbacks of another organization are never followed),
# in one statement: a call's whole route comes with the alias.
_ALIAS = f"""
SELECT a.alias, a.provider, a.provider_model, a.default_max_tokens, a.fallbacks, a.organization_id, a.version,
       a.routing, a.cache_ttl_s, a.cached_response_price_factor,
       {", ".join(f"a.customer_{p}_per_million, a.provider_{p}_per_million" for p in _PRICES)},
       ARRAY(SELECT m.group_name FROM model_access_group_members m WHERE m.alias = a.alias
             ORDER BY m.group_name COLLATE "C") AS groups,
       COALESCE((SELECT json_agg({_target_json("t")} ORDER BY t.position)
                 FROM alias_targets t WHERE t.alias = a.alias), '[]'::json) AS targets,
       COALESCE((SELECT json_agg(x.target ORDER BY f.ord, x.position)
                 FROM unnest(a.fallbacks) WITH ORDINALITY AS f (name, ord)
                 JOIN LATERAL (
                     SELECT 0 AS position, {_target_json("fa")} AS target FROM model_aliases fa
                     WHERE fa.alias = f.name AND (fa.organization_id IS NULL OR fa.organization_id = a.organization_id)
                     UNION ALL
                     SELECT ft.position, {_target_json("ft")} FROM alias_targets ft
                     JOIN model_aliases fo ON fo.alias = ft.alias
                     WHERE ft.alias = f.name AND (fo.organization_id IS NULL OR fo.organization_id = a.organization_id)
                 ) x ON true), '[]'::json) AS fallback_targets
FROM model_aliases a
"""

_DELETE_TARGETS = "DELETE FROM alias_targets WHERE alias = %(alias)s"
_ADD_TARGETS = f"""
INSERT INTO alias_targets (alias, position, provider, provider_model, {", ".join(_PRICE_COLUMNS)})
SELECT %(alias)s, t.position, t.provider, t.provider_model, {", ".join(f"t.{c}::numeric" for c in _PRICE_COLUMNS)}
FROM json_to_recordset(%(targets)s::json) AS t (
    position integer, provider text, provider_model text, {", ".join(f"{c} text" for c in _PRICE_COLUMNS)}
)
"""

# The alias, its (possibly new) groups and its memberships in one statement.
_ADD_ALIAS = f"""
WITH alias AS (
    INSERT INTO model_aliases (alias, provider, provider_model, default_max_tokens, fallbacks, organization_id,
                               routing, cache_ttl_s, cached_response_price_factor,
                               {", ".join(f"customer_{p}_per_million, provider_{p}_per_million" for p in _PRICES)})
    VALUES (%(alias)s, %(provider)s, %(provider_model)s, %(default_max_tokens)s, %(fallbacks)s, %(organization_id)s,
            %(routing)s, %(cache_ttl_s)s, %(cached_response_price_factor)s,
            {", ".join(f"%(customer_{p})s, %(provider_{p})s" for p in _PRICES)})
    RETURNING alias
), groups AS (
    -- a group the new alias joins has changed: new ones start at version 1
    INSERT INTO model_access_groups AS g (name) SELECT unnest(%(groups)s::text[])
    ON CONFLICT (name) DO UPDATE SET version = g.version + 1
)
INSERT INTO model_access_group_members (group_name, alias)
SELECT g.name, alias.alias FROM alias, unnest(%(groups)s::text[]) AS g (name)
"""

# Only the patch's columns are written, only while the version is the one the caller read
# (when it sent one), and every write bumps it; an empty patch only checks it.
_ALIAS_VERSIONED = "WHERE alias = %(alias)s AND (%(expected)s::integer IS NULL OR version = %(expected)s::integer)"
_UPDATE_ALIAS = "UPDATE model_aliases SET {sets}version = version + 1 " + _ALIAS_VERSIONED + " RETURNING alias"
_CHECK_ALIAS = "SELECT alias FROM model_aliases " + _ALIAS_VERSIONED

# The alias's memberships become exactly the listed groups (created as needed). Every group
# it joins or leaves has changed too: joined ones are bumped by the upsert, left ones by
# ``left_groups`` (the two sets are disjoint, so no row is written twice).
_SET_ALIAS_GROUPS = """
WITH joined AS (
    INSERT INTO model_access_groups AS g (name) SELECT unnest(%(groups)s::text[])
    ON CONFLICT (name) DO UPDATE SET version = g.version + 1
    WHERE NOT EXISTS (
        SELECT 1 FROM model_access_group_members m WHERE m.group_name = excluded.name AND m.alias = %(alias)s
    )
), left_groups AS (
    UPDATE model_access_groups SET version = version + 1
    WHERE name IN (
        SELECT group_name FROM model_access_group_members
        WHERE alias = %(alias)s AND NOT (group_name = ANY (%(groups)s::text[]))
    )
), dropped AS (
    DELETE FROM model_access_group_members WHERE alias = %(alias)s AND NOT (group_name = ANY (%(groups)s::text[]))
)
INSERT INTO model_access_group_members (group_name, alias)
SELECT g.name, %(alias)s FROM unnest(%(groups)s::text[]) AS g (name)
ON CONFLICT (group_name, alias) DO NOTHING
"""

_DELETE_ALIAS = """
WITH left_groups AS (
    UPDATE model_access_groups SET version = version + 1
    WHERE name IN (SELECT group_name FROM model_access_group_members WHERE alias = %(alias)s)
)
DELETE FROM model_aliases WHERE alias = %(alias)s
"""

_ADD_GROUP = """
WITH grp AS (
    INSERT INTO model_access_groups (name) VALUES (%(name)s) RETURNING name
), joined AS (
    UPDATE model_aliases SET version = version + 1 WHERE alias = ANY (%(models)s::text[])
)
INSERT INTO model_access_group_members (group_name, alias)
SELECT grp.name, m.alias FROM grp, unnest(%(models)s::text[]) AS m (alias)
"""

_GROUP_SELECT = """
SELECT g.name, g.version,
       ARRAY(SELECT m.alias FROM model_access_group_members m WHERE m.group_name = g.name
             ORDER BY m.alias COLLATE "C") AS models
FROM model_access_groups g
"""
_GROUP = _GROUP_SELECT + "WHERE g.name = %s"

_BUMP_GROUP = """
UPDATE model_access_groups SET version = version + 1
WHERE name = %(name)s AND (%(expected)s::integer IS NULL OR version = %(expected)s::integer)
RETURNING name
"""

# The group's members become exactly the listed aliases; every alias that joins or leaves
# has changed too.
_SET_MEMBERS = """
WITH moved AS (
    UPDATE model_aliases SET version = version + 1
    WHERE alias IN (
        (SELECT unnest(%(models)s::text[])
         EXCEPT SELECT alias FROM model_access_group_members WHERE group_name = %(name)s)
        UNION
        SELECT alias FROM model_access_group_members
        WHERE group_name = %(name)s AND NOT (alias = ANY (%(models)s::text[]))
    )
), dropped AS (
    DELETE FROM model_access_group_members WHERE group_name = %(name)s AND NOT (alias = ANY (%(models)s::text[]))
)
INSERT INTO model_access_group_members (group_name, alias)
SELECT %(name)s, m.alias FROM unnest(%(models)s::text[]) AS m (alias)
ON CONFLICT (group_name, alias) DO NOTHING
"""


_DELETE_GROUP = """
WITH teams_left AS (
    UPDATE teams SET version = version + 1
    WHERE id IN (SELECT team_id FROM team_access_groups WHERE group_name = %(name)s)
), aliases_left AS (
    UPDATE model_aliases SET version = version + 1
    WHERE alias IN (SELECT alias FROM model_access_group_members WHERE group_name = %(name)s)
)
DELETE FROM model_access_groups WHERE name = %(name)s
"""


def _sheet(row: dict[str, Any], side: str) -> PriceSheet:
    def price(p: str) -> Decimal | None:
        value: Decimal | str | None = row[f"{side}_{p}_per_million"]
        return Decimal(value) if isinstance(value, str) else value

    return PriceSheet(
        input_per_million=price("input") or Decimal(0),
        output_per_million=price("output") or Decimal(0),
        cached_input_per_million=price("cached_input"),
        cache_write_per_million=price("cache_write"),
        reasoning_per_million=price("reasoning"),
    )


def _alias(row: dict[str, Any]) -> ModelAlias:
    return from_row(
        ModelAlias,
        row,
        customer_prices=_sheet(row, "customer"),
        provider_costs=_sheet(row, "provider"),
        access_groups=tuple(row["groups"]),
        fallbacks=tuple(row["fallbacks"]),
        targets=tuple(_target(t) for t in row["targets"]),
        routing=RoutingStrategy(row["routing"]),
        fallback_targets=tuple(_target(t) for t in row["fallback_targets"]),
    )


def _target(row: dict[str, Any]) -> AliasTarget:
    return AliasTarget(
        provider=row["provider"],
        provider_model=row["provider_model"],
        customer_prices=_sheet(row, "customer"),
        provider_costs=_sheet(row, "provider"),
    )


def _targets_json(targets: tuple[AliasTarget, ...]) -> str:
    rows = []
    for position, target in enumerate(targets, start=1):
        row: dict[str, Any] = {
            "position": position,
            "provider": str(target.provider),
            "provider_model": target.provider_model,
        }
        for side, sheet in (("customer", target.customer_prices), ("provider", target.provider_costs)):
            for p in _PRICES:
                value = getattr(sheet, f"{p}_per_million")
                row[f"{side}_{p}_per_million"] = None if value is None else str(value)
        rows.append(row)
    return msgspec.json.encode(rows).decode()


def _group(row: dict[str, Any]) -> AccessGroup:
    return AccessGroup(name=row["name"], models=tuple(row["models"]), version=row["version"])


def _alias_columns(patch: AliasPatch) -> dict[str, Any]:
    """The patch as column values (its price sheets flattened to ``{side}_{price}``)."""
    given = patch.given()
    given.pop("access_groups", None)
    given.pop("targets", None)
    columns: dict[str, Any] = {}
    for field, value in given.items():
        if isinstance(value, PricePatch):
            side = "customer" if field == "customer_prices" else "provider"
            columns.update({f"{side}_{price}": v for price, v in value.given().items()})
        elif isinstance(value, Provider | RoutingStrategy):
            columns[field] = value.value
        elif field == "fallbacks":
            columns[field] = list(value)
        else:
            columns[field] = value
    return columns


def _alias_params(alias: ModelAlias) -> dict[str, Any]:
    params: dict[str, Any] = {
        "alias": alias.alias,
        "provider": str(alias.provider),
        "provider_model": alias.provider_model,
        "default_max_tokens": alias.default_max_tokens,
        "fallbacks": list(alias.fallbacks),
        "organization_id": alias.organization_id,
        "groups": list(dict.fromkeys(alias.access_groups)),
        "routing": alias.routing.value,
        "cache_ttl_s": alias.cache_ttl_s,
        "cached_response_price_factor": alias.cached_response_price_factor,
    }
    for side, sheet in (("customer", alias.customer_prices), ("provider", alias.provider_costs)):
        for p in _PRICES:
            params[f"{side}_{p}"] = getattr(sheet, f"{p}_per_million")
    return params


class PostgresAliasRepository(SessionRepository):
    async def add(self, alias: ModelAlias) -> None:
        await self._s.run(_ADD_ALIAS, _alias_params(alias))
        if alias.targets:
            await self._s.run(_ADD_TARGETS, {"alias": alias.alias, "targets": _targets_json(alias.targets)})

    async def update(self, alias: str, patch: AliasPatch, *, expected_version: int | None) -> ModelAlias | None:
        columns = _alias_columns(patch)
        groups, targets = patch.access_groups, patch.targets
        sets = "".join(f"{column} = %({column})s, " for column in columns)  # constant column names
        writes = (
            bool(columns) or not isinstance(groups, msgspec.UnsetType) or not isinstance(targets, msgspec.UnsetType)
        )
        query = _UPDATE_ALIAS.format(sets=sets) if writes else _CHECK_ALIAS
        if await self._s.one(query, {**columns, "alias": alias, "expected": expected_version}) is None:
            return None
        if not isinstance(groups, msgspec.UnsetType):
            await self._s.run(_SET_ALIAS_GROUPS, {"alias": alias, "groups": list(dict.fromkeys(groups))})
        if not isinstance(targets, msgspec.UnsetType):
            await self._s.run(_DELETE_TARGETS, {"alias": alias})
            if targets:
                await self._s.run(_ADD_TARGETS, {"alias": alias, "targets": _targets_json(targets)})
        return await self.get(alias)

    async def delete(self, alias: str) -> bool:
        return await self._s.run(_DELETE_ALIAS, {"alias": alias}) == 1

    async def get(self, alias: str) -> ModelAlias | None:
        row = await self._s.one(_ALIAS + " WHERE a.alias = %s", (alias,))
        return _alias(row) if row is not None else None

    async def list(self) -> list[ModelAlias]:
        rows = await self._s.all(_ALIAS + ' ORDER BY a.alias COLLATE "C"')
        return [_alias(r) for r in rows]


class PostgresAccessGroupRepository(SessionRepository):
    async def add(self, group: AccessGroup) -> None:
        await self._s.run(_ADD_GROUP, {"name": group.name, "models": list(dict.fromkeys(group.models))})

    async def get(self, name: str) -> AccessGroup | None:
        row = await self._s.one(_GROUP, (name,))
        return _group(row) if row is not None else None

    async def list(self) -> list[AccessGroup]:
        rows = await self._s.all(_GROUP_SELECT + 'ORDER BY g.name COLLATE "C"')
        return [_group(r) for r in rows]

    async def set_models(
        self, name: str, models: tuple[str, ...], *, expected_version: int | None
    ) -> AccessGroup | None:
        if await self._s.one(_BUMP_GROUP, {"name": name, "expected": expected_version}) is None:
            return None
        await self._s.run(_SET_MEMBERS, {"name": name, "models": list(dict.fromkeys(models))})
        return await self.get(name)

    async def delete(self, name: str) -> bool:
        """Teams and aliases that lose the group have changed: their versions are bumped."""
        return await self._s.run(_DELETE_GROUP, {"name": name}) == 1
