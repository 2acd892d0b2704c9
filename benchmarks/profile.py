"""Where one call's time goes: py-spy samples the gateway under load at concurrency 32.

The gateway runs pinned as in ``make bench`` (core 0, with its Postgres); py-spy (installed
into ``.data/bench-tools``, a bench-only tool) samples it from core 1 at ``BENCH_PROFILE_RATE``
(default 250) Hz, non-blocking, for the warm-up and the measured window, while the load
generator drives ``POST /api/jobs/{id}/llm-call`` at concurrency 32. Only on-CPU samples are
kept (py-spy drops idle ones), so the shares are of the gateway's CPU, not of wall time.

Each sample is put in the bucket of its innermost frame (``self``): psycopg, the HTTP
client (httpx/aiohttp), litestar, the server (uvicorn/httptools), logging (structlog and
the standard library's), msgspec, the event loop (asyncio/uvloop), our code (domain,
application, adapters, entrypoints) or other; and the share of samples with any frame of
a bucket on the stack (``inclusive``) says what each layer costs with what it calls.

Writes ``benchmarks/results/profile.txt`` (the summary) and ``profile.collapsed`` (py-spy's
raw stacks, for flamegraph tools). Run with ``python -m benchmarks.profile`` (``make
profile``) or ``BENCH_PROFILE=1 make bench``.
"""

import asyncio
import contextlib
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any

from benchmarks import procs

if TYPE_CHECKING:
    from benchmarks.bench import Config, Rig, Server

ROOT = Path(__file__).resolve().parents[1]
TOOLS = ROOT / ".data" / "bench-tools"
RESULTS = ROOT / "benchmarks" / "results"
_FRAME = re.compile(r"^(?P<function>.*?) \((?P<file>[^()]*?)(?::(?P<line>\d+))?\)$")

# first match wins; order matters (our adapters import psycopg, not the reverse)
BUCKETS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("psycopg", ("/psycopg/", "/psycopg_pool/", "/psycopg_binary/")),
    ("http client (httpx/aiohttp)", ("/httpx/", "/httpx_aiohttp/", "/aiohttp/", "/httpcore/", "/yarl/", "/multidict/")),
    ("litestar", ("/litestar/",)),
    ("server (uvicorn/httptools)", ("/uvicorn/", "/httptools/", "/granian/")),
    ("logging (structlog/logging)", ("/structlog/", "/logging/")),
    ("msgspec", ("/msgspec/",)),
    ("anyio + thread pool (sync callables run in threads)", ("/anyio/", "/concurrent/futures/")),
    ("event loop (asyncio/uvloop)", ("/asyncio/", "/uvloop/")),
    ("our code", ("/domain/", "/application/", "/adapters/", "/entrypoints/")),
)
# a pool thread waiting for work: py-spy's idle heuristic lets some of these through
IDLE_LEAVES = (("_worker", "concurrent/futures/thread.py:81"),)


def bucket(file: str) -> str:
    # py-spy shortens paths (``psycopg/_pipeline_base.py``); a leading slash makes them uniform
    file = file if file.startswith("/") else "/" + file
    for name, needles in BUCKETS:
        if any(needle in file for needle in needles):
            return name
    return "other (stdlib, uuid, ssl…)"


def parse(collapsed: str) -> list[tuple[list[tuple[str, str]], int]]:
    """py-spy's raw format: ``frame;frame;… count`` per line, outermost first."""
    stacks = []
    for line in collapsed.splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        frames = []
        idle = False
        for raw in stack.split(";"):
            match = _FRAME.match(raw.strip())
            if match:
                frames.append((match["function"], match["file"]))
                idle = (match["function"], f"{match['file']}:{match['line']}") in IDLE_LEAVES
        if frames and not idle:
            stacks.append((frames, int(count)))
    return stacks


