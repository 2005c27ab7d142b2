"""The upstream components, each a small PlatformComponent: chart(s), namespace, key values.
Value keys follow each pinned chart's values.yaml; anything else goes through `values`."""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from infra.components.platform.base import PlatformComponent
from infra.platform_config import GpuOperator as GpuOperatorSettings
from infra.platform_config import Knative as KnativeSettings
from infra.platform_config import KServe as KServeSettings
from infra.versions import KNATIVE_SERVING_VERSION


class Monitoring(PlatformComponent):
    """kube-prometheus-stack, selecting PodMonitors, ServiceMonitors, rules and Grafana
    dashboards from every namespace (not only those labelled with its release)."""

    type_name = "llm-platform:platform:Monitoring"
    chart_names = ("kube-prometheus-stack",)

    def chart_values(self, chart_name: str) -> dict[str, Any]:
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

    def registry_values(self, chart_name: str, registry: str) -> dict[str, Any]:
        return {"global": {"imageRegistry": registry}}


class CertManager(PlatformComponent):
    type_name = "llm-platform:platform:CertManager"
    chart_names = ("cert-manager",)

    def chart_values(self, chart_name: str) -> dict[str, Any]:
        return {"crds": {"enabled": True}}

    def registry_values(self, chart_name: str, registry: str) -> dict[str, Any]:
        return {"imageRegistry": registry}


class GpuOperator(PlatformComponent):
    """NVIDIA GPU Operator; its daemonsets need privileged pods, so the namespace allows them."""

    type_name = "llm-platform:platform:GpuOperator"
    chart_names = ("gpu-operator",)
    namespace_labels = {"pod-security.kubernetes.io/enforce": "privileged"}
    IMAGE_SECTIONS = ("operator", "driver", "toolkit", "devicePlugin", "dcgmExporter", "gfd", "migManager", "validator")

    def chart_values(self, chart_name: str) -> dict[str, Any]:
        s: GpuOperatorSettings = self.args.settings  # type: ignore[assignment]
        values: dict[str, Any] = {
            "driver": {"enabled": s.driver_enabled},
            "toolkit": {"enabled": s.toolkit_enabled},
            "mig": {"strategy": s.mig_strategy},
            "dcgmExporter": {
                "enabled": True,
                "serviceMonitor": {"enabled": s.dcgm_service_monitor and self.args.monitoring},
            },
        }
        if s.daemonset_tolerations:
            # Keep the chart's own GPU-taint toleration next to the stack's extra ones.
            gpu_taint = {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}
            values["daemonsets"] = {"tolerations": [gpu_taint, *s.daemonset_tolerations]}
        return values

    def registry_values(self, chart_name: str, registry: str) -> dict[str, Any]:
        return {section: {"repository": f"{registry}/nvidia"} for section in self.IMAGE_SECTIONS}


class Knative(PlatformComponent):
    """The Knative Operator chart plus a KnativeServing resource with the chosen networking layer."""

    type_name = "llm-platform:platform:Knative"
    chart_names = ("knative-operator",)

    def extra_resources(self, name: str, depends_on: list[pulumi.Resource]) -> list[pulumi.Resource]:
        s: KnativeSettings = self.args.settings  # type: ignore[assignment]
        serving_ns = k8s.core.v1.Namespace(
            f"{name}-serving-namespace",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=s.serving_namespace),
            opts=pulumi.ResourceOptions(parent=self),
        )
        serving = k8s.apiextensions.CustomResource(
            f"{name}-serving",
            api_version="operator.knative.dev/v1beta1",
            kind="KnativeServing",
            metadata=k8s.meta.v1.ObjectMetaArgs(name="knative-serving", namespace=serving_ns.metadata.name),
            spec={
                "version": KNATIVE_SERVING_VERSION,
                "ingress": {s.networking: {"enabled": True}},
                "config": {"network": {"ingress-class": f"{s.networking}.ingress.networking.knative.dev"}},
            },
            opts=pulumi.ResourceOptions(parent=self, depends_on=depends_on),
        )
        return [serving]


def kserve_controller_values(s: KServeSettings) -> dict[str, Any]:
    """kserve-resources values for the stack's KServe settings (also what localcp runs locally)."""
    gateway: dict[str, Any] = {"disableIngressCreation": s.ingress_class_name is None,
                               "disableIstioVirtualHost": not s.istio_virtual_hosts}  # fmt: skip
    if s.ingress_class_name:
        gateway["ingressGateway"] = {"className": s.ingress_class_name}
    return {"kserve": {"controller": {"deploymentMode": s.default_deployment_mode, "gateway": gateway}}}


class KServe(PlatformComponent):
    """KServe CRDs, then the controller, with the stack's default deployment mode."""

    type_name = "llm-platform:platform:KServe"
    chart_names = ("kserve-crd", "kserve")

    def chart_values(self, chart_name: str) -> dict[str, Any]:
        if chart_name == "kserve-crd":
            return {}
        return kserve_controller_values(self.args.settings)  # type: ignore[arg-type]

    def registry_values(self, chart_name: str, registry: str) -> dict[str, Any]:
        if chart_name == "kserve-crd":
            return {}
        return {
            "kserve": {
                "controller": {"image": f"{registry}/kserve/kserve-controller"},
                "storage": {"image": f"{registry}/kserve/storage-initializer"},
            }
        }


class Keda(PlatformComponent):
    type_name = "llm-platform:platform:Keda"

    @property
    def chart_names(self) -> tuple[str, ...]:  # type: ignore[override]
        return ("keda", "keda-add-ons-http") if self.args.settings.http_addon else ("keda",)  # type: ignore[attr-defined]

    def chart_values(self, chart_name: str) -> dict[str, Any]:
        if chart_name == "keda":
            return {"prometheus": {"operator": {"enabled": True, "serviceMonitor": {"enabled": self.args.monitoring}}}}
        return {}

    def registry_values(self, chart_name: str, registry: str) -> dict[str, Any]:
        return {"global": {"image": {"registry": registry}}} if chart_name == "keda" else {}

