"""Settings from the environment (API.md, "Running and configuration").

Outside ``APP_ENV=production`` missing secrets are generated once and kept under
``.data/`` (the log says so); in production the service refuses to start without them.
"""

import contextlib
import os
import secrets
from collections.abc import Mapping
from pathlib import Path

import msgspec
from cryptography.fernet import Fernet

from domain.outbound import AddressPolicy
from entrypoints.http.client_address import Network, parse_networks

DEFAULT_DATA_DIR = Path(".data")
# The file under the data directory that keeps each secret generated outside production.
SECRET_FILES = {"JWT_SECRET": "jwt_secret", "FERNET_KEYS": "fernet_key"}


class SettingsError(Exception):
    """The configuration is unusable; the message names the variable, never its value."""


class Settings(msgspec.Struct, frozen=True, kw_only=True):
    database_url: str | None
    host: str = "127.0.0.1"
    port: int = 8000
    jwt_secret: str = msgspec.field(default="")
    fernet_keys: tuple[str, ...] = ()
    redis_url: str | None = None
    log_level: str = "INFO"
    app_env: str = "development"
    provider_timeout_s: float = 60.0
    provider_max_retries: int = 2
    # Open connections per provider per process: a streamed answer holds one for its whole length.
    provider_max_connections: int = 1000
    job_ttl_s: int = 86_400
    completion_wait_s: float = 10.0  # how long a completion waits for calls in flight (then 409)
    group_commit: bool = True  # GROUP_COMMIT=0: every call's statements commit alone (for comparison)
    workers: int = 1  # WORKERS: server processes on this machine (each a full instance)
    # KEEP_ALIVE_S: how long an idle client connection stays open. It must outlast the idle
    # timeout of whatever reuses our connections (load balancers: 60 s on AWS ALB/GCP;
    # httpx: 5 s), so the client always closes first: a server that closes at the moment
    # the client sends its next request on the connection leaves that request with a reset
    # and no HTTP status (uvicorn's default was 5 s, exactly httpx's keepalive_expiry).
    keep_alive_s: float = 75.0
    backlog: int = 4096  # BACKLOG: accept queue (the kernel caps it at net.core.somaxconn)
    shutdown_timeout_s: float | None = None  # SHUTDOWN_TIMEOUT_S: drain limit on SIGTERM (None: wait for streams)
    call_lease_override_s: float | None = None  # CALL_LEASE_S; derived from the provider settings when unset
    sweep_interval_s: float = 60.0
    webhook_poll_interval_s: float = 1.0  # how often an idle delivery worker looks at the outbox
    webhook_timeout_s: float = 5.0  # per delivery attempt
    webhook_retry_base_s: float = 5.0  # first retry delay, doubling per attempt
    max_body_bytes: int = 1_048_576
    breaker_failures: int = 3  # BREAKER_FAILURES: consecutive target failures that open its circuit
    breaker_cool_down_s: float = 30.0  # BREAKER_COOL_DOWN_S: how long an open circuit skips its target
    # In production outbound URLs must be https and reach public addresses only; these let an
    # operator allow private ones (cloud-metadata addresses stay refused), separately for
    # provider api_base URLs and webhook URLs (docs/security.md, "Outbound calls").
    allow_private_api_base: bool = False
    allow_private_webhooks: bool = False
    # ENABLE_DEMO_PROVIDER=1: offer the ``fake`` demo provider in production too (it always is elsewhere).
    enable_demo_provider: bool = False
    metrics_token: str | None = None  # when set, GET /metrics needs it as a bearer token
    trusted_proxies: tuple[Network, ...] = ()  # whose X-Forwarded-For is believed (entrypoints/http/client_address.py)
    data_dir: Path = DEFAULT_DATA_DIR
    # Names (never values) of the secrets read from ``data_dir`` (generated there on the first
    # start, reused by every later one) because the environment does not set them.
    generated_secrets: tuple[str, ...] = ()

    def __repr__(self) -> str:
        return f"Settings(app_env={self.app_env!r}, host={self.host!r}, port={self.port})"

    @property
    def is_production(self) -> bool:
        return self.app_env == "production"

    def secret_path(self, name: str) -> Path:
        """Where a generated secret (``JWT_SECRET``, ``FERNET_KEYS``) is kept."""
        return self.data_dir / SECRET_FILES[name]

    @property
    def demo_provider(self) -> bool:
        """Whether the ``fake`` provider is offered: outside production, or when enabled."""
        return not self.is_production or self.enable_demo_provider

    @property
    def call_lease_s(self) -> float:
        """How long a call's hold stays untouchable without a renewal.

        Longer than any attempt sequence can last: every attempt may wait the provider
        timeout for its first byte, every retry the longest Retry-After we honour (20 s),
        plus a minute of margin. Streams renew their lease every third of it, and their
        chunks never arrive more than the timeout apart.
        """
        if self.call_lease_override_s:
            return self.call_lease_override_s
        retries = self.provider_max_retries
        return (retries + 1) * self.provider_timeout_s + retries * 20.0 + 60.0

    @property
    def api_base_policy(self) -> AddressPolicy:
        """Where provider calls may go (a credential's ``api_base``)."""
        return AddressPolicy.for_environment(production=self.is_production, allow_private=self.allow_private_api_base)

    @property
    def webhook_policy(self) -> AddressPolicy:
        """Where webhook deliveries may go."""
        return AddressPolicy.for_environment(production=self.is_production, allow_private=self.allow_private_webhooks)


