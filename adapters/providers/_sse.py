"""Incremental Server-Sent Events parsing, over ``httpx-sse``.

``httpx-sse`` decodes the byte stream as it arrives (its line buffer holds at most one
unfinished line, so memory stays flat whatever the stream's length), treats ``\\r\\n``,
``\\r`` and ``\\n`` alike (Gemini separates events with CRLF) and follows the WHATWG
event-stream rules: ``event:``/``data:`` fields, ``:`` comments, an event dispatched on
its blank line, an unfinished last event dropped. It raises ``SSEError`` (an
``httpx.TransportError``) only when a 2xx answer is not ``text/event-stream``; the engine
maps that to a malformed-response error, not a transport failure.
"""

from collections.abc import AsyncGenerator

import httpx
from httpx_sse import EventSource, ServerSentEvent, SSEError

__all__ = ["SSEError", "ServerSentEvent", "aiter_events"]


def aiter_events(response: httpx.Response) -> AsyncGenerator[ServerSentEvent, None]:
    """The events of an open streamed response, parsed as the bytes arrive.

    Close the generator (``aclose``) when stopping early; the response itself is closed
    by whoever opened it.
    """
    return EventSource(response).aiter_sse()
