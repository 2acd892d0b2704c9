"""Server and client by measurement: the ASGI server that serves the app, the httpx transport.

1. **Clients** (this process on core 0, ``benchmarks.upstream`` on core 1): a POST of a
   chat completion (small JSON answer) and a 20-chunk stream read to the end, at
   concurrency 1 and 32, with plain ``httpx.AsyncClient`` (httpx's own transport),
   ``httpx.AsyncClient(transport=httpx_aiohttp.AiohttpTransport())``, the gateway's own
   client (``create_http_client``: the aiohttp transport under the address guard), and
   raw aiohttp for reference. CPU per request is this process's CPU time over the window.
2. **Servers** (the app pinned to core 0 with its Postgres; upstream and load generator on
   core 1, as in ``make bench``): the same app, ``entrypoints.http.app:app_from_environment``,
   under uvicorn (uvloop + httptools, what ``saasllm serve`` runs) and under granian
   (``--interface asgi --loop uvloop``, installed into ``.data/bench-tools``, not a project
   dependency), on ``GET /health`` and on ``POST /api/jobs/{id}/llm-call``.

Run with ``python -m benchmarks.transports`` (``make bench-transports``). Environment:
BENCH_SECONDS (4 per window), BENCH_SERVERS (1; 0 skips part 2), BENCH_ROUNDS (2 rounds of
both servers, alternated), BENCH_GRANIAN_ARGS (extra granian options), BENCH_LOG_LEVEL.
"""

import asyncio
import contextlib
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import httpx
import msgspec
from httpx_aiohttp import AiohttpTransport

from adapters.providers._http import Timeouts, create_http_client
from benchmarks import procs
from benchmarks.bench import (
    DATA,
    LOAD_CPUS,
    SUT_CPUS,
    Config,
    Recorder,
    Rig,
    Server,
    event_loop_runner,
    free_port,
    gateway_requests,
    log,
    postgres_cpu,
)

TOOLS = DATA / "bench-tools"
BODY = msgspec.json.encode(
    {"model": "gpt-bench", "messages": [{"role": "user", "content": "Say hello in five words."}], "max_tokens": 32}
)
STREAM_BODY = msgspec.json.encode(
    {"model": "gpt-bench", "messages": [{"role": "user", "content": "Hi"}], "stream": True, "max_tokens": 32}
)
HEADERS = {"authorization": "Bearer sk-bench-upstream", "content-type": "application/json"}


# -- 1. clients ---------------------------------------------------------------------------

Send = Callable[[bool], Awaitable[None]]


@contextlib.asynccontextmanager
async def client(kind: str, url: str) -> AsyncIterator[Send]:
    limits = httpx.Limits(max_connections=100, max_keepalive_connections=100, keepalive_expiry=30)
    if kind == "aiohttp (raw)":
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=100)) as session:

            async def send_raw(stream: bool) -> None:
                async with session.post(url, data=STREAM_BODY if stream else BODY, headers=HEADERS) as response:
                    if stream:
                        async for _ in response.content.iter_any():
                            pass
                    else:
                        await response.read()
                    assert response.status == 200

            yield send_raw
        return
    if kind == "httpx":
        http = httpx.AsyncClient(limits=limits)
    elif kind == "httpx + AiohttpTransport":
        http = httpx.AsyncClient(transport=AiohttpTransport(limits=limits))
    else:  # the gateway's own client: aiohttp transport under the address guard
        http = create_http_client(timeouts=Timeouts.from_setting(30), transport="aiohttp")
    async with http:

        async def send(stream: bool) -> None:
            if stream:
                async with http.stream("POST", url, content=STREAM_BODY, headers=HEADERS) as response:
                    async for _ in response.aiter_bytes():
                        pass
            else:
                response = await http.post(url, content=BODY, headers=HEADERS)
                response.read()
            assert response.status_code == 200

        yield send


