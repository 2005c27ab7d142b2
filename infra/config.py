"""The stack config model: every key an operator may write, its type, bounds and default.

This module is the only place defaults live. The chart's values.yaml defaults and
values.schema.json are generated from it (`python -m infra schema --write`), and the Pulumi program
and `python -m infra render` parse stack config through it before anything is created.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, Union

from pydantic import (
    AfterValidator,
    BaseModel,
    Field,
    field_validator,
    model_validator,
)

from infra import versions
from infra.config_base import Strict
from infra.observability_config import AlertThresholds, Observability
from infra.platform_config import PlatformSettings
from infra.scaling_config import Autoscaling, Rollout
from infra.architecture import Architecture
from infra.quantity import parse_quantity

# DNS-1035 label: what Kubernetes requires of Service names, which KServe derives from the model.
DNS1035 = r"^[a-z]([-a-z0-9]*[a-z0-9])?$"
# KServe appends "-predictor-<hash>" style suffixes; keep room under the 63-character label limit.
MODEL_NAME_MAX = 45


def _positive_quantity(value: str) -> str:
    if parse_quantity(value) <= 0:
        raise ValueError(f"must be > 0, got {value!r}")
    return value


Quantity = Annotated[
    str,
    Field(pattern=r"^[+-]?[0-9]+(\.[0-9]+)?(m|k|Ki|M|Mi|G|Gi|T|Ti)?$", examples=["500m", "4", "16Gi"]),
    AfterValidator(_positive_quantity),
]


class Image(Strict):
    """A container image pinned by tag or digest; `latest` is refused (it changes under you)."""

    repository: str = Field(min_length=1, pattern=r"^[^:@\s]+$")
    """Image repository, e.g. a mirror in an air-gapped registry."""
    tag: Annotated[str, Field(min_length=1, pattern=r"^[\w][\w.-]{0,127}$")] | None = Field(
        default=None, json_schema_extra={"not": {"const": "latest"}}
    )
    digest: Annotated[str, Field(pattern=r"^sha256:[a-f0-9]{64}$")] | None = None

    @field_validator("tag")
    @classmethod
    def _not_latest(cls, tag: str | None) -> str | None:
        if tag == "latest":
            raise ValueError("must be a pinned version, not 'latest', got 'latest'")
        return tag

    @model_validator(mode="after")
    def _pinned(self) -> Image:
        if self.tag is None and self.digest is None:
            raise ValueError(f"image {self.repository!r} needs a pinned tag or a digest, got neither")
        return self

    @classmethod
    def pinned(cls, repository: str, tag: str) -> Image:
        return cls(repository=repository, tag=tag)


class ModelSource(Strict):
    """Where the weights come from. KServe's storage initializer fetches hf:// and s3:// into
    /mnt/models; pvc:// is mounted directly."""

    uri: str = Field(pattern=r"^(hf|s3|pvc)://[^\s]+$", examples=["hf://Qwen/Qwen2.5-7B-Instruct-AWQ"])
    revision: str | None = Field(default=None, pattern=r"^[\w.-]+$")
    """Hugging Face commit or tag; pin it so a re-upload upstream cannot change what you serve."""

    @model_validator(mode="after")
    def _revision_only_for_hf(self) -> ModelSource:
        if self.revision and not self.uri.startswith("hf://"):
            raise ValueError(f"revision applies to hf:// sources only, got uri {self.uri!r}")
        return self


class Toleration(Strict):
    key: str | None = None
    """Taint key (Kubernetes toleration fields, camelCase)."""
    operator: Literal["Exists", "Equal"] = "Equal"
    value: str | None = None
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"] | None = None
    toleration_seconds: int | None = Field(default=None, ge=0)


class Resources(Strict):
    """CPU and memory for the serving container (requests = limits: LLM servers are not burstable)."""

    cpu: Quantity
    memory: Quantity


class Gpu(Strict):
    count: int = Field(ge=1, le=8)
    """GPUs per replica; vLLM runs tensor parallel across all of them (--tensor-parallel-size)."""
    product: str | None = Field(default=None, examples=["NVIDIA-L4", "NVIDIA-A100-SXM4-80GB"])
    """Value of the node label nvidia.com/gpu.product to pin the model to one GPU type; the
    capacity planner takes the GPU's memory from its catalog."""
    memory_gib: float | None = Field(default=None, gt=0)
    """GPU memory as CUDA reports it, for GPUs the planner's catalog does not know."""


class Probes(Strict):
    """Probe timings. Startup is long because weights load before /health answers."""

    period_seconds: int = Field(default=10, ge=1)
    startup_failure_threshold: int = Field(default=90, ge=1)
    """periodSeconds x this = how long a replica may take to load weights before it is restarted.
    Unless set, the Pulumi program derives it from the weight size (planner); 90 applies to
    Helm-only installs."""


