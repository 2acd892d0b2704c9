"""Response bodies read from the read model's objects, written once.

Most fields of a response body carry an attribute of the same name of what it shows
(``created_at=job.created_at``); ``from_attributes`` copies those, and the mapping names
only the fields it converts or renames.
"""

from typing import Any, TypeVar

import msgspec

S = TypeVar("S", bound=msgspec.Struct)


def from_attributes(into: type[S], source: object, /, **given: Any) -> S:
    """``into`` with the fields in ``given``, every other one read from ``source``'s attribute of that name."""
    copied = {name: getattr(source, name) for name in into.__struct_fields__ if name not in given}
    return into(**copied, **given)
