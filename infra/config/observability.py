"""Observability config: per-model alert thresholds, and release-wide monitoring and tracing."""

from __future__ import annotations

from pydantic import Field

from infra import versions
from infra.config.base import Strict


class AlertThresholds(Strict):
    """Per-model alert thresholds (PrometheusRule). Set them from the model's SLO and its bench."""

    ttft_p95_seconds: float = Field(default=2.0, gt=0)
    tpot_p95_seconds: float = Field(default=0.15, gt=0)
    error_ratio: float = Field(default=0.05, gt=0, lt=1)
    """Share of HTTP requests answered 5xx."""
    kv_cache_usage: float = Field(default=0.9, gt=0, le=1)
    """KV-cache usage above which preemptions mean thrashing."""
    gpu_util_low_percent: float = Field(default=30, gt=0, le=100)
    """GPU busy below this while requests wait: the GPU is not the bottleneck (see runbook)."""


class Tracing(Strict):
    enabled: bool = False
    """vLLM sends OpenTelemetry traces (request spans with queue, prefill and decode timings) to an
    OpenTelemetry Collector this chart deploys."""
    exporter_endpoint: str | None = Field(default=None, examples=["tempo.monitoring.svc:4317"])
    """OTLP/gRPC endpoint of the tracing backend; unset: the collector only logs spans."""
    detailed: bool = False
    """--collect-detailed-traces all: per-step model/worker spans (costs throughput)."""
    collector_image: str = Field(default=versions.OTEL_COLLECTOR_IMAGE, pattern=r"^\S+:[\w][\w.-]*$")
    """Pinned collector image (repository:tag)."""


class Observability(Strict):
    metrics: bool = True
    """PodMonitor, PrometheusRule (recording rules + alerts) and the Grafana dashboard."""
    runbook_base_url: str = Field(
        default="https://github.com/llm-platform/llm-platform/blob/main/runbooks",
        pattern=r"^https?://\S+[^/]$",
    )
    """Where this repository's runbooks/ folder is browsable; alerts link <base>/<alert file>.md."""
    tracing: Tracing = Field(default_factory=Tracing)
