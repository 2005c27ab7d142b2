"""The autoscaling loop against the real engines: a real llama-server (one slot, so extra requests
wait in its queue), a real Prometheus 3 scraping it with the scrape job generated from the chart's
PodMonitor (localcp/scrape.py), the real KEDA operator + metrics API server aggregated by
kube-apiserver, and kube-controller-manager's HPA controller scaling the chart's Deployment on the
local cluster (kwok runs the extra pods; only the first pod has the real server behind it, so the
queue Prometheus sees is that server's). Timings are printed (pytest -s)."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from conftest import llamacpp_entry, running, vllm_entry, wait_for

from infra.chart import render
from infra.program import MODEL_NAMESPACE_LABELS
from infra.planner import plan_stack
from infra.stack import parse
from localcp.cluster import LocalCluster
from localcp.keda import Keda
from localcp.kserve import KServeController
from localcp.process import ProcessError, listening_addresses
from localcp.prometheus import PrometheusServer
from localcp.scrape import scrape_jobs

pytestmark = pytest.mark.engine
NAMESPACE, MODEL, MAX_REPLICAS = "llm-scale", "tiny", 3
VLLM_MODEL, VLLM_MAX_REPLICAS = "qwen", 2
CLIENTS = 6  # concurrent streams against one slot: about five requests always deferred


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    yield from running(LocalCluster(tmp_path_factory.mktemp("scale-cluster"), hpa_sync_period="3s"), "the local cluster")


@pytest.fixture(scope="module")
def keda(cluster: LocalCluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Keda]:
    yield from running(Keda(cluster, tmp_path_factory.mktemp("keda")), "KEDA")


@pytest.fixture(scope="module")
def llama(llama_bin: Path, tiny_models: dict[str, Path]):
    from smoke.local_server import serve

    with serve(llama_bin, tiny_models["tiny-f16"], MODEL, slots=1) as server:
        yield server


def scaling(max_replicas: int, prometheus_url: str) -> dict[str, Any]:
    """KEDA on the queue with test-only short periods (the defaults are minutes)."""
    return {"mode": "keda", "minReplicas": 1, "maxReplicas": max_replicas, "queueDepthPerReplica": 1,
            "pollingIntervalSeconds": 2, "cooldownPeriodSeconds": 5, "scaleDownStabilizationSeconds": 0,
            "scaleUpStepSeconds": 1, "scaleDownStepSeconds": 1, "prometheusUrl": prometheus_url}  # fmt: skip


def model_objects(prometheus_url: str) -> list[dict[str, Any]]:
    """One release: the llama.cpp model (served for real) and a vLLM model (KServe predictor)."""
    tiny = llamacpp_entry(name=MODEL, maxModelLen=1024, maxNumSeqs=1, resources={"cpu": "1", "memory": "1Gi"},
                          autoscaling=scaling(MAX_REPLICAS, prometheus_url))  # fmt: skip
    qwen = vllm_entry(name=VLLM_MODEL, autoscaling=scaling(VLLM_MAX_REPLICAS, prometheus_url))
    config = plan_stack(parse({"namespace": NAMESPACE, "models": [tiny, qwen]})).config
    return render(config.chart_values(), release="llm", namespace=NAMESPACE)


@pytest.fixture(scope="module")
def kserve(cluster: LocalCluster, kserve_on) -> Iterator[KServeController]:
    yield from kserve_on(cluster)


@pytest.fixture(scope="module")
def deployed(cluster: LocalCluster, prometheus: PrometheusServer, keda: Keda, kserve: KServeController, llama,
             vllm_server) -> dict[str, Any]:  # fmt: skip
    """The release applied; Prometheus scrapes each model's first pod through the PodMonitor's job,
    the llama.cpp pod backed by the real llama-server, the vLLM predictor pod by the real vLLM (CPU
    build, tiny model, --max-num-seqs 4 so a few streams make a queue)."""
    objects = model_objects(prometheus.url)
    namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE, "labels": MODEL_NAMESPACE_LABELS}}
    cluster.apply([namespace, *objects], field_manager="llm-platform")
    tiny = wait_for(lambda: next(iter(ready_pods(cluster, MODEL)), None), 60, f"{MODEL}'s first pod Ready")
    qwen = wait_for(lambda: next(iter(ready_pods(cluster, VLLM_MODEL)), None), 120, f"{VLLM_MODEL}'s predictor pod Ready")
    monitor = next(o for o in objects if o["kind"] == "PodMonitor")
    prometheus.write_config(rule_groups=next(o for o in objects if o["kind"] == "PrometheusRule")["spec"]["groups"])
    behind = {tiny["metadata"]["name"]: host_port(llama.base_url), qwen["metadata"]["name"]: host_port(vllm_server.base_url)}
    prometheus.reload(scrape_jobs(monitor, [tiny, qwen], behind, interval="1s"))
    return {"objects": objects, "pods": {MODEL: tiny["metadata"]["name"], VLLM_MODEL: qwen["metadata"]["name"]}}


def host_port(base_url: str) -> str:
    return base_url.removeprefix("http://").removesuffix("/v1")


def ready_pods(cluster: LocalCluster, model: str) -> list[dict[str, Any]]:
    pods = cluster.list("pods", NAMESPACE, selector=f"llm-serving/model={model}")
    return [p for p in pods if any(c["type"] == "Ready" and c["status"] == "True" for c in p.get("status", {}).get("conditions") or [])]


def fallback_condition(cluster: LocalCluster) -> str | None:
    """Status of the ScaledObject's Fallback condition (KEDA apis/keda/v1alpha1 ConditionFallback)."""
    status = (cluster.get("scaledobject", MODEL, NAMESPACE) or {}).get("status", {})
    return next((c["status"] for c in status.get("conditions") or [] if c["type"] == "Fallback"), None)


