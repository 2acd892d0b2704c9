"""The reliability suite's world: real processes, as an operator runs them.

- a Postgres of the suite's own (``tests/stoppable_postgres.py``): stoppable mid-load;
- the fake provider server as a process (``python -m tests.support.fake_provider
  --faults-by-model``): the model a call's alias names picks its fault;
- two app instances (``python -m entrypoints.cli serve``), each on its own PORT, sharing
  the database and the secrets (JWT_SECRET, FERNET_KEYS) as N instances behind a load
  balancer would;
- a load client (httpx with its default 5 s keep-alive expiry, as client apps run it)
  that tallies every answer, and the checks every scenario ends with (``invariants``).
"""

import asyncio
import contextlib
import json
import os
import random
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import psycopg
from psycopg.rows import dict_row

from application.errors import UnavailableError
from domain.admins import AdminRole
from domain.budgets import BudgetMode, BudgetPolicy
from domain.ledger import EntryType, LedgerEntry, replay
from domain.organizations import Organization
from domain.pricing import PriceSheet
from entrypoints.bootstrap import Services
from entrypoints.runtime import open_postgres_runtime
from entrypoints.settings import load_settings
from tests.stoppable_postgres import StoppablePostgres
from tests.support.seeding import add_openai_upstream

D = Decimal
PRICES = PriceSheet(input_per_million=D("2"), output_per_million=D("8"))
ADMIN_EMAIL, ADMIN_PASSWORD = "reliability@example.com", "reliability-password-1"
# A call the suite can count exactly: "hi" from "user" is a hold of 6 bytes + 16 + 32 = 54
# prompt tokens + max_tokens 2; the fake reports exactly 54 + 2, so (tokens_per_credit 1)
# a call holds and costs 56 credits: credits for N calls allow N calls, never N + 1.
EXACT_ALIAS, EXACT_CREDITS = "exact", D(56)
EXACT_CALL = {"model": EXACT_ALIAS, "messages": [{"role": "user", "content": "hi"}], "max_tokens": 2}
FAULT_MODELS = (
    "fault-429",
    "fault-500",
    "fault-529",
    "fault-timeout",
    "fault-reset",
    "fault-malformed",
    "fault-cut",
    "fault-error_event",
)
# Answers documented in API.md that are a 5xx by status but not our failure: the provider's
# (502/504) or the database's (503 unavailable). Anything else 5xx (a 500 above all) is ours.
PROVIDER_5XX = {"provider_error", "provider_timeout"}

