"""The signed checkpoint a report names: the newest kept one whose tree covers the report's
head event, with that event's inclusion proof (docs/ledger-format.md section 4).

A report at a head no checkpoint covers names none and says so on its page; `verify-document`
rebuilds a report with the checkpoint its file names (`named`), so a checkpoint made later never
changes the bytes of an earlier report.
"""

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection
from sqlmodel import Session

from sampleloans.errors import InvalidInput, RuleViolation
from sampleloans.ledger import checkpoint as notes
from sampleloans.ledger import merkle
from sampleloans.readmodels.report import CHECKPOINT_PROOF_FORMAT, ReportCheckpoint
from sampleloans.services import checkpoints
from sampleloans.text import counted

ALTERED = "the file was altered, or was not written by 'sampleloans report'"


def newest_covering(connection: Connection, head_seq: int) -> checkpoints.StoredCheckpoint | None:
    """The newest kept checkpoint whose tree holds event `head_seq`, or None."""
    if head_seq < 1:
        return None
    covering = [k for k in checkpoints.stored_checkpoints(connection) if k.tree_size >= head_seq]
    return covering[-1] if covering else None


NONE_KEPT = (
    "this ledger keeps no checkpoint at all (one rebuilt from an events export keeps none; "
    "'restore --bag' keeps a bag's), so the one the document names is not checked against it: "
    "check that with the lender's key, 'sampleloans verify-document FILE --public-key KEY.pub' "
    "(no ledger needed)"
)
"""Why a ledger that keeps no checkpoint cannot judge the one a report or statement names."""


def kept_named(connection: Connection, checkpoint_id: str) -> checkpoints.StoredCheckpoint | None:
    """The kept checkpoint `SIZE:ROOT` (the newest of equal ones), or None if none is kept."""
    named = [
        kept
        for kept in checkpoints.stored_checkpoints(connection)
        if f"{kept.tree_size}:{kept.checkpoint.root.hex()}" == checkpoint_id
    ]
    return named[-1] if named else None


def genuine(kept: checkpoints.StoredCheckpoint) -> bool:
    """Whether a kept checkpoint's signature verifies with the public key kept beside it."""
    try:
        notes.verify_checkpoint(kept.note, notes.parse_verifier_key(kept.public_key))
    except (notes.CheckpointRefused, InvalidInput):
        return False
    return True


def report_checkpoint(
    session: Session, head_seq: int, kept: checkpoints.StoredCheckpoint
) -> ReportCheckpoint:
    """`kept` as a report names it, with the inclusion proof of event `head_seq`; refused
    (exit 1) when its root is not this ledger's root at its size."""
    root, proofs = checkpoints.inclusion_proofs(session.connection(), [head_seq], kept.tree_size)
    if root != kept.checkpoint.root:
        raise RuleViolation(
            f"checkpoint: the kept checkpoint {kept.tree_size}:{kept.checkpoint.root.hex()[:16]}… "
            f"is not the root of this ledger's first {counted(kept.tree_size, 'event')}: the "
            "ledger was "
            "rewritten since; run 'sampleloans verify'"
        )
    _text, signatures = notes.split_note(kept.note)
    return ReportCheckpoint(
        origin=kept.checkpoint.origin,
        tree_size=kept.tree_size,
        root_hash=root.hex(),
        signed_by=", ".join(f"{name}+{key_id.hex()}" for name, key_id, _sig in signatures),
        note=kept.note,
        proof=tuple(node.hex() for node in proofs[head_seq]),
    )


def named_problem(session: Session, checkpoint_id: str, head_seq: int) -> str | None:
    """Why the checkpoint a report file names is not genuine for this ledger, or None: it must
    be kept here, signed by the key kept with it, and cover the report's head."""
    connection = session.connection()
    kept = kept_named(connection, checkpoint_id)
    if kept is None and not checkpoints.stored_checkpoints(connection):
        return f"checkpoint: {NONE_KEPT}"
    if kept is None:
        return (
            f"checkpoint: this ledger keeps no checkpoint {checkpoint_id[:24]}…: the report "
            "names a checkpoint the lender never made of this ledger"
        )
    if not genuine(kept):
        return "checkpoint: its signature does not verify with the public key kept with it"
    if kept.tree_size < head_seq:
        covered = counted(kept.tree_size, "event")
        return f"checkpoint: it covers {covered}, not the report's head {head_seq}"
    return None


@dataclass(frozen=True)
class ProofCheck:
    """What checking a report's embedded checkpoint with the public key alone found."""

    lines: tuple[str, ...]
    problems: tuple[str, ...]


def verify_report_proof(
    document: dict[str, Any], public_key_text: str, *, head: str, checkpoint_id: str
) -> ProofCheck:
    """Check a report's embedded checkpoint with the lender's public key alone: its signature,
    that it is the one the report's metadata names, and that the report's head event is
    included under its root. A wrong key or a re-signed checkpoint raises CheckpointRefused."""
    # a report (its metadata was read) whose embedded proof is damaged was altered: exit 1
    if document.get("format") != CHECKPOINT_PROOF_FORMAT:
        raise RuleViolation(
            f"FILE: its checkpoint file is not in the {CHECKPOINT_PROOF_FORMAT} format: {ALTERED}"
        )
    verifier = notes.parse_verifier_key(public_key_text)
    note = document.get("checkpoint")
    if not isinstance(note, str):
        raise RuleViolation(f"FILE: its checkpoint file carries no signed checkpoint: {ALTERED}")
    try:
        checkpoint = notes.verify_checkpoint(note, verifier)
    except InvalidInput as exc:
        raise RuleViolation(
            f"FILE: its embedded checkpoint is damaged ({exc}): {ALTERED}"
        ) from None
    lines = [
        f"checkpoint signed by {verifier.name} ({verifier.fingerprint()[:23]}…): "
        f"{checkpoint.origin}, {counted(checkpoint.size, 'event')}"
    ]
    problems = []
    if f"{checkpoint.size}:{checkpoint.root.hex()}" != checkpoint_id:
        problems.append("checkpoint: the embedded checkpoint is not the one the report names")
    entry = document.get("head")
    proof = document.get("proof")
    seq_text, _, hash_hex = head.partition(":")
    if not isinstance(entry, dict) or entry != {"seq": int(seq_text), "hash": hash_hex}:
        problems.append("head: the embedded proof is of another event than the report's head")
    elif not isinstance(proof, list) or not _included(entry["seq"], hash_hex, proof, checkpoint):
        problems.append(
            f"head: event {seq_text} is not included under the signed root: the report was not "
            "built on the ledger the lender signed"
        )
    else:
        lines.append(f"head event {seq_text} is included under the signed root (RFC 6962 proof)")
    return ProofCheck(tuple(lines), tuple(problems))


def _included(seq: int, hash_hex: str, proof: list[Any], checkpoint: notes.Checkpoint) -> bool:
    """Whether `proof` (hex nodes) shows event `seq` with `hash_hex` under the checkpoint."""
    try:
        path = [bytes.fromhex(node) for node in proof]
        leaf = merkle.leaf_hash(bytes.fromhex(hash_hex))
    except (TypeError, ValueError):
        return False
    size = checkpoint.size
    return 1 <= seq <= size and merkle.verify_inclusion(seq - 1, size, leaf, path, checkpoint.root)
