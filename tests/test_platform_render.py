"""Platform render tier: every upstream chart of the platform layer, pulled from the offline chart
mirror (../shared/charts served on 127.0.0.1) and rendered by the real Helm CLI with exactly the
values the program passes (infra/platform/releases.py). Checks: each renders, each object is valid
(built-in kinds: kubernetes-validate strict; custom kinds: the CRDs these charts install), no image
escapes `platform.imageRegistry`, and every value key we set exists in the chart."""

from __future__ import annotations

import re
import tarfile
from typing import Any

import pytest
import yaml
from k8s_schema import validate_object

from infra.config.platform import PlatformSettings
from infra.platform.releases import Release, releases
from localcp.chart_mirror import chart_archive

pytestmark = pytest.mark.engine
MIRROR = "mirror.internal:5000"
# Every component and every setting that adds values, so every key we can set is rendered.
ALL_ON: dict[str, Any] = {
    "knative": {"install": True},
    "keda": {"httpAddon": True},
    "kserve": {"ingressClassName": "nginx"},
    "gpuOperator": {"driverEnabled": False, "daemonsetTolerations": [{"key": "pool", "operator": "Exists"}]},
}
RELEASE_NAMES = [r.name for r in releases(PlatformSettings.model_validate(ALL_ON))]
# An image reference: [registry[:port]/]path[:tag|@digest], with a tag or digest (what runs).
IMAGE = re.compile(r"(?:^|(?<=[=\s,\"']))([a-z0-9][a-z0-9.-]*(?::[0-9]+)?/[a-z0-9._/-]+(?::\w[\w.-]{0,127}|@sha256:[0-9a-f]{64}))")


def settings(chart_repository: str, **extra: Any) -> PlatformSettings:
    return PlatformSettings.model_validate({**ALL_ON, "chartRepository": chart_repository, **extra})


def render(helm, release: Release) -> list[dict[str, Any]]:
    chart, repository = release.chart_ref
    return helm.template(release.name, chart, version=release.pin.version, namespace=release.namespace,
                         values=release.values, repository=repository)  # fmt: skip


@pytest.fixture(scope="module")
def rendered(chart_mirror, helm) -> dict[str, list[dict[str, Any]]]:
    return {r.name: render(helm, r) for r in releases(settings(chart_mirror.url))}


@pytest.fixture(scope="module")
def rendered_mirrored(chart_mirror, helm) -> dict[str, list[dict[str, Any]]]:
    return {r.name: render(helm, r) for r in releases(settings(chart_mirror.url, imageRegistry=MIRROR))}


def images(objects: list[dict[str, Any]]) -> dict[str, str]:
    """Every image reference anywhere in the objects (container specs, operator env and args,
    ConfigMaps that controllers read images from, GPU Operator ClusterPolicy repositories), by
    the path where it was found. KServe's `_example` ConfigMap keys are documentation only."""
    found: dict[str, str] = {}

    def walk(value: Any, path: str) -> None:
        if isinstance(value, dict):
            for key, child in value.items():
                if key != "_example":
                    walk(child, f"{path}.{key}")
        elif isinstance(value, list):
            for i, child in enumerate(value):
                walk(child, f"{path}[{i}]")
        elif isinstance(value, str):
            for n, match in enumerate(IMAGE.finditer(value)):
                found[f"{path}#{n}"] = match.group(1)
            if path.endswith(".repository") and "/" in value:  # ClusterPolicy: repository + image + version
                found[path] = value

    for obj in objects:
        walk(obj, f"{obj['kind']}/{obj['metadata'].get('name')}")
    return found


def upstream_path(image: str) -> str:
    """The image without its registry host (docker.io's implicit host has none)."""
    first, _, rest = image.partition("/")
    return rest if rest and ("." in first or ":" in first or first == "localhost") else image


@pytest.mark.parametrize("name", RELEASE_NAMES)
def test_platform_chart_renders_from_the_mirror(rendered, name: str) -> None:
    objects = rendered[name]
    assert objects and all(o.get("apiVersion") and o.get("kind") and o["metadata"].get("name") for o in objects)


@pytest.mark.parametrize("name", RELEASE_NAMES)
def test_rendered_platform_objects_are_valid(rendered, name: str) -> None:
    errors = []
    for obj in rendered[name]:
        try:
            validate_object(obj)
        except Exception as err:  # noqa: BLE001 - collect every invalid object, not only the first
            errors.append(f"{obj['kind']}/{obj['metadata']['name']}: {str(err).splitlines()[0]}")
    assert errors == []


@pytest.mark.parametrize("name", RELEASE_NAMES)
def test_no_image_escapes_the_mirror(rendered_mirrored, name: str) -> None:
    escaped = {path: image for path, image in images(rendered_mirrored[name]).items() if not image.startswith(f"{MIRROR}/")}
    assert escaped == {}


@pytest.mark.parametrize("name", RELEASE_NAMES)
def test_mirrored_images_keep_their_upstream_path(rendered, rendered_mirrored, name: str) -> None:
    """One copy rule for the whole mirror: upstream HOST/PATH:TAG is served as MIRROR/PATH:TAG."""
    upstream, mirrored = images(rendered[name]), images(rendered_mirrored[name])
    if name != "kserve-crd":
        assert upstream, "no image found in the upstream render: the scanner would pass anything"
    expected = {path: f"{MIRROR}/{upstream_path(image)}" for path, image in upstream.items()}
    assert mirrored == expected


def _chart_values(release: Release) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """The chart's values.yaml and its vendored subcharts' (by subchart name)."""
    parent: dict[str, Any] = {}
    subcharts: dict[str, dict[str, Any]] = {}
    with tarfile.open(chart_archive(release.pin.chart, release.pin.version)) as archive:
        for member in archive.getmembers():
            parts = member.name.split("/")
            if parts[-1] != "values.yaml":
                continue
            data = yaml.safe_load(archive.extractfile(member).read()) or {}  # type: ignore[union-attr]
            if len(parts) == 2:
                parent = data
            elif len(parts) == 4 and parts[1] == "charts":
                subcharts[parts[2]] = data
    return parent, subcharts


def _leaf_paths(values: dict[str, Any], prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    out = []
    for key, value in values.items():
        path = (*prefix, key)
        out.extend(_leaf_paths(value, path) if isinstance(value, dict) and value else [path])
    return out


def _has(values: Any, path: tuple[str, ...]) -> bool:
    for key in path:
        if not isinstance(values, dict) or key not in values:
            return False
        values = values[key]
    return True


@pytest.mark.parametrize("name", RELEASE_NAMES)
def test_every_value_key_we_set_exists_in_the_chart(name: str) -> None:
    """A key renamed upstream fails here, not silently in a user's cluster (Helm ignores unknown keys)."""
    release = next(r for r in releases(PlatformSettings.model_validate({**ALL_ON, "imageRegistry": MIRROR})) if r.name == name)
    parent, subcharts = _chart_values(release)
    missing = [
        ".".join(path) for path in _leaf_paths(release.values)
        if not _has(parent, path) and not (path[0] in subcharts and _has(subcharts[path[0]], path[1:]))
    ]  # fmt: skip
    assert missing == []
