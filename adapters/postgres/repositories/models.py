"""Model aliases and the access groups that make them reachable by teams."""

from decimal import Decimal
from typing import Any

from adapters.postgres.session import Session
from domain.access import AccessGroup, ModelAlias
from domain.catalog import Provider
from domain.pricing import PriceSheet

_PRICES = ("input", "output", "cached_input", "cache_write", "reasoning")

_ALIAS = f"""
SELECT a.alias, a.provider, a.provider_model, a.default_max_tokens, a.fallbacks, a.organization_id,
       {", ".join(f"a.customer_{p}_per_million, a.provider_{p}_per_million" for p in _PRICES)},
       ARRAY(SELECT m.group_name FROM model_access_group_members m WHERE m.alias = a.alias
             ORDER BY m.group_name COLLATE "C") AS groups
FROM model_aliases a
"""

# The alias, its (possibly new) groups and its memberships in one statement.
_ADD_ALIAS = f"""
WITH alias AS (
    INSERT INTO model_aliases (alias, provider, provider_model, default_max_tokens, fallbacks, organization_id,
                               {", ".join(f"customer_{p}_per_million, provider_{p}_per_million" for p in _PRICES)})
    VALUES (%(alias)s, %(provider)s, %(provider_model)s, %(default_max_tokens)s, %(fallbacks)s, %(organization_id)s,
            {", ".join(f"%(customer_{p})s, %(provider_{p})s" for p in _PRICES)})
    RETURNING alias
), groups AS (
    INSERT INTO model_access_groups (name) SELECT unnest(%(groups)s::text[]) ON CONFLICT (name) DO NOTHING
)
INSERT INTO model_access_group_members (group_name, alias)
SELECT g.name, alias.alias FROM alias, unnest(%(groups)s::text[]) AS g (name)
"""

# The new configuration, groups created as needed, memberships no longer listed dropped.
_UPDATE_ALIAS = f"""
WITH alias AS (
    UPDATE model_aliases
    SET provider = %(provider)s, provider_model = %(provider_model)s, default_max_tokens = %(default_max_tokens)s,
        fallbacks = %(fallbacks)s, organization_id = %(organization_id)s,
        {", ".join(f"{side}_{p}_per_million = %({side}_{p})s" for side in ("customer", "provider") for p in _PRICES)}
    WHERE alias = %(alias)s
    RETURNING alias
), groups AS (
    INSERT INTO model_access_groups (name) SELECT unnest(%(groups)s::text[]) ON CONFLICT (name) DO NOTHING
), dropped AS (
    DELETE FROM model_access_group_members WHERE alias = %(alias)s AND NOT (group_name = ANY (%(groups)s::text[]))
)
INSERT INTO model_access_group_members (group_name, alias)
SELECT g.name, alias.alias FROM alias, unnest(%(groups)s::text[]) AS g (name)
ON CONFLICT (group_name, alias) DO NOTHING
"""

_ADD_GROUP = """
WITH grp AS (
    INSERT INTO model_access_groups (name) VALUES (%(name)s) RETURNING name
)
INSERT INTO model_access_group_members (group_name, alias)
SELECT grp.name, m.alias FROM grp, unnest(%(models)s::text[]) AS m (alias)
"""

_GROUP_SELECT = """
SELECT g.name,
       ARRAY(SELECT m.alias FROM model_access_group_members m WHERE m.group_name = g.name
             ORDER BY m.alias COLLATE "C") AS models
FROM model_access_groups g
"""
_GROUP = _GROUP_SELECT + "WHERE g.name = %s"

_SET_MEMBERS = """
WITH dropped AS (
    DELETE FROM model_access_group_members WHERE group_name = %(name)s AND NOT (alias = ANY (%(models)s::text[]))
)
INSERT INTO model_access_group_members (group_name, alias)
SELECT %(name)s, m.alias FROM unnest(%(models)s::text[]) AS m (alias)
ON CONFLICT (group_name, alias) DO NOTHING
"""


def _sheet(row: dict[str, Any], side: str) -> PriceSheet:
    def price(p: str) -> Decimal | None:
        value: Decimal | None = row[f"{side}_{p}_per_million"]
        return value

    return PriceSheet(
        input_per_million=row[f"{side}_input_per_million"],
        output_per_million=row[f"{side}_output_per_million"],
        cached_input_per_million=price("cached_input"),
        cache_write_per_million=price("cache_write"),
        reasoning_per_million=price("reasoning"),
    )


def _alias(row: dict[str, Any]) -> ModelAlias:
    return ModelAlias(
        alias=row["alias"],
        provider=Provider(row["provider"]),
        provider_model=row["provider_model"],
        customer_prices=_sheet(row, "customer"),
        provider_costs=_sheet(row, "provider"),
        default_max_tokens=row["default_max_tokens"],
        access_groups=tuple(row["groups"]),
        fallbacks=tuple(row["fallbacks"]),
        organization_id=row["organization_id"],
    )


def _alias_params(alias: ModelAlias) -> dict[str, Any]:
    params: dict[str, Any] = {
        "alias": alias.alias,
        "provider": alias.provider.value,
        "provider_model": alias.provider_model,
        "default_max_tokens": alias.default_max_tokens,
        "fallbacks": list(alias.fallbacks),
        "organization_id": alias.organization_id,
        "groups": list(dict.fromkeys(alias.access_groups)),
    }
    for side, sheet in (("customer", alias.customer_prices), ("provider", alias.provider_costs)):
        for p in _PRICES:
            params[f"{side}_{p}"] = getattr(sheet, f"{p}_per_million")
    return params


class PostgresAliasRepository:
    def __init__(self, session: Session) -> None:
        self._s = session

    async def add(self, alias: ModelAlias) -> None:
        await self._s.run(_ADD_ALIAS, _alias_params(alias))

    async def update(self, alias: ModelAlias) -> None:
        await self._s.run(_UPDATE_ALIAS, _alias_params(alias))

    async def delete(self, alias: str) -> bool:
        return await self._s.run("DELETE FROM model_aliases WHERE alias = %s", (alias,)) == 1

    async def get(self, alias: str) -> ModelAlias | None:
        row = await self._s.one(_ALIAS + " WHERE a.alias = %s", (alias,))
        return _alias(row) if row is not None else None

    async def list(self) -> list[ModelAlias]:
        rows = await self._s.all(_ALIAS + ' ORDER BY a.alias COLLATE "C"')
        return [_alias(r) for r in rows]


class PostgresAccessGroupRepository:
    def __init__(self, session: Session) -> None:
        self._s = session

    async def add(self, group: AccessGroup) -> None:
        await self._s.run(_ADD_GROUP, {"name": group.name, "models": list(dict.fromkeys(group.models))})

    async def get(self, name: str) -> AccessGroup | None:
        row = await self._s.one(_GROUP, (name,))
        return AccessGroup(name=row["name"], models=tuple(row["models"])) if row is not None else None

    async def list(self) -> list[AccessGroup]:
        rows = await self._s.all(_GROUP_SELECT + 'ORDER BY g.name COLLATE "C"')
        return [AccessGroup(name=r["name"], models=tuple(r["models"])) for r in rows]

    async def set_models(self, name: str, models: tuple[str, ...]) -> None:
        await self._s.run(_SET_MEMBERS, {"name": name, "models": list(dict.fromkeys(models))})

    async def delete(self, name: str) -> bool:
        return await self._s.run("DELETE FROM model_access_groups WHERE name = %s", (name,)) == 1
