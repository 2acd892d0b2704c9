"""Shared test configuration."""

import os

from hypothesis import HealthCheck, settings

settings.register_profile("ci", max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("default", max_examples=100, deadline=None)
settings.load_profile("ci")

pytest_plugins = ["tests.postgres_fixtures"]

# The reliability suite (separate processes, minutes of load) runs in `make test-reliability`.
collect_ignore = [] if os.environ.get("RELIABILITY") == "1" else ["reliability"]
