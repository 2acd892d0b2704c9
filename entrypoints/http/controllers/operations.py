"""Operational endpoints: Prometheus metrics and database health."""

import hmac

from litestar import Request, Response, get
from litestar.datastructures import State

from entrypoints.http.dependencies import bearer_token
from entrypoints.http.errors import problem_response


@get(
    "/metrics",
    tags=["operations"],
    summary="Prometheus metrics (needs METRICS_TOKEN as a bearer token when that is set)",
    include_in_schema=True,
)
async def metrics(request: Request[object, object, State], state: State) -> Response[bytes]:
    expected: str | None = state.settings.metrics_token
    if expected is not None and not _same_secret(bearer_token(request), expected):
        return problem_response(
            "unauthorized", "a valid metrics token is required", headers={"WWW-Authenticate": "Bearer"}
        )
    registry = state.runtime.metrics
    # Litestar adds "; charset=utf-8" to a text type itself: give the type without its own.
    media_type = registry.content_type.replace("; charset=utf-8", "")
    return Response(content=registry.render(), media_type=media_type)


def _same_secret(presented: str | None, expected: str) -> bool:
    # Constant-time, so the comparison does not tell how much of a guess was right.
    return presented is not None and hmac.compare_digest(presented.encode("utf-8"), expected.encode("utf-8"))


@get("/health/db", tags=["operations"], summary="Readiness: 200 when a database query succeeds, 503 otherwise")
async def health_db(state: State) -> Response[bytes] | dict[str, str]:
    if await state.runtime.database_ok():
        return {"status": "ok"}
    return problem_response("unavailable", "the database does not answer")
