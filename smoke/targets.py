"""What the smoke suite checks: one endpoint from the command line, or every model of a stack
from `pulumi stack output --json` (the `models` output of the Pulumi program)."""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

Runtime = Literal["vllm", "sglang", "llamacpp"]


@dataclass(frozen=True)
class Target:
    name: str
    base_url: str
    """OpenAI base URL, ending in /v1."""
    served_model_name: str
    runtime: Runtime
    api_key: str | None = None
    namespace: str | None = None
    host: str | None = None
    """Host header to send: the model's Service name when base_url is the KEDA HTTP add-on's
    interceptor (it routes by Host)."""
    adapters: tuple[str, ...] = ()
    """LoRA adapters served on this model: /v1/models must list each."""
    via: Literal["service", "gateway"] = "service"
    """How base_url reaches the model: its Service (or the HTTP add-on), or the inference gateway's
    HTTPRoute and the model's endpoint picker (routed models are checked both ways)."""

    @property
    def id(self) -> str:
        return self.name if self.via == "service" else f"{self.name}-via-gateway"


def from_outputs(outputs: dict, api_key: str | None) -> list[Target]:
    models = outputs.get("models")
    if not isinstance(models, dict) or not models:
        raise ValueError("stack outputs have no `models` map; is this a stack of this project?")
    targets = []
    for name, m in sorted(models.items()):
        common = dict(served_model_name=m["servedModelName"], runtime=m["runtime"], api_key=api_key,
                      namespace=outputs.get("namespace"), adapters=tuple(m.get("adapters") or ()))  # fmt: skip
        targets.append(Target(name, m["baseUrl"], host=m.get("host"), **common))
        if m.get("gatewayBaseUrl"):
            targets.append(Target(name, m["gatewayBaseUrl"], host=m.get("gatewayHost"), via="gateway", **common))
    return targets


def load_stack_outputs(path: str | None, stack: str | None) -> dict:
    """From a saved `pulumi stack output --json` file, or by running the Pulumi CLI."""
    if path:
        return json.loads(Path(path).read_text())
    if shutil.which("pulumi") is None:
        raise ValueError(
            "no endpoint given: pass --base-url URL --model NAME --runtime vllm|llamacpp, "
            "or --stack-outputs FILE, or put the Pulumi CLI on PATH"
        )
    command = ["pulumi", "stack", "output", "--json", "--show-secrets"] + (["--stack", stack] if stack else [])
    result = subprocess.run(command, capture_output=True, text=True, timeout=120)
    if result.returncode != 0:
        raise ValueError(f"`{' '.join(command)}` failed: {result.stderr.strip()[:500]}")
    return json.loads(result.stdout)
