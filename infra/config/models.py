"""Per-model config: the fields every model has, and the vLLM and llama.cpp runtimes."""

from __future__ import annotations

import re
from typing import Any, ClassVar, Literal

from pydantic import Field, field_validator, model_validator

from infra import versions
from infra.architecture import Architecture
from infra.config.base import Strict
from infra.config.vllm_options import Lora, Speculative
from infra.config.types import DNS1035, MODEL_NAME_MAX, Image, ModelSource, Resources, Toleration
from infra.config.local_model import CACHEABLE_SCHEMES, ModelCache
from infra.config.observability import AlertThresholds
from infra.config.routing import Routing
from infra.config.scaling import Autoscaling, Rollout
from infra.server_flags import unknown_flag

class Gpu(Strict):
    count: int = Field(ge=1, le=8)
    """GPUs per replica; vLLM runs tensor parallel across all of them (--tensor-parallel-size)."""
    product: str | None = Field(default=None, examples=["NVIDIA-L4", "NVIDIA-A100-SXM4-80GB"])
    """Value of the node label nvidia.com/gpu.product to pin the model to one GPU type; the
    capacity planner takes the GPU's memory from its catalog."""
    memory_gib: float | None = Field(default=None, gt=0)
    """GPU memory as CUDA reports it, for GPUs the planner's catalog does not know."""

# Seconds a model pod gets to finish in-flight requests before SIGKILL; the config refuses less and
# the termination-grace-period policy enforces the same floor on objects from any source.
MIN_TERMINATION_GRACE_SECONDS = 120


class Probes(Strict):
    """Probe timings. Startup is long because weights load before /health answers."""

    period_seconds: int = Field(default=10, ge=1)
    startup_failure_threshold: int = Field(default=90, ge=1)
    """periodSeconds x this = how long a replica may take to load weights before it is restarted.
    Unless set, the Pulumi program derives it from the weight size (planner); 90 applies to
    Helm-only installs."""
    timeout_seconds: int | None = Field(default=None, ge=1)
    """Seconds the kubelet waits for /health to answer. Unset: the runtime's own (vLLM and
    llama.cpp 5; SGLang 25, since its /health runs a one-token generation and waits at least 1 s
    for it, up to its SGLANG_HEALTH_CHECK_TIMEOUT; Kubernetes' own 1 s default would fail every
    SGLang probe)."""


def _probes_with_timeout(seconds: int) -> Probes:
    return Probes(timeout_seconds=seconds)


