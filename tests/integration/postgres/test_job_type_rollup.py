"""The rollup's bucket function in SQL is the domain's (domain/economics.py value_bucket)."""

import psycopg
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from domain.economics import value_bucket

values = st.one_of(st.integers(0, 2_000), st.integers(0, 10**40), st.sampled_from([10**k for k in range(30)]))


@settings(max_examples=300, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(values, min_size=1, max_size=50))
async def test_saasllm_bucket_equals_value_bucket(postgres_url: str, ns: list[int]) -> None:
    async with await psycopg.AsyncConnection.connect(postgres_url) as conn:
        cursor = await conn.execute("SELECT saasllm_bucket(n) FROM unnest(%s::numeric[]) AS n", (ns,))
        found = [row[0] for row in await cursor.fetchall()]
    assert found == [value_bucket(n) for n in ns]


def test_the_benchmark_seed_backfills_the_rollup_as_the_migration_does() -> None:
    from adapters.postgres.migrate import MIGRATIONS_DIR
    from benchmarks.db import ROLLUP_BACKFILL

    migration = (MIGRATIONS_DIR / "0011_job_type_rollup.sql").read_text()
    assert ROLLUP_BACKFILL.strip() + ";" in migration
    assert ROLLUP_BACKFILL.startswith("INSERT INTO job_type_rollups")
    assert ROLLUP_BACKFILL.rstrip().endswith("GROUP BY 1, 2, 3, 4, 5")
