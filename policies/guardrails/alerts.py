"""Every alert tells on-call where to start."""

from __future__ import annotations

from collections.abc import Iterator

from policies.guardrails.objects import Obj, as_dict, as_list


def alerts_have_runbook(obj: Obj, settings: dict) -> Iterator[str]:
    if obj.kind != "PrometheusRule":
        return
    for group in as_list(obj.spec.get("groups")):
        for rule in as_list(as_dict(group).get("rules")):
            rule = as_dict(rule)
            if "alert" in rule and not as_dict(rule.get("annotations")).get("runbook_url"):
                yield f"alert {rule['alert']} has no runbook_url annotation"
