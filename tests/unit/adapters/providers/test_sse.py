"""SSE parsing: events come out the same wherever the network splits the bytes, CRLF or LF."""

from collections.abc import AsyncIterator

import httpx
from hypothesis import given
from hypothesis import strategies as st

from adapters.providers._sse import aiter_events

EVENTS = [
    ("message_start", '{"type":"message_start","message":{"usage":{"input_tokens":20}}}     '),
    ("content_block_delta", '{"type":"content_block_delta","delta":{"type":"text_delta","text":"é 🚀 ü"}}'),
    ("ping", '{"type": "ping"}'),
    ("message", '{"candidates": [{"content": {"parts": [{"text": "line\\nbreak"}]}}]}'),
    ("message", "[DONE]"),
]


def encode(newline: str) -> bytes:
    text = ""
    for name, data in EVENTS:
        if name != "message":
            text += f"event: {name}{newline}"
        text += f"data: {data}{newline}{newline}"
    return text.encode()


def response(body: bytes, cuts: list[int]) -> httpx.Response:
    positions = sorted({min(cut, len(body)) for cut in cuts})

    async def pieces() -> AsyncIterator[bytes]:
        start = 0
        for end in [*positions, len(body)]:
            if end > start:
                yield body[start:end]
                start = end

    return httpx.Response(200, headers={"content-type": "text/event-stream"}, content=pieces())


async def parse(body: bytes, cuts: list[int]) -> list[tuple[str, str]]:
    return [(event.event, event.data) async for event in aiter_events(response(body, cuts))]


@given(
    newline=st.sampled_from(["\n", "\r\n", "\r"]), cuts=st.lists(st.integers(min_value=0, max_value=600), max_size=40)
)
async def test_events_do_not_depend_on_where_the_bytes_are_split(newline: str, cuts: list[int]) -> None:
    assert await parse(encode(newline), cuts) == EVENTS


async def test_gemini_crlf_framing_split_between_cr_and_lf() -> None:
    body = b'data: {"a": 1}\r\n\r\ndata: {"b": 2}\r\n\r\n'
    cut = body.index(b"\r\n\r\n") + 1  # right between \r and \n
    assert await parse(body, [cut, cut + 1, cut + 2]) == [("message", '{"a": 1}'), ("message", '{"b": 2}')]


async def test_comments_are_skipped_and_an_unfinished_last_event_is_dropped() -> None:
    body = b': keep-alive\n\ndata: {"a": 1}\n\ndata: {"cut": '
    assert await parse(body, []) == [("message", '{"a": 1}')]


async def test_multi_line_data_is_joined_with_newlines() -> None:
    assert await parse(b"data: one\ndata: two\n\n", [5]) == [("message", "one\ntwo")]
