"""Who is calling: a team's virtual key (client API)."""

import msgspec

from domain.ids import ApiKeyId, OrganizationId, TeamId


class TeamPrincipal(msgspec.Struct, frozen=True, kw_only=True):
    """An authenticated client application: it sees only its own team."""

    team_id: TeamId
    organization_id: OrganizationId
    key_id: ApiKeyId
