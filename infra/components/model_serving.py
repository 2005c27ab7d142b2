"""ModelServing: the llm-serving chart for one stack's models, deployed with helm.v4.Chart so every
rendered object is its own child resource in `pulumi preview` and visible to policy packs."""

from __future__ import annotations

import os
from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from infra.chart import CHART_DIR
from infra.config import ChartValues, chart_values_dict
from infra.endpoints import base_url, gateway_base_url, host


@dataclass
class ModelServingArgs:
    namespace: pulumi.Input[str]
    """Namespace the chart's objects go to (link it to the Namespace resource's name)."""
    values: ChartValues
    """Validated chart values: every model fully resolved, so the chart applies no defaults."""
    release_name: str = "llm"


ISVC_TYPE = "kubernetes:serving.kserve.io/v1beta1:InferenceService"
DEPLOYMENT_MODE_PATH = 'metadata.annotations["serving.kserve.io/deploymentMode"]'


def replace_on_deployment_mode_change(args: pulumi.ResourceTransformArgs) -> pulumi.ResourceTransformResult | None:
    """KServe's validating webhook refuses to change an InferenceService's deploymentMode
    (v0.20 pkg/apis/serving/v1beta1/inference_service_validation.go validateDeploymentMode: "update
    rejected: deploymentMode cannot be changed"), so switching autoscaling.mode between knative and
    keda/none would fail `pulumi up`. Replace the object instead, deleting first (same name)."""
    if args.type_ != ISVC_TYPE:
        return None
    extra = pulumi.ResourceOptions(replace_on_changes=[DEPLOYMENT_MODE_PATH], delete_before_replace=True)
    return pulumi.ResourceTransformResult(props=args.props, opts=pulumi.ResourceOptions.merge(args.opts, extra))


class ModelServing(pulumi.ComponentResource):
    endpoints: pulumi.Output[dict[str, dict[str, str]]]
    """Per model name: servedModelName, baseUrl (in-cluster OpenAI base URL), host (the Host header
    to send there: needed when baseUrl is the KEDA HTTP add-on's interceptor), runtime, adapters
    (LoRA adapter names, served as model names) when the model has any, and for a model routed by
    its endpoint picker gatewayBaseUrl (through the inference gateway's HTTPRoute; send
    gatewayHost as Host when the gateway has a hostname), and cachedOn (the node group) for a model
    whose weights are cached on the GPU nodes."""

    def __init__(self, name: str, args: ModelServingArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("llm-platform:serving:ModelServing", name, None, opts)
        self.chart = k8s.helm.v4.Chart(
            f"{name}-chart",
            k8s.helm.v4.ChartArgs(
                # Relative to the program's working directory so the input, and thus the diff,
                # is the same on every machine whatever the checkout path.
                chart=os.path.relpath(CHART_DIR),
                name=args.release_name,
                namespace=args.namespace,
                values=chart_values_dict(args.values),
            ),
            opts=pulumi.ResourceOptions(parent=self, transforms=[replace_on_deployment_mode_change]),
        )
        namespace = pulumi.Output.from_input(args.namespace)
        gateway = args.values.inference_gateway

        def routed(m) -> dict[str, str]:
            if not m.routed(gateway.enabled):
                return {}
            return {"gatewayBaseUrl": gateway_base_url(m, gateway), **({"gatewayHost": gateway.hostname} if gateway.hostname else {})}

        def cached(m) -> dict[str, str]:
            cache = getattr(m, "cache", None)
            return {"cachedOn": cache.node_group} if cache is not None and cache.enabled else {}

        self.endpoints = namespace.apply(
            lambda ns: {
                m.name: {"servedModelName": m.served_name, "runtime": m.runtime, "host": host(m, ns),
                         "baseUrl": base_url(m, ns, args.values.keda_http_addon_namespace), **routed(m), **cached(m),
                         **({"adapters": [a.name for a in m.lora.adapters]} if getattr(m, "lora", None) else {})}
                for m in args.values.models
            }
        )
        self.register_outputs({"endpoints": self.endpoints})