def _number(env: Mapping[str, str], name: str, default: float, cast: type[int] | type[float]) -> float | int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = cast(raw)
    except ValueError:
        raise SettingsError(f"{name} must be a number") from None
    if value < 0:
        raise SettingsError(f"{name} must not be negative")
    return value


def _flag(env: Mapping[str, str], name: str) -> bool:
    raw = env.get(name, "").strip().lower()
    if raw in ("", "0", "false", "no", "off"):
        return False
    if raw in ("1", "true", "yes", "on"):
        return True
    raise SettingsError(f"{name} must be 1 or 0")


def _secret_file(data_dir: Path, name: str, make: str) -> str:
    """The secret kept in ``data_dir/name``; ``make`` is written there first if it is absent.

    The file is never readable by anyone else, not even for an instant, and never seen
    half-written: the value goes into a fresh private file (``O_CREAT | O_EXCL``, mode 0600
    from its creation), is fsynced, and is then hard-linked into place. ``link`` refuses
    an existing name, so when two processes race the loser reads the winner's complete
    file and returns that.
    """
    path = data_dir / name
    with contextlib.suppress(FileNotFoundError):
        return _read_secret(path)
    data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    scratch = data_dir / f".{name}.{secrets.token_hex(8)}.tmp"
    fd = os.open(scratch, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
    try:
        with os.fdopen(fd, "wb", closefd=False) as out:
            out.write(make.encode("utf-8"))
        os.fsync(fd)
    finally:
        os.close(fd)
    try:
        os.link(scratch, path)
    except FileExistsError:
        return _read_secret(path)
    finally:
        scratch.unlink()
    _fsync_directory(data_dir)
    return make


def _read_secret(path: Path) -> str:
    value = path.read_text(encoding="utf-8").strip()
    if not value:
        raise SettingsError(f"{path} is empty; delete it to have a new secret generated")
    return value


def _fsync_directory(directory: Path) -> None:
    """Make the new directory entry durable too (not possible on every platform)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        with contextlib.suppress(OSError):
            os.fsync(fd)
    finally:
        os.close(fd)


def _workers(env: Mapping[str, str]) -> int:
    workers = int(_number(env, "WORKERS", 1, int))
    if not 1 <= workers <= 64:
        raise SettingsError("WORKERS must be between 1 and 64")
    return workers


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    env = os.environ if env is None else env
    app_env = env.get("APP_ENV", "development")
    data_dir = Path(env.get("DATA_DIR", str(DEFAULT_DATA_DIR)))
    generated: list[str] = []
    jwt_secret = env.get("JWT_SECRET", "")
    fernet_raw = env.get("FERNET_KEYS", "")
    if app_env == "production":
        if not jwt_secret:
            raise SettingsError("JWT_SECRET is required when APP_ENV=production")
        if not fernet_raw:
            raise SettingsError("FERNET_KEYS is required when APP_ENV=production")
    if not jwt_secret:
        jwt_secret = _secret_file(data_dir, SECRET_FILES["JWT_SECRET"], secrets.token_urlsafe(48))
        generated.append("JWT_SECRET")
    if not fernet_raw:
        fernet_raw = _secret_file(data_dir, SECRET_FILES["FERNET_KEYS"], Fernet.generate_key().decode("ascii"))
        generated.append("FERNET_KEYS")
    keys = tuple(k.strip() for k in fernet_raw.split(",") if k.strip())
    for key in keys:
        try:
            Fernet(key.encode("ascii"))
        except (ValueError, TypeError):
            raise SettingsError("FERNET_KEYS holds a malformed key (expect url-safe base64 of 32 bytes)") from None
    try:
        trusted_proxies = parse_networks(env.get("TRUSTED_PROXIES", ""))
    except ValueError:
        raise SettingsError("TRUSTED_PROXIES must be comma-separated IP addresses or CIDR networks") from None
    port = _number(env, "PORT", 8000, int)
    if not 0 < port < 65536:
        raise SettingsError("PORT must be between 1 and 65535")
    return Settings(
        database_url=env.get("DATABASE_URL") or None,
        host=env.get("HOST", "127.0.0.1"),
        port=int(port),
        jwt_secret=jwt_secret,
        fernet_keys=keys,
        redis_url=env.get("REDIS_URL") or None,
        log_level=env.get("LOG_LEVEL", "INFO").upper(),
        app_env=app_env,
        provider_timeout_s=float(_number(env, "PROVIDER_TIMEOUT_S", 60.0, float)),
        provider_max_retries=int(_number(env, "PROVIDER_MAX_RETRIES", 2, int)),
        provider_max_connections=max(1, int(_number(env, "PROVIDER_MAX_CONNECTIONS", 1000, int))),
        job_ttl_s=int(_number(env, "JOB_TTL_S", 86_400, int)),
        completion_wait_s=float(_number(env, "COMPLETION_WAIT_S", 10.0, float)),
        group_commit=env.get("GROUP_COMMIT", "1") != "0",
        workers=_workers(env),
        keep_alive_s=float(_number(env, "KEEP_ALIVE_S", 75.0, float)),
        backlog=max(1, int(_number(env, "BACKLOG", 4096, int))),
        shutdown_timeout_s=float(_number(env, "SHUTDOWN_TIMEOUT_S", 0.0, float)) or None,
        call_lease_override_s=float(_number(env, "CALL_LEASE_S", 0.0, float)) or None,
        sweep_interval_s=float(_number(env, "SWEEP_INTERVAL_S", 60.0, float)),
        webhook_poll_interval_s=float(_number(env, "WEBHOOK_POLL_INTERVAL_S", 1.0, float)),
        webhook_timeout_s=float(_number(env, "WEBHOOK_TIMEOUT_S", 5.0, float)),
        webhook_retry_base_s=float(_number(env, "WEBHOOK_RETRY_BASE_S", 5.0, float)),
        max_body_bytes=int(_number(env, "MAX_BODY_BYTES", 1_048_576, int)),
        breaker_failures=max(1, int(_number(env, "BREAKER_FAILURES", 3, int))),
        breaker_cool_down_s=float(_number(env, "BREAKER_COOL_DOWN_S", 30.0, float)),
        allow_private_api_base=_flag(env, "ALLOW_PRIVATE_API_BASE"),
        allow_private_webhooks=_flag(env, "ALLOW_PRIVATE_WEBHOOKS"),
        enable_demo_provider=_flag(env, "ENABLE_DEMO_PROVIDER"),
        metrics_token=env.get("METRICS_TOKEN") or None,
        trusted_proxies=trusted_proxies,
        data_dir=data_dir,
        generated_secrets=tuple(generated),
    )
