"""Print the capacity plan of every committed stack (benchmark-style: numbers, no assertions).

    .venv/bin/python tools/plan_stacks.py [--json]
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from infra.planner import plan_stack  # noqa: E402
from infra.planner.report import as_json, table  # noqa: E402
from infra.stack import STACKS_DIR, load_stack_file  # noqa: E402


def main() -> int:
    for path in sorted(STACKS_DIR.glob("Pulumi.*.yaml")):
        plans = plan_stack(load_stack_file(path)).models
        print(f"== {path.name}")
        print(as_json(plans) if "--json" in sys.argv else table(plans))
        print()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
