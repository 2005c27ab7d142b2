"""Platform layer under Pulumi mocks: each component's chart, version, release, repository and
namespace; values that follow from settings; install order; toggles; platform off leaves only the
model layer. What the charts do with the values: tests/test_platform_render.py (real Helm) and
tests/test_platform_engine.py (real Pulumi engine and API server)."""

from __future__ import annotations

from typing import Any

import pytest
from conftest import RecordingMocks, llamacpp_entry, run_program

from infra.components.platform.base import PlatformComponent
from infra.config.platform import KNATIVE_FEATURES, PlatformSettings
from infra.platform.releases import releases
from infra.versions import PLATFORM_CHARTS

CHART = "kubernetes:helm.sh/v4:Chart"
ALL_ON = {"knative": {"install": True}, "keda": {"httpAddon": True}}


def _charts(mocks: RecordingMocks) -> dict[str, dict[str, Any]]:
    return {r.name: r.inputs for r in mocks.of_type(CHART)}


def _platform(platform: dict[str, Any]) -> tuple[RecordingMocks, dict]:
    return run_program({"namespace": "llm", "models": [llamacpp_entry()], "platform": platform})


@pytest.mark.parametrize(
    ("resource", "pin", "release", "namespace"),
    [
        ("monitoring-kube-prometheus-stack", "kube-prometheus-stack", "kube-prometheus-stack", "monitoring"),
        ("cert-manager-cert-manager", "cert-manager", "cert-manager", "cert-manager"),
        ("gpu-operator-gpu-operator", "gpu-operator", "gpu-operator", "gpu-operator"),
        ("knative-knative-operator", "knative-operator", "knative-operator", "knative-operator"),
        ("kserve-kserve-crd", "kserve-crd", "kserve-crd", "kserve"),
        ("kserve-kserve-resources", "kserve-resources", "kserve", "kserve"),
        ("keda-keda", "keda", "keda", "keda"),
        ("keda-keda-add-ons-http", "keda-add-ons-http", "keda-add-ons-http", "keda"),
    ],
)
def test_component_chart_is_pinned(resource: str, pin: str, release: str, namespace: str) -> None:
    chart = _charts(_platform(ALL_ON)[0])[resource]
    expected = PLATFORM_CHARTS[pin]
    assert chart["version"] == expected.version and chart["namespace"] == namespace and chart["name"] == release
    if expected.repository.startswith("oci://"):
        assert chart["chart"] == f"{expected.repository}/{expected.chart}"
    else:
        assert chart["chart"] == expected.chart and chart["repositoryOpts"]["repo"] == expected.repository


def test_chart_repository_serves_every_chart_and_a_component_repository_wins() -> None:
    settings = PlatformSettings.model_validate({**ALL_ON, "chartRepository": "http://charts.internal:8080/",
                                                "keda": {"httpAddon": True, "repository": "oci://registry.internal/charts"}})  # fmt: skip
    by_chart = {r.pin_name: r for r in releases(settings)}
    assert by_chart["kserve-resources"].chart_ref == ("kserve-resources", "http://charts.internal:8080")
    assert by_chart["keda"].chart_ref == ("oci://registry.internal/charts/keda", None)


def test_gpu_operator_keeps_its_taint_toleration_next_to_extra_ones() -> None:
    mocks, _ = _platform({"gpuOperator": {"daemonsetTolerations": [{"key": "pool", "operator": "Exists"}]}})
    tolerations = _charts(mocks)["gpu-operator-gpu-operator"]["values"]["daemonsets"]["tolerations"]
    assert tolerations == [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}, {"key": "pool", "operator": "Exists"}]
    namespace = mocks.named("kubernetes:core/v1:Namespace", "gpu-operator-namespace")
    assert namespace.inputs["metadata"]["labels"] == {"pod-security.kubernetes.io/enforce": "privileged"}


def test_service_monitors_only_when_monitoring_is_there() -> None:
    off = {r.pin_name: r.values for r in releases(PlatformSettings.model_validate({"monitoring": {"install": False}}))}
    on = {r.pin_name: r.values for r in releases(PlatformSettings.model_validate({"monitoring": {"install": False, "preinstalled": True}}))}
    assert off["gpu-operator"]["dcgmExporter"]["serviceMonitor"] == {"enabled": False}
    assert off["keda"]["prometheus"]["operator"]["serviceMonitor"] == {"enabled": False}
    assert on["gpu-operator"]["dcgmExporter"]["serviceMonitor"] == {"enabled": True}


def test_knative_is_off_unless_asked_and_brings_knative_serving() -> None:
    assert not any(n.startswith("knative") for n in _charts(_platform({})[0]))
    mocks, _ = _platform({"knative": {"install": True, "networking": "contour"}})
    serving = mocks.named("kubernetes:operator.knative.dev/v1beta1:KnativeServing", "knative-serving")
    assert serving.inputs["spec"]["ingress"] == {"contour": {"enabled": True}}


def test_knative_serving_enables_the_pod_spec_features_our_models_use() -> None:
    """The flags tests/test_knative_engine.py validates the Knative Services with are the ones the
    platform layer sets on KnativeServing (config-features)."""
    mocks, _ = _platform({"knative": {"install": True}})
    serving = mocks.named("kubernetes:operator.knative.dev/v1beta1:KnativeServing", "knative-serving")
    assert serving.inputs["spec"]["config"]["features"] == KNATIVE_FEATURES


