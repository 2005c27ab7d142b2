{{/*
Helpers for the llm-serving chart. Every per-model value passes through "llm-serving.model" first,
so templates read one resolved model dict and never repeat a default.
*/}}

{{- define "llm-serving.name" -}}
{{- .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "llm-serving.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/*
A model entry with the runtime's defaults (values.modelDefaults.<runtime>) filled in for keys the
entry does not set. Shallow on purpose: an object the entry sets (image, resources, probes)
replaces the default object whole, exactly as the typed config model does.
Usage: $m := include "llm-serving.model" (dict "root" $ "model" $raw) | fromYaml
*/}}
{{- define "llm-serving.model" -}}
{{- $m := deepCopy .model -}}
{{- $defaults := get .root.Values.modelDefaults (toString .model.runtime) | default dict -}}
{{- range $key, $value := $defaults -}}
{{- if not (hasKey $m $key) -}}
{{- $_ := set $m $key $value -}}
{{- end -}}
{{- end -}}
{{- if not (hasKey $m "servedModelName") -}}
{{- $_ := set $m "servedModelName" $m.name -}}
{{- end -}}
{{- toYaml $m -}}
{{- end -}}

{{/* Selector labels: only name + instance + model, so they never change on upgrade. */}}
{{- define "llm-serving.selectorLabels" -}}
app.kubernetes.io/name: {{ include "llm-serving.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
llm-serving/model: {{ .model.name }}
{{- end -}}

{{/* Labels on model pods: selector labels plus what the PodMonitor copies onto every series. */}}
{{- define "llm-serving.podLabels" -}}
{{ include "llm-serving.selectorLabels" . }}
app.kubernetes.io/component: model-server
llm-serving/runtime: {{ .model.runtime }}
{{- end -}}

{{/* In-cluster OTLP/gRPC endpoint of the chart's OpenTelemetry Collector. */}}
{{- define "llm-serving.otlpEndpoint" -}}
http://{{ .Release.Name }}-otel-collector.{{ .Release.Namespace }}.svc.cluster.local:4317
{{- end -}}

{{- define "llm-serving.labels" -}}
helm.sh/chart: {{ include "llm-serving.chart" .root }}
{{ include "llm-serving.selectorLabels" . }}
app.kubernetes.io/component: model-server
app.kubernetes.io/version: {{ .model.image.tag | default "by-digest" | trunc 63 | trimSuffix "-" | trimSuffix "." | quote }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
llm-serving/runtime: {{ .model.runtime }}
llm-serving/environment: {{ .root.Values.environment }}
{{- end -}}

{{/* Restricted pod security: non-root, default seccomp profile; fsGroup makes volumes writable. */}}
{{- define "llm-serving.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: {{ int .Values.runAsUser }}
runAsGroup: {{ int .Values.runAsUser }}
fsGroup: {{ int .Values.runAsUser }}
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{/* Containers write only to their volumes: /tmp (HOME, engine caches) is an emptyDir. */}}
{{- define "llm-serving.containerSecurityContext" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
capabilities:
  drop: ["ALL"]
{{- end -}}

{{/* The writable /tmp every server container mounts (its root filesystem is read-only). */}}
{{- define "llm-serving.tmpVolume" -}}
- name: tmp
  emptyDir:
    sizeLimit: {{ .Values.tmpSizeLimit }}
{{- end -}}

{{/*
Replicas of one model on different nodes (and zones) where the cluster allows it: one node
failure must not take every replica. Preferred, not required: GPU nodes are scarce, and a
second replica on the same node still beats none. Only for models that can run more than one.
Usage: include "llm-serving.spread" (dict "root" $ "model" $m)
*/}}
{{- define "llm-serving.spread" -}}
{{- if gt (int (include "llm-serving.maxReplicas" .model)) 1 }}
affinity:
  podAntiAffinity:
    preferredDuringSchedulingIgnoredDuringExecution:
      - weight: 100
        podAffinityTerm:
          topologyKey: kubernetes.io/hostname
          labelSelector:
            matchLabels:
              {{- include "llm-serving.selectorLabels" . | nindent 14 }}
topologySpreadConstraints:
  - maxSkew: 1
    topologyKey: topology.kubernetes.io/zone
    whenUnsatisfiable: ScheduleAnyway
    labelSelector:
      matchLabels:
        {{- include "llm-serving.selectorLabels" . | nindent 8 }}
{{- end }}
{{- end -}}

{{/*
Environment every model server gets: a writable HOME for engine caches (non-root), and the API
key from its Secret (vLLM reads VLLM_API_KEY, llama-server LLAMA_API_KEY; SGLang takes --api-key,
which its args build from SGLANG_API_KEY).
Usage: include "llm-serving.serverEnv" (dict "root" $ "model" $m)
*/}}
{{- define "llm-serving.serverEnv" -}}
- name: HOME
  value: /tmp
{{- with .root.Values.storageSecretName }}
{{- /* vLLM downloads hf:// LoRA adapters (vllm/lora/utils.py get_adapter_absolute_path:
huggingface_hub.snapshot_download) and draft-model configs itself, and llama-server its --hf-file;
huggingface_hub reads HF_TOKEN from the environment. KServe injects the storage Secret into its
storage-initializer only (pkg/webhook/admission/pod/storage_initializer_injector.go), so the
server gets the token here. Optional: a Secret holding only AWS_* keys still starts. */}}
- name: HF_TOKEN
  valueFrom:
    secretKeyRef:
      name: {{ . }}
      key: HF_TOKEN
      optional: true
{{- end }}
{{- if eq .model.runtime "sglang" }}
# /health runs a one-token generation and answers 503 after this many seconds without one
# (sglang/srt/entrypoints/http_server.py health_generate): inside the probe's timeout, so the
# kubelet records SGLang's own answer rather than a timeout.
- name: SGLANG_HEALTH_CHECK_TIMEOUT
  value: {{ max 1 (sub (int .model.probes.timeoutSeconds) 5) | quote }}
{{- end }}
{{- with .root.Values.apiKeySecretName }}
- name: {{ get (dict "vllm" "VLLM_API_KEY" "sglang" "SGLANG_API_KEY" "llamacpp" "LLAMA_API_KEY") $.model.runtime }}
  valueFrom:
    secretKeyRef:
      name: {{ . }}
      key: api-key
{{- end }}
{{- end -}}

{{- define "llm-serving.image" -}}
{{- if .digest -}}
{{- printf "%s@%s" .repository .digest -}}
{{- else -}}
{{- printf "%s:%s" .repository .tag -}}
{{- end -}}
{{- end -}}

{{/* KServe storage URI: hf://org/name:revision, s3://..., pvc://claim/path. */}}
{{- define "llm-serving.storageUri" -}}
{{- if .source.revision -}}
{{- printf "%s:%s" .source.uri .source.revision -}}
{{- else -}}
{{- .source.uri -}}
{{- end -}}
{{- end -}}

{{/* The model's Service (port 80): KServe names an InferenceService's predictor Service
<name>-predictor; the chart names a llama.cpp model's Service <name>. */}}
{{- define "llm-serving.serviceName" -}}
{{- ternary .name (printf "%s-predictor" .name) (eq .runtime "llamacpp") -}}
{{- end -}}

{{/* Scale to zero through the KEDA HTTP add-on (mode keda, minReplicas 0). */}}
{{- define "llm-serving.wakesThroughHttpAddon" -}}
{{- if and (eq .autoscaling.mode "keda") (eq (int .autoscaling.minReplicas) 0) -}}true{{- end -}}
{{- end -}}

{{/* Host a client sends (to the HTTP add-on's interceptor) to reach a model: its Service's
cluster DNS name, so the header is the one a direct call would carry. */}}
{{- define "llm-serving.host" -}}
{{- include "llm-serving.serviceName" .model }}.{{ .root.Release.Namespace }}.svc.cluster.local
{{- end -}}

{{/* In-cluster OpenAI base URL of a model: its Service, or, when it scales to zero through the
KEDA HTTP add-on, the add-on's interceptor (send `Host: <llm-serving.host>`). */}}
{{- define "llm-serving.baseUrl" -}}
{{- if include "llm-serving.wakesThroughHttpAddon" .model -}}
http://keda-add-ons-http-interceptor-proxy.{{ .root.Values.kedaHttpAddonNamespace }}.svc.cluster.local:8080/v1
{{- else -}}
http://{{ include "llm-serving.host" . }}/v1
{{- end -}}
{{- end -}}

{{/* Whole CPUs of a CPU quantity ("500m" -> 1, "4" -> 4, "2500m" -> 2), at least 1. */}}
{{- define "llm-serving.wholeCpus" -}}
{{- $cpu := toString . -}}
{{- $n := 0 -}}
{{- if hasSuffix "m" $cpu -}}
{{- $n = div (atoi (trimSuffix "m" $cpu)) 1000 -}}
{{- else -}}
{{- $n = int (float64 $cpu) -}}
{{- end -}}
{{- max $n 1 -}}
{{- end -}}

{{/*
vLLM server args (the one place they are built). The positional model tag is the directory the
KServe storage initializer fills; tensor parallel size always equals the GPU count.
Usage: include "llm-serving.vllm.args" (dict "root" $ "model" $m)
*/}}
{{- define "llm-serving.vllm.args" -}}
{{- $tracing := .root.Values.observability.tracing -}}
{{- with .model -}}
- /mnt/models
- --served-model-name={{ .servedModelName }}
- --host=0.0.0.0
- --port=8080
- --max-model-len={{ int .maxModelLen }}
- --gpu-memory-utilization={{ .gpuMemoryUtilization }}
- --tensor-parallel-size={{ int .gpu.count }}
- --dtype={{ .dtype }}
{{- /* A quantized checkpoint (AWQ, FP8) declares its method in config.json; vLLM reads it there
and refuses a --quantization that differs (ModelConfig._verify_quantization). For AWQ the flag is
redundant in vLLM 0.32 (awq, awq_marlin and auto_awq all map to AutoAWQConfig, which picks its
kernel itself: model_executor/layers/quantization/__init__.py, auto_awq.py) but not in SGLang, so
neither runtime gets it. */}}
{{- include "llm-serving.quantizationFlag" . }}
{{- if ne (.kvCacheDtype | default "auto") "auto" }}
- --kv-cache-dtype={{ .kvCacheDtype }}
{{- end }}
{{- if .maxNumSeqs }}
- --max-num-seqs={{ int .maxNumSeqs }}
{{- end }}
{{- if .maxNumBatchedTokens }}
- --max-num-batched-tokens={{ int .maxNumBatchedTokens }}
{{- end }}
{{- if gt (int .gpu.count) 1 }}
- --distributed-timeout-seconds={{ int .ncclTimeoutSeconds }}
{{- end }}
- --shutdown-timeout={{ include "llm-serving.drainSeconds" . }}
- {{ ternary "--enable-prefix-caching" "--no-enable-prefix-caching" .enablePrefixCaching }}
- {{ ternary "--enable-chunked-prefill" "--no-enable-chunked-prefill" .enableChunkedPrefill }}
{{- with .lora }}
- --enable-lora
{{- /* One --lora-modules with every adapter: vLLM's LoRAParserAction replaces the list on each
occurrence (vllm/entrypoints/launchers/cli_args.py), so a repeated flag would keep only the last. */}}
- --lora-modules
{{- range .adapters }}
- {{ printf "%s=%s" .name (trimPrefix "hf://" .source) | quote }}
{{- end }}
- --max-lora-rank={{ int .maxLoraRank }}
- --max-loras={{ int .maxLoras }}
{{- with .maxCpuLoras }}
- --max-cpu-loras={{ int . }}
{{- end }}
{{- end }}
{{- with .speculative }}
{{- /* vllm/config/speculative.py SpeculativeConfig field names. */}}
{{- $c := dict "method" .method "num_speculative_tokens" (int .numSpeculativeTokens) }}
{{- with .model }}{{ $_ := set $c "model" (trimPrefix "hf://" .) }}{{ end }}
{{- with .promptLookupMax }}{{ $_ := set $c "prompt_lookup_max" (int .) }}{{ end }}
{{- with .promptLookupMin }}{{ $_ := set $c "prompt_lookup_min" (int .) }}{{ end }}
{{- with .draftTensorParallelSize }}{{ $_ := set $c "draft_tensor_parallel_size" (int .) }}{{ end }}
- {{ printf "--speculative-config=%s" (toJson $c) | quote }}
{{- end }}
{{- if $tracing.enabled }}
- --otlp-traces-endpoint={{ include "llm-serving.otlpEndpoint" $.root }}
{{- if $tracing.detailed }}
- --collect-detailed-traces=all
{{- end }}
{{- end }}
{{- range .extraArgs }}
- {{ . | quote }}
{{- end }}
{{- end }}
{{- end -}}

{{/*
llama-server args (the one place they are built). ctx-size is the total over all slots:
llama-server gives each of the --parallel slots ctx-size / parallel tokens.
*/}}
{{/* SGLang's server args from the same keys (infra/config/sglang.py lists the mapping; flags of
sglang/srt/server_args.py at the pinned release). */}}
{{- define "llm-serving.sglang.args" -}}
{{- with .model -}}
- --model-path=/mnt/models
- --served-model-name={{ .servedModelName }}
- --host=0.0.0.0
- --port=8080
- --context-length={{ int .maxModelLen }}
{{- /* Weights + KV pool only; the planner leaves SGLang its activation/CUDA-graph reserve inside
gpuMemoryUtilization (infra/planner/sglang.py). Unset (GPU memory unknown): SGLang sizes it. */}}
{{- with .memFractionStatic }}
- --mem-fraction-static={{ . }}
{{- end }}
- --tp-size={{ int .gpu.count }}
- --dtype={{ .dtype }}
{{- /* Same rule as vLLM: SGLang's AWQMarlinConfig.override_quantization_method
(srt/layers/quantization/awq/awq.py) upgrades to the Marlin kernel only without an explicit awq. */}}
{{- include "llm-serving.quantizationFlag" . }}
{{- if eq (.kvCacheDtype | default "auto") "fp8" }}
- --kv-cache-dtype=fp8_e4m3
{{- end }}
{{- if .maxNumSeqs }}
- --max-running-requests={{ int .maxNumSeqs }}
{{- end }}
{{- if not .enableChunkedPrefill }}
- --chunked-prefill-size=-1
{{- else if .maxNumBatchedTokens }}
- --chunked-prefill-size={{ int .maxNumBatchedTokens }}
{{- end }}
{{- if not .enablePrefixCaching }}
- --disable-radix-cache
{{- end }}
{{- if gt (int .gpu.count) 1 }}
- --dist-timeout={{ int .ncclTimeoutSeconds }}
{{- end }}
- --enable-metrics
{{- if $.root.Values.apiKeySecretName }}
- --api-key=$(SGLANG_API_KEY)
{{- end }}
{{- range .extraArgs }}
- {{ . | quote }}
{{- end }}
{{- end }}
{{- end -}}

{{/* The OpenAI inference routes both GPU runtimes serve (the error-rate alert's denominator). */}}
{{- define "llm-serving.inferenceRoutes" -}}
/v1/chat/completions|/v1/completions|/v1/embeddings|/v1/responses|/generate
{{- end -}}

{{/* --quantization only for a 16-bit checkpoint quantized while loading (fp8); a quantized
checkpoint's config.json names its method and the engine picks the fastest kernel for it. */}}
{{- define "llm-serving.quantizationFlag" -}}
{{- if and (eq .quantization "fp8") (not .quantizedCheckpoint) }}
- --quantization=fp8
{{- end }}
{{- end -}}

{{/*
A model server's Prometheus series for one meaning, per runtime: vLLM's (vllm/v1/metrics/
loggers.py), SGLang's (sglang/srt/observability/metrics_collector.py at the pinned release) and
llama-server's (--metrics). Usage: include "llm-serving.series" (dict "runtime" $m.runtime "name" "waiting")
*/}}
{{- define "llm-serving.series" -}}
{{- $series := dict
  "vllm" (dict "waiting" "vllm:num_requests_waiting" "running" "vllm:num_requests_running" "kvUsage" "vllm:kv_cache_usage_perc"
               "preemptions" "vllm:num_preemptions_total" "generated" "vllm:generation_tokens_total"
               "ttft" "vllm:time_to_first_token_seconds" "tpot" "vllm:request_time_per_output_token_seconds")
  "sglang" (dict "waiting" "sglang:num_queue_reqs" "running" "sglang:num_running_reqs" "kvUsage" "sglang:token_usage"
                 "preemptions" "sglang:num_retracted_requests_total" "generated" "sglang:generation_tokens_total"
                 "ttft" "sglang:time_to_first_token_seconds" "tpot" "sglang:request_time_per_output_token_seconds")
  "llamacpp" (dict "waiting" "llamacpp:requests_deferred" "running" "llamacpp:requests_processing"
                   "generated" "llamacpp:tokens_predicted_total") -}}
{{- get (get $series .runtime) .name -}}
{{- end -}}

{{- define "llm-serving.llamacpp.args" -}}
{{- if hasPrefix "hf://" .source.uri }}
- --hf-repo
- {{ trimPrefix "hf://" .source.uri }}
- --hf-file
- {{ .ggufFile }}
{{- else }}
- --model
- /mnt/models/{{ .ggufFile }}
{{- end }}
- --alias
- {{ .servedModelName }}
- --host
- 0.0.0.0
- --port
- "8080"
- --ctx-size
- {{ mul (int .maxModelLen) (int .maxNumSeqs) | quote }}
- --parallel
- {{ int .maxNumSeqs | quote }}
- --threads
- {{ include "llm-serving.wholeCpus" .resources.cpu | quote }}
- --metrics
{{- range .extraArgs }}
- {{ . | quote }}
{{- end }}
{{- end -}}

{{/*
Seconds a server may spend finishing in-flight requests after SIGTERM: the grace period minus the
preStop wait, minus 5 s for the process to exit. At least 1. Knative mode has no preStop of ours
and sets the grace period to the request timeout itself (its queue-proxy drains first).
*/}}
{{- define "llm-serving.drainSeconds" -}}
{{- if eq .autoscaling.mode "knative" -}}
{{- max 1 (sub (int .autoscaling.requestTimeoutSeconds) 5) -}}
{{- else -}}
{{- max 1 (sub (sub (int .terminationGracePeriodSeconds) (int .rollout.preStopSeconds)) 5) -}}
{{- end -}}
{{- end -}}

{{/*
HTTP probes on the server's /health (200 only once the model is loaded and the engine answers).
Knative mode has no startup probe: Knative's progress deadline (set from the same budget) plays
that role there.
*/}}
{{- define "llm-serving.probes" -}}
{{- if ne .autoscaling.mode "knative" }}
startupProbe:
  httpGet:
    path: /health
    port: 8080
  periodSeconds: {{ int .probes.periodSeconds }}
  timeoutSeconds: {{ int .probes.timeoutSeconds }}
  failureThreshold: {{ int .probes.startupFailureThreshold }}
{{- end }}
readinessProbe:
  httpGet:
    path: /health
    port: 8080
  periodSeconds: {{ int .probes.periodSeconds }}
  timeoutSeconds: {{ int .probes.timeoutSeconds }}
  failureThreshold: 3
livenessProbe:
  httpGet:
    path: /health
    port: 8080
  {{- if eq .autoscaling.mode "knative" }}
  # No startup probe in Knative mode: hold liveness off for the whole load budget instead.
  initialDelaySeconds: {{ include "llm-serving.startupSeconds" . }}
  {{- end }}
  periodSeconds: {{ int .probes.periodSeconds }}
  timeoutSeconds: {{ int .probes.timeoutSeconds }}
  failureThreshold: 6
{{- end -}}

{{/* Seconds a replica may take to start: the startup probe budget. */}}
{{- define "llm-serving.startupSeconds" -}}
{{- mul (int .probes.periodSeconds) (int .probes.startupFailureThreshold) -}}
{{- end -}}

{{/* Rolling update that never drops below the current replicas, or Recreate without GPU room. */}}
{{- define "llm-serving.strategy" -}}
{{- if .rollout.spareCapacityForSurge -}}
type: RollingUpdate
rollingUpdate:
  maxSurge: 1
  maxUnavailable: 0
{{- else -}}
type: Recreate
{{- end -}}
{{- end -}}

{{/* Most replicas a model can run: decides whether a PodDisruptionBudget is worth having. */}}
{{- define "llm-serving.maxReplicas" -}}
{{- if eq .autoscaling.mode "none" -}}{{ int .replicas }}{{- else -}}{{ int .autoscaling.maxReplicas }}{{- end -}}
{{- end -}}

{{/* PromQL label matcher of one model's series (labels attached by the chart's PodMonitor). */}}
{{- define "llm-serving.promSelector" -}}
namespace="{{ .root.Release.Namespace }}",llm_serving_model="{{ .model.name }}"
{{- end -}}

{{/*
Regex of a model's pod names. KServe: <name>-predictor-<rs>-<id>. A Deployment's pods:
<name>-<pod-template-hash>-<5 random>, both from k8s.io/apimachinery util/rand's vowel-free alphabet
(SafeEncodeString for the hash, String(5) for the name suffix), so the `helm test` pod
<name>-test-models (kept when it fails) can never match.
*/}}
{{- define "llm-serving.podRegex" -}}
{{- $rand := "[bcdfghjklmnpqrstvwxz2456789]" -}}
{{- if ne .runtime "llamacpp" -}}{{ .name }}-predictor-.*{{- else -}}{{ printf "%s-%s{1,10}-%s{5}" .name $rand $rand }}{{- end -}}
{{- end -}}

{{/* The serving container's name (KServe names the predictor's container kserve-container). */}}
{{- define "llm-serving.containerName" -}}
{{- if ne .runtime "llamacpp" -}}kserve-container{{- else -}}llama-server{{- end -}}
{{- end -}}

{{- define "llm-serving.resources" -}}
requests:
  cpu: {{ .resources.cpu | quote }}
  memory: {{ .resources.memory | quote }}
  {{- with .resources.ephemeralStorage }}
  ephemeral-storage: {{ . | quote }}
  {{- end }}
  {{- if .gpu }}
  nvidia.com/gpu: {{ int .gpu.count | quote }}
  {{- end }}
limits:
  cpu: {{ .resources.cpu | quote }}
  memory: {{ .resources.memory | quote }}
  {{- with .resources.ephemeralStorage }}
  ephemeral-storage: {{ . | quote }}
  {{- end }}
  {{- if .gpu }}
  nvidia.com/gpu: {{ int .gpu.count | quote }}
  {{- end }}
{{- end -}}

{{/* Node selector: the model's own plus the GPU product label when a GPU type is pinned. */}}
{{- define "llm-serving.nodeSelector" -}}
{{- $sel := deepCopy (.nodeSelector | default dict) -}}
{{- if and .gpu .gpu.product -}}
{{- $_ := set $sel "nvidia.com/gpu.product" .gpu.product -}}
{{- end -}}
{{- if $sel -}}
{{- toYaml $sel -}}
{{- end -}}
{{- end -}}

{{/* The autoscaling modes of the release's models, as a YAML list (after modelDefaults). */}}
{{- define "llm-serving.autoscalingModes" -}}
{{- $modes := list -}}
{{- range $raw := .Values.models -}}
{{- $m := include "llm-serving.model" (dict "root" $ "model" $raw) | fromYaml -}}
{{- $modes = append $modes $m.autoscaling.mode -}}
{{- end -}}
{{- toYaml $modes -}}
{{- end -}}

{{/*
Routed through an InferencePool and its endpoint picker ("true" or empty). Same rule as the config
model's ModelBase.routed: mode picker, or auto when the release has an inference gateway
(inferenceGateway.enabled) and the model can run more than one replica and its pods are reached
directly (not Knative's activator/queue-proxy, not scaled to zero behind the KEDA HTTP add-on).
Usage: include "llm-serving.routed" (dict "root" $ "model" $m)
*/}}
{{- define "llm-serving.routed" -}}
{{- $m := .model -}}
{{- $mode := ($m.routing | default dict).mode | default "auto" -}}
{{- $max := ternary (int $m.replicas) (int $m.autoscaling.maxReplicas) (eq $m.autoscaling.mode "none") -}}
{{- $direct := and (ne $m.autoscaling.mode "knative") (ne (int $m.autoscaling.minReplicas) 0) -}}
{{- if or (eq $mode "picker") (and (eq $mode "auto") .root.Values.inferenceGateway.enabled (gt $max 1) $direct) -}}true{{- end -}}
{{- end -}}

{{/* Name of a routed model's endpoint picker (Deployment, Service, ConfigMap, ServiceAccount). */}}
{{- define "llm-serving.eppName" -}}
{{- printf "%s-epp" .name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/*
The endpoint picker's EndpointPickerConfig (GIE v1.5.0 apix/config/v1alpha1; decoded strictly, so
only keys it knows). Scorers with weight 0, or whose series the runtime does not export, are left
out. Metrics come from the model server's own /metrics on its serving port (what the InferencePool
targets); core-metrics-extractor maps them per runtime: GIE's built-in engine configs for vLLM and
SGLang, and ours for llama-server (queue and running only: it exports no KV-usage series).
Usage: include "llm-serving.eppConfig" $m
*/}}
{{- define "llm-serving.eppConfig" -}}
{{- $r := .routing -}}
{{- $w := $r.scorers -}}
{{- $scorers := list (list "prefix-cache-scorer" $w.prefixCache) (list "queue-scorer" $w.queue) -}}
{{- if ne .runtime "llamacpp" }}{{ $scorers = append $scorers (list "kv-cache-utilization-scorer" $w.kvCacheUtilization) }}{{ end -}}
{{- if eq .runtime "vllm" }}{{ $scorers = append $scorers (list "lora-affinity-scorer" $w.loraAffinity) }}{{ end -}}
apiVersion: inference.networking.x-k8s.io/v1alpha1
kind: EndpointPickerConfig
plugins:
{{- range $s := $scorers }}
{{- if gt (float64 (index $s 1)) 0.0 }}
  - type: {{ index $s 0 }}
    {{- if eq (index $s 0) "prefix-cache-scorer" }}
    parameters:
      blockSizeTokens: {{ $r.prefixBlockSizeTokens }}
      autoTune: true
    {{- end }}
{{- end }}
{{- end }}
  - type: max-score-picker
  - type: metrics-data-source
    parameters:
      scheme: http
      path: /metrics
  - type: core-metrics-extractor
    parameters:
      defaultEngine: {{ .runtime }}
      {{- if eq .runtime "llamacpp" }}
      engineConfigs:
        - name: llamacpp
          queuedRequestsSpec: {{ include "llm-serving.series" (dict "runtime" "llamacpp" "name" "waiting") }}
          runningRequestsSpec: {{ include "llm-serving.series" (dict "runtime" "llamacpp" "name" "running") }}
          kvUsageSpec: ""
          loraSpec: ""
          cacheInfoSpec: ""
      {{- end }}
schedulingProfiles:
  - name: default
    plugins:
      {{- range $s := $scorers }}
      {{- if gt (float64 (index $s 1)) 0.0 }}
      - pluginRef: {{ index $s 0 }}
        weight: {{ index $s 1 }}
      {{- end }}
      {{- end }}
      - pluginRef: max-score-picker
dataLayer:
  sources:
    - pluginRef: metrics-data-source
      extractors:
        - pluginRef: core-metrics-extractor
{{- end -}}

{{/* A routed model's endpoint picker: labelled for its model, never matching the model's own
selectors (its InferencePool, Deployment, PodMonitor and NetworkPolicy select model-server pods). */}}
{{- define "llm-serving.eppSelectorLabels" -}}
app.kubernetes.io/name: {{ include "llm-serving.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: endpoint-picker
llm-serving/picker-for: {{ .model.name }}
{{- end -}}

{{- define "llm-serving.eppLabels" -}}
helm.sh/chart: {{ include "llm-serving.chart" .root }}
{{ include "llm-serving.eppSelectorLabels" . }}
app.kubernetes.io/version: {{ .root.Values.eppImage | splitList ":" | last | trunc 63 | quote }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
llm-serving/environment: {{ .root.Values.environment }}
{{- end -}}

{{/* Weights cached on the node group (cache.enabled with a node group resolved): "true" or empty. */}}
{{- define "llm-serving.cached" -}}
{{- if and (ne .runtime "llamacpp") .cache .cache.enabled .cache.nodeGroup -}}true{{- end -}}
{{- end -}}

{{/* LocalModelCache name: cluster-scoped, so the namespace is part of it. */}}
{{- define "llm-serving.cacheName" -}}
{{- printf "%s-%s" .root.Release.Namespace .model.name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
