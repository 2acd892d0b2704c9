"""Request and response bodies of the client API (API.md "Client API").

Requests forbid unknown fields (422). Money and credits leave as decimal strings in
fixed-point notation (never ``1E-9``), token counts as integers.
"""

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal, TypedDict
from uuid import UUID

import msgspec

from application.ports.repositories import DayUsage, OpenJobs, UsageReport
from application.services.calls import CallRequest
from application.services.credits import TeamCredits
from application.services.jobs import JobCompletion
from domain.calls import LlmCall
from domain.errors import InvalidValueError
from domain.jobs import CostSummary, Job
from domain.ledger import CreditBalance, LedgerEntry
from domain.llm import ChatMessage, Role, ToolCall
from domain.usage import TokenUsage
from entrypoints.http.schemas.chat import (
    MAX_CONTENT,
    ImagePart,
    ToolCallOut,
    ToolCalls,
    ToolChoiceIn,
    Tools,
    UserParts,
    tool_calls_in,
    tool_calls_out,
    tool_choice_in,
    tools_in,
    user_message,
)
from entrypoints.http.schemas.copying import from_attributes
from entrypoints.http.schemas.money import Body, Money, fixed_point

MAX_MESSAGES = 2000
MAX_TOKENS_CAP = 1_000_000

Metadata = Annotated[dict[str, Any], msgspec.Meta(description="free-form JSON object")]


