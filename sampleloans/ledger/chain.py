"""Canonical encoding and the hash chain: hash = sha256(prev_hash ‖ canonical(event))."""

import hashlib
import json
from typing import Any

GENESIS_PREFIX = "sampleloans-genesis-v1:"


def canonical(value: Any) -> str:
    """Sorted-key compact JSON, the one encoding that hashes are computed over."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def genesis_hash(ledger_id: str) -> str:
    """The value the first event chains from; unique per ledger so no two share hashes."""
    return hashlib.sha256((GENESIS_PREFIX + ledger_id).encode("utf-8")).hexdigest()


def event_body(
    *,
    seq: int,
    kind: str,
    payload: str,
    occurred_at: str,
    recorded_at: str,
    actor: str,
    os_user: str,
    corrects_seq: int | None,
    reason: str | None,
) -> dict[str, Any]:
    """Every stored field of an event except its own hash and the previous hash."""
    return {
        "seq": seq,
        "kind": kind,
        "payload": payload,
        "occurred_at": occurred_at,
        "recorded_at": recorded_at,
        "actor": actor,
        "os_user": os_user,
        "corrects_seq": corrects_seq,
        "reason": reason,
    }


def link_hash(prev_hash: str, body: dict[str, Any]) -> str:
    """The hash of one event given the previous event's hash."""
    digest = hashlib.sha256()
    digest.update(prev_hash.encode("ascii"))
    digest.update(canonical(body).encode("utf-8"))
    return digest.hexdigest()


def format_head(seq: int, hash_hex: str) -> str:
    """The printable ledger head `SEQ:HASH`."""
    return f"{seq}:{hash_hex}"
