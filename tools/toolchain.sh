#!/usr/bin/env bash
# Build the local control plane's binaries from the Go module proxy into caches keyed by the pins.
#
#   tools/toolchain.sh [COMPONENT...]     default: every component the tests use
#   tools/toolchain.sh --missing          list the default components not cached yet (builds nothing)
#
# Components (each cached on its own under ~/.cache/llm-platform/toolchain/<component>-<key>/bin,
# where <key> hashes that component's pins and build function, so bumping one pin rebuilds one
# component):
#   kube     kube-apiserver, kube-controller-manager, kube-scheduler, kubectl, etcd, kwok (+ its
#            upstream stages in bin/kwok-stages)
#   pulumi   pulumi CLI, pulumi-language-python (+ exec shim), pulumi-resource-kubernetes
#   kserve   KServe controller manager (controllers + webhooks)
#   helm     Helm CLI (render tier, Helm-only install path)
#   certmanager  cert-manager's admission webhook (tools/go/cert-manager-webhook)
#   keda     KEDA operator, metrics API server (adapter) and admission webhooks
#   prometheus  Prometheus server and promtool (the release kube-prometheus-stack runs)
#   kedahttp KEDA HTTP add-on: interceptor, external scaler, operator (listeners bound to loopback)
#   kubescore  kube-score, run by the linter tier over every rendered object
#   knative  Knative Serving's Service validation as a CLI (tools/go/knative-validate) + the
#            serving.knative.dev CRDs of that release (bin/knative-serving-crds)
#   kservelocal  KServe's local-model controller (cmd/localmodel: LocalModelCache reconciler + its
#            validating webhook) and node agent (cmd/localmodelnode), listeners bound to loopback
#   gie      Gateway API Inference Extension: the endpoint picker (epp, listeners on loopback),
#            our stand-in gateway (tools/go/inference-gateway) and the InferencePool + Gateway API
#            standard CRDs (bin/inference-crds)
# Components that are not cached yet are built in parallel (downloads overlap compiles).
# Prints one bin directory on the last line: symlinks to every requested component's binaries.
# Pins: tools/toolchain.pins.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=/dev/null
source "$here/toolchain.pins"
cache=${LLM_PLATFORM_CACHE:-$HOME/.cache/llm-platform}
shared=${LLM_PLATFORM_SHARED:-$here/../../shared}
all_components=(kube pulumi kserve helm certmanager keda kedahttp prometheus knative kubescore gie kservelocal)
# Built by default (`make toolchain`): what the tests use.
default_components=(kube pulumi kserve helm certmanager keda kedahttp prometheus knative kubescore gie kservelocal)
list_missing=false
[[ ${1:-} != --missing ]] || { list_missing=true; shift; }
components=("$@")
((${#components[@]})) || components=("${default_components[@]}")

# What each component builds (checked before and after a build) and which pins it depends on.
declare -A outputs=(
  [kube]="kube-apiserver kube-controller-manager kube-scheduler kubectl etcd kwok"
  [pulumi]="pulumi pulumi-language-python pulumi-language-python-exec pulumi-resource-kubernetes"
  [kserve]="kserve-manager"
  [helm]="helm"
  [certmanager]="cert-manager-webhook"
  [keda]="keda-operator keda-adapter keda-webhooks"
  [kedahttp]="keda-http-interceptor keda-http-scaler keda-http-operator"
  [prometheus]="prometheus promtool"
  [knative]="knative-validate"
  [kubescore]="kube-score"
  [gie]="epp inference-gateway"
  [kservelocal]="kserve-localmodel-controller kserve-localmodelnode-agent"
)
declare -A pins=(
  [kube]="KUBERNETES_VERSION ETCD_VERSION KWOK_VERSION KUBERNETES_STAGING"
  [pulumi]="PULUMI_VERSION PULUMI_CLIPBOARD_REPLACE PULUMI_KUBERNETES_PROVIDER_MODULE PULUMI_KUBERNETES_VERSION"
  [kserve]="KSERVE_VERSION"
  [helm]="HELM_VERSION"
  [certmanager]="CERT_MANAGER_VERSION"
  [keda]="KEDA_VERSION"
  [kedahttp]="KEDA_HTTP_ADDON_VERSION"
  [prometheus]="PROMETHEUS_MODULE_VERSION"
  [knative]="KNATIVE_SERVING_MODULE_VERSION"
  [kubescore]="KUBE_SCORE_VERSION"
  [gie]="GIE_VERSION GATEWAY_API_VERSION"
  [kservelocal]="KSERVE_VERSION"
)

key_of() {  # key_of COMPONENT: hash of its pin values and of its build function's text
  local c=$1 v
  {
    for v in ${pins[$c]}; do echo "$v=${!v}"; done
    declare -f "build_$c"
    [[ $c != pulumi ]] || sha256sum "$shared/src/pulumi-language-python/main.go" | cut -c1-64
    [[ $c != certmanager ]] || sha256sum "$here/go/cert-manager-webhook/main.go" | cut -c1-64
    [[ $c != knative ]] || sha256sum "$here/go/knative-validate/main.go" | cut -c1-64
    [[ $c != gie ]] || sha256sum "$here/go/inference-gateway/main.go" | cut -c1-64
    [[ $c != kserve && $c != kservelocal ]] || declare -f kserve_main
  } | sha256sum | cut -c1-12
}
dir_of() { echo "$cache/toolchain/$1-$(key_of "$1")"; }
built() {  # built COMPONENT: every output present
  local d b
  d=$(dir_of "$1")
  for b in ${outputs[$1]}; do [[ -x $d/bin/$b ]] || return 1; done
}

wrapper() {  # wrapper DIR: a module that only requires what it builds
  mkdir -p "$1" && (cd "$1" && go mod init "local/$(basename "$1")" >/dev/null 2>&1)
}

copy_replaces() {  # copy_replaces MODULE VERSION (in a wrapper): apply MODULE's non-local replaces
  local gomod
  gomod=$(go mod download -json "$1@$2" | python3 -c 'import json, sys; print(json.load(sys.stdin)["GoMod"])')
  go mod edit -json "$gomod" | python3 -c '
import json, sys
for r in json.load(sys.stdin).get("Replace") or []:
    old, new = r["Old"], r["New"]
    if new["Path"].startswith((".", "/")):
        continue  # a path inside that repository: the wrapper requires the released module instead
    lhs = old["Path"] + ("@" + old["Version"] if old.get("Version") else "")
    print(lhs + "=" + new["Path"] + "@" + new["Version"])' | while read -r r; do go mod edit -replace "$r"; done
}

build_kube() {  # build_kube OUT
  local out=$1 dir="$work/kubernetes" minor=${KUBERNETES_VERSION#v1.}
  minor=${minor%%.*}
  wrapper "$work/etcd"
  cat >"$work/etcd/main.go" <<'GO'
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
GO
  (cd "$work/etcd" && go get "go.etcd.io/etcd/server/v3@$ETCD_VERSION" >/dev/null && go mod tidy >/dev/null \
    && go build -trimpath -ldflags "-s -w" -o "$out/bin/etcd" .)
  wrapper "$work/kwok"
  (cd "$work/kwok" && go get "sigs.k8s.io/kwok@$KWOK_VERSION" >/dev/null \
    && go build -trimpath -ldflags "-s -w" -o "$out/bin/kwok" sigs.k8s.io/kwok/cmd/kwok)
  # kwok's upstream "fast" stages (node ready + heartbeat, pod ready/complete/delete), shipped in
  # its module: the kwok binary does nothing without stages.
  local src
  src="$(go env GOMODCACHE)/sigs.k8s.io/kwok@$KWOK_VERSION/kustomize/stage"
  mkdir -p "$out/bin/kwok-stages"
  cp "$src/node/fast/node-initialize.yaml" "$src/node/heartbeat/node-heartbeat.yaml" \
    "$src/pod/fast/pod-ready.yaml" "$src/pod/fast/pod-complete.yaml" "$src/pod/fast/pod-delete.yaml" "$out/bin/kwok-stages/"
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
      go build -trimpath -ldflags "$flags" -o "$out/bin/$cmd" "k8s.io/kubernetes/cmd/$cmd"
    done
  )
}

build_pulumi() {  # build_pulumi OUT
  local out=$1 dir="$work/pulumi" src="$shared/src/pulumi-language-python"
  [[ -f $src/main.go ]] || { echo "Pulumi language host source not found at $src (set LLM_PLATFORM_SHARED)" >&2; return 1; }
  # One wrapper module for the CLI and the language host: pkg/v3's go.mod replaces sdk/v3 with
  # ../sdk (dropped: sdk/v3 is required at the same release) and atotto/clipboard (copied here).
  # The language host's main.go is built as its own module path, from ../shared at build time.
  mkdir -p "$dir/pulumi-language-python"
  cat >"$dir/go.mod" <<EOF
module github.com/pulumi/pulumi/sdk/python/cmd/pulumi-language-python/v3

go 1.25
EOF
  cp "$src/main.go" "$dir/pulumi-language-python/main.go"
  (
    cd "$dir"
    go mod edit -replace "$PULUMI_CLIPBOARD_REPLACE"
    go get "github.com/pulumi/pulumi/pkg/v3@$PULUMI_VERSION" "github.com/pulumi/pulumi/sdk/v3@$PULUMI_VERSION" >/dev/null
    go get "github.com/pulumi/pulumi/pkg/v3/cmd/pulumi@$PULUMI_VERSION" >/dev/null
    go mod tidy >/dev/null
    local flags="-s -w -X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=$PULUMI_VERSION"
    go build -trimpath -ldflags "$flags" -o "$out/bin/pulumi" github.com/pulumi/pulumi/pkg/v3/cmd/pulumi
    go build -trimpath -ldflags "$flags" -o "$out/bin/pulumi-language-python" ./pulumi-language-python
  )
  install -m 0755 "$src/pulumi-language-python-exec" "$out/bin/pulumi-language-python-exec"
  # The Kubernetes provider: main.go embeds schema-embed.json and terraform-mapping-embed.json,
  # which the module zip lacks; generate them from schema.json/terraform-mapping.json with the
  # module's own generate.go (schema `version` set), as its `go generate` does.
  local pdir="$work/pulumi-kubernetes" mod="github.com/pulumi/pulumi-kubernetes/provider/v4"
  wrapper "$pdir"
  (
    cd "$pdir"
    go mod edit -replace "$PULUMI_CLIPBOARD_REPLACE"
    go get "$mod@$PULUMI_KUBERNETES_PROVIDER_MODULE" "github.com/pulumi/pulumi-kubernetes/sdk/v4@v$PULUMI_KUBERNETES_VERSION" >/dev/null
    local msrc
    msrc="$(go env GOMODCACHE)/$mod@$PULUMI_KUBERNETES_PROVIDER_MODULE/cmd/pulumi-resource-kubernetes"
    cp "$msrc/main.go" "$msrc/generate.go" "$msrc/schema.json" "$msrc/terraform-mapping.json" .
    chmod u+w ./*
    go mod tidy >/dev/null
    VERSION=$PULUMI_KUBERNETES_VERSION go run ./generate.go
    go build -trimpath -ldflags "-s -w -X $mod/pkg/version.Version=$PULUMI_KUBERNETES_VERSION" \
      -o "$out/bin/pulumi-resource-kubernetes" main.go
  )
}

kserve_main() {  # kserve_main OUT CMD BINARY: one main package of KServe, webhook server on loopback
  local out=$1 cmd=$2 binary=$3 dir="$work/kserve-$2" src
  wrapper "$dir"
  (
    cd "$dir"
    copy_replaces github.com/kserve/kserve "$KSERVE_VERSION"
    go get "github.com/kserve/kserve@$KSERVE_VERSION" >/dev/null
    # cmd/manager and cmd/localmodel give their webhook server only a port (webhook.Options{Port}),
    # so it would listen on every interface; build their main.go here with Host 127.0.0.1 added.
    src="$(go env GOMODCACHE)/github.com/kserve/kserve@$KSERVE_VERSION/cmd/$cmd/main.go"
    sed 's/webhook.NewServer(webhook.Options{/webhook.NewServer(webhook.Options{Host: "127.0.0.1",/' "$src" >main.go
    grep -q 'Host: "127.0.0.1"' main.go || { echo "cmd/$cmd/main.go: webhook.Options not found to patch" >&2; exit 1; }
    go mod tidy >/dev/null
    go build -trimpath -ldflags "-s -w" -o "$out/bin/$binary" .
  )
}
build_kserve() { kserve_main "$1" manager kserve-manager; }  # every controller and webhook of KServe
build_kservelocal() {  # build_kservelocal OUT: the local-model controller (+ webhook) and node agent
  kserve_main "$1" localmodel kserve-localmodel-controller
  local out=$1 dir="$work/kserve-localmodelnode"
  wrapper "$dir"
  (
    cd "$dir"
    copy_replaces github.com/kserve/kserve "$KSERVE_VERSION"
    go get "github.com/kserve/kserve@$KSERVE_VERSION" >/dev/null
    # cmd/localmodelnode fixes its metrics and probe listeners at ":8080" and ":8081" (no flags):
    # bind both to a free loopback port instead.
    sed -e 's/metricsAddr:          ":8080"/metricsAddr:          "127.0.0.1:0"/' -e 's/probeAddr:            ":8081"/probeAddr:            "127.0.0.1:0"/' \
      "$(go env GOMODCACHE)/github.com/kserve/kserve@$KSERVE_VERSION/cmd/localmodelnode/main.go" >main.go
    [[ $(grep -c '"127.0.0.1:0"' main.go) -eq 2 ]] || { echo "cmd/localmodelnode/main.go: listeners not found to patch" >&2; exit 1; }
    go mod tidy >/dev/null
    go build -trimpath -ldflags "-s -w" -o "$out/bin/kserve-localmodelnode-agent" .
  )
}

build_helm() {  # build_helm OUT: the Helm CLI (its go.mod has no replaces)
  local out=$1 dir="$work/helm"
  wrapper "$dir"
  (
    cd "$dir"
    go get "helm.sh/helm/v4/cmd/helm@$HELM_VERSION" >/dev/null
    go build -trimpath -ldflags "-s -w -X helm.sh/helm/v4/internal/version.version=$HELM_VERSION" \
      -o "$out/bin/helm" helm.sh/helm/v4/cmd/helm
  )
}

build_kubescore() {  # build_kubescore OUT: kube-score, the linter tier's Kubernetes object checker (no replaces)
  local out=$1 dir="$work/kubescore"
  wrapper "$dir"
  (
    cd "$dir"
    go get "github.com/zegl/kube-score/cmd/kube-score@$KUBE_SCORE_VERSION" >/dev/null
    go build -trimpath -ldflags "-s -w -X main.version=$KUBE_SCORE_VERSION" -o "$out/bin/kube-score" github.com/zegl/kube-score/cmd/kube-score
  )
}

build_certmanager() {  # build_certmanager OUT: cert-manager's webhook server, our main (tools/go)
  local out=$1 dir="$work/certmanager/cmd/llm-platform-webhook" server
  mkdir -p "$dir" && cp "$here/go/cert-manager-webhook/main.go" "$dir/"
  (
    cd "$dir"
    # Under cert-manager's import path, so its internal/ packages are importable (the upstream
    # cmd/webhook is a nested module the proxy does not serve).
    go mod init github.com/cert-manager/cert-manager/cmd/llm-platform-webhook >/dev/null 2>&1
    copy_replaces github.com/cert-manager/cert-manager "$CERT_MANAGER_VERSION"
    go get "github.com/cert-manager/cert-manager@$CERT_MANAGER_VERSION" >/dev/null
    go mod tidy >/dev/null
    # pkg/webhook/server listens on every interface (webhook.Options without Host, healthz on
    # ":port"); vendor it and bind 127.0.0.1 instead.
    go mod vendor
    server=vendor/github.com/cert-manager/cert-manager/pkg/webhook/server/server.go
    sed -i -e 's/webhookOpts := webhook.Options{/webhookOpts := webhook.Options{Host: "127.0.0.1",/' \
      -e 's/fmt.Sprintf(":%d", \*s.HealthzAddr)/fmt.Sprintf("127.0.0.1:%d", *s.HealthzAddr)/' "$server"
    [[ $(grep -c '127.0.0.1' "$server") -ge 3 ]] || { echo "$server: listeners not found to patch" >&2; exit 1; }
    go build -mod=vendor -trimpath -ldflags "-s -w" -o "$out/bin/cert-manager-webhook" .
  )
}

build_keda() {  # build_keda OUT: operator, adapter (external metrics API server), webhooks
  local out=$1 dir="$work/keda" c
  wrapper "$dir"
  (
    cd "$dir"
    copy_replaces github.com/kedacore/keda/v2 "$KEDA_VERSION"
    go get "github.com/kedacore/keda/v2@$KEDA_VERSION" >/dev/null
    # cmd/adapter serves its own /metrics on ":<--port>" (every interface; RunMetricsServer):
    # build its main.go here bound to 127.0.0.1 (loopback only). Its other listeners take flags.
    mkdir -p adapter
    sed 's/metricsBindAddress := fmt.Sprintf(":%v", metricsAPIServerPort)/metricsBindAddress := fmt.Sprintf("127.0.0.1:%v", metricsAPIServerPort)/' \
      "$(go env GOMODCACHE)/github.com/kedacore/keda/v2@$KEDA_VERSION/cmd/adapter/main.go" >adapter/main.go
    grep -q '"127.0.0.1:%v", metricsAPIServerPort' adapter/main.go || { echo "cmd/adapter/main.go: metrics listener not found to patch" >&2; exit 1; }
    go mod tidy >/dev/null
    go build -trimpath -ldflags "-s -w" -o "$out/bin/keda-adapter" ./adapter
    for c in operator webhooks; do
      go build -trimpath -ldflags "-s -w" -o "$out/bin/keda-$c" "github.com/kedacore/keda/v2/cmd/$c"
    done
  )
}

build_kedahttp() {  # build_kedahttp OUT: the HTTP add-on's interceptor, scaler and operator
  local out=$1 dir="$work/kedahttp" c f mod
  wrapper "$dir"
  (
    cd "$dir"
    copy_replaces github.com/kedacore/http-add-on "$KEDA_HTTP_ADDON_VERSION"
    go get "github.com/kedacore/http-add-on@$KEDA_HTTP_ADDON_VERSION" >/dev/null
    mod="$(go env GOMODCACHE)/github.com/kedacore/http-add-on@$KEDA_HTTP_ADDON_VERSION"
    # The interceptor (proxy, admin, metrics) and the scaler (gRPC) listen on "0.0.0.0:%d" with
    # only the port configurable (interceptor/main.go runAdminServer/runMetricsServer/
    # runProxyServer, scaler/main.go startGrpcServer): build their package main here with those
    # listeners on a loopback address, $LOCALCP_BIND_HOST or 127.0.0.1 (the harness gives the
    # add-on an address of its own). The operator's listeners take flags.
    for c in interceptor scaler; do
      mkdir -p "$c"
      for f in "$mod/$c"/*.go; do
        [[ $f == *_test.go ]] && continue
        sed 's/"0\.0\.0\.0:%d"/localcpBindHost()+":%d"/' "$f" >"$c/$(basename "$f")"
      done
      printf '%s\n' 'package main' 'import "os"' \
        '// localcpBindHost: the loopback address listeners bind (llm-platform harness build).' \
        'func localcpBindHost() string { if h := os.Getenv("LOCALCP_BIND_HOST"); h != "" { return h }; return "127.0.0.1" }' \
        >"$c/localcp_bind_host.go"
      ! grep -q '0\.0\.0\.0' "$c"/*.go || { echo "$c: a listener on 0.0.0.0 is left unpatched" >&2; exit 1; }
      grep -q 'localcpBindHost()+":%d"' "$c/main.go" || { echo "$c/main.go: no listener found to patch" >&2; exit 1; }
    done
    go mod tidy >/dev/null
    for c in interceptor scaler; do go build -trimpath -ldflags "-s -w" -o "$out/bin/keda-http-$c" "./$c"; done
    go build -trimpath -ldflags "-s -w" -o "$out/bin/keda-http-operator" github.com/kedacore/http-add-on/operator
  )
}

build_prometheus() {  # build_prometheus OUT: prometheus + promtool (no web UI assets: API only)
  local out=$1 dir="$work/prometheus" c
  wrapper "$dir"
  (
    cd "$dir"
    copy_replaces github.com/prometheus/prometheus "$PROMETHEUS_MODULE_VERSION"
    go get "github.com/prometheus/prometheus@$PROMETHEUS_MODULE_VERSION" >/dev/null
    for c in prometheus promtool; do
      go build -trimpath -ldflags "-s -w" -o "$out/bin/$c" "github.com/prometheus/prometheus/cmd/$c"
    done
  )
}

build_knative() {  # build_knative OUT: Knative Serving's defaulting + validation (our main, tools/go)
  local out=$1 dir="$work/knative" mod
  wrapper "$dir"
  cp "$here/go/knative-validate/main.go" "$dir/"
  (
    cd "$dir"
    copy_replaces knative.dev/serving "$KNATIVE_SERVING_MODULE_VERSION"
    go get "knative.dev/serving@$KNATIVE_SERVING_MODULE_VERSION" >/dev/null
    go mod tidy >/dev/null
    go build -trimpath -ldflags "-s -w" -o "$out/bin/knative-validate" .
    # The serving.knative.dev CRDs and the autoscaler ConfigMap of the same release (what the
    # Knative operator installs), so KServe's Knative mode can build its Services on the local API
    # server (it reads knative-serving/config-autoscaler first).
    mod="$(go env GOMODCACHE)/knative.dev/serving@$KNATIVE_SERVING_MODULE_VERSION"
    mkdir -p "$out/bin/knative-serving-crds" "$out/bin/knative-serving-config"
    cp "$mod"/config/core/300-resources/*.yaml "$out/bin/knative-serving-crds/"
    cp "$mod"/config/core/configmaps/autoscaler.yaml "$out/bin/knative-serving-config/"
    chmod u+w "$out"/bin/knative-serving-crds/* "$out"/bin/knative-serving-config/*
  )
}

build_gie() {  # build_gie OUT: endpoint picker, stand-in gateway, InferencePool + Gateway API CRDs
  local out=$1 dir="$work/gie" f mod
  wrapper "$dir"
  mkdir -p "$dir/epp" "$dir/inference-gateway"
  cp "$here/go/inference-gateway/main.go" "$dir/inference-gateway/"
  # The picker's main, as the release's cmd/epp/main.go (a main package cannot be imported).
  cat >"$dir/epp/main.go" <<'GO'
package main

import (
	"os"

	ctrl "sigs.k8s.io/controller-runtime"

	"sigs.k8s.io/gateway-api-inference-extension/cmd/epp/runner"
)

func main() {
	if err := runner.NewRunner().Run(ctrl.SetupSignalHandler()); err != nil {
		os.Exit(1)
	}
}
GO
  (
    cd "$dir"
    copy_replaces sigs.k8s.io/gateway-api-inference-extension "$GIE_VERSION"
    go get "sigs.k8s.io/gateway-api-inference-extension@$GIE_VERSION" >/dev/null
    go mod tidy >/dev/null
    # Its gRPC servers (ext_proc, health) listen on ":port" (internal/runnable/grpc.go GRPCServer)
    # and its metrics server on ":port" (cmd/epp/runner/runner.go): vendor and bind 127.0.0.1.
    go mod vendor
    f=vendor/sigs.k8s.io/gateway-api-inference-extension/internal/runnable/grpc.go
    sed -i 's/net.Listen("tcp", fmt.Sprintf(":%d", port))/net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))/' "$f"
    grep -q '"127.0.0.1:%d", port' "$f" || { echo "$f: gRPC listener not found to patch" >&2; exit 1; }
    f=vendor/sigs.k8s.io/gateway-api-inference-extension/cmd/epp/runner/runner.go
    sed -i 's/BindAddress: fmt.Sprintf(":%d", opts.MetricsPort)/BindAddress: fmt.Sprintf("127.0.0.1:%d", opts.MetricsPort)/' "$f"
    grep -q '"127.0.0.1:%d", opts.MetricsPort' "$f" || { echo "$f: metrics listener not found to patch" >&2; exit 1; }
    go build -mod=vendor -trimpath -ldflags "-s -w" -o "$out/bin/epp" ./epp
    go build -mod=vendor -trimpath -ldflags "-s -w" -o "$out/bin/inference-gateway" ./inference-gateway
    mkdir -p "$out/bin/inference-crds"
    mod="$(go env GOMODCACHE)/sigs.k8s.io/gateway-api-inference-extension@$GIE_VERSION"
    cp "$mod"/config/crd/bases/*.yaml "$out/bin/inference-crds/"
    mod=$(go mod download -json "sigs.k8s.io/gateway-api@$GATEWAY_API_VERSION" | python3 -c 'import json, sys; print(json.load(sys.stdin)["Dir"])')
    cp "$mod"/config/crd/standard/*.yaml "$out/bin/inference-crds/"
    chmod u+w "$out"/bin/inference-crds/*
  )
}

todo=()
for c in "${components[@]}"; do
  [[ -n ${outputs[$c]:-} ]] || { echo "unknown toolchain component '$c' (known: ${all_components[*]})" >&2; exit 2; }
  built "$c" || todo+=("$c")
done
if $list_missing; then
  ((${#todo[@]} == 0)) || echo "${todo[*]}"
  exit 0
fi
if ((${#todo[@]})); then
  command -v go >/dev/null || { echo "go is required to build ${todo[*]} (see README: Prerequisites)" >&2; exit 1; }
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  export GOFLAGS=-mod=mod CGO_ENABLED=0
  pids=()
  for c in "${todo[@]}"; do
    (
      start=$SECONDS out=$(dir_of "$c")
      mkdir -p "$out/bin"
      "build_$c" "$out" >"$work/$c.log" 2>&1 || { echo "building $c failed:" >&2; tail -n 30 "$work/$c.log" >&2; exit 1; }
      echo "toolchain: $c built in $((SECONDS - start))s into $out" >&2
    ) &
    pids+=($!)
  done
  failed=0
  for p in "${pids[@]}"; do wait "$p" || failed=1; done
  ((failed == 0)) || exit 1
  for c in "${todo[@]}"; do built "$c" || { echo "toolchain: $c is missing outputs after its build" >&2; exit 1; }; done
fi

# One bin directory of symlinks for the requested components.
links=""
for c in "${components[@]}"; do links+="$(dir_of "$c") "; done
bin="$cache/toolchain/bin-$(echo "$links" | sha256sum | cut -c1-12)"
mkdir -p "$bin"
for c in "${components[@]}"; do
  for f in "$(dir_of "$c")"/bin/*; do ln -sfn "$f" "$bin/$(basename "$f")"; done
done
echo "$bin"
