"""`make bench`: the gateway side by side with the upstream called directly (and LiteLLM).

One run, loopback only, every phase bounded in time, pinned layout on a 2-core machine:

    core 0: the system under test (the gateway or the LiteLLM proxy) and its Postgres
    core 1: the fake upstream (``benchmarks.upstream``) and this process, the load generator

Measured (each window ``BENCH_SECONDS`` after a warm-up of ``BENCH_WARMUP_S``):

- the upstream called directly, the gateway's ``POST /api/jobs/{id}/llm-call`` (and, with
  ``BENCH_LITELLM=1``, the LiteLLM proxy's ``/v1/chat/completions`` on the same upstream):
  latency p50/p99 at concurrency 1 (at most ``BENCH_C1_REQUESTS`` requests), calls/s and
  p50/p99 at concurrency 32 and 128, CPU ms per call at 32 and 128 (the app's process
  tree and Postgres's, from ``/proc/<pid>/stat`` over the window);
- streamed (``llm-call-stream`` / ``"stream": true``, 20 chunks) at concurrency 1: time to
  the first token and to the end;
- cold start (spawn → first 200 on the health endpoint), RSS idle and with
  ``BENCH_STREAMS`` (1,000) slow streams held open, KB per extra stream;
- the gateway with ``WORKERS=1`` and ``WORKERS=2``, everything unpinned, calls/s at 32;
- then it counts, by call id, that every call answered 200 is in ``llm_calls``.

Prints one table and writes ``benchmarks/results/latest.json`` (``BENCH_OUT``).
Environment: BENCH_SECONDS (5), BENCH_WARMUP_S (1), BENCH_C1_REQUESTS (500),
BENCH_STREAMS (1000), BENCH_STREAMS_TIMEOUT_S (30: opening them stops then, or after 5 s
without a new first token), BENCH_LITELLM (0), BENCH_WORKERS (1: run the workers phase),
BENCH_PROFILE (0; 1: py-spy the gateway at concurrency 32, see ``benchmarks.profile``),
BENCH_LOG_LEVEL (the gateway's LOG_LEVEL, default its own default INFO), GROUP_COMMIT,
BENCH_DATABASE_URL (default: an embedded Postgres under ``.data/bench-pg``; an external
server's CPU is not measured).
"""

import asyncio
import contextlib
import datetime
import json
import os
import platform
import resource
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import msgspec

from benchmarks import procs
from benchmarks.loadgen import Connection, Phase, Target, hold_streams, run_phase, wait_ready
from benchmarks.seeding import seed_bench_team
from benchmarks.upstream import FIRST_TOKEN

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / ".data"
LOGS = DATA / "bench-logs"
DATABASE = "saasllm_hot_bench"
MESSAGES = [{"role": "user", "content": "Say hello in five words."}]
MARKER = FIRST_TOKEN.encode()
SUT_CPUS, LOAD_CPUS = {0}, {1}
LITELLM_VENV = DATA / "litellm-venv"
LITELLM_KEY = "sk-bench-litellm-master-key-0123456789abcdef"
LITELLM_SPEC = os.environ.get("BENCH_LITELLM_SPEC", "litellm[proxy]==1.108.7")


def env_float(name: str, default: float) -> float:
    return float(os.environ.get(name, default))


@dataclass
class Config:
    seconds: float = field(default_factory=lambda: env_float("BENCH_SECONDS", 5))
    warmup_s: float = field(default_factory=lambda: env_float("BENCH_WARMUP_S", 1))
    c1_requests: int = field(default_factory=lambda: int(env_float("BENCH_C1_REQUESTS", 500)))
    streams: int = field(default_factory=lambda: int(env_float("BENCH_STREAMS", 1000)))
    streams_timeout_s: float = field(default_factory=lambda: env_float("BENCH_STREAMS_TIMEOUT_S", 30))
    litellm: bool = field(default_factory=lambda: os.environ.get("BENCH_LITELLM", "0") == "1")
    workers: bool = field(default_factory=lambda: os.environ.get("BENCH_WORKERS", "1") == "1")
    profile: bool = field(default_factory=lambda: os.environ.get("BENCH_PROFILE", "0") == "1")
    log_level: str = field(default_factory=lambda: os.environ.get("BENCH_LOG_LEVEL", "INFO"))
    out: Path = field(
        default_factory=lambda: Path(os.environ.get("BENCH_OUT", str(ROOT / "benchmarks" / "results" / "latest.json")))
    )
    pinned: bool = field(default_factory=lambda: procs.cpu_count() >= 2)


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def json_body(value: object) -> bytes:
    return msgspec.json.encode(value)


