"""Organizations, teams (with their access groups) and the teams' virtual keys."""

from datetime import datetime
from typing import Any

from adapters.postgres.repositories.rows import from_row
from adapters.postgres.session import SessionRepository
from application.ports.repositories import ApiKey, OrganizationPatch, TeamPatch
from domain.budgets import BudgetMode, BudgetPolicy
from domain.ids import ApiKeyId, OrganizationId, TeamId
from domain.organizations import Organization, Team, TeamStatus

_ORG_COLUMNS = "id, name, slug, created_at, version"


class PostgresOrganizationRepository(SessionRepository):
    async def add(self, organization: Organization) -> None:
        await self._s.run(
            "INSERT INTO organizations (id, name, slug, created_at) VALUES (%s, %s, %s, %s)",
            (organization.id, organization.name, organization.slug, organization.created_at),
        )

    async def get(self, organization_id: OrganizationId) -> Organization | None:
        row = await self._s.one(f"SELECT {_ORG_COLUMNS} FROM organizations WHERE id = %s", (organization_id,))
        return _organization(row) if row is not None else None

    async def list(
        self, *, only: OrganizationId | None, after: tuple[datetime, OrganizationId] | None, limit: int
    ) -> list[Organization]:
        rows = await self._s.all(
            f"""
            SELECT {_ORG_COLUMNS} FROM organizations
            WHERE (%(only)s::uuid IS NULL OR id = %(only)s::uuid)
              AND (%(after_at)s::timestamptz IS NULL OR (created_at, id) > (%(after_at)s, %(after_id)s::uuid))
            ORDER BY created_at, id
            LIMIT %(limit)s
            """,
            {
                "only": only,
                "after_at": after[0] if after else None,
                "after_id": after[1] if after else None,
                "limit": limit,
            },
        )
        return [_organization(r) for r in rows]

    async def update(
        self, organization_id: OrganizationId, patch: OrganizationPatch, *, expected_version: int | None
    ) -> Organization | None:
        given = patch.given()  # its fields are the column names
        where = "WHERE id = %(id)s AND (%(expected)s::integer IS NULL OR version = %(expected)s::integer)"
        if given:
            sets = "".join(f"{column} = %({column})s, " for column in given)
            query = f"UPDATE organizations SET {sets}version = version + 1 {where} RETURNING {_ORG_COLUMNS}"
        else:
            query = f"SELECT {_ORG_COLUMNS} FROM organizations {where}"
        row = await self._s.one(query, {**given, "id": organization_id, "expected": expected_version})
        return _organization(row) if row is not None else None

    async def delete(self, organization_id: OrganizationId) -> bool:
        return await self._s.run("DELETE FROM organizations WHERE id = %s", (organization_id,)) == 1


def _organization(row: dict[str, Any]) -> Organization:
    return from_row(Organization, row)


_TEAM_SELECT = """
SELECT t.id, t.organization_id, t.name, t.status, t.budget_mode, t.credits_per_usd, t.tokens_per_credit,
       t.max_calls_per_job, t.charge_failed_jobs, t.created_at, t.version, t.rpm_limit, t.tpm_limit,
       t.low_credit_threshold,
       ARRAY(SELECT g.group_name FROM team_access_groups g WHERE g.team_id = t.id ORDER BY g.position) AS groups
FROM teams t
"""
_TEAM = _TEAM_SELECT + "WHERE t.id = %s"

_TEAMS = (
    _TEAM_SELECT
    + """
WHERE (%(org)s::uuid IS NULL OR t.organization_id = %(org)s::uuid)
  AND (%(after_at)s::timestamptz IS NULL OR (t.created_at, t.id) > (%(after_at)s, %(after_id)s::uuid))
ORDER BY t.created_at, t.id
LIMIT %(limit)s
"""
)

_ADD_TEAM = """
WITH team AS (
    INSERT INTO teams (id, organization_id, name, status, budget_mode, credits_per_usd, tokens_per_credit,
                       max_calls_per_job, charge_failed_jobs, created_at, rpm_limit, tpm_limit,
                       low_credit_threshold)
    VALUES (%(id)s, %(organization_id)s, %(name)s, %(status)s, %(mode)s, %(credits_per_usd)s,
            %(tokens_per_credit)s, %(max_calls_per_job)s, %(charge_failed_jobs)s, %(created_at)s,
            %(rpm_limit)s, %(tpm_limit)s, %(low_credit_threshold)s)
    RETURNING id
)
INSERT INTO team_access_groups (team_id, group_name, position)
SELECT team.id, g.name, g.position - 1
FROM team, unnest(%(groups)s::text[]) WITH ORDINALITY AS g (name, position)
"""

