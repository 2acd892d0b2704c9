"""Calendar days in query parameters (``from``/``to``): the accepted range and the windows.

Days run from ``FIRST_DAY`` to ``LAST_DAY``; a day outside answers 422 before any use
case runs. The bounds leave room for the arithmetic done with a day (the day after
``to``, a default ``from`` 29 days back), which would overflow ``datetime`` at year 1 or
year 9999; 1970-01-01, the usual "since the beginning" sentinel, is accepted.
"""

from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta

from application.services.usage import UsageService
from domain.errors import InvalidValueError

FIRST_DAY = date(1970, 1, 1)
LAST_DAY = date(9998, 12, 31)


def checked_day(day: date | None, name: str) -> date | None:
    if day is not None and not FIRST_DAY <= day <= LAST_DAY:
        raise InvalidValueError(f"'{name}' must be a day from {FIRST_DAY} to {LAST_DAY}")
    return day


def created_window(from_: date | None, to: date | None) -> tuple[datetime | None, datetime | None]:
    """``[from 00:00 UTC, the day after to 00:00 UTC)``; an open end is None."""
    first, last = checked_day(from_, "from"), checked_day(to, "to")
    return _day_start(first), _day_start(last + timedelta(days=1) if last else None)


def requested_days(
    usage: UsageService, from_: date | None, to: date | None, *, default_first: Callable[[date], date]
) -> tuple[date, date]:
    """The report window of ``from``/``to``: each checked (422), the defaults (today, by the
    use cases' clock) resolved by the use case."""
    return usage.report_window(checked_day(from_, "from"), checked_day(to, "to"), default_first=default_first)


def month_start(day: date) -> date:
    return day.replace(day=1)


def thirty_days_ending(day: date) -> date:
    return max(day - timedelta(days=29), FIRST_DAY)


def _day_start(day: date | None) -> datetime | None:
    return datetime.combine(day, time.min, tzinfo=UTC) if day else None
