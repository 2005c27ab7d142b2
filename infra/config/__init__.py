"""The stack config model: every key an operator may write, its type, bounds and default.

This module is the only place defaults live. The chart's values.yaml defaults and
values.schema.json are generated from it (`python -m infra schema --write`), and the Pulumi program
and `python -m infra render` parse stack config through it before anything is created.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, Union

from pydantic import AfterValidator, BaseModel, Field, field_validator, model_validator

from infra import versions
from infra.config.base import Strict
from infra.config.models import (  # noqa: F401  (re-exported: the config model's public names)
    GGUF_TYPES,
    LLAMACPP_OWNED_FLAGS,
    VLLM_OWNED_FLAGS,
    Gpu,
    LlamaCppModel,
    ModelBase,
    Probes,
    VllmModel,
)
from infra.config.types import DNS1035, ImageRef, Quantity
from infra.config.types import Image, ModelSource, Resources, Toleration  # noqa: F401  (re-exported)
from infra.config.observability import Observability
from infra.config.sglang import SglangModel
from infra.config.platform import PlatformSettings
from infra.config.local_model import DEFAULT_JOB_NAMESPACE
from infra.config.routing import InferenceGateway

# One entry of `models`, by its runtime.
Model = Annotated[Union[VllmModel, SglangModel, LlamaCppModel], Field(discriminator="runtime")]


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
    sglang: dict[str, Any] = Field(default_factory=lambda: _runtime_defaults(SglangModel))
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
    tmp_size_limit: Quantity = "16Gi"
    """Size of the writable /tmp emptyDir of every server container (root filesystems are
    read-only): HOME for vLLM/SGLang's torch.compile, Triton and CUDA-graph caches."""
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
    run_as_user: int = Field(default=10001, ge=1)
    """Model pods run as this non-root user (HOME=/tmp so engines can write their caches). Above
    10000, so it matches no user of the node (Checkov CKV_K8S_40); no image here needs its own."""
    test_image: ImageRef = versions.CURL_IMAGE
    """Image of the `helm test` pods that call each model's /v1/models."""
    keda_http_addon_namespace: str = Field(default="keda", pattern=DNS1035)
    """Namespace of the KEDA HTTP add-on (chart keda-add-ons-http): models with mode keda and
    minReplicas 0 are reached through its interceptor and woken by its external scaler."""
    prometheus_url: str = Field(default="http://kube-prometheus-stack-prometheus.monitoring.svc:9090", pattern=r"^https?://\S+$")
    """Prometheus that scrapes the models: KEDA triggers query it unless a model sets
    autoscaling.prometheusUrl. The program sets it from platform.monitoring."""
    prometheus_release: str = Field(default="kube-prometheus-stack", pattern=DNS1035)
    """`release` label on the PodMonitor and PrometheusRule: what kube-prometheus-stack's default
    selectors match when a preinstalled stack selects only its own release's objects."""
    inference_gateway: InferenceGateway = Field(default_factory=InferenceGateway)
    """The Gateway whose HTTPRoutes reach routed models (models' routing) through their InferencePool."""
    local_model_job_namespace: str = Field(default=DEFAULT_JOB_NAMESPACE, pattern=DNS1035)
    """Where KServe's node agents run the cache download Jobs (platform.kserve.localModel.jobNamespace):
    the cached models' alert watches them."""
    epp_image: ImageRef = versions.EPP_IMAGE
    """Endpoint picker image, one Deployment per routed model (same release as the toolchain's epp)."""


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
    download_throughput_mib_s: float = Field(default=100, gt=0)
    """Rate at which a new replica downloads hf:// or s3:// weights before its server starts
    (KServe's storage initializer): the part of a cold start a node cache (models' cache) removes."""


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
    def _platform_wakes_keda_models(self) -> StackConfig:
        """KEDA scale to zero needs the HTTP add-on: its interceptor holds requests while the
        model wakes and its external scaler tells KEDA there is demand at zero replicas."""
        for i, model in enumerate(self.models):
            if model.autoscaling.wakes_through_http_addon and not self.platform.keda.http_addon:
                raise ValueError(
                    f"models[{i}].autoscaling.minReplicas: 0 with mode keda needs the KEDA HTTP add-on to wake "
                    f"'{model.name}' (KEDA's Prometheus triggers see no demand at zero replicas); set "
                    "platform.keda.httpAddon true, use mode knative, or keep minReplicas >= 1"
                )
        return self

    @model_validator(mode="after")
    def _cache_node_groups_exist(self) -> StackConfig:
        """A cached model names a node group of platform.kserve.localModel (KServe itself would
        requeue a LocalModelCache with an unknown group forever and block its deletion)."""
        local = self.platform.kserve.local_model
        for i, model in enumerate(self.models):
            cache = getattr(model, "cache", None)
            if cache is None or not cache.enabled:
                continue
            if not local.enabled:
                raise ValueError(f"models[{i}].cache.enabled: needs platform.kserve.localModel.enabled true (KServe's "
                                 "local-model controller and node agent), got cache.enabled true")  # fmt: skip
            groups = sorted(local.node_groups)
            if cache.node_group is None and len(groups) != 1:
                raise ValueError(f"models[{i}].cache.nodeGroup: required when platform.kserve.localModel has "
                                 f"{len(groups)} node groups ({', '.join(groups) or 'none'}), got none")  # fmt: skip
            if cache.node_group is not None and cache.node_group not in local.node_groups:
                raise ValueError(f"models[{i}].cache.nodeGroup: no node group {cache.node_group!r} in "
                                 f"platform.kserve.localModel.nodeGroups ({', '.join(groups) or 'none'})")  # fmt: skip
            group = local.node_groups[local.group_of(cache)]
            wanted = {**model.node_selector, **({"nvidia.com/gpu.product": model.gpu.product} if model.gpu.product else {})}
            clash = {k: v for k, v in wanted.items() if k in group.node_selector and group.node_selector[k] != v}
            if clash:
                raise ValueError(f"models[{i}].cache.nodeGroup: the group's nodes ({group.node_selector}) are not the ones "
                                 f"this model runs on ({clash}): its pods could never use the cached copy")  # fmt: skip
        return self

    @model_validator(mode="after")
    def _picker_reads_metrics(self) -> StackConfig:
        """llama-server answers /metrics only with the API key (its middleware exempts /health and
        /models alone), and the picker's metrics source sends no credentials: it would score every
        replica on zeros."""
        gateway = self.platform.inference_gateway.enabled
        for i, model in enumerate(self.models):
            if model.routing.mode == "picker" and not gateway:
                raise ValueError(
                    f"models[{i}].routing.mode: picker routes through the platform's inference gateway; set "
                    "platform.inferenceGateway.enabled true (with a Gateway API Inference Extension gateway on the "
                    "cluster), or routing.mode service, got 'picker'"
                )
        if self.api_key or self.api_key_existing_secret:
            for i, model in enumerate(self.models):
                if model.runtime == "llamacpp" and model.routed(gateway):
                    raise ValueError(
                        f"models[{i}].routing.mode: the endpoint picker cannot read '{model.name}''s /metrics, which "
                        "llama-server protects with the stack's API key; set routing.mode service for this model, "
                        f"got {model.routing.mode!r}"
                    )
        return self

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
            models=[self._with_cache_group(m) for m in self.models],
            storage_secret_name=STORAGE_SECRET_NAME if self.hf_token else None,
            observability=self.observability,
            environment=self.environment,
            api_key_secret_name=self.api_key_existing_secret or (API_KEY_SECRET_NAME if self.api_key else None),
            network_policy=self._network_policy(),
            keda_http_addon_namespace=self.platform.keda.namespace,
            prometheus_url=self.platform.monitoring.prometheus_url,
            prometheus_release=self.platform.monitoring.release_name,
            inference_gateway=self.platform.inference_gateway,
            local_model_job_namespace=self.platform.kserve.local_model.job_namespace,
        )

    def _with_cache_group(self, model: Any) -> Any:
        """A cached model with its node group resolved, and scheduled on that group's nodes (the
        group's node selector joins the model's): the copy is only there."""
        cache = getattr(model, "cache", None)
        if cache is None or not cache.enabled:
            return model
        local = self.platform.kserve.local_model
        name = local.group_of(cache)
        return model.model_copy(update={"cache": cache.model_copy(update={"node_group": name}),
                                        "node_selector": {**local.node_groups[name].nodes, **model.node_selector}})

    def _network_policy(self) -> NetworkPolicySettings:
        """The stack's policy with the platform's namespaces: Prometheus (scrapes), the Knative
        activator and gateway, KEDA's HTTP interceptor, and the ingress controller when KServe
        creates Ingresses. The default list names the platform's default namespaces; each one the
        platform config renames is renamed here too, so a moved component is never locked out."""
        platform, kserve = self.platform, self.platform.kserve
        renamed = {"monitoring": platform.monitoring.namespace, "knative-serving": platform.knative.serving_namespace,
                   "keda": platform.keda.namespace}  # fmt: skip
        allowed = self.network_policy.allow_from_namespaces
        if "allow_from_namespaces" not in self.network_policy.model_fields_set:
            allowed = [renamed.get(n, n) for n in allowed]
        extra = [platform.monitoring.namespace] if self.observability.metrics else []
        extra += [kserve.ingress_namespace] if kserve.ingress_class_name else []
        if any(m.autoscaling.mode == "knative" for m in self.models):
            extra.append(platform.knative.serving_namespace)  # the activator and Knative's gateway
        if any(m.autoscaling.wakes_through_http_addon for m in self.models):
            extra.append(platform.keda.namespace)  # the HTTP add-on's interceptor forwards to the pods
        if any(m.routed(platform.inference_gateway.enabled) for m in self.models):
            extra.append(platform.inference_gateway.namespace)  # the gateway forwards where the picker points
        return self.network_policy.model_copy(update={"allow_from_namespaces": allowed + [n for n in extra if n not in allowed]})


def chart_values_dict(values: ChartValues) -> dict[str, Any]:
    """The values dict the chart receives: camelCase keys, every default resolved, no nulls."""
    return values.model_dump(mode="json", by_alias=True, exclude_none=True)

