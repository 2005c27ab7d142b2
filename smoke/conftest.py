"""Smoke suite options and fixtures. Run after `pulumi up`:

    pytest smoke                                    # every model in `pulumi stack output --json`
    pytest smoke --stack-outputs outputs.json       # same, from a saved output file
    pytest smoke --base-url URL --model NAME --runtime vllm|llamacpp [--api-key KEY]
"""

from __future__ import annotations

import shutil
import subprocess

import pytest

from smoke.client import SmokeClient
from smoke.targets import Target, from_outputs, load_stack_outputs


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("smoke")
    group.addoption("--base-url", help="one endpoint: http://host:port or http://host:port/v1")
    group.addoption("--model", help="served model name at --base-url")
    group.addoption("--runtime", choices=["vllm", "sglang", "llamacpp"], help="server runtime at --base-url")
    group.addoption("--api-key", default=None, help="API key the servers require")
    group.addoption("--host-header", default=None, help="Host header to send (a model behind the KEDA HTTP add-on's interceptor)")
    group.addoption("--adapters", default="", help="comma-separated LoRA adapter names /v1/models must list")
    group.addoption("--stack-outputs", help="file with `pulumi stack output --json`")
    group.addoption("--stack", help="Pulumi stack to read outputs from")
    group.addoption("--request-timeout", type=float, default=60.0, help="seconds per request")
    group.addoption("--first-token-timeout", type=float, default=30.0, help="seconds to the first streamed chunk")
    group.addoption("--ready-timeout", type=float, default=120.0, help="seconds to wait for /health")


def _targets(config: pytest.Config) -> list[Target]:
    key = config.getoption("--api-key")
    if config.getoption("--base-url"):
        missing = [o for o in ("--model", "--runtime") if not config.getoption(o)]
        if missing:
            raise pytest.UsageError(f"--base-url needs {' and '.join(missing)}")
        return [
            Target(config.getoption("--model"), config.getoption("--base-url"), config.getoption("--model"),
                   config.getoption("--runtime"), key, host=config.getoption("--host-header"),
                   adapters=tuple(a for a in config.getoption("--adapters").split(",") if a))
        ]  # fmt: skip
    try:
        outputs = load_stack_outputs(config.getoption("--stack-outputs"), config.getoption("--stack"))
        return from_outputs(outputs, key)
    except ValueError as err:
        raise pytest.UsageError(str(err)) from None


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "target" in metafunc.fixturenames:
        targets = _targets(metafunc.config)
        metafunc.parametrize("target", targets, ids=[t.id for t in targets], scope="module")


@pytest.fixture(scope="module")
def client(target: Target, request: pytest.FixtureRequest) -> SmokeClient:
    return SmokeClient(target.base_url, target.api_key, timeout=request.config.getoption("--request-timeout"), host=target.host)


@pytest.fixture(scope="session")
def kubectl_available() -> bool:
    """A cluster is reachable through kubectl (the in-cluster checks need one)."""
    if shutil.which("kubectl") is None:
        return False
    result = subprocess.run(["kubectl", "version", "--request-timeout=5s"], capture_output=True, timeout=15)
    return result.returncode == 0
