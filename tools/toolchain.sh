#!/usr/bin/env bash
# Build the local-cluster toolchain from the Go module proxy into a cache keyed by the pins:
#   kube-apiserver, kube-controller-manager, kube-scheduler, kubectl (k8s.io/kubernetes), etcd, kwok.
# Prints the bin directory on the last line. Pins: tools/toolchain.pins.
#
# The Pulumi CLI, pulumi-language-python and pulumi-resource-kubernetes belong here too, but the
# module proxy this project can reach does not serve github.com/pulumi/pulumi/pkg/v3 at the pinned
# version, nor pulumi-kubernetes/provider/v4 or the language host (403 "This module version is not
# available"); see the end-to-end issue's note. They are not built.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=/dev/null
source "$here/toolchain.pins"
key=$(cat "$here/toolchain.pins" "$here/toolchain.sh" | sha256sum | cut -c1-12)
cache=${LLM_PLATFORM_CACHE:-$HOME/.cache/llm-platform}
bin="$cache/toolchain/$key/bin"
if [[ -x "$bin/kube-apiserver" && -x "$bin/kube-controller-manager" && -x "$bin/kube-scheduler" && -x "$bin/kubectl" && -x "$bin/etcd" && -x "$bin/kwok" && -d "$bin/../kwok-stages" ]]; then
  echo "$bin"
  exit 0
fi
command -v go >/dev/null || { echo "go is required" >&2; exit 1; }
mkdir -p "$bin"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export GOFLAGS=-mod=mod CGO_ENABLED=0

wrapper() {  # wrapper DIR: a module that only requires what it builds
  mkdir -p "$1" && (cd "$1" && go mod init "local/$(basename "$1")" >/dev/null 2>&1)
}

build_kubernetes() {
  local dir="$work/kubernetes" minor=${KUBERNETES_VERSION#v1.}
  minor=${minor%%.*}
  wrapper "$dir"
  (
    cd "$dir"
    # k8s.io/kubernetes replaces each staging module with ./staging/...; map them to releases.
    for m in $KUBERNETES_STAGING; do
      go mod edit -replace "k8s.io/$m=k8s.io/$m@v0.${KUBERNETES_VERSION#v1.}"
    done
    go get "k8s.io/kubernetes@$KUBERNETES_VERSION" >/dev/null
    local pkg=k8s.io/component-base/version
    local flags="-s -w -X $pkg.gitVersion=$KUBERNETES_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor -X $pkg.gitTreeState=clean"
    for cmd in kube-apiserver kube-controller-manager kube-scheduler kubectl; do
      go build -trimpath -ldflags "$flags" -o "$bin/$cmd" "k8s.io/kubernetes/cmd/$cmd"
    done
  )
}

build_etcd() {
  local dir="$work/etcd"
  wrapper "$dir"
  cat >"$dir/main.go" <<'GO'
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
GO
  (cd "$dir" && go get "go.etcd.io/etcd/server/v3@$ETCD_VERSION" >/dev/null && go mod tidy >/dev/null \
    && go build -trimpath -ldflags "-s -w" -o "$bin/etcd" .)
}

build_kwok() {
  local dir="$work/kwok"
  wrapper "$dir"
  (cd "$dir" && go get "sigs.k8s.io/kwok@$KWOK_VERSION" >/dev/null \
    && go build -trimpath -ldflags "-s -w" -o "$bin/kwok" sigs.k8s.io/kwok/cmd/kwok)
  # kwok's upstream "fast" stages (node ready + heartbeat, pod ready/complete/delete), shipped in
  # its module: the kwok binary does nothing without stages.
  local stages="$bin/../kwok-stages" src
  src="$(go env GOMODCACHE)/sigs.k8s.io/kwok@$KWOK_VERSION/kustomize/stage"
  mkdir -p "$stages"
  cp "$src/node/fast/node-initialize.yaml" "$src/node/heartbeat/node-heartbeat.yaml" \
    "$src/pod/fast/pod-ready.yaml" "$src/pod/fast/pod-complete.yaml" "$src/pod/fast/pod-delete.yaml" "$stages/"
}

start=$(date +%s)
build_etcd
echo "etcd built in $(($(date +%s) - start))s" >&2
build_kwok
echo "etcd+kwok built in $(($(date +%s) - start))s" >&2
build_kubernetes
echo "toolchain built in $(($(date +%s) - start))s into $bin" >&2
echo "$bin"
