"""The OpenAI-compatible surface (team virtual key): ``/v1/chat/completions`` and ``/v1/models``.

An app written for OpenAI's API points its SDK's ``base_url`` at ``<service>/v1`` and its
``api_key`` at a team virtual key. Calls go through the same use cases as the job API, so
they are held, priced, charged and rate-limited exactly alike; errors come in OpenAI's
shape with the job API's status codes (``entrypoints/http/openai_errors.py``).
"""

from typing import Annotated, Any
from uuid import UUID

from litestar import Controller, Response, get, post
from litestar.di import NamedDependency, Provide
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import FromPath, HeaderParameter, JSONBody
from litestar.response import Stream

from application.errors import NotFoundError
from application.principal import TeamPrincipal
from application.services.one_call_jobs import NewJob
from domain.errors import InvalidValueError
from domain.ids import JobId
from entrypoints.bootstrap import Services
from entrypoints.http.dependencies import provide_principal, provide_services
from entrypoints.http.openai_errors import openai_exception_handlers
from entrypoints.http.openai_sse import chat_chunks
from entrypoints.http.rate_limit_errors import ALL_EXCEPTION_HANDLERS, window_headers
from entrypoints.http.schemas.openai import (
    ChatCompletionBody,
    ChatCompletionOut,
    ErrorOut,
    ModelList,
    ModelOut,
    chat_completion_out,
    model_out,
)

DEFAULT_JOB_TYPE = "chat.completions"
SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}

JobIdHeader = Annotated[
    str | None,
    HeaderParameter(
        name="X-Job-Id",
        required=False,
        description="an open job of this team to make the call in (404 unknown, 409 finished); "
        "without it a one-call job is created and completed after the call",
    ),
]
JobTypeHeader = Annotated[
    str | None,
    HeaderParameter(
        name="X-Job-Type",
        required=False,
        description=f"job_type of the one-call job created when X-Job-Id is absent (default {DEFAULT_JOB_TYPE})",
    ),
]
_ERRORS = {
    status: ResponseSpec(data_container=ErrorOut, description=description, generate_examples=False)
    for status, description in {
        401: "unauthorized: no or an unknown team key",
        402: "insufficient_credits",
        403: "team_suspended, model_not_allowed",
        404: "not_found: the X-Job-Id job is not this team's",
        409: "job_not_active, job_call_limit: the X-Job-Id job accepts no more calls",
        413: "payload_too_large",
        422: "invalid_request (schema), unsupported_feature (a field not honoured yet, named in param)",
        429: "rate_limited (Retry-After; a team limit also in X-RateLimit-Limit/-Remaining/-Reset/-Resource)",
        502: "provider_error",
        504: "provider_timeout",
    }.items()
}


class OpenAiController(Controller):
    path = "/v1"
    tags = ["openai-compatible"]
    security = [{"TeamKey": []}]
    dependencies = {"principal": Provide(provide_principal), "services": Provide(provide_services)}
    exception_handlers = openai_exception_handlers(ALL_EXCEPTION_HANDLERS)

    @post(
        "/chat/completions",
        status_code=200,
        summary="OpenAI Chat Completions (stream: true → text/event-stream of chat.completion.chunk)",
        responses={
            200: ResponseSpec(
                data_container=ChatCompletionOut,
                description="the completion (headers X-Job-Id, X-Call-Id; for a team with rate limits "
                "X-RateLimit-Limit/-Remaining/-Reset-Requests and -Tokens); with stream: true, "
                "text/event-stream of chat.completion.chunk objects ending with data: [DONE]",
                generate_examples=False,
            ),
            **_ERRORS,
        },
    )
    async def chat_completions(
        self,
        data: JSONBody[ChatCompletionBody],
        principal: NamedDependency[TeamPrincipal],
        services: NamedDependency[Services],
        x_job_id: JobIdHeader = None,
        x_job_type: JobTypeHeader = None,
    ) -> Response[Any]:
        request = data.to_request()
        job_id = _job_id(x_job_id)
        new_job = NewJob(job_type=x_job_type or DEFAULT_JOB_TYPE, metadata=dict(data.metadata or {}))
        if data.stream:
            opened = await services.openai.open_stream(principal, request, job_id=job_id, new_job=new_job)
            headers = {
                **SSE_HEADERS,
                "X-Job-Id": str(opened.job_id),
                "X-Call-Id": str(opened.started.call_id),
                **window_headers(opened.rate_limits),
            }
            return Stream(
                chat_chunks(opened, include_usage=data.include_usage), media_type="text/event-stream", headers=headers
            )
        done = await services.openai.complete(principal, request, job_id=job_id, new_job=new_job)
        call = done.result.call
        return Response(
            chat_completion_out(call, done.result.content, done.result.tool_calls),
            headers={
                "X-Job-Id": str(done.job_id),
                "X-Call-Id": str(call.id),
                **window_headers(done.result.rate_limits),
            },
        )

    @get("/models", summary="The models (aliases) this team may call", responses=_ERRORS)
    async def list_models(
        self, principal: NamedDependency[TeamPrincipal], services: NamedDependency[Services]
    ) -> ModelList:
        return ModelList(object="list", data=[model_out(a) for a in await services.openai.models(principal)])

    @get("/models/{model:path}", summary="One model (alias) this team may call; 404 otherwise", responses=_ERRORS)
    async def get_model(
        self, model: FromPath[str], principal: NamedDependency[TeamPrincipal], services: NamedDependency[Services]
    ) -> ModelOut:
        name = model.lstrip("/")
        alias = await services.openai.model(principal, name)
        if alias is None:
            raise NotFoundError(f"model '{name}' not found")
        return model_out(alias)


def _job_id(header: str | None) -> JobId | None:
    if header is None or not header.strip():
        return None
    try:
        return JobId(UUID(header.strip()))
    except ValueError:
        raise InvalidValueError("X-Job-Id must be a job id (a UUID)") from None
