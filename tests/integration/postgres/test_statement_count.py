"""What one call costs the database, counted on the wire (libpq's protocol trace).

With warm caches a call is two statements, each its own round trip: the reservation
(job check, hold, lease) and the record (settle, call row, job totals). A change that
adds a statement or a round trip to the hot path fails here.
"""

import tempfile
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from psycopg import pq

import adapters.postgres.pool as pool_module
from adapters.memory.providers import Reply
from application.services.calls import CallRequest
from domain.budgets import BudgetMode
from domain.llm import ChatMessage, Role
from domain.usage import TokenUsage
from tests.integration.postgres.conftest import D, OpenInstance, make_team, seed

HELLO = [ChatMessage(Role.USER, "Hello")]
MAX_STATEMENTS = 2
MAX_ROUND_TRIPS = 2


class Wire:
    """Every connection the pool opens writes its frontend/backend messages here."""

    def __init__(self) -> None:
        self._file = tempfile.TemporaryFile("w+")  # noqa: SIM115 - open for the fixture's life
        self._conns: list[Any] = []

    def attach(self, conn: Any) -> None:
        self._conns.append(conn)
        self._trace(conn)

    def _trace(self, conn: Any) -> None:
        conn.pgconn.trace(self._file.fileno())
        conn.pgconn.set_trace_flags(pq.Trace.SUPPRESS_TIMESTAMPS | pq.Trace.REGRESS_MODE)

    def _flush(self) -> None:
        # libpq buffers its trace: untracing flushes it, then tracing starts again.
        for conn in self._conns:
            if not conn.closed:
                conn.pgconn.untrace()
                self._trace(conn)

    def mark(self) -> int:
        self._flush()
        return self._file.seek(0, 2)

    def since(self, offset: int) -> list[tuple[str, str]]:
        self._flush()
        self._file.seek(offset)
        return [(parts[0], parts[2]) for line in self._file.read().splitlines() if len(parts := line.split()) >= 3]


def statements(messages: list[tuple[str, str]]) -> int:
    """Statements sent: one per extended-protocol Execute or simple Query."""
    return sum(1 for side, kind in messages if side == "F" and kind in ("Execute", "Query"))


def round_trips(messages: list[tuple[str, str]]) -> int:
    """Waits for the server: each ends with a ReadyForQuery."""
    return sum(1 for side, kind in messages if side == "B" and kind == "ReadyForQuery")


@pytest.fixture
def wire(monkeypatch: pytest.MonkeyPatch) -> Wire:
    traced = Wire()
    original: Callable[[Any], Awaitable[None]] = pool_module._configure

    async def configure(conn: Any) -> None:
        await original(conn)
        traced.attach(conn)

    monkeypatch.setattr(pool_module, "_configure", configure)
    return traced


@pytest.mark.parametrize("mode", [BudgetMode.CONSUMPTION_USD, BudgetMode.JOB_BASED])
async def test_a_call_with_warm_caches_is_two_statements_in_two_round_trips(
    wire: Wire, open_instance: OpenInstance, mode: BudgetMode
) -> None:
    async with open_instance() as it:
        organization = await seed(it.services)
        team, _ = await make_team(it.services, organization, mode, credits=D(100))
        key = await it.services.organizations.issue_key(team.id)
        job, _ = await it.services.jobs.create_job(
            await it.services.client_auth.authenticate(key.api_key), job_type="doc"
        )
        request = CallRequest(model="smart", messages=HELLO)
        it.provider.push(*(Reply(usage=TokenUsage(input=10, output=5)) for _ in range(3)))
        me = await it.services.client_auth.authenticate(key.api_key)
        await it.services.calls.call(me, job.id, request)  # warms the key, team, alias and credential caches

        start = wire.mark()
        me = await it.services.client_auth.authenticate(key.api_key)
        result = await it.services.calls.call(me, job.id, request)
        sent = wire.since(start)

    assert result.call.usage.total_tokens == 15
    assert statements(sent) <= MAX_STATEMENTS, sent
    assert round_trips(sent) <= MAX_ROUND_TRIPS, sent
