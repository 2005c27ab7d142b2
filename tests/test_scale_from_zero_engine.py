"""Scale to zero through KEDA, against the real engines: the KEDA HTTP add-on's interceptor,
external scaler and operator (built from the Go proxy, localcp/keda_http.py), the real KEDA
operator + metrics API server, kube-controller-manager, kwok running the model's pod, and a real
llama-server standing behind the model's Service.

The chart's llama.cpp model and a vLLM model (KServe Standard mode, reconciled by the real KServe
controller into the predictor Deployment and Service) have autoscaling.mode keda with minReplicas
0. The interceptor reaches a model Service (`tiny.llm-wake:80`, `qwen-predictor.llm-wake:80`)
through a hosts file mapping it to the loopback address of what stands behind it (localcp/hosts.py),
as cluster DNS + kube-proxy would route it to the pod: the real llama-server for the llama.cpp
model; for vLLM (no GPU here) a server that answers the OpenAI API as vLLM does. Timings are
printed (pytest -s)."""

from __future__ import annotations

import ipaddress
import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from conftest import llamacpp_entry, run_smoke, running, vllm_entry
from conftest import wait_for as poll

from infra.chart import render
from infra.config import VllmModel
from infra.endpoints import host
from infra.program import MODEL_NAMESPACE_LABELS
from infra.planner import plan_stack
from infra.stack import parse
from localcp.cluster import LocalCluster
from localcp.hosts import HostsFile, loopback_address
from localcp.keda import Keda
from localcp.keda_http import KedaHttpAddon
from localcp.kserve import KServeController
from localcp.process import listening_addresses
from localcp.prometheus import PrometheusServer
from smoke.fake_server import FakeServer

pytestmark = pytest.mark.engine
NAMESPACE, MODEL, VLLM_MODEL = "llm-wake", "tiny", "qwen"
IDLE_SECONDS = 5  # autoscaling.cooldownPeriodSeconds of the test model (default 300)
WAKE_TIMEOUT = 90  # seconds a request may wait for the model here (KEDA poll + kwok + endpoints)


@pytest.fixture(scope="module")
def hosts(tmp_path_factory: pytest.TempPathFactory) -> HostsFile:
    return HostsFile(tmp_path_factory.mktemp("dns") / "hosts")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    yield from running(LocalCluster(tmp_path_factory.mktemp("wake-cluster"), hpa_sync_period="3s"), "the local cluster")


@pytest.fixture(scope="module")
def keda(cluster: LocalCluster, hosts: HostsFile, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Keda]:
    yield from running(Keda(cluster, tmp_path_factory.mktemp("keda"), hosts), "KEDA")


@pytest.fixture(scope="module")
def addon(cluster: LocalCluster, hosts: HostsFile, keda: Keda, tmp_path_factory: pytest.TempPathFactory) -> Iterator[KedaHttpAddon]:
    yield from running(KedaHttpAddon(cluster, tmp_path_factory.mktemp("keda-http"), hosts), "the KEDA HTTP add-on")


@pytest.fixture(scope="module")
def llama(llama_bin: Path, tiny_models: dict[str, Path], addon: KedaHttpAddon):
    """The real llama-server on a loopback address of its own, port 80 (the model Service's port)."""
    from smoke.local_server import serve

    address = loopback_address()
    with serve(llama_bin, tiny_models["tiny-f16"], MODEL, slots=1, host=address, port=80) as server:
        addon.map_service(MODEL, NAMESPACE, address)
        yield server


@pytest.fixture(scope="module")
def vllm(addon: KedaHttpAddon) -> Iterator[FakeServer]:
    address = loopback_address()
    with FakeServer(runtime="vllm", model=VLLM_MODEL, host=address, port=80) as server:
        addon.map_service(f"{VLLM_MODEL}-predictor", NAMESPACE, address)
        yield server


@pytest.fixture(scope="module")
def kserve(cluster: LocalCluster, kserve_on) -> Iterator[KServeController]:
    yield from kserve_on(cluster)


def wake_scaling(prometheus_url: str) -> dict[str, Any]:
    return {"mode": "keda", "minReplicas": 0, "maxReplicas": 2, "pollingIntervalSeconds": 2,
            "cooldownPeriodSeconds": IDLE_SECONDS, "prometheusUrl": prometheus_url}  # fmt: skip


