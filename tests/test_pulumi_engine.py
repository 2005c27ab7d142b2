"""End-to-end tier on the real Pulumi engine (CLI, Python language host and Kubernetes provider built
from the Go module proxy by tools/toolchain.sh) against the local control plane: preview, up, a
second up with no changes, a config change with exactly the expected diff, secrets never in
plaintext, destroy leaving nothing. Tests run in file order on one stack (`e2e`: vLLM FP16, vLLM AWQ
with KEDA, llama.cpp) and leave their artifacts (preview text, preview JSON) under out/e2e/."""

from __future__ import annotations

import base64
import json
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from conftest import REPO_ROOT

from infra.chart import render
from infra.planner import plan_stack
from infra.stack import load_stack_file
from localcp.pulumi import PulumiWorkspace

pytestmark = pytest.mark.engine
E2E_STACK = REPO_ROOT / "tests" / "fixtures" / "stacks" / "Pulumi.e2e.yaml"
ARTIFACTS = REPO_ROOT / "out" / "e2e"
STACK = "e2e"
# Fresh per run, so a leak cannot be a coincidence of a fixed string.
SECRET_VALUES = {"apiKey": f"sk-e2e-{secrets.token_hex(12)}", "hfToken": f"hf_e2e{secrets.token_hex(12)}"}


def rendered_objects(stack_file: Path) -> tuple[str, list[dict]]:
    config = plan_stack(load_stack_file(stack_file)).config
    return config.namespace, render(config.chart_values(), release=config.release_name, namespace=config.namespace)


def chart_children(preview: dict) -> dict[tuple[str, str], dict]:
    """Steps of the chart's children, by (Kind, name)."""
    found = {}
    for step in preview["steps"]:
        urn = step["urn"]
        if "kubernetes:helm.sh/v4:Chart$" not in urn:
            continue
        kind = urn.split("::")[2].rsplit("$", 1)[-1].rsplit(":", 1)[-1]
        state = step.get("newState") or step.get("oldState") or {}
        name = state.get("inputs", {}).get("metadata", {}).get("name") or urn.rsplit("::", 1)[-1].rsplit("/", 1)[-1]
        found[(kind, name)] = step
    return found


@pytest.fixture(scope="module")
def workspace(local_cluster, pulumi_workspace) -> PulumiWorkspace:
    ws = pulumi_workspace(local_cluster)
    ws.add_stack(STACK, E2E_STACK)
    for key, value in SECRET_VALUES.items():
        ws.set_config(STACK, f"llm-platform:{key}", value, secret=True)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ws


@pytest.fixture(scope="module")
def expected(workspace: PulumiWorkspace) -> tuple[str, list[dict]]:
    """The render of the stack as the engine sees it (secrets set: hfToken adds the storage
    ServiceAccount, apiKey the key Secret reference)."""
    return rendered_objects(workspace.stack_file(STACK))


def test_preview_plans_every_rendered_object(workspace: PulumiWorkspace, expected) -> None:
    text = workspace.preview(STACK, "--diff").stdout
    (ARTIFACTS / "preview-e2e.txt").write_text(text)
    preview = workspace.preview_json(STACK)
    (ARTIFACTS / "preview-e2e.json").write_text(json.dumps(preview, indent=1))
    planned = chart_children(preview)
    _, objects = expected
    assert set(planned) == {(o["kind"], o["metadata"]["name"]) for o in objects}
    assert {s["op"] for s in planned.values()} == {"create"}


def test_up_creates_every_object_with_the_rendered_spec(workspace: PulumiWorkspace, local_cluster, expected) -> None:
    workspace.up(STACK)
    namespace, objects = expected
    for obj in objects:
        live = local_cluster.get(obj["kind"], obj["metadata"]["name"], namespace)
        assert live is not None, f"{obj['kind']}/{obj['metadata']['name']} was not created"
        assert live["metadata"]["labels"] == obj["metadata"]["labels"]
        if "spec" in obj:  # what we set is there as we set it (the API server may add defaults)
            assert _subset(obj["spec"], live["spec"]), f"{obj['kind']}/{obj['metadata']['name']} spec differs"


