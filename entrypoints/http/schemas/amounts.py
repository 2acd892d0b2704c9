"""The decimal fields of request bodies: one notation, one parser, bounds per kind.

A decimal arrives as a JSON string in plain ASCII notation (``"12.5"``, ``"-0.25"``) or
as a JSON integer. Refused with 422: exponents (``"1e3"``), NaN and infinities,
underscores, spaces, non-ASCII digits (``"５"``), JSON fractions (``2.5``, whose exact
text is lost in decoding: send ``"2.5"``), more decimal places than the kind keeps, and
values outside its bounds. The bounds keep every amount far inside what the domain's
exact arithmetic (``domain/money.py``) and Postgres ``numeric`` handle, and the places
match the domain's quanta: credits to 1e-6, prices to 1e-9 USD per 1M tokens.

A field declares its kind by its type (``amount: SignedCredits``); the validated decode
step (``entrypoints/http/inputs.py``) finds the rule in the type's metadata and checks
the raw JSON value before msgspec turns it into a ``Decimal``.
"""

import re
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Annotated, Any

import msgspec

from domain.errors import InvalidValueError
from domain.money import CREDIT_PLACES, MAX_CREDITS

RULE_KEY = "decimal_rule"


@dataclass(frozen=True)
class DecimalRule:
    """Plain notation with at most ``places`` decimals, within ``[minimum, maximum]``
    (``minimum`` itself excluded when ``minimum_excluded``)."""

    places: int
    minimum: Decimal
    maximum: Decimal
    minimum_excluded: bool = False
    pattern: str = field(init=False)
    _regex: re.Pattern[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        digits = len(str(int(max(abs(self.minimum), abs(self.maximum)))))
        sign = "-?" if self.minimum < 0 else ""
        pattern = f"^{sign}[0-9]{{1,{digits}}}(\\.[0-9]{{1,{self.places}}})?$"
        object.__setattr__(self, "pattern", pattern)
        object.__setattr__(self, "_regex", re.compile(pattern))

    @property
    def bounds(self) -> str:
        low = "greater than" if self.minimum_excluded else "at least"
        return f"{low} {self.minimum}, at most {self.maximum}, with at most {self.places} decimal places"

    def check(self, value: Any, name: str) -> None:
        """Refuse ``value`` (a raw JSON value) unless it is a decimal of this kind.

        Values of other JSON types (null, lists, ...) are left to the schema, which
        refuses them where they are not allowed.
        """
        if isinstance(value, bool | float):
            raise InvalidValueError(f'{name} must be a decimal string such as "2.5"')
        if isinstance(value, int):  # a JSON integer is plain notation (compared exactly, never parsed)
            self._check_bounds(value, name)
        elif isinstance(value, str):
            if not self._regex.fullmatch(value):
                raise InvalidValueError(f"{name} must be a plain decimal ({self.bounds}; no exponent)")
            self._check_bounds(Decimal(value), name)

    def _check_bounds(self, amount: Decimal | int, name: str) -> None:
        too_low = amount <= self.minimum if self.minimum_excluded else amount < self.minimum
        if too_low or amount > self.maximum:
            raise InvalidValueError(f"{name} must be {self.bounds}")


def _decimal(rule: DecimalRule, description: str) -> msgspec.Meta:
    return msgspec.Meta(
        description=f"{description}: a decimal string, {rule.bounds}",
        # Litestar copies "extra" into the OpenAPI schema of the field.
        extra_json_schema={"extra": {"format": "decimal", "pattern": rule.pattern}},
        extra={RULE_KEY: rule},
    )


MAX_PRICE_PER_MILLION = Decimal(10**6)
MAX_CREDITS_PER_USD = Decimal(10**9)

# Credits carry the domain's precision and bounds (domain/money.py), checked here on the raw JSON.
SIGNED_CREDITS = DecimalRule(places=CREDIT_PLACES, minimum=-MAX_CREDITS, maximum=MAX_CREDITS)
CREDITS = DecimalRule(places=CREDIT_PLACES, minimum=Decimal(0), maximum=MAX_CREDITS)
PRICE_PER_MILLION = DecimalRule(places=9, minimum=Decimal(0), maximum=MAX_PRICE_PER_MILLION)
CREDITS_PER_USD = DecimalRule(places=6, minimum=Decimal(0), maximum=MAX_CREDITS_PER_USD, minimum_excluded=True)

SignedCredits = Annotated[Decimal, _decimal(SIGNED_CREDITS, "credits (negative: an adjustment)")]
Credits = Annotated[Decimal, _decimal(CREDITS, "credits")]
PricePerMillion = Annotated[Decimal, _decimal(PRICE_PER_MILLION, "USD per 1M tokens")]
CreditsPerUsd = Annotated[Decimal, _decimal(CREDITS_PER_USD, "credits per USD")]

PRICE_FACTOR = DecimalRule(places=6, minimum=Decimal(0), maximum=Decimal(10))
PriceFactor = Annotated[Decimal, _decimal(PRICE_FACTOR, "a factor of the customer price")]