def replicas(cluster: LocalCluster, deployment: str = MODEL) -> int:
    return (cluster.get("deployment", deployment, NAMESPACE) or {}).get("spec", {}).get("replicas", 0)


class Load:
    """CLIENTS closed-loop streams of long completions against the one-slot server."""

    def __init__(self, base_url: str, model: str = MODEL, clients: int = CLIENTS):
        self.base_url, self.model, self.clients, self.stop_event, self.errors = base_url, model, clients, threading.Event(), []
        self.threads: list[threading.Thread] = []

    def _client(self) -> None:
        with httpx.Client(timeout=120) as client:
            while not self.stop_event.is_set():
                try:
                    client.post(f"{self.base_url}/completions", json={"model": self.model, "prompt": "hello", "max_tokens": 512,
                                                                      "ignore_eos": True}).raise_for_status()  # fmt: skip
                except httpx.HTTPError as err:
                    self.errors.append(repr(err))

    def start(self) -> None:
        self.stop_event.clear()
        self.threads = [threading.Thread(target=self._client, daemon=True) for _ in range(self.clients)]
        for thread in self.threads:
            thread.start()

    def stop(self) -> None:
        self.stop_event.set()
        for thread in self.threads:
            thread.join(timeout=130)


@pytest.fixture(scope="module")
def load(llama) -> Iterator[Load]:
    streams = Load(llama.base_url)
    try:
        yield streams
    finally:
        streams.stop()


QUEUE = f'sum(llamacpp:requests_deferred{{namespace="{NAMESPACE}",llm_serving_model="{MODEL}"}})'


def test_prometheus_scrapes_the_model_with_the_podmonitor_labels(deployed: dict[str, Any], prometheus: PrometheusServer) -> None:
    series = wait_for(lambda: prometheus.query(f'llamacpp:requests_deferred{{namespace="{NAMESPACE}"}}'), 30,
                      "llamacpp:requests_deferred scraped")  # fmt: skip
    labels = series[0]["metric"]
    assert labels["pod"] == deployed["pods"][MODEL] and labels["llm_serving_model"] == MODEL
    assert labels["llm_serving_runtime"] == "llamacpp" and labels["job"] == f"{NAMESPACE}/llm-models"


