"""Partial-update bodies into the use cases' change sets, written once.

An update body and its use case's changes name the same fields; ``UNSET`` (not given)
and ``None`` (cleared) pass through as they are, a given value through its conversion
(a name into its enum, a JSON list into a tuple).
"""

from collections.abc import Callable
from typing import Any, TypeVar

import msgspec

C = TypeVar("C", bound=msgspec.Struct)


def changes_of(body: msgspec.Struct, into: type[C], **convert: Callable[[Any], Any]) -> C:
    """``into`` with every field of ``body``, converted by ``convert[name]`` where given."""
    fields: dict[str, Any] = {}
    for name in body.__struct_fields__:
        value = getattr(body, name)
        if name in convert and value is not None and not isinstance(value, msgspec.UnsetType):
            value = convert[name](value)
        fields[name] = value
    return into(**fields)