class ModelBase(Strict):
    # Default /health probe timeout of this runtime (Probes.timeout_seconds says why per runtime).
    probe_timeout_seconds: ClassVar[int] = 5
    # Scorers the endpoint picker can feed from this runtime's /metrics (queue depth always).
    picker_series: ClassVar[dict[str, str]] = {
        "kvCacheUtilization": "vllm:kv_cache_usage_perc", "loraAffinity": "vllm:lora_requests_info",
    }  # fmt: skip

    name: str = Field(pattern=DNS1035, max_length=MODEL_NAME_MAX)
    """Kubernetes object name for this model (DNS-1035), unique in the stack."""
    served_model_name: str | None = Field(default=None, min_length=1)
    """Name clients put in the OpenAI `model` field; defaults to `name`."""
    source: ModelSource
    """Where the weights come from: hf://org/name, s3://bucket/prefix or pvc://claim/path."""
    max_model_len: int = Field(gt=0)
    """Longest request (prompt + completion) in tokens. The KV cache must hold at least one."""
    max_num_seqs: int | None = Field(default=None, gt=0)
    """Concurrent sequences per replica (vLLM --max-num-seqs, llama.cpp --parallel slots)."""
    replicas: int = Field(default=1, ge=1)
    """Replica count with autoscaling mode none."""
    autoscaling: Autoscaling = Field(default_factory=Autoscaling)
    """Queue-depth autoscaling (keda; scale to zero through the KEDA HTTP add-on), or request-driven with scale to zero (knative)."""
    rollout: Rollout = Field(default_factory=Rollout)
    """Zero-downtime updates: surge one pod, drain before stopping."""
    routing: Routing = Field(default_factory=Routing)
    """How requests reach the replicas: the model's endpoint picker (prefix-cache aware, through
    the platform's inference gateway) or its Service."""
    alerts: AlertThresholds = Field(default_factory=AlertThresholds)
    """Thresholds of this model's alerts (latency, errors, KV cache, GPU utilisation)."""
    node_selector: dict[str, str] = Field(default_factory=dict)
    """Extra node labels the pods must match (the GPU product label is added from gpu.product)."""
    tolerations: list[Toleration] = Field(default_factory=list)
    """Taints the pods tolerate; vLLM pods always tolerate nvidia.com/gpu:NoSchedule."""
    termination_grace_period_seconds: int = Field(default=MIN_TERMINATION_GRACE_SECONDS, ge=MIN_TERMINATION_GRACE_SECONDS)
    """At least the longest request: a streamed completion can run for minutes. vLLM's
    --shutdown-timeout drains in-flight requests within it. The floor is the policy pack's
    termination-grace-period threshold (one number, here)."""
    probes: Probes = Field(default_factory=lambda: _probes_with_timeout(ModelBase.probe_timeout_seconds))
    """Health probe timing on the server's /health endpoint."""
    architecture: Architecture | str | None = None
    """For the capacity planner: a catalog key (e.g. llama-3.1-8b) or the dimensions themselves.
    Not needed for hf:// sources the catalog knows."""
    hf_config: str | None = None
    """Path (relative to the project) of the model's Hugging Face config.json, instead of
    architecture."""
    extra_args: list[str] = Field(default_factory=list)
    """Escape hatch for server flags this model does not type yet. Typed flags are refused here."""

    @property
    def served_name(self) -> str:
        return self.served_model_name or self.name

    @property
    def max_replica_count(self) -> int:
        return self.replicas if self.autoscaling.mode == "none" else self.autoscaling.max_replicas

    @property
    def routing_blocker(self) -> str | None:
        """Why the gateway cannot route to this model's pods, if it cannot: Knative pods are reached
        through the activator and their queue-proxy (the picker would bypass both), and at zero
        replicas there is no pod to pick while the wake-up path goes through the HTTP add-on."""
        if self.autoscaling.mode == "knative":
            return "autoscaling.mode knative routes through Knative's activator and queue-proxy"
        if self.autoscaling.min_replicas == 0:
            return "autoscaling.minReplicas 0 wakes the model through the KEDA HTTP add-on, not the gateway"
        return None

    def routed(self, gateway: bool) -> bool:
        """Requests reach this model through its InferencePool (the chart's llm-serving.routed);
        gateway: the stack has an inference gateway (platform.inferenceGateway.enabled)."""
        if self.routing.mode == "auto":
            return gateway and self.max_replica_count > 1 and self.routing_blocker is None
        return self.routing.mode == "picker"

    @model_validator(mode="after")
    def _routable(self) -> ModelBase:
        if self.routing.mode == "picker" and self.routing_blocker:
            raise ValueError(f"routing.mode: picker cannot work here: {self.routing_blocker}; use routing.mode service, got 'picker'")
        scorers = self.routing.scorers
        for key, field in (("kvCacheUtilization", "kv_cache_utilization"), ("loraAffinity", "lora_affinity")):
            weight = getattr(scorers, field)
            # A default weight the runtime cannot feed is left out by the chart; one set by hand is refused.
            if weight > 0 and field in scorers.model_fields_set and key not in self.picker_series:
                raise ValueError(
                    f"routing.scorers.{key}: {self.runtime} exports no series for this scorer (the picker would score "
                    f"every replica alike); set it to 0, got {weight:g}"
                )
        return self

    @model_validator(mode="before")
    @classmethod
    def _runtime_probe_timeout(cls, data: Any) -> Any:
        """A probes block that sets other keys still gets the runtime's timeout, never Kubernetes' 1 s."""
        if isinstance(data, dict) and isinstance(data.get("probes"), dict) and data["probes"].get("timeoutSeconds") is None:
            return {**data, "probes": {**data["probes"], "timeoutSeconds": cls.probe_timeout_seconds}}
        return data


