"""The rules the admin use cases share: organization scope, alias visibility, team status
transitions and credit precision, each written once in the domain."""

from datetime import UTC, datetime
from decimal import Decimal
from uuid import UUID, uuid4

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.access import ModelAlias, ensure_offered_to, fallback_usable_by, offered_to, open_to, seen_by
from domain.admins import AdminPrincipal, AdminRole, HiddenError, ensure_sees, sees, visible_scope
from domain.budgets import BudgetMode
from domain.catalog import Provider
from domain.errors import InvalidValueError, ModelNotAllowedError
from domain.ids import AdminUserId, OrganizationId
from domain.money import CREDIT_PLACES, MAX_CREDITS, has_credit_precision, is_credit_amount
from domain.organizations import Team, TeamStatus, check_low_credit_threshold
from domain.pricing import PriceSheet
from tests.support.entities import new_team

D = Decimal
MINE, THEIRS = OrganizationId(UUID(int=1)), OrganizationId(UUID(int=2))
SHEET = PriceSheet(input_per_million=D(1), output_per_million=D(2))


def admin(organization_id: OrganizationId | None, role: AdminRole = AdminRole.ADMIN) -> AdminPrincipal:
    return AdminPrincipal(
        user_id=AdminUserId(uuid4()), email="a@example.com", role=role, organization_id=organization_id
    )


def alias(organization_id: OrganizationId | None, groups: tuple[str, ...] = ("g",)) -> ModelAlias:
    return ModelAlias(
        alias="m",
        provider=Provider.OPENAI,
        provider_model="gpt",
        customer_prices=SHEET,
        provider_costs=SHEET,
        access_groups=groups,
        organization_id=organization_id,
    )


# ---- organization scope ---------------------------------------------------------------


def test_an_unscoped_admin_and_the_system_see_every_organization() -> None:
    for actor in (None, admin(None), admin(None, AdminRole.VIEWER)):
        assert sees(actor, MINE) and sees(actor, THEIRS) and sees(actor, None)
        ensure_sees(actor, THEIRS)
        assert visible_scope(actor, None) is None
        assert visible_scope(actor, THEIRS) == THEIRS


def test_a_scoped_admin_sees_its_own_organization_only_and_others_answer_not_found() -> None:
    actor = admin(MINE)
    assert sees(actor, MINE)
    assert not sees(actor, THEIRS)
    assert not sees(actor, None)  # platform-wide users and entries are not its organization's
    ensure_sees(actor, MINE)
    with pytest.raises(HiddenError, match="team not found") as caught:
        ensure_sees(actor, THEIRS, "team")
    assert caught.value.code == "not_found"  # 404, exactly like what does not exist


def test_a_scoped_admins_listing_is_its_own_organization_whatever_it_asks() -> None:
    actor = admin(MINE)
    assert visible_scope(actor, None) == MINE
    assert visible_scope(actor, MINE) == MINE
    with pytest.raises(HiddenError, match="organization not found"):
        visible_scope(actor, THEIRS)


@given(st.sampled_from([None, MINE, THEIRS]), st.sampled_from([None, MINE, THEIRS]))
def test_a_visible_scope_is_always_one_the_actor_sees(
    scope: OrganizationId | None, asked: OrganizationId | None
) -> None:
    actor = admin(scope)
    try:
        chosen = visible_scope(actor, asked)
    except HiddenError:
        assert not sees(actor, asked)
    else:
        assert chosen is None or sees(actor, chosen)
        assert scope is None or chosen == scope


# ---- alias visibility -------------------------------------------------------------------


def test_a_platform_wide_alias_is_open_to_every_organization_a_bound_one_to_its_own() -> None:
    assert open_to(alias(None), MINE) and open_to(alias(None), THEIRS)
    assert open_to(alias(MINE), MINE) and not open_to(alias(MINE), THEIRS)
    assert open_to(alias(MINE), None)  # "every organization": an unscoped admin or the system


