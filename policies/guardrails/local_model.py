"""Node-cached weights (KServe LocalModelCache) fit their node group and are used where they are:
the caches of a group fit its storage limit together, and a cached model's pods are scheduled on
the group's nodes (the volume's node affinity). KServe checks neither (v0.20: modelSize and
storageLimit are never read; no node affinity is added to the pods)."""

from __future__ import annotations

from collections.abc import Iterator

from infra.quantity import parse_quantity
from policies.guardrails.objects import Obj, as_dict, as_list, dig


def _groups(objects: list[Obj]) -> dict[str, Obj]:
    return {o.name: o for o in objects if o.kind == "LocalModelNodeGroup"}


def _bytes(value: object) -> float | None:
    try:
        return float(parse_quantity(str(value)))
    except (ValueError, TypeError):
        return None


def caches_fit_node_group(objects: list[Obj], settings: dict) -> Iterator[tuple[Obj, str]]:
    groups, used = _groups(objects), {}
    for cache in sorted((o for o in objects if o.kind == "LocalModelCache"), key=lambda o: o.name):
        size = _bytes(cache.spec.get("modelSize"))
        for name in as_list(cache.spec.get("nodeGroups")):
            group = groups.get(str(name))
            limit = _bytes(dig(group.spec, "storageLimit")) if group else None
            if size is None or limit is None:
                continue  # the group is not in this stack (installed elsewhere): nothing to compare
            used[name] = used.get(name, 0.0) + size
            if used[name] > limit:
                yield cache, (f"node group {name} holds {used[name] / 2**30:.1f} GiB of cached models with this one, "
                              f"over its storageLimit {dig(group.spec, 'storageLimit')}: downloads fail when the disk fills")  # fmt: skip


def _group_selector(group: Obj) -> dict[str, str]:
    terms = as_list(dig(group.spec, "persistentVolumeSpec", "nodeAffinity", "required", "nodeSelectorTerms"))
    out = {}
    for term in terms[:1]:
        for expr in as_list(as_dict(term).get("matchExpressions")):
            expr = as_dict(expr)
            values = as_list(expr.get("values"))
            if expr.get("operator") == "In" and len(values) == 1:
                out[str(expr.get("key"))] = str(values[0])
    return out


def cached_model_on_group_nodes(objects: list[Obj], settings: dict) -> Iterator[tuple[Obj, str]]:
    groups = _groups(objects)
    for isvc in (o for o in objects if o.kind == "InferenceService"):
        name = dig(isvc.raw, "metadata", "annotations", "serving.kserve.io/nodegroup")
        group = groups.get(str(name)) if name else None
        if group is None:
            continue
        wanted, selector = _group_selector(group), as_dict(dig(isvc.spec, "predictor", "nodeSelector"))
        missing = {k: v for k, v in wanted.items() if selector.get(k) != v}
        if missing:
            yield isvc, (f"uses node group {name}'s cache but its nodeSelector {selector} does not pin it to the group's "
                         f"nodes {wanted}: a pod elsewhere finds no cached copy")  # fmt: skip
