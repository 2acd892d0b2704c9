"""Budget modes: credits per call and per job, and the worst-case hold."""

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.budgets import BudgetMode, BudgetPolicy, prompt_token_upper_bound
from domain.errors import InvalidValueError
from domain.jobs import JobStatus
from domain.llm import ChatMessage, Role
from domain.money import CREDIT_QUANTUM
from domain.pricing import PriceSheet, price_call
from domain.usage import TokenUsage
from tests.strategies import price_sheets, usages

D = Decimal
SHEET = PriceSheet(input_per_million=D("2.5"), output_per_million=D("10"))


def test_consumption_usd_charges_price_times_credits_per_usd() -> None:
    policy = BudgetPolicy(mode=BudgetMode.CONSUMPTION_USD)
    usage = TokenUsage(input=1000, output=500)
    cost = price_call(usage, provider=SHEET, customer=SHEET)
    assert cost.customer_price_usd == D("0.0075")
    assert policy.call_credits(usage, cost) == D("0.075")


def test_consumption_tokens_charges_tokens_over_tokens_per_credit_rounded_up() -> None:
    policy = BudgetPolicy(mode=BudgetMode.CONSUMPTION_TOKENS)
    usage = TokenUsage(input=1, output=0)
    cost = price_call(usage, provider=SHEET, customer=SHEET)
    assert policy.call_credits(usage, cost) == D("0.0001")
    policy3 = BudgetPolicy(mode=BudgetMode.CONSUMPTION_TOKENS, tokens_per_credit=3)
    assert policy3.call_credits(usage, cost) == D("0.333334")


def test_job_based_charges_one_credit_per_completed_job_only() -> None:
    policy = BudgetPolicy(mode=BudgetMode.JOB_BASED)
    usage = TokenUsage(input=10_000, output=10_000)
    assert policy.call_credits(usage, price_call(usage, provider=SHEET, customer=SHEET)) == 0
    assert policy.completion_credits(JobStatus.COMPLETED) == 1
    assert policy.completion_credits(JobStatus.FAILED) == 0
    assert policy.completion_credits(JobStatus.CANCELLED) == 0
    assert policy.completion_credits(JobStatus.EXPIRED) == 0
    assert policy.job_hold == 1


@pytest.mark.parametrize(
    ("status", "paid_calls", "charge_failed", "expected"),
    [
        (JobStatus.COMPLETED, 0, False, 1),
        (JobStatus.COMPLETED, 3, False, 1),
        (JobStatus.EXPIRED, 0, False, 0),
        (JobStatus.EXPIRED, 1, False, 1),  # abandoning a job that did work is not failing it
        (JobStatus.FAILED, 1, False, 0),
        (JobStatus.CANCELLED, 1, False, 0),
        (JobStatus.FAILED, 0, True, 0),  # nothing reached the provider: nothing to charge
        (JobStatus.FAILED, 1, True, 1),
        (JobStatus.CANCELLED, 2, True, 1),
        (JobStatus.EXPIRED, 1, True, 1),
    ],
)
def test_job_based_charges_work_that_was_done(
    status: JobStatus, paid_calls: int, charge_failed: bool, expected: int
) -> None:
    policy = BudgetPolicy(mode=BudgetMode.JOB_BASED, charge_failed_jobs=charge_failed)
    assert policy.completion_credits(status, paid_calls=paid_calls) == expected


@given(st.sampled_from(list(JobStatus)), st.integers(min_value=0, max_value=1000), st.booleans())
def test_job_based_never_charges_more_than_one_credit_per_job(status: JobStatus, paid: int, charge: bool) -> None:
    policy = BudgetPolicy(mode=BudgetMode.JOB_BASED, charge_failed_jobs=charge)
    assert policy.completion_credits(status, paid_calls=paid) in (0, 1)
    consumption = BudgetPolicy(mode=BudgetMode.CONSUMPTION_USD, charge_failed_jobs=charge)
    assert consumption.completion_credits(status, paid_calls=paid) == 0  # consumption pays per call


def test_max_calls_per_job_is_bounded() -> None:
    assert BudgetPolicy(mode=BudgetMode.JOB_BASED).max_calls_per_job == 100
    for bad in (0, -1, 1_000_001):
        with pytest.raises(InvalidValueError):
            BudgetPolicy(mode=BudgetMode.JOB_BASED, max_calls_per_job=bad)


def test_rates_must_be_positive() -> None:
    with pytest.raises(InvalidValueError):
        BudgetPolicy(mode=BudgetMode.CONSUMPTION_USD, credits_per_usd=D(0))
    with pytest.raises(InvalidValueError):
        BudgetPolicy(mode=BudgetMode.CONSUMPTION_TOKENS, tokens_per_credit=0)


rates = st.decimals(min_value=D("0.01"), max_value=D(1000), places=2)


