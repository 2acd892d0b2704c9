"""The job lifecycle: final statuses never change; starting, finishing and what a job costs."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from uuid import UUID

import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from domain.budgets import BudgetMode, BudgetPolicy
from domain.errors import InvalidTransitionError, InvalidValueError, JobNotActiveError
from domain.ids import JobId, TeamId
from domain.jobs import CLIENT_FINAL_STATUSES, FINAL_STATUSES, Job, JobStatus, check_client_final_status, transition


@given(st.lists(st.sampled_from(list(JobStatus)), max_size=20))
def test_a_job_never_leaves_a_final_status(targets: list[JobStatus]) -> None:
    status = JobStatus.PENDING
    for target in targets:
        before = status
        try:
            status = transition(status, target)
        except (InvalidTransitionError, JobNotActiveError):
            assert status == before
        if before in FINAL_STATUSES:
            assert status == before


def test_pending_may_start_or_finish() -> None:
    assert transition(JobStatus.PENDING, JobStatus.IN_PROGRESS) is JobStatus.IN_PROGRESS
    assert transition(JobStatus.PENDING, JobStatus.COMPLETED) is JobStatus.COMPLETED


def test_in_progress_cannot_go_back_to_pending() -> None:
    with pytest.raises(InvalidTransitionError):
        transition(JobStatus.IN_PROGRESS, JobStatus.PENDING)


def test_finished_jobs_refuse_changes_with_job_not_active() -> None:
    for final in FINAL_STATUSES:
        with pytest.raises(JobNotActiveError):
            transition(final, JobStatus.IN_PROGRESS)


# ---- the job's own behaviour: start, finish, metadata -------------------------------------


T0 = datetime(2026, 3, 1, tzinfo=UTC)
JOB_BASED = BudgetPolicy(mode=BudgetMode.JOB_BASED)
JOB_BASED_CHARGING_FAILURES = BudgetPolicy(mode=BudgetMode.JOB_BASED, charge_failed_jobs=True)
CONSUMPTION = BudgetPolicy(mode=BudgetMode.CONSUMPTION_USD)


def new_job(**changes: object) -> Job:
    fields: dict[str, object] = {
        "id": JobId(UUID(int=1)),
        "team_id": TeamId(UUID(int=2)),
        "job_type": "doc",
        "status": JobStatus.PENDING,
        "created_at": T0,
        "held_credits": Decimal(1),
    }
    fields.update(changes)
    return Job(**fields)  # type: ignore[arg-type]


def test_starting_a_call_moves_a_pending_job_in_progress_and_counts_it() -> None:
    started = new_job().start(at=T0 + timedelta(minutes=1)).start(at=T0)
    assert started.status is JobStatus.IN_PROGRESS
    assert started.calls_started == 2
    assert started.last_activity_at == T0 + timedelta(minutes=1)  # activity never goes back


def test_a_finished_or_closing_job_starts_no_call() -> None:
    with pytest.raises(JobNotActiveError):
        new_job(status=JobStatus.COMPLETED).start(at=T0)
    with pytest.raises(JobNotActiveError):
        new_job(closing_status=JobStatus.COMPLETED).start(at=T0)


@pytest.mark.parametrize(
    ("status", "budget", "paid_calls", "charge"),
    [
        (JobStatus.COMPLETED, JOB_BASED, 0, 1),
        (JobStatus.FAILED, JOB_BASED, 1, 0),
        (JobStatus.CANCELLED, JOB_BASED, 1, 0),
        (JobStatus.FAILED, JOB_BASED_CHARGING_FAILURES, 1, 1),
        (JobStatus.CANCELLED, JOB_BASED_CHARGING_FAILURES, 1, 1),
        (JobStatus.FAILED, JOB_BASED_CHARGING_FAILURES, 0, 0),
        (JobStatus.EXPIRED, JOB_BASED, 0, 0),
        (JobStatus.EXPIRED, JOB_BASED, 1, 1),
        (JobStatus.COMPLETED, CONSUMPTION, 3, 0),
    ],
)
def test_finishing_charges_by_status_and_budget(
    status: JobStatus, budget: BudgetPolicy, paid_calls: int, charge: int
) -> None:
    end = new_job().finish(status, budget=budget, paid_calls=paid_calls)
    assert (end.status, end.charge_credits, end.held_credits) == (status, Decimal(charge), Decimal(1))
    assert end.settles  # the job's hold is always released


def test_a_consumption_job_without_hold_or_charge_moves_no_credit() -> None:
    assert not new_job(held_credits=Decimal(0)).finish(JobStatus.COMPLETED, budget=CONSUMPTION, paid_calls=1).settles


def test_a_finished_job_cannot_finish_again() -> None:
    with pytest.raises(JobNotActiveError):
        new_job(status=JobStatus.FAILED).finish(JobStatus.COMPLETED, budget=JOB_BASED, paid_calls=0)
    with pytest.raises(InvalidTransitionError):
        new_job().finish(JobStatus.PENDING, budget=JOB_BASED, paid_calls=0)


def test_a_client_finishes_a_job_only_as_completed_failed_or_cancelled() -> None:
    for status in JobStatus:
        if status in CLIENT_FINAL_STATUSES:
            assert check_client_final_status(status) is status
        else:
            with pytest.raises(InvalidValueError):
                check_client_final_status(status)


def test_metadata_changes_merge_and_a_null_removes_its_key() -> None:
    job = new_job(metadata={"k": 1, "keep": "x"})
    assert job.with_metadata({"k": None, "new": [1]}).metadata == {"keep": "x", "new": [1]}
    assert job.metadata == {"k": 1, "keep": "x"}  # frozen: the job itself is unchanged


@given(st.decimals(min_value=-5, max_value=5, places=6, allow_nan=False, allow_infinity=False))
def test_a_team_may_create_a_job_only_with_what_its_mode_needs(available: Decimal) -> None:
    assert JOB_BASED.may_create_job(available) is (available >= 1)
    assert CONSUMPTION.may_create_job(available) is (available > 0)


class JobLifecycle(RuleBasedStateMachine):
    """Starts and finishes in any order: a final job never changes, calls only count up."""

    def __init__(self) -> None:
        super().__init__()
        self.job = new_job()
        self.minute = 0

    @rule()
    def start_a_call(self) -> None:
        self.minute += 1
        before = self.job
        try:
            self.job = self.job.start(at=T0 + timedelta(minutes=self.minute))
        except JobNotActiveError:
            assert not before.accepts_calls
        else:
            assert self.job.calls_started == before.calls_started + 1

    @rule(status=st.sampled_from(list(JobStatus)), paid=st.integers(0, 3))
    def finish(self, status: JobStatus, paid: int) -> None:
        try:
            end = self.job.finish(status, budget=JOB_BASED_CHARGING_FAILURES, paid_calls=paid)
        except (JobNotActiveError, InvalidTransitionError):
            assert self.job.status.is_final or status not in FINAL_STATUSES
            return
        assert end.charge_credits in (Decimal(0), Decimal(1))
        self.job = Job(**{**{f: getattr(self.job, f) for f in self.job.__struct_fields__}, "status": end.status})

    @precondition(lambda self: self.job.status.is_final)
    @invariant()
    def a_final_job_accepts_no_call(self) -> None:
        assert not self.job.accepts_calls


TestJobLifecycle = JobLifecycle.TestCase


def test_only_an_active_job_idle_past_the_cutoff_is_stale() -> None:
    cutoff = T0 + timedelta(hours=1)
    assert new_job(last_activity_at=T0).is_idle_since(cutoff)
    assert not new_job(last_activity_at=cutoff).is_idle_since(cutoff)
    assert not new_job(status=JobStatus.COMPLETED, last_activity_at=T0).is_idle_since(cutoff)
    assert new_job().is_idle_since(cutoff)  # never active: counts from its creation
