"""Air-gap image mirror: per pinned chart, the values that move every image it runs to
`platform.imageRegistry`, keeping the upstream path (quay.io/jetstack/cert-manager-controller ->
MIRROR/jetstack/cert-manager-controller), so one `crane copy`/`skopeo sync` per image fills the mirror.
Value keys are each pinned chart's own (values.yaml at the version in infra/versions.py). Test:
tests/test_platform_render.py renders every chart with a mirror set and fails on any image that
still points upstream or does not keep its upstream path."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

# GPU Operator (values.yaml v26.7.0): one `repository` per operand; ClusterPolicy joins it with
# the operand's image and version, the operator Deployment does the same for the driver manager.
GPU_OPERATOR_REPOSITORIES = {
    "operator": "nvidia", "validator": "nvidia", "driver": "nvidia", "driver.manager": "nvidia/cloud-native",
    "toolkit": "nvidia/k8s", "devicePlugin": "nvidia", "dcgm": "nvidia/cloud-native", "dcgmExporter": "nvidia/k8s",
    "gfd": "nvidia", "migManager": "nvidia/cloud-native", "nodeStatusExporter": "nvidia", "gds": "nvidia/cloud-native",
    "gdrcopy": "nvidia/cloud-native", "vgpuManager.driverManager": "nvidia/cloud-native",
    "vgpuDeviceManager": "nvidia/cloud-native", "vfioManager": "nvidia/cloud-native",
    "vfioManager.driverManager": "nvidia/cloud-native", "sandboxDevicePlugin": "nvidia",
    "kataSandboxDevicePlugin": "nvidia/cloud-native", "ccManager": "nvidia/cloud-native", "draDriver": "nvidia",
}  # fmt: skip


def _set(values: dict[str, Any], dotted: str, value: Any) -> None:
    *parents, leaf = dotted.split(".")
    for key in parents:
        values = values.setdefault(key, {})
    values[leaf] = value


def _gpu_operator(registry: str) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for section, path in GPU_OPERATOR_REPOSITORIES.items():
        _set(values, f"{section}.repository", f"{registry}/{path}")
    # Node Feature Discovery subchart (registry.k8s.io/nfd/node-feature-discovery).
    _set(values, "node-feature-discovery.image.repository", f"{registry}/nfd/node-feature-discovery")
    return values


def _kserve_resources(registry: str) -> dict[str, Any]:
    """kserve-resources values.yaml v0.20.0: images of the controller, of what it injects into
    predictor pods (agent, router, storage initializer; via the inferenceservice-config ConfigMap)
    and of the optional local-model cache."""
    kserve = f"{registry}/kserve"
    return {
        "kserve": {
            "agent": {"image": f"{kserve}/agent"},
            "router": {"image": f"{kserve}/router"},
            "storage": {"image": f"{kserve}/storage-initializer"},
            "servingruntime": {"art": {"image": f"{kserve}/art-explainer"}},
            "localmodel": {
                "controller": {"image": f"{kserve}/kserve-localmodel-controller"},
                "agent": {"image": f"{kserve}/kserve-localmodelnode-agent"},
                "defaultJobImage": f"{kserve}/storage-initializer",
            },
            "controller": {
                "image": f"{kserve}/kserve-controller",
                "rbacProxyImage": f"{registry}/brancz/kube-rbac-proxy:v0.18.0",  # the chart's own tag
            },
        }
    }


def _knative_operator(registry: str) -> dict[str, Any]:
    base = f"{registry}/knative-releases/knative.dev/operator/cmd"
    return {"knative_operator": {"knative_operator": {"image": f"{base}/operator"}, "operator_webhook": {"image": f"{base}/webhook"}}}


def _keda_http(registry: str) -> dict[str, Any]:
    """keda-add-ons-http values.yaml 0.12.0 `images` (0.12.0 no longer runs kube-rbac-proxy)."""
    return {
        "images": {
            "operator": f"{registry}/kedacore/http-add-on-operator",
            "interceptor": f"{registry}/kedacore/http-add-on-interceptor",
            "scaler": f"{registry}/kedacore/http-add-on-scaler",
        }
    }


REGISTRY_VALUES: dict[str, Callable[[str], dict[str, Any]]] = {
    # global.imageRegistry replaces the registry of every image (operator, its config-reloader
    # argument, kube-state-metrics, node-exporter, Grafana and its sidecars).
    "kube-prometheus-stack": lambda r: {"global": {"imageRegistry": r}},
    # imageRegistry + the chart's imageNamespace (jetstack) for every cert-manager image.
    "cert-manager": lambda r: {"imageRegistry": r},
    "gpu-operator": _gpu_operator,
    "knative-operator": _knative_operator,
    "kserve-crd": lambda r: {},
    "kserve-resources": _kserve_resources,
    "kserve-localmodel-crd": lambda r: {},
    # kserve-localmodel-resources values.yaml v0.20.0: the controller and the node agent.
    "kserve-localmodel-resources": lambda r: {"kserve": {
        "localmodel": {"controller": {"image": f"{r}/kserve/kserve-localmodel-controller"}},
        "localmodelnode": {"controller": {"image": f"{r}/kserve/kserve-localmodelnode-agent"}}}},
    "keda": lambda r: {"global": {"image": {"registry": r}}},
    "keda-add-ons-http": _keda_http,
}
