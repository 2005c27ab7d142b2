#!/usr/bin/env bash
# The main job: the `local` stack end to end on this machine, without a cloud.
#   1. render the local stack with the real Helm engine and check it with the policy pack,
#   2. start a local control plane (kube-apiserver, etcd, controllers, kwok nodes, upstream CRDs),
#   3. server-side apply the rendered objects and wait until the model Deployment is available,
#   4. serve a tiny GGUF with a real llama-server and run the smoke suite against it.
# The cluster keeps running (state in .cluster/); `make cluster-down` stops it.
# (`pulumi up` replaces step 3 once a Pulumi CLI can be built here: see the README.)
set -euo pipefail
cd "$(dirname "$0")/.."
py=.venv/bin/python

$py -m infra render --stack local --out out/local
$py -m policies.check --manifests out/local
kubeconfig=$(bash tools/local-cluster.sh start .cluster | tail -n 1)
kubectl="$(bash tools/toolchain.sh | tail -n 1)/kubectl --kubeconfig $kubeconfig"
namespace=$($py -c 'from infra.stack import load_stack_file, stack_file; print(load_stack_file(stack_file("local")).namespace)')
$kubectl create namespace "$namespace" --dry-run=client -o yaml | $kubectl apply -f - >/dev/null
$kubectl apply --server-side --field-manager llm-platform -f out/local/
$kubectl rollout status deployment --namespace "$namespace" --timeout=120s
$kubectl get deployments,services,scaledobjects,poddisruptionbudgets,networkpolicies --namespace "$namespace"
$py -m smoke.local_server
echo "local stack is up: KUBECONFIG=$kubeconfig ; stop with: make cluster-down"