# Flags each runtime's typed fields own; extraArgs may not repeat them (the typed value would be
# silently overridden or duplicated, and reviewers would read the wrong number).
VLLM_OWNED_FLAGS = frozenset(
    {
        "--model", "--served-model-name", "--max-model-len", "--max-num-seqs",
        "--max-num-batched-tokens", "--gpu-memory-utilization", "--enable-prefix-caching",
        "--no-enable-prefix-caching", "--enable-chunked-prefill", "--no-enable-chunked-prefill",
        "--tensor-parallel-size", "-tp", "--quantization", "-q", "--port", "--host", "--dtype",
        "--revision", "--kv-cache-dtype", "--shutdown-timeout", "--distributed-timeout-seconds",
        "--otlp-traces-endpoint", "--collect-detailed-traces", "--enable-lora", "--lora-modules",
        "--max-lora-rank", "--max-loras", "--max-cpu-loras", "--speculative-config",
    }
)  # fmt: skip
LLAMACPP_OWNED_FLAGS = frozenset(
    {
        "-m", "--model", "-a", "--alias", "-c", "--ctx-size", "-np", "--parallel", "-t",
        "--threads", "--host", "--port", "--metrics", "-ngl", "--gpu-layers", "--n-gpu-layers",
    }
)  # fmt: skip


def _check_extra_args(args: list[str], owned: frozenset[str], runtime: str) -> list[str]:
    for arg in args:
        flag = arg.split("=", 1)[0]
        if flag in owned:
            raise ValueError(f"{flag} is set by a typed field of this model; set that field instead, got {arg!r}")
        if problem := unknown_flag(arg, runtime):
            raise ValueError(problem)
    return args


