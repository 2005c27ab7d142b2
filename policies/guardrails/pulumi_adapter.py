"""Guardrails as Pulumi CrossGuard policies. Resources are matched by type token
(`kubernetes:<group>/<version>:<Kind>`); values unknown during preview read as absent, so a check
never fails on what it cannot see yet."""

from __future__ import annotations

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

from policies.guardrails.catalog import GUARDRAILS, Guardrail, default_settings
from policies.guardrails.objects import Obj


def obj_from(resource_type: str, props: Any) -> Obj | None:
    """A kubernetes:... resource's inputs as a Kubernetes object; None for other providers."""
    if not resource_type.startswith("kubernetes:") or not isinstance(props, dict):
        return None
    group_version, _, kind = resource_type.removeprefix("kubernetes:").rpartition(":")
    api_version = group_version.removeprefix("core/")
    return Obj({"apiVersion": api_version, **props, "kind": kind})


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
