"""Which controls a page shows: the domain's own role rules, asked as questions.

Showing or hiding a button is presentation; the decision stays in ``domain/admins.py``,
and the use cases enforce it again on every write, so a forged form is refused anyway.
"""

from collections.abc import Callable

import msgspec

from domain.admins import AdminPrincipal, ForbiddenError, ensure_can_write, ensure_owner, ensure_platform_wide


class Capabilities(msgspec.Struct, frozen=True, kw_only=True):
    write: bool  # change organizations' teams, keys, credits, credentials, webhooks
    platform: bool  # change platform-wide configuration: aliases, access groups, new organizations
    owner: bool  # manage admin users
    scoped: bool  # sees one organization only


def _allowed(rule: Callable[[AdminPrincipal], None], admin: AdminPrincipal) -> bool:
    try:
        rule(admin)
    except ForbiddenError:
        return False
    return True


def capabilities(admin: AdminPrincipal) -> Capabilities:
    return Capabilities(
        write=_allowed(ensure_can_write, admin),
        platform=_allowed(ensure_platform_wide, admin),
        owner=_allowed(ensure_owner, admin),
        scoped=admin.organization_id is not None,
    )
