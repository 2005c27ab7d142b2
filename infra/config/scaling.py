"""Per-model autoscaling and rollout config. LLM servers scale on queue depth (and optionally
KV-cache usage and p95 time per output token), never on CPU/GPU utilisation: a GPU is "busy"
long before a replica is saturated, and idle-looking while requests queue."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from infra.config.base import Strict


class Autoscaling(Strict):
    mode: Literal["none", "keda", "knative"] = "none"
    """none: fixed `replicas`; keda: KEDA ScaledObject on Prometheus queries (KServe Standard
    mode), scale to zero through the KEDA HTTP add-on; knative: Knative KPA on in-flight requests
    (KServe Knative mode, scale to zero through Knative's activator)."""
    min_replicas: int = Field(default=1, ge=0)
    """0 (scale to zero) needs something outside the model pods that holds requests while a pod
    starts: Knative's activator (mode knative) or the KEDA HTTP add-on's interceptor (mode keda,
    platform.keda.httpAddon). KEDA's Prometheus triggers read metrics the model pods export, which
    do not exist at zero, so the add-on's scaler wakes the model and they scale it above one."""
    max_replicas: int = Field(default=1, ge=1)
    queue_depth_per_replica: float = Field(default=4, gt=0)
    """keda: target waiting requests per replica (vllm:num_requests_waiting,
    llamacpp:requests_deferred)."""
    kv_cache_usage_threshold: float | None = Field(default=None, gt=0, le=1)
    """keda, vLLM: also scale out when mean KV-cache usage per replica passes this share."""
    tpot_p95_seconds: float | None = Field(default=None, gt=0)
    """keda, vLLM: also scale out when p95 time per output token passes this many seconds."""
    polling_interval_seconds: int = Field(default=15, ge=1)
    cooldown_period_seconds: int = Field(default=300, ge=0)
    """keda, minReplicas 0: idle time (no request through the interceptor, queue empty) before the
    last replica is stopped."""
    scale_down_stabilization_seconds: int = Field(default=600, ge=0)
    """Scale in slowly: a replica takes minutes to come back (weights load, warm-up)."""
    scale_up_step_seconds: int = Field(default=60, ge=1)
    """keda: add at most one replica per this many seconds (each new replica loads weights first)."""
    scale_down_step_seconds: int = Field(default=300, ge=1)
    """keda: remove at most one replica per this many seconds, after the stabilization window."""
    prometheus_url: str | None = Field(default=None, pattern=r"^https?://\S+$")
    """Prometheus that scrapes the model pods (keda triggers query it). Unset: the platform's
    (the chart's top-level prometheusUrl, which the program derives from platform.monitoring)."""
    target_concurrency: int | None = Field(default=None, ge=1)
    """knative: in-flight requests per replica before the KPA adds one; default maxNumSeqs / 2."""
    request_timeout_seconds: int = Field(default=600, ge=1, le=600)
    """knative: longest a request may run (a long streamed completion) before the queue-proxy
    ends it (the Knative Service's timeoutSeconds; Knative's max-revision-timeout-seconds, 600 by
    default, caps it). Knative also derives the pod's termination grace period from it.
    keda with minReplicas 0: how long the HTTP add-on's interceptor waits for response headers
    (a non-streamed completion sends them only when it is done)."""
    weights_download_seconds: int = Field(default=1800, ge=0)
    """Image pull + weight download before the server starts. knative: Knative's progress
    deadline is this plus the startup probe budget (at least its own 600 s default). keda with
    minReplicas 0: the HTTP add-on's interceptor holds a request that long plus the startup probe
    budget while the model wakes (its conditionWait), then answers 502."""
    scale_to_zero_retention_seconds: int = Field(default=600, ge=0)
    """knative: keep the last replica this long after traffic stops (a cold start costs minutes)."""

    @property
    def wakes_through_http_addon(self) -> bool:
        """Scales to zero through the KEDA HTTP add-on (reached through its interceptor)."""
        return self.mode == "keda" and self.min_replicas == 0

    @model_validator(mode="after")
    def _bounds(self) -> Autoscaling:
        if self.min_replicas > self.max_replicas:
            raise ValueError(f"minReplicas: must be <= maxReplicas ({self.max_replicas}), got {self.min_replicas}")
        if self.min_replicas == 0 and self.mode == "none":
            raise ValueError("minReplicas: 0 needs mode keda (with the HTTP add-on) or knative, got mode none")
        return self


class Rollout(Strict):
    spare_capacity_for_surge: bool = True
    """A rolling update starts the new pod before stopping the old one (maxSurge 1,
    maxUnavailable 0). Set false when the GPU quota has no room for that extra pod: the rollout
    would wait forever, so the Recreate strategy is used instead (a short outage per replica)."""
    canary_traffic_percent: int | None = Field(default=None, ge=0, le=100)
    """knative only: share of traffic sent to the latest revision (model upgrade canary)."""
    pre_stop_seconds: int = Field(default=15, ge=0)
    """Wait before SIGTERM so endpoints stop routing to the pod before it drains."""
