"""Command line: ``python -m entrypoints.cli`` or the installed ``saasllm`` script."""

import argparse
import asyncio
import contextlib
import sys
from collections.abc import Mapping, Sequence
from decimal import Decimal, InvalidOperation
from typing import Any
from uuid import UUID

import structlog

from adapters.postgres.migrate import MigrationError
from application.errors import UnavailableError
from application.ports.vault import VaultError
from application.services.credentials import Rotation
from application.services.litellm_import import ImportReport
from domain.admins import AdminRole
from domain.errors import DomainError
from domain.ids import TeamId
from entrypoints.logging import configure_logging
from entrypoints.settings import Settings, SettingsError, load_settings


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    from entrypoints.serving import ReadyServer

    settings = load_settings()
    configure_logging(settings.log_level)
    host, port = args.host or settings.host, args.port or settings.port
    base = local_url(host, port)
    structlog.get_logger("saasllm").info(
        "serving", api=base, api_docs=f"{base}/schema", admin_panel=f"{base}/admin", workers=settings.workers
    )
    app, options = "entrypoints.http.app:app_from_environment", server_options(settings)
    if settings.workers > 1:  # uvicorn's supervisor runs the workers (each logs its own start)
        uvicorn.run(app, factory=True, host=host, port=port, **options)
        return 0
    server = ReadyServer(uvicorn.Config(app, factory=True, host=host, port=port, **options), base_url=base)
    with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C: uvicorn has drained and re-raises it
        server.run()
    return 0 if server.started else 3  # uvicorn's exit status for a failed startup


def local_url(host: str, port: int) -> str:
    """The URL of a server listening on ``host:port``, as a client on this machine reaches it."""
    shown = "127.0.0.1" if host in {"0.0.0.0", "::", ""} else host  # noqa: S104 - a listen-all address is not a URL
    return f"http://{shown}:{port}"


def demo_base_url(env: Mapping[str, str], settings: Settings) -> str:
    """``BASE_URL``, else the server ``make run`` starts with the same ``HOST``/``PORT``."""
    return (env.get("BASE_URL") or local_url(settings.host, settings.port)).rstrip("/")


def database_location(settings: Settings) -> str:
    """Which database a command uses, for messages: host, port and name, never the password."""
    if settings.database_url is None:
        return f"the embedded database under {settings.data_dir / 'pg'}"
    from psycopg.conninfo import conninfo_to_dict

    try:
        info = conninfo_to_dict(settings.database_url)
    except Exception:  # noqa: BLE001 - a malformed URL: say nothing of it
        return "DATABASE_URL (unparseable)"
    host, port, name = info.get("host") or "localhost", info.get("port") or "5432", info.get("dbname") or "?"
    return f"database {name} at {host}:{port} (DATABASE_URL)"


def server_options(settings: Settings) -> dict[str, Any]:
    """uvicorn's settings for ``serve`` (docs/operations.md, "Keep-alive and load balancers")."""
    return {
        "loop": "uvloop",
        "http": "httptools",
        "log_config": None,
        "access_log": False,
        # Each worker is a whole instance (own pool, caches, sweeper): they share the
        # database as several machines would; the embedded one counts its users.
        "workers": settings.workers,
        # The app decides whose X-Forwarded-For to believe (TRUSTED_PROXIES); uvicorn's own
        # handling would believe any local peer's.
        "proxy_headers": False,
        # Longer than any client's or load balancer's idle timeout: the client closes an
        # idle connection first, never the server under a request already on the wire.
        "timeout_keep_alive": settings.keep_alive_s,
        "backlog": settings.backlog,
        "timeout_graceful_shutdown": settings.shutdown_timeout_s,
    }


def _migrate(args: argparse.Namespace) -> int:
    from entrypoints.runtime import migrate_database

    settings = load_settings()
    configure_logging(settings.log_level)
    applied = asyncio.run(migrate_database(settings))
    print(f"applied migrations {', '.join(applied)}" if applied else "the database schema is up to date")
    return 0


def _sweep_jobs(args: argparse.Namespace) -> int:
    from entrypoints.runtime import open_postgres_runtime

    async def sweep() -> int:
        settings = load_settings()
        configure_logging(settings.log_level)
        async with open_postgres_runtime(settings, providers={}) as runtime:
            return await runtime.services.jobs.expire_stale_jobs(limit=args.limit)

    print(f"expired {asyncio.run(sweep())} jobs")
    return 0


def _create_owner(args: argparse.Namespace) -> int:
    from entrypoints.runtime import open_postgres_runtime

    password = owner_password(args)
    if password is None:
        return 2

    async def create() -> str:
        settings = load_settings()
        configure_logging(settings.log_level)
        async with open_postgres_runtime(settings, providers={}) as runtime:
            user = await runtime.services.admin_auth.create_user(
                email=args.email, password=password, role=AdminRole.OWNER
            )
        return user.email

    print(f"created owner {asyncio.run(create())}")
    return 0