class ModelBase(Strict):
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
    """Queue-depth autoscaling (keda), or request-driven with scale to zero (knative)."""
    rollout: Rollout = Field(default_factory=Rollout)
    """Zero-downtime updates: surge one pod, drain before stopping."""
    alerts: AlertThresholds = Field(default_factory=AlertThresholds)
    """Thresholds of this model's alerts (latency, errors, KV cache, GPU utilisation)."""
    node_selector: dict[str, str] = Field(default_factory=dict)
    """Extra node labels the pods must match (the GPU product label is added from gpu.product)."""
    tolerations: list[Toleration] = Field(default_factory=list)
    """Taints the pods tolerate; vLLM pods always tolerate nvidia.com/gpu:NoSchedule."""
    termination_grace_period_seconds: int = Field(default=120, ge=30)
    """At least the longest request: a streamed completion can run for minutes. vLLM's
    --shutdown-timeout drains in-flight requests within it."""
    probes: Probes = Field(default_factory=Probes)
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


# Flags each runtime's typed fields own; extraArgs may not repeat them (the typed value would be
# silently overridden or duplicated, and reviewers would read the wrong number).
VLLM_OWNED_FLAGS = frozenset(
    {
        "--model", "--served-model-name", "--max-model-len", "--max-num-seqs",
        "--max-num-batched-tokens", "--gpu-memory-utilization", "--enable-prefix-caching",
        "--no-enable-prefix-caching", "--enable-chunked-prefill", "--no-enable-chunked-prefill",
        "--tensor-parallel-size", "-tp", "--quantization", "-q", "--port", "--host", "--dtype",
        "--revision", "--kv-cache-dtype", "--shutdown-timeout", "--distributed-timeout-seconds",
        "--otlp-traces-endpoint", "--collect-detailed-traces",
    }
)  # fmt: skip
LLAMACPP_OWNED_FLAGS = frozenset(
    {
        "-m", "--model", "-a", "--alias", "-c", "--ctx-size", "-np", "--parallel", "-t",
        "--threads", "--host", "--port", "--metrics", "-ngl", "--gpu-layers", "--n-gpu-layers",
    }
)  # fmt: skip


def _check_extra_args(args: list[str], owned: frozenset[str]) -> list[str]:
    for arg in args:
        flag = arg.split("=", 1)[0]
        if flag in owned:
            raise ValueError(f"{flag} is set by a typed field of this model; set that field instead, got {arg!r}")
    return args


class VllmModel(ModelBase):
    """A KServe InferenceService served by vLLM's OpenAI-compatible server on GPUs."""

    runtime: Literal["vllm"]
    """Serving engine: vLLM behind a KServe InferenceService."""
    quantization: Literal["none", "awq", "fp8"] = "none"
    """awq: 4-bit AWQ weights (the source must be an AWQ checkpoint); fp8: 8-bit weights;
    none: FP16/BF16 weights."""
    kv_cache_dtype: Literal["auto", "fp8"] = "auto"
    """fp8 halves the KV cache per token (twice the context or concurrency), at a small accuracy cost."""
    dtype: Literal["auto", "float16", "bfloat16"] = "auto"
    """Weight/activation dtype; auto takes the checkpoint's (AWQ checkpoints are float16)."""
    gpu: Gpu
    """GPUs per replica and, optionally, the GPU product to schedule on."""
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

    @field_validator("extra_args")
    @classmethod
    def _extra_args(cls, args: list[str]) -> list[str]:
        return _check_extra_args(args, VLLM_OWNED_FLAGS)

    @model_validator(mode="after")
    def _canary_needs_knative(self) -> VllmModel:
        if self.rollout.canary_traffic_percent is not None and self.autoscaling.mode != "knative":
            raise ValueError(
                "rollout.canaryTrafficPercent: traffic splitting needs KServe's Knative mode "
                f"(autoscaling.mode knative), got mode {self.autoscaling.mode!r}"
            )
        return self


GGUF_TYPES = ("F32", "F16", "BF16", "Q8_0", "Q6_K", "Q5_K_M", "Q5_0", "Q4_K_M", "Q4_0", "Q3_K_M", "Q2_K")


