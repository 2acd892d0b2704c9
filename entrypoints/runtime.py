"""Opening and closing what the service runs on: persistence, provider clients, vault."""

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from functools import partial

from limits.aio.storage import MemoryStorage, RedisStorage

from adapters.cache.memory import MemoryResponseCache
from adapters.cache.redis import RedisResponseCache
from adapters.catalog.genai import GenaiPricesCatalog
from adapters.memory.call_ledger import MemoryCallLedger
from adapters.memory.reference import MemoryReferenceReader
from adapters.memory.store import MemoryStore
from adapters.memory.unit_of_work import MemoryUnitOfWork
from adapters.metrics import PrometheusMetrics
from adapters.network.resolver import SystemHostResolver
from adapters.postgres.call_ledger import PostgresCallLedger
from adapters.postgres.embedded import embedded_database
from adapters.postgres.limits_storage import PostgresLimitsStorage
from adapters.postgres.migrate import migrate
from adapters.postgres.pool import Pool, database_ok, open_pool
from adapters.postgres.reference import PostgresReferenceChanges, PostgresReferenceReader
from adapters.postgres.unit_of_work import postgres_unit_of_work
from adapters.providers.registry import open_provider_clients
from adapters.rate_limits.team_limiter import LimitsTeamRateLimiter
from adapters.security.argon2 import Argon2PasswordHasher
from adapters.security.jwt import JwtTokenCodec
from adapters.security.login_throttle import LimitsLoginThrottle
from adapters.system import RandomSecrets, SystemClock, Uuid7Ids
from adapters.vault.fernet import FernetVault
from adapters.webhooks import HttpWebhookSender
from application.ports.providers import ProviderClients
from application.ports.rate_limits import TeamRateLimiter
from application.ports.response_cache import ResponseCache
from application.ports.security import LoginThrottle
from application.ports.system import Clock
from entrypoints.bootstrap import Services, build_services
from entrypoints.settings import Settings

ADMIN_TOKEN_TTL_S = 900  # short-lived: 15 minutes
EMBEDDED_DIR = "pg"  # under settings.data_dir
DB_POOL_MAX_SIZE = 20


@dataclass(frozen=True, slots=True)
class Runtime:
    services: Services
    database_ok: Callable[[], Awaitable[bool]]
    description: str
    metrics: PrometheusMetrics
    clock: Clock  # the one the use cases were given: the panel takes "today" from it


@asynccontextmanager
async def open_memory_runtime(settings: Settings, providers: ProviderClients | None = None) -> AsyncIterator[Runtime]:
    """Everything in process memory: for tests and demos only (nothing is durable)."""
    store = MemoryStore()
    sender = HttpWebhookSender(timeout_s=settings.webhook_timeout_s, policy=settings.webhook_policy)
    metrics = PrometheusMetrics()
    clock = SystemClock()

    async def always_ok() -> bool:
        return True

    services = build_services(
        uow=lambda: MemoryUnitOfWork(store),
        ledger=MemoryCallLedger(store),
        reference=MemoryReferenceReader(store),
        providers=providers or {},
        vault=FernetVault(settings.fernet_keys),
        catalog=GenaiPricesCatalog(),
        clock=clock,
        ids=Uuid7Ids(),
        secrets=RandomSecrets(),
        hasher=Argon2PasswordHasher(),
        tokens=JwtTokenCodec(settings.jwt_secret, ttl_s=ADMIN_TOKEN_TTL_S),
        token_ttl_s=ADMIN_TOKEN_TTL_S,
        login_throttle=LimitsLoginThrottle(MemoryStorage()),
        webhook_sender=sender,
        metrics=metrics,
        job_ttl_s=settings.job_ttl_s,
        webhook_retry_base_s=settings.webhook_retry_base_s,
        call_lease_s=settings.call_lease_s,
        completion_wait_s=settings.completion_wait_s,
        api_base_policy=settings.api_base_policy,
        webhook_policy=settings.webhook_policy,
        resolver=SystemHostResolver(),
        rate_limiter=team_rate_limiter(settings),
        response_cache=MemoryResponseCache(clock),
        breaker_failures=settings.breaker_failures,
        breaker_cool_down_s=settings.breaker_cool_down_s,
    )
    try:
        yield Runtime(services=services, database_ok=always_ok, description="memory", metrics=metrics, clock=clock)
    finally:
        await sender.aclose()


@asynccontextmanager
async def database_url(settings: Settings) -> AsyncIterator[str]:
    """``DATABASE_URL``, or the embedded server under ``.data/pg`` (stopped on exit)."""
    if settings.database_url is not None:
        yield settings.database_url
        return
    async with embedded_database(settings.data_dir / EMBEDDED_DIR) as url:
        yield url


