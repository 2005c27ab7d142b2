"""values.schema.json and values.yaml are generated from the config model and enforced by Helm."""

from __future__ import annotations

import helm_python as helm
import pytest
from conftest import llamacpp_entry, vllm_entry

from infra.chart import CHART_DIR, stale_files


def test_generated_chart_values_files_are_up_to_date() -> None:
    stale = stale_files()
    assert stale == [], f"stale: {stale}; run `python -m infra schema --write` and commit"


def test_helm_accepts_minimal_entries_and_fills_defaults() -> None:
    chart = helm.Chart.load(CHART_DIR)
    chart.validate_schema({"models": [vllm_entry(), llamacpp_entry()]})
    manifests = chart.render({"models": [llamacpp_entry()]}, name="llm", namespace="ns")
    deployment = manifests["llm-serving/templates/llamacpp-deployment.yaml"]
    # Defaults from values.yaml modelDefaults.llamacpp (generated from the config model).
    assert "image: ghcr.io/ggml-org/llama.cpp:server-b" in deployment
    assert "periodSeconds: 10" in deployment


@pytest.mark.parametrize(
    ("values", "needle"),
    [
        ({"models": [vllm_entry(maxModelLenn=1)]}, "maxModelLenn"),
        ({"models": [vllm_entry(image={"repository": "vllm/vllm-openai", "tag": "latest"})]}, "/image/tag"),
        ({"models": [vllm_entry(name="Bad_Name")]}, "/models/0/name"),
        ({"models": [vllm_entry(gpuMemoryUtilization=1.5)]}, "gpuMemoryUtilization"),
        ({"models": [llamacpp_entry(quantization="awq")]}, "quantization"),
        ({"testImage": "curlimages/curl"}, "/testImage"),
    ],
    ids=["typo", "latest-tag", "bad-name", "gpu-util", "awq-on-llamacpp", "unpinned-test-image"],
)
def test_helm_schema_rejects_bad_values(values: dict, needle: str) -> None:
    with pytest.raises(helm.HelmValuesError, match=needle):
        helm.Chart.load(CHART_DIR).validate_schema(values)
