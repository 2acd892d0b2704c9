"""Jobs: one business operation grouping many LLM calls, with a strict lifecycle."""

from datetime import datetime
from decimal import Decimal, localcontext
from enum import StrEnum
from typing import Any, Protocol

import msgspec

from domain.errors import InvalidTransitionError, InvalidValueError, JobNotActiveError, PayloadTooLargeError
from domain.ids import JobId, TeamId
from domain.money import EXACT, ZERO, add_fields
from domain.text import ensure_storable_json

# Job metadata is the client's free-form annotation: bounded, so a job row stays small.
MAX_METADATA_BYTES = 16_384
MAX_METADATA_KEYS = 64
MAX_METADATA_DEPTH = 16


class JobStatus(StrEnum):
    PENDING = "pending"
    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"
    EXPIRED = "expired"

    @property
    def is_final(self) -> bool:
        return self in FINAL_STATUSES


FINAL_STATUSES = frozenset({JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELLED, JobStatus.EXPIRED})
ACTIVE_STATUSES = frozenset({JobStatus.PENDING, JobStatus.IN_PROGRESS})
# What a client may finish its job as; only the sweeper expires one.
CLIENT_FINAL_STATUSES = frozenset({JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELLED})

_ALLOWED: dict[JobStatus, frozenset[JobStatus]] = {
    JobStatus.PENDING: frozenset({JobStatus.IN_PROGRESS}) | FINAL_STATUSES,
    JobStatus.IN_PROGRESS: FINAL_STATUSES,
}


def transition(current: JobStatus, target: JobStatus) -> JobStatus:
    """The next status, or an error: final statuses never change."""
    if current.is_final:
        raise JobNotActiveError(f"job is {current}")
    if target not in _ALLOWED[current]:
        raise InvalidTransitionError(f"a {current} job cannot become {target}")
    return target


class JobCharges(Protocol):
    """What a job's end costs: ``domain.budgets.BudgetPolicy`` (which imports this module)."""

    def completion_credits(self, status: JobStatus, *, paid_calls: int = 0) -> Decimal: ...


class CostSummary(msgspec.Struct, frozen=True, kw_only=True):
    """Totals of a set of calls; summaries add exactly, so a job is the sum of its calls."""

    total_calls: int = 0
    successful_calls: int = 0
    failed_calls: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    provider_cost_usd: Decimal = ZERO
    customer_cost_usd: Decimal = ZERO
    credits: Decimal = ZERO

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens

    @property
    def margin_usd(self) -> Decimal:
        with localcontext(EXACT):
            return self.customer_cost_usd - self.provider_cost_usd

    def __add__(self, other: "CostSummary") -> "CostSummary":
        return add_fields(self, other)


EMPTY_SUMMARY = CostSummary()


class Job(msgspec.Struct, frozen=True, kw_only=True):
    """A job and its running totals (updated with each recorded call)."""

    id: JobId
    team_id: TeamId
    job_type: str
    status: JobStatus
    created_at: datetime
    metadata: dict[str, Any] = msgspec.field(default_factory=dict)
    external_id: str | None = None
    completed_at: datetime | None = None
    totals: CostSummary = EMPTY_SUMMARY
    # Credits held at creation (job_based) and, once final, the credits charged.
    held_credits: Decimal = ZERO
    credits_charged: Decimal | None = None
    # The last time a call started, renewed its lease or was recorded (expiry counts from it).
    last_activity_at: datetime | None = None
    calls_started: int = 0
    # Set when completion was asked for while calls were in flight: no new call is accepted.
    closing_status: JobStatus | None = None

    @property
    def accepts_calls(self) -> bool:
        return not self.status.is_final and self.closing_status is None

    def ensure_accepts_calls(self) -> None:
        if self.status.is_final:
            raise JobNotActiveError(f"job {self.id} is {self.status}; it accepts no more calls")
        if self.closing_status is not None:
            raise JobNotActiveError(f"job {self.id} is being {self.closing_status}; it accepts no more calls")

    @property
    def active_since(self) -> datetime:
        return self.last_activity_at or self.created_at

    def is_idle_since(self, cutoff: datetime) -> bool:
        """An active job with no activity since ``cutoff``: the sweeper expires it (unless a
        call of it still holds a live lease)."""
        return not self.status.is_final and self.active_since < cutoff

    def start(self, *, at: datetime) -> "Job":
        """The job once one more call started in it (``JobNotActiveError`` when it accepts none)."""
        self.ensure_accepts_calls()
        return msgspec.structs.replace(
            self,
            status=transition(self.status, JobStatus.IN_PROGRESS) if self.status is JobStatus.PENDING else self.status,
            calls_started=self.calls_started + 1,
            last_activity_at=max(self.active_since, at),
        )

    def finish(self, status: JobStatus, *, budget: JobCharges, paid_calls: int) -> "JobFinish":
        """How the job ends as ``status``: allowed from an active status only, charged by its
        team's budget (job_based: 1 credit when completed, when expired after a paid call,
        and when failed or cancelled after one if the team has ``charge_failed_jobs``).

        ``paid_calls``: the job's calls that reached the provider and may have produced
        output (successful ones, and unsettled ones whose outcome is unknown).
        """
        return JobFinish(
            status=transition(self.status, status),
            held_credits=self.held_credits,
            charge_credits=budget.completion_credits(status, paid_calls=paid_calls),
        )

    def with_metadata(self, changes: dict[str, Any]) -> "Job":
        """The job with ``changes`` merged into its metadata (see ``merge_metadata``)."""
        return msgspec.structs.replace(self, metadata=merge_metadata(self.metadata, changes))


class JobFinish(msgspec.Struct, frozen=True, kw_only=True):
    """A job's end: its final status, what it held at creation and what it itself costs
    (before the settle's cap: ``domain.ledger.settle``); its calls were charged as they ran."""

    status: JobStatus
    held_credits: Decimal
    charge_credits: Decimal

    @property
    def settles(self) -> bool:
        """Whether the end moves credits (a hold to release or a charge to debit)."""
        return self.held_credits > 0 or self.charge_credits > 0


def check_client_final_status(status: JobStatus) -> JobStatus:
    """A status a client may finish its job as (``InvalidValueError`` otherwise)."""
    if status not in CLIENT_FINAL_STATUSES:
        raise InvalidValueError("status must be completed, failed or cancelled")
    return status


def check_metadata(metadata: dict[str, Any]) -> dict[str, Any]:
    """Metadata that fits its bounds: storable text, at most 64 keys, 16 levels, 16 KiB as JSON."""
    if len(metadata) > MAX_METADATA_KEYS:
        raise InvalidValueError(f"metadata may have at most {MAX_METADATA_KEYS} keys")
    ensure_storable_json(metadata, "metadata", max_depth=MAX_METADATA_DEPTH)
    try:
        size = len(msgspec.json.encode(metadata))
    except (TypeError, ValueError, OverflowError):
        raise InvalidValueError("metadata must be a JSON object") from None
    if size > MAX_METADATA_BYTES:
        raise PayloadTooLargeError(f"metadata may be at most {MAX_METADATA_BYTES} bytes as JSON")
    return metadata


def merge_metadata(current: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    """The metadata after merging ``changes`` (a null value removes the key), within its bounds.

    The one merge of every metadata change (``PATCH …/metadata`` and a completion's metadata).
    """
    merged = {**current, **changes}
    return check_metadata({k: v for k, v in merged.items() if v is not None})
