#!/usr/bin/env bash
# Build (once) a cached virtualenv with the pinned SGLang release's server argument parser, so the
# test tier parses the chart's rendered SGLang args with SGLang's own parser on a CPU-only machine.
#
#   tools/sglang-venv.sh        build or reuse; prints the venv's python on the last line
#
# SGLang's full dependency set is CUDA kernels (sgl-kernel, flashinfer) that do not install here.
# sglang.srt.server_args needs only torch, transformers and friends, which the vLLM parser venv
# (tools/vllm-venv.sh) already holds: SGLang is installed with --no-deps and that venv's
# site-packages is appended to its path (a .pth file, searched after its own), plus IPython and
# orjson, which the parser's imports need and the vLLM venv lacks.
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
version=$(cd "$here" && python3 -m infra.versions sglang)
ipython=$(cd "$here" && python3 -m infra.versions sglang-ipython)
orjson=$(cd "$here" && python3 -m infra.versions sglang-orjson)
[[ ${1:-} != --cached ]] || bash "$here/tools/vllm-venv.sh" --cached >/dev/null || exit 1
vllm_python=$(bash "$here/tools/vllm-venv.sh" | tail -n 1)
cache=${LLM_PLATFORM_CACHE:-$HOME/.cache/llm-platform}
venv="$cache/sglang-venv/sglang-$version-$(echo "$vllm_python $ipython $orjson" | sha256sum | cut -c1-8)"
stamp="$venv/.complete"

if [[ -f "$stamp" ]]; then
  [[ ${1:-} != --cached ]] || exit 0
  echo "$venv/bin/python"
  exit 0
fi
[[ ${1:-} != --cached ]] || exit 1
echo "building SGLang $version parser venv in $venv (one time)" >&2
rm -rf "$venv"
python3 -m venv "$venv"
py="$venv/bin/python"
"$py" -m pip install --quiet --no-deps "sglang==$version"
"$py" -m pip install --quiet "ipython==$ipython" "orjson==$orjson"
site=$("$py" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
"$vllm_python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])' >"$site/zz-vllm-parser-venv.pth"
# Prove the parser imports before marking the venv complete.
"$py" -c "
import argparse
from sglang.srt.server_args import ServerArgs
ServerArgs.add_cli_args(argparse.ArgumentParser())
"
touch "$stamp"
echo "$py"