def test_llamacpp_deployment_becomes_available(workspace: PulumiWorkspace, local_cluster, expected) -> None:
    namespace, _ = expected
    local_cluster.kubectl("rollout", "status", "deployment/tinyllama", "-n", namespace, "--timeout=90s")
    outputs = workspace.outputs(STACK)
    assert outputs["namespace"] == namespace
    # The output URL reaches the live Service (plain http on its port 80).
    assert outputs["models"]["tinyllama"]["baseUrl"] == f"http://tinyllama.{namespace}.svc.cluster.local/v1"
    assert [p["port"] for p in local_cluster.get("service", "tinyllama", namespace)["spec"]["ports"]] == [80]
    assert set(outputs["models"]) == {"qwen3-4b-fp16", "qwen3-8b-awq", "tinyllama"}


def test_second_up_changes_nothing(workspace: PulumiWorkspace) -> None:
    result = workspace.up(STACK, "--expect-no-changes", check=False)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    steps = chart_children(workspace.preview_json(STACK, "--show-sames"))
    assert steps and {s["op"] for s in steps.values()} == {"same"}


def test_config_change_shows_exactly_the_render_diff(workspace: PulumiWorkspace, expected) -> None:
    """Raise the llama.cpp model's maxNumSeqs and lower the FP16 model's maxModelLen: the engine
    must plan updates to exactly the objects whose rendered manifest changes, and nothing else.
    The preview (text, JSON) and its reviewer report are kept under out/e2e/."""
    namespace, before = expected
    stack_text = workspace.stack_file(STACK).read_text()
    workspace.set_config(STACK, "llm-platform:models[2].maxNumSeqs", "3", path=True)
    workspace.set_config(STACK, "llm-platform:models[0].maxModelLen", "4096", path=True)
    _, after = rendered_objects(workspace.stack_file(STACK))
    by_name = {(o["kind"], o["metadata"]["name"]): o for o in before}
    differing = {(o["kind"], o["metadata"]["name"]) for o in after if by_name.get((o["kind"], o["metadata"]["name"])) != o}
    try:
        preview = workspace.preview_json(STACK)
        steps = chart_children(preview)
        updated = {k for k, s in steps.items() if s["op"] != "same"}
        assert differing and updated == differing
        assert {steps[k]["op"] for k in updated} == {"update"}
        (ARTIFACTS / "preview-e2e-change.json").write_text(json.dumps(preview, indent=1))
        (ARTIFACTS / "preview-e2e-change.txt").write_text(workspace.preview(STACK, "--diff").stdout)
        report = subprocess.run([sys.executable, "-m", "infra", "preview-report", "--preview-json", str(ARTIFACTS / "preview-e2e-change.json"),
                                 "--config-file", str(workspace.stack_file(STACK)), "--out", str(ARTIFACTS / "preview-e2e-change.md")],
                                capture_output=True, text=True, cwd=REPO_ROOT)  # fmt: skip
        assert report.returncode == 0, report.stderr
    finally:
        workspace.stack_file(STACK).write_text(stack_text)


def test_deployment_mode_switch_replaces_the_inferenceservice(workspace: PulumiWorkspace) -> None:
    """knative <-> keda/none changes serving.kserve.io/deploymentMode, which KServe's webhook
    refuses as an update: the engine must plan a delete-before-replace of that object instead."""
    stack_text = workspace.stack_file(STACK).read_text()
    workspace.set_config(STACK, "llm-platform:models[0].autoscaling.mode", "knative", path=True)
    workspace.set_config(STACK, "llm-platform:platform.knative.preinstalled", "true", path=True)
    try:
        preview = workspace.preview_json(STACK)
        ops = [s["op"] for s in preview["steps"] if s["urn"].endswith("InferenceService::models-chart:llm-e2e/qwen3-4b-fp16")]
        assert "replace" in ops or "delete-replaced" in ops, ops
        assert "update" not in ops
    finally:
        workspace.stack_file(STACK).write_text(stack_text)


