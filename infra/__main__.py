"""Entry point of both the Pulumi program (Pulumi.yaml `main: infra/`) and the offline commands
(`python -m infra render|schema`): under the Pulumi engine it runs infra.program, else the CLI."""

from __future__ import annotations

import sys
from pathlib import Path

if __package__ in (None, ""):  # run by Pulumi as a directory: make `infra` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pulumi.runtime.settings import get_monitor

if get_monitor() is not None:
    from infra.program import main as program

    program()
elif __name__ == "__main__":
    from infra.cli import main

    raise SystemExit(main())
