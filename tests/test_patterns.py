"""The documented stack-config patterns are valid configs that render as described."""

from __future__ import annotations

import re
from pathlib import Path

from conftest import REPO_ROOT, objects_of

from infra.chart import render
from infra.planner import plan_stack
from infra.stack import load_stack_file


def _yaml_block(doc: Path, tmp_path: Path) -> Path:
    block = re.search(r"```yaml\n(.*?)```", doc.read_text(), re.S)
    assert block, f"{doc} has no yaml block"
    path = tmp_path / "Pulumi.pattern.yaml"
    path.write_text(block.group(1))
    return path


def test_latency_vs_batch_pattern_renders_two_differently_batched_models(tmp_path: Path) -> None:
    config = plan_stack(load_stack_file(_yaml_block(REPO_ROOT / "docs/patterns/latency-vs-batch.md", tmp_path))).config
    objects = render(config.chart_values(), release="llm", namespace=config.namespace)
    args = {o["metadata"]["name"]: o["spec"]["containers"][0]["args"] for o in objects_of(objects, "ServingRuntime")}
    assert "--max-num-batched-tokens=2048" in args["qwen25-7b-chat-vllm"]
    assert "--max-num-batched-tokens=8192" in args["qwen25-7b-batch-vllm"]
    assert [o["metadata"]["name"] for o in objects_of(objects, "ScaledObject")] == ["qwen25-7b-chat"]
    batch = next(o for o in objects_of(objects, "InferenceService") if o["metadata"]["name"] == "qwen25-7b-batch")
    assert batch["spec"]["predictor"]["minReplicas"] == 0