def test_secrets_never_appear_in_plaintext(workspace: PulumiWorkspace, local_cluster, expected) -> None:
    namespace, _ = expected
    places = {str(p): p.read_text(errors="replace") for p in workspace.state_files()}
    places["stack file"] = workspace.stack_file(STACK).read_text()
    places["stack export"] = workspace.export_state(STACK)
    places["preview --diff"] = workspace.preview(STACK, "--diff").stdout
    places["stack output"] = json.dumps(workspace.outputs(STACK))
    for artifact in ARTIFACTS.glob("preview-e2e*"):
        places[str(artifact)] = artifact.read_text()
    for key, value in SECRET_VALUES.items():
        leaks = [where for where, text in places.items() if value in text]
        assert leaks == [], f"{key} in plaintext in: {leaks}"
    # ... while the cluster does get the real value (base64 in the Secret's data).
    secret = local_cluster.get("secret", "model-api-key", namespace)
    assert base64.b64decode(secret["data"]["api-key"]).decode() == SECRET_VALUES["apiKey"]


def test_destroy_leaves_nothing_behind(workspace: PulumiWorkspace, local_cluster, expected) -> None:
    namespace, objects = expected
    workspace.destroy(STACK)
    left = [f"{o['kind']}/{o['metadata']['name']}" for o in objects if local_cluster.get(o["kind"], o["metadata"]["name"], namespace)]
    assert left == []
    ns = local_cluster.get("namespace", namespace)
    assert ns is None or ns["status"]["phase"] == "Terminating"


def _subset(want, got) -> bool:
    """Every field of `want` is in `got` with the same value (lists element-wise)."""
    if isinstance(want, dict):
        return isinstance(got, dict) and all(k in got and _subset(v, got[k]) for k, v in want.items())
    if isinstance(want, list):
        return isinstance(got, list) and len(want) == len(got) and all(_subset(w, g) for w, g in zip(want, got))
    return want == got or (isinstance(want, (int, float)) and str(want) == str(got))



def test_bad_config_fails_preview_with_the_cli_message_and_creates_nothing(workspace: PulumiWorkspace, local_cluster, tmp_path) -> None:
    config = yaml.safe_load(E2E_STACK.read_text())["config"]
    config["llm-platform:models"][2]["maxNumSeq"] = 3  # misspelt key
    config["llm-platform:namespace"] = "llm-bad"
    (tmp_path / "Pulumi.bad.yaml").write_text(yaml.safe_dump({"config": config}))
    cli = subprocess.run([sys.executable, "-m", "infra", "render", "--config-file", str(tmp_path / "Pulumi.bad.yaml"), "--out", str(tmp_path / "out")],
                         capture_output=True, text=True, cwd=REPO_ROOT)  # fmt: skip
    [cli_line] = [line.removeprefix("error: ") for line in cli.stderr.splitlines() if line.startswith("error: ")]
    assert cli_line.startswith("models[2].maxNumSeq: unknown key (did you mean maxNumSeqs?)")
    name = workspace.add_stack_config("bad", config)
    for command in (workspace.preview, workspace.up):
        result = command(name, check=False)
        assert result.returncode != 0 and cli_line in result.stdout + result.stderr
    assert local_cluster.get("namespace", "llm-bad") is None
    resources = json.loads(workspace.export_state(name)).get("deployment", {}).get("resources") or []
    assert [r["type"] for r in resources if r["type"] != "pulumi:pulumi:Stack"] == []


def test_local_stack_comes_up_unchanged_on_a_second_up_and_goes(workspace: PulumiWorkspace, local_cluster) -> None:
    """The README's main stack, through the same engine: up, no changes on a second up, destroy."""
    name = workspace.add_stack("local")
    workspace.up(name)
    namespace = workspace.outputs(name)["namespace"]
    local_cluster.kubectl("rollout", "status", "deployment/tinyllama", "-n", namespace, "--timeout=90s")
    assert workspace.up(name, "--expect-no-changes", check=False).returncode == 0
    workspace.destroy(name)
    assert local_cluster.get("deployment", "tinyllama", namespace) is None