class VllmModel(ModelBase):
    """A KServe InferenceService served by vLLM's OpenAI-compatible server on GPUs."""

    runtime: Literal["vllm"]
    """Serving engine: vLLM behind a KServe InferenceService."""
    quantization: Literal["none", "awq", "fp8"] = "none"
    """awq: 4-bit AWQ weights (the source must be an AWQ checkpoint); fp8: 8-bit weights;
    none: FP16/BF16 weights."""
    quantized_checkpoint: bool | None = None
    """fp8 only: true when the checkpoint is already FP8 (its config.json declares
    quantization_config, e.g. compressed-tensors or fp8): vLLM reads the method from it and no
    --quantization is passed, since vLLM 0.32 refuses a --quantization that differs from the
    checkpoint's (ModelConfig._verify_quantization). false: a 16-bit checkpoint that vLLM
    quantizes to FP8 while loading (--quantization=fp8). Unset: inferred from an `-FP8` repository
    name; otherwise it must be set. AWQ is always a quantized checkpoint."""
    kv_cache_dtype: Literal["auto", "fp8"] = "auto"
    """fp8 halves the KV cache per token (twice the context or concurrency), at a small accuracy cost."""
    dtype: Literal["auto", "float16", "bfloat16"] = "auto"
    """Weight/activation dtype; auto takes the checkpoint's (AWQ checkpoints are float16)."""
    gpu: Gpu
    """GPUs per replica and, optionally, the GPU product to schedule on."""
    cache: ModelCache = Field(default_factory=ModelCache)
    """Keep the weights on the GPU nodes (KServe LocalModelCache): a new replica starts without
    downloading the checkpoint. Needs platform.kserve.localModel."""
    resources: Resources = Field(default_factory=lambda: Resources(cpu="4", memory="32Gi"))
    """CPU/memory next to the GPUs; weights pass through host memory while loading."""
    max_num_batched_tokens: int | None = Field(default=None, gt=0)
    """Token budget of one scheduler step (prefill chunk size with chunked prefill)."""
    gpu_memory_utilization: float = Field(default=0.9, gt=0, lt=1)
    """Share of each GPU's memory vLLM may use for weights + activations + KV cache."""
    enable_prefix_caching: bool = True
    """Reuse KV blocks of shared prompt prefixes (system prompts, multi-turn chats)."""
    nccl_timeout_seconds: int = Field(default=600, ge=60)
    """Tensor parallel only (--distributed-timeout-seconds): how long ranks wait for each other
    before a collective fails loudly instead of hanging."""
    enable_chunked_prefill: bool = True
    """Split long prompts into chunks so decodes of running requests are not stalled."""
    image: Image = Field(default_factory=lambda: Image.pinned(versions.VLLM_IMAGE_REPOSITORY, versions.VLLM_IMAGE_TAG))
    """Server image; the default is the vLLM release the argument-parser tests run."""
    lora: Lora | None = None
    """Multi-LoRA: adapters served as their own model names on this base model."""
    speculative: Speculative | None = None
    """Speculative decoding (n-gram, suffix, a draft model, EAGLE, MTP)."""

    @model_validator(mode="before")
    @classmethod
    def _gpu_required(cls, data: Any) -> Any:
        if isinstance(data, dict):
            gpu = data.get("gpu")
            count = gpu.get("count") if isinstance(gpu, dict) else None
            if gpu is None:
                raise ValueError("gpu: vLLM models need a gpu block with count >= 1, got none")
            if count == 0:
                raise ValueError("gpu.count: vLLM models need at least 1 GPU, got 0")
        return data

    # Flags the typed fields own, and the parser extraArgs are checked against (SglangModel overrides).
    owned_flags: ClassVar[frozenset[str]] = VLLM_OWNED_FLAGS
    flags_of: ClassVar[str] = "vllm"

    @field_validator("extra_args")
    @classmethod
    def _extra_args(cls, args: list[str]) -> list[str]:
        return _check_extra_args(args, cls.owned_flags, cls.flags_of)

    @model_validator(mode="before")
    @classmethod
    def _checkpoint_quantization(cls, data: Any) -> Any:
        """Resolve quantizedCheckpoint (the chart gets a decided value, never a guess)."""
        if not isinstance(data, dict):
            return data
        quantization, declared = data.get("quantization", "none"), data.get("quantizedCheckpoint")
        uri = str((data.get("source") or {}).get("uri", "")) if isinstance(data.get("source"), dict) else ""
        if quantization == "awq":
            resolved = True
        elif quantization == "fp8":
            resolved = declared if declared is not None else (True if re.search(r"(^|[-_/])fp8([-_]|$)", uri.lower()) else None)
            if resolved is None:
                raise ValueError(
                    f"quantizedCheckpoint: quantization fp8 needs to know whether {uri or 'the source'} is already an FP8 "
                    "checkpoint; set true (its config.json has quantization_config: vLLM reads it, no --quantization "
                    "is passed) or false (16-bit weights quantized while loading: --quantization=fp8), got unset"
                )
        else:
            if declared:
                raise ValueError(f"quantizedCheckpoint: true needs quantization fp8 or awq (what the checkpoint holds), got quantization {quantization!r}")
            resolved = False
        return {**data, "quantizedCheckpoint": resolved}

    @model_validator(mode="after")
    def _knative_owns_shutdown(self) -> VllmModel:
        """Knative refuses terminationGracePeriodSeconds and lifecycle hooks in its pod spec
        (knative.dev/serving PodSpecMask/ContainerMask): it sets the grace period from the request
        timeout and drains through its queue-proxy, so these keys cannot take effect there."""
        if self.autoscaling.mode == "knative":
            for key, field, holder in (("terminationGracePeriodSeconds", "termination_grace_period_seconds", self),
                                       ("rollout.preStopSeconds", "pre_stop_seconds", self.rollout)):  # fmt: skip
                if field in holder.model_fields_set:
                    raise ValueError(
                        f"{key}: Knative mode sets the grace period from autoscaling.requestTimeoutSeconds and "
                        f"drains through its queue-proxy (Knative refuses this field); remove it or use mode keda, "
                        f"got {getattr(holder, field)}"
                    )
        return self

    @model_validator(mode="after")
    def _cacheable_source(self) -> VllmModel:
        scheme = self.source.uri.split("://", 1)[0]
        if self.cache.enabled and scheme not in CACHEABLE_SCHEMES:
            raise ValueError(
                f"cache.enabled: the cache's download Job (KServe's storage initializer) fetches "
                f"{' and '.join(s + '://' for s in CACHEABLE_SCHEMES)} sources; a {scheme}:// source is already a volume, "
                f"got source.uri {self.source.uri!r}"
            )
        return self

    @model_validator(mode="after")
    def _canary_needs_knative(self) -> VllmModel:
        if self.rollout.canary_traffic_percent is not None and self.autoscaling.mode != "knative":
            raise ValueError(
                "rollout.canaryTrafficPercent: traffic splitting needs KServe's Knative mode "
                f"(autoscaling.mode knative), got mode {self.autoscaling.mode!r}"
            )
        return self


GGUF_TYPES = ("F32", "F16", "BF16", "Q8_0", "Q6_K", "Q5_K_M", "Q5_0", "Q4_K_M", "Q4_0", "Q3_K_M", "Q2_K")


