"""Command line: ``python -m entrypoints.cli`` or the installed ``saasllm`` script."""

import argparse
import sys
from collections.abc import Sequence

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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="saasllm", description="SaaS LLM gateway with job-based cost tracking")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="serve the HTTP API")
    serve.add_argument("--host", default=None)
    serve.add_argument("--port", type=int, default=None)
    serve.set_defaults(handler=_serve)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.handler(args))
    except SettingsError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
