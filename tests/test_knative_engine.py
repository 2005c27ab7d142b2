"""Knative mode against the engines that act on it: the real KServe v0.20 controller turns each
Knative-mode InferenceService of a test stack into a serving.knative.dev Service on the local API
server (the Knative Serving CRDs of the release the pinned operator installs), and Knative Serving's
own defaulting and validation (knative.dev/serving v0.50.0 = Serving 1.23, run by
tools/go/knative-validate) must accept that Service under the feature flags our KnativeServing
sets. KServe copies our pod spec into the Knative Service, so anything Knative's webhook would
refuse shows here, before a cluster refuses it."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path
from typing import Any, Iterator

import pytest
from conftest import REPO_ROOT, running

from infra.chart import render
from infra.planner import plan_stack
from infra.config.platform import KNATIVE_FEATURES
from infra.program import MODEL_NAMESPACE_LABELS
from infra.stack import load_stack_file
from localcp.cluster import LocalCluster
from localcp.kserve import KServeController
from localcp.toolchain import ToolchainError, bin_dir

pytestmark = pytest.mark.engine
STACK = REPO_ROOT / "tests" / "fixtures" / "stacks" / "Pulumi.knative.yaml"


@pytest.fixture(scope="module")
def knative_bin() -> Path:
    try:
        return bin_dir("knative")
    except ToolchainError as err:
        pytest.fail(str(err))


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory, knative_bin: Path):
    """A local cluster with the platform CRDs, Knative Serving's, and its config-autoscaler (what
    the Knative operator installs; applied before KServe starts: its manager enables Knative mode
    only when the Service CRD exists, and reads config-autoscaler for every Knative-mode model)."""
    for local in running(LocalCluster(tmp_path_factory.mktemp("knative-cluster")), "the local cluster"):
        local.apply_dir((knative_bin / "knative-serving-crds").resolve(), field_manager="knative-operator")
        local.wait_crds_established(60)
        local.kubectl("create", "namespace", "knative-serving")
        local.apply_dir((knative_bin / "knative-serving-config").resolve(), field_manager="knative-operator")
        yield local


@pytest.fixture(scope="module")
def kserve(cluster: LocalCluster, kserve_on) -> Iterator[KServeController]:
    yield from kserve_on(cluster)


@pytest.fixture(scope="module")
def knative_services(cluster: LocalCluster, kserve: KServeController) -> list[dict[str, Any]]:
    """The Knative Services KServe creates for the stack's Knative-mode models."""
    config = plan_stack(load_stack_file(STACK)).config
    objects = render(config.chart_values(), release=config.release_name, namespace=config.namespace)
    namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": config.namespace, "labels": MODEL_NAMESPACE_LABELS}}
    cluster.apply([namespace], field_manager="llm-platform")
    cluster.provide_claims(config.namespace, objects)
    cluster.apply(objects, field_manager="llm-platform")
    knative = [o["metadata"]["name"] for o in objects if o["kind"] == "InferenceService"
               and o["metadata"]["annotations"].get("serving.kserve.io/deploymentMode") == "Knative"]  # fmt: skip
    assert len(knative) >= 3, f"{STACK.name} must hold several Knative-mode models, has {knative}"
    deadline, found = time.monotonic() + 120, {}
    while len(found) < len(knative):
        for name in knative:
            if name not in found and (svc := cluster.get("ksvc", f"{name}-predictor", config.namespace)):
                found[name] = svc
        if time.monotonic() > deadline:
            events = cluster.kubectl("get", "events", "-n", config.namespace, check=False).stdout[-2000:]
            pytest.fail(f"KServe made no Knative Service for {sorted(set(knative) - set(found))} within 120s\n{events}")
        time.sleep(2)
    return list(found.values())


def validate(binary: Path, services: list[dict[str, Any]], features: dict[str, str]) -> list[dict[str, str]]:
    flags = [f"-feature={name}={value}" for name, value in features.items()]
    result = subprocess.run([str(binary), *flags], input=json.dumps(services), capture_output=True, text=True, timeout=60)
    assert result.returncode in (0, 1), f"knative-validate failed: {result.stderr}"
    return json.loads(result.stdout)


def test_knative_accepts_every_knative_service_kserve_builds(knative_bin: Path, knative_services: list[dict[str, Any]]) -> None:
    verdicts = validate(knative_bin / "knative-validate", knative_services, KNATIVE_FEATURES)
    rejected = [f"{v['name']}: {v['errors']}" for v in verdicts if v["errors"]]
    assert not rejected, "Knative Serving would refuse:\n" + "\n".join(rejected)


def test_each_feature_flag_we_enable_is_needed(knative_bin: Path, knative_services: list[dict[str, Any]]) -> None:
    """No flag is on for nothing: with any one of them off, Knative refuses some model's Service."""
    for flag in KNATIVE_FEATURES:
        fewer = {k: v for k, v in KNATIVE_FEATURES.items() if k != flag}
        verdicts = validate(knative_bin / "knative-validate", knative_services, fewer)
        assert any(v["errors"] for v in verdicts), f"{flag} is enabled but no model needs it"
