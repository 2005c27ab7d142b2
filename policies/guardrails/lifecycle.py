"""Lifecycle of LLM pods: long grace periods, rollouts that keep capacity, probes that wait for
the model to load."""

from __future__ import annotations

from collections.abc import Iterator

from policies.guardrails.objects import Obj, as_dict, dig


def termination_grace_period(obj: Obj, settings: dict) -> Iterator[str]:
    minimum = int(settings["minTerminationGraceSeconds"])
    if not obj.is_model_server or obj.kind == "ServingRuntime":
        return
    value = (obj.pod_spec() or {}).get("terminationGracePeriodSeconds", 30)
    if isinstance(value, int) and value < minimum:
        yield f"terminationGracePeriodSeconds is {value}, below {minimum}: in-flight completions are cut off"


def rollout_keeps_capacity(obj: Obj, settings: dict) -> Iterator[str]:
    if not obj.is_model_server or obj.knative:
        return
    if obj.kind == "Deployment":
        strategy = as_dict(obj.spec.get("strategy"))
    elif obj.kind == "InferenceService":
        strategy = as_dict(dig(obj.spec, "predictor", "deploymentStrategy"))
    else:
        return
    if strategy.get("type") == "Recreate":
        return
    unavailable = dig(strategy, "rollingUpdate", "maxUnavailable")
    if unavailable not in (0, "0", "0%"):
        yield f"rolling update maxUnavailable is {unavailable if unavailable is not None else 'unset (25%)'}; set 0, or declare Recreate"


def probes_present(obj: Obj, settings: dict) -> Iterator[str]:
    if obj.kind not in ("ServingRuntime", "Deployment") or not obj.is_model_server:
        return
    for container in obj.containers():
        name = container.get("name", "?")
        if not isinstance(container.get("readinessProbe"), dict):
            yield f"container {name} has no readinessProbe: traffic reaches it before the model loads"
        liveness = as_dict(container.get("livenessProbe"))
        if not isinstance(container.get("startupProbe"), dict) and liveness and not liveness.get("initialDelaySeconds"):
            yield f"container {name} has a livenessProbe but no startupProbe: it is killed while weights load"
