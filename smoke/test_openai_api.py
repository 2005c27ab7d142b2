"""Per model: the server is ready and answers the OpenAI API correctly, streams properly, exposes
its key metrics, and enforces its API key. Random-weight models produce random text, so these
check structure and token accounting, never content."""

from __future__ import annotations

import pytest

from smoke.client import SmokeClient, not_found_hint, wait_until_ready
from smoke.metrics import KEY_SERIES, exposed_names
from smoke.targets import Target

MAX_TOKENS = 8


def _json(response, what: str) -> dict:
    if response.status_code == 404:
        raise AssertionError(f"{what}: {not_found_hint(str(response.request.url), str(response.request.url))}")
    assert response.status_code == 200, f"{what}: expected HTTP 200, got {response.status_code}: {response.text[:300]}"
    try:
        return response.json()
    except ValueError:
        raise AssertionError(f"{what}: expected a JSON body, got {response.text[:300]!r}") from None


def _check_usage(body: dict, what: str) -> None:
    usage = body.get("usage")
    assert isinstance(usage, dict), f"{what}: expected a `usage` object, got {usage!r}"
    prompt, completion = usage.get("prompt_tokens"), usage.get("completion_tokens")
    assert isinstance(prompt, int) and prompt > 0, f"{what}: expected usage.prompt_tokens > 0, got {prompt!r}"
    assert isinstance(completion, int) and 0 < completion <= MAX_TOKENS, (
        f"{what}: expected 0 < usage.completion_tokens <= max_tokens={MAX_TOKENS}, got {completion!r}"
    )
    assert usage.get("total_tokens") == prompt + completion, f"{what}: total_tokens != prompt + completion: {usage}"


def test_server_is_ready(client: SmokeClient, request: pytest.FixtureRequest) -> None:
    timeout = request.config.getoption("--ready-timeout")
    last = wait_until_ready(client, timeout)
    got = "no response" if last is None else f"HTTP {last.status_code}: {last.text[:200]}"
    assert last is not None and last.status_code == 200, f"{client.root_url}/health: expected 200 within {timeout}s, got {got}"


def test_models_lists_served_name(client: SmokeClient, target: Target) -> None:
    body = _json(client.get("/models"), "/v1/models")
    ids = [m.get("id") for m in body.get("data", [])]
    assert target.served_model_name in ids, f"/v1/models: expected {target.served_model_name!r} in {ids}"
    missing = [a for a in target.adapters if a not in ids]
    assert not missing, f"/v1/models: LoRA adapters {missing} not served (listed: {ids})"


def test_completion_is_well_formed(client: SmokeClient, target: Target) -> None:
    body = _json(
        client.post_json("/completions", {"model": target.served_model_name, "prompt": "The cache", "max_tokens": MAX_TOKENS}),
        "/v1/completions",
    )
    choice = (body.get("choices") or [{}])[0]
    assert isinstance(choice.get("text"), str), f"/v1/completions: expected choices[0].text, got {choice!r}"
    assert choice.get("finish_reason") in ("length", "stop"), f"/v1/completions: bad finish_reason {choice.get('finish_reason')!r}"
    assert body.get("model") == target.served_model_name, f"/v1/completions: model {body.get('model')!r}"
    _check_usage(body, "/v1/completions")


def test_chat_completion_is_well_formed(client: SmokeClient, target: Target) -> None:
    body = _json(
        client.post_json(
            "/chat/completions",
            {"model": target.served_model_name, "messages": [{"role": "user", "content": "Hello"}], "max_tokens": MAX_TOKENS},
        ),
        "/v1/chat/completions",
    )
    choice = (body.get("choices") or [{}])[0]
    message = choice.get("message") or {}
    assert message.get("role") == "assistant", f"/v1/chat/completions: expected role assistant, got {message!r}"
    assert isinstance(message.get("content"), str), f"/v1/chat/completions: expected string content, got {message!r}"
    assert choice.get("finish_reason") in ("length", "stop"), f"/v1/chat/completions: bad finish_reason {choice!r}"
    _check_usage(body, "/v1/chat/completions")


def test_streaming_chat_ends_with_done(client: SmokeClient, target: Target, request: pytest.FixtureRequest) -> None:
    result = client.stream_chat(
        {"model": target.served_model_name, "messages": [{"role": "user", "content": "Hi"}], "max_tokens": MAX_TOKENS},
        first_chunk_timeout=request.config.getoption("--first-token-timeout"),
    )
    request.node.user_properties.append(("time_to_first_chunk_s", result.first_chunk_seconds))
    print(f"{target.name}: time to first chunk {result.first_chunk_seconds:.3f}s, total {result.total_seconds:.3f}s")
    assert result.chunks, "streaming chat: expected at least one chunk, got none"
    objects = {c.get("object") for c in result.chunks}
    assert objects == {"chat.completion.chunk"}, f"streaming chat: expected chat.completion.chunk objects, got {objects}"
    assert result.done, f"streaming chat: stream ended without `data: [DONE]` after {len(result.chunks)} chunks"
    finish = [c["choices"][0].get("finish_reason") for c in result.chunks if c.get("choices")]
    assert finish and finish[-1] in ("length", "stop"), f"streaming chat: last finish_reason {finish[-1:]}"


def test_metrics_expose_key_series(client: SmokeClient, target: Target) -> None:
    response = client.get(f"{client.root_url}/metrics")
    assert response.status_code == 200, f"/metrics: expected HTTP 200, got {response.status_code}: {response.text[:200]}"
    missing = sorted(set(KEY_SERIES[target.runtime]) - exposed_names(response.text))
    assert not missing, f"/metrics: {target.runtime} series missing: {missing}"


def test_request_without_key_is_rejected(client: SmokeClient, target: Target) -> None:
    if not target.api_key:
        pytest.skip("not applicable: no --api-key given, the endpoint is not expected to require one")
    response = client.get("/models", authenticated=False)
    assert response.status_code == 401, f"/v1/models without a key: expected HTTP 401, got {response.status_code}"
