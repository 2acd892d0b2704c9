"""The job lifecycle: final statuses never change."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.errors import InvalidTransitionError, JobNotActiveError
from domain.jobs import FINAL_STATUSES, JobStatus, transition


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
