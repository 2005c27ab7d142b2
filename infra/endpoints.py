"""In-cluster OpenAI endpoints, mirroring the chart's "llm-serving.baseUrl" and "llm-serving.host"
helpers (a chart-tier test renders the chart and checks the two agree for every runtime)."""

from __future__ import annotations

from infra.config import InferenceGateway, LlamaCppModel, VllmModel

Model = VllmModel | LlamaCppModel  # SglangModel is a VllmModel
# The keda-add-ons-http chart's proxy Service and port (its interceptor).
INTERCEPTOR_SERVICE, INTERCEPTOR_PORT = "keda-add-ons-http-interceptor-proxy", 8080


def service_name(model: Model) -> str:
    # KServe names the Service of an InferenceService's predictor "<name>-predictor".
    return model.name if model.runtime == "llamacpp" else f"{model.name}-predictor"


def host(model: Model, namespace: str) -> str:
    """The Host header that reaches the model: its Service's cluster DNS name."""
    return f"{service_name(model)}.{namespace}.svc.cluster.local"


def base_url(model: Model, namespace: str, keda_namespace: str = "keda") -> str:
    if model.autoscaling.wakes_through_http_addon:
        return f"http://{INTERCEPTOR_SERVICE}.{keda_namespace}.svc.cluster.local:{INTERCEPTOR_PORT}/v1"
    return f"http://{host(model, namespace)}/v1"


def gateway_base_url(model: Model, gateway: InferenceGateway) -> str:
    """OpenAI base URL of a routed model through the inference gateway: the chart's HTTPRoute
    matches /<name> and strips it (templates/inferencepool.yaml). Without gateway.baseUrl, the
    Gateway's in-cluster name (implementations name its Service after the Gateway, some with a
    suffix: check `kubectl -n <namespace> get svc`)."""
    root = gateway.base_url or f"http://{gateway.name}.{gateway.namespace}.svc.cluster.local"
    return f"{root.rstrip('/')}/{model.name}/v1"