def test_admins_see_platform_wide_aliases_and_their_organizations_own() -> None:
    assert seen_by(admin(MINE), alias(None)) and seen_by(admin(MINE), alias(MINE))
    assert not seen_by(admin(THEIRS), alias(MINE))
    assert seen_by(admin(None), alias(MINE)) and seen_by(None, alias(MINE))


def test_another_organizations_alias_is_refused_like_one_the_teams_groups_lack() -> None:
    assert offered_to(MINE, ("g",), alias(MINE))
    assert not offered_to(THEIRS, ("g",), alias(MINE))
    assert not offered_to(MINE, ("other",), alias(None))
    ensure_offered_to(MINE, ("g",), alias(None))
    messages = set()
    for organization, groups in ((THEIRS, ("g",)), (MINE, ("other",))):
        with pytest.raises(ModelNotAllowedError) as caught:
            ensure_offered_to(organization, groups, alias(MINE))
        messages.add(str(caught.value))
    assert len(messages) == 1  # the team learns nothing about which rule refused it


def test_a_fallback_must_be_usable_by_the_aliases_organization() -> None:
    assert fallback_usable_by(alias(None), alias(MINE))  # that organization's teams use it
    assert fallback_usable_by(alias(MINE), alias(None))
    assert fallback_usable_by(alias(MINE), alias(MINE))
    assert not fallback_usable_by(alias(MINE), alias(THEIRS))


# ---- team status ------------------------------------------------------------------------


def team(status: TeamStatus) -> Team:
    return new_team(MINE, mode=BudgetMode.JOB_BASED, status=status, created_at=datetime(2026, 1, 1, tzinfo=UTC))


def test_suspending_and_resuming_change_only_the_status() -> None:
    active = team(TeamStatus.ACTIVE)
    suspended = active.suspend()
    assert suspended.status is TeamStatus.SUSPENDED
    assert msgspec.structs.replace(suspended, status=TeamStatus.ACTIVE) == active
    assert suspended.resume() == active
    assert active.with_status(TeamStatus.SUSPENDED) == suspended
    assert suspended.with_status(TeamStatus.ACTIVE) == active


def test_suspending_a_suspended_team_or_resuming_an_active_one_changes_nothing() -> None:
    active, suspended = team(TeamStatus.ACTIVE), team(TeamStatus.SUSPENDED)
    assert active.resume() is active
    assert suspended.suspend() is suspended


# ---- credit precision -------------------------------------------------------------------


@pytest.mark.parametrize("amount", ["0", "1", "0.000001", "1.5000000000", "1E+3", "-2.25", "1000000000000"])
def test_credits_are_exact_to_six_decimals(amount: str) -> None:
    assert has_credit_precision(D(amount))


@pytest.mark.parametrize("amount", ["0.0000001", "1.1234567", "NaN", "Infinity", "-Infinity", "1E-7"])
def test_more_than_six_decimals_or_no_number_is_not_a_credit_amount(amount: str) -> None:
    assert not has_credit_precision(D(amount))


def test_an_operators_credit_amount_is_exact_and_within_bounds() -> None:
    assert is_credit_amount(D(0)) and is_credit_amount(MAX_CREDITS) and is_credit_amount(D("0.000001"))
    assert not is_credit_amount(D("-0.000001"))
    assert not is_credit_amount(MAX_CREDITS + 1)
    assert is_credit_amount(D(-5), minimum=-MAX_CREDITS)


@given(st.decimals(allow_nan=False, allow_infinity=False, places=CREDIT_PLACES, min_value=-(10**12), max_value=10**12))
def test_every_amount_with_six_places_has_credit_precision(amount: Decimal) -> None:
    assert has_credit_precision(amount)
    assert not has_credit_precision(amount + D("1e-7"))


def test_the_low_credit_threshold_follows_the_credit_rule() -> None:
    assert check_low_credit_threshold(None) is None
    assert check_low_credit_threshold(D("12.345678")) == D("12.345678")
    for bad in ("12.3456789", "-1", "NaN", str(MAX_CREDITS + 1)):
        with pytest.raises(InvalidValueError):
            check_low_credit_threshold(D(bad))
