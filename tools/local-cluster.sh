#!/usr/bin/env bash
# A local Kubernetes control plane on 127.0.0.1 from the cached toolchain (tools/toolchain.sh):
# etcd, kube-apiserver, kube-controller-manager, kube-scheduler, and kwok with fake nodes (one CPU
# node, one node with nvidia.com/gpu capacity and GPU product labels). CRDs come from
# $LLM_PLATFORM_CRD_DIR (default ../shared/crds).
#
#   tools/local-cluster.sh start DIR    start (or reuse) a cluster whose state lives in DIR
#   tools/local-cluster.sh stop DIR     stop it by PID, remove nothing but its processes
#
# After start, DIR/kubeconfig is an admin kubeconfig.
set -euo pipefail

cmd=${1:?usage: local-cluster.sh start|stop DIR}
dir=$(mkdir -p "${2:?usage: local-cluster.sh start|stop DIR}" && cd "$2" && pwd)
here=$(cd "$(dirname "$0")/.." && pwd)
crds=${LLM_PLATFORM_CRD_DIR:-$here/../shared/crds}
timeout=${LLM_PLATFORM_CLUSTER_TIMEOUT:-120}

stop() {
  for name in kwok kube-scheduler kube-controller-manager kube-apiserver etcd; do
    if [[ -f "$dir/$name.pid" ]]; then
      kill "$(cat "$dir/$name.pid")" 2>/dev/null || true
      for _ in $(seq 50); do kill -0 "$(cat "$dir/$name.pid")" 2>/dev/null || break; sleep 0.1; done
      kill -9 "$(cat "$dir/$name.pid")" 2>/dev/null || true
      rm -f "$dir/$name.pid"
    fi
  done
}

if [[ $cmd == stop ]]; then
  stop
  exit 0
fi
[[ $cmd == start ]] || { echo "usage: local-cluster.sh start|stop DIR" >&2; exit 2; }
running=1
for name in etcd kube-apiserver kube-controller-manager kube-scheduler kwok; do
  [[ -f "$dir/$name.pid" ]] && kill -0 "$(cat "$dir/$name.pid")" 2>/dev/null || running=0
done
if ((running)); then  # reuse the cluster this DIR already runs
  echo "cluster already up: KUBECONFIG=$dir/kubeconfig" >&2
  echo "$dir/kubeconfig"
  exit 0
fi
stop  # half-started leftovers of an earlier run
[[ -d $crds ]] || { echo "CRD directory $crds not found; set LLM_PLATFORM_CRD_DIR" >&2; exit 1; }
bin=$(bash "$here/tools/toolchain.sh" | tail -n 1)
trap 'status=$?; if [[ $status -ne 0 ]]; then echo "cluster start failed; log tails:" >&2; for f in "$dir"/*.log; do echo "== $f" >&2; tail -n 15 "$f" >&2; done; stop; fi' EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# Certificates: a CA, the API server's serving cert, an admin client cert, service-account keys.
pki="$dir/pki"
mkdir -p "$pki"
if [[ ! -f $pki/admin.crt ]]; then
  (
    cd "$pki"
    openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt -days 2 -subj "/CN=llm-platform-local-ca" 2>/dev/null
    openssl req -newkey rsa:2048 -nodes -keyout apiserver.key -out apiserver.csr -subj "/CN=kube-apiserver" 2>/dev/null
    printf 'subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:kubernetes.default.svc\n' >san.ext
    openssl x509 -req -in apiserver.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out apiserver.crt -days 2 -extfile san.ext 2>/dev/null
    openssl req -newkey rsa:2048 -nodes -keyout admin.key -out admin.csr -subj "/O=system:masters/CN=admin" 2>/dev/null
    openssl x509 -req -in admin.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out admin.crt -days 2 2>/dev/null
    openssl genrsa -out sa.key 2048 2>/dev/null
    openssl rsa -in sa.key -pubout -out sa.pub 2>/dev/null
  )
fi

etcd_port=$(free_port)
peer_port=$(free_port)
api_port=$(free_port)
"$bin/etcd" --data-dir "$dir/etcd" --listen-client-urls "http://127.0.0.1:$etcd_port" \
  --advertise-client-urls "http://127.0.0.1:$etcd_port" --listen-peer-urls "http://127.0.0.1:$peer_port" \
  --initial-advertise-peer-urls "http://127.0.0.1:$peer_port" --initial-cluster "default=http://127.0.0.1:$peer_port" \
  >"$dir/etcd.log" 2>&1 &
echo $! >"$dir/etcd.pid"

