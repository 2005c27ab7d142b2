"""Scale to zero only where something outside the model pods can wake them."""

from __future__ import annotations

from collections.abc import Iterator

from policies.guardrails.objects import Obj, as_dict, as_list, dig

# KEDA scalers that read the model pods' own metrics cannot see demand at zero replicas.
POD_METRIC_SCALERS = {"prometheus", "metrics-api", "cpu", "memory"}


def _target(obj: Obj) -> tuple[str, str]:
    return obj.namespace, str(dig(obj.spec, "scaleTargetRef", "name") or "")


def _wake_problem(scaled: Obj, http_scaled: dict[tuple[str, str], Obj]) -> str | None:
    """Why this minReplicaCount-0 ScaledObject has nothing that sees demand at zero, or None."""
    triggers = [as_dict(t) for t in as_list(scaled.spec.get("triggers"))]
    for trigger in triggers:
        named = dig(trigger, "metadata", "httpScaledObject")
        if trigger.get("type") == "external-push" and named:
            # The KEDA HTTP add-on: its interceptor holds requests for the HTTPScaledObject's
            # target while KEDA scales it from zero; it must route to this same Deployment.
            wake = http_scaled.get((scaled.namespace, str(named)))
            if wake is None:
                return f"the external-push trigger names HTTPScaledObject {named}, which is not in this stack"
            if _target(wake) != _target(scaled):
                return f"HTTPScaledObject {named} wakes {_target(wake)[1]}, not this ScaledObject's {_target(scaled)[1]}"
            return None
    types = {str(t.get("type")) for t in triggers}
    if types and types <= POD_METRIC_SCALERS:
        return f"minReplicaCount 0 with only {sorted(types)} triggers: nothing measures demand at zero replicas"
    return None


def scale_to_zero_has_activation(objects: list[Obj], settings: dict) -> Iterator[tuple[Obj, str]]:
    http_scaled = {(o.namespace, o.name): o for o in objects if o.kind == "HTTPScaledObject"}
    woken: set[tuple[str, str]] = set()
    for scaled in (o for o in objects if o.kind == "ScaledObject"):
        if scaled.spec.get("minReplicaCount") != 0:
            continue
        problem = _wake_problem(scaled, http_scaled)
        if problem:
            yield scaled, problem
        else:
            woken.add(_target(scaled))
    for isvc in (o for o in objects if o.kind == "InferenceService"):
        # KServe names the predictor Deployment of a Standard-mode InferenceService <name>-predictor.
        if dig(isvc.spec, "predictor", "minReplicas") == 0 and not isvc.knative and (isvc.namespace, f"{isvc.name}-predictor") not in woken:
            yield isvc, ("minReplicas 0 outside Knative mode and no KEDA ScaledObject with a wake trigger (the "
                         "HTTP add-on's external-push) targets its predictor: nothing holds requests while a pod starts")
