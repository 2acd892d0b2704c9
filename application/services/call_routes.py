"""Trying a call's routes in order until one answers (fallbacks, issue 12).

The plain call and the stream share it: up to the provider's first answer nothing has
reached the client, so a failed route may hand the call to the next one; the last
failure is recorded and raised.
"""

from collections.abc import Awaitable, Callable
from typing import TypeVar

from application.errors import ProviderError
from application.services.call_preparation import PreparedCall
from application.services.call_recording import CallRecorder

T = TypeVar("T")


async def first_answer(
    prepared: PreparedCall,
    ask: Callable[[], Awaitable[T]],
    *,
    recorder: CallRecorder,
    streamed: bool,
) -> T:
    """``ask()`` at the current route, then at the next ones while the error allows a
    fallback; a ``ProviderError`` that ends the call is recorded as its outcome, then raised."""
    while True:
        try:
            return await ask()
        except ProviderError as exc:
            if prepared.fall_back(exc, recorder.path.breakers):
                continue
            await recorder.failed(prepared, exc, streamed=streamed)
            raise
