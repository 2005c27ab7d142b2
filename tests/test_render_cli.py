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
    assert files == [
        "configmap-llm-dashboard.yaml",
        "deployment-tinyllama.yaml",
        "inferenceservice-llama31-8b-awq.yaml",
        "inferenceservice-llama31-8b-fp16.yaml",
        "networkpolicy-llm-models.yaml",
        "poddisruptionbudget-llama31-8b-fp16.yaml",
        "podmonitor-llm-models.yaml",
        "prometheusrule-llm-models.yaml",
        "service-tinyllama.yaml",
        "servingruntime-llama31-8b-awq-vllm.yaml",
        "servingruntime-llama31-8b-fp16-vllm.yaml",
    ]
    for path in out.glob("*.yaml"):
        [obj] = list(yaml.safe_load_all(path.read_text()))
        validate_object(obj)
        assert obj["metadata"]["namespace"] == "llm-prod"


def test_render_replaces_previous_output(tmp_path: Path) -> None:
    out = tmp_path / "local"
    out.mkdir()
    (out / "inferenceservice-gone.yaml").write_text("kind: Stale\n")
    subprocess.run(
        [sys.executable, "-m", "infra", "render", "--stack", "local", "--out", str(out)],
        check=True,
        capture_output=True,
        cwd=REPO_ROOT,
    )
    assert "inferenceservice-gone.yaml" not in {p.name for p in out.glob("*.yaml")}
    assert "deployment-tinyllama.yaml" in {p.name for p in out.glob("*.yaml")}


def test_notes_list_every_model_url() -> None:
    values = {"models": [vllm_entry(), llamacpp_entry()]}
    notes = helm.Chart.load(CHART_DIR).render(values, name="llm", namespace="ns")["llm-serving/templates/NOTES.txt"]
    assert "deployed 2 models to namespace ns" in notes
    assert "qwen-fp16 (vllm): http://qwen-fp16-predictor.ns.svc.cluster.local/v1" in notes
    assert "tiny (llamacpp): http://tiny.ns.svc.cluster.local/v1" in notes
