"""`make bench`: the adapters' parse+normalize overhead, then the per-call hot path."""

from benchmarks import adapters, hot_path

adapters.main()
hot_path.main()
