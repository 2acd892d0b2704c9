"""Load and faults against two app instances on one Postgres; after each scenario the
invariants hold: credits never negative, the ledger replays to the cached balance, every
call that got a 200 is recorded, no hold is left open after the sweeper, no 5xx of ours.

Scenarios run in file order on one cluster (each on teams of its own); the crash and the
outage leave the cluster whole again for the next.
"""

import asyncio
import random
import time
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import httpx

from tests.e2e.test_keep_alive import HTTPX_KEEPALIVE_EXPIRY_S, reuse_after
from tests.reliability.cluster import (
    EXACT_CALL,
    EXACT_CREDITS,
    FAULT_MODELS,
    Cluster,
    LoadClient,
    Tally,
)
from tests.reliability.conftest import CALLS, SOAK_S

D = Decimal
OK_CALL = {"model": "ok", "messages": [{"role": "user", "content": "hello"}], "max_tokens": 20}
PLENTY = D(10**9)


def call_body(alias: str) -> dict[str, Any]:
    return {**OK_CALL, "model": alias}


async def jobs(load: LoadClient, count: int) -> list[str]:
    return [await load.new_job(load.clients[i % len(load.clients)]) for i in range(count)]


@dataclass
class LoadRun:
    """A scenario's team, its load client over both instances, the tally of what the load got
    and the instances' RSS as the scenario starts."""

    cluster: Cluster
    team_id: str
    load: LoadClient
    tally: Tally = field(default_factory=Tally)
    rss_start: dict[str, int] = field(default_factory=dict)

    async def invariants(self) -> dict[str, Any]:
        return await self.cluster.invariants([self.team_id], self.tally)

    def report(self, found: dict[str, Any], *, rss_start: dict[str, int] | None = None, **row: Any) -> None:
        start = self.rss_start if rss_start is None else rss_start
        self.cluster.report_load(self.tally, found, rss_start=start, **row)


@asynccontextmanager
async def load_run(cluster: Cluster, credits: Decimal = PLENTY) -> AsyncIterator[LoadRun]:
    """A LoadRun on a new team holding ``credits``; its clients are closed when the block ends."""
    team_id, key = await cluster.team(credits)
    run = LoadRun(cluster, team_id, LoadClient(cluster.urls, key), rss_start=cluster.rss())
    try:
        yield run
    finally:
        await run.load.aclose()


