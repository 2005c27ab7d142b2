"""Scale to zero only where something outside the model pods can wake them."""

from __future__ import annotations

from collections.abc import Iterator

from policies.guardrails.objects import Obj, as_list, dig

# KEDA scalers that read the model pods' own metrics cannot see demand at zero replicas.
POD_METRIC_SCALERS = {"prometheus", "metrics-api", "cpu", "memory"}


def scale_to_zero_has_activation(obj: Obj, settings: dict) -> Iterator[str]:
    if obj.kind == "ScaledObject" and obj.spec.get("minReplicaCount") == 0:
        types = {t.get("type") for t in as_list(obj.spec.get("triggers")) if isinstance(t, dict)}
        if types and types <= POD_METRIC_SCALERS:
            yield f"minReplicaCount 0 with only {sorted(types)} triggers: nothing measures demand at zero replicas"
    if obj.kind == "InferenceService" and dig(obj.spec, "predictor", "minReplicas") == 0 and not obj.knative:
        yield "minReplicas 0 outside Knative mode: no activator holds requests while a pod starts"
