"""Quality next to speed (smoke/quality.py) against the real llama-server serving the tiny F16 GGUF
and its Q4_0 quantization. Random weights make the numbers meaningless; what is proven is the
mechanism: exact per-token log-probabilities, greedy agreement, throughput of the same run."""

from __future__ import annotations

import json
import math
from pathlib import Path

import httpx
import pytest

from conftest import LLAMA_API_KEY

from smoke.quality import Endpoint, agreement, load_eval_set, main, perplexity, token_logprobs_llamacpp, token_logprobs_vllm

TEXT_TOKENS = 48


def _endpoints(servers) -> list[str]:
    f16, q4 = servers["tiny-f16"], servers["tiny-q4"]
    return ["--a-url", f16.base_url, "--a-model", "tiny-f16", "--a-label", "F16",
            "--b-url", q4.base_url, "--b-model", "tiny-q4", "--b-label", "Q4_0", "--b-api-key", LLAMA_API_KEY]  # fmt: skip


def test_quality_report_puts_perplexity_agreement_and_throughput_in_one_table(llama_servers, tmp_path: Path,
                                                                               capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    out = tmp_path / "quality.json"
    rc = main([*_endpoints(llama_servers), "--max-text-tokens", str(TEXT_TOKENS), "--concurrency", "1,2",
               "--requests", "4", "--json", str(out)])  # fmt: skip
    assert rc == 0
    report = json.loads(out.read_text())
    for label in ("F16", "Q4_0"):
        ep = report["endpoints"][label]
        assert ep["runtime"] == "llamacpp" and ep["scored_tokens"] == TEXT_TOKENS
        assert 1 < ep["perplexity"] < math.inf
        assert [lv["concurrency"] for lv in ep["levels"]] == [1, 2] and all(lv["output_tokens_per_s"] > 0 for lv in ep["levels"])
    assert 0 <= report["greedy"]["identical_share"] <= report["greedy"]["common_prefix_share"] <= 1
    assert report["eval_set_sha256"] == load_eval_set()["sha256"]
    table = capsys.readouterr().out
    assert "| F16 |" in table and "| Q4_0 |" in table and "greedy outputs, Q4_0 vs F16" in table


def test_an_endpoint_compared_with_itself_agrees_fully(llama_servers, tmp_path: Path) -> None:
    f16 = llama_servers["tiny-f16"]
    out = tmp_path / "self.json"
    rc = main(["--a-url", f16.base_url, "--a-model", "tiny-f16", "--b-url", f16.base_url, "--b-model", "tiny-f16",
               "--max-text-tokens", "16", "--concurrency", "1", "--requests", "2", "--json", str(out)])  # fmt: skip
    assert rc == 0
    report = json.loads(out.read_text())
    assert report["greedy"] == {"identical_share": 1.0, "common_prefix_share": 1.0}
    assert report["endpoints"]["A"]["perplexity"] == pytest.approx(report["endpoints"]["B"]["perplexity"], rel=1e-6)


def test_teacher_forced_logprob_equals_the_unbiased_distribution(llama_servers) -> None:
    """The forced token's log-probability is the model's own: the same token's entry in the whole
    distribution (n_probs above the tiny vocabulary) of a request that forces another token."""
    f16 = llama_servers["tiny-f16"]
    ep = Endpoint("F16", f16.base_url.removesuffix("/v1"), "tiny-f16")
    text = "the model is fast"
    forced = token_logprobs_llamacpp(ep, text, 8, timeout=30)
    tokens = ep.post("/tokenize", {"content": text, "add_special": True}, 30)["tokens"]
    letters = ep.post("/tokenize", {"content": "xq", "add_special": False}, 30)["tokens"]
    for i, value in enumerate(forced[:3], start=1):
        other = next(t for t in letters if t != tokens[i])  # an ASCII token: llama-server sends its probabilities
        body = {"prompt": tokens[:i], "n_predict": 1, "n_probs": 400, "temperature": 0, "logit_bias": [[other, 1000]]}
        dist = {t["id"]: t["logprob"] for t in httpx.post(f"{ep.root}/completion", json=body, timeout=30).json()["completion_probabilities"][0]["top_logprobs"]}
        assert dist[tokens[i]] == pytest.approx(value, abs=1e-4)


def test_vllm_prompt_logprobs_are_read_from_echo(monkeypatch: pytest.MonkeyPatch) -> None:
    """vLLM's completions answer with echo: the prompt's token_logprobs (first None), then the
    generated token's: only the prompt's scored ones count."""
    ep = Endpoint("vllm", "http://127.0.0.1:1", "m")
    answer = {"choices": [{"text": "ab c", "logprobs": {"token_logprobs": [None, -1.0, -2.0, -0.5]}}]}
    monkeypatch.setattr(Endpoint, "post", lambda self, path, body, timeout: answer if body["echo"] and body["max_tokens"] == 1 else {})
    assert token_logprobs_vllm(ep, "ab", 5) == [-1.0, -2.0]


def test_perplexity_and_agreement_by_hand() -> None:
    assert perplexity([-1.0, -1.0]) == pytest.approx(math.e)
    assert agreement(["abcd", "xy"], ["abzz", "xy"]) == {"identical_share": 0.5, "common_prefix_share": 0.75}


def test_bad_arguments_exit_with_a_message(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as err:
        main(["--a-url", "http://x", "--a-model", "m", "--b-url", "http://y", "--b-model", "m", "--max-text-tokens", "1"])
    assert err.value.code == 2 and "--max-text-tokens must be >= 2, got 1" in capsys.readouterr().err
    assert main(["--a-url", "http://x", "--a-model", "m", "--b-url", "http://y", "--b-model", "m", "--a-label", "same", "--b-label", "same"]) == 2
