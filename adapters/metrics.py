"""Prometheus metrics (``prometheus_client``): exposed at ``GET /metrics``."""

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from application.ports.observability import BreakerState, TargetKey
from domain.calls import CallStatus, LlmCall
from domain.jobs import CostSummary, JobStatus

LATENCY_BUCKETS_S = (0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120)
BREAKER_VALUES = {BreakerState.CLOSED: 0, BreakerState.OPEN: 1, BreakerState.HALF_OPEN: 2}


class PrometheusMetrics:
    """One registry per service instance (not the global one, so tests stay isolated)."""

    content_type = CONTENT_TYPE_LATEST

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        labels = ("provider", "model", "status")
        self._calls = Counter("llm_calls", "LLM calls recorded", labels, registry=self.registry)
        self._tokens = Counter(
            "llm_tokens", "Tokens by category", ("provider", "model", "category"), registry=self.registry
        )
        self._provider_cost = Counter(
            "llm_provider_cost_usd", "What providers charge us (USD)", ("provider", "model"), registry=self.registry
        )
        self._customer_price = Counter(
            "llm_customer_price_usd", "What customers pay (USD)", ("provider", "model"), registry=self.registry
        )
        self._errors = Counter(
            "llm_provider_errors", "Failed calls by error code", ("provider", "model", "code"), registry=self.registry
        )
        self._latency = Histogram(
            "llm_call_latency_seconds", "Call latency", ("provider", "model"), buckets=LATENCY_BUCKETS_S,
            registry=self.registry,
        )  # fmt: skip
        self._jobs = Counter("jobs_finished", "Jobs by final status", ("status",), registry=self.registry)
        self._breakers = Gauge(
            "llm_target_circuit_state",
            "Circuit breaker of each provider target in this instance: 0 closed, 1 open, 2 half-open",
            ("provider", "model", "credential"),
            registry=self.registry,
        )

    def call_recorded(self, call: LlmCall) -> None:
        provider, model = call.provider.value, call.provider_model
        self._calls.labels(provider, model, call.status.value).inc()
        usage = call.usage
        for category, count in (
            ("input", usage.input),
            ("cached_input", usage.cached_input),
            ("cache_write", usage.cache_write),
            ("output", usage.output),
            ("reasoning", usage.reasoning),
        ):
            if count:
                self._tokens.labels(provider, model, category).inc(count)
        # Counters are floats by nature; the exact amounts live in the database.
        self._provider_cost.labels(provider, model).inc(float(call.cost.provider_cost_usd))
        self._customer_price.labels(provider, model).inc(float(call.cost.customer_price_usd))
        self._latency.labels(provider, model).observe(call.latency_ms / 1000)
        if call.status is CallStatus.FAILED:
            self._errors.labels(provider, model, call.error_code or "unknown").inc()

    def job_finished(self, status: JobStatus, summary: CostSummary) -> None:
        self._jobs.labels(status.value).inc()

    def breaker_state(self, key: TargetKey, state: BreakerState) -> None:
        self._breakers.labels(key.provider.value, key.provider_model, key.credential).set(BREAKER_VALUES[state])

    def render(self) -> bytes:
        return generate_latest(self.registry)
