"""Platform layer on the real engines: `pulumi up` of a stack with the platform ON, every chart pulled
from the offline chart mirror (../shared/charts on 127.0.0.1), onto a bare local control plane
(no CRDs pre-applied: the charts own them). cert-manager's own admission webhook and the KServe
controller manager run locally, and the charts' webhook configurations are routed to them
(localcp.webhooks), so Certificates, Issuers, ServingRuntimes and InferenceServices are admitted by
the code that admits them in a cluster. Follows ADR 0001's two runs: platform (`deployModels:
false`), then models; then destroy. Tests run in file order on one stack."""

from __future__ import annotations

import json

import pytest
import yaml
from conftest import REPO_ROOT

from localcp.cert_manager import CertManagerWebhook
from localcp.cluster import LocalCluster
from localcp.kserve import KServeController
from localcp.pulumi import PulumiWorkspace
from localcp.webhooks import WebhookRouter

pytestmark = pytest.mark.engine
ARTIFACTS = REPO_ROOT / "out" / "e2e"
STACK = "platform"
NAMESPACE = "llm-platform-e2e"
PLATFORM_NAMESPACES = {"monitoring", "cert-manager", "gpu-operator", "kserve", "keda"}
MODELS = [
    {"name": "qwen3-4b", "runtime": "vllm", "source": {"uri": "hf://Qwen/Qwen3-4B"}, "quantization": "none",
     "dtype": "bfloat16", "gpu": {"count": 1, "product": "NVIDIA-L4"}, "resources": {"cpu": "4", "memory": "24Gi"},
     "maxModelLen": 8192, "autoscaling": {"mode": "keda", "minReplicas": 1, "maxReplicas": 2}},
    {"name": "tiny", "runtime": "llamacpp", "source": {"uri": "hf://TheBloke/TinyLlama-1.1B-Chat-v1.0-GGUF"},
     "ggufFile": "tinyllama-1.1b-chat-v1.0.Q4_K_M.gguf", "maxModelLen": 2048, "resources": {"cpu": "2", "memory": "2Gi"}},
]  # fmt: skip


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory):
    bare = LocalCluster(tmp_path_factory.mktemp("bare-cluster"), platform_crds=False).start()
    try:
        yield bare
    finally:
        bare.stop()


@pytest.fixture(scope="module")
def router(cluster: LocalCluster, tmp_path_factory: pytest.TempPathFactory):
    webhook = CertManagerWebhook(cluster, tmp_path_factory.mktemp("cert-manager")).start()
    with WebhookRouter(cluster, [webhook.route()]) as running:
        yield running
    webhook.stop()


@pytest.fixture(scope="module")
def workspace(cluster: LocalCluster, router: WebhookRouter, chart_mirror, pulumi_workspace) -> PulumiWorkspace:
    ws = pulumi_workspace(cluster)
    ws.add_stack_config(STACK, {
        "llm-platform:namespace": NAMESPACE,
        "llm-platform:deployModels": False,
        "llm-platform:platform": {"chartRepository": chart_mirror.url, "readyTimeoutSeconds": 240},
        "llm-platform:models": MODELS,
    })  # fmt: skip
    return ws


@pytest.fixture(scope="module")
def kserve(cluster: LocalCluster, router: WebhookRouter, tmp_path_factory: pytest.TempPathFactory):
    """The KServe controller manager against the chart-installed KServe (started once the first run
    installed it), its webhooks routed to it. Kept up through destroy, as in a cluster: deleting an
    InferenceService waits for the controller to remove its finalizer."""
    manager = KServeController(cluster, tmp_path_factory.mktemp("kserve"), install=False).start()
    router.routes.append(manager.route())
    router.route_once()
    try:
        yield manager
    finally:
        manager.stop()


def _available(cluster: LocalCluster, kind: str, namespace: str) -> dict[str, bool]:
    def ok(obj: dict) -> bool:
        status = obj.get("status", {})
        if kind == "daemonset":
            return status.get("desiredNumberScheduled", 0) > 0 and status.get("numberAvailable") == status["desiredNumberScheduled"]
        return status.get("availableReplicas", 0) >= obj["spec"].get("replicas", 1)

    return {o["metadata"]["name"]: ok(o) for o in cluster.list(kind, namespace)}


def test_preview_of_platform_and_models_on_a_bare_cluster(workspace: PulumiWorkspace) -> None:
    """ADR 0001: on a cluster without the CRDs, one preview plans platform and models together (the
    provider resolves InferenceService etc. from the CRDs it planned in the charts)."""
    workspace.run("config", "set", "llm-platform:deployModels", "true", stack=STACK)
    try:
        preview = workspace.preview_json(STACK)
    finally:
        workspace.run("config", "set", "llm-platform:deployModels", "false", stack=STACK)
    kinds = {step["urn"].split("::")[2].rsplit(":", 1)[-1] for step in preview["steps"] if step["op"] == "create"}
    assert {"InferenceService", "ServingRuntime", "ScaledObject", "CustomResourceDefinition"} <= kinds


