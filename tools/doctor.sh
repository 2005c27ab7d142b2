#!/usr/bin/env bash
# Preflight for `make local` / `make test`: every prerequisite and the disk, one line each, so a
# missing tool is reported before the long downloads and builds start. Exit 1 if anything is missing.
set -uo pipefail
cache=${LLM_PLATFORM_CACHE:-$HOME/.cache/llm-platform}
shared=${LLM_PLATFORM_SHARED:-$(cd "$(dirname "$0")/../.." && pwd)/shared}
fail=0
ok() { printf 'ok       %s\n' "$1"; }
bad() { printf 'MISSING  %s\n' "$1" >&2; fail=1; }

python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null \
  && ok "python3 $(python3 -c 'import platform; print(platform.python_version())') (3.11+)" \
  || bad "python3 3.11 or newer (apt-get install python3 python3-venv)"
python3 -c 'import venv, ensurepip' 2>/dev/null && ok "python3 venv module" || bad "python3 venv + ensurepip (apt-get install python3-venv)"
if command -v go >/dev/null; then
  v=$(go env GOVERSION); [[ $(printf '%s\n' 1.25 "${v#go}" | sort -V | head -n 1) == 1.25 ]] && ok "go $v (1.25+: Pulumi, KServe and Kubernetes are built from the Go module proxy)" \
    || bad "go 1.25 or newer, found $v (https://go.dev/dl)"
else
  bad "go 1.25 or newer (https://go.dev/dl): Pulumi, KServe and Kubernetes are built from the Go module proxy"
fi
for tool in cmake:"cmake (apt-get install cmake): builds llama-server" c++:"a C++ compiler (apt-get install g++): builds llama-server" \
  openssl:"openssl (apt-get install openssl): local cluster and webhook certificates" curl:"curl (apt-get install curl)" git:"git" \
  unshare:"unshare (util-linux): gives local processes cluster DNS names through their own /etc/hosts (localcp/hosts.py)"; do
  command -v "${tool%%:*}" >/dev/null && ok "${tool%%:*}" || bad "${tool#*:}"
done
[[ -d $shared/charts && -d $shared/crds ]] && ok "shared charts and CRDs at $shared" \
  || bad "../shared (charts/, crds/, src/) beside the clone, or set LLM_PLATFORM_SHARED"
mkdir -p "$cache"
# Disk for what is not cached yet (a warm cache needs none of it): GB each piece takes when built.
need=1 pieces=()
here=$(cd "$(dirname "$0")" && pwd)
missing=$(bash "$here/toolchain.sh" --missing 2>/dev/null) || missing="(unknown)"
[[ -z $missing ]] || { need=$((need + 10)); pieces+=("Go toolchain ${missing// /,} ~10"); }
bash "$here/vllm-venv.sh" --cached >/dev/null 2>&1 || { need=$((need + 7)); pieces+=("vLLM venv ~7"); }
bash "$here/sglang-venv.sh" --cached >/dev/null 2>&1 || { need=$((need + 1)); pieces+=("SGLang parser venv ~1"); }
bash "$here/llama-server.sh" --cached >/dev/null 2>&1 || { need=$((need + 1)); pieces+=("llama-server ~1"); }
bash "$here/checkov-venv.sh" --cached >/dev/null 2>&1 || { need=$((need + 1)); pieces+=("Checkov venv ~1"); }
what=$( ((${#pieces[@]})) && IFS=';' && echo "to build: ${pieces[*]}" || echo "everything is cached")
free_gb=$(df -Pk "$cache" | awk 'NR==2 {print int($4 / 1048576)}')
((free_gb >= need)) && ok "${free_gb} GB free for $cache (needs ${need} GB: ${what})" \
  || bad "at least ${need} GB free for $cache (${what}), found ${free_gb} GB (set LLM_PLATFORM_CACHE elsewhere)"
exit $fail
