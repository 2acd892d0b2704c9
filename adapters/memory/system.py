"""A controllable clock and predictable ids for tests."""

from datetime import UTC, datetime, timedelta
from uuid import UUID


class FakeClock:
    def __init__(self, start: datetime | None = None) -> None:
        self.current = start or datetime(2026, 1, 15, 12, 0, tzinfo=UTC)
        self.ticks = 0.0

    def now(self) -> datetime:
        return self.current

    def monotonic(self) -> float:
        return self.ticks

    def advance(self, seconds: float) -> None:
        self.current += timedelta(seconds=seconds)
        self.ticks += seconds


class SequentialIds:
    def __init__(self) -> None:
        self._n = 0

    def new_id(self) -> UUID:
        self._n += 1
        return UUID(int=(0x7 << 76) | self._n)


class CountingSecrets:
    def __init__(self) -> None:
        self._n = 0

    def new_api_key(self) -> str:
        self._n += 1
        return f"sk-job-test{self._n:040d}"
