"""The platform layer's Helm releases as plain data: which pinned chart, from which repository, into
which namespace, with which values. This one function decides them; the Pulumi components deploy
them (infra/components/platform) and the render tier renders them with the real Helm CLI, so the
values the program passes are exactly the values the tests render.

Value keys follow each pinned chart's values.yaml (tests/test_platform_render.py checks every key we
set exists there); anything else goes through the stack's `values` escape hatch."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from infra.config.platform import Component, GpuOperator, Keda, KServe, Monitoring, PlatformSettings
from infra.platform.registry import REGISTRY_VALUES
from infra.versions import PLATFORM_CHARTS, ChartPin

# Install order: monitoring first (its CRDs carry the ServiceMonitors others create), cert-manager
# before KServe (webhook certificates), Knative before KServe when Serverless is used.
COMPONENTS = ("monitoring", "cert_manager", "gpu_operator", "knative", "kserve", "keda")


@dataclass(frozen=True)
class Release:
    component: str
    """PlatformSettings attribute of the component, e.g. "cert_manager"."""
    pin_name: str
    """Key in infra.versions.PLATFORM_CHARTS."""
    name: str
    """Helm release name (what `helm list` shows; charts name their objects after it)."""
    namespace: str
    repository: str
    """HTTP(S) Helm repository or oci:// registry path the chart is pulled from."""
    values: dict[str, Any]

    @property
    def pin(self) -> ChartPin:
        return PLATFORM_CHARTS[self.pin_name]

    @property
    def chart_ref(self) -> tuple[str, str | None]:
        """(chart, repository URL) as Helm takes them: oci:// charts are one reference."""
        if self.repository.startswith("oci://"):
            return f"{self.repository}/{self.pin.chart}", None
        return self.pin.chart, self.repository


def deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in override.items():
        out[key] = deep_merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def releases(settings: PlatformSettings) -> list[Release]:
    """Every release this stack installs, in install order (empty with the platform off)."""
    return [r for key in COMPONENTS for r in component_releases(settings, key)]


def component_releases(settings: PlatformSettings, key: str) -> list[Release]:
    """The charts of one component, in install order (CRD charts first)."""
    if not settings.installs(key):
        return []
    component: Component = getattr(settings, key)
    monitoring = settings.provides("monitoring")
    out = []
    for pin_name, name in _charts(key, component):
        values = _values(pin_name, component, monitoring)
        if settings.image_registry:
            values = deep_merge(values, REGISTRY_VALUES[pin_name](settings.image_registry))
        repository = (component.repository or settings.chart_repository or PLATFORM_CHARTS[pin_name].repository).rstrip("/")
        out.append(Release(key, pin_name, name, component.namespace, repository, deep_merge(values, component.values)))
    return out


def _charts(key: str, component: Component) -> list[tuple[str, str]]:
    """(pin name, release name) per chart of a component."""
    if key == "monitoring":
        assert isinstance(component, Monitoring)
        return [("kube-prometheus-stack", component.release_name)]
    if key == "kserve":
        assert isinstance(component, KServe)
        local = [("kserve-localmodel-crd", "kserve-localmodel-crd"), ("kserve-localmodel-resources", "kserve-localmodel")]
        return [("kserve-crd", "kserve-crd"), ("kserve-resources", "kserve"), *(local if component.local_model.enabled else [])]
    if key == "keda":
        assert isinstance(component, Keda)
        return [("keda", "keda"), *([("keda-add-ons-http", "keda-add-ons-http")] if component.http_addon else [])]
    chart = {"cert_manager": "cert-manager", "gpu_operator": "gpu-operator", "knative": "knative-operator"}[key]
    return [(chart, chart)]


def _values(pin_name: str, component: Component, monitoring: bool) -> dict[str, Any]:
    if pin_name == "kube-prometheus-stack":
        # Select PodMonitors, ServiceMonitors, rules and dashboards from every namespace, not only
        # objects labelled with this release.
        return {
            "prometheus": {
                "prometheusSpec": {
                    "podMonitorSelectorNilUsesHelmValues": False,
                    "serviceMonitorSelectorNilUsesHelmValues": False,
                    "ruleSelectorNilUsesHelmValues": False,
                }
            },
            "grafana": {"sidecar": {"dashboards": {"enabled": True, "label": "grafana_dashboard", "searchNamespace": "ALL"}}},
        }
    if pin_name == "cert-manager":
        return {"crds": {"enabled": True}}
    if pin_name == "gpu-operator":
        assert isinstance(component, GpuOperator)
        return gpu_operator_values(component, monitoring)
    if pin_name == "kserve-resources":
        assert isinstance(component, KServe)
        return kserve_controller_values(component)
    if pin_name == "kserve-localmodel-resources":
        assert isinstance(component, KServe)
        return localmodel_values(component)
    if pin_name == "keda":
        return {"prometheus": {"operator": {"enabled": True, "serviceMonitor": {"enabled": monitoring}}}}
    return {}


def gpu_operator_values(s: GpuOperator, monitoring: bool) -> dict[str, Any]:
    values: dict[str, Any] = {
        "driver": {"enabled": s.driver_enabled},
        "toolkit": {"enabled": s.toolkit_enabled},
        "mig": {"strategy": s.mig_strategy},
        "dcgmExporter": {"enabled": True, "serviceMonitor": {"enabled": s.dcgm_service_monitor and monitoring}},
    }
    if s.daemonset_tolerations:
        # Keep the chart's own GPU-taint toleration next to the stack's extra ones.
        gpu_taint = {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}
        values["daemonsets"] = {"tolerations": [gpu_taint, *s.daemonset_tolerations]}
    return values


def kserve_controller_values(s: KServe) -> dict[str, Any]:
    """kserve-resources values for the stack's KServe settings (also what localcp runs locally)."""
    gateway: dict[str, Any] = {"disableIngressCreation": s.ingress_class_name is None,
                               "disableIstioVirtualHost": not s.istio_virtual_hosts}  # fmt: skip
    if s.ingress_class_name:
        gateway["ingressGateway"] = {"className": s.ingress_class_name}
    values: dict[str, Any] = {"kserve": {"controller": {"deploymentMode": s.default_deployment_mode, "gateway": gateway}}}
    if s.local_model.enabled:
        # inferenceservice-config localModel (files/common/configmap-patch.yaml): the defaulter looks
        # caches up only when enabled; downloads run as Jobs in jobNamespace.
        values["kserve"]["localmodel"] = {"enabled": True, "jobNamespace": s.local_model.job_namespace}
    return values


def localmodel_values(s: KServe) -> dict[str, Any]:
    """kserve-localmodel-resources values (v0.20.0 values.yaml): only its own objects (the shared
    ones, inferenceservice-config included, come from kserve-resources), and the node agent on the
    nodes of the cache node groups (one affinity term per group: terms are ORed; the chart's own
    `kserve/localmodel: worker` node selector stays, so group nodes carry that label), tolerating
    the GPU taint."""
    terms = [{"matchExpressions": [{"key": k, "operator": "In", "values": [v]} for k, v in sorted(g.nodes.items())]}
             for _, g in sorted(s.local_model.node_groups.items())]  # fmt: skip
    agent: dict[str, Any] = {"tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]}
    if terms:
        agent["affinity"] = {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": terms}}}
    return {"kserve": {"createSharedResources": False,
                       "localmodel": {"enabled": True, "jobNamespace": s.local_model.job_namespace},
                       "localmodelnode": {"controller": agent}}}  # fmt: skip