def gguf_type_in(file_name: str) -> str | None:
    """The GGUF type a file's name declares (`model.Q4_K_M.gguf`, `model-q8_0.gguf`), by the
    convention llama.cpp's convert/quantize tools and Hugging Face uploads follow; None if absent."""
    found = re.findall(r"(?<![A-Za-z0-9])(" + "|".join(sorted(GGUF_TYPES, key=len, reverse=True)) + r")(?![A-Za-z0-9])",
                       file_name, flags=re.IGNORECASE)  # fmt: skip
    return found[-1].upper() if found else None


class LlamaCppModel(ModelBase):
    """A CPU Deployment running llama.cpp's llama-server on a GGUF file."""

    runtime: Literal["llamacpp"]
    picker_series: ClassVar[dict[str, str]] = {}  # llamacpp:requests_deferred (queue) only
    """Serving engine: llama.cpp's llama-server in a plain Deployment on CPUs."""
    gguf_file: str = Field(pattern=r"^[^/\s][^\s]*\.gguf$")
    """GGUF file inside the source (e.g. model-Q4_K_M.gguf)."""
    quantization: Literal[GGUF_TYPES] = "Q4_K_M"  # type: ignore[valid-type]
    """GGUF quantization type of gguf_file, for capacity planning and labels. Taken from the file
    name when it says (a contradiction is refused); when it does not, the plan warns."""
    resources: Resources = Field(default_factory=lambda: Resources(cpu="2", memory="4Gi"))
    """CPU limit also sets llama-server --threads."""
    max_num_seqs: int = Field(default=1, gt=0)
    """Parallel slots; llama-server splits ctx-size evenly, so ctx-size = maxModelLen x slots."""
    image: Image = Field(
        default_factory=lambda: Image.pinned(versions.LLAMACPP_IMAGE_REPOSITORY, versions.LLAMACPP_IMAGE_TAG)
    )
    """Server image; the default matches the llama.cpp build the smoke tests run."""

    @model_validator(mode="before")
    @classmethod
    def _cpu_only(cls, data: Any) -> Any:
        if isinstance(data, dict):
            if "gpu" in data:
                raise ValueError(f"gpu: llama.cpp models run on CPU only here, remove gpu, got {data['gpu']!r}")
            source = data.get("source")
            if isinstance(source, dict) and source.get("revision") and str(source.get("uri", "")).startswith("hf://"):
                raise ValueError(
                    "source.revision: llama-server downloads hf:// files at their latest revision; "
                    f"pin weights with a pvc:// or s3:// copy instead, got {source['revision']!r}"
                )
            scaling = data.get("autoscaling")
            if isinstance(scaling, dict) and scaling.get("mode") == "knative":
                raise ValueError(
                    "autoscaling.mode: knative serves KServe InferenceServices (vLLM); llama.cpp "
                    "models scale with keda or none, got 'knative'"
                )
            if data.get("cache") is not None:
                raise ValueError("cache: the node cache (KServe LocalModelCache) serves KServe InferenceServices (vLLM, SGLang); "
                                 f"llama.cpp models fetch their GGUF themselves, got {data['cache']!r}")  # fmt: skip
            if isinstance(data.get("rollout"), dict) and data["rollout"].get("canaryTrafficPercent") is not None:
                raise ValueError("rollout.canaryTrafficPercent: canaries need a Knative (vLLM) model, got a llama.cpp model")
            if data.get("quantization") == "awq":
                raise ValueError(
                    f"quantization: awq is a vLLM format; llama.cpp takes a GGUF type "
                    f"({', '.join(GGUF_TYPES)}), got 'awq'"
                )
            named = gguf_type_in(str(data.get("ggufFile", "")))
            declared = data.get("quantization")
            if named and declared and str(declared).upper() != named:
                raise ValueError(
                    f"quantization: {declared!r} contradicts ggufFile {data['ggufFile']!r}, which is a {named} file by its "
                    f"name; set quantization {named} (the capacity plan sizes the weights from it), got {declared!r}"
                )
            if named and not declared:
                data = {**data, "quantization": named}
        return data

    @field_validator("extra_args")
    @classmethod
    def _extra_args(cls, args: list[str]) -> list[str]:
        return _check_extra_args(args, LLAMACPP_OWNED_FLAGS, "llamacpp")

