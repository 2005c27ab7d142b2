"""Every vLLM metric name the smoke suite (and later rules/dashboards) relies on is defined by the
pinned vLLM release: read from vllm/v1/metrics/loggers.py in the cached vLLM venv."""

from __future__ import annotations

import pytest

from smoke.metrics import VLLM_KEY_SERIES

pytestmark = pytest.mark.vllm_parser


def test_vllm_key_series_exist_in_pinned_release(vllm_metric_families: set[str]) -> None:
    missing = sorted(set(VLLM_KEY_SERIES.values()) - vllm_metric_families)
    assert not missing, f"not defined by the pinned vLLM: {missing}"
