"""Budget modes: how a team's usage turns into credits, and the worst-case hold of a call."""

from decimal import Decimal, localcontext
from enum import StrEnum

import msgspec

from domain.errors import InvalidValueError
from domain.jobs import JobStatus
from domain.llm import ChatMessage
from domain.money import EXACT, ZERO, ceil_credits, ceil_ratio_credits
from domain.pricing import CallCost, PriceSheet, worst_case_cost_usd
from domain.tools import ToolSpec, tools_bytes
from domain.usage import TokenUsage

DEFAULT_CREDITS_PER_USD = Decimal(10)
DEFAULT_TOKENS_PER_CREDIT = 10_000
DEFAULT_MAX_CALLS_PER_JOB = 100
MAX_CALLS_PER_JOB_LIMIT = 1_000_000
JOB_CREDIT = Decimal(1)

# Chat templates add a few tokens per message (role markers, separators) and per
# request (assistant priming); these bounds are generous for every provider we support.
TOKENS_PER_MESSAGE_OVERHEAD = 16
TOKENS_PER_REQUEST_OVERHEAD = 32
# Images are billed by size, not by the bytes sent, so each counts a fixed amount that no
# provider exceeds today: the worst is OpenAI's gpt-4o-mini, which bills a high-detail
# image at 2,833 + 5,667 per 512-px tile, up to 8 tiles (768 × 2048): 48,169 tokens.
# (Anthropic stays under ~1,600 per image, Gemini under ~1,300, patch-based OpenAI models
# under ~3,800.) The image's own bytes (a data URI) are not counted as text.
IMAGE_TOKENS_UPPER_BOUND = 48_200
# Tools: their JSON definitions count byte for byte, plus a per-tool frame and, once,
# the tool-use system prompt providers add (Anthropic documents 346 tokens at most).
TOKENS_PER_TOOL_OVERHEAD = 64
TOKENS_FOR_TOOL_USE = 512
TOKENS_PER_TOOL_CALL_OVERHEAD = 16


class BudgetMode(StrEnum):
    JOB_BASED = "job_based"
    CONSUMPTION_USD = "consumption_usd"
    CONSUMPTION_TOKENS = "consumption_tokens"


