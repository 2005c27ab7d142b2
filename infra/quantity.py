"""Kubernetes resource quantities ("500m", "4", "16Gi") as numbers, for bounds and derived flags."""

from __future__ import annotations

import re
from decimal import Decimal

_SUFFIX = {
    "": 1, "m": Decimal("0.001"), "k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12,
    "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40,
}  # fmt: skip
_QUANTITY = re.compile(r"^(?P<num>[+-]?[0-9]+(\.[0-9]+)?)(?P<suffix>m|k|Ki|M|Mi|G|Gi|T|Ti)?$")


def parse_quantity(value: str | int | float) -> Decimal:
    """Return the quantity in base units (cores, bytes). Raises ValueError on malformed input."""
    match = _QUANTITY.match(str(value).strip())
    if not match:
        raise ValueError(f"not a Kubernetes quantity, got {value!r}")
    return Decimal(match["num"]) * Decimal(_SUFFIX[match["suffix"] or ""])
