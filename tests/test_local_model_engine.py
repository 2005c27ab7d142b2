"""The warm pool against the real KServe v0.20.0 controller manager (its InferenceService
defaulter and pod mutator), with inferenceservice-config from the kserve-resources chart rendered
with the platform layer's values (localModel enabled) and the release's LocalModel CRDs: the chart's
LocalModelCache makes KServe label the cached model's InferenceService, and the predictor pod the
controller builds mounts the node group's volume instead of running the download init container;
an uncached model in the same stack still downloads.

KServe's local-model controller (cmd/localmodel) and node agent (cmd/localmodelnode, one per L4
node, in a mount namespace of its own) run too: the cache is placed on the group's nodes and each
agent starts its node's download Job. kwok completes Job pods without running them, so the
"download" itself is not exercised: the storage initializer never fetches anything here."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from conftest import running, vllm_entry, wait_for

from infra.chart import render
from infra.components.platform.components import node_group_spec
from infra.planner import plan_stack
from infra.platform.releases import kserve_controller_values
from infra.program import MODEL_NAMESPACE_LABELS
from infra.stack import parse
from localcp.cluster import LocalCluster
from localcp.kserve import KServeController, LocalModelController, LocalModelNodeAgent

pytestmark = pytest.mark.engine
NAMESPACE = "llm-cache"
PLATFORM = {"kserve": {"localModel": {"enabled": True, "nodeGroups": {
    "l4": {"capacity": "200Gi", "nodeSelector": {"nvidia.com/gpu.product": "NVIDIA-L4"}}}}}}  # fmt: skip


@pytest.fixture(scope="module")
def config():
    return plan_stack(parse({"namespace": NAMESPACE, "platform": PLATFORM,
                             "models": [vllm_entry(name="cached", cache={"enabled": True}), vllm_entry(name="plain")]})).config  # fmt: skip


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    yield from running(LocalCluster(tmp_path_factory.mktemp("cache-cluster")), "local cluster")


@pytest.fixture(scope="module")
def kserve(cluster: LocalCluster, config, tmp_path_factory: pytest.TempPathFactory) -> Iterator[KServeController]:
    values = kserve_controller_values(config.platform.kserve)
    yield from running(KServeController(cluster, tmp_path_factory.mktemp("kserve"), values=values), "KServe controller manager")


@pytest.fixture(scope="module")
def local_model(cluster: LocalCluster, kserve: KServeController, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalModelController]:
    yield from running(LocalModelController(cluster, tmp_path_factory.mktemp("localmodel")), "KServe local-model controller")


@pytest.fixture(scope="module")
def agents(cluster: LocalCluster, kserve: KServeController, tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[LocalModelNodeAgent]]:
    """One node agent per L4 node (the DaemonSet's pods), which the operator labelled
    kserve/localmodel=worker (KServe's agent DaemonSet selects only those)."""
    nodes = sorted(n["metadata"]["name"] for n in cluster.list("nodes") if n["metadata"]["labels"].get("nvidia.com/gpu.product") == "NVIDIA-L4")
    for node in nodes:
        cluster.kubectl("label", "nodes", node, "kserve/localmodel=worker", "--overwrite")
    started = []
    try:
        for node in nodes:
            started.append(LocalModelNodeAgent(cluster, tmp_path_factory.mktemp(f"agent-{node}"), node).start())
        yield started
    except Exception as err:  # noqa: BLE001
        pytest.fail(f"KServe node agent did not start: {err}")
    finally:
        for agent in started:
            agent.stop()


@pytest.fixture(scope="module")
def deployed(cluster: LocalCluster, kserve: KServeController, local_model: LocalModelController, agents, config) -> list[dict]:
    objects = render(config.chart_values(), release="llm", namespace=NAMESPACE)
    groups = [{"apiVersion": "serving.kserve.io/v1alpha1", "kind": "LocalModelNodeGroup", "metadata": {"name": name},
               "spec": node_group_spec(group)} for name, group in config.platform.kserve.local_model.node_groups.items()]  # fmt: skip
    jobs = config.platform.kserve.local_model.job_namespace
    cluster.apply([{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE, "labels": MODEL_NAMESPACE_LABELS}},
                   {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": jobs}}, *groups])  # fmt: skip
    # The caches first: KServe's defaulter looks them up when an InferenceService is admitted.
    cluster.apply([o for o in objects if o["kind"] == "LocalModelCache"])
    cluster.apply([o for o in objects if o["kind"] != "LocalModelCache"])
    return objects


def _predictor_pod(cluster: LocalCluster, model: str) -> dict:
    def found():
        pods = cluster.list("pods", NAMESPACE, selector=f"serving.kserve.io/inferenceservice={model}")
        return pods[0] if pods else None

    return wait_for(found, 90, f"a predictor pod of {model}")


def test_kserve_admits_the_cache_and_node_group(cluster: LocalCluster, deployed: list[dict]) -> None:
    assert cluster.get("localmodelcache", f"{NAMESPACE}-cached") is not None
    assert cluster.get("localmodelnodegroup", "l4") is not None


def test_kserve_labels_the_cached_inference_service(cluster: LocalCluster, deployed: list[dict]) -> None:
    """KServe v0.20 inference_service_defaults.go setLocalModelLabel: the storageUri matched the cache."""
    isvc = cluster.get("inferenceservice", "cached", NAMESPACE)
    assert isvc["metadata"]["labels"]["internal.serving.kserve.io/localmodel"] == f"{NAMESPACE}-cached"
    assert isvc["metadata"]["annotations"]["internal.serving.kserve.io/localmodel-pvc-name"] == f"{NAMESPACE}-cached-l4"
    plain = cluster.get("inferenceservice", "plain", NAMESPACE)
    assert "internal.serving.kserve.io/localmodel" not in plain["metadata"].get("labels", {})


def test_cached_predictor_mounts_the_group_volume_without_a_download(cluster: LocalCluster, deployed: list[dict]) -> None:
    pod = _predictor_pod(cluster, "cached")
    init = [c["name"] for c in pod["spec"].get("initContainers", [])]
    assert "storage-initializer" not in init, init
    claims = {v["name"]: v.get("persistentVolumeClaim", {}).get("claimName") for v in pod["spec"]["volumes"]}
    assert claims.get("kserve-pvc-source") == f"{NAMESPACE}-cached-l4", claims
    mounts = {m["name"]: m for c in pod["spec"]["containers"] for m in c.get("volumeMounts", [])}
    assert mounts["kserve-pvc-source"]["mountPath"] == "/mnt/models"


def test_uncached_predictor_still_downloads(cluster: LocalCluster, deployed: list[dict]) -> None:
    """`plain` has the same URI as `cached`: KServe would match it to the cache by URI; the chart's
    disable-localmodel annotation keeps cache: false meaning what it says."""
    pod = _predictor_pod(cluster, "plain")
    assert "storage-initializer" in [c["name"] for c in pod["spec"].get("initContainers", [])]


def test_cached_predictor_runs_on_the_group_nodes(cluster: LocalCluster, deployed: list[dict]) -> None:
    pod = _predictor_pod(cluster, "cached")
    assert pod["spec"]["nodeSelector"] == {"nvidia.com/gpu.product": "NVIDIA-L4", "kserve/localmodel": "worker"}


def test_the_cache_is_placed_on_every_node_of_the_group(cluster: LocalCluster, deployed: list[dict]) -> None:
    """KServe's controller: one LocalModelNode per Ready node whose labels match the group's volume
    affinity (the kwok L4 node), listing the model; the cache's status counts that node."""
    l4_nodes = sorted(n["metadata"]["name"] for n in cluster.list("nodes") if n["metadata"]["labels"].get("nvidia.com/gpu.product") == "NVIDIA-L4")
    assert l4_nodes

    def placed():
        nodes = {n["metadata"]["name"]: n for n in cluster.list("localmodelnodes")}
        return nodes if sorted(nodes) == l4_nodes else None

    nodes = wait_for(placed, 60, f"LocalModelNodes for {l4_nodes}")
    for node in nodes.values():
        assert [m["modelName"] for m in node["spec"]["localModels"]] == [f"{NAMESPACE}-cached"]
    status = wait_for(lambda: (cluster.get("localmodelcache", f"{NAMESPACE}-cached") or {}).get("status", {}).get("copies"), 60, "cache status copies")
    assert status["total"] == len(l4_nodes)


def test_the_cached_models_claim_is_created_where_it_serves(cluster: LocalCluster, deployed: list[dict]) -> None:
    """The download claim in the jobs namespace, and the claim the predictor mounts in the model's namespace."""
    wait_for(lambda: cluster.get("pvc", f"{NAMESPACE}-cached-l4", "kserve-localmodel-jobs"), 60, "the download claim")
    wait_for(lambda: cluster.get("pvc", f"{NAMESPACE}-cached-l4", NAMESPACE), 60, "the serving claim in the model's namespace")


def test_each_node_agent_starts_its_nodes_download(cluster: LocalCluster, deployed: list[dict], agents: list[LocalModelNodeAgent]) -> None:
    """KServe v0.20 localmodelnode controller.go launchJob: a Job pinned to the node, the storage
    initializer fetching the cache's URI into the group's claim (subPath models/<key>)."""
    cache = next(o for o in deployed if o["kind"] == "LocalModelCache")
    for agent in agents:
        def job():
            jobs = cluster.list("jobs", "kserve-localmodel-jobs", selector=f"node={agent.node}")
            return jobs[0] if jobs else None

        spec = wait_for(job, 90, f"a download Job on {agent.node}")["spec"]["template"]["spec"]
        assert spec["nodeSelector"] == {"kubernetes.io/hostname": agent.node}
        [container] = spec["containers"]
        assert container["args"] == [cache["spec"]["sourceModelUri"], "/mnt/models"]
        claims = [v["persistentVolumeClaim"]["claimName"] for v in spec["volumes"] if "persistentVolumeClaim" in v]
        assert claims == [f"{NAMESPACE}-cached-l4"]


def test_download_job_does_not_tolerate_the_gpu_taint(cluster: LocalCluster, deployed: list[dict], agents: list[LocalModelNodeAgent]) -> None:
    """Found here: KServe v0.20's download Job (localmodelnode controller.go launchJob) pins itself
    to the node but carries no tolerations, so on a GPU node tainted nvidia.com/gpu (as GPU pools
    usually are, and our kwok GPU nodes) it never schedules and the cache never fills. The README
    and the capacity plan's warning say so."""
    def unschedulable():
        pods = cluster.list("pods", "kserve-localmodel-jobs")
        conditions = [c for p in pods for c in p.get("status", {}).get("conditions", []) if c["type"] == "PodScheduled"]
        # kube-scheduler 1.35: "... N node(s) had untolerated taint(s)" (the L4 node's nvidia.com/gpu).
        return [c for c in conditions if c["status"] == "False" and "untolerated taint" in c.get("message", "")]

    assert wait_for(unschedulable, 60, "the download pod refused by the node's nvidia.com/gpu taint")


def test_the_cache_status_follows_the_nodes_downloads(cluster: LocalCluster, deployed: list[dict], agents: list[LocalModelNodeAgent]) -> None:
    """With the taint lifted from the group's nodes, the Job runs (kwok completes it without a real
    download), the agent reports it on the LocalModelNode and the controller copies it into the
    cache's per-node status: NodeDownloaded on every node, every copy available."""
    for agent in agents:
        cluster.kubectl("taint", "nodes", agent.node, "nvidia.com/gpu-", check=False)
    def downloaded():
        status = (cluster.get("localmodelcache", f"{NAMESPACE}-cached") or {}).get("status", {})
        nodes = status.get("nodeStatus", {})
        return status if nodes and all(v == "NodeDownloaded" for v in nodes.values()) else None

    status = wait_for(downloaded, 180, "NodeDownloaded on every node of the group", interval=3)
    assert status["copies"]["available"] == len(agents)


def test_platform_values_render_the_local_model_chart_as_intended(config, tmp_path) -> None:
    """kserve-localmodel-resources v0.20.0 (charts/ of the pinned KServe module: ../shared/charts
    lacks it) rendered by the real Helm with the platform layer's values: only its own objects (no
    second inferenceservice-config), the node agent on the node groups' nodes, tolerating the GPU taint."""
    from infra.platform.releases import component_releases
    from localcp.helm import Helm
    from localcp.kserve import module_dir

    release = next(r for r in component_releases(config.platform, "kserve") if r.pin_name == "kserve-localmodel-resources")
    objects = Helm(tmp_path).template(release.name, str(module_dir() / "charts" / "kserve-localmodel-resources"),
                                      version=release.pin.version, namespace=release.namespace, values=release.values)  # fmt: skip
    kinds = {o["kind"] for o in objects}
    assert "ConfigMap" not in kinds and {"Deployment", "DaemonSet", "ValidatingWebhookConfiguration"} <= kinds
    [agent] = [o for o in objects if o["kind"] == "DaemonSet"]
    pod = agent["spec"]["template"]["spec"]
    terms = pod["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"]
    assert terms == [{"matchExpressions": [{"key": "kserve/localmodel", "operator": "In", "values": ["worker"]},
                                           {"key": "nvidia.com/gpu.product", "operator": "In", "values": ["NVIDIA-L4"]}]}]  # fmt: skip
    assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in pod["tolerations"]
    # The chart's base manifest keeps its own selector whatever the values say: group nodes carry it.
    assert pod["nodeSelector"] == {"kserve/localmodel": "worker"}
