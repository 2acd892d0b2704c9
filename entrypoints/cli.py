"""Command line: ``python -m entrypoints.cli`` or the installed ``saasllm`` script."""

import argparse
import asyncio
import sys
from collections.abc import Sequence

from adapters.postgres.migrate import MigrationError
from domain.errors import DomainError
from entrypoints.logging import configure_logging
from entrypoints.settings import SettingsError, load_settings


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    settings = load_settings()
    configure_logging(settings.log_level)
    uvicorn.run(
        "entrypoints.http.app:app_from_environment",
        factory=True,
        host=args.host or settings.host,
        port=args.port or settings.port,
        loop="uvloop",
        http="httptools",
        log_config=None,
        access_log=False,
    )
    return 0


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


def _demo(args: argparse.Namespace) -> int:
    from entrypoints.demo import drive, seed
    from entrypoints.runtime import open_postgres_runtime

    settings = load_settings()
    configure_logging("WARNING")

    async def run() -> None:
        # Seed as an operator would (straight through the use cases, on the server's
        # database), then play the client application against the running server.
        async with open_postgres_runtime(settings, providers={}) as runtime:
            team_id, api_key = await seed(runtime.services)
        await drive(args.url or f"http://{settings.host}:{settings.port}", team_id, api_key)

    asyncio.run(run())
    return 0


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
    demo = commands.add_parser("demo", help="seed a demo team and run a job against the running server")
    demo.add_argument("--url", default=None, help="the server's base URL (default: from HOST and PORT)")
    demo.set_defaults(handler=_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.handler(args))
    except SettingsError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    except (DomainError, MigrationError) as exc:  # e.g. the database is unreachable
        print(f"error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