def summarise(collapsed: str, top: int = 15) -> dict[str, Any]:
    stacks = parse(collapsed)
    total = sum(count for _, count in stacks) or 1
    self_buckets: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    leaf_functions: Counter[str] = Counter()
    our_inclusive: Counter[str] = Counter()
    for frames, count in stacks:
        function, file = frames[-1]
        self_buckets[bucket(file)] += count
        leaf_functions[f"{function} ({_short(file)})"] += count
        for name in {bucket(f) for _, f in frames}:
            inclusive[name] += count
        for name in {f"{fn} ({_short(f)})" for fn, f in frames if bucket(f) == "our code"}:
            our_inclusive[name] += count

    def share(counter: Counter[str], n: int | None = None) -> list[tuple[str, float]]:
        return [(name, round(100 * c / total, 1)) for name, c in counter.most_common(n)]

    return {
        "samples": total,
        "self_by_bucket_pct": share(self_buckets),
        "inclusive_by_bucket_pct": share(inclusive),
        "top_self_functions_pct": share(leaf_functions, top),
        "top_our_code_inclusive_pct": share(our_inclusive, top),
    }


def _short(file: str) -> str:
    for marker in ("site-packages/", "python3.11/", f"{ROOT}/"):
        if marker in file:
            return file.split(marker, 1)[1]
    return file


def render(summary: dict[str, Any], context: str) -> str:
    lines = [f"py-spy profile of the gateway, {context}: {summary['samples']} on-CPU samples"]
    for title, key in (
        ("self time by bucket (innermost frame)", "self_by_bucket_pct"),
        ("inclusive by bucket (any frame on the stack)", "inclusive_by_bucket_pct"),
        ("top functions, self", "top_self_functions_pct"),
        ("our code, inclusive", "top_our_code_inclusive_pct"),
    ):
        lines.append(f"  {title}:")
        lines += [f"    {pct:5.1f} %  {name}" for name, pct in summary[key]]
    return "\n".join(lines)


def py_spy() -> Path:
    binary = TOOLS / "bin" / "py-spy"
    if not binary.exists():
        pip = [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
        subprocess.run([*pip, "--target", str(TOOLS), "py-spy"], check=True, timeout=600)  # noqa: S603
    return binary


async def profile_gateway(rig: "Rig", gateway: "Server", config: "Config") -> dict[str, Any]:
    import os

    from benchmarks.bench import LOAD_CPUS, Recorder, gateway_requests, log
    from benchmarks.loadgen import run_phase

    RESULTS.mkdir(parents=True, exist_ok=True)
    raw = RESULTS / "profile.collapsed"
    rate = int(os.environ.get("BENCH_PROFILE_RATE", "250"))
    duration = int(config.warmup_s + config.seconds + 2)
    command = [str(py_spy()), "record", "--pid", str(gateway.pid), "--rate", str(rate), "--duration", str(duration)]
    command += ["--format", "raw", "--output", str(raw), "--nonblocking"]
    log(f"py-spy on the gateway ({duration} s at {rate} Hz) at concurrency 32")
    cpus = LOAD_CPUS if config.pinned else None
    target = gateway_requests(rig, gateway.port).plain
    # warm first (pools, the upstream session, caches), so one-off costs stay out of the profile
    await run_phase(target, concurrency=32, seconds=2, warmup_s=0)
    spy = procs.popen(command, cpus, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    await asyncio.sleep(0.5)
    cpu = {"app": gateway.cpu_s}
    under_profile = await Recorder(config).phase("saasllm c=32 under py-spy", target, 32, cpu=cpu)
    try:
        _, errors = await asyncio.to_thread(spy.communicate, timeout=duration + 30)
    except subprocess.TimeoutExpired:
        procs.stop(spy)
        raise
    if spy.returncode != 0 or not raw.exists():
        message = errors.decode(errors="replace")[-2000:] if errors else ""
        log(f"py-spy failed ({spy.returncode}): {message}")
        return {"error": message, "phase": under_profile}
    summary = summarise(raw.read_text())
    summary["phase"] = under_profile
    context = f"POST llm-call at concurrency 32, {under_profile['rps']} calls/s under the profiler"
    text = render(summary, context)
    (RESULTS / "profile.txt").write_text(text + "\n")
    print(text, flush=True)
    return summary


async def run() -> dict[str, Any]:
    from benchmarks.bench import SUT_CPUS, Config, Rig

    config = Config()
    async with Rig(config) as rig, rig.gateway(cpus=SUT_CPUS if config.pinned else None) as gateway:
        return await profile_gateway(rig, gateway, config)


def main() -> None:
    from benchmarks.bench import event_loop_runner

    with contextlib.suppress(KeyboardInterrupt):
        event_loop_runner()(run())


if __name__ == "__main__":
    main()
