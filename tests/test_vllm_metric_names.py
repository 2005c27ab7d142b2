"""Every vLLM metric name the smoke suite (and later rules/dashboards) relies on is defined by the
pinned vLLM release: read from vllm/v1/metrics/loggers.py in the cached vLLM venv."""

from __future__ import annotations

import re
import subprocess

import pytest

from smoke.metrics import VLLM_KEY_SERIES

pytestmark = pytest.mark.vllm_parser


def test_vllm_key_series_exist_in_pinned_release(vllm_python: str) -> None:
    path = subprocess.run(
        [vllm_python, "-c", "import importlib.util as u; print(u.find_spec('vllm').submodule_search_locations[0])"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    source = open(f"{path}/v1/metrics/loggers.py").read()
    defined = set(re.findall(r'name\s*=\s*"(vllm:[a-z_]+)"', source))
    missing = sorted(set(VLLM_KEY_SERIES.values()) - defined)
    assert not missing, f"not defined by the pinned vLLM: {missing}"
