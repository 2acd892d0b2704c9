"""Rows to domain structs: each field read from the column of the same name."""

from collections.abc import Mapping
from typing import Any, TypeVar

import msgspec

_S = TypeVar("_S", bound=msgspec.Struct)


def from_row(cls: type[_S], row: Mapping[str, Any], **converted: Any) -> _S:
    """A ``cls`` whose fields are ``row[name]``, but for those in ``converted`` (a value that needs
    a type, or is built from other columns). A field without its column raises ``KeyError``."""
    plain = {name: row[name] for name in cls.__struct_fields__ if name not in converted}
    return cls(**plain, **converted)


def page_after_id(columns: str, table: str) -> str:
    """A statement for the page of ``table`` in id order after ``%(after)s`` (from the first row when
    it is NULL), at most ``%(limit)s`` rows: what the operator sweeps (``list_all``) read."""
    return f"""
        SELECT {columns} FROM {table}
        WHERE %(after)s::uuid IS NULL OR id > %(after)s::uuid
        ORDER BY id
        LIMIT %(limit)s
        """