async def client_window(send: Send, stream: bool, concurrency: int, seconds: float) -> dict[str, float]:
    latencies: list[float] = []
    stop = False

    async def worker() -> None:
        while not stop:
            started = time.perf_counter()
            await send(stream)
            latencies.append((time.perf_counter() - started) * 1000)

    for _ in range(50):
        await send(stream)
    cpu0, wall0 = time.process_time(), time.perf_counter()
    tasks = [asyncio.create_task(worker()) for _ in range(concurrency)]
    await asyncio.sleep(seconds)
    stop = True
    await asyncio.gather(*tasks)
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    return {
        "rps": round(len(latencies) / wall, 1),
        "p50_ms": round(statistics.median(latencies), 3),
        "cpu_ms_per_request": round(cpu * 1000 / len(latencies), 3),
    }


async def clients(seconds: float) -> dict[str, Any]:
    cpus = LOAD_CPUS if procs.cpu_count() >= 2 else None
    upstream = procs.popen([sys.executable, "-m", "benchmarks.upstream"], cpus, stdout=subprocess.PIPE)
    try:
        assert upstream.stdout is not None
        url = upstream.stdout.readline().decode().strip().removeprefix("listening on ") + "/v1/chat/completions"
        results: dict[str, Any] = {}
        for kind in ("httpx", "httpx + AiohttpTransport", "gateway client (guarded aiohttp)", "aiohttp (raw)"):
            async with client(kind, url) as send:
                row = {
                    "c1": await client_window(send, False, 1, seconds),
                    "c32": await client_window(send, False, 32, seconds),
                    "stream_c32": await client_window(send, True, 32, seconds),
                }
            results[kind] = row
            log(f"  {kind:<34} {row}")
        return results
    finally:
        procs.stop(upstream)


# -- 2. servers ---------------------------------------------------------------------------


