"""Run the guardrails over rendered manifests, without Pulumi (Helm-only users, CI):

    python -m policies.check --manifests DIR     # e.g. the output of `python -m infra render`

Prints `policy-name: kind/namespace/name: message`, then how to fix it and where the policy is
documented; exits 1 on any mandatory violation, 2 when there is nothing to check.
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
    parser = argparse.ArgumentParser(prog="python -m policies.check", description=" ".join(__doc__.split("\n\n")[0].split()))
    parser.add_argument("--manifests", type=Path, required=True, help="directory of rendered YAML")
    args = parser.parse_args(argv)
    if not args.manifests.is_dir():
        print(f"error: --manifests: not a directory: {args.manifests}", file=sys.stderr)
        return 2
    objects = load(args.manifests)
    if not objects:
        print(f"error: --manifests: no Kubernetes objects in {args.manifests} (render first: "
              "python -m infra render --stack NAME --out DIR)", file=sys.stderr)  # fmt: skip
        return 2
    violations = run(objects)
    guardrails = {g.name: g for g in GUARDRAILS}
    for policy, enforcement, ref, message in violations:
        suffix = " (advisory)" if enforcement == "advisory" else ""
        print(f"{policy}: {ref}: {message}{suffix}")
        print(f"  fix: {guardrails[policy].remediation}\n  see: {guardrails[policy].url}")
    mandatory = sum(1 for v in violations if v[1] == "mandatory")
    print(f"checked {len(objects)} objects against {len(GUARDRAILS)} policies: "
          f"{mandatory} mandatory, {len(violations) - mandatory} advisory violations", file=sys.stderr)  # fmt: skip
    return 1 if mandatory else 0


if __name__ == "__main__":
    raise SystemExit(main())
