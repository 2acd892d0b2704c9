"""A cheap HTTP/1.1 load generator: raw asyncio streams, pre-built requests, keep-alive.

One connection per concurrent worker; a worker sends its request, reads the answer
(``content-length`` or chunked), records status, latency and, for streams, the time to
the first chunk holding the first token's marker, then sends the next. It is several
times cheaper per request than aiohttp's client, so at the gateway's rates it takes
little of its core, and for the direct upstream it is the bottleneck (say so when
reading those figures).

A phase runs its workers for a warm-up, then a measured window: the latencies of the
requests that end inside it, and their number over its length.
Callbacks at the window's edges let the caller snapshot CPU counters exactly there.
"""

import asyncio
import contextlib
import re
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

_CALL_ID = re.compile(rb'"call_id":"([0-9a-f-]{36})"')
REQUEST_TIMEOUT_S = 30.0


@dataclass(frozen=True, slots=True)
class Target:
    """What one request is: where to send it and how to read its answer."""

    port: int
    request: bytes
    marker: bytes | None = None  # streamed: the first token's bytes, for time to first token
    call_ids: bool = False  # collect the gateway's call ids (a stream counts only when it ended with `done`)

    @classmethod
    def post(
        cls,
        port: int,
        path: str,
        body: bytes,
        headers: dict[str, str] | None = None,
        *,
        marker: bytes | None = None,
        call_ids: bool = False,
    ) -> "Target":
        lines = [f"POST {path} HTTP/1.1", f"host: 127.0.0.1:{port}", "content-type: application/json"]
        lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
        lines.append(f"content-length: {len(body)}")
        request = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body
        return cls(port=port, request=request, marker=marker, call_ids=call_ids)


@dataclass(slots=True)
class Answer:
    status: int
    body: bytes
    ttft_s: float | None
    total_s: float
    keep_alive: bool


class Connection:
    def __init__(self, port: int) -> None:
        self.port = port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def open(self) -> None:
        self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port, limit=1 << 20)

    def abort(self) -> None:
        if self.writer is not None:
            self.writer.transport.abort()
        self.reader = self.writer = None

    async def send(self, request: bytes) -> float:
        if self.writer is None:
            await self.open()
        assert self.writer is not None
        started = time.perf_counter()
        self.writer.write(request)
        return started

    async def read(self, started: float, marker: bytes | None, stop_at_marker: bool = False) -> Answer:
        reader = self.reader
        assert reader is not None
        head = await reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        lowered = head.lower()
        keep_alive = b"\r\nconnection: close" not in lowered
        ttft: float | None = None
        at = lowered.find(b"\r\ncontent-length:")
        if at >= 0:
            end = lowered.index(b"\r\n", at + 2)
            body = await reader.readexactly(int(lowered[at + 17 : end]))
            if marker is not None and marker in body:
                ttft = time.perf_counter() - started
        elif b"\r\ntransfer-encoding: chunked" in lowered:
            parts: list[bytes] = []
            tail = b""
            while True:
                size = int((await reader.readuntil(b"\r\n")).split(b";", 1)[0], 16)
                if size == 0:
                    await reader.readuntil(b"\r\n")
                    break
                data = (await reader.readexactly(size + 2))[:-2]
                parts.append(data)
                if ttft is None and marker is not None:
                    if marker in tail + data:
                        ttft = time.perf_counter() - started
                        if stop_at_marker:
                            return Answer(status, b"".join(parts), ttft, ttft, False)
                    tail = data[-len(marker) :]
            body = b"".join(parts)
        else:
            body = await reader.read()
            keep_alive = False
        total = time.perf_counter() - started
        return Answer(status, body, ttft, total, keep_alive)

    async def request(self, request: bytes, marker: bytes | None) -> Answer:
        started = await self.send(request)
        answer = await self.read(started, marker)
        if not answer.keep_alive:
            self.abort()
        return answer


@dataclass
class Phase:
    """What one measured window saw."""

    seconds: float = 0.0
    latencies_ms: list[float] = field(default_factory=list)
    ttfts_ms: list[float] = field(default_factory=list)
    completed: int = 0  # answered 200 inside the window
    statuses: dict[int, int] = field(default_factory=dict)  # non-200 answers, whole phase
    errors: dict[str, int] = field(default_factory=dict)  # exceptions by type, whole phase
    call_ids: list[str] = field(default_factory=list)  # every 200's call id, warm-up included
    edges: dict[str, Any] = field(default_factory=dict)  # what the edge callbacks returned

    def summary(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "n": len(self.latencies_ms),
            "seconds": round(self.seconds, 3),
            "rps": round(self.completed / self.seconds, 1) if self.seconds else 0.0,
            "p50_ms": _round(_median(self.latencies_ms)),
            "p99_ms": _round(percentile(self.latencies_ms, 0.99)),
            "non_200": dict(self.statuses),
            "errors": dict(self.errors),
        }
        if self.ttfts_ms:
            out["ttft_p50_ms"] = _round(_median(self.ttfts_ms))
            out["ttft_p99_ms"] = _round(percentile(self.ttfts_ms, 0.99))
        return out

    @property
    def error_count(self) -> int:
        return sum(self.statuses.values()) + sum(self.errors.values())