INSTANCE_ENV = {
    "APP_ENV": "development",
    "LOG_LEVEL": "WARNING",
    "PROVIDER_TIMEOUT_S": "2",
    "PROVIDER_MAX_RETRIES": "1",
    "CALL_LEASE_S": "12",  # the crash scenario waits for dead instances' leases to expire
    "SWEEP_INTERVAL_S": "1",
    "COMPLETION_WAIT_S": "2",
    "JOB_TTL_S": "3600",
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def rss_kb(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def open_sockets(pid: int) -> int:
    """Sockets the process holds open (client connections, pool, provider connections)."""
    count = 0
    with contextlib.suppress(OSError):
        for fd in os.listdir(f"/proc/{pid}/fd"):
            with contextlib.suppress(OSError):
                if os.readlink(f"/proc/{pid}/fd/{fd}").startswith("socket:"):
                    count += 1
    return count


@dataclass
class Instance:
    name: str
    port: int
    env: dict[str, str]
    log: Path
    process: "subprocess.Popen[bytes] | None" = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    async def start(self) -> None:
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(  # noqa: ASYNC220 - started once per scenario at most
                [sys.executable, "-m", "entrypoints.cli", "serve"],
                env={**os.environ, **self.env, "PORT": str(self.port)},
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        await wait_healthy(self.url, timeout_s=120, process=self.process, log=self.log)

    def kill(self) -> None:
        """SIGKILL: the process dies at once, streams open, nothing flushed."""
        if self.process is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()


async def wait_healthy(url: str, *, timeout_s: float, process: Any = None, log: Path | None = None) -> None:
    deadline = time.monotonic() + timeout_s
    async with httpx.AsyncClient(base_url=url, timeout=2) as http:
        while time.monotonic() < deadline:
            if process is not None and process.poll() is not None:
                tail = log.read_text(errors="replace")[-3000:] if log else ""  # noqa: ASYNC240 - failing anyway
                raise RuntimeError(f"{url} exited with {process.returncode}:\n{tail}")
            with contextlib.suppress(httpx.TransportError):
                if (await http.get("/health/db")).status_code == 200:
                    return
            await asyncio.sleep(0.2)
    raise RuntimeError(f"{url} not healthy after {timeout_s} s")


@dataclass
class Tally:
    """Every answer of a scenario's load, by what the client saw."""

    statuses: Counter[int] = field(default_factory=Counter)
    codes: Counter[str] = field(default_factory=Counter)
    ok_call_ids: set[str] = field(default_factory=set)  # every call that got a 200
    transport_errors: list[str] = field(default_factory=list)
    ours_5xx: list[str] = field(default_factory=list)  # 5xx that are our failure
    non_problem_errors: list[str] = field(default_factory=list)  # an error that is not problem+json
    stream_errors: Counter[str] = field(default_factory=Counter)  # `event: error` after a 200
    started: int = 0

    def add(self, response: httpx.Response, body: bytes, *, allowed_5xx: frozenset[str] = frozenset()) -> None:
        self.statuses[response.status_code] += 1
        if response.status_code < 400:
            return
        content_type = response.headers.get("content-type", "")
        code = "?"
        if content_type.startswith("application/problem+json"):
            with contextlib.suppress(ValueError):
                code = json.loads(body).get("code", "?")
        else:
            self.non_problem_errors.append(f"{response.status_code} {content_type} {body[:200]!r}")
        self.codes[code] += 1
        if response.status_code >= 500 and code not in PROVIDER_5XX | allowed_5xx:
            self.ours_5xx.append(f"{response.status_code} {code} {body[:200]!r}")

    @property
    def five_xx(self) -> int:
        return sum(n for status, n in self.statuses.items() if status >= 500)

    def summary(self) -> dict[str, Any]:
        """The figures every scenario's report row carries."""
        return {
            "statuses": dict(self.statuses),
            "codes": dict(self.codes),
            "stream_errors": dict(self.stream_errors),
            "transport_errors": len(self.transport_errors),
            "five_xx": self.five_xx,
            "ours_5xx": len(self.ours_5xx),
        }


class LoadClient:
    """Clients of both instances, round robin; one job per ``calls_per_job`` calls."""

    def __init__(self, urls: list[str], key: str) -> None:
        limits = httpx.Limits(max_connections=1000, max_keepalive_connections=1000)  # keepalive_expiry: httpx's 5 s
        headers = {"Authorization": f"Bearer {key}"}
        self.clients = [httpx.AsyncClient(base_url=u, headers=headers, timeout=60, limits=limits) for u in urls]
        self._next = 0

    def pick(self) -> httpx.AsyncClient:
        self._next += 1
        return self.clients[self._next % len(self.clients)]

    async def aclose(self) -> None:
        for client in self.clients:
            await client.aclose()

    async def new_job(self, http: httpx.AsyncClient | None = None) -> str:
        response = await (http or self.clients[0]).post("/api/jobs/create", json={"job_type": "reliability"})
        assert response.status_code == 201, response.text
        return str(response.json()["job_id"])

    async def call(
        self,
        tally: Tally,
        job_id: str,
        body: dict[str, Any],
        *,
        stream: bool = False,
        http: httpx.AsyncClient | None = None,
        disconnect_after: int | None = None,
        allowed_5xx: frozenset[str] = frozenset(),
    ) -> float:
        """One call; returns its latency (s). Transport errors are tallied, not raised."""
        http = http or self.pick()
        started = time.monotonic()
        tally.started += 1
        try:
            if not stream:
                response = await http.post(f"/api/jobs/{job_id}/llm-call", json=body)
                tally.add(response, response.content, allowed_5xx=allowed_5xx)
                if response.status_code == 200:
                    tally.ok_call_ids.add(response.json()["call_id"])
                return time.monotonic() - started
            async with http.stream("POST", f"/api/jobs/{job_id}/llm-call-stream", json=body) as response:
                if response.status_code != 200:
                    tally.add(response, await response.aread(), allowed_5xx=allowed_5xx)
                    return time.monotonic() - started
                tally.add(response, b"")
                seen, event = 0, ""
                async for line in response.aiter_lines():
                    if line.startswith("event: "):
                        event = line[7:]
                    elif line.startswith("data: "):
                        data = json.loads(line[6:])
                        if event == "start":
                            tally.ok_call_ids.add(data["call_id"])
                        elif event == "error":
                            tally.stream_errors[data.get("code", "?")] += 1
                        seen += 1
                        if disconnect_after is not None and seen >= disconnect_after:
                            break  # leaving the block closes the connection mid-stream
        except httpx.TransportError as exc:
            tally.transport_errors.append(f"{http.base_url} {type(exc).__name__}: {exc}")
        return time.monotonic() - started


@dataclass
class Cluster:
    pg: StoppablePostgres
    database_url: str
    upstream: "subprocess.Popen[bytes]"
    upstream_url: str
    instances: list[Instance]
    services: Services
    organization: Organization
    workdir: Path
    results: list[dict[str, Any]] = field(default_factory=list)

    @property
    def urls(self) -> list[str]:
        return [i.url for i in self.instances]

    async def team(self, credits: Decimal, *, mode: BudgetMode = BudgetMode.CONSUMPTION_TOKENS) -> tuple[str, str]:
        for _ in range(20):  # the suite's own pool sat idle through the outage: stale connections
            try:
                return await self._team(credits, mode)
            except UnavailableError:
                await asyncio.sleep(0.2)
        return await self._team(credits, mode)

    async def _team(self, credits: Decimal, mode: BudgetMode) -> tuple[str, str]:
        team, key = await self.services.organizations.create_team(
            organization_id=self.organization.id,
            name=f"rel-{random.randrange(10**9)}",
            budget=BudgetPolicy(mode=mode, tokens_per_credit=1),
            credits=credits,
            access_groups=("reliability",),
        )
        return str(team.id), key.api_key

    async def admin_token(self, url: str | None = None) -> str:
        async with httpx.AsyncClient(base_url=url or self.urls[0], timeout=10) as http:
            response = await http.post("/api/auth/login", json={"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD})
            assert response.status_code == 200, response.text
            return str(response.json()["access_token"])

    async def sweep_cli(self) -> str:
        env = {**os.environ, **self.instances[0].env}
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "entrypoints.cli", "sweep-jobs", env=env, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )  # fmt: skip
        out, _ = await process.communicate()
        assert process.returncode == 0, out.decode()
        return out.decode().strip()

    async def invariants(self, team_ids: list[str], tally: Tally, *, settle_timeout_s: float = 60) -> dict[str, Any]:
        """The checks after every scenario; returns what they found (for the report)."""
        async with await psycopg.AsyncConnection.connect(self.database_url, autocommit=True) as conn:
            conn.row_factory = dict_row  # type: ignore[assignment]
            # Every hold settled: calls recorded, or captured by the sweeper once their lease expired.
            deadline = time.monotonic() + settle_timeout_s
            while True:
                row = await (
                    await conn.execute("SELECT count(*) AS n FROM call_leases WHERE team_id = ANY(%s)", (team_ids,))
                ).fetchone()
                assert row is not None
                if row["n"] == 0:
                    break
                assert time.monotonic() < deadline, f"{row['n']} holds still open after the sweeper"
                await asyncio.sleep(0.5)
            await self.sweep_cli()  # `saasllm sweep-jobs` too: it must find nothing left to do
            found: dict[str, Any] = {"teams": len(team_ids)}
            charged = D(0)
            allocated = D(0)
            for team_id in team_ids:
                team = await (
                    await conn.execute("SELECT allocated, used, held FROM teams WHERE id = %s", (team_id,))
                ).fetchone()
                assert team is not None
                rows = await (
                    await conn.execute(
                        "SELECT id, team_id, type, amount, created_at, job_id, call_id, reason, idempotency_key,"
                        " sequence FROM credit_ledger WHERE team_id = %s ORDER BY sequence",
                        (team_id,),
                    )
                ).fetchall()
                entries = [LedgerEntry(**{**r, "type": EntryType(r["type"])}) for r in rows]
                balance = replay(entries)  # raises if any step went below zero
                assert (balance.allocated, balance.used, balance.held) == (
                    team["allocated"], team["used"], team["held"],
                ), f"team {team_id}: ledger replays to {balance}, cached {team}"  # fmt: skip
                assert team["allocated"] - team["used"] - team["held"] >= 0
                assert team["held"] == 0, f"team {team_id} still holds {team['held']}"
                charged += team["used"]
                allocated += team["allocated"]
            ids = list(tally.ok_call_ids)
            recorded = await (
                await conn.execute("SELECT id::text FROM llm_calls WHERE id::text = ANY(%s)", (ids,))
            ).fetchall()
            missing = set(ids) - {r["id"] for r in recorded}
            assert not missing, f"{len(missing)} calls answered 200 but not recorded: {sorted(missing)[:5]}"
            unsettled = await (
                await conn.execute(
                    "SELECT count(*) AS n FROM credit_ledger WHERE team_id = ANY(%s) AND reason = 'unsettled'",
                    (team_ids,),
                )
            ).fetchone()
        assert unsettled is not None
        found |= {
            "records_expected": len(ids),
            "records_found": len(ids) - len(missing),
            "allocated": str(allocated),
            "charged": str(charged),
            "captured_unsettled": unsettled["n"],
        }
        return found

    def rss(self) -> dict[str, int]:
        return {i.name: rss_kb(i.pid) for i in self.instances if i.process and i.process.poll() is None}

    def sockets(self) -> dict[str, int]:
        return {i.name: open_sockets(i.pid) for i in self.instances if i.process and i.process.poll() is None}

    def report_load(
        self,
        tally: Tally,
        found: dict[str, Any],
        *,
        rss_start: dict[str, int],
        rss_end: dict[str, int] | None = None,
        **row: Any,
    ) -> None:
        """The report of a scenario under load: ``row``, the tally, RSS at start and end, the invariants found."""
        rss_end_kb = self.rss() if rss_end is None else rss_end
        self.report(**row, **tally.summary(), rss_start_kb=rss_start, rss_end_kb=rss_end_kb, **found)

    def report(self, **row: Any) -> None:
        self.results.append(row)
        path = self.workdir.parent / "reliability-results.json"
        with contextlib.suppress(OSError):
            path.write_text(json.dumps(self.results, indent=2, default=str))
        print(f"\nRELIABILITY {json.dumps(row, default=str)}", flush=True)


@asynccontextmanager
async def open_cluster(workdir: Path) -> AsyncIterator[Cluster]:
    pg = StoppablePostgres()
    upstream: subprocess.Popen[bytes] | None = None
    instances: list[Instance] = []
    try:
        server_url = await asyncio.to_thread(pg.start_first)
        async with await psycopg.AsyncConnection.connect(server_url, autocommit=True) as conn:
            await conn.execute("CREATE DATABASE saasllm")
        database_url = server_url.replace("/postgres?", "/saasllm?")
        upstream_port = free_port()
        with (workdir / "upstream.log").open("ab") as out:
            upstream = subprocess.Popen(  # noqa: ASYNC220 - once per session
                [sys.executable, "-m", "tests.support.fake_provider", "--port", str(upstream_port),
                 "--faults-by-model"],
                stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip
        upstream_url = f"http://127.0.0.1:{upstream_port}"
        env = {
            **INSTANCE_ENV,
            "DATABASE_URL": database_url,
            "DATA_DIR": str(workdir / "data"),
            "JWT_SECRET": "reliability-" + "j" * 40,
            "FERNET_KEYS": "UwtGvyWi7DmdoYE8D3q3mbIH7doFf5HlUeFWx-nk9TA=",
        }
        settings = load_settings(env)
        async with open_postgres_runtime(settings, providers={}) as runtime:
            services = runtime.services
            organization = await seed(services, upstream_url)
            for name in ("a", "b"):
                instance = Instance(name=name, port=free_port(), env=env, log=workdir / f"instance-{name}.log")
                instances.append(instance)
            await asyncio.gather(*(i.start() for i in instances))
            yield Cluster(
                pg=pg,
                database_url=database_url,
                upstream=upstream,
                upstream_url=upstream_url,
                instances=instances,
                services=services,
                organization=organization,
                workdir=workdir,
            )
    finally:
        for instance in instances:
            instance.stop()
        if upstream is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(upstream.pid, signal.SIGTERM)
            upstream.wait(timeout=10)
        await asyncio.to_thread(pg.destroy)


async def seed(services: Services, upstream_url: str) -> Organization:
    organization = await services.organizations.create_organization(name="Reliability")
    models = {
        EXACT_ALIAS: "usage-54-2",
        "ok": "fake-ok",
        "slow": "slow-150",  # 20 chunks 150 ms apart: a 3 s stream
        "quick-stream": "slow-30",  # 0.6 s
        **{f"f-{model.removeprefix('fault-')}": model for model in FAULT_MODELS},
    }
    await add_openai_upstream(
        services,
        organization,
        upstream_url,
        models,
        group="reliability",
        credential=("fake", "sk-reliability-0000"),
        customer_prices=PRICES,
        provider_costs=PRICES,
        default_max_tokens=100,
    )
    await services.admin_auth.create_user(email=ADMIN_EMAIL, password=ADMIN_PASSWORD, role=AdminRole.OWNER)
    return organization