async def test_overspend_500_concurrent_calls_over_two_instances_with_credits_for_100(cluster: Cluster) -> None:
    """Exactly 100 calls are paid for, the rest refused with 402; no reset, no 5xx.

    Before the burst, every connection of the client's pool sits idle for about 5 s: the
    keep-alive race that reset one request on main (uvicorn closed idle connections at
    5 s, httpx reuses them until 5 s).
    """
    for stream in (False, True):
        async with load_run(cluster, EXACT_CREDITS * 100) as run:
            load, tally = run.load, run.tally
            job_ids = await jobs(load, (CALLS + 49) // 50)
            # warm a pool of connections to both instances, then leave them idle ~5 s
            await asyncio.gather(*(c.get("/health") for c in load.clients for _ in range(50)))
            await asyncio.sleep(random.uniform(4.9, 5.1))
            started = time.monotonic()
            await asyncio.gather(*(load.call(tally, job_ids[i // 50], EXACT_CALL, stream=stream) for i in range(CALLS)))
            elapsed = time.monotonic() - started
        assert tally.transport_errors == [], tally.transport_errors[:5]
        assert tally.five_xx == 0, tally.ours_5xx[:5]
        assert tally.non_problem_errors == []
        assert tally.statuses[200] == 100, tally.statuses
        assert tally.statuses[402] == CALLS - 100, tally.statuses
        found = await run.invariants()
        assert D(found["charged"]) == EXACT_CREDITS * 100 == D(found["allocated"])
        run.report(
            found,
            scenario=f"overspend ({'streamed' if stream else 'plain'})",
            load=f"{CALLS} concurrent calls over 2 instances in {elapsed:.1f} s, after 5 s idle keep-alive",
            faults="none (credits for 100 calls)",
            credits_expected=str(EXACT_CREDITS * 100),
        )


async def test_idle_keep_alive_connections_are_never_closed_under_a_client(cluster: Cluster) -> None:
    """The reset's cause, deterministically: 200 connections per instance reused after 6 s
    idle (past uvicorn's old 5 s, which was httpx's keepalive_expiry) all answer."""
    answers = await asyncio.gather(
        *(
            reuse_after(instance.port, HTTPX_KEEPALIVE_EXPIRY_S + 1)
            for instance in cluster.instances
            for _ in range(200)
        )
    )
    statuses = Counter(answer[:12].decode() or "no status" for answer in answers)
    assert statuses == Counter({"HTTP/1.1 200": 400}), statuses
    cluster.report(
        scenario="idle keep-alive reuse",
        load="400 connections (200 per instance) reused after 6 s idle",
        faults="client reuses connections idle past the old 5 s server timeout",
        statuses=dict(statuses),
        five_xx=0,
    )


async def test_provider_faults_under_load(cluster: Cluster) -> None:
    aliases = [f"f-{m.removeprefix('fault-')}" for m in FAULT_MODELS] + ["ok", "ok", "quick-stream"]
    gate = asyncio.Semaphore(100)
    total = max(200, CALLS // 2)
    async with load_run(cluster) as run:
        load, tally = run.load, run.tally

        async def one(job_id: str) -> None:
            async with gate:
                await load.call(tally, job_id, call_body(random.choice(aliases)), stream=random.random() < 0.5)

        job_ids = await jobs(load, (total + 49) // 50)
        started = time.monotonic()
        await asyncio.gather(*(one(job_ids[i // 50]) for i in range(total)))
        elapsed = time.monotonic() - started
    assert tally.transport_errors == [], tally.transport_errors[:5]
    assert tally.ours_5xx == [], tally.ours_5xx[:5]
    assert tally.non_problem_errors == [], tally.non_problem_errors[:5]
    assert tally.statuses[200] > 0
    run.report(
        await run.invariants(),
        scenario="provider faults",
        load=f"{total} calls, 100 at a time, half streamed, {elapsed:.1f} s",
        faults="429 retry-after 1 s, 500, 529, timeout, reset, malformed body, stream cut, event: error after 200",
    )


async def test_client_disconnects_mid_stream_under_load(cluster: Cluster) -> None:
    total = max(100, CALLS // 2)
    async with load_run(cluster) as run:
        load, tally = run.load, run.tally
        job_ids = await jobs(load, (2 * total + 49) // 50)
        streams = [
            load.call(tally, job_ids[i // 50], call_body("quick-stream"), stream=True,
                      disconnect_after=random.randint(1, 22))
            for i in range(total)
        ]  # fmt: skip
        plain = [load.call(tally, job_ids[(total + i) // 50], OK_CALL) for i in range(total)]
        await asyncio.gather(*streams, *plain)
    assert tally.transport_errors == [], tally.transport_errors[:5]
    assert tally.five_xx == 0, tally.ours_5xx[:5]
    assert tally.statuses[200] == 2 * total
    run.report(
        await run.invariants(),
        scenario="client disconnects",
        load=f"{total} streams cut by the client after 1-22 events, with {total} plain calls alongside",
        faults="client goes away mid-stream at a random point",
    )


async def test_crash_of_one_instance_mid_load(cluster: Cluster) -> None:
    """kill -9 instance a with streams open: b keeps serving, a's holds are captured."""
    team_id, key = await cluster.team(PLENTY)
    victim = cluster.instances[0]
    load = LoadClient(cluster.urls, key)
    on_victim, on_survivor = load.clients
    tally_victim, tally_survivor = Tally(), Tally()
    rss_start = cluster.rss()
    try:
        job_ids = await jobs(load, 8)
        victim_streams = [
            asyncio.create_task(load.call(tally_victim, job_ids[i % 2], call_body("slow"), stream=True,
                                          http=on_victim))
            for i in range(60)
        ]  # fmt: skip
        survivor_streams = [
            asyncio.create_task(load.call(tally_survivor, job_ids[2 + i % 2], call_body("slow"), stream=True,
                                          http=on_survivor))
            for i in range(30)
        ]  # fmt: skip
        await asyncio.sleep(1.0)  # streams open on both
        victim.kill()
        after = [load.call(tally_survivor, job_ids[4 + i % 4], OK_CALL, http=on_survivor) for i in range(200)]
        await asyncio.gather(*victim_streams, *survivor_streams, *after)
    finally:
        await load.aclose()
    assert len(tally_victim.transport_errors) > 0  # the streams open on a died with it
    assert tally_survivor.transport_errors == [], tally_survivor.transport_errors[:5]
    assert tally_survivor.five_xx == 0 and tally_victim.five_xx == 0
    assert tally_survivor.statuses[200] == 230
    both = Tally()
    both.ok_call_ids = tally_victim.ok_call_ids | tally_survivor.ok_call_ids
    found = await cluster.invariants([team_id], both)  # waits out a's leases: the sweeper captures them
    assert found["captured_unsettled"] >= 1
    await victim.start()  # whole again for the next scenario
    cluster.report(
        scenario="crash (kill -9 mid-load)",
        load="60 streams open on a, 30 on b, then 200 plain calls on b",
        faults="SIGKILL of instance a with its streams open",
        statuses={"a": dict(tally_victim.statuses), "b": dict(tally_survivor.statuses)},
        transport_errors={"a (dead)": len(tally_victim.transport_errors), "b": len(tally_survivor.transport_errors)},
        five_xx=tally_victim.five_xx + tally_survivor.five_xx,
        rss_start_kb=rss_start,
        rss_end_kb=cluster.rss(),
        **found,
    )


async def test_database_outage_mid_load(cluster: Cluster) -> None:
    """Postgres stopped under load: 503 `unavailable` within 1 s once known down, then recovery."""
    samples: list[tuple[float, float, int | None]] = []  # (started, latency, status)
    stop = asyncio.Event()
    unavailable = frozenset({"unavailable"})
    async with load_run(cluster) as run:
        load, tally = run.load, run.tally
        job_ids = await jobs(load, 40)

        async def worker(n: int) -> None:
            http = load.clients[n % 2]
            job = 0
            while not stop.is_set():
                began = time.monotonic()
                before = sum(tally.statuses.values())
                await load.call(tally, job_ids[(n * 7 + job) % 40], OK_CALL, http=http, allowed_5xx=unavailable)
                job += 1
                status = None
                if sum(tally.statuses.values()) > before:
                    status = 0  # a status arrived (details in tally)
                samples.append((began, time.monotonic() - began, status))
                if status is None:
                    await asyncio.sleep(0.05)

        async def health(url: str) -> int:
            async with httpx.AsyncClient(base_url=url, timeout=5) as http:
                return (await http.get("/health/db")).status_code

        try:
            workers = [asyncio.create_task(worker(n)) for n in range(20)]
            await asyncio.sleep(2.0)
            stopped_at = time.monotonic()
            await asyncio.to_thread(cluster.pg.stop)
            while not all(s == 503 for s in await asyncio.gather(*(health(u) for u in cluster.urls))):
                assert time.monotonic() - stopped_at < 30, "/health/db never said 503"
                await asyncio.sleep(0.05)
            known_down_at = time.monotonic()
            # From now on every call must answer 503 within a second.
            mark = len(samples)
            down_tally_start = dict(tally.statuses)
            await asyncio.sleep(4.0)
            restart_at = time.monotonic()
            down_samples = [s for s in samples[mark:] if s[0] >= known_down_at and s[0] + s[1] < restart_at]
            down_statuses = {k: v - down_tally_start.get(k, 0) for k, v in tally.statuses.items()}
            await asyncio.to_thread(cluster.pg.start)
            while not all(s == 200 for s in await asyncio.gather(*(health(u) for u in cluster.urls))):
                assert time.monotonic() - restart_at < 90, "no recovery without a restart"
                await asyncio.sleep(0.1)
            recovered_at = time.monotonic()
            ok_before = tally.statuses[200]
            await asyncio.sleep(3.0)
            stop.set()
            await asyncio.gather(*workers)
        finally:
            stop.set()
    assert down_samples, "no call was made while the database was down"
    slowest = max(latency for _, latency, _ in down_samples)
    assert slowest < 1.0, f"a call took {slowest:.2f} s to answer with the database known down"
    assert tally.ours_5xx == [], tally.ours_5xx[:5]  # 503 unavailable only, never a 500
    assert tally.non_problem_errors == [], tally.non_problem_errors[:5]
    assert tally.transport_errors == [], tally.transport_errors[:5]
    assert tally.statuses[200] > ok_before, "calls did not succeed again after recovery"
    run.report(
        await run.invariants(),
        scenario="database outage",
        load="20 closed-loop callers over 2 instances; Postgres stopped (immediate) for ~4 s, then started",
        faults="pg_ctl stop -m immediate mid-load",
        during_outage=down_statuses,
        calls_while_known_down=len(down_samples),
        slowest_answer_while_down_s=round(slowest, 3),
        known_down_after_s=round(known_down_at - stopped_at, 3),
        recovered_after_restart_s=round(recovered_at - restart_at, 3),
    )


async def test_soak_mixed_load_keeps_memory_and_connections_flat(cluster: Cluster) -> None:
    token = await cluster.admin_token()
    admin_headers = {"Authorization": f"Bearer {token}"}
    stop = asyncio.Event()
    counts = {"calls": 0, "streams": 0, "completions": 0, "admin_reads": 0}
    async with load_run(cluster) as run:
        load, tally, team_id = run.load, run.tally, run.team_id

        async def client_worker(n: int) -> None:
            http = load.clients[n % 2]
            while not stop.is_set():
                job_id = await load.new_job(http)
                for _ in range(random.randint(1, 4)):
                    if random.random() < 0.4:
                        await load.call(tally, job_id, call_body("quick-stream"), stream=True, http=http)
                        counts["streams"] += 1
                    else:
                        await load.call(tally, job_id, OK_CALL, http=http)
                        counts["calls"] += 1
                response = await http.post(f"/api/jobs/{job_id}/complete", json={"status": "completed"})
                tally.add(response, response.content)
                counts["completions"] += 1

        async def admin_worker(n: int) -> None:
            http = load.clients[n % 2]
            while not stop.is_set():
                for path in (f"/api/teams/{team_id}/credits", f"/api/teams/{team_id}/usage", "/metrics"):
                    response = await http.get(path, headers=admin_headers)
                    tally.add(response, response.content)
                    assert response.status_code == 200, (path, response.status_code, response.text[:200])
                    counts["admin_reads"] += 1
                await asyncio.sleep(0.2)

        try:
            workers = [asyncio.create_task(client_worker(n)) for n in range(12)]
            workers += [asyncio.create_task(admin_worker(n)) for n in range(2)]
            await asyncio.sleep(min(10.0, SOAK_S / 5))  # warm up: caches, pools, allocator arenas
            rss_start, sockets_start = cluster.rss(), cluster.sockets()
            await asyncio.sleep(SOAK_S)
            rss_end, sockets_end = cluster.rss(), cluster.sockets()
            stop.set()
            await asyncio.gather(*workers)
        finally:
            stop.set()
    assert tally.transport_errors == [], tally.transport_errors[:5]
    assert tally.five_xx == 0, tally.ours_5xx[:5]
    for name, start in rss_start.items():
        # flat: no more than 15 % + 16 MB over the soak (allocator noise, not a leak's slope)
        assert rss_end[name] <= start * 1.15 + 16_384, (name, start, rss_end[name])
        assert sockets_end[name] <= sockets_start[name] + 30, (name, sockets_start[name], sockets_end[name])
    run.report(
        await run.invariants(),
        rss_start=rss_start,
        rss_end=rss_end,
        scenario="soak",
        load=f"{SOAK_S:.0f} s measured (after warm-up): 12 client loops + 2 admin readers over 2 instances",
        faults="none",
        counts=counts,
        sockets_start=sockets_start,
        sockets_end=sockets_end,
    )
