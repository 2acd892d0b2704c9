"""The stream relay: a streamed call's events to the client, with one outcome guaranteed.

``open`` waits for the provider's first event (errors up to it raise, so the client gets
a problem response); after it, failures arrive as a ``CallFailed`` item. Whatever ends
the stream (its last event, a provider error, the client leaving, the consumer closing
it) records the call's one outcome: an abandoned stream is billed with the usage seen so
far, estimated when the provider had not reported it.
"""

import asyncio
import contextlib
from collections.abc import AsyncGenerator, AsyncIterator
from dataclasses import dataclass
from typing import Any

from application.errors import ProviderError, ProviderResponseError
from application.ports.response_cache import CachedAnswer
from application.services.call_preparation import CallPath, CallPreparer, PreparedCall
from application.services.call_recording import CallRecorder
from application.services.call_routes import first_answer
from application.services.call_values import (
    CallFailed,
    CallFinished,
    CallStarted,
    CallStream,
    ClientGoneError,
    StreamItem,
)
from application.services.routing import counts_against_target
from domain.calls import LlmCall
from domain.llm import LlmResponse, StreamEnd, StreamEvent, TextDelta, ToolCallDelta


@dataclass(frozen=True, kw_only=True)
class StreamRelay:
    """Opens and relays streams of prepared calls (see the module docstring)."""

    path: CallPath
    preparer: CallPreparer
    recorder: CallRecorder

    async def open(self, prepared: PreparedCall) -> CallStream:
        """Wait for the first event of a prepared call (see the module docstring)."""
        prepared.cached = await self.path.caching.lookup(prepared.cache_key)
        upstream: AsyncIterator[StreamEvent] | None = None

        async def first() -> StreamEvent:
            nonlocal upstream
            if upstream is not None:  # the route before failed: another one may still serve
                with contextlib.suppress(Exception):
                    await _close(upstream)
            if prepared.cached is not None:  # replayed: never reaches the provider
                upstream = _replay(prepared.cached)
            else:
                upstream = self.preparer.client(prepared).stream(prepared.target, prepared.request)
            return await anext(aiter(upstream))

        try:
            event = await first_answer(prepared, first, recorder=self.recorder, streamed=True)
        except ProviderError:
            raise  # recorded as the call's outcome
        except BaseException:
            # Cancelled (client gone) after the request was sent: the prompt was billed.
            abandoned = ClientGoneError("stream abandoned before the provider answered")
            await asyncio.shield(self._abandon(prepared, upstream, 0, None, abandoned))
            raise
        assert upstream is not None
        opened = upstream
        items = self._relay(prepared, opened, event)

        async def close() -> None:
            # Returns once the call's one outcome is recorded (or its record has failed).
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await items.aclose()
            if prepared.outcome is None:  # the relay never started: the client left at once
                gone = ClientGoneError("the client disconnected before the stream was relayed")
                await self._abandon(prepared, opened, 0, None, gone)
            if prepared.outcome is not None:
                await asyncio.wait([prepared.outcome])  # never raises the record's own error

        started = CallStarted(
            call_id=prepared.call_id,
            job_id=prepared.job_id,
            model=prepared.alias.alias,
            provider=prepared.route.target.provider,
        )
        return CallStream(started=started, items=items, close=close, rate_limits=prepared.rate_limits)

    async def _relay(
        self, prepared: PreparedCall, upstream: AsyncIterator[StreamEvent], first: StreamEvent
    ) -> AsyncGenerator[StreamItem, None]:
        received = 0  # bytes of text relayed: all a broken stream's estimate needs, in constant memory
        # The text itself is kept only for the response cache, and only up to its bound.
        kept: list[str] | None = [] if prepared.cache_key is not None and prepared.cached is None else None
        ttft_ms: int | None = None
        event: StreamEvent | None = first
        renew_at = self._next_renewal()
        try:
            while event is not None:
                if isinstance(event, TextDelta | ToolCallDelta):
                    if ttft_ms is None:
                        ttft_ms = self.recorder.elapsed_ms(prepared)
                    text = event.content if isinstance(event, TextDelta) else event.arguments + (event.name or "")
                    received += len(text.encode("utf-8"))
                    if isinstance(event, ToolCallDelta):
                        kept = None  # an answer with tool calls is not cached
                    elif kept is not None:
                        kept = self.path.caching.collect(kept, event.content, received)
                    yield event
                else:
                    call = await self._finished(prepared, event, ttft_ms, kept)
                    yield CallFinished(call=call, tool_calls=event.tool_calls)
                    return
                if self.path.clock.monotonic() >= renew_at:
                    await self.recorder.renew(prepared)
                    renew_at = self._next_renewal()
                try:
                    event = await anext(upstream)
                except StopAsyncIteration:
                    event = None
            raise ProviderResponseError("the provider ended the stream without a final event")
        except ProviderError as exc:
            self._stream_cut(prepared, exc)
            call = await self.recorder.failed(prepared, exc, received=received, ttft_ms=ttft_ms, streamed=True)
            yield CallFailed(call=call, code=exc.code, detail=exc.detail)
        finally:
            if prepared.outcome is None:
                # The client went away (or the consumer stopped) mid-stream: cancel upstream,
                # then bill what was generated.
                abandoned = ClientGoneError("the client disconnected before the stream ended")
                await asyncio.shield(self._abandon(prepared, upstream, received, ttft_ms, abandoned))
            else:
                # An outcome is being recorded (perhaps the request was cancelled while it
                # was): let that one record finish; never write a second one.
                with contextlib.suppress(Exception, asyncio.CancelledError):
                    await asyncio.shield(prepared.outcome)

    async def _finished(
        self, prepared: PreparedCall, end: StreamEnd, ttft_ms: int | None, kept: list[str] | None
    ) -> LlmCall:
        """The stream's last event: its call recorded (and its text kept in the cache)."""
        if prepared.cached is not None:
            return await self.recorder.replayed(prepared, ttft_ms=ttft_ms, streamed=True)
        response = LlmResponse(
            content="",
            finish_reason=end.finish_reason,
            usage=end.usage,
            provider_model=end.provider_model,
            usage_estimated=end.usage_estimated,
            attempts=end.attempts,
        )
        # A stream succeeds at its end: one cut mid-way is the target's failure.
        answer = "".join(kept) if kept is not None and not end.tool_calls else None
        return await self.recorder.succeeded(prepared, response, ttft_ms=ttft_ms, streamed=True, answer=answer)

    def _next_renewal(self) -> float:
        return self.path.clock.monotonic() + self.path.lease.total_seconds() / 3

    def _stream_cut(self, prepared: PreparedCall, exc: ProviderError) -> None:
        """A stream the provider broke after its first event: it counts against the target's
        breaker (a cut stream is the provider's failure) but never falls back, since the
        client has bytes of this target's answer. A broken or malformed stream counts like a
        5xx; a content filter or a client gone does not. A replay is the cache's, no target's."""
        if prepared.cached is None and (counts_against_target(exc) or isinstance(exc, ProviderResponseError)):
            self.path.breakers.failed(prepared.route.key)

    async def _abandon(
        self,
        prepared: PreparedCall,
        upstream: AsyncIterator[StreamEvent] | None,
        received: int,
        ttft_ms: int | None,
        reason: ProviderError,
    ) -> None:
        record = self.recorder.failed(
            prepared, reason, received=received, ttft_ms=ttft_ms, streamed=True, estimate=True
        )
        if upstream is not None:
            with contextlib.suppress(Exception):  # a dead upstream must not keep the call unrecorded
                await _close(upstream)
        with contextlib.suppress(Exception):  # failures are logged by the record itself
            await record


async def _replay(answer: CachedAnswer) -> AsyncIterator[StreamEvent]:
    """A cached answer as a stream: its text in one delta, then its end."""
    if answer.content:
        yield TextDelta(answer.content)
    yield StreamEnd(finish_reason=answer.finish_reason, usage=answer.usage, provider_model=answer.provider_model)


async def _close(upstream: AsyncIterator[Any]) -> None:
    closer = getattr(upstream, "aclose", None)
    if closer is not None:
        await closer()
