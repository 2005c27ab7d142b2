"""Stack config of the platform layer (`llm-platform:platform`): which upstream components this
stack installs, where their charts and images come from, and their few settings we type."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from infra.config.base import Strict
from infra.config.local_model import LocalModelSettings
from infra.config.routing import InferenceGateway
from infra.config.types import DNS1035


class Component(Strict):
    install: bool = True
    """Install it with this stack. false: the cluster already has it, or does without."""
    preinstalled: bool = False
    """The cluster already runs it (installed another way): features that need it may be used."""
    namespace: str
    repository: str | None = Field(default=None, pattern=r"^(https?|oci)://\S+$")
    """Chart repository (http(s):// or oci://) replacing the pinned one, e.g. an internal mirror."""
    values: dict[str, Any] = Field(default_factory=dict)
    """Extra chart values, merged over ours (escape hatch; reviewed like code)."""


class GpuOperator(Component):
    namespace: str = "gpu-operator"
    driver_enabled: bool = True
    """false on nodes with a pre-installed NVIDIA driver (most managed GPU node images)."""
    toolkit_enabled: bool = True
    mig_strategy: Literal["none", "single", "mixed"] = "single"
    dcgm_service_monitor: bool = True
    """Scrape DCGM exporter GPU metrics (utilisation, memory, XID errors) with Prometheus."""
    daemonset_tolerations: list[dict[str, Any]] = Field(default_factory=list)
    """Extra tolerations for the operands (driver, toolkit, device plugin, DCGM) on tainted GPU
    nodes. Which nodes get operands is decided by Node Feature Discovery (PCI vendor 10de); opt a
    node out with the label nvidia.com/gpu.deploy.operands=false."""


class CertManager(Component):
    namespace: str = "cert-manager"


# Knative Serving features (KnativeServing spec.config.features = the config-features ConfigMap)
# our Knative-mode pod specs need; each is off by default in Serving 1.23 (knative.dev/serving
# pkg/apis/config/features.go defaultFeaturesConfig), and Knative's webhook refuses the field
# otherwise. tests/test_knative_engine.py runs Knative's validation with exactly these and checks
# that each one is needed. Init containers and PVCs are not: KServe adds the storage initializer
# and pvc:// mounts to the pods through its pod mutating webhook, after Knative has validated.
KNATIVE_FEATURES = {
    "kubernetes.podspec-nodeselector": "enabled",  # GPU product / instance type selection
    "kubernetes.podspec-tolerations": "enabled",  # the nvidia.com/gpu taint of GPU pools
    "kubernetes.podspec-securitycontext": "enabled",  # restricted Pod Security (runAsNonRoot, seccomp, fsGroup)
    "kubernetes.podspec-affinity": "enabled",  # replicas of a model on different nodes (anti-affinity)
    "kubernetes.podspec-topologyspreadconstraints": "enabled",  # ... and spread across zones
}


# Knative Serving 1.23 exports its metrics through OpenTelemetry and exports none unless asked:
# knative.dev/pkg observability/metrics/config.go defaults metrics-protocol to "none" (a no-op
# meter provider). "prometheus" serves /metrics on 9090 of every control-plane pod; the activator's
# port is named `metrics` (config/core/deployments/activator.yaml), its pods `app: activator`.
KNATIVE_OBSERVABILITY = {"metrics-protocol": "prometheus"}
ACTIVATOR_POD_MONITOR_SPEC = {
    "selector": {"matchLabels": {"app": "activator"}},
    "podMetricsEndpoints": [{"port": "metrics", "path": "/metrics"}],
}


class Knative(Component):
    install: bool = False
    """Only needed for Serverless (Knative) InferenceServices; off unless asked for."""
    namespace: str = "knative-operator"
    serving_namespace: str = "knative-serving"
    networking: Literal["kourier", "istio", "contour"] = "kourier"


class KServe(Component):
    namespace: str = "kserve"
    default_deployment_mode: Literal["Standard", "Knative"] = "Standard"
    ingress_class_name: str | None = None
    """IngressClass for external routes; unset keeps predictors cluster-internal."""
    istio_virtual_hosts: bool = False
    """Create Istio VirtualServices for InferenceServices (only with Istio as the mesh/ingress);
    off, KServe skips them instead of warning VirtualServiceCRDNotFound on every reconcile."""
    local_model: LocalModelSettings = Field(default_factory=LocalModelSettings)
    """Model weights cached on GPU node groups (models' cache)."""
    ingress_namespace: str = Field(default="ingress-nginx", pattern=DNS1035)
    """Namespace of the ingress controller serving ingress_class_name (ingress-nginx's default). With
    an ingress class set, the models' NetworkPolicy admits it: KServe's Ingress would else route to
    pods that drop its traffic."""


class Keda(Component):
    namespace: str = "keda"
    http_addon: bool = False
    """KEDA HTTP add-on: an interceptor that queues requests while a scaled-to-zero model wakes."""


class Monitoring(Component):
    namespace: str = Field(default="monitoring", pattern=DNS1035)
    release_name: str = Field(default="kube-prometheus-stack", pattern=DNS1035)
    """Helm release of kube-prometheus-stack (installed here, or the one a preinstalled stack used):
    it names the Prometheus Service that KEDA triggers query and the `release` label the chart's
    PodMonitor and PrometheusRule carry."""

    @property
    def prometheus_url(self) -> str:
        """The Prometheus Service the release creates: `<fullname>-prometheus` on 9090, where
        fullname is kube-prometheus-stack's own (templates/_helpers.tpl "kube-prometheus-stack.fullname":
        the release name if it contains the chart name, else `<release>-kube-prometheus-stack`,
        truncated to 26 characters)."""
        chart = "kube-prometheus-stack"
        full = self.release_name if chart in self.release_name else f"{self.release_name}-{chart}"
        return f"http://{full[:26].rstrip('-')}-prometheus.{self.namespace}.svc:9090"


class PlatformSettings(Strict):
    """Upstream components installed before any model. Pins live in infra/versions.py."""

    enabled: bool = True
    """false: install no platform component (the cluster already provides everything)."""
    image_registry: str | None = Field(default=None, pattern=r"^[a-z0-9.-]+(:[0-9]+)?(/[a-z0-9._/-]+)?$", examples=["registry.internal:5000"])
    """Mirror registry for every platform image (air-gapped clusters): every image of every
    platform chart is pulled from here, under its upstream path (quay.io/jetstack/x -> MIRROR/jetstack/x)."""
    chart_repository: str | None = Field(default=None, pattern=r"^(https?|oci)://\S+$", examples=["http://charts.internal:8080"])
    """Helm repository (http/https index.yaml, or oci://) holding every pinned platform chart; a
    component's own `repository` wins over it. Checked before anything is created."""
    ready_timeout_seconds: int = Field(default=600, ge=60)
    """How long `pulumi up` waits for each platform object to become ready (Deployments available,
    Jobs complete) before failing with that object's name and status."""
    adopt_existing_crds: bool = False
    """The cluster already has some of these CRDs, applied another way (kubectl, another Helm
    release): take them over. The platform charts then own them (server-side apply with force,
    Pulumi's `pulumi.com/patchForce`); without it `pulumi up` stops at the first field conflict."""
    monitoring: Monitoring = Field(default_factory=Monitoring)
    cert_manager: CertManager = Field(default_factory=CertManager)
    gpu_operator: GpuOperator = Field(default_factory=GpuOperator)
    knative: Knative = Field(default_factory=Knative)
    kserve: KServe = Field(default_factory=KServe)
    keda: Keda = Field(default_factory=Keda)
    inference_gateway: InferenceGateway = Field(default_factory=InferenceGateway)
    """The Gateway routed models attach to (models' routing), and the CRDs it needs."""

    def installs(self, name: str) -> bool:
        return self.enabled and getattr(self, name).install

    def provides(self, name: str) -> bool:
        """Installed by this stack, or declared present on the cluster."""
        component: Component = getattr(self, name)
        return self.installs(name) or component.preinstalled