def test_toggled_off_components_are_not_installed() -> None:
    mocks, exports = _platform({"gpuOperator": {"install": False}, "keda": {"install": False}})
    names = set(_charts(mocks))
    assert "gpu-operator-gpu-operator" not in names and "keda-keda" not in names
    assert exports["platform"] == ["monitoring", "cert_manager", "kserve"]


def test_platform_off_renders_only_the_model_layer() -> None:
    mocks, exports = _platform({"enabled": False})
    assert list(_charts(mocks)) == ["models-chart"]
    assert [r.name for r in mocks.of_type("kubernetes:core/v1:Namespace")] == ["namespace"]
    assert exports["platform"] == [] and "tiny" in exports["models"]


def test_values_escape_hatch_merges_over_ours() -> None:
    mocks, _ = _platform({"certManager": {"values": {"crds": {"keep": True}, "replicaCount": 2}}})
    assert _charts(mocks)["cert-manager-cert-manager"]["values"] == {"crds": {"enabled": True, "keep": True}, "replicaCount": 2}


def test_deploy_models_false_installs_platform_only() -> None:
    mocks, exports = run_program({"models": [llamacpp_entry()], "deployModels": False})
    assert "models-chart" not in _charts(mocks) and "models" not in exports


@pytest.fixture
def dependencies(monkeypatch: pytest.MonkeyPatch) -> dict[str, list[str]]:
    """Record, per platform component, the resources it was told to wait for."""
    recorded: dict[str, list[str]] = {}
    original = PlatformComponent.__init__

    def recording(self, name, args, opts=None):  # type: ignore[no-untyped-def]
        recorded[name] = [d._name for d in (opts.depends_on or [])] if opts else []  # type: ignore[union-attr]
        original(self, name, args, opts)

    monkeypatch.setattr(PlatformComponent, "__init__", recording)
    return recorded


def test_install_order(dependencies: dict[str, list[str]]) -> None:
    _platform(ALL_ON)
    assert dependencies["monitoring"] == []
    assert dependencies["cert-manager"] == ["monitoring-kube-prometheus-stack"]
    assert set(dependencies["kserve"]) == {
        "monitoring-kube-prometheus-stack", "cert-manager-cert-manager", "knative-knative-operator", "knative-serving",
        "knative-activator-metrics",
    }  # fmt: skip


def test_keda_is_installed_last_so_destroy_removes_it_first(dependencies: dict[str, list[str]]) -> None:
    """Its external-metrics APIService goes unavailable with it; namespaces deleted while it still
    exists never finish (NamespaceDeletionDiscoveryFailure), as seen on the engine tier."""
    _platform(ALL_ON)
    assert {"kserve-kserve-resources", "gpu-operator-gpu-operator", "cert-manager-cert-manager", "namespace"} <= set(dependencies["keda"])


def test_models_wait_for_the_platform(monkeypatch: pytest.MonkeyPatch) -> None:
    from infra.components import model_serving

    seen: list[str] = []
    original = model_serving.ModelServing.__init__

    def recording(self, name, args, opts=None):  # type: ignore[no-untyped-def]
        seen.extend(d._name for d in opts.depends_on)
        original(self, name, args, opts)

    monkeypatch.setattr(model_serving.ModelServing, "__init__", recording)
    _platform({})
    assert {"kserve-kserve-resources", "keda-keda", "gpu-operator-gpu-operator"} <= set(seen)


def test_components_appear_as_typed_parents_in_preview() -> None:
    mocks, _ = _platform(ALL_ON)
    types = {r.typ for r in mocks.resources}
    for token in ("Platform", "Monitoring", "CertManager", "GpuOperator", "Knative", "KServe", "Keda"):
        assert f"llm-platform:platform:{token}" in types
    assert "llm-platform:serving:ModelServing" in types


def test_local_kserve_runs_with_the_values_the_platform_layer_passes() -> None:
    """localcp.kserve configures the real controller like the program would (default settings)."""
    from infra.platform.releases import kserve_controller_values
    from infra.config.platform import KServe as KServeSettings
    from localcp.kserve import VALUES

    assert kserve_controller_values(KServeSettings()) == VALUES


def test_knative_exports_prometheus_metrics_and_prometheus_scrapes_the_activator() -> None:
    """Knative Serving 1.23 exports nothing unless metrics-protocol is prometheus (knative.dev/pkg
    observability/metrics/config.go: default "none"); LLMScaleFromZeroStuck reads the activator's
    kn_revision_request_queued, so the platform turns the exporter on and scrapes the activator."""
    mocks, _ = _platform({"knative": {"install": True}})
    serving = mocks.named("kubernetes:operator.knative.dev/v1beta1:KnativeServing", "knative-serving")
    assert serving.inputs["spec"]["config"]["observability"] == {"metrics-protocol": "prometheus"}
    monitor = mocks.named("kubernetes:monitoring.coreos.com/v1:PodMonitor", "knative-activator-metrics")
    assert monitor.inputs["metadata"] == {"name": "knative-activator", "namespace": "knative-serving"}
    assert monitor.inputs["spec"] == {"selector": {"matchLabels": {"app": "activator"}},
                                      "podMetricsEndpoints": [{"port": "metrics", "path": "/metrics"}]}


def test_no_activator_scrape_without_prometheus() -> None:
    mocks, _ = _platform({"knative": {"install": True}, "monitoring": {"install": False}})
    assert not mocks.of_type("kubernetes:monitoring.coreos.com/v1:PodMonitor")