@given(usages, price_sheets, rates)
def test_usd_credits_match_the_formula(usage: TokenUsage, sheet: PriceSheet, rate: Decimal) -> None:
    policy = BudgetPolicy(mode=BudgetMode.CONSUMPTION_USD, credits_per_usd=rate)
    cost = price_call(usage, provider=sheet, customer=sheet)
    credits = policy.call_credits(usage, cost)
    exact = cost.customer_price_usd * rate
    assert D(0) <= credits - exact < CREDIT_QUANTUM
    assert credits == credits.quantize(CREDIT_QUANTUM)


@given(usages, st.integers(min_value=1, max_value=10**7))
def test_token_credits_match_the_formula(usage: TokenUsage, per_credit: int) -> None:
    policy = BudgetPolicy(mode=BudgetMode.CONSUMPTION_TOKENS, tokens_per_credit=per_credit)
    credits = policy.call_credits(usage, price_call(usage, provider=SHEET, customer=SHEET))
    assert D(0) <= credits * per_credit - usage.total_tokens < CREDIT_QUANTUM * per_credit


texts = st.text(max_size=300)
messages = st.lists(st.builds(ChatMessage, st.sampled_from(list(Role)), texts), min_size=1, max_size=5)


@given(messages, st.integers(1, 4096), price_sheets, usages, rates, st.sampled_from(list(BudgetMode)))
def test_hold_covers_any_usage_within_its_bounds(
    msgs: list[ChatMessage], max_tokens: int, sheet: PriceSheet, usage: TokenUsage, rate: Decimal, mode: BudgetMode
) -> None:
    """Any usage whose prompt fits the byte bound and whose output fits max_tokens costs at most the hold."""
    bound = prompt_token_upper_bound(msgs)
    prompt_share = min(usage.prompt_tokens, bound)
    capped = TokenUsage(
        input=min(usage.input, prompt_share),
        cached_input=min(usage.cached_input, max(0, prompt_share - usage.input)),
        output=min(usage.output, max_tokens),
        reasoning=min(usage.reasoning, max(0, max_tokens - usage.output)),
    )
    policy = BudgetPolicy(mode=mode, credits_per_usd=rate)
    hold = policy.call_hold(messages=msgs, max_tokens=max_tokens, sheet=sheet)
    actual = policy.call_credits(capped, price_call(capped, provider=sheet, customer=sheet))
    assert actual <= hold


def test_prompt_bound_counts_utf8_bytes_not_characters() -> None:
    ascii_bound = prompt_token_upper_bound([ChatMessage(Role.USER, "aaaa")])
    emoji_bound = prompt_token_upper_bound([ChatMessage(Role.USER, "😀😀😀😀")])
    assert emoji_bound - ascii_bound == 12  # 4 emoji × 4 bytes vs 4 ascii bytes


def test_the_prompt_bound_counts_images_tools_calls_and_results() -> None:
    from domain.budgets import IMAGE_TOKENS_UPPER_BOUND, TOKENS_FOR_TOOL_USE, TOKENS_PER_TOOL_OVERHEAD
    from domain.content import ImagePart, TextPart
    from domain.llm import ToolCall, ToolSpec

    text = [ChatMessage(Role.USER, "look")]
    base = prompt_token_upper_bound(text)
    image = ChatMessage.of_parts(Role.USER, [TextPart("look"), ImagePart(url="https://example.com/a.png")])
    assert prompt_token_upper_bound([image]) == base + IMAGE_TOKENS_UPPER_BOUND  # the URL's bytes are not text
    tool = ToolSpec(name="f", description="d", parameters={"type": "object"})
    json_size = len(b'{"name":"f","description":"d","parameters":{"type":"object"},"strict":null}')
    assert prompt_token_upper_bound(text, (tool,)) == base + json_size + TOKENS_PER_TOOL_OVERHEAD + TOKENS_FOR_TOOL_USE
    call = ChatMessage(Role.ASSISTANT, "", tool_calls=(ToolCall(id="c1", name="f", arguments='{"a":1}'),))
    result = ChatMessage(Role.TOOL, "42", tool_call_id="c1")
    plain = [ChatMessage(Role.ASSISTANT, ""), ChatMessage(Role.TOOL, "42")]
    assert prompt_token_upper_bound([call, result]) - prompt_token_upper_bound(plain) == (2 + 1 + 7 + 16) + 2


def test_an_image_makes_the_hold_larger_in_every_consumption_mode() -> None:
    from domain.content import ImagePart

    image = [ChatMessage.of_parts(Role.USER, [ImagePart(url="https://example.com/a.png")])]
    text = [ChatMessage(Role.USER, "")]
    for mode in (BudgetMode.CONSUMPTION_USD, BudgetMode.CONSUMPTION_TOKENS):
        policy = BudgetPolicy(mode=mode)
        with_image = policy.call_hold(messages=image, max_tokens=10, sheet=SHEET)
        assert with_image > policy.call_hold(messages=text, max_tokens=10, sheet=SHEET)
