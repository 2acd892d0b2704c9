"""The webhook sender against hostile receivers on 127.0.0.1, over real TCP: one total
deadline per delivery, a bounded read of the answer, and no connection the address
policy refuses."""

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

import pytest

from adapters.webhooks import HttpWebhookSender
from application.ports.webhooks import WebhookResponse
from domain.outbound import AddressPolicy
from tests.support.listening import listening

Behaviour = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]
NO_PRIVATE = AddressPolicy(require_https=False, allow_private=False)
BODY = b'{"event": "job.completed"}'


@dataclass
class Receiver:
    url: str
    connections: int = 0


@contextlib.asynccontextmanager
async def receiver(behaviour: Behaviour) -> AsyncIterator[Receiver]:
    state = Receiver(url="")

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        state.connections += 1
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            length = next(
                (
                    int(line.split(b":", 1)[1])
                    for line in head.split(b"\r\n")
                    if line.lower().startswith(b"content-length")
                ),
                0,
            )
            await reader.readexactly(length)
            await behaviour(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.CancelledError):
            pass
        finally:
            writer.close()

    async with listening(handle) as state.url:
        yield state


async def dripping_body(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 1000000\r\n\r\n")
    while True:  # a byte every 50 ms: never a gap long enough for a per-read timeout
        writer.write(b"x")
        await writer.drain()
        await asyncio.sleep(0.05)


async def dripping_head(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    for byte in b"HTTP/1.1 200 OK\r\nx-padding: " + b"y" * 10_000:
        writer.write(bytes([byte]))
        await writer.drain()
        await asyncio.sleep(0.05)


async def endless_body(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    writer.write(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n")
    chunk = b"%x\r\n%s\r\n" % (16384, b"z" * 16384)
    while True:  # as fast as the socket takes it, forever
        writer.write(chunk)
        await writer.drain()


async def send(sender: HttpWebhookSender, url: str) -> tuple[float, WebhookResponse]:
    started = time.monotonic()
    # The outer bound only keeps a broken sender from hanging the suite.
    response = await asyncio.wait_for(sender.send(url, body=BODY, headers={}), timeout=10)
    return time.monotonic() - started, response


async def deliver(sender: HttpWebhookSender, behaviour: Behaviour) -> tuple[float, WebhookResponse]:
    """One send to a receiver that behaves so, then the sender closed; how long it took and what came back."""
    try:
        async with receiver(behaviour) as hook:
            return await send(sender, hook.url)
    finally:
        await sender.aclose()


@pytest.mark.parametrize("behaviour", [dripping_body, dripping_head], ids=["dripping-body", "dripping-head"])
async def test_slow_drip_receiver_is_cut_at_the_deadline(behaviour: Behaviour) -> None:
    elapsed, response = await deliver(HttpWebhookSender(timeout_s=0.5), behaviour)
    assert response == WebhookResponse(status_code=None, error="timed out")
    assert 0.45 <= elapsed < 2.0


async def test_an_endless_answer_is_read_only_up_to_the_bound() -> None:
    elapsed, response = await deliver(HttpWebhookSender(timeout_s=5.0, max_response_bytes=64 * 1024), endless_body)
    assert response.status_code == 200
    assert elapsed < 2.0  # long before the deadline: it stopped reading, it did not drain


async def test_a_receiver_answering_at_once_is_delivered() -> None:
    async def ok(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"HTTP/1.1 204 No Content\r\ncontent-length: 0\r\n\r\n")
        await writer.drain()

    _, response = await deliver(HttpWebhookSender(timeout_s=2.0), ok)
    assert response.status_code == 204


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
async def test_a_receiver_on_a_refused_address_is_never_connected_to(host: str) -> None:
    async def ok(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")
        await writer.drain()

    sender = HttpWebhookSender(timeout_s=2.0, policy=NO_PRIVATE)
    try:
        async with receiver(ok) as hook:
            _, response = await send(sender, hook.url.replace("127.0.0.1", host))
            assert hook.connections == 0
    finally:
        await sender.aclose()
    assert response == WebhookResponse(
        status_code=None, error="refused: the endpoint resolves to a loopback address", refused=True
    )