class Message(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """A turn in OpenAI's shape: ``content`` is text or (user turns) text and ``image_url``
    parts; an assistant turn may carry ``tool_calls`` (then ``content`` may be null), a
    ``tool`` turn answers one of them by ``tool_call_id``."""

    role: Literal["system", "user", "assistant", "tool"]
    content: Annotated[str, msgspec.Meta(max_length=MAX_CONTENT)] | UserParts | None = None
    tool_calls: ToolCalls | None = None
    tool_call_id: Annotated[str, msgspec.Meta(min_length=1, max_length=256)] | None = None

    def to_message(self, index: int) -> ChatMessage:
        where = f"messages[{index}]"
        content = self.content
        if content is None and not (self.role == "assistant" and self.tool_calls):
            raise InvalidValueError(f"{where}: content is required (null only beside an assistant's tool_calls)")
        if self.role == "user":
            message = user_message(content or "", where)
        elif isinstance(content, list):
            if any(isinstance(part, ImagePart) for part in content):
                raise InvalidValueError(f"{where}: only user messages may carry images")
            message = ChatMessage(Role(self.role), "\n".join(part.text for part in content))  # type: ignore[union-attr]
        else:
            message = ChatMessage(Role(self.role), content or "")
        calls: tuple[ToolCall, ...] = tool_calls_in(self.tool_calls, where) if self.tool_calls else ()
        if calls or self.tool_call_id is not None:
            message = ChatMessage(
                message.role, message.content, parts=message.parts, tool_calls=calls, tool_call_id=self.tool_call_id
            )
        return message


class ResponseFormat(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    type: Literal["json_object", "text"]


class CallBody(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    model: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
    messages: Annotated[list[Message], msgspec.Meta(min_length=1, max_length=MAX_MESSAGES)]
    temperature: Annotated[float, msgspec.Meta(ge=0, le=2)] | None = None
    max_tokens: Annotated[int, msgspec.Meta(ge=1, le=MAX_TOKENS_CAP)] | None = None
    top_p: Annotated[float, msgspec.Meta(ge=0, le=1)] | None = None
    stop: str | Annotated[list[str], msgspec.Meta(max_length=4)] | None = None
    response_format: ResponseFormat | None = None
    purpose: Annotated[str, msgspec.Meta(max_length=500)] | None = None
    tools: Tools | None = None
    tool_choice: ToolChoiceIn | None = None
    parallel_tool_calls: bool | None = None

    def to_request(self) -> CallRequest:
        stop = [self.stop] if isinstance(self.stop, str) else self.stop
        return CallRequest(
            model=self.model,
            messages=[m.to_message(index) for index, m in enumerate(self.messages)],
            tools=tools_in(self.tools),
            tool_choice=tool_choice_in(self.tool_choice),
            parallel_tool_calls=self.parallel_tool_calls,
            max_tokens=self.max_tokens,
            temperature=self.temperature,
            top_p=self.top_p,
            stop=stop,
            json_mode=self.response_format is not None and self.response_format.type == "json_object",
            purpose=self.purpose,
        )


class CreateJobBody(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    job_type: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
    metadata: Metadata | None = None
    external_id: Annotated[str, msgspec.Meta(min_length=1, max_length=200)] | None = None
    team_id: UUID | None = None


class CreateAndCallBody(CallBody, frozen=True, forbid_unknown_fields=True, kw_only=True):
    job_type: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
    metadata: Metadata | None = None
    external_id: Annotated[str, msgspec.Meta(min_length=1, max_length=200)] | None = None
    team_id: UUID | None = None


class CompleteBody(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    status: Literal["completed", "failed", "cancelled"] = "completed"
    metadata: Metadata | None = None


class MetadataBody(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    metadata: Metadata


# ---- responses -------------------------------------------------------------------------


class JobOut(msgspec.Struct, frozen=True, kw_only=True):
    job_id: UUID
    team_id: UUID
    job_type: str
    status: str
    created_at: datetime
    metadata: dict[str, Any]
    external_id: str | None = None
    completed_at: datetime | None = None


def job_out(job: Job) -> JobOut:
    return from_attributes(JobOut, job, job_id=job.id, status=job.status.value)


class UsageOut(msgspec.Struct, frozen=True, kw_only=True):
    input_tokens: int
    output_tokens: int
    total_tokens: int
    cached_input_tokens: int
    cache_write_tokens: int
    reasoning_tokens: int


def usage_out(usage: TokenUsage) -> UsageOut:
    return UsageOut(
        input_tokens=usage.prompt_tokens,
        output_tokens=usage.completion_tokens,
        total_tokens=usage.total_tokens,
        cached_input_tokens=usage.cached_input,
        cache_write_tokens=usage.cache_write,
        reasoning_tokens=usage.reasoning,
    )


class CostsOut(msgspec.Struct, frozen=True, kw_only=True):
    total_calls: int
    successful_calls: int
    failed_calls: int
    input_tokens: int
    output_tokens: int
    total_tokens: int
    provider_cost_usd: str
    customer_cost_usd: str
    margin_usd: str


class CostFields(TypedDict):
    """A cost summary's three amounts, as the client API's bodies show them (fixed-point text)."""

    provider_cost_usd: str
    customer_cost_usd: str
    margin_usd: str


def cost_fields(summary: CostSummary) -> CostFields:
    return CostFields(
        provider_cost_usd=fixed_point(summary.provider_cost_usd),
        customer_cost_usd=fixed_point(summary.customer_cost_usd),
        margin_usd=fixed_point(summary.margin_usd),
    )


def costs_out(summary: CostSummary) -> CostsOut:
    return from_attributes(CostsOut, summary, **cost_fields(summary))


class AnswerOut(msgspec.Struct, frozen=True, kw_only=True):
    role: str
    content: str
    finish_reason: str
    tool_calls: list[ToolCallOut] | msgspec.UnsetType = msgspec.UNSET  # present when the model called tools


class CallOut(msgspec.Struct, frozen=True, kw_only=True):
    call_id: UUID
    job_id: UUID
    model: str
    provider: str
    provider_model: str
    response: AnswerOut
    usage: UsageOut
    latency_ms: int
    usage_estimated: bool
    attempts: int
    cached: bool = False  # answered from the alias's response cache: the provider was not called


def answer_out(call: LlmCall, content: str, tool_calls: tuple[ToolCall, ...] = ()) -> AnswerOut:
    return AnswerOut(
        role="assistant",
        content=content,
        finish_reason=(call.finish_reason or "stop").__str__(),
        tool_calls=tool_calls_out(tool_calls) if tool_calls else msgspec.UNSET,
    )


class CallServiceFields(TypedDict):
    """Who served a call and what it used, as both a call and a call's summary show it."""

    model: str
    provider: str
    provider_model: str
    usage: UsageOut
    usage_estimated: bool
    latency_ms: int
    cached: bool


def call_service_fields(call: LlmCall) -> CallServiceFields:
    return CallServiceFields(
        model=call.alias,
        provider=str(call.provider),
        provider_model=call.provider_model,
        usage=usage_out(call.usage),
        usage_estimated=call.usage_estimated,
        latency_ms=call.latency_ms,
        cached=call.cached,
    )


def call_out(call: LlmCall, content: str, tool_calls: tuple[ToolCall, ...] = ()) -> CallOut:
    return from_attributes(
        CallOut, call, call_id=call.id, response=answer_out(call, content, tool_calls), **call_service_fields(call)
    )


class CompletionOut(msgspec.Struct, frozen=True, kw_only=True):
    job_id: UUID
    status: str
    completed_at: datetime
    costs: CostsOut
    credits_deducted: str
    credits_remaining: str


def completion_out(done: JobCompletion) -> CompletionOut:
    return from_attributes(
        CompletionOut,
        done,
        status=done.status.value,
        costs=costs_out(done.costs),
        credits_deducted=fixed_point(done.credits_deducted),
        credits_remaining=fixed_point(done.credits_remaining),
    )


class CreateAndCallOut(CallOut, frozen=True, kw_only=True):
    costs: CostsOut
    credits_deducted: str
    credits_remaining: str


class CallSummaryOut(msgspec.Struct, frozen=True, kw_only=True):
    id: UUID
    model: str
    provider: str
    provider_model: str
    status: str
    usage: UsageOut
    usage_estimated: bool
    latency_ms: int
    ttft_ms: int | None
    streamed: bool
    provider_cost_usd: str
    customer_cost_usd: str
    credits: str
    created_at: datetime
    purpose: str | None = None
    error: str | None = None
    error_code: str | None = None
    unsettled: bool = False  # captured at its held credits: its outcome could not be recorded
    cached: bool = False  # answered from the response cache (provider cost 0)


def call_summary_out(call: LlmCall) -> CallSummaryOut:
    return from_attributes(
        CallSummaryOut,
        call,
        status=call.status.value,
        provider_cost_usd=fixed_point(call.cost.provider_cost_usd),
        customer_cost_usd=fixed_point(call.cost.customer_price_usd),
        credits=fixed_point(call.credits),
        error=call.error_message,
        **call_service_fields(call),
    )


class JobDetailOut(JobOut, frozen=True, kw_only=True):
    calls: list[CallSummaryOut]
    totals: CostsOut
    costs: CostsOut | None = None
    credits_deducted: str | None = None


class JobPage(msgspec.Struct, frozen=True):
    items: list[JobOut]
    next_cursor: str | None


class CreditsOut(Body, frozen=True, kw_only=True):
    team_id: UUID
    budget_mode: str
    allocated: Money
    used: Money
    held: Money
    remaining: Money
    credits_per_usd: Money
    tokens_per_credit: int
    low_credit_threshold: Money | None = None  # the team's own; null: 10 % of the allocation
    burn_rate_per_day: Money | None = None  # credits debited over the last 7 days, per day
    runs_out_at: datetime | None = None  # at that pace; null when not burning


class BalanceOut(Body, frozen=True, kw_only=True):
    allocated: Money
    used: Money
    held: Money
    remaining: Money


def remaining(balance: CreditBalance) -> Decimal:
    """What the team may still spend, as shown: never below zero."""
    return max(balance.available, Decimal(0))


class BalanceFields(TypedDict):
    """A balance's four figures, as every body that shows a team's credits names them."""

    allocated: Decimal
    used: Decimal
    held: Decimal
    remaining: Decimal


def balance_fields(balance: CreditBalance) -> BalanceFields:
    return BalanceFields(
        allocated=balance.allocated, used=balance.used, held=balance.held, remaining=remaining(balance)
    )


def balance_out(balance: CreditBalance) -> BalanceOut:
    return BalanceOut(**balance_fields(balance))


def credits_out(team_id: UUID, credits: TeamCredits) -> CreditsOut:
    balance, budget, outlook = credits.balance, credits.budget, credits.forecast
    return CreditsOut(
        team_id=team_id,
        budget_mode=budget.mode.value,
        **balance_fields(balance),
        credits_per_usd=budget.credits_per_usd,
        tokens_per_credit=budget.tokens_per_credit,
        low_credit_threshold=credits.low_credit_threshold,
        burn_rate_per_day=outlook.burn_rate_per_day if outlook else None,
        runs_out_at=outlook.runs_out_at if outlook else None,
    )


class TransactionOut(Body, frozen=True, kw_only=True):
    id: UUID
    type: str
    amount: Money
    job_id: UUID | None
    call_id: UUID | None
    reason: str | None
    idempotency_key: str | None
    created_at: datetime


def transaction_out(entry: LedgerEntry) -> TransactionOut:
    return from_attributes(TransactionOut, entry, type=entry.type.value)


class TransactionPage(msgspec.Struct, frozen=True):
    items: list[TransactionOut]
    next_cursor: str | None


class JobCountsOut(msgspec.Struct, frozen=True):
    total: int
    completed: int
    failed: int
    cancelled: int


class TokensOut(msgspec.Struct, frozen=True):
    input: int
    output: int
    total: int


def tokens_out(summary: CostSummary) -> TokensOut:
    return TokensOut(summary.input_tokens, summary.output_tokens, summary.total_tokens)


class ModelUsageOut(msgspec.Struct, frozen=True):
    model: str
    calls: int
    tokens: int
    customer_cost_usd: str


class DayUsageOut(msgspec.Struct, frozen=True):
    date: date
    calls: int
    tokens: int
    provider_cost_usd: str
    customer_cost_usd: str


def day_usage_out(d: DayUsage) -> DayUsageOut:
    return DayUsageOut(d.day, d.calls, d.tokens, fixed_point(d.provider_cost_usd), fixed_point(d.customer_cost_usd))


class InProgressOut(msgspec.Struct, frozen=True, kw_only=True):
    """Open jobs with activity in the range: their calls so far (already debited)."""

    jobs: int
    calls: int
    tokens: TokensOut
    provider_cost_usd: str
    customer_cost_usd: str
    margin_usd: str
    credits: str


class TeamUsageOut(msgspec.Struct, frozen=True, kw_only=True):
    team_id: UUID
    from_: date = msgspec.field(name="from")
    to: date
    budget_mode: str
    jobs: JobCountsOut
    calls: int
    tokens: TokensOut
    provider_cost_usd: str
    customer_cost_usd: str
    margin_usd: str
    credits: BalanceOut
    by_model: list[ModelUsageOut]  # finished jobs
    by_day: list[DayUsageOut]  # finished jobs, by completion day
    in_progress: InProgressOut  # included in calls, tokens and the amounts above, shown apart


def usage_report_out(
    team_id: UUID,
    first: date,
    last: date,
    mode: str,
    report: UsageReport,
    balance: CreditBalance,
    in_progress: OpenJobs | None = None,
) -> TeamUsageOut:
    live = in_progress or OpenJobs()
    o = live.totals
    t = report.totals + o
    return TeamUsageOut(
        team_id=team_id,
        from_=first,
        to=last,
        budget_mode=mode,
        jobs=JobCountsOut(report.jobs_total, report.jobs_completed, report.jobs_failed, report.jobs_cancelled),
        calls=t.total_calls,
        tokens=tokens_out(t),
        **cost_fields(t),
        credits=balance_out(balance),
        by_model=[ModelUsageOut(m.model, m.calls, m.tokens, fixed_point(m.customer_cost_usd)) for m in report.by_model],
        by_day=[day_usage_out(d) for d in report.by_day],
        in_progress=InProgressOut(
            jobs=live.jobs,
            calls=o.total_calls,
            tokens=tokens_out(o),
            **cost_fields(o),
            credits=fixed_point(o.credits),
        ),
    )