class BudgetPolicy(msgspec.Struct, frozen=True, kw_only=True):
    """A team's budget mode with its conversion rates and what one job may consume.

    ``max_calls_per_job`` bounds the calls one job can start (every mode), so a job_based
    team cannot get unbounded work for one credit; ``charge_failed_jobs`` makes a
    job_based job that ends ``failed`` or ``cancelled`` after a successful call cost its
    credit like a completed one.
    """

    mode: BudgetMode
    credits_per_usd: Decimal = DEFAULT_CREDITS_PER_USD
    tokens_per_credit: int = DEFAULT_TOKENS_PER_CREDIT
    max_calls_per_job: int = DEFAULT_MAX_CALLS_PER_JOB
    charge_failed_jobs: bool = False

    def __post_init__(self) -> None:
        if not self.credits_per_usd.is_finite() or self.credits_per_usd <= 0:
            raise InvalidValueError("credits_per_usd must be positive")
        if self.tokens_per_credit <= 0:
            raise InvalidValueError("tokens_per_credit must be positive")
        if not 0 < self.max_calls_per_job <= MAX_CALLS_PER_JOB_LIMIT:
            raise InvalidValueError(f"max_calls_per_job must be between 1 and {MAX_CALLS_PER_JOB_LIMIT}")

    def call_credits(self, usage: TokenUsage, cost: CallCost, *, token_factor: Decimal = Decimal(1)) -> Decimal:
        """Credits one call consumes: computed from that call alone, rounded up to 1e-6.

        ``token_factor`` scales the tokens a ``consumption_tokens`` team pays for (a cached
        answer's price factor); the USD modes already see it in ``cost``.
        """
        match self.mode:
            case BudgetMode.JOB_BASED:
                return ZERO
            case BudgetMode.CONSUMPTION_USD:
                with localcontext(EXACT):
                    return ceil_credits(cost.customer_price_usd * self.credits_per_usd)
            case BudgetMode.CONSUMPTION_TOKENS:
                numerator, denominator = token_factor.as_integer_ratio()
                return ceil_ratio_credits(usage.total_tokens * numerator, self.tokens_per_credit * denominator)

    def completion_credits(self, status: JobStatus, *, paid_calls: int = 0) -> Decimal:
        """Credits charged when a job finishes (only job_based charges per job).

        ``paid_calls`` counts the job's calls that reached the provider and may have
        produced output (successful ones, and unsettled ones whose outcome is unknown).
        A completed job costs 1; an expired one costs 1 once it made such a call
        (abandoning a job is not failing it); a failed or cancelled one costs 0, or 1
        after such a call when the team has ``charge_failed_jobs``.
        """
        if self.mode is not BudgetMode.JOB_BASED:
            return ZERO
        match status:
            case JobStatus.COMPLETED:
                return JOB_CREDIT
            case JobStatus.EXPIRED:
                return JOB_CREDIT if paid_calls > 0 else ZERO
            case JobStatus.FAILED | JobStatus.CANCELLED:
                return JOB_CREDIT if self.charge_failed_jobs and paid_calls > 0 else ZERO
            case _:
                return ZERO

    def may_create_job(self, available: Decimal) -> bool:
        """Whether a team with ``available`` credits may create a job: job_based needs the
        job's credit (it is held at creation), consumption modes some credit left."""
        if self.mode is BudgetMode.JOB_BASED:
            return available >= self.job_hold
        return available > 0

    @property
    def job_hold(self) -> Decimal:
        """Credits reserved when a job is created: 1 for job_based, none otherwise."""
        return JOB_CREDIT if self.mode is BudgetMode.JOB_BASED else ZERO

    def call_hold(
        self, *, messages: list[ChatMessage], max_tokens: int, sheet: PriceSheet, tools: tuple[ToolSpec, ...] = ()
    ) -> Decimal:
        """A true upper bound of the credits a call can consume (0 for job_based)."""
        if self.mode is BudgetMode.JOB_BASED:
            return ZERO
        prompt = prompt_token_upper_bound(messages, tools)
        if self.mode is BudgetMode.CONSUMPTION_TOKENS:
            return ceil_ratio_credits(prompt + max_tokens, self.tokens_per_credit)
        usd = worst_case_cost_usd(prompt_tokens=prompt, completion_tokens=max_tokens, sheet=sheet)
        with localcontext(EXACT):
            return ceil_credits(usd * self.credits_per_usd)


def prompt_token_upper_bound(messages: list[ChatMessage], tools: tuple[ToolSpec, ...] = ()) -> int:
    """Byte-level BPE never yields more tokens than UTF-8 bytes; add template overhead.

    Tool calls and results count their id, name and arguments as text, each image
    ``IMAGE_TOKENS_UPPER_BOUND``, tool definitions their JSON plus a frame (see above).
    """
    content_bytes = sum(len(m.content.encode("utf-8")) + len(m.role) for m in messages)
    bound = content_bytes + TOKENS_PER_MESSAGE_OVERHEAD * len(messages) + TOKENS_PER_REQUEST_OVERHEAD
    for message in messages:
        if message.parts:
            bound += IMAGE_TOKENS_UPPER_BOUND * message.images
        if message.tool_call_id is not None:
            bound += len(message.tool_call_id.encode("utf-8"))
        for call in message.tool_calls:
            size = len(call.id.encode("utf-8")) + len(call.name) + len(call.arguments.encode("utf-8"))
            bound += size + TOKENS_PER_TOOL_CALL_OVERHEAD
    if tools:
        bound += tools_bytes(tools) + TOKENS_PER_TOOL_OVERHEAD * len(tools) + TOKENS_FOR_TOOL_USE
    return bound
