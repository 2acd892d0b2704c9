# ruff: noqa: ASYNC220, SIM117
"""The per-call hot path: the gateway's added latency and throughput over a direct call.

Three processes, all on 127.0.0.1: the fake provider upstream, the gateway (`saasllm
serve` on Postgres), and this load generator (aiohttp, so the client costs little).

1. direct:  POST upstream /v1/chat/completions               (what calling OpenAI costs)
2. gateway: POST /api/jobs/{id}/llm-call → upstream           (auth, alias, hold, call, settle, record)

Run with `make bench` (all benchmarks) or `python -m benchmarks.hot_path`.
Environment: BENCH_DATABASE_URL (default: an embedded Postgres under .data/bench-pg),
BENCH_REQUESTS (default 400 at concurrency 1), BENCH_SECONDS (default 8 at concurrency 32).
"""

import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp

from benchmarks.seeding import seed_bench_team

ROOT = Path(__file__).resolve().parents[1]
BODY = {"model": "bench", "messages": [{"role": "user", "content": "Say hello in five words."}], "max_tokens": 32}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def database_url() -> str:
    url = os.environ.get("BENCH_DATABASE_URL")
    if url:
        return url
    import pgserver

    (ROOT / ".data").mkdir(exist_ok=True)  # a fresh clone has no .data yet
    server = pgserver.get_server(str(ROOT / ".data" / "bench-pg"), cleanup_mode=None)
    return str(server.get_uri())


async def wait_http(url: str, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    async with aiohttp.ClientSession() as session:
        while time.monotonic() < deadline:
            try:
                async with session.get(url) as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)
    raise RuntimeError(f"{url} did not come up")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def measure(
    send: Callable[[aiohttp.ClientSession], Awaitable[None]], *, concurrency: int, requests: int = 0, seconds: float = 0
) -> dict[str, float]:
    latencies: list[float] = []
    connector = aiohttp.TCPConnector(limit=concurrency * 2)
    async with aiohttp.ClientSession(connector=connector) as session:
        for _ in range(20):  # warm up connections and caches
            await send(session)
        started = time.perf_counter()
        deadline = started + seconds if seconds else None
        counter = {"left": requests}

        async def worker() -> None:
            while True:
                if deadline is not None and time.perf_counter() >= deadline:
                    return
                if deadline is None:
                    if counter["left"] <= 0:
                        return
                    counter["left"] -= 1
                t0 = time.perf_counter()
                await send(session)
                latencies.append((time.perf_counter() - t0) * 1000)

        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    return {
        "n": len(latencies),
        "p50_ms": round(statistics.median(latencies), 3),
        "p99_ms": round(percentile(latencies, 0.99), 3),
        "rps": round(len(latencies) / elapsed, 1),
    }


async def seed(settings_env: dict[str, str], upstream_url: str) -> tuple[str, str]:
    """An organization, a team with plenty of credits, the `bench` alias on the fake upstream."""
    return await seed_bench_team(
        settings_env,
        upstream_url,
        organization=f"bench {time.time_ns()}",
        aliases=(("bench", "gpt-bench"),),
        credits=Decimal(10_000_000),
    )


async def run() -> dict[str, Any]:
    upstream_port, gateway_port = free_port(), free_port()
    env = {**os.environ, "DATABASE_URL": database_url(), "PORT": str(gateway_port), "LOG_LEVEL": "WARNING"}
    env.setdefault("DATA_DIR", str(ROOT / ".data"))
    python = sys.executable
    upstream = subprocess.Popen(  # noqa: S603 - our own module
        [python, "-m", "tests.support.fake_provider", "--port", str(upstream_port)], cwd=ROOT, env=env
    )
    gateway: subprocess.Popen[bytes] | None = None
    try:
        upstream_url = f"http://127.0.0.1:{upstream_port}"
        await asyncio.sleep(0.5)
        _, api_key = await seed(env, upstream_url)
        gateway = subprocess.Popen([python, "-m", "entrypoints.cli", "serve"], cwd=ROOT, env=env)  # noqa: S603
        gateway_url = f"http://127.0.0.1:{gateway_port}"
        await wait_http(f"{gateway_url}/health")
        auth = {"Authorization": f"Bearer {api_key}"}
        async with aiohttp.ClientSession() as session:
            async with session.post(f"{gateway_url}/api/jobs/create", json={"job_type": "bench"}, headers=auth) as r:
                job_id = (await r.json())["job_id"]
        direct_body = json.dumps({**BODY, "model": "gpt-bench"}).encode()
        gateway_body = json.dumps(BODY).encode()
        direct_headers = {"Authorization": "Bearer sk-bench-upstream", "Content-Type": "application/json"}
        gateway_headers = {**auth, "Content-Type": "application/json"}

        async def direct(session: aiohttp.ClientSession) -> None:
            async with session.post(
                f"{upstream_url}/v1/chat/completions", data=direct_body, headers=direct_headers
            ) as r:
                await r.read()
                assert r.status == 200, r.status

        async def via_gateway(session: aiohttp.ClientSession) -> None:
            url = f"{gateway_url}/api/jobs/{job_id}/llm-call"
            async with session.post(url, data=gateway_body, headers=gateway_headers) as r:
                await r.read()
                assert r.status == 200, (r.status, await r.text())

        requests = int(os.environ.get("BENCH_REQUESTS", "400"))
        seconds = float(os.environ.get("BENCH_SECONDS", "8"))
        results: dict[str, Any] = {}
        for name, send in (("direct", direct), ("gateway", via_gateway)):
            results[f"{name} c=1"] = await measure(send, concurrency=1, requests=requests)
            results[f"{name} c=32"] = await measure(send, concurrency=32, seconds=seconds)
        added = results["gateway c=1"]["p50_ms"] - results["direct c=1"]["p50_ms"]
        results["added latency p50 at c=1 (ms)"] = round(added, 3)
        return results
    finally:
        for process in (gateway, upstream):
            if process is not None:
                process.terminate()
                try:
                    process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    process.kill()


def main() -> None:
    results = asyncio.run(run())
    print("hot path (python -m benchmarks.hot_path):")
    for name, value in results.items():
        print(f"  {name:32} {value}")


if __name__ == "__main__":
    main()