# -- the rig: Postgres, the upstream, a seeded team -------------------------------------


class Rig:
    """Postgres (pinned to core 0), the upstream (core 1), a seeded team and its job."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.stack = contextlib.AsyncExitStack()
        self.db_url = ""
        self.postmaster: int | None = None
        self.upstream: subprocess.Popen[bytes] | None = None
        self.upstream_port = 0
        self.api_key = ""
        self.job_id = ""
        self.env: dict[str, str] = {}

    def cpus(self, which: set[int]) -> set[int] | None:
        return which if self.config.pinned else None

    async def __aenter__(self) -> "Rig":
        LOGS.mkdir(parents=True, exist_ok=True)
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 65536)), hard))  # children inherit it
        if self.config.pinned:
            os.sched_setaffinity(0, LOAD_CPUS)
        try:
            await self._postgres()
            self._start_upstream()
            await self._seed()
        except BaseException:
            await self.stack.aclose()
            raise
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.stack.aclose()

    async def _postgres(self) -> None:
        import psycopg
        from psycopg import sql
        from psycopg.conninfo import make_conninfo

        from adapters.postgres.embedded import start_embedded

        server_url = os.environ.get("BENCH_DATABASE_URL")
        if server_url is None:
            embedded = await start_embedded(DATA / "bench-pg")
            self.stack.push_async_callback(embedded.stop)
            server_url = embedded.url()
            pid_file = embedded.data_dir / "postmaster.pid"
            self.postmaster = int(pid_file.read_text().split()[0])
            # started from this process it runs on the load core: move it and its children
            procs.pin(self.postmaster, SUT_CPUS if self.config.pinned else set(range(os.cpu_count() or 1)))
        # a fresh database each run, so every run starts with the same (empty) tables
        async with await psycopg.AsyncConnection.connect(server_url, autocommit=True) as conn:
            await conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(DATABASE)))
            await conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(DATABASE)))
        self.db_url = make_conninfo(server_url, dbname=DATABASE)

    def _start_upstream(self) -> None:
        self.upstream = procs.popen(
            [sys.executable, "-m", "benchmarks.upstream", "--port", "0"],
            self.cpus(LOAD_CPUS),
            cwd=ROOT,
            stdout=subprocess.PIPE,
        )
        self.stack.callback(procs.stop, self.upstream)
        assert self.upstream.stdout is not None
        line = self.upstream.stdout.readline().decode().strip()
        self.upstream_port = int(line.rsplit(":", 1)[1])

    async def _seed(self) -> None:
        self.env = {
            **os.environ,
            "DATABASE_URL": self.db_url,
            "LOG_LEVEL": self.config.log_level,
            "DATA_DIR": str(DATA),
            "PYTHONUNBUFFERED": "1",
        }
        _, self.api_key = await seed_bench_team(
            self.env,
            f"http://127.0.0.1:{self.upstream_port}",
            organization="bench",
            aliases=(("bench", "gpt-bench"), ("bench-slow", "gpt-bench-slow")),
            credits=Decimal(1_000_000_000),
        )

    # -- the systems under test --------------------------------------------------------

    @contextlib.asynccontextmanager
    async def gateway(self, *, workers: int = 1, cpus: set[int] | None = None) -> AsyncIterator["Server"]:
        port = free_port()
        env = {**self.env, "PORT": str(port), "HOST": "127.0.0.1", "WORKERS": str(workers)}
        command = [sys.executable, "-m", "entrypoints.cli", "serve"]
        async with Server.start(command, env, port, "/health", f"gateway-w{workers}", cpus) as server:
            if not self.job_id:
                self.job_id = await self._create_job(port)
            yield server

    async def _create_job(self, port: int) -> str:
        body = json_body({"job_type": "bench"})
        target = Target.post(port, "/api/jobs/create", body, {"authorization": f"Bearer {self.api_key}"})
        connection = Connection(port)
        try:
            answer = await connection.request(target.request, None)
        finally:
            connection.abort()
        assert answer.status in (200, 201), answer
        return str(msgspec.json.decode(answer.body)["job_id"])

    @contextlib.asynccontextmanager
    async def litellm(self, *, cpus: set[int] | None = None) -> AsyncIterator["Server"]:
        binary = ensure_litellm()
        port = free_port()
        config = LOGS / "litellm-config.yaml"
        models = []
        for name, model in (("bench", "gpt-bench"), ("bench-slow", "gpt-bench-slow")):
            models.append(
                f"  - model_name: {name}\n    litellm_params:\n      model: openai/{model}\n"
                f"      api_base: http://127.0.0.1:{self.upstream_port}/v1\n      api_key: sk-bench-upstream\n"
            )
        config.write_text("model_list:\n" + "".join(models) + "litellm_settings:\n  telemetry: false\n")
        env = {
            k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "VIRTUAL_ENV", "PYTHONPATH", "REDIS_URL")
        }
        # a master key, as any deployment has (without one it refuses to start): requests
        # authenticate against it in memory, no database
        env |= {"LITELLM_MASTER_KEY": LITELLM_KEY, "LITELLM_LOCAL_MODEL_COST_MAP": "True", "LITELLM_LOG": "ERROR"}
        env |= {"PYTHONUNBUFFERED": "1"}
        command = [str(binary), "--config", str(config), "--host", "127.0.0.1", "--port", str(port)]
        command += ["--num_workers", "1", "--telemetry", "False"]
        async with Server.start(command, env, port, "/health/liveliness", "litellm", cpus) as server:
            yield server


def postgres_cpu(rig: Rig) -> dict[str, Callable[[], float]]:
    postmaster = rig.postmaster
    return {} if postmaster is None else {"postgres": lambda: procs.cpu_seconds(postmaster)}


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def ensure_litellm() -> Path:
    """The LiteLLM proxy in its own venv under .data (installed once, from the package registry)."""
    binary = LITELLM_VENV / "bin" / "litellm"
    if binary.exists():
        return binary
    log(f"installing {LITELLM_SPEC} into {LITELLM_VENV} (once)")
    subprocess.run([sys.executable, "-m", "venv", str(LITELLM_VENV)], check=True)  # noqa: S603
    pip = [str(LITELLM_VENV / "bin" / "python"), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    subprocess.run([*pip, LITELLM_SPEC], check=True, timeout=900)  # noqa: S603
    return binary


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    port: int
    cold_start_ms: float
    name: str

    @classmethod
    @contextlib.asynccontextmanager
    async def start(
        cls, command: list[str], env: dict[str, str], port: int, health: str, name: str, cpus: set[int] | None
    ) -> AsyncIterator["Server"]:
        output = open(LOGS / f"{name}.log", "wb")  # noqa: SIM115, ASYNC230 - closed below
        started = time.perf_counter()
        process = procs.popen(command, cpus, cwd=ROOT, env=env, stdout=output, stderr=subprocess.STDOUT)
        try:
            try:
                await wait_ready(port, health, timeout_s=120, interval_s=0.005, alive=lambda: process.poll() is None)
            except RuntimeError:
                raise RuntimeError(f"{name} did not start: see {LOGS / (name + '.log')}") from None
            server = cls(process, port, (time.perf_counter() - started) * 1000, name)
            yield server
        finally:
            procs.stop(process)
            output.close()

    @property
    def pid(self) -> int:
        return self.process.pid

    def cpu_s(self) -> float:
        return procs.cpu_seconds(self.pid)

    def rss_kb(self) -> int:
        return procs.tree_rss_kb(self.pid)


# -- measuring ------------------------------------------------------------------------


@dataclass
class Requests:
    plain: Target
    stream: Target
    slow: Target | None = None


def direct_requests(rig: Rig) -> Requests:
    headers = {"authorization": "Bearer sk-bench-upstream"}
    body = {"model": "gpt-bench", "messages": MESSAGES, "max_tokens": 32}
    streamed = {**body, "stream": True, "stream_options": {"include_usage": True}}
    path = "/v1/chat/completions"
    return Requests(
        plain=Target.post(rig.upstream_port, path, json_body(body), headers),
        stream=Target.post(rig.upstream_port, path, json_body(streamed), headers, marker=MARKER),
    )


def gateway_requests(rig: Rig, port: int) -> Requests:
    headers = {"authorization": f"Bearer {rig.api_key}"}
    body = {"model": "bench", "messages": MESSAGES, "max_tokens": 32}
    slow = {**body, "model": "bench-slow"}
    call, stream = f"/api/jobs/{rig.job_id}/llm-call", f"/api/jobs/{rig.job_id}/llm-call-stream"
    return Requests(
        plain=Target.post(port, call, json_body(body), headers, call_ids=True),
        stream=Target.post(port, stream, json_body(body), headers, marker=MARKER, call_ids=True),
        slow=Target.post(port, stream, json_body(slow), headers, marker=MARKER, call_ids=True),
    )


def litellm_requests(port: int) -> Requests:
    body = {"model": "bench", "messages": MESSAGES, "max_tokens": 32}
    path, auth = "/v1/chat/completions", {"authorization": f"Bearer {LITELLM_KEY}"}
    slow = {**body, "model": "bench-slow", "stream": True}
    return Requests(
        plain=Target.post(port, path, json_body(body), auth),
        stream=Target.post(port, path, json_body({**body, "stream": True}), auth, marker=MARKER),
        slow=Target.post(port, path, json_body(slow), auth, marker=MARKER),
    )


class Recorder:
    """Runs phases, keeps their summaries, error counts and the gateway's call ids."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.call_ids: list[str] = []
        self.errors = 0

    async def phase(
        self,
        label: str,
        target: Target,
        concurrency: int,
        *,
        cpu: dict[str, Callable[[], float]] | None = None,
        seconds: float | None = None,
    ) -> dict[str, Any]:
        cpu = cpu or {}

        def snapshot() -> dict[str, float]:
            return {name: read() for name, read in cpu.items()}

        phase: Phase = await run_phase(
            target,
            concurrency=concurrency,
            seconds=seconds or self.config.seconds,
            warmup_s=self.config.warmup_s,
            max_requests=self.config.c1_requests if concurrency == 1 else 0,
            on_start=snapshot,
            on_end=snapshot,
        )
        self.call_ids += phase.call_ids
        self.errors += phase.error_count
        summary = phase.summary()
        if cpu and phase.completed:
            start, end = phase.edges["start"], phase.edges["end"]
            for name in cpu:
                summary[f"cpu_ms_per_call_{name}"] = round((end[name] - start[name]) * 1000 / phase.completed, 3)
        log(f"  {label:<34} {summary}")
        return summary