def model_objects(prometheus_url: str) -> list[dict[str, Any]]:
    tiny = llamacpp_entry(name=MODEL, maxModelLen=1024, maxNumSeqs=1, resources={"cpu": "1", "memory": "1Gi"},
                          autoscaling=wake_scaling(prometheus_url))  # fmt: skip
    qwen = vllm_entry(name=VLLM_MODEL, autoscaling=wake_scaling(prometheus_url))
    stack = {"namespace": NAMESPACE, "models": [tiny, qwen], "platform": {"keda": {"httpAddon": True}}}
    config = plan_stack(parse(stack)).config
    return render(config.chart_values(), release="llm", namespace=NAMESPACE)


@pytest.fixture(scope="module")
def deployed(cluster: LocalCluster, prometheus: PrometheusServer, keda: Keda, addon: KedaHttpAddon, kserve: KServeController,
             llama, vllm: FakeServer) -> list[dict[str, Any]]:  # fmt: skip
    objects = model_objects(prometheus.url)
    namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE, "labels": MODEL_NAMESPACE_LABELS}}
    cluster.apply([namespace, *objects], field_manager="llm-platform")
    return objects


def replicas(cluster: LocalCluster, deployment: str = MODEL) -> int:
    return (cluster.get("deployment", deployment, NAMESPACE) or {}).get("spec", {}).get("replicas", 0)


def pods(cluster: LocalCluster, model: str = MODEL) -> list[dict[str, Any]]:
    return cluster.list("pods", NAMESPACE, selector=f"llm-serving/model={model}")


def wait_for(probe: Callable[[], Any], timeout: float, what: str) -> Any:
    return poll(probe, timeout, what, interval=0.5)


def chat(addon: KedaHttpAddon, host_header: str, timeout: float = WAKE_TIMEOUT, model: str = MODEL) -> httpx.Response:
    body = {"model": model, "messages": [{"role": "user", "content": "Say hi"}], "max_tokens": 4}
    return httpx.post(f"{addon.proxy_url}/v1/chat/completions", json=body, headers={"Host": host_header}, timeout=timeout)


@pytest.fixture(scope="module")
def asleep(cluster: LocalCluster, deployed: list[dict[str, Any]]) -> float:
    """The model scaled to zero (KEDA scales an idle minReplicaCount-0 target down right away)."""
    start = time.monotonic()
    wait_for(lambda: replicas(cluster) == 0 and not pods(cluster), 60, f"{MODEL} at 0 replicas with no pods")
    return time.monotonic() - start


def test_chart_renders_the_wake_path_the_addon_reads(deployed: list[dict[str, Any]]) -> None:
    kinds = {(o["kind"], o["metadata"]["name"]) for o in deployed}
    assert ("HTTPScaledObject", f"{MODEL}-http") in kinds and ("ScaledObject", MODEL) in kinds


def test_idle_model_runs_no_pod(asleep: float) -> None:
    print(f"\n{MODEL}: scaled to zero {asleep:.1f}s after apply")


def test_request_through_interceptor_wakes_the_model(cluster: LocalCluster, addon: KedaHttpAddon, asleep: float) -> None:
    assert replicas(cluster) == 0
    start = time.monotonic()
    response = chat(addon, host(_model(), NAMESPACE))
    waited = time.monotonic() - start
    assert response.status_code == 200, response.text[:500]
    answer = response.json()
    assert answer["object"] == "chat.completion" and answer["model"] == MODEL, answer
    assert answer["usage"]["completion_tokens"] > 0, answer
    # The interceptor says it had to wait for the workload (interceptor/proxy_handlers.go).
    assert response.headers.get("X-KEDA-HTTP-Cold-Start") == "true", dict(response.headers)
    assert replicas(cluster) >= 1
    print(f"\n{MODEL}: first request answered by llama-server {waited:.1f}s after it reached the interceptor at 0 replicas")


def test_woken_model_answers_without_cold_start(cluster: LocalCluster, addon: KedaHttpAddon) -> None:
    wait_for(lambda: replicas(cluster) >= 1, 30, f"{MODEL} awake")
    response = chat(addon, f"{MODEL}.{NAMESPACE}", timeout=30)
    assert response.status_code == 200, response.text[:500]
    assert response.headers.get("X-KEDA-HTTP-Cold-Start") == "false"


