"""Decimals in response bodies: one notation, one encoder registered on the app.

Money, credits and prices leave as JSON strings in plain fixed-point notation without
trailing zeros (``"0.0645"``, ``"0.000000001"``; never ``"1E-9"`` nor ``"0.064500"``), so
no client parses a float. The notation is ``fixed_point``; the app registers it for
``Decimal`` in Litestar's ``type_encoders`` (``TYPE_ENCODERS``).

msgspec writes a plain ``Decimal`` itself (as ``str(value)``), so an encoder hook never
sees one: a response struct's decimal fields (typed ``Money``) are therefore kept as
``FixedPoint``, a ``Decimal`` msgspec hands to the hook, by ``Body.__post_init__``.
Mapping functions pass the read model's decimals as they are. Text built by hand (the
CSV export, server-sent events) uses ``fixed_point`` directly.
"""

from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Annotated, Any

import msgspec


def fixed_point(value: Decimal) -> str:
    """A decimal as a fixed-point string: '0.000000001', never '1E-9'; no trailing zeros."""
    text = format(value, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text or "0"


class FixedPoint(Decimal):
    """A decimal on its way out: encoded by ``fixed_point`` (see the module docstring), and
    shown the same where a template prints it."""

    __slots__ = ()

    def __str__(self) -> str:
        return fixed_point(self)


# Decimal as the key: Litestar looks a value's classes up in order, so every Decimal that
# reaches the hook leaves in this notation (Litestar's own default would make it a float).
TYPE_ENCODERS: Mapping[Any, Callable[[Any], Any]] = {Decimal: fixed_point}

# A decimal field of a response: documented (OpenAPI) as the string it is sent as.
Money = Annotated[Decimal, msgspec.Meta(extra_json_schema={"type": "string", "format": "decimal"})]


class Body(msgspec.Struct, frozen=True):
    """Base of response structs with ``Money`` fields."""

    def __post_init__(self) -> None:
        for name in self.__struct_fields__:
            value = getattr(self, name)
            if type(value) is Decimal:
                msgspec.structs.force_setattr(self, name, FixedPoint(value))
