"""The benchmark's upstream: a raw-asyncio OpenAI-compatible server, pre-rendered answers.

Cheaper than ``tests.support.fake_provider`` (which scripts faults and records every
request): it answers ``POST …/chat/completions`` from bytes rendered once per model name,
so the direct figures measure the loopback and the load generator, not this server.

- ``"stream": true`` in the body: an SSE stream of ``--chunks`` content chunks
  (``tok0``, `` tok1``…), the finish chunk, a usage chunk (as with
  ``stream_options.include_usage``) and ``data: [DONE]``, all in one write;
- a model name containing ``slow`` and streamed: the head and the first chunk at once,
  then one chunk every ``--slow-interval`` seconds until ``--slow-seconds`` have passed
  or the client goes away (so a thousand streams can be held open cheaply);
- anything else: one ``chat.completion`` JSON answer with usage.

``python -m benchmarks.upstream --port N`` prints ``listening on http://127.0.0.1:N``.
"""

import argparse
import asyncio
import contextlib
import re

import msgspec
import uvloop  # comes with uvicorn[standard]

FIRST_TOKEN = "tok0"  # noqa: S105 - not a secret: the load generator's time-to-first-token marker
_MODEL = re.compile(rb'"model"\s*:\s*"([^"]{1,200})"')
_STREAM = re.compile(rb'"stream"\s*:\s*true')
USAGE = {"prompt_tokens": 12, "completion_tokens": 8, "total_tokens": 20}


def _head(length: int | None, content_type: bytes) -> bytes:
    size = b"content-length: %d" % length if length is not None else b"transfer-encoding: chunked"
    return b"HTTP/1.1 200 OK\r\ncontent-type: " + content_type + b"\r\n" + size + b"\r\n\r\n"


def _chunk(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


def _sse(value: object) -> bytes:
    return _chunk(b"data: " + msgspec.json.encode(value) + b"\n\n")


class Rendered:
    """The bytes of every answer for one model name."""

    def __init__(self, model: str, chunks: int) -> None:
        base = {"id": "chatcmpl-bench", "created": 1_700_000_000, "model": model}
        words = [FIRST_TOKEN] + [f" tok{i}" for i in range(1, chunks)]
        body = msgspec.json.encode(
            {
                **base,
                "object": "chat.completion",
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": "".join(words)},
                        "finish_reason": "stop",
                    }
                ],
                "usage": USAGE,
            }
        )
        self.json = _head(len(body), b"application/json") + body

        def delta(content: str, first: bool = False) -> bytes:
            part = {"role": "assistant", "content": content} if first else {"content": content}
            return _sse(
                {
                    **base,
                    "object": "chat.completion.chunk",
                    "choices": [{"index": 0, "delta": part, "finish_reason": None}],
                }
            )

        self.stream_head = _head(None, b"text/event-stream") + delta(words[0], first=True)
        self.deltas = [delta(word) for word in words[1:]]
        finish = {**base, "object": "chat.completion.chunk"}
        self.stream_tail = (
            _sse({**finish, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
            + _sse({**finish, "choices": [], "usage": USAGE})
            + _chunk(b"data: [DONE]\n\n")
            + b"0\r\n\r\n"
        )
        self.stream = self.stream_head + b"".join(self.deltas) + self.stream_tail


class Upstream:
    def __init__(self, chunks: int, slow_interval_s: float, slow_seconds: float) -> None:
        self.chunks = chunks
        self.slow_interval_s = slow_interval_s
        self.slow_seconds = slow_seconds
        self.rendered: dict[bytes, Rendered] = {}

    def render(self, model: bytes) -> Rendered:
        rendered = self.rendered.get(model)
        if rendered is None:
            rendered = self.rendered[model] = Rendered(model.decode(), self.chunks)
        return rendered

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                lowered = head.lower()
                at = lowered.find(b"\r\ncontent-length:")
                if at >= 0:
                    end = lowered.index(b"\r\n", at + 2)
                    length = int(lowered[at + 17 : end])
                body = await reader.readexactly(length) if length else b""
                if not head.startswith(b"POST"):
                    writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
                    continue
                match = _MODEL.search(body)
                model = match.group(1) if match else b"bench"
                rendered = self.render(model)
                if not _STREAM.search(body):
                    writer.write(rendered.json)
                elif b"slow" in model:
                    await self.slow(rendered, reader, writer)
                else:
                    writer.write(rendered.stream)
                    await writer.drain()
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError, ValueError):
            pass
        finally:
            writer.close()

    async def slow(self, rendered: Rendered, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(rendered.stream_head)
        await writer.drain()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.slow_seconds
        index = 0
        while loop.time() < deadline:
            await asyncio.sleep(self.slow_interval_s)
            if writer.is_closing() or reader.at_eof():
                raise ConnectionError("client gone")
            writer.write(rendered.deltas[index % len(rendered.deltas)] if rendered.deltas else b"")
            index += 1
            await writer.drain()
        writer.write(rendered.stream_tail)
        await writer.drain()


async def serve(port: int, chunks: int, slow_interval_s: float, slow_seconds: float) -> None:
    upstream = Upstream(chunks, slow_interval_s, slow_seconds)
    server = await asyncio.start_server(upstream.serve, "127.0.0.1", port, backlog=4096)
    print(f"listening on http://127.0.0.1:{server.sockets[0].getsockname()[1]}", flush=True)
    async with server:
        await server.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--chunks", type=int, default=20, help="content chunks of a stream")
    parser.add_argument("--slow-interval", type=float, default=1.0, help="seconds between chunks of a slow stream")
    parser.add_argument("--slow-seconds", type=float, default=120.0, help="length of a slow stream")
    args = parser.parse_args()
    with contextlib.suppress(KeyboardInterrupt):
        uvloop.run(serve(args.port, args.chunks, args.slow_interval, args.slow_seconds))


if __name__ == "__main__":
    main()
