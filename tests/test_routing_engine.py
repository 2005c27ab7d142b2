"""Prefix-aware routing against the real endpoint picker (GIE v1.5.0 cmd/epp, built by the
toolchain): the chart's objects applied to a local cluster whose pods get loopback IPs, three real
llama-servers each listening on one replica's pod IP, the picker started with the args and config
the chart renders (it finds its InferencePool and the pods through the API server, scrapes their
/metrics), and the stand-in gateway forwarding where the picker points (localcp/inference.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from conftest import llamacpp_entry, running, wait_for

from infra.chart import render
from infra.planner import plan_stack
from infra.program import MODEL_NAMESPACE_LABELS
from infra.stack import parse
from localcp.cluster import LOOPBACK_POD_CIDR, LocalCluster
from localcp.inference import EndpointPicker, InferenceGateway
from localcp.routed_model import RoutedModel
from localcp.process import ProcessError, listening_addresses

pytestmark = pytest.mark.engine
NAMESPACE, MODEL, REPLICAS = "llm-route", "tiny", 3
# Long shared prefixes (several of the picker's 64-character blocks) and short user turns.
SYSTEM_PROMPTS = [f"You are assistant number {i}. " + "Answer briefly and cite the manual section you used. " * 6 for i in range(3)]


def _objects() -> list[dict]:
    raw = {"namespace": NAMESPACE, "platform": {"inferenceGateway": {"enabled": True}},
           "models": [llamacpp_entry(name=MODEL, replicas=REPLICAS, maxNumSeqs=1, maxModelLen=512)]}  # fmt: skip
    config = plan_stack(parse(raw)).config
    return render(config.chart_values(), release="llm", namespace=NAMESPACE)


def _one(objects: list[dict], kind: str, name: str) -> dict:
    return next(o for o in objects if o["kind"] == kind and o["metadata"]["name"] == name)


@pytest.fixture(scope="module")
def objects() -> list[dict]:
    return _objects()


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    yield from running(LocalCluster(tmp_path_factory.mktemp("route-cluster"), pod_cidr=LOOPBACK_POD_CIDR), "local cluster")


@pytest.fixture(scope="module")
def routed(cluster: LocalCluster, objects: list[dict], llama_bin: Path, tiny_models: dict[str, Path],
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[RoutedModel]:  # fmt: skip
    """The chart's objects applied; one real llama-server (one slot) on each Ready replica's pod
    IP; the real picker and the stand-in gateway in front."""
    from smoke.local_server import serve

    def serve_replica(ip: str, port: int, index: int):
        return serve(llama_bin, tiny_models["tiny-f16"], MODEL, slots=1, host=ip, port=port)

    model = RoutedModel(cluster, tmp_path_factory.mktemp("routed"), objects, MODEL, serve_replica, MODEL_NAMESPACE_LABELS)
    yield from running(model, "routed model")


@pytest.fixture(scope="module")
def replicas(routed: RoutedModel) -> dict[str, str]:
    return routed.pods


@pytest.fixture(scope="module")
def picker(routed: RoutedModel) -> EndpointPicker:
    assert routed.picker is not None
    return routed.picker


@pytest.fixture(scope="module")
def gateway(routed: RoutedModel) -> InferenceGateway:
    assert routed.gateway is not None
    return routed.gateway


def _metric(text: str, series: str, **labels: str) -> float | None:
    for line in text.splitlines():
        if line.startswith(series + "{") or line.startswith(series + " "):
            if all(f'{k}="{v}"' in line for k, v in labels.items()):
                return float(line.rsplit(" ", 1)[1])
    return None


def _complete(gateway: InferenceGateway, prompt: str, **extra) -> httpx.Response:
    body = {"model": MODEL, "prompt": prompt, "max_tokens": 4, "temperature": 0, **extra}
    return httpx.post(f"{gateway.url}/{MODEL}/v1/completions", json=body, timeout=60)


def test_picker_serves_once_it_has_read_its_pool(picker: EndpointPicker) -> None:
    assert picker.health() == "SERVING"


def test_picker_counts_every_ready_replica(picker: EndpointPicker) -> None:
    """inference_pool_ready_pods: pods of the pool whose /metrics it read (flushed every 5 s)."""
    wait_for(lambda: _metric(picker.metrics(), "inference_pool_ready_pods", name=MODEL) == REPLICAS, 30,
             f"inference_pool_ready_pods{{name={MODEL!r}}} == {REPLICAS}")  # fmt: skip


def test_gateway_forwards_to_the_replica_the_picker_chose(gateway: InferenceGateway, replicas: dict[str, str]) -> None:
    response = _complete(gateway, "Hello")
    assert response.status_code == 200, response.text
    served = response.headers["x-gateway-destination-endpoint-served"]
    assert served.rsplit(":", 1)[0] in replicas
    assert response.json()["choices"][0]["text"] is not None


def test_requests_sharing_a_prefix_stay_on_one_replica(gateway: InferenceGateway) -> None:
    """The prefix scorer (weight 3) outvotes the queue scorer (2) when queues are equal: every
    request after the first with the same system prompt goes where the first went. (With
    routing.scorers.prefixCache 0 the same five requests landed on all three replicas, three times
    out of three: this test fails without prefix affinity.)"""
    for system in SYSTEM_PROMPTS:
        served = {_complete(gateway, f"{system}\nUser {user}: hi").headers["x-gateway-destination-endpoint-served"] for user in range(5)}
        assert len(served) == 1, f"one system prompt spread over {served}"


def test_distinct_prefixes_use_more_than_one_replica(gateway: InferenceGateway) -> None:
    """With nothing cached yet, ties are broken at random (max-score-picker shuffles): 12 fresh
    prefixes landing on a single replica of three would mean the picker is not picking."""
    served = {_complete(gateway, f"Fresh topic {i}: " + "x" * 200).headers["x-gateway-destination-endpoint-served"] for i in range(12)}
    assert len(served) > 1


def test_streamed_completion_passes_through_the_picker(gateway: InferenceGateway) -> None:
    with httpx.stream("POST", f"{gateway.url}/{MODEL}/v1/completions", timeout=60,
                      json={"model": MODEL, "prompt": "Count", "max_tokens": 8, "stream": True}) as response:  # fmt: skip
        assert response.status_code == 200
        events = [line for line in response.iter_lines() if line.startswith("data: ")]
    assert events[-1] == "data: [DONE]" and len(events) > 2


def test_body_that_is_not_json_is_refused_by_the_picker(gateway: InferenceGateway) -> None:
    response = httpx.post(f"{gateway.url}/{MODEL}/v1/completions", content=b"not json", timeout=30,
                          headers={"content-type": "application/json"})  # fmt: skip
    assert response.status_code == 400 and "inference error" in response.text


def test_every_routing_process_listens_on_loopback_only(picker: EndpointPicker, gateway: InferenceGateway) -> None:
    for process in (picker.process, gateway.process):
        addresses = listening_addresses(process.pid)
        assert addresses and all(a.startswith("127.") for a in addresses), f"{process.name}: {addresses}"


def test_picker_that_cannot_reach_the_api_server_never_becomes_ready(cluster: LocalCluster, objects: list[dict], tmp_path: Path) -> None:
    """Bad input: a wrong API server address. The picker must not route blindly: it stays
    NOT_SERVING, and the harness fails with its log and leaves nothing running."""
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(cluster.kubeconfig.read_text().replace(cluster.server, "https://127.0.0.1:1"))
    config = _one(objects, "ConfigMap", f"{MODEL}-epp")["data"]["config.yaml"]
    epp = EndpointPicker(cluster, tmp_path / "epp", _one(objects, "Deployment", f"{MODEL}-epp"), config, kubeconfig=kubeconfig)
    with pytest.raises(ProcessError) as err:
        epp.start(timeout=20)
    assert MODEL in str(err.value) and epp.process.pid is None


def test_picker_answers_503_once_no_replica_is_ready(cluster: LocalCluster, gateway: InferenceGateway, picker: EndpointPicker) -> None:
    """Runs last: scales the model to zero. The picker drops deleted pods and the gateway returns
    its 503 instead of guessing."""
    cluster.kubectl("-n", NAMESPACE, "scale", "deployment", MODEL, "--replicas=0")
    wait_for(lambda: not cluster.list("Pod", NAMESPACE, selector=f"llm-serving/model={MODEL}"), 60, "model pods deleted")
    response = wait_for(lambda: (r := _complete(gateway, "anyone?")).status_code == 503 and r, 30, "a 503 from the picker")
    assert "inference error" in response.text
