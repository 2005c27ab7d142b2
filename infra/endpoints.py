"""In-cluster OpenAI base URLs, mirroring the chart's "llm-serving.baseUrl" helper (a chart-tier
test renders the chart and checks the two agree for every runtime)."""

from __future__ import annotations

from infra.config import LlamaCppModel, VllmModel


def base_url(model: VllmModel | LlamaCppModel, namespace: str) -> str:
    # KServe names the Service of an InferenceService's predictor "<name>-predictor".
    service = f"{model.name}-predictor" if model.runtime == "vllm" else model.name
    return f"http://{service}.{namespace}.svc.cluster.local/v1"
