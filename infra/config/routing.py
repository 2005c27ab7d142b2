"""Per-model request routing and the platform's inference gateway (Gateway API Inference Extension).

With more than one replica, a plain Service spreads requests blindly: a shared system prompt finds
a warm KV cache on about 1/N of them. Routed through an InferencePool, the gateway asks the model's
endpoint picker (EPP, sigs.k8s.io/gateway-api-inference-extension v1.5.0 cmd/epp) which replica to
use; the picker scores replicas by the prompt prefixes it sent them, by queue depth and by KV-cache
use, from the servers' own /metrics.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from infra import versions
from infra.config.base import Strict
from infra.config.types import DNS1035


class Scorers(Strict):
    """Weights of the picker's scorers (EPP EndpointPickerConfig schedulingProfiles). A replica's
    score is the weighted sum of each scorer's score in [0, 1]; 0 leaves a scorer out. The defaults
    are the picker's own (GIE v1.5.0 pkg/epp/config/loader/defaults.go loadDefaultConfig)."""

    prefix_cache: float = Field(default=3, ge=0)
    """Prefer the replica that was last sent the longest matching prompt prefix (its KV cache
    likely still holds it): fewer prompt tokens computed, lower time to first token."""
    queue: float = Field(default=2, ge=0)
    """Prefer the replica with the fewest waiting requests (vllm:num_requests_waiting,
    sglang:num_queue_reqs, llamacpp:requests_deferred): keeps a hot prefix from overloading one replica."""
    kv_cache_utilization: float = Field(default=2, ge=0)
    """Prefer the replica with the most free KV cache (vllm:kv_cache_usage_perc, sglang:token_usage).
    llama.cpp exports no KV-usage series: not used for llama.cpp models."""
    lora_affinity: float = Field(default=0, ge=0)
    """vLLM with LoRA adapters: prefer a replica that already has the request's adapter loaded
    (vllm:lora_requests_info)."""

    @model_validator(mode="after")
    def _some_weight(self) -> Scorers:
        if self.prefix_cache + self.queue + self.kv_cache_utilization + self.lora_affinity <= 0:
            raise ValueError("every weight is 0: the picker would choose at random; give at least one scorer a weight > 0")
        return self


class Routing(Strict):
    mode: Literal["auto", "picker", "service"] = "auto"
    """picker: through the platform's inference gateway and this model's endpoint picker
    (InferencePool); service: the model's Service (round robin); auto: picker when the stack has
    an inference gateway (platform.inferenceGateway.enabled) and the model can run more than one
    replica (replicas, or autoscaling.maxReplicas) reached directly, else service."""
    scorers: Scorers = Field(default_factory=Scorers)
    prefix_block_size_tokens: int = Field(default=16, ge=1)
    """Prompt block the picker hashes for prefix matching (x 4 characters per token). The picker
    takes vLLM's real KV block size from vllm:cache_config_info when it can (autoTune)."""
    failure_mode: Literal["FailClose", "FailOpen"] = "FailClose"
    """What the gateway does when the picker is down: FailClose answers 5xx; FailOpen routes to any
    replica blindly (the picker's alerts still fire). FailClose is the InferencePool API's default."""

    def enabled(self, max_replicas: int) -> bool:
        return self.mode == "picker" or (self.mode == "auto" and max_replicas > 1)


class InferenceGateway(Strict):
    """The Gateway the models' HTTPRoutes attach to. The gateway implementation itself is the
    cluster's (it must implement the Gateway API Inference Extension: Istio, kgateway,
    agentgateway, NGINX Gateway Fabric, GKE Gateway); the platform installs the Gateway API and
    InferencePool CRDs."""

    enabled: bool = False
    """Route models through this Gateway (models' routing.mode auto or picker). Needs a gateway
    implementation on the cluster; off, every model is reached through its Service."""
    install_crds: bool = True
    """Install the Gateway API (standard channel) and InferencePool CRDs with the platform layer
    (when enabled). false when the gateway implementation's own install brought them."""
    crd_manifests: list[str] = Field(default_factory=lambda: list(versions.INFERENCE_CRD_MANIFESTS), min_length=1)
    """Where those CRDs come from: the pinned releases' manifests (URLs or local paths); point
    them at a mirror on air-gapped clusters."""
    name: str = Field(default="inference-gateway", pattern=DNS1035)
    """Gateway (gateway.networking.k8s.io/v1) the HTTPRoutes attach to; it must exist (checked
    before anything is created when the program can read the cluster)."""
    namespace: str = Field(default="gateway-system", pattern=DNS1035)
    """Its namespace; the models' NetworkPolicy admits traffic from it."""
    section_name: str | None = Field(default=None, pattern=DNS1035)
    """Listener of the Gateway to attach to; unset: every listener that allows the route."""
    hostname: str | None = Field(default=None, pattern=r"^(\*\.)?[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
    """Host clients send (the HTTPRoutes' hostnames); unset: any host the listener accepts."""
    base_url: str | None = Field(default=None, pattern=r"^https?://\S+$")
    """How clients reach the Gateway (its external address); stack outputs give each routed
    model's base URL under it. Unset: the in-cluster address <name>.<namespace>.svc."""
