"""Versioned SQL migrations, applied in order under an advisory lock.

A small runner rather than a library: see docs/adr/0003-migrations.md. Each file
``migrations/NNNN_name.sql`` runs once, in its own transaction, and is recorded in
``schema_migrations`` with a checksum. The session-level advisory lock makes concurrent
runs (two instances starting at once) queue up; the second one then finds nothing to
do. A crashed runner's lock dies with its connection.
"""

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

import psycopg

from adapters.postgres.errors import translated

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
# pg_advisory_lock key: any constant shared by every instance of this service.
LOCK_KEY = 7_305_186_270_112_514_113
_FILE = re.compile(r"^(?P<version>\d{4})_(?P<name>[a-z0-9_]+)\.sql$")

_VERSIONS_TABLE = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version     text PRIMARY KEY,
    name        text NOT NULL,
    checksum    text NOT NULL,
    applied_at  timestamptz NOT NULL DEFAULT now()
)
"""


class MigrationError(Exception):
    """The migrations on disk and the ones recorded in the database disagree."""


@dataclass(frozen=True, slots=True)
class Migration:
    version: str
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode("utf-8")).hexdigest()


def load_migrations(directory: Path = MIGRATIONS_DIR) -> list[Migration]:
    """The migrations of ``directory``, in version order."""
    found: dict[str, Migration] = {}
    for path in sorted(directory.glob("*.sql")):
        match = _FILE.match(path.name)
        if match is None:
            raise MigrationError(f"{path.name}: migration files are named NNNN_name.sql")
        version = match["version"]
        if version in found:
            raise MigrationError(f"two migrations share version {version}")
        found[version] = Migration(version=version, name=match["name"], sql=path.read_text(encoding="utf-8"))
    return [found[v] for v in sorted(found)]


async def migrate(conninfo: str, migrations: list[Migration] | None = None) -> list[str]:
    """Apply the pending migrations; returns the versions applied (empty: already up to date).

    Raises ``UnavailableError`` when the database cannot be reached and
    ``MigrationError`` when an applied migration was edited afterwards.
    """
    pending = load_migrations() if migrations is None else migrations
    with translated():
        async with await psycopg.AsyncConnection.connect(conninfo, autocommit=True) as conn:
            await conn.execute("SELECT pg_advisory_lock(%s)", (LOCK_KEY,))
            try:
                return await _apply(conn, pending)
            finally:
                await conn.execute("SELECT pg_advisory_unlock(%s)", (LOCK_KEY,))


async def _apply(conn: psycopg.AsyncConnection[tuple[object, ...]], migrations: list[Migration]) -> list[str]:
    await conn.execute(_VERSIONS_TABLE)
    cursor = await conn.execute("SELECT version, checksum FROM schema_migrations")
    applied = {str(version): str(checksum) for version, checksum in await cursor.fetchall()}
    done: list[str] = []
    for migration in migrations:
        recorded = applied.get(migration.version)
        if recorded is not None:
            if recorded != migration.checksum:
                raise MigrationError(f"migration {migration.version} changed after it was applied")
            continue
        async with conn.transaction():
            await conn.execute(migration.sql)
            await conn.execute(
                "INSERT INTO schema_migrations (version, name, checksum) VALUES (%s, %s, %s)",
                (migration.version, migration.name, migration.checksum),
            )
        done.append(migration.version)
    return done
