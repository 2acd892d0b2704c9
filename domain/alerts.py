"""When a team's credits count as running low (the ``team.credits_low`` webhook event)."""

from decimal import Decimal, localcontext

from domain.ledger import CreditBalance
from domain.money import EXACT

CREDITS_LOW_RATIO = Decimal("0.1")


def credits_low(balance: CreditBalance, ratio: Decimal = CREDITS_LOW_RATIO) -> bool:
    """Available credits below ``ratio`` of the (net) allocation; a team never funded is not "low"."""
    with localcontext(EXACT):
        return balance.allocated > 0 and balance.available < balance.allocated * ratio
