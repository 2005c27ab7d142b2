"""CRD ownership on the real engine: a cluster whose KEDA CRDs were applied by hand (kubectl
server-side apply of the upstream release files in ../shared/crds) meets the platform's KEDA chart.
Without `platform.adoptExistingCrds` the run stops at the field conflict and names the CRD; with it
the chart takes the CRDs over. (The local cluster never pre-applies CRDs for a platform-on stack.)"""

from __future__ import annotations

import re
import time

import pytest
import yaml
from conftest import REPO_ROOT

from localcp.cluster import LocalCluster
from localcp.pulumi import PulumiWorkspace
from localcp.toolchain import shared_dir

pytestmark = pytest.mark.engine
STACK = "adopt"
CRD = "scaledobjects.keda.sh"
ONLY_KEDA = {"monitoring": {"install": False}, "certManager": {"install": False}, "gpuOperator": {"install": False},
             "kserve": {"install": False}, "keda": {"install": True}}  # fmt: skip


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory):
    bare = LocalCluster(tmp_path_factory.mktemp("adopt-cluster"), platform_crds=False).start()
    try:
        bare.kubectl("apply", "--server-side", "-f", str(shared_dir() / "crds" / "keda.sh_scaledobjects.yaml"))
        yield bare
    finally:
        bare.stop()


@pytest.fixture(scope="module")
def workspace(cluster: LocalCluster, chart_mirror, pulumi_workspace) -> PulumiWorkspace:
    ws = pulumi_workspace(cluster)
    ws.add_stack_config(STACK, {
        "llm-platform:namespace": "llm-adopt",
        "llm-platform:deployModels": False,
        "llm-platform:platform": {**ONLY_KEDA, "chartRepository": chart_mirror.url, "readyTimeoutSeconds": 120},
        "llm-platform:models": [{"name": "tiny", "runtime": "llamacpp", "source": {"uri": "hf://TheBloke/TinyLlama-1.1B-Chat-v1.0-GGUF"},
                                 "ggufFile": "tinyllama-1.1b-chat-v1.0.Q4_K_M.gguf", "maxModelLen": 2048,
                                 "resources": {"cpu": "2", "memory": "2Gi"}}],
    })  # fmt: skip
    return ws


def test_hand_applied_crd_stops_the_run_at_the_conflict(workspace: PulumiWorkspace, cluster: LocalCluster) -> None:
    result = workspace.up(STACK, check=False, timeout=900)
    assert result.returncode != 0
    assert "conflict" in result.stdout and CRD in result.stdout
    assert "kubectl" in cluster.field_managers("crd", CRD)


def test_adopt_existing_crds_takes_them_over(workspace: PulumiWorkspace, cluster: LocalCluster) -> None:
    stack_file = workspace.stack_file(STACK)
    config = yaml.safe_load(stack_file.read_text())
    config["config"]["llm-platform:platform"]["adoptExistingCrds"] = True
    stack_file.write_text(yaml.safe_dump(config, sort_keys=False))
    result = workspace.up(STACK, check=False, timeout=900)
    assert result.returncode == 0, result.stdout[-4000:]
    owners = cluster.field_managers("crd", CRD)
    pulumi = [fields for manager, fields in owners.items() if manager.startswith("pulumi-kubernetes")]
    assert pulumi and "f:versions" in str(pulumi) and "f:versions" not in str(owners.get("kubectl"))


def test_unready_platform_object_fails_within_the_bound_naming_it(workspace: PulumiWorkspace) -> None:
    """platform.readyTimeoutSeconds bounds the wait, and the failure names the object (issue 15
    measured 7 minutes of waiting on an unschedulable Deployment). The provider 4.24 message says
    what it waited for, not the scheduler's reason (that is in `kubectl describe`)."""
    stack_file = workspace.stack_file(STACK)
    config = yaml.safe_load(stack_file.read_text())
    platform = config["config"]["llm-platform:platform"]
    platform["readyTimeoutSeconds"] = 60
    platform["keda"]["values"] = {"nodeSelector": {"node.kubernetes.io/instance-type": "no-such-type"}}
    stack_file.write_text(yaml.safe_dump(config, sort_keys=False))
    started = time.monotonic()
    result = workspace.up(STACK, check=False, timeout=900)
    elapsed = time.monotonic() - started
    print(f"failed after {elapsed:.0f}s")
    (REPO_ROOT / "out" / "e2e").mkdir(parents=True, exist_ok=True)
    (REPO_ROOT / "out" / "e2e" / "bounded-wait-failure.txt").write_text(result.stdout)
    diagnostics = result.stdout[result.stdout.find("Diagnostics:"):]
    assert result.returncode != 0 and elapsed < 300, diagnostics
    # Which of the release's objects reaches its deadline first (the operator, the metrics API
    # server, their APIService) varies from run to run; each is named by its type and release.
    assert re.search(r"kubernetes:[\w./]+:\w+ \(keda-keda:[^)]+\):", diagnostics), diagnostics
    assert re.search(r"timed out|not attained", diagnostics), diagnostics