def _median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def run_phase(
    target: Target,
    *,
    concurrency: int,
    seconds: float,
    warmup_s: float = 1.0,
    max_requests: int = 0,
    on_start: Callable[[], Any] | None = None,
    on_end: Callable[[], Any] | None = None,
) -> Phase:
    """``concurrency`` workers for ``warmup_s`` then ``seconds`` (or ``max_requests`` measured)."""
    phase = Phase()
    state = {"recording": False, "stop": False, "window_start": 0.0, "window_end": float("inf"), "left": max_requests}
    window_full = asyncio.Event()

    async def worker() -> None:
        connection = Connection(target.port)
        try:
            while not state["stop"]:
                try:
                    async with asyncio.timeout(REQUEST_TIMEOUT_S):
                        answer = await connection.request(target.request, target.marker)
                except Exception as exc:  # noqa: BLE001 - every failure is counted, then the next request
                    name = type(exc).__name__
                    phase.errors[name] = phase.errors.get(name, 0) + 1
                    connection.abort()
                    await asyncio.sleep(0.01)
                    continue
                ended = time.perf_counter()
                if answer.status != 200:
                    phase.statuses[answer.status] = phase.statuses.get(answer.status, 0) + 1
                    continue
                if target.call_ids:
                    match = _CALL_ID.search(answer.body)
                    if match and (target.marker is None or b"event: done" in answer.body):
                        phase.call_ids.append(match.group(1).decode())
                if state["recording"] and ended <= state["window_end"]:
                    # every answer completed in the window (as wrk counts): at high concurrency
                    # on a slow server few would both start and end inside it
                    phase.completed += 1
                    phase.latencies_ms.append(answer.total_s * 1000)
                    if answer.ttft_s is not None:
                        phase.ttfts_ms.append(answer.ttft_s * 1000)
                    if max_requests:
                        state["left"] -= 1
                        if state["left"] <= 0:
                            window_full.set()
        finally:
            connection.abort()

    workers = [asyncio.create_task(worker()) for _ in range(concurrency)]
    try:
        await asyncio.sleep(warmup_s)
        phase.edges["start"] = on_start() if on_start else None
        state["window_start"] = time.perf_counter()
        state["recording"] = True
        if max_requests:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(window_full.wait(), seconds)
        else:
            await asyncio.sleep(seconds)
        state["window_end"] = end = time.perf_counter()
        phase.edges["end"] = on_end() if on_end else None
        phase.seconds = end - state["window_start"]
        state["stop"] = True
        await asyncio.wait(workers, timeout=REQUEST_TIMEOUT_S)
    finally:
        for task in workers:
            task.cancel()
        await asyncio.gather(*workers, return_exceptions=True)
    return phase


async def hold_streams(
    target: Target, count: int, timeout_s: float, stall_s: float = 5.0
) -> tuple[list[Connection], int, float]:
    """Open ``count`` streams and read each up to its first token; returns them still open.

    (connections, how many reached their first token, seconds until the last one did)
    """
    assert target.marker is not None
    marker = target.marker
    connections = [Connection(target.port) for _ in range(count)]
    reached = 0
    started = time.perf_counter()

    async def one(connection: Connection) -> None:
        nonlocal reached
        try:
            sent = await connection.send(target.request)
            answer = await connection.read(sent, marker, stop_at_marker=True)
            if answer.status == 200 and answer.ttft_s is not None:
                reached += 1
        except (OSError, asyncio.IncompleteReadError, ValueError):
            connection.abort()

    tasks: list[asyncio.Task[None]] = []
    for index, connection in enumerate(connections):
        tasks.append(asyncio.create_task(one(connection)))
        if index % 100 == 99:
            await asyncio.sleep(0.05)  # do not overflow the listen backlog
    # until every stream has its first token or is done, or no new one came for stall_s
    last, last_change = -1, time.perf_counter()
    while time.perf_counter() - started < timeout_s and not all(task.done() for task in tasks):
        if reached != last:
            last, last_change = reached, time.perf_counter()
        elif time.perf_counter() - last_change > stall_s:
            break
        await asyncio.sleep(0.1)
    took = time.perf_counter() - started
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    return connections, reached, took


async def wait_ready(
    port: int, path: str, timeout_s: float, *, interval_s: float = 0.005, alive: Callable[[], bool] = lambda: True
) -> float:
    """Seconds until ``GET path`` answers 200 (polling every ``interval_s``, while ``alive()``)."""
    started = time.perf_counter()
    request = f"GET {path} HTTP/1.1\r\nhost: 127.0.0.1:{port}\r\n\r\n".encode()
    while time.perf_counter() - started < timeout_s and alive():
        connection = Connection(port)
        try:
            async with asyncio.timeout(5):
                answer = await connection.request(request, None)
            if answer.status == 200:
                return time.perf_counter() - started
        except (OSError, asyncio.IncompleteReadError, TimeoutError, ValueError):
            pass
        finally:
            connection.abort()
        await asyncio.sleep(interval_s)
    raise RuntimeError(f"127.0.0.1:{port}{path} did not answer 200 within {timeout_s} s (or its process ended)")
