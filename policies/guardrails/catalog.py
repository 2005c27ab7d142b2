"""Every guardrail with its description, remediation and documentation link: the single list that
the CrossGuard pack and `python -m policies.check` both assemble from."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Literal

from infra.config.models import MIN_TERMINATION_GRACE_SECONDS
from policies.guardrails import alerts, engine, gpu, images, lifecycle, local_model, routing, scaling, security
from policies.guardrails.objects import Obj

DOCS = "https://github.com/llm-platform/llm-platform/blob/main/docs/policies.md"
RUNBOOKS = "https://github.com/llm-platform/llm-platform/blob/main/runbooks"

Check = Callable[[Obj, dict], Iterable[str]]
StackCheck = Callable[[list[Obj], dict], Iterable[tuple[Obj, str]]]


@dataclass(frozen=True)
class Guardrail:
    name: str
    description: str
    remediation: str
    url: str
    check: Check | None = None
    stack_check: StackCheck | None = None
    enforcement: Literal["mandatory", "advisory"] = "mandatory"
    config: tuple[tuple[str, str, float], ...] = ()
    """(key, JSON type, default) of thresholds the pack's config may override."""

    def violations(self, objects: list[Obj], settings: dict) -> Iterator[tuple[Obj, str]]:
        if self.check:
            for obj in objects:
                for message in self.check(obj, settings):
                    yield obj, message
        if self.stack_check:
            yield from self.stack_check(objects, settings)


def _doc(name: str) -> str:
    return f"{DOCS}#{name}"


