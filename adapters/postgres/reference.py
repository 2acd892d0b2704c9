"""Reference data on Postgres: lookups outside any transaction, and the change feed.

Each lookup is one statement on a pooled connection in autocommit mode (no BEGIN, no
ROLLBACK: one round trip). The change feed is one dedicated connection that LISTENs on
``saasllm_reference``, where the triggers of migration 0008 announce every change to
the tables the lookups read, whoever made it. The connection is watched: when it breaks
the feed says it is not connected (caches then keep entries a second at most), and it
reconnects with a growing pause, reporting every kind as changed once it is back.
"""

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import Self, TypeVar

import psycopg

from adapters.postgres.errors import translated
from adapters.postgres.pool import Pool, autocommit_connection
from adapters.postgres.repositories.credentials import PostgresCredentialRepository
from adapters.postgres.repositories.models import PostgresAliasRepository
from adapters.postgres.repositories.organizations import PostgresApiKeyRepository, PostgresTeamRepository
from adapters.postgres.session import Session
from application.ports.reference import ChangeListener, ReferenceKind
from application.ports.repositories import ApiKey, StoredCredential
from domain.access import ModelAlias
from domain.catalog import ProviderName
from domain.ids import OrganizationId, TeamId
from domain.organizations import Team

CHANNEL = "saasllm_reference"
log = logging.getLogger(__name__)
T = TypeVar("T")

ALL_KINDS = frozenset(ReferenceKind)
# What each announced table's change invalidates.
KINDS_BY_TABLE: dict[str, frozenset[ReferenceKind]] = {
    "team_api_keys": frozenset({ReferenceKind.KEYS}),
    "teams": frozenset({ReferenceKind.TEAMS}),
    "team_access_groups": frozenset({ReferenceKind.TEAMS}),
    "model_aliases": frozenset({ReferenceKind.ALIASES}),
    "alias_targets": frozenset({ReferenceKind.ALIASES}),
    "model_access_group_members": frozenset({ReferenceKind.ALIASES}),
    "model_access_groups": frozenset({ReferenceKind.TEAMS, ReferenceKind.ALIASES}),
    "provider_credentials": frozenset({ReferenceKind.CREDENTIALS}),
    "organizations": ALL_KINDS,
}


class PostgresReferenceReader:
    def __init__(self, pool: Pool) -> None:
        self._pool = pool

    async def _read(self, query: Callable[[Session], Awaitable[T]]) -> T:
        with translated():
            async with autocommit_connection(self._pool) as conn:  # one SELECT needs no transaction
                session = Session()
                session.attach(conn)
                return await query(session)

    async def active_key(self, digest: str) -> ApiKey | None:
        return await self._read(lambda s: PostgresApiKeyRepository(s).find_active(digest))

    async def team(self, team_id: TeamId) -> Team | None:
        return await self._read(lambda s: PostgresTeamRepository(s).get(team_id))

    async def alias(self, name: str) -> ModelAlias | None:
        return await self._read(lambda s: PostgresAliasRepository(s).get(name))

    async def active_credential(
        self, organization_id: OrganizationId, provider: ProviderName
    ) -> StoredCredential | None:
        return await self._read(lambda s: PostgresCredentialRepository(s).active_for(organization_id, provider))


class PostgresReferenceChanges:
    """The change feed: ``async with`` starts listening (in the background), exit stops."""

    def __init__(
        self,
        conninfo: str,
        *,
        retry_s: float = 0.2,
        max_retry_s: float = 5.0,
        check_every_s: float = 5.0,
    ) -> None:
        self._conninfo = conninfo
        self._retry_s = retry_s
        self._max_retry_s = max_retry_s
        self._check_every_s = check_every_s
        self._listeners: list[ChangeListener] = []
        self._connected = False
        self._task: asyncio.Task[None] | None = None
        self._ready = asyncio.Event()

    @property
    def connected(self) -> bool:
        return self._connected

    def listen(self, on_change: ChangeListener) -> None:
        self._listeners.append(on_change)

    async def __aenter__(self) -> Self:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="reference-changes")
        # Start listening before serving, when the database lets us (else caches stay short-lived).
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._ready.wait(), timeout=5.0)
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self._connected = False

    def _announce(self, kinds: frozenset[ReferenceKind]) -> None:
        for on_change in self._listeners:
            on_change(kinds)

    async def _run(self) -> None:
        pause = self._retry_s
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(
                    self._conninfo, autocommit=True, connect_timeout=5
                ) as conn:
                    await conn.execute(f"LISTEN {CHANNEL}")
                    # Whatever changed while we were not listening is unknown: forget it all.
                    self._connected = True
                    self._announce(ALL_KINDS)
                    self._ready.set()
                    pause = self._retry_s
                    await self._relay(conn)
            except (psycopg.Error, OSError) as exc:
                if self._connected:
                    log.warning("reference_feed_lost", extra={"error": type(exc).__name__})
            finally:
                if self._connected:
                    self._connected = False
                    self._announce(ALL_KINDS)
            await asyncio.sleep(pause)
            pause = min(self._max_retry_s, pause * 2)

    async def _relay(self, conn: psycopg.AsyncConnection[tuple[object, ...]]) -> None:
        while True:
            async for notice in conn.notifies(timeout=self._check_every_s):
                kinds = KINDS_BY_TABLE.get(notice.payload, ALL_KINDS)
                self._announce(kinds)
            # Quiet for a while: make sure the connection is still alive.
            await asyncio.wait_for(conn.execute("SELECT 1"), timeout=self._check_every_s)
