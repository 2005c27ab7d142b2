"""One upstream chart release as a Pulumi helm.v4.Chart, and a component's namespace."""

from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s

from infra.platform.releases import Release


def bounded_wait(seconds: int) -> pulumi.ResourceTransform:
    """Give every object of a chart a create/update timeout: the provider's await then fails after
    `seconds` naming the object and what it waited for, instead of its 10-minute default."""
    timeouts = pulumi.CustomTimeouts(create=f"{seconds}s", update=f"{seconds}s")

    def transform(args: pulumi.ResourceTransformArgs) -> pulumi.ResourceTransformResult:
        return pulumi.ResourceTransformResult(args.props, pulumi.ResourceOptions.merge(args.opts, pulumi.ResourceOptions(custom_timeouts=timeouts)))

    return transform


CRD_TYPE = "kubernetes:apiextensions.k8s.io/v1:CustomResourceDefinition"


def adopt_crds(args: pulumi.ResourceTransformArgs) -> pulumi.ResourceTransformResult | None:
    """Force server-side apply on the chart's CRDs, so CRDs another manager applied are taken over
    (pulumi-kubernetes: the `pulumi.com/patchForce` annotation)."""
    if args.type_ != CRD_TYPE:
        return None
    props = dict(args.props)
    metadata = dict(props.get("metadata") or {})
    metadata["annotations"] = {**(metadata.get("annotations") or {}), "pulumi.com/patchForce": "true"}
    props["metadata"] = metadata
    return pulumi.ResourceTransformResult(props, args.opts)


def upstream_chart(resource_name: str, release: Release, namespace: pulumi.Input[str], ready_timeout_seconds: int,
                   opts: pulumi.ResourceOptions, adopt_existing_crds: bool = False) -> k8s.helm.v4.Chart:  # fmt: skip
    chart, repository = release.chart_ref
    return k8s.helm.v4.Chart(
        resource_name,
        k8s.helm.v4.ChartArgs(
            name=release.name,
            chart=chart,
            version=release.pin.version,
            repository_opts=k8s.helm.v4.RepositoryOptsArgs(repo=repository) if repository else None,
            namespace=namespace,
            values=release.values,
        ),
        opts=pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(
            transforms=[bounded_wait(ready_timeout_seconds), *([adopt_crds] if adopt_existing_crds else [])])),
    )


def namespace(resource_name: str, name: str, parent: pulumi.Resource, labels: dict[str, str] | None = None) -> k8s.core.v1.Namespace:
    return k8s.core.v1.Namespace(
        resource_name,
        metadata=k8s.meta.v1.ObjectMetaArgs(name=name, labels=labels),
        opts=pulumi.ResourceOptions(parent=parent),
    )