async def measure_system(
    recorder: Recorder,
    name: str,
    requests: Requests,
    cpu: dict[str, Callable[[], float]],
    server: Server | None,
    config: Config,
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if server is not None:
        out["cold_start_ms"] = round(server.cold_start_ms, 1)
        await asyncio.sleep(0.5)
        out["rss_idle_cold_kb"] = server.rss_kb()
    out["c1"] = await recorder.phase(f"{name} c=1", requests.plain, 1, cpu=cpu)
    out["c32"] = await recorder.phase(f"{name} c=32", requests.plain, 32, cpu=cpu)
    out["c128"] = await recorder.phase(f"{name} c=128", requests.plain, 128, cpu=cpu)
    out["stream_c1"] = await recorder.phase(f"{name} stream c=1", requests.stream, 1, cpu=cpu)
    return out


def requests_slow(rig: Rig, port: int) -> Target | None:
    return gateway_requests(rig, port).slow


async def open_streams(server: Server, target: Target | None, config: Config) -> dict[str, Any] | None:
    count = config.streams
    if target is None or not count:
        return None
    await asyncio.sleep(1.0)  # let the load phases' requests settle
    idle = server.rss_kb()
    connections, reached, took = await hold_streams(target, count, timeout_s=config.streams_timeout_s)
    await asyncio.sleep(1.0)
    held = server.rss_kb()
    for connection in connections:
        connection.abort()
    await asyncio.sleep(2.0)  # the server notices the disconnects and settles the calls
    result = {
        "count": count,
        "reached_first_token": reached,
        "open_s": round(took, 2),
        "rss_idle_kb": idle,
        "rss_streams_kb": held,
        "kb_per_extra_stream": round((held - idle) / count, 2),
        "kb_per_streaming_stream": round((held - idle) / reached, 2) if reached else None,
    }
    log(f"  {server.name} {count} open streams: {result}")
    return result


async def check_records(db_url: str, call_ids: list[str]) -> dict[str, int]:
    import psycopg

    unique = sorted(set(call_ids))
    async with await psycopg.AsyncConnection.connect(db_url) as conn:
        cursor = await conn.execute("SELECT count(*) FROM llm_calls WHERE id = ANY(%s::uuid[])", (unique,))
        row = await cursor.fetchone()
        total = await (await conn.execute("SELECT count(*) FROM llm_calls")).fetchone()
    found = int(row[0]) if row else 0
    return {
        "answered_200_with_call_id": len(call_ids),
        "unique_call_ids": len(unique),
        "found_in_llm_calls": found,
        "missing": len(unique) - found,
        "llm_calls_rows": int(total[0]) if total else 0,
    }


async def run(config: Config) -> dict[str, Any]:
    # SIGTERM (e.g. `timeout`) cancels the run, so every process it started is stopped
    task = asyncio.current_task()
    assert task is not None
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
    results: dict[str, Any] = {"meta": meta(config)}
    recorder = Recorder(config)
    sut = SUT_CPUS if config.pinned else None
    async with Rig(config) as rig:
        pg_cpu = postgres_cpu(rig)
        log("direct upstream")
        results["direct"] = await measure_system(recorder, "direct", direct_requests(rig), {}, None, config)
        log("saasllm gateway (1 worker, pinned)")
        async with rig.gateway(cpus=sut) as gateway:
            cpu = {"app": gateway.cpu_s, **pg_cpu}
            results["saasllm"] = await measure_system(
                recorder, "saasllm", gateway_requests(rig, gateway.port), cpu, gateway, config
            )
            if config.profile:
                from benchmarks.profile import profile_gateway

                results["profile"] = await profile_gateway(rig, gateway, config)
            results["saasllm"]["streams"] = await open_streams(gateway, requests_slow(rig, gateway.port), config)
        if config.litellm:
            log("LiteLLM proxy (1 worker, no database, pinned)")
            async with rig.litellm(cpus=sut) as proxy:
                requests = litellm_requests(proxy.port)
                results["litellm"] = await measure_system(
                    recorder, "litellm", requests, {"app": proxy.cpu_s}, proxy, config
                )
                results["litellm"]["streams"] = await open_streams(proxy, requests.slow, config)
        if config.workers:
            log("saasllm gateway, 1 and 2 workers, everything unpinned")
            everywhere = set(range(os.cpu_count() or 1))
            os.sched_setaffinity(0, everywhere)
            if rig.upstream is not None:
                procs.pin(rig.upstream.pid, everywhere)
            if rig.postmaster:
                procs.pin(rig.postmaster, everywhere)
            scaling: dict[str, Any] = {}
            for workers in (1, 2):
                async with rig.gateway(workers=workers, cpus=None) as gateway:
                    cpu = {"app": gateway.cpu_s, **pg_cpu}
                    plain = gateway_requests(rig, gateway.port).plain
                    scaling[f"workers{workers}_c32"] = await recorder.phase(
                        f"saasllm WORKERS={workers} c=32 unpinned", plain, 32, cpu=cpu
                    )
            results["workers"] = scaling
        await asyncio.sleep(1.0)
        results["records"] = await check_records(rig.db_url, recorder.call_ids)
    results["errors"] = recorder.errors
    results["meta"]["loadavg_end"] = [round(x, 2) for x in os.getloadavg()]
    results["meta"]["finished_at"] = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
    return results


def meta(config: Config) -> dict[str, Any]:
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"],  # noqa: S607
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    return {
        "started_at": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "commit": commit,
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "pinned": config.pinned,
        "layout": "SUT + Postgres on core 0; upstream + load generator on core 1" if config.pinned else "unpinned",
        "loadavg_start": [round(x, 2) for x in os.getloadavg()],
        "seconds_per_window": config.seconds,
        "warmup_s": config.warmup_s,
        "c1_requests": config.c1_requests,
        "streams": config.streams,
        "log_level": config.log_level,
        "group_commit": os.environ.get("GROUP_COMMIT", "1") != "0",
        "load_generator": "benchmarks.loadgen (raw asyncio, keep-alive, one connection per worker)",
    }


# -- the table ------------------------------------------------------------------------


def _f(value: float | None, digits: int = 2) -> str:
    return "—" if value is None else f"{value:,.{digits}f}"


def _added(system: dict[str, Any], direct: dict[str, Any], phase: str, key: str) -> float | None:
    a, b = system.get(phase, {}).get(key), direct.get(phase, {}).get(key)
    return None if a is None or b is None else a - b


def derived(results: dict[str, Any]) -> None:
    direct = results["direct"]
    for name in ("saasllm", "litellm"):
        system = results.get(name)
        if not system:
            continue
        system["added"] = {
            "c1_p50_ms": _r(_added(system, direct, "c1", "p50_ms")),
            "c1_p99_ms": _r(_added(system, direct, "c1", "p99_ms")),
            "stream_ttft_p50_ms": _r(_added(system, direct, "stream_c1", "ttft_p50_ms")),
            "stream_total_p50_ms": _r(_added(system, direct, "stream_c1", "p50_ms")),
        }
    workers = results.get("workers")
    if workers and workers["workers1_c32"]["rps"]:
        workers["ratio_2_over_1"] = round(workers["workers2_c32"]["rps"] / workers["workers1_c32"]["rps"], 2)
    if results.get("litellm") and results["litellm"]["c32"]["rps"]:
        results["saasllm"]["c32_rps_over_litellm"] = round(
            results["saasllm"]["c32"]["rps"] / results["litellm"]["c32"]["rps"], 2
        )


def _r(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def table(results: dict[str, Any]) -> str:
    columns = ["direct upstream", "saasllm", "LiteLLM proxy"]
    systems = [results.get("direct", {}), results.get("saasllm", {}), results.get("litellm", {})]
    rows: list[tuple[str, list[str]]] = []

    def each(render: Callable[[dict[str, Any], int], str]) -> list[str]:
        return [render(s, i) if s else "—" for i, s in enumerate(systems)]

    def lat(phase: str) -> Callable[[dict[str, Any], int], str]:
        return lambda s, _: f"{_f(s[phase]['p50_ms'])} / {_f(s[phase]['p99_ms'])}"

    def added(key50: str, key99: str | None = None) -> Callable[[dict[str, Any], int], str]:
        def render(s: dict[str, Any], i: int) -> str:
            if i == 0:
                return "—"
            a = s["added"]
            text = f"+{_f(a[key50])}"
            return text + (f" / +{_f(a[key99])}" if key99 else "")

        return render

    def rate(phase: str) -> Callable[[dict[str, Any], int], str]:
        return lambda s, _: f"{_f(s[phase]['rps'], 0)} ({_f(s[phase]['p50_ms'], 1)} / {_f(s[phase]['p99_ms'], 1)})"

    def cpu(phase: str) -> Callable[[dict[str, Any], int], str]:
        def render(s: dict[str, Any], i: int) -> str:
            p = s[phase]
            if "cpu_ms_per_call_app" not in p:
                return "—"
            app, pg = p["cpu_ms_per_call_app"], p.get("cpu_ms_per_call_postgres")
            return f"{_f(app)} + pg {_f(pg)}" if pg is not None else _f(app)

        return render

    def streams(key: str) -> Callable[[dict[str, Any], int], str]:
        def render(s: dict[str, Any], i: int) -> str:
            st = s.get("streams")
            if not st:
                return "—"
            if key == "rss":
                return f"{st['rss_streams_kb'] / 1024:,.1f} ({st['reached_first_token']}/{st['count']} streaming)"
            return _f(st["kb_per_extra_stream"], 1)

        return render

    rows.append(("latency p50 / p99 ms, c=1", each(lat("c1"))))
    rows.append(("added p50 / p99 ms, c=1", each(added("c1_p50_ms", "c1_p99_ms"))))
    rows.append(("calls/s c=32 (p50 / p99 ms)", each(rate("c32"))))
    rows.append(("calls/s c=128 (p50 / p99 ms)", each(rate("c128"))))
    rows.append(("CPU ms/call c=32 (app + pg)", each(cpu("c32"))))
    rows.append(("CPU ms/call c=128 (app + pg)", each(cpu("c128"))))
    rows.append(("stream TTFT p50 ms, c=1", each(lambda s, _: _f(s["stream_c1"].get("ttft_p50_ms")))))
    rows.append(("  added TTFT p50 ms", each(added("stream_ttft_p50_ms"))))
    rows.append(("stream total p50 ms, c=1", each(lambda s, _: _f(s["stream_c1"]["p50_ms"]))))
    rows.append(("  added total p50 ms", each(added("stream_total_p50_ms"))))
    rows.append(("cold start to health, ms", each(lambda s, _: _f(s.get("cold_start_ms"), 0))))
    rows.append(("RSS idle MB (after start)", each(lambda s, _: _f(_mb(s.get("rss_idle_cold_kb")), 1))))
    rows.append(
        ("RSS idle MB (before streams)", each(lambda s, _: _f(_mb(s.get("streams", {}).get("rss_idle_kb")), 1)))
    )
    rows.append(("RSS MB, N streams held open", each(streams("rss"))))
    rows.append(("KB per extra open stream", each(streams("kb"))))
    workers = results.get("workers")
    if workers:
        w1, w2 = workers["workers1_c32"], workers["workers2_c32"]
        ratio = workers.get("ratio_2_over_1")
        rows.append(("calls/s c=32 WORKERS=1 unpinned", ["—", _f(w1["rps"], 0), "—"]))
        rows.append(("calls/s c=32 WORKERS=2 unpinned", ["—", f"{_f(w2['rps'], 0)} (×{_f(ratio)})", "—"]))
    errors = [
        str(sum(sum(p.get(k, {}).values()) for p in s.values() if isinstance(p, dict) for k in ("non_200", "errors")))
        if s
        else "—"
        for s in systems
    ]
    rows.append(("errors (non-200 + failures)", errors))
    records = results.get("records", {})
    rows.append(
        (
            "200s recorded in llm_calls",
            ["—", f"{records.get('found_in_llm_calls')}/{records.get('unique_call_ids')}", "—"],
        )
    )
    width = max(len(r[0]) for r in rows) + 2
    widths = [max(len(columns[i]), *(len(r[1][i]) for r in rows)) + 2 for i in range(3)]
    lines = ["".ljust(width) + "".join(c.rjust(w) for c, w in zip(columns, widths, strict=True))]
    lines += [
        label.ljust(width) + "".join(v.rjust(w) for v, w in zip(values, widths, strict=True)) for label, values in rows
    ]
    m = results["meta"]
    lines.append(
        f"loadavg {m['loadavg_start']} → {m.get('loadavg_end')}; {m['layout']}; "
        f"{m['seconds_per_window']} s windows; commit {m['commit']}"
    )
    return "\n".join(lines)


def _mb(kb: int | None) -> float | None:
    return None if kb is None else kb / 1024


def event_loop_runner() -> Callable[[Any], Any]:
    try:
        import uvloop
    except ImportError:  # uvloop comes with uvicorn[standard]
        return asyncio.run
    return uvloop.run


def main() -> int:
    config = Config()
    started = time.perf_counter()
    results = event_loop_runner()(run(config))
    derived(results)
    results["meta"]["wall_s"] = round(time.perf_counter() - started, 1)
    config.out.parent.mkdir(parents=True, exist_ok=True)
    config.out.write_text(json.dumps(results, indent=2) + "\n")
    print(table(results))
    print(f"wrote {config.out} ({results['meta']['wall_s']} s)")
    records = results["records"]
    return 1 if records["missing"] else 0


if __name__ == "__main__":
    sys.exit(main())