async def migrate_database(settings: Settings) -> list[str]:
    """Apply pending migrations (under the advisory lock); returns the versions applied."""
    async with database_url(settings) as url:
        return await migrate(url)


@asynccontextmanager
async def open_postgres_runtime(settings: Settings, providers: ProviderClients | None = None) -> AsyncIterator[Runtime]:
    """The real service: Postgres (embedded unless ``DATABASE_URL`` is set), migrated on
    start, and the provider clients (the real ones unless ``providers`` is given)."""
    async with AsyncExitStack() as stack:
        url = await stack.enter_async_context(database_url(settings))
        await migrate(url)
        pool = await stack.enter_async_context(open_pool(url, max_size=DB_POOL_MAX_SIZE, name="saasllm"))
        if providers is None:
            providers = await stack.enter_async_context(
                open_provider_clients(
                    timeout_s=settings.provider_timeout_s,
                    max_retries=settings.provider_max_retries,
                    max_connections=settings.provider_max_connections,
                    address_policy=settings.api_base_policy,
                )
            )
        sender = HttpWebhookSender(timeout_s=settings.webhook_timeout_s, policy=settings.webhook_policy)
        stack.push_async_callback(sender.aclose)
        metrics = PrometheusMetrics()
        clock = SystemClock()
        metrics.watch_pool(pool.get_stats, lambda: pool.database_down)
        changes = await stack.enter_async_context(PostgresReferenceChanges(url))
        cache = response_cache(settings)
        if isinstance(cache, RedisResponseCache):
            stack.push_async_callback(cache.aclose)
        services = build_services(
            uow=postgres_unit_of_work(pool),
            reference=PostgresReferenceReader(pool),
            reference_changes=changes,
            ledger=PostgresCallLedger(pool, group_commit=settings.group_commit),
            providers=providers,
            vault=FernetVault(settings.fernet_keys),
            catalog=GenaiPricesCatalog(),
            clock=clock,
            ids=Uuid7Ids(),
            secrets=RandomSecrets(),
            hasher=Argon2PasswordHasher(),
            tokens=JwtTokenCodec(settings.jwt_secret, ttl_s=ADMIN_TOKEN_TTL_S),
            token_ttl_s=ADMIN_TOKEN_TTL_S,
            login_throttle=login_throttle(settings, pool),
            webhook_sender=sender,
            metrics=metrics,
            job_ttl_s=settings.job_ttl_s,
            webhook_retry_base_s=settings.webhook_retry_base_s,
            call_lease_s=settings.call_lease_s,
            completion_wait_s=settings.completion_wait_s,
            api_base_policy=settings.api_base_policy,
            webhook_policy=settings.webhook_policy,
            resolver=SystemHostResolver(),
            rate_limiter=team_rate_limiter(settings),
            response_cache=cache,
            breaker_failures=settings.breaker_failures,
            breaker_cool_down_s=settings.breaker_cool_down_s,
        )
        where = "postgres" if settings.database_url is not None else "embedded postgres"
        yield Runtime(
            services=services, database_ok=partial(database_ok, pool), description=where, metrics=metrics, clock=clock
        )


def login_throttle(settings: Settings, pool: Pool) -> LoginThrottle:
    """Shared by every instance: in Redis when ``REDIS_URL`` is set, else in Postgres."""
    if settings.redis_url is not None:
        return LimitsLoginThrottle(
            RedisStorage(limits_redis_uri(settings.redis_url), implementation="redispy", wrap_exceptions=True)
        )
    return LimitsLoginThrottle(PostgresLimitsStorage(pool))


def team_rate_limiter(settings: Settings) -> TeamRateLimiter:
    """Per-team rate limits: shared by every instance in Redis when ``REDIS_URL`` is set,
    else counted in this process (each instance then limits on its own)."""
    if settings.redis_url is not None:
        return LimitsTeamRateLimiter(
            RedisStorage(limits_redis_uri(settings.redis_url), implementation="redispy", wrap_exceptions=True)
        )
    return LimitsTeamRateLimiter(MemoryStorage())


def response_cache(settings: Settings) -> ResponseCache:
    """Aliases with a ``cache_ttl_s`` keep answers here: in Redis, shared by every instance,
    when ``REDIS_URL`` is set, else in this process's memory."""
    if settings.redis_url is not None:
        return RedisResponseCache.from_url(settings.redis_url)
    return MemoryResponseCache(SystemClock())


def limits_redis_uri(redis_url: str) -> str:
    """``REDIS_URL`` (``redis://``, ``rediss://``, ``unix://``) as the ``limits`` async URI."""
    if redis_url.startswith("async+"):
        return redis_url
    if redis_url.startswith("unix://"):
        return "async+redis+unix://" + redis_url.removeprefix("unix://")
    return "async+" + redis_url


open_runtime = open_postgres_runtime
