"""When a team's credits count as running low (the ``team.credits_low`` webhook event)."""

from decimal import Decimal, localcontext

from domain.ledger import CreditBalance
from domain.money import EXACT

CREDITS_LOW_RATIO = Decimal("0.1")


def low_credit_threshold(balance: CreditBalance, threshold: Decimal | None = None) -> Decimal:
    """The team's own threshold (credits), or 10 % of its (net) allocation when it has none."""
    if threshold is not None:
        return threshold
    with localcontext(EXACT):
        return balance.allocated * CREDITS_LOW_RATIO


def credits_low(balance: CreditBalance, threshold: Decimal | None = None) -> bool:
    """Available credits below the threshold; a team never funded is not "low"."""
    with localcontext(EXACT):
        return balance.allocated > 0 and balance.available < low_credit_threshold(balance, threshold)
