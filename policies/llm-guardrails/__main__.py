"""The llm-guardrails CrossGuard pack: assembles policies/guardrails into Pulumi policies.

    pulumi preview --policy-pack policies/llm-guardrails
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent.parent))

from pulumi_policy import PolicyPack  # noqa: E402

from policies.guardrails.pulumi_adapter import pulumi_policies  # noqa: E402

PolicyPack(name="llm-guardrails", policies=pulumi_policies())
