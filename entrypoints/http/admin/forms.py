"""Reading HTML forms: typed values out, and an error message next to the field it concerns.

Only the *shape* of a value is checked here (a number where a number goes, a required
field present); every business rule is the use case's, whose error is then shown next to
the field it names (``name must be …`` → the ``name`` field), or above the form.
"""

import re
from collections.abc import Awaitable, Callable, Mapping
from decimal import Decimal, InvalidOperation
from typing import TypeVar
from uuid import UUID

from litestar.datastructures import FormMultiDict

from domain.errors import DomainError

T = TypeVar("T")

CALLER_REFUSALS = frozenset({"forbidden", "not_found", "unauthorized"})
_FIRST_WORDS = re.compile(r"^(?:the\s+)?([a-z_]+(?:\s[a-z_]+)?)")


class Form:
    """One submitted form: the raw values (to show them again) and the errors found."""

    def __init__(self, data: FormMultiDict | None = None, *, secret_fields: frozenset[str] = frozenset()) -> None:
        self._data = data or FormMultiDict()
        self.errors: dict[str, str] = {}
        self.problem: str | None = None  # an error that concerns no single field
        # Never shown again (keys, passwords): the browser gets back only what it may see.
        self._secret = secret_fields | {"_csrf_token"}

    @property
    def ok(self) -> bool:
        return not self.errors and self.problem is None

    def value(self, name: str, default: str = "") -> str:
        if name in self._secret:
            return ""
        raw = self._data.get(name)
        return raw.strip() if isinstance(raw, str) else default

    def has(self, name: str) -> bool:
        """Whether the form sent the field at all (an empty value included)."""
        return name in self._data

    def values(self, name: str) -> list[str]:
        return [v.strip() for v in self._data.getall(name, []) if isinstance(v, str) and v.strip()]

    def error(self, name: str) -> str | None:
        return self.errors.get(name)

    def add_error(self, name: str, message: str) -> None:
        self.errors.setdefault(name, message)

    # ---- typed reads -------------------------------------------------------------------

    def _raw(self, name: str) -> str:
        raw = self._data.get(name)
        return raw.strip() if isinstance(raw, str) else ""

    def text(self, name: str, *, required: bool = True, max_length: int = 200, keep_spaces: bool = False) -> str | None:
        raw = self._data.get(name)
        value = raw if isinstance(raw, str) else ""
        if not keep_spaces:
            value = value.strip()
        if not value:
            if required:
                self.add_error(name, "required")
            return None
        if len(value) > max_length:
            self.add_error(name, f"at most {max_length} characters")
            return None
        return value

    def decimal(self, name: str, *, required: bool = False) -> Decimal | None:
        raw = self._raw(name).replace(",", "").replace("_", "")
        if not raw:
            if required:
                self.add_error(name, "required")
            return None
        try:
            value = Decimal(raw)
        except InvalidOperation:
            self.add_error(name, "must be a decimal number, e.g. 2.50")
            return None
        if not value.is_finite():
            self.add_error(name, "must be a finite number")
            return None
        return value

    def integer(self, name: str, *, required: bool = False, minimum: int = 0, maximum: int = 2**31 - 1) -> int | None:
        raw = self._raw(name).replace(",", "").replace("_", "")
        if not raw:
            if required:
                self.add_error(name, "required")
            return None
        if not re.fullmatch(r"-?[0-9]{1,12}", raw):
            self.add_error(name, "must be a whole number")
            return None
        value = int(raw)
        if not minimum <= value <= maximum:
            self.add_error(name, f"must be between {minimum:,} and {maximum:,}")
            return None
        return value

    def choice(self, name: str, choices: tuple[str, ...] | list[str], *, required: bool = True) -> str | None:
        raw = self._raw(name)
        if not raw:
            if required:
                self.add_error(name, "choose one")
            return None
        if raw not in choices:
            self.add_error(name, "not one of the choices")
            return None
        return raw

    def flag(self, name: str) -> bool:
        return self._raw(name) in {"on", "true", "1", "yes"}

    def uuid(self, name: str, *, required: bool = True) -> UUID | None:
        raw = self._raw(name)
        if not raw:
            if required:
                self.add_error(name, "choose one")
            return None
        try:
            return UUID(raw)
        except ValueError:
            self.add_error(name, "not a valid id")
            return None

    # ---- errors from the use cases -------------------------------------------------------

    async def attempt(
        self,
        action: Awaitable[T],
        fields: Mapping[str, str] | None = None,
        *,
        refuse: Callable[[DomainError], None] | None = None,
    ) -> T | None:
        """The use case's result; on its refusal None, with the refusal on the form.

        ``refuse`` places a refusal where ``refused`` (given ``fields``) would not; either
        way the form is no longer ``ok``, so a handler re-renders it after a refusal.
        """
        try:
            return await action
        except DomainError as exc:
            if refuse is not None:
                refuse(exc)
            else:
                self.refused(exc, fields)
            return None

    def refused(self, exc: DomainError, fields: Mapping[str, str] | None = None) -> None:
        """Show a use case's refusal next to the field it names, else above the form.

        ``fields`` maps the words a message starts with to a field ("access group" →
        "access_groups"); a field's own name is recognised without being listed. A refusal
        of the caller rather than of the input (403, 404) is raised again: it becomes the
        error page with its status, never a form to correct.
        """
        if exc.code in CALLER_REFUSALS:
            raise exc
        detail = exc.detail
        words = _FIRST_WORDS.match(detail.lower())
        known = dict(fields or {})
        if words is not None:
            first_two = words.group(1)
            first = first_two.split(" ")[0]
            for candidate in (first_two, first):
                target = known.get(candidate) or (candidate if candidate in self._fields() else None)
                if target is not None:
                    self.add_error(target, detail)
                    return
        self.problem = detail

    def _fields(self) -> set[str]:
        return set(self._data.keys()) | set(self.errors)


def prefilled(values: Mapping[str, str | list[str]]) -> Form:
    """A form showing current values (an edit page before anything is submitted)."""
    pairs: list[tuple[str, str]] = []
    for key, value in values.items():
        pairs.extend((key, v) for v in (value if isinstance(value, list) else [value]))
    return Form(FormMultiDict(pairs))
