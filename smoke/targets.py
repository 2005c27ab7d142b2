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


def from_outputs(outputs: dict, api_key: str | None) -> list[Target]:
    models = outputs.get("models")
    if not isinstance(models, dict) or not models:
        raise ValueError("stack outputs have no `models` map; is this a stack of this project?")
    return [
        Target(name, m["baseUrl"], m["servedModelName"], m["runtime"], api_key, outputs.get("namespace"), m.get("host"),
               tuple(m.get("adapters") or ()))
        for name, m in sorted(models.items())
    ]


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
