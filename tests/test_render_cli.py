"""`python -m infra render` writes exactly the chart's objects, one valid manifest per file."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import helm_python as helm
import yaml
from conftest import REPO_ROOT, llamacpp_entry, vllm_entry
from k8s_schema import validate_object

from infra.chart import CHART_DIR


def test_render_prod_writes_one_valid_manifest_per_object(tmp_path: Path) -> None:
    out = tmp_path / "prod"
    result = subprocess.run(
        [sys.executable, "-m", "infra", "render", "--stack", "prod", "--out", str(out)],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
    )
    assert result.returncode == 0, result.stderr
    files = sorted(p.name for p in out.glob("*.yaml"))
    # prod routes its 2-replica model (InferencePool, picker, route) and caches both vLLM models.
    assert files == [
        "configmap-llama31-8b-fp16-epp.yaml",
        "configmap-llm-dashboard.yaml",
        "deployment-llama31-8b-fp16-epp.yaml",
        "deployment-tinyllama.yaml",
        "httproute-llama31-8b-fp16.yaml",
        "inferencepool-llama31-8b-fp16.yaml",
        "inferenceservice-llama31-8b-awq.yaml",
        "inferenceservice-llama31-8b-fp16.yaml",
        "localmodelcache-llm-prod-llama31-8b-awq.yaml",
        "localmodelcache-llm-prod-llama31-8b-fp16.yaml",
        "networkpolicy-llama31-8b-fp16-epp.yaml",
        "networkpolicy-llm-models.yaml",
        "poddisruptionbudget-llama31-8b-fp16.yaml",
        "podmonitor-llm-endpoint-pickers.yaml",
        "podmonitor-llm-models.yaml",
        "prometheusrule-llm-models.yaml",
        "role-llama31-8b-fp16-epp.yaml",
        "rolebinding-llama31-8b-fp16-epp.yaml",
        "service-llama31-8b-fp16-epp.yaml",
        "service-tinyllama.yaml",
        "serviceaccount-llama31-8b-fp16-epp.yaml",
        "servingruntime-llama31-8b-awq-vllm.yaml",
        "servingruntime-llama31-8b-fp16-vllm.yaml",
    ]
    for path in out.glob("*.yaml"):
        [obj] = list(yaml.safe_load_all(path.read_text()))
        validate_object(obj)
        # LocalModelCache is cluster-scoped (its name carries the namespace).
        assert obj["metadata"].get("namespace", "llm-prod" if obj["kind"] == "LocalModelCache" else None) == "llm-prod"


def _render(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "infra", "render", *args], capture_output=True, text=True, cwd=REPO_ROOT)


def test_render_replaces_only_its_previous_output(tmp_path: Path) -> None:
    out = tmp_path / "local"
    assert _render("--stack", "local", "--out", str(out)).returncode == 0
    (out / "deployment-gone.yaml").write_text("kind: Stale\n")  # pretend an earlier render wrote it
    (out / ".llm-platform-render").write_text((out / ".llm-platform-render").read_text() + "deployment-gone.yaml\n")
    assert _render("--stack", "local", "--out", str(out)).returncode == 0
    assert "deployment-gone.yaml" not in {p.name for p in out.glob("*.yaml")}
    assert "deployment-tinyllama.yaml" in {p.name for p in out.glob("*.yaml")}


def test_render_never_deletes_a_file_it_did_not_write(tmp_path: Path) -> None:
    out = tmp_path / "mine"
    out.mkdir()
    (out / "my-notes.yaml").write_text("keep: me\n")
    refused = _render("--stack", "local", "--out", str(out))
    assert refused.returncode == 1 and "my-notes.yaml" in refused.stderr and "--force" in refused.stderr
    assert _render("--stack", "local", "--out", str(out), "--force").returncode == 0
    assert _render("--stack", "local", "--out", str(out), "--force").returncode == 0
    assert (out / "my-notes.yaml").read_text() == "keep: me\n"
    assert (out / "deployment-tinyllama.yaml").exists()


def test_render_of_a_stack_without_models_says_so(tmp_path: Path) -> None:
    stack = tmp_path / "Pulumi.empty.yaml"
    stack.write_text("config:\n  llm-platform:namespace: x\n")
    result = _render("--config-file", str(stack), "--out", str(tmp_path / "out"))
    assert result.returncode == 1 and "has no models" in result.stderr


def test_keys_without_the_project_prefix_are_refused(tmp_path: Path) -> None:
    stack = tmp_path / "Pulumi.bare.yaml"
    stack.write_text("config:\n  models: []\n  llm-platfrom:namespace: x\n  kubernetes:context: kind\n")
    result = _render("--config-file", str(stack), "--out", str(tmp_path / "out"))
    assert result.returncode == 2
    assert "'models' has no project prefix and would be ignored (did you mean llm-platform:models?)" in result.stderr
    assert "unknown prefix 'llm-platfrom' (did you mean llm-platform:namespace?)" in result.stderr
    assert "kubernetes:context" not in result.stderr


def test_notes_list_every_model_url() -> None:
    values = {"models": [vllm_entry(), llamacpp_entry()]}
    notes = helm.Chart.load(CHART_DIR).render(values, name="llm", namespace="ns")["llm-serving/templates/NOTES.txt"]
    assert "deployed 2 models to namespace ns" in notes
    assert "qwen-fp16 (vllm): http://qwen-fp16-predictor.ns.svc.cluster.local/v1" in notes
    assert "tiny (llamacpp): http://tiny.ns.svc.cluster.local/v1" in notes
