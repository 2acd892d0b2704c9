"""Prometheus metrics (``prometheus_client``): exposed at ``GET /metrics``.

Calls are labelled with the alias (what usage reports and clients speak of) as well as
the provider and provider model. No ``*_created`` series: one sample per counter, not two.
"""

from collections.abc import Callable, Iterator, Mapping

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, disable_created_metrics, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.registry import Collector

from application.ports.observability import BreakerState, TargetKey
from domain.calls import CallStatus, LlmCall
from domain.jobs import CostSummary, JobStatus

LATENCY_BUCKETS_S = (0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120)
BREAKER_VALUES = {BreakerState.CLOSED: 0, BreakerState.OPEN: 1, BreakerState.HALF_OPEN: 2}

HTTP_BUCKETS_S = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)

disable_created_metrics()  # type: ignore[no-untyped-call]


class PrometheusMetrics:
    """One registry per service instance (not the global one, so tests stay isolated)."""

    content_type = CONTENT_TYPE_LATEST

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        registry = self.registry

        def counter(name: str, documentation: str, *labels: str) -> Counter:
            return Counter(name, documentation, labels, registry=registry)

        call = ("provider", "model", "alias")  # the labels of a call's series
        self._calls = counter("llm_calls", "LLM calls recorded", *call, "status")
        self._tokens = counter("llm_tokens", "Tokens by category", *call, "category")
        self._provider_cost = counter("llm_provider_cost_usd", "What providers charge us (USD)", *call)
        self._customer_price = counter("llm_customer_price_usd", "What customers pay (USD)", *call)
        self._errors = counter("llm_provider_errors", "Failed calls by error code", *call, "code")
        self._latency = Histogram(
            "llm_call_latency_seconds", "Call latency", call, buckets=LATENCY_BUCKETS_S, registry=registry
        )
        self._jobs = counter("jobs_finished", "Jobs by final status", "status")
        self._breakers = Gauge(
            "llm_target_circuit_state",
            "Circuit breaker of each provider target in this instance: 0 closed, 1 open, 2 half-open",
            ("provider", "model", "credential"),
            registry=registry,
        )
        self._holds_refused = counter(
            "llm_holds_refused", "Calls refused for lack of credits (provider never called)", "provider", "alias"
        )
        self._cache = counter("reference_cache_lookups", "In-process reference cache reads", "cache", "result")
        self._http = counter("http_requests", "HTTP requests by route and status", "method", "route", "status")
        self._http_latency = Histogram(
            "http_request_duration_seconds",
            "HTTP request duration (streams: to their end)",
            ("method", "route"),
            buckets=HTTP_BUCKETS_S,
            registry=registry,
        )
        self._open_streams = Gauge("http_open_streams", "Event streams being sent now", registry=registry)

    def call_recorded(self, call: LlmCall) -> None:
        provider, model, alias = call.provider.value, call.provider_model, call.alias
        self._calls.labels(provider, model, alias, call.status.value).inc()
        usage = call.usage
        for category, count in (
            ("input", usage.input),
            ("cached_input", usage.cached_input),
            ("cache_write", usage.cache_write),
            ("output", usage.output),
            ("reasoning", usage.reasoning),
        ):
            if count:
                self._tokens.labels(provider, model, alias, category).inc(count)
        # Counters are floats by nature; the exact amounts live in the database.
        self._provider_cost.labels(provider, model, alias).inc(float(call.cost.provider_cost_usd))
        self._customer_price.labels(provider, model, alias).inc(float(call.cost.customer_price_usd))
        self._latency.labels(provider, model, alias).observe(call.latency_ms / 1000)
        if call.status is CallStatus.FAILED:
            self._errors.labels(provider, model, alias, call.error_code or "unknown").inc()

    def job_finished(self, status: JobStatus, summary: CostSummary) -> None:
        self._jobs.labels(status.value).inc()

    def breaker_state(self, key: TargetKey, state: BreakerState) -> None:
        self._breakers.labels(key.provider.value, key.provider_model, key.credential).set(BREAKER_VALUES[state])

    def cache_lookup(self, cache: str, *, hit: bool) -> None:
        self._cache.labels(cache, "hit" if hit else "miss").inc()

    def hold_refused(self, provider: str, alias: str) -> None:
        self._holds_refused.labels(provider, alias).inc()

    def http_request(self, method: str, route: str, status: int, duration_s: float) -> None:
        self._http.labels(method, route, str(status)).inc()
        self._http_latency.labels(method, route).observe(duration_s)

    def stream_opened(self) -> None:
        self._open_streams.inc()

    def stream_closed(self) -> None:
        self._open_streams.dec()

    def watch_pool(self, stats: Callable[[], Mapping[str, int]], down: Callable[[], bool]) -> None:
        """Report the database pool at every scrape (psycopg_pool's ``get_stats``)."""
        self.registry.register(_PoolCollector(stats, down))

    def render(self) -> bytes:
        return generate_latest(self.registry)


class _PoolCollector(Collector):
    def __init__(self, stats: Callable[[], Mapping[str, int]], down: Callable[[], bool]) -> None:
        self._stats = stats
        self._down = down

    def collect(self) -> Iterator[GaugeMetricFamily]:
        stats = self._stats()
        size, available = stats.get("pool_size", 0), stats.get("pool_available", 0)
        yield GaugeMetricFamily("db_pool_size", "Connections the pool holds", value=size)
        yield GaugeMetricFamily("db_pool_in_use", "Connections checked out now", value=size - available)
        yield GaugeMetricFamily(
            "db_pool_waiting", "Callers waiting for a connection", value=stats.get("requests_waiting", 0)
        )
        yield GaugeMetricFamily("db_pool_max", "The pool's maximum size", value=stats.get("pool_max", 0))
        yield GaugeMetricFamily("db_down", "1 while the pool knows the database is down", value=int(self._down()))