def test_first_run_installs_the_platform_from_the_mirror(workspace: PulumiWorkspace, cluster: LocalCluster) -> None:
    result = workspace.up(STACK, check=False, timeout=1500)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / "platform-up.txt").write_text(result.stdout)
    assert result.returncode == 0, result.stdout[-6000:]
    assert set(workspace.outputs(STACK)["platform"]) == {"monitoring", "cert_manager", "gpu_operator", "kserve", "keda"}


@pytest.mark.parametrize("namespace", sorted(PLATFORM_NAMESPACES))
def test_platform_workloads_exist_and_are_available(cluster: LocalCluster, namespace: str) -> None:
    deployments = _available(cluster, "deployment", namespace)
    assert deployments and all(deployments.values()), deployments
    assert all(_available(cluster, "daemonset", namespace).values())


@pytest.mark.parametrize("namespace", sorted(PLATFORM_NAMESPACES))
def test_platform_services_have_endpoints(cluster: LocalCluster, namespace: str) -> None:
    """Pods got addresses EndpointSlices accept (loopback pod IPs were refused, and Pulumi then
    waited out each Service's timeout)."""
    slices = cluster.list("endpointslice", namespace)
    assert all(e["addresses"] for s in slices for e in s.get("endpoints") or [])
    events = cluster.kubectl("get", "events", "-n", namespace, "--field-selector", "reason=FailedToUpdateEndpointSlices", "-o", "name").stdout
    assert events.strip() == ""


def test_crds_are_owned_by_the_platform_charts(cluster: LocalCluster) -> None:
    """Nothing pre-applied them: every CRD the model layer uses came from a chart, via Pulumi."""
    for name in ("inferenceservices.serving.kserve.io", "servingruntimes.serving.kserve.io", "scaledobjects.keda.sh",
                 "podmonitors.monitoring.coreos.com", "prometheusrules.monitoring.coreos.com", "certificates.cert-manager.io"):  # fmt: skip
        managers = set(cluster.field_managers("crd", name))  # Pulumi's are pulumi-kubernetes-<id>
        pulumi = {m for m in managers if m.startswith("pulumi-kubernetes")}
        assert pulumi and managers - pulumi <= {"kube-apiserver"}, (name, managers)


def test_cert_manager_webhook_admitted_the_kserve_certificate(cluster: LocalCluster, router: WebhookRouter) -> None:
    assert {"validatingwebhookconfiguration/cert-manager-webhook", "mutatingwebhookconfiguration/cert-manager-webhook"} <= set(router.rewritten)
    assert cluster.get("certificate", "serving-cert", "kserve") is not None


def test_cert_manager_webhook_refuses_an_invalid_certificate(cluster: LocalCluster) -> None:
    """The webhook in the loop is cert-manager's own validation, not a stand-in that admits anything."""
    bad = {"apiVersion": "cert-manager.io/v1", "kind": "Certificate", "metadata": {"name": "bad", "namespace": "kserve"},
           "spec": {"secretName": "bad", "issuerRef": {"name": "selfsigned-issuer"}}}  # fmt: skip
    result = cluster.kubectl("apply", "-f", "-", stdin=yaml.safe_dump(bad), check=False)
    assert result.returncode != 0
    assert 'admission webhook "webhook.cert-manager.io" denied the request' in result.stderr
    assert "at least one of commonName" in result.stderr or "spec" in result.stderr


def test_platform_objects_wait_with_the_configured_timeout(workspace: PulumiWorkspace) -> None:
    state = json.loads(workspace.export_state(STACK))
    deployments = [r for r in state["deployment"]["resources"] if r["type"] == "kubernetes:apps/v1:Deployment"]
    assert deployments and all(r.get("customTimeouts", {}).get("create") == 240 for r in deployments), deployments[0]


def test_second_run_deploys_the_models_admitted_by_kserve(workspace: PulumiWorkspace, cluster: LocalCluster,
                                                          kserve: KServeController) -> None:  # fmt: skip
    """ADR 0001's second run: the KServe controller (installed by the first run) is up, its
    webhooks routed to the real manager; `deployModels` removed; the models follow."""
    workspace.run("config", "rm", "llm-platform:deployModels", stack=STACK)
    result = workspace.up(STACK, check=False, timeout=1200)
    assert result.returncode == 0, result.stdout[-6000:]
    assert cluster.get("inferenceservice", "qwen3-4b", NAMESPACE) is not None
    assert cluster.get("deployment", "qwen3-4b-predictor", NAMESPACE) is not None  # KServe reconciled it
    assert cluster.get("deployment", "tiny", NAMESPACE) is not None


def test_destroy_removes_platform_and_models(workspace: PulumiWorkspace, cluster: LocalCluster, kserve: KServeController) -> None:
    result = workspace.destroy(STACK, timeout=1800)
    (ARTIFACTS / "platform-destroy.txt").write_text(result.stdout)
    namespaces = {n["metadata"]["name"] for n in cluster.list("namespace")}
    assert not (PLATFORM_NAMESPACES | {NAMESPACE}) & {n for n in namespaces if cluster.get("namespace", n)["status"]["phase"] == "Active"}
    assert not [c["metadata"]["name"] for c in cluster.list("crd") if c["metadata"]["name"].endswith(("kserve.io", "keda.sh"))]
