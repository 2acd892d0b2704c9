"""``make test-reliability``: the app as separate processes under load and faults.

Not part of ``make test`` (``tests/conftest.py`` leaves this folder out unless
``RELIABILITY=1``). Knobs for a longer, nightly-style run:
``RELIABILITY_SOAK_S`` (default 30; nightly 300), ``RELIABILITY_FUZZ_EXAMPLES`` (default
20 per operation; nightly 200), ``RELIABILITY_CALLS`` (default 500).
"""

import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.reliability.cluster import Cluster, open_cluster

SOAK_S = float(os.environ.get("RELIABILITY_SOAK_S", "30"))
FUZZ_EXAMPLES = int(os.environ.get("RELIABILITY_FUZZ_EXAMPLES", "20"))
CALLS = int(os.environ.get("RELIABILITY_CALLS", "500"))


@pytest.fixture(scope="session")
async def cluster(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Cluster]:
    workdir: Path = tmp_path_factory.mktemp("reliability")
    async with open_cluster(workdir) as world:
        yield world
        print("\nreliability results:", workdir.parent / "reliability-results.json")