def test_model_returns_to_zero_after_idle_window(cluster: LocalCluster, addon: KedaHttpAddon) -> None:
    wait_for(lambda: replicas(cluster) >= 1, 30, f"{MODEL} awake")
    start = time.monotonic()
    wait_for(lambda: replicas(cluster) == 0, IDLE_SECONDS + 60, f"{MODEL} back to 0 replicas after {IDLE_SECONDS}s idle")
    print(f"\n{MODEL}: back to zero {time.monotonic() - start:.1f}s after the last request (cooldown {IDLE_SECONDS}s)")


def test_smoke_suite_passes_through_the_interceptor(cluster: LocalCluster, addon: KedaHttpAddon) -> None:
    """The operator's smoke suite, given the stack outputs' interceptor URL and Host, wakes the
    idle model with its first request and passes."""
    wait_for(lambda: replicas(cluster) == 0, IDLE_SECONDS + 60, f"{MODEL} idle at 0 replicas")
    result = run_smoke(addon.proxy_url, MODEL, "llamacpp", "--host-header", host(_model(), NAMESPACE))
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert " passed" in result.stdout and "failed" not in result.stdout, result.stdout[-1500:]


def test_bench_measures_through_the_interceptor(addon: KedaHttpAddon, deployed: list[dict[str, Any]], tmp_path: Path) -> None:
    """The bench, given the interceptor URL and Host, measures the real llama-server behind it (its
    counters agree with the bench's, so every request reached the model)."""
    from smoke.bench import main as bench

    out = tmp_path / "bench.json"
    rc = bench(["--base-url", addon.proxy_url, "--model", MODEL, "--host-header", host(_model(), NAMESPACE),
                "--concurrency", "1", "--requests", "3", "--input-tokens", "32", "--output-tokens", "32",
                "--timeout", str(WAKE_TIMEOUT), "--quiet", "--json", str(out)])  # fmt: skip
    assert rc == 0
    assert json.loads(out.read_text())["levels"][0]["requests"] == 3


def test_kserve_predictor_wakes_through_the_interceptor(cluster: LocalCluster, addon: KedaHttpAddon,
                                                        deployed: list[dict[str, Any]]) -> None:  # fmt: skip
    """KServe (autoscalerClass external) leaves the predictor Deployment's replicas to KEDA: it
    idles at 0 and a request for the predictor's Service wakes it."""
    predictor = f"{VLLM_MODEL}-predictor"
    wait_for(lambda: cluster.get("deployment", predictor, NAMESPACE), 120, f"KServe created Deployment {predictor}")
    wait_for(lambda: replicas(cluster, predictor) == 0 and not pods(cluster, VLLM_MODEL), 90, f"{predictor} at 0 replicas")
    model = VllmModel.model_validate(vllm_entry(name=VLLM_MODEL))
    start = time.monotonic()
    response = chat(addon, host(model, NAMESPACE), model=VLLM_MODEL)
    assert response.status_code == 200, response.text[:500]
    assert response.json()["model"] == VLLM_MODEL and response.headers.get("X-KEDA-HTTP-Cold-Start") == "true"
    assert replicas(cluster, predictor) >= 1
    print(f"\n{predictor}: woken and answered in {time.monotonic() - start:.1f}s")
    wait_for(lambda: replicas(cluster, predictor) == 0, IDLE_SECONDS + 60, f"{predictor} back to 0 replicas")


def test_unknown_host_is_not_routed(addon: KedaHttpAddon, deployed: list[dict[str, Any]]) -> None:
    response = chat(addon, "other-model.llm-wake.svc.cluster.local", timeout=10)
    assert response.status_code == 404, response.text[:300]


def test_addon_listens_on_loopback_only(addon: KedaHttpAddon) -> None:
    for pid in addon.pids:
        for listener in listening_addresses(pid):
            assert ipaddress.ip_address(listener.rsplit(":", 1)[0]).is_loopback, f"pid {pid} listens on {listener}"


def _model():
    from infra.config import LlamaCppModel

    return LlamaCppModel.model_validate(llamacpp_entry(name=MODEL))
