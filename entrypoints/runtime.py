"""Opening and closing what the service runs on: persistence, provider clients, vault."""

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass

from adapters.catalog.genai import GenaiPricesCatalog
from adapters.memory.store import MemoryStore, MemoryUnitOfWork
from adapters.system import RandomSecrets, SystemClock, Uuid7Ids
from adapters.vault.fernet import FernetVault
from application.ports.providers import ProviderClients
from entrypoints.bootstrap import Services, build_services
from entrypoints.settings import Settings


@dataclass(frozen=True, slots=True)
class Runtime:
    services: Services
    database_ok: Callable[[], Awaitable[bool]]
    description: str


@asynccontextmanager
async def open_memory_runtime(settings: Settings, providers: ProviderClients | None = None) -> AsyncIterator[Runtime]:
    """Everything in process memory: for tests and demos only (nothing is durable)."""
    store = MemoryStore()

    async def always_ok() -> bool:
        return True

    services = build_services(
        uow=lambda: MemoryUnitOfWork(store),
        providers=providers or {},
        vault=FernetVault(settings.fernet_keys),
        catalog=GenaiPricesCatalog(),
        clock=SystemClock(),
        ids=Uuid7Ids(),
        secrets=RandomSecrets(),
        job_ttl_s=settings.job_ttl_s,
    )
    yield Runtime(services=services, database_ok=always_ok, description="memory")


open_runtime = open_memory_runtime  # replaced by the Postgres runtime once it lands
