"""Routing config (infra/config/routing.py): which models go through an endpoint picker, and what is
refused, by key, before anything is created."""

from __future__ import annotations

import pytest
from conftest import llamacpp_entry, vllm_entry

from infra.stack import ConfigError, parse

GATEWAY = {"inferenceGateway": {"enabled": True}}


def _parse(*models, platform=GATEWAY, **extra):
    return parse({"models": list(models), "platform": platform, **extra})


def _error(*models, platform=GATEWAY, **extra) -> str:
    with pytest.raises(ConfigError) as err:
        _parse(*models, platform=platform, **extra)
    return "\n".join(err.value.lines)


def test_auto_routes_only_models_that_can_run_more_than_one_replica() -> None:
    config = _parse(vllm_entry(replicas=2), llamacpp_entry(), llamacpp_entry(name="scaled", autoscaling={"mode": "keda", "maxReplicas": 3}))
    assert [m.routed(True) for m in config.models] == [True, False, True]


def test_auto_routes_nothing_without_an_inference_gateway() -> None:
    config = _parse(vllm_entry(replicas=2), platform={})
    assert not config.models[0].routed(config.platform.inference_gateway.enabled)


def test_auto_leaves_knative_and_scale_to_zero_models_on_their_own_path() -> None:
    config = _parse(
        vllm_entry(autoscaling={"mode": "knative", "maxReplicas": 3}),
        llamacpp_entry(autoscaling={"mode": "keda", "minReplicas": 0, "maxReplicas": 3}),
        platform={**GATEWAY, "knative": {"install": True}, "keda": {"httpAddon": True}},
    )
    assert [m.routed(True) for m in config.models] == [False, False]


def test_picker_with_knative_is_refused_naming_the_key() -> None:
    message = _error(vllm_entry(autoscaling={"mode": "knative"}, routing={"mode": "picker"}), platform={**GATEWAY, "knative": {"install": True}})
    assert "routing.mode: picker cannot work here" in message and "knative" in message


def test_picker_with_scale_to_zero_is_refused() -> None:
    message = _error(llamacpp_entry(autoscaling={"mode": "keda", "minReplicas": 0, "maxReplicas": 2}, routing={"mode": "picker"}),
                     platform={**GATEWAY, "keda": {"httpAddon": True}})  # fmt: skip
    assert "routing.mode: picker cannot work here" in message and "minReplicas 0" in message


def test_picker_without_a_gateway_is_refused() -> None:
    message = _error(vllm_entry(routing={"mode": "picker"}), platform={})
    assert "models[0].routing.mode: picker" in message and "platform.inferenceGateway.enabled" in message


def test_unknown_scorer_is_refused_by_name() -> None:
    message = _error(vllm_entry(replicas=2, routing={"scorers": {"prefixAffinity": 1}}))
    assert "prefixAffinity" in message


def test_weights_that_sum_to_zero_are_refused() -> None:
    message = _error(vllm_entry(replicas=2, routing={"scorers": {"prefixCache": 0, "queue": 0, "kvCacheUtilization": 0}}))
    assert "every weight is 0" in message


def test_scorer_the_runtime_cannot_feed_is_refused_when_set() -> None:
    message = _error(llamacpp_entry(replicas=2, routing={"scorers": {"kvCacheUtilization": 1}}))
    assert "routing.scorers.kvCacheUtilization: llamacpp exports no series" in message


def test_lora_affinity_is_refused_for_sglang() -> None:
    message = _error(vllm_entry(runtime="sglang", replicas=2, routing={"scorers": {"loraAffinity": 1}}))
    assert "routing.scorers.loraAffinity: sglang exports no series" in message


def test_routed_llamacpp_behind_an_api_key_is_refused() -> None:
    """llama-server protects /metrics with its API key; the picker's metrics source sends none."""
    message = _error(llamacpp_entry(replicas=2), apiKeyExistingSecret="llm-api-key")
    assert "models[0].routing.mode" in message and "/metrics" in message


def test_gateway_namespace_is_admitted_by_the_network_policy_when_a_model_is_routed() -> None:
    config = _parse(vllm_entry(replicas=2), platform={"inferenceGateway": {"enabled": True, "namespace": "edge"}})
    assert "edge" in config.chart_values().network_policy.allow_from_namespaces
    unrouted = _parse(vllm_entry(), platform={"inferenceGateway": {"enabled": True, "namespace": "edge"}})
    assert "edge" not in unrouted.chart_values().network_policy.allow_from_namespaces
