"""Run the guardrails over rendered manifests, without Pulumi (Helm-only users, CI):

    python -m policies.check --manifests DIR     # e.g. the output of `python -m infra render`

Prints `policy-name: kind/namespace/name: message`; exits 1 on any mandatory violation.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import yaml

from policies.guardrails.catalog import GUARDRAILS, default_settings
from policies.guardrails.objects import Obj


def load(directory: Path) -> list[Obj]:
    objects = []
    for path in sorted(directory.rglob("*.y*ml")):
        objects += [Obj(doc) for doc in yaml.safe_load_all(path.read_text()) if isinstance(doc, dict) and doc.get("kind")]
    return objects


def run(objects: list[Obj], settings: dict | None = None) -> list[tuple[str, str, str, str]]:
    """(policy, enforcement, object ref, message) for every violation."""
    settings = {**default_settings(), **(settings or {})}
    return [(g.name, g.enforcement, obj.ref, msg) for g in GUARDRAILS for obj, msg in g.violations(objects, settings)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m policies.check", description=__doc__.splitlines()[0])
    parser.add_argument("--manifests", type=Path, required=True, help="directory of rendered YAML")
    args = parser.parse_args(argv)
    if not args.manifests.is_dir():
        print(f"error: --manifests: not a directory: {args.manifests}", file=sys.stderr)
        return 2
    violations = run(load(args.manifests))
    for policy, enforcement, ref, message in violations:
        suffix = " (advisory)" if enforcement == "advisory" else ""
        print(f"{policy}: {ref}: {message}{suffix}")
    mandatory = sum(1 for v in violations if v[1] == "mandatory")
    print(f"{mandatory} mandatory, {len(violations) - mandatory} advisory violations", file=sys.stderr)
    return 1 if mandatory else 0


if __name__ == "__main__":
    raise SystemExit(main())