"$bin/kube-apiserver" --etcd-servers "http://127.0.0.1:$etcd_port" --bind-address 127.0.0.1 \
  --secure-port "$api_port" --tls-cert-file "$pki/apiserver.crt" --tls-private-key-file "$pki/apiserver.key" \
  --client-ca-file "$pki/ca.crt" --service-account-issuer https://kubernetes.default.svc \
  --service-account-key-file "$pki/sa.pub" --service-account-signing-key-file "$pki/sa.key" \
  --service-cluster-ip-range 10.96.0.0/16 --authorization-mode Node,RBAC --allow-privileged \
  >"$dir/kube-apiserver.log" 2>&1 &
echo $! >"$dir/kube-apiserver.pid"

cat >"$dir/kubeconfig" <<EOF
apiVersion: v1
kind: Config
clusters:
  - name: local
    cluster: {server: "https://127.0.0.1:$api_port", certificate-authority: "$pki/ca.crt"}
users:
  - name: admin
    user: {client-certificate: "$pki/admin.crt", client-key: "$pki/admin.key"}
contexts:
  - name: local
    context: {cluster: local, user: admin}
current-context: local
EOF

# Wait (bounded) for the API server to answer /readyz.
deadline=$((SECONDS + timeout))
until curl -sf --cacert "$pki/ca.crt" --cert "$pki/admin.crt" --key "$pki/admin.key" "https://127.0.0.1:$api_port/readyz" >/dev/null; do
  ((SECONDS < deadline)) || { echo "kube-apiserver not ready within ${timeout}s" >&2; exit 1; }
  sleep 0.5
done

"$bin/kube-controller-manager" --kubeconfig "$dir/kubeconfig" --leader-elect=false \
  --service-account-private-key-file "$pki/sa.key" --root-ca-file "$pki/ca.crt" \
  --use-service-account-credentials=false --controllers '*,-nodeipam' \
  >"$dir/kube-controller-manager.log" 2>&1 &
echo $! >"$dir/kube-controller-manager.pid"
"$bin/kube-scheduler" --kubeconfig "$dir/kubeconfig" --leader-elect=false >"$dir/kube-scheduler.log" 2>&1 &
echo $! >"$dir/kube-scheduler.pid"
stage_args=()
for f in "$bin"/kwok-stages/*.yaml; do stage_args+=(--config "$f"); done
"$bin/kwok" --kubeconfig "$dir/kubeconfig" "${stage_args[@]}" --manage-all-nodes=false \
  --manage-nodes-with-annotation-selector kwok.x-k8s.io/node=fake --cidr 10.0.0.1/24 --node-ip 10.0.0.1 \
  >"$dir/kwok.log" 2>&1 &
echo $! >"$dir/kwok.pid"

kubectl() { "$bin/kubectl" --kubeconfig "$dir/kubeconfig" "$@"; }
# Upstream CRDs (server-side apply: some are too large for the last-applied annotation).
kubectl apply --server-side --force-conflicts -f "$crds" >"$dir/crds.log"
kubectl wait --for condition=established --timeout "${timeout}s" crd --all >>"$dir/crds.log"
# Fake nodes kwok manages: one CPU node, one node with 2 GPUs labelled as GPU Feature Discovery would.
node_manifest() {  # node_manifest NAME GPUS
  local gpus=$2 extra_labels="" extra_capacity=""
  if ((gpus > 0)); then
    extra_labels="nvidia.com/gpu.product: NVIDIA-L4, nvidia.com/gpu.count: \"$gpus\", "
    extra_capacity="nvidia.com/gpu: \"$gpus\", "
  fi
  printf 'apiVersion: v1\nkind: Node\nmetadata:\n  name: %s\n  annotations: {kwok.x-k8s.io/node: fake}\n' "$1"
  printf '  labels: {%skubernetes.io/hostname: %s, type: kwok}\n' "$extra_labels" "$1"
  printf 'status:\n  allocatable: {%scpu: "32", memory: 256Gi, pods: "110"}\n' "$extra_capacity"
  printf '  capacity: {%scpu: "32", memory: 256Gi, pods: "110"}\n' "$extra_capacity"
}
{ node_manifest cpu-0 0; echo "---"; node_manifest gpu-0 2; } | kubectl apply -f - >"$dir/nodes.log"
kubectl wait --for condition=Ready --timeout "${timeout}s" node --all >>"$dir/nodes.log"
echo "cluster up: KUBECONFIG=$dir/kubeconfig" >&2
trap - EXIT
echo "$dir/kubeconfig"
