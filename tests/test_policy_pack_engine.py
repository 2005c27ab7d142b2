"""The llm-guardrails pack under the real Pulumi engine (`pulumi preview --policy-pack`): committed
stacks pass; a stack variant that violates a mandatory policy fails naming it; and for objects our
config refuses to render (they come from hand-written manifests), the engine reports exactly the
policies `python -m policies.check` reports offline, so the two paths cannot drift."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from conftest import REPO_ROOT, STACK_FILES

from localcp.inference import gateway_objects
from localcp.pulumi import PulumiWorkspace
from policies.check import load, run

pytestmark = pytest.mark.engine
PACK = REPO_ROOT / "policies" / "llm-guardrails"
PROBE = REPO_ROOT / "tests" / "fixtures" / "policy-probe"
BAD_MANIFESTS = REPO_ROOT / "tests" / "fixtures" / "bad-manifests"
# The engine's policy report: "- [mandatory]  images-pinned  (kubernetes:...: name)".
VIOLATION = re.compile(r"\[(mandatory|advisory)\]\s+([a-z0-9-]+)\s")


def reported(output: str) -> dict[str, str]:
    """Policy name -> enforcement level, as the engine printed them."""
    return {name: level for level, name in VIOLATION.findall(output)}


def stack_config(path: Path) -> dict:
    return yaml.safe_load(path.read_text())["config"]


def models_only(config: dict) -> dict:
    """A committed stack with its platform layer off: the pack judges the models' objects, and no
    upstream chart is pulled from the internet (the chart-mirror tier covers the platform)."""
    platform = dict(config.get("llm-platform:platform") or {}, enabled=False)
    platform.setdefault("keda", {})["preinstalled"] = True
    return {**config, "llm-platform:platform": platform}


@pytest.fixture(scope="module")
def workspace(local_cluster, pulumi_workspace) -> PulumiWorkspace:
    # The Gateway the prod stack's routed models attach to (the cluster's gateway implementation
    # would have created it; the program reads it before routing to it).
    local_cluster.apply(gateway_objects())
    return pulumi_workspace(local_cluster)


@pytest.mark.parametrize("stack", STACK_FILES, ids=lambda p: p.name)
def test_committed_stack_passes_the_pack(workspace: PulumiWorkspace, stack: Path) -> None:
    name = workspace.add_stack_config(stack.name.split(".")[1], models_only(stack_config(stack)))
    result = workspace.preview(name, "--policy-pack", str(PACK), check=False)
    mandatory = {n for n, level in reported(result.stdout).items() if level == "mandatory"}
    assert result.returncode == 0 and mandatory == set(), result.stdout[-4000:] + result.stderr[-2000:]


def test_routed_stack_without_its_gateway_fails_preview_naming_it(workspace: PulumiWorkspace) -> None:
    """Bad input: a Gateway that does not exist. The program reads it, so preview fails naming it
    and nothing is created."""
    config = models_only(stack_config(REPO_ROOT / "stacks" / "Pulumi.prod.yaml"))
    platform = {**config["llm-platform:platform"], "inferenceGateway": {"enabled": True, "namespace": "gateway-system", "name": "missing-gw"}}
    name = workspace.add_stack_config("prod-no-gateway", {**config, "llm-platform:platform": platform})
    result = workspace.preview(name, check=False)
    assert result.returncode != 0
    assert "gateway-system/missing-gw" in result.stdout + result.stderr, (result.stdout + result.stderr)[-3000:]


def test_production_without_api_key_is_blocked(workspace: PulumiWorkspace) -> None:
    config = stack_config(REPO_ROOT / "stacks" / "Pulumi.local.yaml")
    name = workspace.add_stack_config("prod-no-key", {**config, "llm-platform:environment": "production"})
    result = workspace.preview(name, "--policy-pack", str(PACK), check=False)
    assert result.returncode != 0
    assert reported(result.stdout).get("api-key-auth-production") == "mandatory", result.stdout[-4000:]


def test_engine_reports_what_the_offline_check_reports(local_cluster, pulumi_workspace) -> None:
    """Hand-written manifests that break every guardrail family (security, lifecycle, GPU, images,
    scaling, alerts): the engine must name the same policies as `policies.check`."""
    workspace: PulumiWorkspace = pulumi_workspace(local_cluster, project_source=PROBE, links=("__main__.py",))
    manifest = BAD_MANIFESTS / "bad.yaml"
    namespace = {o.namespace for o in load(BAD_MANIFESTS)} - {None}
    name = workspace.add_stack_config("bad", {"policy-probe:manifest": str(manifest), "policy-probe:namespace": namespace.pop()})
    result = workspace.preview(name, "--policy-pack", str(PACK), check=False)
    offline = {(v[0], v[1]) for v in run(load(BAD_MANIFESTS))}
    engine = set(reported(result.stdout).items())
    assert result.returncode != 0
    assert engine == offline, result.stdout[-5000:]
    families = {"pod-security-hardened", "termination-grace-period", "vllm-gpu-requested", "images-pinned",
                "scale-to-zero-has-activation", "alerts-have-runbook"}  # fmt: skip
    assert families <= {n for n, level in engine if level == "mandatory"}
