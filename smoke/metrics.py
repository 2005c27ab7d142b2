"""The /metrics series each runtime must expose for our autoscaling, alerts and dashboards.

vLLM names are those of the pinned release (vllm/v1/metrics/loggers.py of infra.versions.VLLM_VERSION;
a test reads that file from the cached vLLM venv). Counters gain `_total` and histograms
`_bucket/_sum/_count` when exposed. SGLang names are those of the pinned release
(sglang/srt/observability/metrics_collector.py of infra.versions.SGLANG_VERSION; a test reads that
file from the cached SGLang venv). llama.cpp names are what the real llama-server build
(infra.versions.LLAMACPP_BUILD) exposes with --metrics; a test checks them against the running server.
"""

from __future__ import annotations

# Exposed names (as scraped), mapped to the metric family that defines them.
VLLM_KEY_SERIES = {
    "vllm:num_requests_waiting": "vllm:num_requests_waiting",  # queue depth: the autoscaling signal
    "vllm:num_requests_running": "vllm:num_requests_running",
    "vllm:kv_cache_usage_perc": "vllm:kv_cache_usage_perc",
    "vllm:time_to_first_token_seconds_bucket": "vllm:time_to_first_token_seconds",
    "vllm:inter_token_latency_seconds_bucket": "vllm:inter_token_latency_seconds",
    "vllm:request_time_per_output_token_seconds_bucket": "vllm:request_time_per_output_token_seconds",
    "vllm:num_preemptions_total": "vllm:num_preemptions",
    "vllm:generation_tokens_total": "vllm:generation_tokens",
}

LLAMACPP_KEY_SERIES = {
    "llamacpp:prompt_tokens_total": "llamacpp:prompt_tokens_total",
    "llamacpp:tokens_predicted_total": "llamacpp:tokens_predicted_total",
    "llamacpp:requests_processing": "llamacpp:requests_processing",
    "llamacpp:requests_deferred": "llamacpp:requests_deferred",
}

# The same meanings as vLLM's (the chart's "llm-serving.series" maps them for rules and triggers).
SGLANG_KEY_SERIES = {
    "sglang:num_queue_reqs": "sglang:num_queue_reqs",  # queue depth: the autoscaling signal
    "sglang:num_running_reqs": "sglang:num_running_reqs",
    "sglang:token_usage": "sglang:token_usage",  # KV-cache usage
    "sglang:time_to_first_token_seconds_bucket": "sglang:time_to_first_token_seconds",
    "sglang:request_time_per_output_token_seconds_bucket": "sglang:request_time_per_output_token_seconds",
    "sglang:num_retracted_requests_total": "sglang:num_retracted_requests_total",  # preemptions
    "sglang:generation_tokens_total": "sglang:generation_tokens_total",
    "sglang:http_responses_total": "sglang:http_responses_total",  # error ratio (status_code)
    # Grows every decode step (mode="decode"): the tensor-parallel stall alert's progress signal.
    "sglang:realtime_tokens_total": "sglang:realtime_tokens_total",
}

KEY_SERIES = {"vllm": VLLM_KEY_SERIES, "sglang": SGLANG_KEY_SERIES, "llamacpp": LLAMACPP_KEY_SERIES}


def exposed_names(exposition: str) -> set[str]:
    """Metric names present in a Prometheus text exposition (samples, not just HELP lines)."""
    names = set()
    for line in exposition.splitlines():
        if line and not line.startswith("#"):
            names.add(line.split("{", 1)[0].split(" ", 1)[0])
    return names
