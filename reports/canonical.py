"""Canonical JSON and the report's content hash.

Canonical form: UTF-8 JSON, keys sorted, no insignificant whitespace, every float
rounded to 6 decimal places and written in its shortest round-trip form (-0.0 is
written 0.0; NaN and infinities never occur: a missing value is null).

The content hash is the SHA-256 of the canonical JSON of the report *without* its
`content_sha256` member; the published report is the canonical JSON *with* it. To
verify: parse, remove `content_sha256`, re-encode canonically, hash, compare.
"""

from __future__ import annotations

import hashlib
import math
from typing import Any

import msgspec

__all__ = ["HASH_FIELD", "canonical_bytes", "canonical_value", "seal", "verify"]

HASH_FIELD = "content_sha256"
DECIMALS = 6


def canonical_value(value: Any) -> Any:
    """Builtins with every float rounded (recursively)."""
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"non-finite float {value!r} in a report")
        rounded = round(value, DECIMALS)
        return 0.0 if rounded == 0 else rounded
    if isinstance(value, dict):
        return {str(k): canonical_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [canonical_value(v) for v in value]
    return value


def canonical_bytes(value: Any) -> bytes:
    return msgspec.json.encode(canonical_value(msgspec.to_builtins(value)), order="sorted")


def seal(body: dict[str, Any]) -> tuple[bytes, str]:
    """The canonical bytes of `body` plus its content hash, and the hash."""
    if HASH_FIELD in body:
        raise ValueError(f"{HASH_FIELD} is added by seal(), not given")
    digest = hashlib.sha256(canonical_bytes(body)).hexdigest()
    return canonical_bytes({**body, HASH_FIELD: digest}), digest


def verify(document: bytes) -> bool:
    """True when a published report's hash matches its content."""
    parsed = msgspec.json.decode(document)
    if not isinstance(parsed, dict) or HASH_FIELD not in parsed:
        return False
    claimed = parsed.pop(HASH_FIELD)
    return bool(hashlib.sha256(canonical_bytes(parsed)).hexdigest() == claimed)
