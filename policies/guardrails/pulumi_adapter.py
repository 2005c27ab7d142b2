"""Guardrails as Pulumi CrossGuard policies. Resources are matched by type token
(`kubernetes:<group>/<version>:<Kind>`); values unknown during preview read as absent, so a check
never fails on what it cannot see yet."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    PolicyConfigSchema,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)
from pulumi_policy.proxy import UnknownValueError

from policies.guardrails.catalog import GUARDRAILS, Guardrail, default_settings
from policies.guardrails.objects import Obj


def plain(value: Any) -> Any:
    """What the engine hands a policy, as the JSON a manifest would hold.

    Under the real engine pulumi_policy passes `args.props` as read-only proxies (its `_DictProxy`
    and `_ListProxy`: a Mapping and a Sequence, nested values too, not dict/list) and every number as
    a float (`terminationGracePeriodSeconds: 120` arrives as 120.0). Checks are written against
    manifests, so convert: mappings to dicts, sequences to lists, integral floats to ints. Anything
    else (strings, bools) passes through unchanged. A value unknown during preview, which the
    proxies raise UnknownValueError for, becomes UNKNOWN: checks skip what is not a str/int.
    """
    if isinstance(value, Mapping):
        return {k: plain(_item(value, k)) for k in value}
    if isinstance(value, Sequence) and not isinstance(value, (str, bytes)):
        return [plain(_item(value, i)) for i in range(len(value))]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


class _Unknown:
    def __repr__(self) -> str:
        return "<unknown during preview>"


UNKNOWN = _Unknown()


def _item(container: Any, key: Any) -> Any:
    try:
        return container[key]
    except UnknownValueError:
        return UNKNOWN


def obj_from(resource_type: str, props: Any) -> Obj | None:
    """A kubernetes:... resource's inputs as a Kubernetes object; None for other providers."""
    if not resource_type.startswith("kubernetes:") or not isinstance(props, Mapping):
        return None
    group_version, _, kind = resource_type.removeprefix("kubernetes:").rpartition(":")
    api_version = group_version.removeprefix("core/")
    return Obj({"apiVersion": api_version, **plain(props), "kind": kind})


def _settings(args: Any) -> dict:
    config = args.get_config() if hasattr(args, "get_config") else {}
    return {**default_settings(), **(config or {})}


def _resource_validator(guardrail: Guardrail):
    def validate(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
        obj = obj_from(args.resource_type, args.props)
        if obj is None:
            return
        for message in guardrail.check(obj, _settings(args)):  # type: ignore[misc]
            report_violation(f"{obj.ref}: {message}", None)

    return validate


def _stack_validator(guardrail: Guardrail):
    def validate(args: StackValidationArgs, report_violation: ReportViolation) -> None:
        objects = [o for r in args.resources if (o := obj_from(r.resource_type, r.props)) is not None]
        for obj, message in guardrail.stack_check(objects, _settings(args)):  # type: ignore[misc]
            report_violation(f"{obj.ref}: {message}", None)

    return validate


def _config_schema(guardrail: Guardrail) -> PolicyConfigSchema | None:
    if not guardrail.config:
        return None
    return PolicyConfigSchema(properties={k: {"type": t, "default": d} for k, t, d in guardrail.config})


def pulumi_policies() -> list:
    policies = []
    for g in GUARDRAILS:
        level = EnforcementLevel.MANDATORY if g.enforcement == "mandatory" else EnforcementLevel.ADVISORY
        common = dict(name=g.name, description=g.description, enforcement_level=level,
                      config_schema=_config_schema(g), remediation_steps=g.remediation, url=g.url)  # fmt: skip
        if g.check:
            policies.append(ResourceValidationPolicy(validate=_resource_validator(g), **common))
        else:
            policies.append(StackValidationPolicy(validate=_stack_validator(g), **common))
    return policies