class LlamaCppModel(ModelBase):
    """A CPU Deployment running llama.cpp's llama-server on a GGUF file."""

    runtime: Literal["llamacpp"]
    """Serving engine: llama.cpp's llama-server in a plain Deployment on CPUs."""
    gguf_file: str = Field(pattern=r"^[^/\s][^\s]*\.gguf$")
    """GGUF file inside the source (e.g. model-Q4_K_M.gguf)."""
    quantization: Literal[GGUF_TYPES] = "Q4_K_M"  # type: ignore[valid-type]
    """GGUF quantization type of gguf_file, for capacity planning and labels."""
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
            if isinstance(data.get("rollout"), dict) and data["rollout"].get("canaryTrafficPercent") is not None:
                raise ValueError("rollout.canaryTrafficPercent: canaries need a Knative (vLLM) model, got a llama.cpp model")
            if data.get("quantization") == "awq":
                raise ValueError(
                    f"quantization: awq is a vLLM format; llama.cpp takes a GGUF type "
                    f"({', '.join(GGUF_TYPES)}), got 'awq'"
                )
        return data

    @field_validator("extra_args")
    @classmethod
    def _extra_args(cls, args: list[str]) -> list[str]:
        return _check_extra_args(args, LLAMACPP_OWNED_FLAGS)


Model = Annotated[Union[VllmModel, LlamaCppModel], Field(discriminator="runtime")]


def _pinned_reference(ref: str) -> str:
    name, _, tag = ref.rpartition(":")
    if "@sha256:" not in ref and (not name or "/" in tag or tag == "latest"):
        raise ValueError(f"must be pinned as repository:tag (not latest) or repository@sha256:..., got {ref!r}")
    return ref


ImageRef = Annotated[
    str,
    Field(
        pattern=r"^\S+(:[\w][\w.-]{0,127}|@sha256:[a-f0-9]{64})$",
        json_schema_extra={"not": {"pattern": ":latest$"}},
    ),
    AfterValidator(_pinned_reference),
]


def _runtime_defaults(model_cls: type[ModelBase]) -> dict[str, Any]:
    """The defaulted keys of one runtime's model, as the chart sees them (camelCase, JSON)."""
    out: dict[str, Any] = {}
    for name, field in model_cls.model_fields.items():
        if field.is_required():
            continue
        value = field.get_default(call_default_factory=True)
        if value is None:
            continue
        out[field.alias or name] = (
            value.model_dump(mode="json", by_alias=True, exclude_none=True)
            if isinstance(value, BaseModel)
            else value
        )
    return out


class ModelDefaults(Strict):
    """Defaults the chart applies to `models` entries that omit a key (Helm-only installs).
    Generated from the typed model; the Pulumi program always passes fully resolved entries."""

    vllm: dict[str, Any] = Field(default_factory=lambda: _runtime_defaults(VllmModel))
    llamacpp: dict[str, Any] = Field(default_factory=lambda: _runtime_defaults(LlamaCppModel))


def _unique_names(models: list[VllmModel | LlamaCppModel]) -> list[VllmModel | LlamaCppModel]:
    """Model names become object names and served names become API routes: both must be unique."""
    for attr, key in (("name", "name"), ("served_name", "servedModelName")):
        seen: dict[str, int] = {}
        for i, model in enumerate(models):
            value = getattr(model, attr)
            if value in seen:
                raise ValueError(f"[{i}].{key}: duplicate of models[{seen[value]}], got {value!r}")
            seen[value] = i
    return models


Models = Annotated[list[Model], AfterValidator(_unique_names)]


class NetworkPolicySettings(Strict):
    enabled: bool = True
    """Only the listed namespaces (and the model's own) may reach model pods."""
    allow_from_namespaces: list[str] = Field(
        default_factory=lambda: ["monitoring", "knative-serving", "istio-system", "keda"]
    )
    """Prometheus, the Knative activator, the ingress gateway and KEDA's HTTP interceptor live here."""


Environment = Literal["dev", "staging", "production"]


class ChartValues(Strict):
    """What the llm-serving chart takes: its values.schema.json is generated from this model."""

    models: Models = Field(default_factory=list)
    storage_secret_name: str | None = Field(default=None, pattern=DNS1035)
    """Secret with HF_TOKEN (and/or AWS_* keys) used to download weights; created by Pulumi
    from the stack's secret config, or by hand for Helm-only installs."""
    model_defaults: ModelDefaults = Field(default_factory=ModelDefaults)
    shm_size_limit: Quantity = "4Gi"
    """/dev/shm size for tensor-parallel vLLM pods; memory-backed, so it counts against the pod's
    memory limit. NCCL needs far more than the container runtime's 64Mi default."""
    storage_initializer_image: ImageRef = versions.KSERVE_STORAGE_INITIALIZER_IMAGE
    observability: Observability = Field(default_factory=Observability)
    """Metrics scraping, alerts with runbooks, dashboard, tracing."""
    environment: Environment = "dev"
    """Labels every object; policies require API-key auth in production."""
    api_key_secret_name: str | None = Field(default=None, pattern=DNS1035)
    """Secret (key `api-key`) whose value clients must send as `Authorization: Bearer`."""
    network_policy: NetworkPolicySettings = Field(default_factory=NetworkPolicySettings)
    run_as_user: int = Field(default=1000, ge=1)
    """Model pods run as this non-root user (HOME=/tmp so engines can write their caches)."""
    test_image: ImageRef = versions.CURL_IMAGE
    """Image of the `helm test` pods that call each model's /v1/models."""


