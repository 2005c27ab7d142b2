"""Prefix-aware routing objects point at things that exist: an InferencePool selects model server
pods and names a picker Service of the stack; an HTTPRoute's InferencePool backend exists."""

from __future__ import annotations

from collections.abc import Iterator

from policies.guardrails.objects import Obj, as_dict, as_list, dig

POOL_GROUP = "inference.networking.k8s.io"


def _selects(selector: dict, labels: dict) -> bool:
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


def pool_selects_model_pods(objects: list[Obj], settings: dict) -> Iterator[tuple[Obj, str]]:
    workloads = [o for o in objects if o.kind in ("Deployment", "InferenceService", "StatefulSet")]
    services = {(o.namespace, o.name) for o in objects if o.kind == "Service"}
    for pool in (o for o in objects if o.kind == "InferencePool"):
        selector = as_dict(dig(pool.spec, "selector", "matchLabels"))
        selected = [w for w in workloads if w.namespace == pool.namespace and _selects(selector, w.pod_labels())]
        if not selected:
            yield pool, f"selector {selector} matches no model server pods of this stack: the picker has nothing to route to"
        pickers = [w.ref for w in selected if w.pod_labels().get("app.kubernetes.io/component") == "endpoint-picker"]
        if pickers:
            yield pool, f"selector {selector} also selects endpoint picker pods ({', '.join(pickers)}): requests would be sent to the picker"
        ref = as_dict(pool.spec.get("endpointPickerRef"))
        if (ref.get("kind") or "Service") == "Service" and (pool.namespace, ref.get("name")) not in services:
            yield pool, f"endpointPickerRef names Service {ref.get('name')!r}, which is not in this stack: the gateway cannot ask it"


def route_backends_exist(objects: list[Obj], settings: dict) -> Iterator[tuple[Obj, str]]:
    pools = {(o.namespace, o.name) for o in objects if o.kind == "InferencePool"}
    for route in (o for o in objects if o.kind == "HTTPRoute"):
        for rule in as_list(route.spec.get("rules")):
            for backend in as_list(as_dict(rule).get("backendRefs")):
                backend = as_dict(backend)
                if backend.get("kind") != "InferencePool" or backend.get("group") != POOL_GROUP:
                    continue
                key = (str(backend.get("namespace") or route.namespace), str(backend.get("name")))
                if key not in pools:
                    yield route, f"backendRef InferencePool {key[0]}/{key[1]} is not in this stack: the gateway answers 500 for this route"