def owner_password(args: argparse.Namespace) -> str | None:
    """The password from ``--password-stdin`` (its first line), ``--password``, or a prompt
    asked twice; None (with the reason on standard error) when there is none to use."""
    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    elif args.password is not None:
        password = args.password
    elif sys.stdin.isatty():
        import getpass

        password = getpass.getpass("password (at least 12 characters): ")
        if getpass.getpass("password again: ") != password:
            print("error: the two passwords differ", file=sys.stderr)
            return None
    else:
        print("error: no terminal to ask the password on: pipe it in with --password-stdin", file=sys.stderr)
        return None
    if not password:
        print("error: the password is empty", file=sys.stderr)
        return None
    return password


def _rotate_keys(args: argparse.Namespace) -> int:
    from entrypoints.runtime import open_postgres_runtime

    async def rotate() -> tuple[Rotation, Rotation]:
        settings = load_settings()
        configure_logging(settings.log_level)
        async with open_postgres_runtime(settings, providers={}) as runtime:
            credentials = await runtime.services.credentials.rotate_keys()
            # webhook secrets too; plaintext ones stored before migration 0004 get encrypted
            webhooks = await runtime.services.webhooks.rotate_secrets()
            return credentials, webhooks

    credentials, webhooks = asyncio.run(rotate())
    for what, result in (("credentials", credentials), ("webhook secrets", webhooks)):
        print(f"re-encrypted {result.rotated} {what} under the newest key ({result.current} already were)")
        if result.skipped:
            print(f"{result.skipped} changed while rotating and were left as written (already under the newest key)")
    return 0


def _import_litellm(args: argparse.Namespace) -> int:
    import os

    from entrypoints.runtime import open_postgres_runtime

    config = _read_yaml(args.file, "a LiteLLM config (expected a mapping with model_list)")
    prices = _read_yaml(args.prices, "prices (expected a mapping of model_name to prices)") if args.prices else {}
    if config is None or prices is None:
        return 1
    try:
        team_id = TeamId(UUID(args.team)) if args.team else None
    except ValueError:
        print("error: --team must be an id (UUID)", file=sys.stderr)
        return 2
    try:
        markup = Decimal(args.markup) if args.markup is not None else None
    except InvalidOperation:
        markup = Decimal("NaN")
    if markup is not None and (not markup.is_finite() or markup < 0):
        print("error: --markup must be a number >= 0 (0.3: customer prices 30 % over provider cost)", file=sys.stderr)
        return 2

    async def run() -> ImportReport | None:
        settings = load_settings()
        configure_logging(settings.log_level)
        async with open_postgres_runtime(settings, providers={}) as runtime:
            organization = await runtime.services.organizations.find_organization(args.organization)
            if organization is None:
                return None
            return await runtime.services.litellm_import.run(
                config, dict(os.environ), organization.id, markup=markup, prices=prices, team_id=team_id
            )

    report = asyncio.run(run())
    if report is None:
        print(
            f"error: no organization {args.organization!r}: --organization must be ids (UUIDs) or slugs "
            "of an existing organization",
            file=sys.stderr,
        )
        return 2
    # Keys are never printed: a credential is named by its provider and masked hint.
    for alias in report.aliases:
        targets = "".join(f", {t.provider}/{t.provider_model}" for t in alias.targets)
        routing = f" ({alias.routing})" if alias.targets else ""
        fallbacks = f" (fallbacks: {', '.join(alias.fallbacks)})" if alias.fallbacks else ""
        print(
            f"created model alias {alias.alias} -> {alias.provider}/{alias.provider_model}{targets}{routing}{fallbacks}"
        )
    for credential in report.credentials:
        print(f"created credential {credential.name!r} ({credential.provider}, {credential.key_hint})")
    for credential in report.rotated:
        print(f"rotated credential {credential.name!r} ({credential.provider}, now {credential.key_hint})")
    if report.team is not None:
        team = report.team
        print(f"set team {team.id} rate limits: rpm_limit {team.rpm_limit}, tpm_limit {team.tpm_limit}")
    for note in report.notes:
        print(f"note {note.item}: {note.message}")
    for skipped in report.skipped:
        print(f"{'error' if skipped.error else 'not imported'} {skipped.item}: {skipped.reason}")
    if report.zero_margin:
        print(
            f"WARNING zero margin: {len(report.zero_margin)} aliases were created with customer prices equal to "
            f"their provider costs ({', '.join(report.zero_margin)}): give --markup or --prices, "
            "or set prices with PUT /api/models/{alias}"
        )
    errors = len(report.errors)
    print(
        f"{len(report.aliases)} model aliases and {len(report.credentials)} credentials created, "
        f"{len(report.rotated)} credentials rotated, {len(report.skipped)} settings not imported "
        f"({errors} errors)"
    )
    return 1 if errors else 0


