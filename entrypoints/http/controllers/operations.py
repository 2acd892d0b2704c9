"""Operational endpoints: database health."""

from litestar import Response, get
from litestar.datastructures import State

from entrypoints.http.errors import problem_response


@get("/metrics", tags=["operations"], summary="Prometheus metrics", include_in_schema=True)
async def metrics(state: State) -> Response[bytes]:
    registry = state.runtime.metrics
    return Response(content=registry.render(), media_type=registry.content_type)


@get("/health/db", tags=["operations"], summary="Readiness: 200 when a database query succeeds, 503 otherwise")
async def health_db(state: State) -> Response[bytes] | dict[str, str]:
    if await state.runtime.database_ok():
        return {"status": "ok"}
    return problem_response("unavailable", "the database does not answer")
