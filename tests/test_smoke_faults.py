"""The smoke suite fails, with a message that names the fault, for each injected fault, and
passes against a well-behaved server."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO_ROOT, run_smoke

FAULTS = {
    "wrong-model": ([], "/v1/models: expected 'fake-model' in ['other-model']"),
    "server-error": ([], "/v1/completions: expected HTTP 200, got 500"),
    "missing-metrics": ([], "/metrics: llamacpp series missing: ['llamacpp:prompt_tokens_total'"),
    "no-done": ([], "streaming chat: stream ended without `data: [DONE]`"),
    "slow-first-token": (["--first-token-timeout", "1"], "streaming chat: no chunk within 1.0s"),
    "ignores-api-key": (["--api-key", "sk-test"], "/v1/models without a key: expected HTTP 401, got 200"),
}


def test_smoke_passes_against_well_behaved_server(fake_server) -> None:
    server = fake_server("healthy", api_key="sk-test")
    result = run_smoke(server.base_url, "fake-model", "llamacpp", "--api-key", "sk-test")
    assert result.returncode == 0, result.stdout[-3000:]
    assert "7 passed" in result.stdout


@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_smoke_catches_fault(fake_server, fault: str) -> None:
    extra, message = FAULTS[fault]
    api_key = extra[1] if extra[:1] == ["--api-key"] else None
    server = fake_server(fault, api_key=api_key)
    result = run_smoke(server.base_url, "fake-model", "llamacpp", *extra)
    assert result.returncode == 1, result.stdout[-3000:]
    assert message in result.stdout, result.stdout[-3000:]


def test_smoke_reads_targets_from_stack_outputs(fake_server, tmp_path: Path) -> None:
    server = fake_server("healthy")
    outputs = tmp_path / "outputs.json"
    outputs.write_text(json.dumps({
        "namespace": "llm-local",
        "models": {"tiny": {"servedModelName": "fake-model", "baseUrl": server.base_url, "runtime": "llamacpp"}},
    }))  # fmt: skip
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "smoke", "-q", "-p", "no:cacheprovider", "--stack-outputs", str(outputs)],
        capture_output=True, text=True, cwd=REPO_ROOT, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-2000:]
    assert "6 passed" in result.stdout and "test_models_lists_served_name[tiny]" not in result.stdout


def test_smoke_checks_a_routed_model_through_its_gateway_too(fake_server, tmp_path: Path) -> None:
    """A routed model's outputs carry gatewayBaseUrl: the suite runs against it as well, by its own id."""
    service, gateway = fake_server("healthy"), fake_server("healthy")
    outputs = tmp_path / "outputs.json"
    outputs.write_text(json.dumps({
        "namespace": "llm-local",
        "models": {"tiny": {"servedModelName": "fake-model", "baseUrl": service.base_url, "runtime": "llamacpp",
                            "gatewayBaseUrl": gateway.base_url}},
    }))  # fmt: skip
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "smoke", "-v", "-p", "no:cacheprovider", "--stack-outputs", str(outputs)],
        capture_output=True, text=True, cwd=REPO_ROOT, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-2000:]
    assert "[tiny-via-gateway]" in result.stdout and "[tiny]" in result.stdout
    assert result.stdout.count("PASSED") == 12, result.stdout[-3000:]


def test_smoke_without_targets_says_how_to_give_them(tmp_path: Path) -> None:
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}  # no pulumi on PATH
    result = subprocess.run([sys.executable, "-m", "pytest", "smoke", "-q", "-p", "no:cacheprovider"],
                            capture_output=True, text=True, cwd=REPO_ROOT, env=env, timeout=120)  # fmt: skip
    assert result.returncode != 0
    assert "pass --base-url URL --model NAME --runtime vllm|llamacpp" in result.stdout + result.stderr


def test_smoke_takes_the_base_url_without_v1(fake_server) -> None:
    """vllm bench serve and guidellm take http://host:port; so do we (and the /v1 form)."""
    server = fake_server("healthy")
    result = run_smoke(server.base_url.removesuffix("/v1"), "fake-model", "llamacpp")
    assert result.returncode == 0, result.stdout[-3000:]


def test_bench_takes_the_base_url_without_v1(fake_server) -> None:
    from smoke.bench import main as bench

    server = fake_server("healthy")
    root = server.base_url.removesuffix("/v1")
    assert bench(["--base-url", root + "/", "--model", "fake-model", "--concurrency", "1", "--requests", "2", "--quiet"]) == 0


def test_bench_names_the_url_on_a_404(fake_server, capsys: pytest.CaptureFixture[str]) -> None:
    from smoke.bench import main as bench

    server = fake_server("healthy")
    wrong = server.base_url.removesuffix("/v1") + "/serving/qwen"
    assert bench(["--base-url", wrong, "--model", "fake-model", "--concurrency", "1", "--requests", "1", "--quiet"]) == 2
    assert f"HTTP 404 from {wrong}/v1/models: no OpenAI API there (--base-url {wrong!r})" in capsys.readouterr().err


def test_smoke_checks_the_lora_adapters_from_stack_outputs(fake_server, tmp_path: Path) -> None:
    """Adapters the stack outputs name must be listed by /v1/models, as vLLM lists --lora-modules."""
    served = fake_server("healthy", adapters=("sql",))
    outputs = tmp_path / "outputs.json"
    for wanted, ok in ((["sql"], True), (["sql", "chat"], False)):
        outputs.write_text(json.dumps({"models": {"m": {"servedModelName": "fake-model", "baseUrl": served.base_url,
                                                        "runtime": "vllm", "adapters": wanted}}}))  # fmt: skip
        result = subprocess.run(
            [sys.executable, "-m", "pytest", "smoke", "-q", "-p", "no:cacheprovider", "--stack-outputs", str(outputs),
             "-k", "models_lists_served_name"], capture_output=True, text=True, cwd=REPO_ROOT, timeout=300,
        )  # fmt: skip
        assert (result.returncode == 0) is ok, result.stdout[-2000:]
    assert "LoRA adapters ['chat'] not served (listed: ['fake-model', 'sql'])" in result.stdout