def _read_yaml(path: str, what: str) -> dict[str, object] | None:
    import yaml

    try:
        with open(path, encoding="utf-8") as handle:
            loaded = yaml.safe_load(handle)
    except OSError as exc:
        print(f"error: cannot read {path}: {exc.strerror}", file=sys.stderr)
        return None
    except yaml.YAMLError:
        print(f"error: {path} is not valid YAML", file=sys.stderr)
        return None
    if not isinstance(loaded, dict):
        print(f"error: {path} holds no {what}", file=sys.stderr)
        return None
    return loaded


def _demo(args: argparse.Namespace) -> int:
    import os

    import httpx

    from entrypoints.demo import DemoError, drive, next_steps, seed, server_answers
    from entrypoints.runtime import open_postgres_runtime

    settings = load_settings()
    configure_logging("WARNING")
    base_url = (args.url or demo_base_url(os.environ, settings)).rstrip("/")

    async def run() -> int:
        if not await server_answers(base_url):
            print(
                f"error: no saasllm server answers at {base_url}: start it with `make run` "
                "(with the same HOST and PORT), or point BASE_URL at it",
                file=sys.stderr,
            )
            return 1
        # Seed as an operator would (straight through the use cases, on the server's
        # database), then play the client application against the running server.
        async with open_postgres_runtime(settings, providers={}) as runtime:
            team_id, api_key = await seed(runtime.services)
        try:
            await drive(base_url, team_id, api_key)
        except (DemoError, httpx.HTTPError) as exc:
            print(f"error: the demo stopped: {exc or type(exc).__name__}", file=sys.stderr)
            return 1
        for line in next_steps(base_url, team_id, api_key):
            print(line)
        return 0

    return asyncio.run(run())


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="saasllm", description="SaaS LLM gateway with job-based cost tracking")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="serve the HTTP API")
    serve.add_argument("--host", default=None)
    serve.add_argument("--port", type=int, default=None)
    serve.set_defaults(handler=_serve)
    migrate = commands.add_parser("migrate", help="apply pending database migrations")
    migrate.set_defaults(handler=_migrate)
    sweep = commands.add_parser("sweep-jobs", help="expire jobs left open past their TTL, releasing their holds")
    sweep.add_argument("--limit", type=int, default=500)
    sweep.set_defaults(handler=_sweep_jobs)
    owner = commands.add_parser(
        "create-owner",
        help="create an owner admin user (also when others exist); asks the password twice on the terminal",
    )
    owner.add_argument("--email", required=True)
    given = owner.add_mutually_exclusive_group()
    given.add_argument(
        "--password-stdin", action="store_true", help="read the password (at least 12 characters) from standard input"
    )
    given.add_argument(
        "--password", default=None, help="the password on the command line (visible to ps and shell history: avoid)"
    )
    owner.set_defaults(handler=_create_owner)
    rotate = commands.add_parser(
        "rotate-keys", help="re-encrypt provider keys and webhook secrets under the newest FERNET_KEYS key"
    )
    rotate.set_defaults(handler=_rotate_keys)
    litellm = commands.add_parser(
        "import-litellm-config",
        help="turn a LiteLLM config.yaml into model aliases, credentials and team limits; "
        "exits 1 when something was skipped for an error",
    )
    litellm.add_argument("file", help="the LiteLLM proxy config.yaml (os.environ/ keys are read from the environment)")
    litellm.add_argument(
        "--organization", required=True, help="the organization that gets the credentials: its id or its slug"
    )
    litellm.add_argument(
        "--markup", default=None, help="customer prices = provider cost × (1 + MARKUP), e.g. 0.3 (default: 0)"
    )
    litellm.add_argument(
        "--prices",
        default=None,
        help="a YAML file of explicit customer prices per model_name "
        "(input_price_per_million, output_price_per_million, cached_input_…, cache_write_…); wins over --markup",
    )
    litellm.add_argument(
        "--team", default=None, help="the team that takes default_key_generate_params' rpm_limit/tpm_limit"
    )
    litellm.set_defaults(handler=_import_litellm)
    demo = commands.add_parser("demo", help="seed a demo team and run a job against the running server")
    demo.add_argument(
        "--url", default=None, help="the server's base URL (default: BASE_URL, else from HOST and PORT as make run)"
    )
    demo.set_defaults(handler=_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.handler(args))
    except SettingsError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    except UnavailableError as exc:
        print(f"error: {exc}: {database_location(load_settings())}", file=sys.stderr)
        return 1
    except (DomainError, MigrationError, VaultError) as exc:  # e.g. the database is unreachable
        print(f"error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
