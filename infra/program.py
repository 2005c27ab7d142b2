"""The Pulumi program's composition: config first (bad config fails before any resource), then
the namespace, the weights-download secret, and the model chart."""

from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s

from infra.components.model_serving import ModelServing, ModelServingArgs
from infra.platform.chart_sources import check_chart_sources
from infra.components.platform import Platform
from infra.config import API_KEY_SECRET_NAME, STORAGE_SECRET_NAME
from infra.planner import StackPlan, plan_stack
from infra.planner.report import table
from infra.stack import ConfigError, load_pulumi_config


MODEL_NAMESPACE_LABELS = {"pod-security.kubernetes.io/enforce": "restricted", "pod-security.kubernetes.io/enforce-version": "latest"}


def _planned_config() -> StackPlan:
    """Parse and size the stack; any problem stops the program before the first resource."""
    try:
        plan = plan_stack(load_pulumi_config())
        check_chart_sources(plan.config.platform)
        return plan
    except ConfigError as err:
        raise pulumi.RunError("invalid stack config:\n" + "\n".join(err.lines)) from None


def main() -> dict[str, pulumi.Output]:
    """Build the stack and export what smoke tests need; returns the exports (for tests)."""
    plan = _planned_config()
    config = plan.config  # derived values (maxNumSeqs, startup budgets) filled in
    pulumi.log.info("capacity plan (per replica):\n" + table(plan.models))
    for model_plan in plan.models:
        for warning in model_plan.plan.warnings:
            pulumi.log.warn(f"{model_plan.name}: {warning}")

    # Model pods meet the restricted Pod Security Standard (non-root, no privilege escalation, all
    # capabilities dropped, seccomp RuntimeDefault): the API server enforces it for every pod here.
    namespace = k8s.core.v1.Namespace(
        "namespace",
        metadata=k8s.meta.v1.ObjectMetaArgs(name=config.namespace, labels=MODEL_NAMESPACE_LABELS),
    )
    platform = Platform("platform", config.platform, outlive_keda=[namespace])
    depends_on: list[pulumi.Resource] = list(platform.ready)
    secrets = ((config.hf_token, STORAGE_SECRET_NAME, "HF_TOKEN", "hfToken"), (config.api_key, API_KEY_SECRET_NAME, "api-key", "apiKey"))
    for wanted, name, key, config_key in secrets:
        if wanted:
            depends_on.append(
                k8s.core.v1.Secret(
                    name,
                    metadata=k8s.meta.v1.ObjectMetaArgs(name=name, namespace=namespace.metadata.name),
                    string_data={key: pulumi.Config().require_secret(config_key)},
                )
            )
    exports: dict[str, pulumi.Output] = {
        "namespace": namespace.metadata.name,
        "platform": pulumi.Output.from_input(platform.installed),
        "capacity": {p.name: p.as_dict() for p in plan.models},
    }
    gateway = config.platform.inference_gateway
    if config.deploy_models and any(m.routed(gateway.enabled) for m in config.models):
        # The Gateway is the cluster's (its implementation creates and runs it): read it, so a
        # missing one fails `pulumi preview` naming it, before any route is created.
        depends_on.append(
            k8s.apiextensions.CustomResource.get(
                "inference-gateway", id=f"{gateway.namespace}/{gateway.name}", api_version="gateway.networking.k8s.io/v1",
                kind="Gateway", opts=pulumi.ResourceOptions(depends_on=list(platform.ready)),
            )
        )  # fmt: skip
    if config.deploy_models:
        serving = ModelServing(
            "models",
            ModelServingArgs(
                namespace=namespace.metadata.name, values=config.chart_values(), release_name=config.release_name
            ),
            opts=pulumi.ResourceOptions(depends_on=depends_on),
        )
        exports["models"] = serving.endpoints
    else:
        pulumi.log.warn("deployModels is false: platform only; set it to true (or remove it) to deploy the models")
    for key, value in exports.items():
        pulumi.export(key, value)
    return exports
