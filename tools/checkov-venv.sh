#!/usr/bin/env bash
# Build (once) a cached virtualenv with the pinned Checkov, for the linter tier
# (tests/test_linters_engine.py). Its own venv: Checkov pins dependencies the project's venv does
# not share.
#
#   tools/checkov-venv.sh            build or reuse; prints the checkov executable on the last line
#   tools/checkov-venv.sh --cached   exit 0 if built, 1 if not (builds nothing)
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
version=$(cd "$here" && python3 -m infra.versions checkov)
cache=${LLM_PLATFORM_CACHE:-$HOME/.cache/llm-platform}
venv="$cache/checkov-venv/checkov-$version"
if [[ -f "$venv/.complete" ]]; then
  [[ ${1:-} != --cached ]] || exit 0
  echo "$venv/bin/checkov"
  exit 0
fi
[[ ${1:-} != --cached ]] || exit 1
echo "building Checkov $version venv in $venv (one time)" >&2
rm -rf "$venv"
python3 -m venv "$venv"
"$venv/bin/python" -m pip install --quiet "checkov==$version"
"$venv/bin/checkov" --version >&2
touch "$venv/.complete"
echo "$venv/bin/checkov"
