"""The linter tier's two foreign checkers, pinned: kube-score (tools/toolchain.sh kubescore) and
Checkov (tools/checkov-venv.sh). Each returns its findings as (linter, check, object) with the
checker's own message; tests/linters/allowlist.yaml holds the reviewed exceptions, each with a
reason. A finding no entry covers fails the tier, and so does an entry that covers nothing."""

from __future__ import annotations

import fnmatch
import json
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

REPO_ROOT = Path(__file__).resolve().parents[1]
ALLOWLIST = Path(__file__).parent / "linters" / "allowlist.yaml"
# kube-score grades (scorecard/scorecard.go): 1 critical, 5 warning, 7 almost OK, 10 OK.
KUBE_SCORE_WARNING = 5


@dataclass(frozen=True)
class Finding:
    linter: str
    check: str
    obj: str
    """Kind/namespace/name."""
    message: str

    def __str__(self) -> str:
        return f"{self.linter} {self.check} {self.obj}: {self.message}"


def object_id(obj: dict[str, Any]) -> str:
    meta = obj.get("metadata", {})
    return f"{obj['kind']}/{meta.get('namespace', '')}/{meta['name']}"


def kube_score(binary: Path, objects: list[dict[str, Any]], kubernetes_version: str) -> list[Finding]:
    result = subprocess.run([str(binary), "score", "--output-format", "json", "--kubernetes-version", kubernetes_version, "-"],
                            input=yaml.safe_dump_all(objects), capture_output=True, text=True, timeout=300)  # fmt: skip
    if result.returncode not in (0, 1):  # 1: a critical finding
        raise RuntimeError(f"kube-score failed (exit {result.returncode}): {result.stderr[-2000:]}")
    findings = []
    for scored in json.loads(result.stdout):
        obj = f"{scored['type_meta']['kind']}/{scored['object_meta'].get('namespace', '')}/{scored['object_meta']['name']}"
        for check in scored["checks"]:
            if not check["skipped"] and check["grade"] <= KUBE_SCORE_WARNING:
                summary = "; ".join(f"{c['path']} {c['summary']}".strip() for c in check.get("comments") or [])
                findings.append(Finding("kube-score", check["check"]["id"], obj, summary))
    return findings


def checkov(binary: Path, objects: list[dict[str, Any]]) -> list[Finding]:
    with tempfile.TemporaryDirectory() as tmp:
        for i, obj in enumerate(objects):
            (Path(tmp) / f"{i:03d}.yaml").write_text(yaml.safe_dump(obj))
        result = subprocess.run([str(binary), "-d", tmp, "--framework", "kubernetes", "-o", "json", "--quiet", "--compact",
                                 "--skip-download"], capture_output=True, text=True, timeout=900)  # fmt: skip
    if result.returncode not in (0, 1):  # 1: failed checks
        raise RuntimeError(f"checkov failed (exit {result.returncode}): {result.stderr[-2000:]}")
    reports = json.loads(result.stdout) if result.stdout.strip() else []
    reports = reports if isinstance(reports, list) else [reports]
    findings = []
    for report in reports:
        for failed in report.get("results", {}).get("failed_checks", []):
            kind, namespace, name = failed["resource"].split(".", 2)  # Kind.namespace.name
            findings.append(Finding("checkov", failed["check_id"], f"{kind}/{namespace}/{name}", failed["check_name"]))
    return findings


def allowlist() -> list[dict[str, Any]]:
    return yaml.safe_load(ALLOWLIST.read_text())


def allowed(finding: Finding, entry: dict[str, Any]) -> bool:
    return (entry["linter"], entry["check"]) == (finding.linter, finding.check) and any(
        fnmatch.fnmatchcase(finding.obj, pattern) for pattern in entry["objects"]
    )


def unexplained(findings: list[Finding], linter: str) -> tuple[list[Finding], list[dict[str, Any]]]:
    """(findings no allow-list entry covers, this linter's entries that cover no finding)."""
    entries = [e for e in allowlist() if e["linter"] == linter]
    left = [f for f in findings if not any(allowed(f, e) for e in entries)]
    stale = [e for e in entries if not any(allowed(f, e) for f in findings)]
    return left, stale