# What the loaders put in place of a value Pulumi stores encrypted (`secure:`): the model only
# needs to know a secret is set, and must never hold its plaintext.
SECRET = "[secret]"
# Names of the Secrets the program creates from hfToken and apiKey; the chart's pods read them.
STORAGE_SECRET_NAME = "model-storage"
API_KEY_SECRET_NAME = "model-api-key"


class PlannerSettings(Strict):
    """Assumptions of the capacity planner's start-up budget."""

    storage_throughput_mib_s: float = Field(default=200, gt=0)
    """Rate at which a replica reads (or, for llama.cpp hf://, downloads) its weights."""
    vllm_warmup_seconds: int = Field(default=180, ge=0)
    """vLLM start-up after loading: torch.compile and CUDA-graph capture."""
    llamacpp_warmup_seconds: int = Field(default=15, ge=0)


class StackConfig(Strict):
    """Everything under the `llm-platform:` prefix of a Pulumi.<stack>.yaml."""

    namespace: str = Field(default="llm-serving", pattern=DNS1035, max_length=63)
    """Namespace the program creates and deploys every model into."""
    release_name: str = Field(default="llm", pattern=DNS1035, max_length=30)
    """Helm release name of the per-model chart."""
    models: Models = Field(default_factory=list)
    """The models this environment serves; see the two runtime tables below."""
    platform: PlatformSettings = Field(default_factory=PlatformSettings)
    """Upstream components (GPU Operator, cert-manager, Knative, KServe, KEDA, monitoring)."""
    deploy_models: bool = True
    """false for the first `pulumi up` on a fresh cluster when its preview must be exact: the
    platform (and its CRDs) goes in first, the models on the next run (docs/adr/0001)."""
    planner: PlannerSettings = Field(default_factory=PlannerSettings)
    """Assumptions for derived start-up probe budgets."""
    observability: Observability = Field(default_factory=Observability)
    """Metrics scraping, alerts with runbooks, dashboard, tracing."""
    hf_token: Literal[SECRET] | None = None
    """Hugging Face token for gated weights. Set only with `pulumi config set --secret hfToken`;
    the loader replaces the encrypted value with a marker, so plaintext never reaches this model."""

    environment: Environment = "dev"
    """production makes API-key auth mandatory (policy pack) for every model."""
    api_key: Literal[SECRET] | None = None
    """Key clients must send (`pulumi config set --secret apiKey ...`); stored in model-api-key."""
    api_key_existing_secret: str | None = Field(default=None, pattern=DNS1035)
    """Or: a Secret already in the namespace (key `api-key`), e.g. synced from a vault."""
    network_policy: NetworkPolicySettings = Field(default_factory=NetworkPolicySettings)

    @field_validator("hf_token", "api_key", mode="before")
    @classmethod
    def _secret_only(cls, value: Any) -> Any:
        if value is not None and value != SECRET:
            # Never echo the value: it is a credential written in plaintext.
            raise ValueError("found in plaintext; remove it and set it with `pulumi config set --secret`")
        return value

    @model_validator(mode="after")
    def _platform_provides_scalers(self) -> StackConfig:
        needs = {"keda": "keda", "knative": "knative"}
        for i, model in enumerate(self.models):
            component = needs.get(model.autoscaling.mode)
            if component and not self.platform.provides(component):
                key = "keda" if component == "keda" else "knative"
                raise ValueError(
                    f"models[{i}].autoscaling.mode: {model.autoscaling.mode} needs {key} on the cluster; set "
                    f"platform.{key}.install true, or platform.{key}.preinstalled true if it is already there"
                )
        return self

    def chart_values(self) -> ChartValues:
        return ChartValues(
            models=self.models,
            storage_secret_name=STORAGE_SECRET_NAME if self.hf_token else None,
            observability=self.observability,
            environment=self.environment,
            api_key_secret_name=self.api_key_existing_secret or (API_KEY_SECRET_NAME if self.api_key else None),
            network_policy=self.network_policy,
        )


def chart_values_dict(values: ChartValues) -> dict[str, Any]:
    """The values dict the chart receives: camelCase keys, every default resolved, no nulls."""
    return values.model_dump(mode="json", by_alias=True, exclude_none=True)

