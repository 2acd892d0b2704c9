"""The Litestar application factory."""

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import structlog
from litestar import Litestar, get
from litestar.connection import ASGIConnection
from litestar.datastructures import State
from litestar.handlers import BaseRouteHandler

from entrypoints.http.allow import answer_options_with_every_method
from entrypoints.http.dependencies import authenticate_first
from entrypoints.http.inputs import ScreenedRequest, screen_url_text
from entrypoints.http.middleware import request_context_middleware
from entrypoints.http.openapi import asset_routes, document, openapi_config
from entrypoints.http.rate_limit_errors import ALL_EXCEPTION_HANDLERS
from entrypoints.http.schemas.money import TYPE_ENCODERS as DECIMAL_ENCODERS
from entrypoints.logging import configure_logging
from entrypoints.runtime import Runtime, open_runtime
from entrypoints.settings import Settings, load_settings

log = structlog.get_logger(__name__)

RuntimeFactory = Callable[[Settings], AbstractAsyncContextManager[Runtime]]


@get("/health", tags=["operations"], summary="Liveness (touches no dependency)")
async def health() -> dict[str, str]:
    return {"status": "ok"}


async def admit(connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler) -> None:
    """The one app-level guard: who is calling, then the text rule for the path and query.

    One guard, not two: Litestar copies the route handler for every guard it runs.
    """
    await authenticate_first(connection, handler)
    await screen_url_text(connection, handler)


def create_app(settings: Settings | None = None, *, runtime: RuntimeFactory | None = None) -> Litestar:
    """Build the app; ``runtime`` opens persistence and provider clients (the default is the real one)."""
    settings = settings or load_settings()
    opener = runtime or open_runtime

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        async with opener(settings) as rt:
            app.state.runtime = rt
            app.state.services = rt.services
            for name in settings.generated_secrets:
                log.warning("secret_generated", name=name, where=str(settings.data_dir), hint="set it in production")
            workers = [
                asyncio.create_task(sweep_jobs_forever(rt, settings.sweep_interval_s)),
                asyncio.create_task(deliver_webhooks_forever(rt, settings.webhook_poll_interval_s)),
            ]
            log.info("service_started", app_env=settings.app_env, persistence=rt.description)
            if await rt.services.admin_auth.needs_setup():
                log.info("first_run", hint="no admin user yet: open the panel's /admin/setup to create the owner")
            try:
                yield
            finally:
                for worker in workers:
                    worker.cancel()
                for worker in workers:
                    with contextlib.suppress(asyncio.CancelledError):
                        await worker

    from entrypoints.http.admin import panel_routes, template_config

    app = Litestar(
        route_handlers=[health, *route_handlers(), *panel_routes(settings), *asset_routes()],
        template_config=template_config(),
        lifespan=[lifespan],
        exception_handlers=ALL_EXCEPTION_HANDLERS,
        middleware=[request_context_middleware],
        # Who is calling is settled before anything reads the request; then every path,
        # query and JSON body passes the validated decode step (entrypoints/http/inputs.py).
        guards=[admit],
        request_class=ScreenedRequest,
        type_encoders=DECIMAL_ENCODERS,  # money leaves in one notation (entrypoints/http/schemas/money.py)
        openapi_config=openapi_config(),
        request_max_body_size=settings.max_body_bytes,
        state=State({"settings": settings}),
        debug=False,
        # Logging is configured once, by configure_logging: one JSON stream for every
        # library (Litestar's own config would add a plain-text handler of its own).
        logging_config=None,
    )
    answer_options_with_every_method(app)
    document(app)
    return app


async def sweep_jobs_forever(rt: Runtime, interval_s: float) -> None:
    """Expire jobs left open past their TTL; every instance may run it (row locks make it safe)."""
    while True:
        await asyncio.sleep(interval_s)
        try:
            expired = await rt.services.jobs.expire_stale_jobs()
        except Exception as exc:  # noqa: BLE001 - the sweeper must survive a database blip
            log.warning("job_sweep_failed", error_type=type(exc).__name__)
            continue
        if expired:
            log.info("jobs_expired", count=expired)


async def deliver_webhooks_forever(rt: Runtime, idle_interval_s: float) -> None:
    """Send the webhook outbox; every instance may run it (deliveries are leased, never sent twice
    at once). A full batch is followed at once by the next one; an empty outbox is polled."""
    while True:
        try:
            sent = await rt.services.webhooks.deliver_due()
        except Exception as exc:  # noqa: BLE001 - the worker must survive a database blip
            log.warning("webhook_delivery_failed", error_type=type(exc).__name__)
            sent = 0
        if sent:
            log.info("webhooks_attempted", count=sent)
        else:
            await asyncio.sleep(idle_interval_s)


def route_handlers() -> list[Any]:
    from entrypoints.http.controllers.admin_auth import AdminAuthController
    from entrypoints.http.controllers.admin_models import AdminModelsController, AdminReportsController
    from entrypoints.http.controllers.admin_tenants import (
        AdminCredentialsController,
        AdminOrganizationsController,
        AdminTeamsController,
    )
    from entrypoints.http.controllers.admin_users import AdminUsersController
    from entrypoints.http.controllers.client import ClientController
    from entrypoints.http.controllers.docs import problem_docs
    from entrypoints.http.controllers.economics import EconomicsReportsController, QuotesController
    from entrypoints.http.controllers.openai_compat import OpenAiController
    from entrypoints.http.controllers.operations import health_db, metrics

    return [
        health_db,
        metrics,
        problem_docs,
        ClientController,
        OpenAiController,
        AdminAuthController,
        AdminUsersController,
        AdminOrganizationsController,
        AdminTeamsController,
        AdminCredentialsController,
        AdminModelsController,
        AdminReportsController,
        EconomicsReportsController,
        QuotesController,
    ]


def app_from_environment() -> Litestar:
    """Entry for ASGI servers (``uvicorn --factory entrypoints.http.app:app_from_environment``)."""
    settings = load_settings()
    configure_logging(settings.log_level)
    return create_app(settings)