def granian_command() -> list[str]:
    if not (TOOLS / "granian").exists():
        log(f"installing granian into {TOOLS} (bench only, not a project dependency)")
        pip = [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
        subprocess.run([*pip, "--target", str(TOOLS), "granian"], check=True, timeout=600)  # noqa: S603
    # appended, not prepended: the project's own packages (click…) win over the tool's copies
    launcher = (
        f"import sys; sys.path.append({str(TOOLS)!r}); sys.argv[0] = 'granian'; "
        "from granian.cli import entrypoint; entrypoint()"
    )
    return [sys.executable, "-c", launcher, "--interface", "asgi", "--loop", "uvloop", "--http", "1"]


@contextlib.asynccontextmanager
async def serve(rig: Rig, server: str, cpus: set[int] | None) -> AsyncIterator[Server]:
    port = free_port()
    env = {**rig.env, "PORT": str(port), "HOST": "127.0.0.1"}
    app = "entrypoints.http.app:app_from_environment"
    if server == "uvicorn":
        command = [sys.executable, "-m", "entrypoints.cli", "serve"]
    else:
        command = [*granian_command(), "--host", "127.0.0.1", "--port", str(port), "--workers", "1"]
        command += ["--no-ws", "--log-level", "warning", "--no-access-log", "--factory"]
        command += [*os.environ.get("BENCH_GRANIAN_ARGS", "").split(), app]
    async with Server.start(command, env, port, "/health", server, cpus) as running:
        yield running


async def servers(config: Config) -> dict[str, Any]:
    """Both servers, alternated for ``BENCH_ROUNDS`` rounds (a busy machine drifts: A B A B)."""
    from benchmarks.loadgen import Target

    recorder = Recorder(config)
    rounds = int(os.environ.get("BENCH_ROUNDS", "2"))
    results: dict[str, Any] = {"rounds": {name: [] for name in SERVERS}}
    async with Rig(config) as rig:
        cpus = SUT_CPUS if config.pinned else None
        pg = postgres_cpu(rig)
        for round_ in range(rounds):
            for server in SERVERS:
                async with serve(rig, server, cpus) as running:
                    if not rig.job_id:
                        rig.job_id = await rig._create_job(running.port)
                    get = f"GET /health HTTP/1.1\r\nhost: 127.0.0.1:{running.port}\r\n\r\n".encode()
                    health = Target(port=running.port, request=get)
                    call = gateway_requests(rig, running.port).plain
                    cpu = {"app": running.cpu_s, **pg}
                    label = f"{server} (round {round_ + 1})"
                    results["rounds"][server].append(
                        {
                            "cold_start_ms": round(running.cold_start_ms, 1),
                            "rss_idle_kb": running.rss_kb(),
                            "health_c1": await recorder.phase(f"{label} /health c=1", health, 1, cpu=cpu),
                            "health_c32": await recorder.phase(f"{label} /health c=32", health, 32, cpu=cpu),
                            "call_c1": await recorder.phase(f"{label} llm-call c=1", call, 1, cpu=cpu),
                            "call_c32": await recorder.phase(f"{label} llm-call c=32", call, 32, cpu=cpu),
                        }
                    )
    results["errors"] = recorder.errors
    return results


SERVERS = ("uvicorn", "granian")


def report(results: dict[str, Any]) -> str:
    lines = ["HTTP client → benchmarks.upstream (client on core 0, upstream on core 1):"]
    lines.append(
        f"  {'client':<34} {'c=1 p50 ms':>10} {'c=32 req/s':>11} {'CPU ms/req':>11}"
        f" {'stream c=32 /s':>15} {'CPU ms/stream':>14}"
    )
    for kind, row in results["clients"].items():
        c1, c32, stream = row["c1"], row["c32"], row["stream_c32"]
        lines.append(
            f"  {kind:<34} {c1['p50_ms']:>10.3f} {c32['rps']:>11,.0f} {c32['cpu_ms_per_request']:>11.3f}"
            f" {stream['rps']:>15,.0f} {stream['cpu_ms_per_request']:>14.3f}"
        )
    if "servers" in results:
        lines.append("ASGI server serving the app (app + Postgres on core 0; rounds alternate the servers):")
        lines.append(
            f"  {'server':<19} {'cold ms':>8} {'RSS MB':>7} {'/health c=1 p50':>16} {'/health c=32 /s':>16}"
            f" {'call c=1 p50':>13} {'call c=32 /s':>13} {'call CPU ms app+pg':>19}"
        )
        for server, rows in results["servers"]["rounds"].items():
            for index, row in enumerate(rows):
                c32 = row["call_c32"]
                lines.append(
                    f"  {server + f' (round {index + 1})':<19} {row['cold_start_ms']:>8,.0f}"
                    f" {row['rss_idle_kb'] / 1024:>7.1f} {row['health_c1']['p50_ms']:>16.3f}"
                    f" {row['health_c32']['rps']:>16,.0f} {row['call_c1']['p50_ms']:>13.3f} {c32['rps']:>13,.0f}"
                    f" {c32.get('cpu_ms_per_call_app', 0):>10.2f} + {c32.get('cpu_ms_per_call_postgres', 0):.2f}"
                )
        lines.append(f"  errors: {results['servers']['errors']}")
    lines.append(f"loadavg {results['loadavg_start']} → {results['loadavg_end']}")
    return "\n".join(lines)


async def run(config: Config) -> dict[str, Any]:
    results: dict[str, Any] = {"loadavg_start": [round(x, 2) for x in os.getloadavg()]}
    seconds = config.seconds
    if procs.cpu_count() >= 2:
        os.sched_setaffinity(0, SUT_CPUS)
    log("clients")
    results["clients"] = await clients(seconds)
    if os.environ.get("BENCH_SERVERS", "1") == "1":
        log("servers")
        results["servers"] = await servers(config)
    results["loadavg_end"] = [round(x, 2) for x in os.getloadavg()]
    return results


def main() -> None:
    os.environ.setdefault("BENCH_SECONDS", "4")
    config = Config()
    results = event_loop_runner()(run(config))
    out = Path(__file__).parent / "results" / "transports.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(report(results))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
