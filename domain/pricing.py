"""Price sheets (USD per 1M tokens) and the exact cost of one call."""

from decimal import ROUND_CEILING, Context, Decimal, localcontext

import msgspec

from domain.errors import InvalidValueError
from domain.money import EXACT, TOKENS_PER_MILLION, ceil_usd
from domain.usage import TokenUsage


class PriceSheet(msgspec.Struct, frozen=True, kw_only=True):
    """Prices in USD per 1M tokens.

    A category without its own price falls back: cache reads and cache writes to the
    input price, reasoning to the output price.
    """

    input_per_million: Decimal
    output_per_million: Decimal
    cached_input_per_million: Decimal | None = None
    cache_write_per_million: Decimal | None = None
    reasoning_per_million: Decimal | None = None

    def __post_init__(self) -> None:
        for name in self.__struct_fields__:
            value = getattr(self, name)
            if value is not None and (not value.is_finite() or value < 0):
                raise InvalidValueError(f"price {name} must be a finite amount >= 0")

    @property
    def cached_input(self) -> Decimal:
        return self.cached_input_per_million if self.cached_input_per_million is not None else self.input_per_million

    @property
    def cache_write(self) -> Decimal:
        return self.cache_write_per_million if self.cache_write_per_million is not None else self.input_per_million

    @property
    def reasoning(self) -> Decimal:
        return self.reasoning_per_million if self.reasoning_per_million is not None else self.output_per_million

    @property
    def max_prompt_price(self) -> Decimal:
        """The highest input-side price: a prompt token can cost at most this."""
        return max(self.input_per_million, self.cached_input, self.cache_write)

    @property
    def max_completion_price(self) -> Decimal:
        """The highest output-side price: a generated token can cost at most this."""
        return max(self.output_per_million, self.reasoning)


PRICE_QUANTUM = Decimal("1e-9")  # a derived price per 1M tokens is kept to 1e-9 USD


def with_derived_cache_prices(sheet: PriceSheet, reference: PriceSheet | None) -> PriceSheet:
    """Fill a missing cache-read / cache-write price from the reference's ratio to input.

    ``reference`` is the provider catalog's sheet for the model (cache reads at 0.1×
    input for Anthropic, say). Without a reference ratio the fallback stays the input
    price. A ratio that does not divide exactly is rounded up to 1e-9 per 1M tokens.
    """
    if reference is None or reference.input_per_million == 0:
        return sheet

    def derived(own: Decimal | None, ref: Decimal | None) -> Decimal | None:
        if own is not None or ref is None:
            return own
        with localcontext(Context(prec=60, rounding=ROUND_CEILING)):
            value = sheet.input_per_million * ref / reference.input_per_million
            return value.quantize(PRICE_QUANTUM).normalize()

    return PriceSheet(
        input_per_million=sheet.input_per_million,
        output_per_million=sheet.output_per_million,
        cached_input_per_million=derived(sheet.cached_input_per_million, reference.cached_input_per_million),
        cache_write_per_million=derived(sheet.cache_write_per_million, reference.cache_write_per_million),
        reasoning_per_million=sheet.reasoning_per_million,
    )


def marked_up(sheet: PriceSheet, markup: Decimal) -> PriceSheet:
    """Every price of ``sheet`` × (1 + ``markup``), each rounded up to 1e-9 per 1M tokens
    (``markup`` 0.3: 30 % over cost; missing category prices stay missing, so they keep
    falling back as the sheet says)."""
    if not markup.is_finite() or markup < 0:
        raise InvalidValueError("markup must be a finite amount >= 0")

    def up(price: Decimal | None) -> Decimal | None:
        if price is None:
            return None
        with localcontext(Context(prec=60, rounding=ROUND_CEILING)):
            return (price * (1 + markup)).quantize(PRICE_QUANTUM).normalize()

    return PriceSheet(
        input_per_million=up(sheet.input_per_million) or Decimal(0),
        output_per_million=up(sheet.output_per_million) or Decimal(0),
        cached_input_per_million=up(sheet.cached_input_per_million),
        cache_write_per_million=up(sheet.cache_write_per_million),
        reasoning_per_million=up(sheet.reasoning_per_million),
    )


def exact_cost_usd(usage: TokenUsage, sheet: PriceSheet) -> Decimal:
    """Σ tokens × price / 1M over the categories, exact (no rounding at all)."""
    with localcontext(EXACT):
        per_million = (
            usage.input * sheet.input_per_million
            + usage.cached_input * sheet.cached_input
            + usage.cache_write * sheet.cache_write
            + usage.output * sheet.output_per_million
            + usage.reasoning * sheet.reasoning
        )
        return per_million / TOKENS_PER_MILLION


def worst_case_cost_usd(*, prompt_tokens: int, completion_tokens: int, sheet: PriceSheet) -> Decimal:
    """Upper bound of a call's cost, rounded up like a real call would be."""
    with localcontext(EXACT):
        per_million = prompt_tokens * sheet.max_prompt_price + completion_tokens * sheet.max_completion_price
        return ceil_usd(per_million / TOKENS_PER_MILLION)


class CallCost(msgspec.Struct, frozen=True, kw_only=True):
    """What one call cost us, what the customer pays, and the difference."""

    provider_cost_usd: Decimal
    customer_price_usd: Decimal

    @property
    def margin_usd(self) -> Decimal:
        with localcontext(EXACT):
            return self.customer_price_usd - self.provider_cost_usd


ZERO_COST = CallCost(provider_cost_usd=Decimal(0), customer_price_usd=Decimal(0))


def price_call(usage: TokenUsage, *, provider: PriceSheet, customer: PriceSheet) -> CallCost:
    """Cost of one call: each side rounded once, upward, to 1e-9 USD."""
    return CallCost(
        provider_cost_usd=ceil_usd(exact_cost_usd(usage, provider)),
        customer_price_usd=ceil_usd(exact_cost_usd(usage, customer)),
    )


def price_cached_call(usage: TokenUsage, *, customer: PriceSheet, factor: Decimal) -> CallCost:
    """A call answered from the response cache: the provider was not called, so it cost us
    nothing; the customer pays the answer's usage at ``customer`` × ``factor``, rounded once,
    upward, to 1e-9 USD."""
    if not factor.is_finite() or factor < 0:
        raise InvalidValueError("a cached response price factor must be a finite amount >= 0")
    with localcontext(EXACT):
        price = exact_cost_usd(usage, customer) * factor
    return CallCost(provider_cost_usd=Decimal(0), customer_price_usd=ceil_usd(price))
