"""CRDs for a cluster that "already has the platform": taken from the pinned platform charts in the
mirror (rendered by the real Helm with the values the program passes, `--include-crds`), not from a
second copy, so what the model layer is checked against is what the platform layer installs.
Cached by the mirror's index and the toolchain pins under ~/.cache/llm-platform/crds-<key>/."""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

import yaml

from infra.config.platform import PlatformSettings
from infra.platform.releases import releases
from localcp.chart_mirror import chart_archive, charts_dir
from localcp.helm import Helm
from localcp.toolchain import bin_dir, pin

# Every component on, so every CRD a stack can need is there (Knative operator, HTTP add-on too).
ALL_COMPONENTS = {"knative": {"install": True}, "keda": {"httpAddon": True}}


def cache_root() -> Path:
    return Path(os.environ.get("LLM_PLATFORM_CACHE", Path.home() / ".cache" / "llm-platform"))


def platform_crds_dir() -> Path:
    """A directory with one YAML file per CRD of the platform charts (rendered once, then cached)."""
    charts = charts_dir()
    settings = PlatformSettings.model_validate(ALL_COMPONENTS)
    chosen = releases(settings)
    inference = (pin("GIE_VERSION"), pin("GATEWAY_API_VERSION"), "localmodel", pin("KSERVE_VERSION"))
    key = hashlib.sha256(
        (charts / "index.yaml").read_bytes() + repr([(r.pin_name, r.pin.version, r.values) for r in chosen]).encode()
        + repr(inference).encode()
    ).hexdigest()[:12]
    out = cache_root() / f"crds-{key}"
    if (out / ".complete").exists():
        return out
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as state:
        helm = Helm(Path(state))
        for release in chosen:
            archive = chart_archive(release.pin.chart, release.pin.version, charts)
            objects = helm.template(release.name, str(archive), version=release.pin.version,
                                    namespace=release.namespace, values=release.values)  # fmt: skip
            for obj in objects:
                if obj.get("kind") == "CustomResourceDefinition":
                    (out / f"{obj['metadata']['name']}.yaml").write_text(yaml.safe_dump(obj, sort_keys=False))
    # The inference gateway's CRDs (platform.inferenceGateway: Gateway API standard channel and
    # InferencePool) come from their releases' manifests, not a chart: the toolchain's copies of them.
    for manifest in sorted((bin_dir("gie") / "inference-crds").glob("*.yaml")):
        for obj in yaml.safe_load_all(manifest.read_text()):
            if obj and obj.get("kind") == "CustomResourceDefinition":
                (out / f"{obj['metadata']['name']}.yaml").write_text(yaml.safe_dump(obj, sort_keys=False))
    # KServe's local model cache CRDs (platform.kserve.localModel) ship in kserve-localmodel-crd,
    # which ../shared/charts lacks: the same files from the pinned release's Go module.
    from localcp.kserve import local_model_crds

    for obj in local_model_crds():
        (out / f"{obj['metadata']['name']}.yaml").write_text(yaml.safe_dump(obj, sort_keys=False))
    (out / ".complete").write_text("")
    return out


def crds_dir() -> Path:
    """$LLM_PLATFORM_CRD_DIR if set, else the platform charts' CRDs (what the cluster and the schema
    tier both load)."""
    override = os.environ.get("LLM_PLATFORM_CRD_DIR")
    return Path(override) if override else platform_crds_dir()