def test_keda_and_prometheus_listen_on_loopback_only(deployed: dict[str, Any], keda: Keda, prometheus: PrometheusServer) -> None:
    for process in (keda.operator, keda.adapter, prometheus.process):
        addresses = listening_addresses(process.pid or 0)
        hosts = {a.rsplit(":", 1)[0] for a in addresses}
        assert addresses and hosts <= {"127.0.0.1", "::1"}, f"{process.name} listens on {sorted(addresses)}"


def test_keda_creates_the_hpa_for_the_scaledobject(deployed: dict[str, Any], cluster: LocalCluster) -> None:
    hpa = wait_for(lambda: cluster.get("hpa", f"keda-hpa-{MODEL}", NAMESPACE), 60, f"HPA keda-hpa-{MODEL}")
    assert hpa["spec"]["scaleTargetRef"]["name"] == MODEL
    assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (1, MAX_REPLICAS)


def test_queue_scales_the_model_up_to_max(deployed: dict[str, Any], cluster: LocalCluster, prometheus: PrometheusServer,
                                          load: Load) -> None:  # fmt: skip
    started = time.monotonic()
    load.start()
    wait_for(lambda: (prometheus.value(QUEUE) or 0) >= 2, 60, f"{QUEUE} >= 2 under load")
    print(f"queue visible in Prometheus after {time.monotonic() - started:.0f}s")
    wait_for(lambda: replicas(cluster) == MAX_REPLICAS, 180, f"Deployment {MODEL} scaled to {MAX_REPLICAS}")
    print(f"scaled to {MAX_REPLICAS} after {time.monotonic() - started:.0f}s")
    wait_for(lambda: len(ready_pods(cluster, MODEL)) == MAX_REPLICAS, 60, f"{MAX_REPLICAS} pods Ready on kwok")
    assert not load.errors, load.errors[:3]


def test_fallback_keeps_the_replicas_when_prometheus_is_down(deployed: dict[str, Any], cluster: LocalCluster,
                                                              prometheus: PrometheusServer) -> None:  # fmt: skip
    """Still under load at max replicas; with Prometheus gone the queue cannot be read, and after
    failureThreshold failed reads KEDA reports the fallback instead of the metric (pkg/fallback).
    Its behavior currentReplicasIfHigher holds the current count: a monitoring outage must not
    shed capacity under load (the default, static, would drop to fallback.replicas)."""
    fallback = next(o for o in deployed["objects"] if o["kind"] == "ScaledObject")["spec"]["fallback"]
    assert replicas(cluster) == MAX_REPLICAS > fallback["replicas"], "the loop must start above the fallback count"
    prometheus.stop()
    started = time.monotonic()

    wait_for(lambda: fallback_condition(cluster) == "True", 120, f"ScaledObject {MODEL} condition Fallback=True with Prometheus stopped")
    print(f"fallback active after {time.monotonic() - started:.0f}s")
    held_until = time.monotonic() + 20  # several HPA syncs (3s) and scale-down steps (1s)
    while time.monotonic() < held_until:
        assert replicas(cluster) == MAX_REPLICAS, "the fallback shed replicas under load"
        time.sleep(1)


def test_fallback_ends_when_prometheus_returns(deployed: dict[str, Any], cluster: LocalCluster,
                                               prometheus: PrometheusServer) -> None:  # fmt: skip
    prometheus.start()
    started = time.monotonic()

    wait_for(lambda: fallback_condition(cluster) == "False", 120, f"ScaledObject {MODEL} condition Fallback=False with Prometheus back")
    print(f"reading the queue again after {time.monotonic() - started:.0f}s")


def test_model_scales_back_to_min_when_the_queue_drains(deployed: dict[str, Any], cluster: LocalCluster,
                                                        prometheus: PrometheusServer, load: Load) -> None:  # fmt: skip
    load.stop()
    started = time.monotonic()
    wait_for(lambda: prometheus.value(QUEUE) == 0, 60, f"{QUEUE} == 0 with the load stopped")
    wait_for(lambda: replicas(cluster) == 1, 180, f"Deployment {MODEL} back to 1 replica")
    print(f"scaled back to 1 after {time.monotonic() - started:.0f}s")


