"""`python -m infra preview-report` on a `pulumi preview --json` recorded by the real engine
(tests/fixtures/preview, from test_pulumi_engine.py's config change): per model what changes, the
server args that change (flag/value pairs kept together), shared objects, and the capacity plan."""

from __future__ import annotations

import json
import subprocess
import sys

from conftest import REPO_ROOT

FIXTURES = REPO_ROOT / "tests" / "fixtures" / "preview"


def report() -> str:
    result = subprocess.run([sys.executable, "-m", "infra", "preview-report", "--preview-json", str(FIXTURES / "preview-e2e-change.json"),
                             "--config-file", str(FIXTURES / "Pulumi.e2e-change.yaml")], capture_output=True, text=True, cwd=REPO_ROOT)  # fmt: skip
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_recording_comes_from_the_engine() -> None:
    preview = json.loads((FIXTURES / "preview-e2e-change.json").read_text())
    assert preview["changeSummary"] == {"same": 17, "update": 3}
    assert any("kubernetes:helm.sh/v4:Chart$" in s["urn"] for s in preview["steps"])


def test_report_counts_changes_per_model() -> None:
    text = report()
    assert "| qwen3-4b-fp16 (vllm) | 0 | 1 | 0 | 0 |" in text
    assert "| qwen3-8b-awq (vllm) | 0 | 0 | 0 | 0 |" in text
    assert "| tinyllama (llamacpp) | 0 | 1 | 0 | 0 |" in text


def test_report_shows_the_server_args_that_change() -> None:
    text = report()
    assert "  - server args removed: `--max-model-len=8192`, `--max-num-seqs=40`" in text
    assert "  - server args added: `--max-model-len=4096`, `--max-num-seqs=80`" in text
    assert "  - server args removed: `--ctx-size 4096`, `--parallel 2`" in text


def test_report_lists_shared_objects_and_capacity() -> None:
    text = report()
    assert "- **update** PrometheusRule `llm-models`" in text
    capacity = text.split("## Capacity (per replica)", 1)[1]
    assert "qwen3-4b-fp16" in capacity and "80 (derived)" in capacity and "3 slots" in capacity


def test_report_refuses_a_file_that_is_not_a_preview(tmp_path) -> None:
    bad = tmp_path / "x.json"
    bad.write_text("not json")
    result = subprocess.run([sys.executable, "-m", "infra", "preview-report", "--preview-json", str(bad), "--stack", "local"],
                            capture_output=True, text=True, cwd=REPO_ROOT)  # fmt: skip
    assert result.returncode == 2 and "not a `pulumi preview --json` output" in result.stderr
