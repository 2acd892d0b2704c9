"""Serving one instance: uvicorn's server, ending its start's log with what to do next."""

import os
import sys
from pathlib import Path
from typing import Any

import structlog
import uvicorn


class ReadyServer(uvicorn.Server):
    """Once it listens (after uvicorn's own start lines), it logs where the API is
    documented and, while nobody can log in yet, how to create the first owner."""

    def __init__(self, config: uvicorn.Config, *, base_url: str) -> None:
        super().__init__(config)
        self.base_url = base_url

    async def startup(self, sockets: list[Any] | None = None) -> None:
        await super().startup(sockets)
        if self.started:
            services = getattr(getattr(_innermost(self.config.loaded_app), "state", None), "services", None)
            needs_owner = services is not None and await services.admin_auth.needs_setup()
            log_next_steps(self.base_url, needs_owner=needs_owner)


def _innermost(app: Any) -> Any:
    """The application under uvicorn's wrappers (each keeps the one it wraps as ``app``)."""
    while not hasattr(app, "state") and hasattr(app, "app"):
        app = app.app
    return app


def log_next_steps(base_url: str, *, needs_owner: bool) -> None:
    """The last lines of a start."""
    log = structlog.get_logger("saasllm")
    log.info("ready", api_docs=f"{base_url}/schema", admin_panel=f"{base_url}/admin")
    if needs_owner:
        log.info(
            "next_step",
            todo="create the first owner: no admin user exists yet",
            command=f"{own_command()} create-owner --email you@example.com",
            hint="run it here, with the same environment; it asks the password twice "
            f"(or pipe it in with --password-stdin); or open {base_url}/admin/setup",
        )


def own_command() -> str:
    """How this command line was started, to repeat it: ``.venv/bin/saasllm`` under
    ``make run``, else ``python -m entrypoints.cli``."""
    started = Path(sys.argv[0])
    if started.name == "saasllm":
        return os.path.relpath(started) if started.is_absolute() else str(started)
    return f"{os.path.relpath(sys.executable)} -m entrypoints.cli"
