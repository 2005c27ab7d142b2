#!/usr/bin/env bash
# Build (once) a cached virtualenv holding the pinned vLLM release, so the test tier can parse the
# chart's rendered container args with vLLM's own argument parser on a CPU-only machine.
#
#   tools/vllm-venv.sh          build or reuse; prints the venv's python on the last line
#
# vLLM is installed with --no-deps: its GPU kernels (flashinfer, cutlass, ...) are not needed to
# build the parser. Its other Requires-Dist entries are installed with their own version bounds,
# taken from the wheel metadata, so the parser runs against what that release expects.
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
vllm_version=$(cd "$here" && python3 -m infra.versions vllm)
torch_version=$(cd "$here" && python3 -m infra.versions vllm-torch)
cache=${LLM_PLATFORM_CACHE:-$HOME/.cache/llm-platform}
venv="$cache/vllm-venv/vllm-$vllm_version-torch-$torch_version"
stamp="$venv/.complete"

if [[ -f "$stamp" ]]; then
  echo "$venv/bin/python"
  exit 0
fi

# Requirements vLLM lists that only matter on a GPU (kernels, video decoders, CUDA bindings) or
# for features the parser never imports. Everything else in its metadata is installed.
gpu_only='^(torch|torchaudio|torchvision|torchcodec|pynvvideocodec|flashinfer-python|apache-tvm-ffi|tilelang|nvidia-[a-z0-9-]+|nvtx|fastsafetensors|instanttensor|quack-kernels|tokenspeed-mla|humming-kernels|numba|zentorch|opencv-python-headless|mistral-common|depyf)$'

echo "building vLLM $vllm_version parser venv in $venv (one time; torch $torch_version is large)" >&2
rm -rf "$venv"
python3 -m venv "$venv"
py="$venv/bin/python"
"$py" -m pip install --quiet --upgrade pip packaging
"$py" -m pip install --quiet --no-deps "vllm==$vllm_version"

# Requirements whose version floor the package registry mirror cannot meet yet; none of them is
# on the argument parser's import path, so the newest available version is installed instead.
relax='^(certifi)$'

# Turn the wheel's Requires-Dist lines into a requirements file minus the GPU-only entries.
reqs="$venv/vllm-runtime-requirements.txt"
"$py" - "$gpu_only" "$relax" >"$reqs" <<'PY'
import re, sys
from importlib.metadata import requires
from packaging.requirements import Requirement

skip, relax = re.compile(sys.argv[1]), re.compile(sys.argv[2])
for line in requires("vllm") or []:
    req = Requirement(line)
    if req.marker and not req.marker.evaluate({"extra": ""}):
        continue
    if skip.match(req.name.lower().replace("_", "-")):
        continue
    req.marker = None
    if relax.match(req.name.lower()):
        print(f"relaxing {req} to {req.name}", file=sys.stderr)
        req.specifier = type(req.specifier)()
    print(req)
PY
"$py" -m pip install --quiet -r "$reqs" "torch==$torch_version"

# Prove the parser imports before marking the venv complete.
VLLM_TARGET_DEVICE=cpu "$py" -c "
from vllm.entrypoints.common.cli_args import make_arg_parser, validate_parsed_serve_args
from vllm.utils.argparse_utils import FlexibleArgumentParser
make_arg_parser(FlexibleArgumentParser())
"
touch "$stamp"
echo "$py"
