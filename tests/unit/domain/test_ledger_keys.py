"""Ledger idempotency keys and the settle cap: built by the domain, one function each."""

from decimal import Decimal
from uuid import UUID

from hypothesis import given
from hypothesis import strategies as st

from domain.ids import CallId, JobId, TeamId
from domain.ledger import (
    hold_key,
    initial_allocation_key,
    job_hold_key,
    operator_key,
    operator_key_as_given,
    settle_debit,
    settlement_keys,
)
from tests.strategies import credit_amounts

CALL = CallId(UUID(int=7))
JOB = JobId(UUID(int=9))
TEAM = TeamId(UUID(int=3))


def test_a_calls_keys_carry_its_id() -> None:
    assert hold_key(CALL) == f"hold:{CALL}"
    assert settlement_keys(JOB, CALL) == (f"release:{CALL}", f"debit:{CALL}")


def test_a_jobs_own_keys_are_namespaced_by_job() -> None:
    assert job_hold_key(JOB) == f"hold:job:{JOB}"
    assert settlement_keys(JOB, None) == (f"release:job:{JOB}", f"debit:job:{JOB}")


def test_a_teams_initial_credits_have_one_key() -> None:
    assert initial_allocation_key(TEAM) == f"initial:{TEAM}"


@given(st.text(min_size=1, max_size=50))
def test_operator_keys_never_collide_with_the_systems_and_read_back(key: str) -> None:
    stored = operator_key(key)
    assert stored is not None
    system = {hold_key(CALL), job_hold_key(JOB), *settlement_keys(JOB, CALL), initial_allocation_key(TEAM)}
    assert stored not in system
    assert operator_key_as_given(stored) == key


def test_no_operator_key_is_none_and_system_keys_are_not_an_operators() -> None:
    assert operator_key(None) is None
    assert operator_key_as_given(hold_key(CALL)) is None


@given(credit_amounts, credit_amounts, credit_amounts)
def test_a_settle_never_debits_more_than_used_or_payable(actual: Decimal, available: Decimal, release: Decimal) -> None:
    debit = settle_debit(actual=actual, available=available, release=release)
    assert debit <= actual
    assert debit <= available + release
    assert debit in (actual, available + release)
