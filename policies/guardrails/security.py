"""Pod security, resource requests, network isolation and API-key auth of model pods."""

from __future__ import annotations

from collections.abc import Iterator

from policies.guardrails.objects import Obj, as_dict, as_list, dig


def pod_security_hardened(obj: Obj, settings: dict) -> Iterator[str]:
    if not obj.is_model_server:
        return
    if obj.kind != "ServingRuntime":  # the pod-level context lives on the workload / predictor
        pod = as_dict((obj.pod_spec() or {}).get("securityContext"))
        if pod.get("runAsNonRoot") is not True:
            yield "pod securityContext.runAsNonRoot is not true"
        if dig(pod, "seccompProfile", "type") != "RuntimeDefault":
            yield "pod securityContext.seccompProfile.type is not RuntimeDefault"
    if obj.kind == "InferenceService":
        return  # its containers come from the ServingRuntime, checked there
    for container in obj.containers(init=True):
        ctx, name = as_dict(container.get("securityContext")), container.get("name", "?")
        if ctx.get("allowPrivilegeEscalation") is not False:
            yield f"container {name} does not set allowPrivilegeEscalation: false"
        if "ALL" not in as_list(dig(ctx, "capabilities", "drop")):
            yield f"container {name} does not drop all capabilities"


def resource_requests_set(obj: Obj, settings: dict) -> Iterator[str]:
    if not obj.is_model_server or obj.kind == "ServingRuntime":
        return
    for container in obj.containers():
        requests = as_dict(dig(container, "resources", "requests"))
        missing = [r for r in ("cpu", "memory") if r not in requests]
        if missing:
            yield f"container {container.get('name', '?')} has no {' or '.join(missing)} request"


def network_policy_restricts(objects: list[Obj], settings: dict) -> Iterator[tuple[Obj, str]]:
    policies = [o for o in objects if o.kind == "NetworkPolicy" and "Ingress" in as_list(o.spec.get("policyTypes"))]
    for obj in objects:
        if not obj.is_model_server or obj.kind == "ServingRuntime":
            continue
        labels = obj.pod_labels()
        covered = any(
            p.namespace == obj.namespace
            and as_dict(dig(p.spec, "podSelector", "matchLabels")).items() <= labels.items()
            for p in policies
        )
        if not covered:
            yield obj, "no NetworkPolicy restricts ingress to these model pods"


def _has_api_key(obj: Obj) -> bool:
    for container in obj.containers():
        for env in as_list(container.get("env")):
            env = as_dict(env)
            if env.get("name") in ("VLLM_API_KEY", "LLAMA_API_KEY") and dig(env, "valueFrom", "secretKeyRef"):
                return True
        if any(str(a).startswith(("--api-key", "--api-key-file")) for a in as_list(container.get("args"))):
            return True
    return False


def _auth(obj: Obj, production: bool) -> Iterator[str]:
    if obj.kind not in ("ServingRuntime", "Deployment") or not obj.is_model_server:
        return
    if (obj.labels.get("llm-serving/environment") == "production") == production and not _has_api_key(obj):
        yield "model server accepts requests without an API key (set apiKey or apiKeyExistingSecret)"


def api_key_auth_production(obj: Obj, settings: dict) -> Iterator[str]:
    yield from _auth(obj, production=True)


def api_key_auth(obj: Obj, settings: dict) -> Iterator[str]:
    yield from _auth(obj, production=False)