# Only the patch's columns are written (a rename never writes the status back), and only
# while the version is the one the caller read, when it sent one. Every write bumps the
# version; an empty patch only checks it (the UPDATE locks nothing it does not change).
_TEAM_COLUMNS = {
    "name": "name",
    "status": "status",
    "budget_mode": "budget_mode",
    "credits_per_usd": "credits_per_usd",
    "tokens_per_credit": "tokens_per_credit",
    "max_calls_per_job": "max_calls_per_job",
    "charge_failed_jobs": "charge_failed_jobs",
    "rpm_limit": "rpm_limit",
    "tpm_limit": "tpm_limit",
    "low_credit_threshold": "low_credit_threshold",
}
_TEAM_VERSIONED = "WHERE id = %(id)s AND (%(expected)s::integer IS NULL OR version = %(expected)s::integer)"
_UPDATE_TEAM = "UPDATE teams SET {sets}version = version + 1 " + _TEAM_VERSIONED + " RETURNING id"
_CHECK_TEAM = "SELECT id FROM teams " + _TEAM_VERSIONED
# Groups no longer listed are dropped, listed ones upserted with their new position: the
# two never touch the same row, so one statement does it.
_SET_TEAM_GROUPS = """
WITH dropped AS (
    DELETE FROM team_access_groups WHERE team_id = %(id)s AND NOT (group_name = ANY (%(groups)s::text[]))
)
INSERT INTO team_access_groups AS tag (team_id, group_name, position)
SELECT %(id)s, g.name, g.position - 1
FROM unnest(%(groups)s::text[]) WITH ORDINALITY AS g (name, position)
ON CONFLICT (team_id, group_name) DO UPDATE SET position = excluded.position
"""


def _team_params(team: Team) -> dict[str, Any]:
    return {
        "id": team.id,
        "organization_id": team.organization_id,
        "name": team.name,
        "status": team.status.value,
        "mode": team.budget.mode.value,
        "credits_per_usd": team.budget.credits_per_usd,
        "tokens_per_credit": team.budget.tokens_per_credit,
        "max_calls_per_job": team.budget.max_calls_per_job,
        "charge_failed_jobs": team.budget.charge_failed_jobs,
        "created_at": team.created_at,
        "groups": list(dict.fromkeys(team.access_groups)),
        "rpm_limit": team.rpm_limit,
        "tpm_limit": team.tpm_limit,
        "low_credit_threshold": team.low_credit_threshold,
    }


class PostgresTeamRepository(SessionRepository):
    async def add(self, team: Team) -> None:
        await self._s.run(_ADD_TEAM, _team_params(team))

    async def get(self, team_id: TeamId) -> Team | None:
        row = await self._s.one(_TEAM, (team_id,))
        return _team(row) if row is not None else None

    async def update(self, team_id: TeamId, patch: TeamPatch, *, expected_version: int | None) -> Team | None:
        given = patch.given()
        groups = given.pop("access_groups", None)
        values = {_TEAM_COLUMNS[f]: v.value if isinstance(v, TeamStatus | BudgetMode) else v for f, v in given.items()}
        sets = "".join(f"{column} = %({column})s, " for column in values)
        query = _UPDATE_TEAM.format(sets=sets) if values or groups is not None else _CHECK_TEAM
        touched = await self._s.one(query, {**values, "id": team_id, "expected": expected_version})
        if touched is None:
            return None
        if groups is not None:
            await self._s.run(_SET_TEAM_GROUPS, {"id": team_id, "groups": list(dict.fromkeys(groups))})
        return await self.get(team_id)

    async def list(
        self, *, organization_id: OrganizationId | None, after: tuple[datetime, TeamId] | None, limit: int
    ) -> list[Team]:
        rows = await self._s.all(
            _TEAMS,
            {
                "org": organization_id,
                "after_at": after[0] if after else None,
                "after_id": after[1] if after else None,
                "limit": limit,
            },
        )
        return [_team(r) for r in rows]

    async def flag_credits_low(self, team_id: TeamId, at: datetime) -> bool:
        raised = await self._s.run(
            "INSERT INTO team_credit_alerts (team_id, low_since) VALUES (%s, %s) ON CONFLICT (team_id) DO NOTHING",
            (team_id, at),
        )
        return raised == 1

    async def clear_credits_low(self, team_id: TeamId) -> bool:
        return await self._s.run("DELETE FROM team_credit_alerts WHERE team_id = %s", (team_id,)) == 1


def _team(row: dict[str, Any]) -> Team:
    return from_row(
        Team,
        row,
        status=TeamStatus(row["status"]),
        budget=from_row(BudgetPolicy, row, mode=BudgetMode(row["budget_mode"])),
        access_groups=tuple(row["groups"]),
    )


_KEY_COLUMNS = "id, team_id, organization_id, prefix, digest, created_at, revoked_at"


def _key(row: dict[str, Any]) -> ApiKey:
    return from_row(ApiKey, row)


class PostgresApiKeyRepository(SessionRepository):
    async def add(self, key: ApiKey) -> None:
        await self._s.run(
            f"INSERT INTO team_api_keys ({_KEY_COLUMNS}) VALUES (%s, %s, %s, %s, %s, %s, %s)",
            (key.id, key.team_id, key.organization_id, key.prefix, key.digest, key.created_at, key.revoked_at),
        )

    async def find_active(self, digest: str) -> ApiKey | None:
        row = await self._s.one(
            f"SELECT {_KEY_COLUMNS} FROM team_api_keys WHERE digest = %s AND revoked_at IS NULL", (digest,)
        )
        return _key(row) if row is not None else None

    async def list_for_team(self, team_id: TeamId) -> list[ApiKey]:
        rows = await self._s.all(
            f"SELECT {_KEY_COLUMNS} FROM team_api_keys WHERE team_id = %s ORDER BY created_at, id", (team_id,)
        )
        return [_key(r) for r in rows]

    async def revoke(self, key_id: ApiKeyId, at: datetime) -> bool:
        changed = await self._s.run(
            "UPDATE team_api_keys SET revoked_at = %s WHERE id = %s AND revoked_at IS NULL", (at, key_id)
        )
        return changed == 1
