"""Reading the job API's server-sent events back in tests."""

import json
from typing import Any


def sse_events(text: str) -> list[tuple[str, dict[str, Any]]]:
    """Each event of a job-API stream as (event name, parsed data)."""
    found = []
    for block in text.strip().split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.splitlines())
        found.append((lines["event"], json.loads(lines["data"])))
    return found