GUARDRAILS: list[Guardrail] = [
    Guardrail("images-pinned", "Container images are pinned to a tag other than latest, or a digest.",
              "Set image.tag (or image.digest) in the model's stack config; pins live in infra/versions.py.",
              _doc("images-pinned"), images.images_pinned),
    Guardrail("vllm-gpu-requested", "vLLM predictors request and limit nvidia.com/gpu.",
              "Set gpu.count >= 1 on the vLLM model; the chart writes requests and limits.",
              _doc("vllm-gpu-requested"), gpu.vllm_gpu_requested),
    Guardrail("llamacpp-no-gpu", "llama.cpp pods request no GPU.",
              "Remove nvidia.com/gpu from llama.cpp resources; serve GPU models with vLLM.",
              _doc("llamacpp-no-gpu"), gpu.llamacpp_no_gpu),
    Guardrail("vllm-max-model-len-set", "vLLM and SGLang run with an explicit context length (--max-model-len, --context-length).",
              "Set maxModelLen; `python -m infra plan` shows what the KV cache holds.",
              _doc("vllm-max-model-len-set"), engine.max_model_len_set),
    Guardrail("vllm-gpu-memory-utilization", "--gpu-memory-utilization (SGLang: --mem-fraction-static) leaves headroom (<= 0.95 by default).",
              "Lower gpuMemoryUtilization; use kvCacheDtype fp8 or AWQ weights for more KV cache instead.",
              f"{RUNBOOKS}/gpu-oom.md", engine.gpu_memory_utilization_cap,
              config=(("maxGpuMemoryUtilization", "number", 0.95),)),
    Guardrail("termination-grace-period", f"LLM pods get >= {MIN_TERMINATION_GRACE_SECONDS} s to finish in-flight requests.",
              "Set terminationGracePeriodSeconds to at least the longest request.",
              _doc("termination-grace-period"), lifecycle.termination_grace_period,
              config=(("minTerminationGraceSeconds", "integer", MIN_TERMINATION_GRACE_SECONDS),)),
    Guardrail("rollout-keeps-capacity", "Rolling updates use maxUnavailable 0 (or Recreate is declared).",
              "Keep rollout.spareCapacityForSurge true, or set it false to declare Recreate.",
              _doc("rollout-keeps-capacity"), lifecycle.rollout_keeps_capacity),
    Guardrail("probes-present", "Model servers have a readiness probe and a startup probe (or a delayed liveness probe).",
              "Use the chart's probes; tune probes.startupFailureThreshold instead of removing them.",
              f"{RUNBOOKS}/cold-start-slow.md", lifecycle.probes_present),
    Guardrail("shm-for-tensor-parallel", "Tensor-parallel vLLM pods mount a memory-backed /dev/shm.",
              "Use the chart (it mounts /dev/shm when gpu.count > 1); raise shmSizeLimit if NCCL complains.",
              f"{RUNBOOKS}/nccl-timeout.md", engine.shm_for_tensor_parallel),
    Guardrail("scale-to-zero-has-activation", "Scale to zero only with an activation source that exists at zero replicas.",
              "For minReplicas 0 use autoscaling.mode keda with platform.keda.httpAddon (the chart adds the "
              "HTTPScaledObject and its trigger), or mode knative; else keep minReplicas >= 1.",
              f"{RUNBOOKS}/scale-from-zero-stuck.md", stack_check=scaling.scale_to_zero_has_activation),
    Guardrail("alerts-have-runbook", "Every alert rule has a runbook_url annotation.",
              "Add annotations.runbook_url pointing into runbooks/.",
              _doc("alerts-have-runbook"), alerts.alerts_have_runbook),
    Guardrail("pod-security-hardened", "Model pods run as non-root, without privilege escalation, with all capabilities dropped and seccomp RuntimeDefault.",
              "Use the chart's security contexts; do not override them with extra values.",
              _doc("pod-security-hardened"), security.pod_security_hardened),
    Guardrail("resource-requests-set", "Model containers request CPU and memory.",
              "Set resources.cpu and resources.memory on the model.",
              _doc("resource-requests-set"), security.resource_requests_set),
    Guardrail("network-policy-restricts-model-pods", "A NetworkPolicy restricts ingress to model pods.",
              "Keep networkPolicy.enabled; list the namespaces that must reach models in allowFromNamespaces.",
              _doc("network-policy-restricts-model-pods"), stack_check=security.network_policy_restricts),
    Guardrail("inference-pool-selects-model-pods", "An InferencePool selects model server pods of the stack (never its picker) and names a picker Service that exists.",
              "Use the chart's routing (models' routing.mode); it selects the model's pods by name, instance and "
              "model labels and creates the <model>-epp Service.",
              f"{RUNBOOKS}/inference-pool-no-endpoints.md", stack_check=routing.pool_selects_model_pods),
    Guardrail("http-route-backend-exists", "An HTTPRoute's InferencePool backend exists in the stack.",
              "Route to the InferencePool the chart creates for the model (same name as the model), or set the "
              "model's routing.mode service and drop the route.",
              _doc("http-route-backend-exists"), stack_check=routing.route_backends_exist),
    Guardrail("cached-models-fit-node-group", "The models cached on a node group fit its storage limit together.",
              "Raise platform.kserve.localModel.nodeGroups.<group>.capacity, or turn cache off for a model; the "
              "planner refuses this before anything is created.",
              f"{RUNBOOKS}/model-cache-not-ready.md", stack_check=local_model.caches_fit_node_group),
    Guardrail("cached-model-on-group-nodes", "A node-cached model's pods run only on its node group's nodes.",
              "Use the chart (it adds the group's node selector to cached models); do not override nodeSelector.",
              f"{RUNBOOKS}/model-cache-not-ready.md", stack_check=local_model.cached_model_on_group_nodes),
    Guardrail("api-key-auth-production", "Model servers in production require an API key.",
              "pulumi config set --secret apiKey ..., or set apiKeyExistingSecret.",
              _doc("api-key-auth"), security.api_key_auth_production),
    Guardrail("api-key-auth", "Model servers outside production should require an API key.",
              "pulumi config set --secret apiKey ..., or set apiKeyExistingSecret.",
              _doc("api-key-auth"), security.api_key_auth, enforcement="advisory"),
]  # fmt: skip


def default_settings() -> dict:
    return {key: default for g in GUARDRAILS for key, _, default in g.config}
