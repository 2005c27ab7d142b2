"""Every PromQL expression the chart renders, run by the real Prometheus that users get (3.x, the
release kube-prometheus-stack 88.5.3 runs): each KEDA trigger query is accepted by the query API,
and every recording rule and alert of every committed stack and matrix case loads and evaluates
with health "ok". PromQL changed in 3.0 (left-open range selectors, `.` matching newlines, UTF-8
names), so a 2.x promtool passing them says little."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any

import pytest
from conftest import CONFIGS

from infra.chart import render
from localcp.process import ProcessError
from localcp.prometheus import PrometheusServer, PromQLError

pytestmark = pytest.mark.engine


def _objects(kind: str) -> list[tuple[str, dict[str, Any]]]:
    found = []
    for case, config in CONFIGS:
        objects = render(config.chart_values(), release=config.release_name, namespace=config.namespace)
        found += [(case, o) for o in objects if o["kind"] == kind]
    return found


TRIGGERS = [(f"{case}/{o['metadata']['name']}/{t['name']}", t["metadata"]["query"])
            for case, o in _objects("ScaledObject") for t in o["spec"]["triggers"] if t["type"] == "prometheus"]  # fmt: skip
RULE_SETS = _objects("PrometheusRule")
DASHBOARD = json.loads((Path(__file__).parents[1] / "charts" / "llm-serving" / "dashboards" / "llm-serving.json").read_text())
# Grafana substitutes its template variables before it sends a query; these are values a user picks.
DASHBOARD_VARIABLES = {"namespace": "llm-serving", "model": ".*", "datasource": "prometheus"}


def _grafana_substitute(expr: str) -> str:
    """$name and ${name} replaced as Grafana does (a variable it does not know would stay and fail)."""
    return re.sub(r"\$\{?(\w+)\}?", lambda m: DASHBOARD_VARIABLES[m.group(1)], expr)


DASHBOARD_QUERIES = [(f"{p['title']}/{t.get('refId', i)}", _grafana_substitute(t["expr"]))
                     for p in DASHBOARD["panels"] for i, t in enumerate(p.get("targets", []))]  # fmt: skip


def test_the_matrix_renders_trigger_queries_rules_and_panels() -> None:
    assert len(TRIGGERS) >= 5 and len(RULE_SETS) >= 5 and len(DASHBOARD_QUERIES) >= 10


# Every query the chart ships outside its rule files: KEDA trigger queries and dashboard panels
# (with Grafana's variables substituted), each parsed and evaluated by the pinned Prometheus.
QUERIES = [(f"trigger/{i}", q) for i, q in TRIGGERS] + [(f"dashboard/{i}", q) for i, q in DASHBOARD_QUERIES]


@pytest.mark.parametrize("query", [q for _, q in QUERIES], ids=[i for i, _ in QUERIES])
def test_query_parses_and_evaluates(prometheus: PrometheusServer, query: str) -> None:
    try:
        prometheus.query(query)
    except PromQLError as err:
        pytest.fail(f"Prometheus refused {query!r}: {err}")


def test_every_rule_evaluates_without_error(prometheus: PrometheusServer) -> None:
    # Group names are unique per file; evaluated every 2s so the first evaluation comes quickly.
    groups = [{**group, "name": f"{case}/{group['name']}", "interval": "2s"} for case, rule in RULE_SETS for group in rule["spec"]["groups"]]
    prometheus.write_config(rule_groups=groups)
    prometheus.reload(prometheus.scrape_configs)
    deadline = time.monotonic() + 60
    while True:
        loaded = prometheus.rule_groups()
        rules = [(g["name"], r) for g in loaded for r in g["rules"]]
        if len(loaded) == len(groups) and all(r["health"] != "unknown" for _, r in rules):
            break
        assert time.monotonic() < deadline, f"rules not all evaluated within 60s ({len(loaded)}/{len(groups)} groups loaded)"
        time.sleep(1)
    failing = [f"{group}: {r['name']}: {r.get('lastError')}" for group, r in rules if r["health"] != "ok"]
    assert not failing, "\n".join(failing)
    assert len(rules) == sum(len(g["rules"]) for g in groups)


def test_prometheus_that_refuses_its_config_is_named_with_its_log_and_left_stopped(tmp_path: Path) -> None:
    broken = PrometheusServer(tmp_path / "broken")
    broken.write_config([{"job_name": "x", "static_configs": [{"targets": ["127.0.0.1:1"]}], "scrape_interval": "often"}])
    with pytest.raises(ProcessError, match="prometheus") as err:
        broken.start(timeout=30)
    assert "often" in str(err.value)
    assert broken.process.pid is None
