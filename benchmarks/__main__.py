"""`make bench`: the gateway side by side with the upstream called directly (see benchmarks/bench.py)."""

import sys

from benchmarks import bench

sys.exit(bench.main())
