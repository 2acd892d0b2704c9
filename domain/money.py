"""Exact money and credit arithmetic.

USD and credits are ``decimal.Decimal`` everywhere. Arithmetic runs in a context that
traps ``Inexact``: if an operation would ever round silently, it raises instead. The only
rounding is the explicit, upward one below, applied once per call.
"""

from decimal import (
    ROUND_CEILING,
    Context,
    Decimal,
    DivisionByZero,
    Inexact,
    InvalidOperation,
    Overflow,
    localcontext,
)
from typing import TypeVar

import msgspec

from domain.errors import InvalidValueError

USD_QUANTUM = Decimal("1e-9")
CREDIT_PLACES = 6  # credits are exact to 1e-6: every stored amount has at most 6 decimals
CREDIT_QUANTUM = Decimal(1).scaleb(-CREDIT_PLACES)
MAX_CREDITS = Decimal(10**12)  # any amount an operator gives: far inside numeric and EXACT
TOKENS_PER_MILLION = Decimal(1_000_000)

Totals = TypeVar("Totals", bound=msgspec.Struct)
ZERO = Decimal(0)

# Precision is far beyond any realistic amount; the Inexact trap proves exactness.
EXACT = Context(prec=120, traps=[InvalidOperation, DivisionByZero, Overflow, Inexact])
_CEILING = Context(prec=120, rounding=ROUND_CEILING, traps=[InvalidOperation, Overflow])


def ceil_usd(amount: Decimal) -> Decimal:
    """Round a USD amount up to the next 1e-9 (once per call, never down)."""
    return amount.quantize(USD_QUANTUM, context=_CEILING)  # the context's precision and ceiling rounding


def ceil_credits(amount: Decimal) -> Decimal:
    """Round a credit amount up to the next 1e-6 (once per call, never down)."""
    return amount.quantize(CREDIT_QUANTUM, context=_CEILING)


def ceil_ratio_credits(numerator: int, denominator: int) -> Decimal:
    """``numerator / denominator`` rounded up to 1e-6, in exact integer arithmetic."""
    if denominator <= 0:
        raise InvalidValueError("denominator must be positive")
    scaled = -((-numerator * 1_000_000) // denominator)  # integer ceiling division
    with localcontext(EXACT):
        return Decimal(scaled).scaleb(-6)


def to_decimal(value: Decimal | int | str, *, what: str = "amount") -> Decimal:
    """Parse a decimal amount, refusing NaN and infinities (floats are not accepted)."""
    if isinstance(value, float):  # pragma: no cover - guarded by the type checker too
        raise InvalidValueError(f"{what} must be a decimal string, not a float")
    try:
        result = Decimal(value)
    except (InvalidOperation, ValueError) as exc:
        raise InvalidValueError(f"{what} is not a decimal number") from exc
    if not result.is_finite():
        raise InvalidValueError(f"{what} must be finite")
    return result


def has_credit_precision(amount: Decimal) -> bool:
    """Whether ``amount`` is a finite credit amount with at most ``CREDIT_PLACES`` decimals
    (trailing zeros do not count: ``1.5000000`` is 1.5)."""
    if not amount.is_finite():
        return False
    exponent = amount.normalize().as_tuple().exponent
    return isinstance(exponent, int) and exponent >= -CREDIT_PLACES


def is_credit_amount(amount: Decimal, *, minimum: Decimal = ZERO, maximum: Decimal = MAX_CREDITS) -> bool:
    """A credit amount an operator may give: exact to 1e-6, from ``minimum`` to ``maximum``."""
    return has_credit_precision(amount) and minimum <= amount <= maximum


def add_fields(a: Totals, b: Totals) -> Totals:
    """Two structs of counts and amounts added field by field, exactly: totals that add
    up (a job's summary is the sum of its calls', a call's usage the sum of its parts)."""
    with localcontext(EXACT):
        return type(a)(**{name: getattr(a, name) + getattr(b, name) for name in a.__struct_fields__})