def test_vllm_predictor_scales_on_real_vllm_queue_depth(deployed: dict[str, Any], cluster: LocalCluster,
                                                        prometheus: PrometheusServer, vllm_server) -> None:  # fmt: skip
    """The same loop for the vLLM ScaledObject: KEDA scales the Deployment KServe made for the
    InferenceService (autoscalerClass external: KServe creates no HPA of its own and must not
    undo KEDA's replica count) on the real vllm:num_requests_waiting of a real vLLM: 8 streams
    against --max-num-seqs 4 keep about 4 requests waiting."""
    from conftest import VLLM_MODEL as SERVED

    predictor, waiting = f"{VLLM_MODEL}-predictor", f'sum(vllm:num_requests_waiting{{namespace="{NAMESPACE}",llm_serving_model="{VLLM_MODEL}"}})'
    streams = Load(vllm_server.base_url, SERVED, clients=8)
    started = time.monotonic()
    streams.start()
    try:
        wait_for(lambda: (prometheus.value(waiting) or 0) >= 2, 90, f"{waiting} >= 2 under load")
        wait_for(lambda: replicas(cluster, predictor) == VLLM_MAX_REPLICAS, 180, f"{predictor} scaled to {VLLM_MAX_REPLICAS}")
        print(f"{predictor} scaled to {VLLM_MAX_REPLICAS} after {time.monotonic() - started:.0f}s")
    finally:
        streams.stop()
    wait_for(lambda: prometheus.value(waiting) == 0, 90, f"{waiting} == 0 with the load stopped")
    wait_for(lambda: replicas(cluster, predictor) == 1, 180, f"{predictor} back to 1 replica")
    assert not streams.errors, streams.errors[:3]
    assert cluster.get("hpa", predictor, NAMESPACE) is None, "KServe created its own HPA next to KEDA's"


def test_keda_that_cannot_start_is_named_with_its_log_and_left_stopped(tmp_path: Path) -> None:
    """An API server that is not there: the operator never gets ready; the error names it, shows
    its log, and no KEDA process outlives the failed start."""
    dead = LocalCluster(tmp_path / "no-cluster")
    dead.state.mkdir(parents=True)
    dead.kubeconfig.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "dead",
        "clusters": [{"name": "dead", "cluster": {"server": "https://127.0.0.1:9", "insecure-skip-tls-verify": True}}],
        "users": [{"name": "dead", "user": {"token": "none"}}],
        "contexts": [{"name": "dead", "context": {"cluster": "dead", "user": "dead"}}],
    }))  # fmt: skip
    failing = Keda(dead, tmp_path / "keda")
    with pytest.raises(ProcessError, match="keda-operator") as err:
        failing.start(timeout=20)
    assert "log tail" in str(err.value)
    assert failing.pids == []


def test_rules_and_dashboard_evaluate_on_real_vllm_series(deployed: dict[str, Any], prometheus: PrometheusServer) -> None:
    """After the vLLM loop Prometheus holds real vllm: series of the predictor pod: every recording
    rule and alert evaluates with health ok, and every dashboard panel query that reads a vllm:
    series returns data for the model."""
    from test_prometheus_queries_engine import DASHBOARD, DASHBOARD_VARIABLES

    rules = [r for g in prometheus.rule_groups() for r in g["rules"]]
    assert rules and [f"{r['name']}: {r.get('lastError')}" for r in rules if r["health"] != "ok"] == []
    variables = {**DASHBOARD_VARIABLES, "namespace": NAMESPACE, "model": VLLM_MODEL}
    queries = [t["expr"] for p in DASHBOARD["panels"] for t in p.get("targets", []) if "vllm:" in t["expr"]]
    assert len(queries) >= 5
    empty = []
    for expr in queries:
        query = re.sub(r"\$\{?(\w+)\}?", lambda m: variables[m.group(1)], expr)
        if not prometheus.query(query):
            empty.append(query)
    assert not empty, f"dashboard queries with no data on real vLLM series: {empty}"
