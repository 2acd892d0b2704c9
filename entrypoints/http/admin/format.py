"""How the panel shows numbers and times: the Jinja filters.

Money is shown rounded for reading and exact on hover (the ``title``): the rounding here
is display only, nothing computed from it is ever stored or charged. Times leave the
server in UTC inside ``<time datetime=…>``; ``panel.js`` rewrites them into the
operator's own time zone (the server does not know it).
"""

from datetime import datetime
from decimal import ROUND_HALF_EVEN, Context, Decimal, localcontext

from markupsafe import Markup, escape

from entrypoints.http.schemas.money import fixed_point

_DISPLAY = Context(prec=60, rounding=ROUND_HALF_EVEN)
SIGNIFICANT = 4  # digits shown of an amount below one unit ($0.004512, not $0.00)


def exact(value: Decimal) -> str:
    """The API's notation (``fixed_point``: '0.000000001', never '1E-9'), except that the
    panel shows a negative zero as '0'."""
    text = fixed_point(value)
    return "0" if text == "-0" else text


def readable(value: Decimal) -> str:
    """Two decimals from one unit up, else the first four significant digits (at most 9 decimals)."""
    with localcontext(_DISPLAY):
        magnitude = abs(value)
        if magnitude >= 1 or magnitude == 0:
            return f"{value.quantize(Decimal('0.01')):,}"
        # adjusted(): the exponent of the leading digit (-3 for 0.004512).
        places = min(9, -magnitude.adjusted() + SIGNIFICANT - 1)
        shown = value.quantize(Decimal(1).scaleb(-places))
        return exact(shown) if shown != 0 else ("<0.000000001" if value > 0 else "-<0.000000001")


Amount = Decimal | str | None  # str: a decimal string as the JSON API writes it


def _decimal(value: Decimal | str) -> Decimal:
    return value if isinstance(value, Decimal) else Decimal(value)


def usd(amount: Amount) -> Markup:
    if amount is None:
        return Markup('<span class="muted">–</span>')
    value = _decimal(amount)
    shown = readable(value)
    sign, digits = ("-", shown[1:]) if shown.startswith("-") else ("", shown)
    return Markup('<span class="money" title="{} USD">{}${}</span>').format(exact(value), sign, digits)


def credits(amount: Amount) -> Markup:
    if amount is None:
        return Markup('<span class="muted">–</span>')
    value = _decimal(amount)
    return Markup('<span class="money" title="{} credits">{}</span>').format(exact(value), readable(value))


def price(amount: Amount) -> Markup:
    """A price per 1M tokens, shown exactly (prices are few digits, and operators type them)."""
    if amount is None:
        return Markup('<span class="muted">–</span>')
    text = exact(_decimal(amount))
    sign, digits = ("-", text[1:]) if text.startswith("-") else ("", text)
    return Markup('<span class="money">{}${}</span>').format(sign, digits)


def percent(share: Amount) -> str:
    if share is None:
        return "–"
    with localcontext(_DISPLAY):
        return f"{(_decimal(share) * 100).quantize(Decimal('0.1'))} %"


def ratio(part: int | Decimal, whole: int | Decimal) -> Decimal | None:
    """part / whole for display (None when there is nothing to divide by)."""
    if not whole:
        return None
    with localcontext(_DISPLAY):
        return Decimal(part) / Decimal(whole)


def count(value: int | None) -> str:
    return "–" if value is None else f"{value:,}"


def when(value: datetime | None) -> Markup:
    """A ``<time>`` in UTC; the browser shows it in the operator's time zone."""
    if value is None:
        return Markup('<span class="muted">–</span>')
    iso = value.isoformat()
    return Markup('<time datetime="{}" title="{} UTC">{} UTC</time>').format(
        iso, value.strftime("%Y-%m-%d %H:%M:%S"), value.strftime("%Y-%m-%d %H:%M")
    )


def short_id(value: object) -> str:
    return str(value)[:8]


FILTERS = {
    "usd": usd,
    "credits": credits,
    "price": price,
    "percent": percent,
    "count": count,
    "when": when,
    "short_id": short_id,
    "exact": exact,
}

__all__ = ["FILTERS", "escape", "ratio"]
