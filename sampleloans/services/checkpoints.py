"""Signed checkpoints of the ledger: keys, making one, proving the ledger still extends one,
consistency proofs between two, and the incremental `verify --since`.

A checkpoint (docs/ledger-format.md section 4) is a C2SP signed note over the RFC 6962 root of
the events' hashes, with extension lines for the chain head, the projections' state digest and
the time. It is made only right after a full `verify` of the same ledger state found nothing,
and kept in the `checkpoint` table, append-only like the events (triggers refuse UPDATE and
DELETE), with the Merkle frontier at its size so that a later incremental verify needs only the
events after it. The private key is read from its file to sign and never stored or printed.
"""

import base64
import hashlib
import json
import os
import stat
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, inspect, text
from sqlmodel import Session

from sampleloans import dates, db, fileio, interrupts, pgsecurity
from sampleloans.errors import Conflict, InvalidInput, NotFound, StorageError
from sampleloans.ledger import chain, checks, guard, merkle
from sampleloans.ledger import checkpoint as notes
from sampleloans.ledger.envelope import Context
from sampleloans.ledger.events import event_from_payload
from sampleloans.ledger.payload import shown as shown_value
from sampleloans.models import PROJECTION_TABLES
from sampleloans.services import logins
from sampleloans.services.common import require_role
from sampleloans.text import counted, events_span

CREATE_ROLES = ("curator",)
READ_ROLES = ("curator", "compliance_officer")
ORIGIN_PREFIX = "sampleloans/ledger/"
DEFAULT_KEY_NAME = "sampleloans"
PROOF_FORMAT = "sampleloans-consistency"
PROOF_VERSION = 1
MAX_KEY_FILE_BYTES = 4096
MAX_NOTE_FILE_BYTES = notes.MAX_NOTE_BYTES
_BATCH = 5000


def checkpoint_triggers() -> tuple[str, ...]:
    """The append-only trigger statements of the checkpoint table (verify expects them)."""
    return db.CHECKPOINT_TRIGGERS


def origin_of(ledger_id: str) -> str:
    """The checkpoint origin line of a ledger."""
    return f"{ORIGIN_PREFIX}{ledger_id}"


# --- keys -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class KeyFiles:
    """Where a new key pair was written, and its public half."""

    private_path: Path
    public_path: Path
    verifier: notes.VerifierKey
    old_record: Path | None = None


def public_key_path(private_path: Path) -> Path:
    """The public key file beside a private key file: FILE.pub."""
    return private_path.with_name(private_path.name + ".pub")


def generate_keys(out: Path, *, name: str = DEFAULT_KEY_NAME, force: bool = False) -> KeyFiles:
    """A new Ed25519 key pair: `out` (private, 0600, atomic) and `out.pub` (public)."""
    signer = notes.generate_signer(name)
    fileio.check_output(out, force=force, option="--out", is_key=True)  # first: '/' has no name
    public = public_key_path(out)
    fileio.check_output(public, force=force, option="--out (public key)", is_key=True)
    # UTF-8, as the signed-note format takes any name without spaces or '+' (e.g. 大阪/ledger);
    # both or neither: a lone FILE.pub left by a kill made the rerun refuse it as existing
    pair = [
        (public, (signer.verifier().encode() + "\n").encode("utf-8")),
        (out, (signer.encode() + "\n").encode("utf-8")),
    ]
    fileio.write_files_atomic(pair, force=force, is_key=True)
    return KeyFiles(out, public, signer.verifier(), _set_aside_record(out))


def _set_aside_record(key_path: Path) -> Path | None:
    """The replaced key's record of what it signed (KEY.signed), renamed beside it: kept, not
    deleted, but no longer read as the new key's (whose first checkpoint it would refuse)."""
    record = memory_path(key_path)
    if fileio.inspected_mode(record, "--out") is None:
        return None
    for number in range(1, 1000):
        aside = record.with_name(f"{record.name}.replaced-{number}")
        if not os.path.lexists(aside):
            os.rename(record, aside)
            return aside
    raise StorageError(f"--out: too many set-aside records beside {record}; move them away")


def _read_small(path: Path, what: str, limit: int) -> str:
    """A small UTF-8 text file (a key or a note); exit 2 or 3 with one clear line."""
    data = fileio.read_input_bytes(path, what, limit=limit)
    if len(data) > limit:
        raise InvalidInput(f"{what}: {path} is larger than {limit} bytes; it is not one")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidInput(f"{what}: {path} is not UTF-8 text") from None


@contextmanager
def _about(what: str, path: Path | str) -> Iterator[None]:
    """Name the option and file in a refusal of a note read from a file."""
    try:
        yield
    except notes.CheckpointRefused as exc:
        raise notes.CheckpointRefused(f"{what} {path}: {exc}") from None
    except InvalidInput as exc:
        raise InvalidInput(f"{what} {path}: {exc}") from None


def read_signer(path: Path) -> notes.SignerKey:
    """The private key of a file written by `keys generate` (its text never shown); refused
    when its mode lets group or others read it (`fileio.refuse_exposed_key`): whoever could
    read it could sign checkpoints in the lender's name."""
    text_ = _read_small(path, "--key", MAX_KEY_FILE_BYTES)
    fileio.refuse_exposed_key(path, "--key")
    try:
        signer = notes.parse_signer_key(text_)
    except InvalidInput as exc:
        raise InvalidInput(f"--key: {path}: {exc}") from None
    _refuse_other_public_half(path, signer)
    return signer


def _refuse_other_public_half(path: Path, signer: notes.SignerKey) -> None:
    """Refuse (exit 3) a key whose KEY.pub beside it is another key's: what a `keys generate
    --force` stopped between its two files leaves, and every checkpoint signed then would fail
    the readers' check with the public key they were given."""
    public = public_key_path(path)
    try:
        if not stat.S_ISREG(public.stat().st_mode):
            return  # a FIFO planted there would be waited on forever: no public half
        with public.open("rb") as handle:
            given = handle.read(MAX_KEY_FILE_BYTES + 1).decode("utf-8").strip()
    except (OSError, UnicodeDecodeError):
        return  # none beside it (or unreadable): the key alone decides
    if given != signer.verifier().encode():
        raise StorageError(
            f"--key: {public} beside {path} is not this key's public half (a 'keys generate "
            "--force' stopped between its two files?); nothing was signed: run 'keys generate "
            f"--out {path} --force' again, or move {public.name} away"
        )


def read_verifier(path: Path) -> notes.VerifierKey:
    """The public key of a `.pub` file written by `keys generate`."""
    text_ = _read_small(path, "--public-key", MAX_KEY_FILE_BYTES)
    try:
        return notes.parse_verifier_key(text_)
    except InvalidInput as exc:
        raise InvalidInput(f"--public-key: {path}: {exc}") from None


def read_note(path: Path, what: str) -> str:
    """The text of a signed checkpoint file; `what` names it in a refusal (its option)."""
    return _read_small(path, what, MAX_NOTE_FILE_BYTES)


# --- the ledger's tree and state ----------------------------------------------------------


def _ledger_id(connection: Connection) -> str:
    """The ledger's id; InvalidInput when the file holds no ledger."""
    value = connection.execute(
        text("SELECT value FROM ledger_meta WHERE key = 'ledger_id'")
    ).scalar()
    if value is None:
        raise InvalidInput("this database has no ledger; run 'sampleloans init' first")
    return str(value)


_HASHES = "SELECT hash FROM ledger_event WHERE seq BETWEEN :a AND :b ORDER BY seq"
_HASHES_FOR_RESEARCHERS = f"SELECT hash FROM {pgsecurity.EVENT_HASHES}(:a, :b)"
"""On a secured PostgreSQL ledger row-level security shows a researcher only their loans'
events; the tree's other leaves come from the owner's function (seq and hash only)."""


def _hashes(connection: Connection, start_seq: int, end_seq: int) -> Iterator[bytes]:
    """The raw hashes of events start_seq..end_seq (inclusive), streamed."""
    query = _HASHES_FOR_RESEARCHERS if logins.events_hidden(connection) else _HASHES
    cursor = connection.execute(text(query), {"a": start_seq, "b": end_seq})
    while rows := cursor.fetchmany(_BATCH):
        for row in rows:
            yield bytes.fromhex(row[0])


def event_hash(connection: Connection, seq: int) -> str | None:
    """The hash (hex) of event `seq`, whoever reads (a researcher's login too), or None."""
    found = next(_hashes(connection, seq, seq), None)
    return None if found is None else found.hex()


def _leaves(connection: Connection) -> Callable[[int, int], Iterable[bytes]]:
    """Leaf data by 0-based leaf range [start, end) for `merkle.proof_from_ranges`."""
    return lambda start, end: _hashes(connection, start + 1, end)


def frontier_at(
    connection: Connection, size: int, watch: Iterable[int] = ()
) -> tuple[merkle.Frontier, dict[int, bytes]]:
    """The Merkle frontier of the first `size` events, and the root at each size in `watch`."""
    frontier, wanted, roots = merkle.Frontier(), set(watch), {}
    if 0 in wanted:
        roots[0] = merkle.EMPTY_ROOT
    for data in _hashes(connection, 1, size):
        frontier.append(data)
        if frontier.size in wanted:
            roots[frontier.size] = frontier.root()
    if frontier.size != size:
        raise Conflict(f"the ledger has {counted(frontier.size, 'event')}, fewer than {size}")
    return frontier, roots


def state_digest(connection: Connection) -> str:
    """`sha256:<hex>` over every projection table in name order, each row in primary-key
    order as the JSON array of its stored values (docs/ledger-format.md section 6)."""
    digest = hashlib.sha256()
    tables = sorted(
        (model.__table__ for model in PROJECTION_TABLES),  # type: ignore[attr-defined]  # SQLModel sets __table__ on table classes; its stubs omit it
        key=lambda table: str(table.name),
    )
    for table in tables:
        keys = db.primary_key_order(connection, str(table.name))
        digest.update(f"{table.name}\n".encode())
        cursor = connection.execute(text(f"SELECT * FROM {table.name} ORDER BY {keys}"))
        while rows := cursor.fetchmany(_BATCH):
            for row in rows:
                line = json.dumps(_stored_values(row), separators=(",", ":"), ensure_ascii=False)
                digest.update(line.encode("utf-8") + b"\n")
    return "sha256:" + digest.hexdigest()


def _stored_values(row: Sequence[Any]) -> list[Any]:
    """A row's values as SQLite stores them (section 6): a PostgreSQL boolean as the integer
    SQLite keeps, so the same projections give the same digest on either engine."""
    return [int(value) if isinstance(value, bool) else value for value in row]


def _head_at(connection: Connection, seq: int) -> str | None:
    """The hash of event `seq`, or None if there is none."""
    value = connection.execute(
        text("SELECT hash FROM ledger_event WHERE seq = :s"), {"s": seq}
    ).scalar()
    return None if value is None else str(value)


def _last_seq(connection: Connection) -> int:
    """The last event's seq (0 for none)."""
    last = connection.execute(text("SELECT coalesce(max(seq), 0) FROM ledger_event")).scalar()
    return int(last or 0)


def _has_table(connection: Connection) -> bool:
    """Whether this ledger has ever kept a checkpoint."""
    return inspect(connection).has_table("checkpoint")


@dataclass(frozen=True)
class StoredCheckpoint:
    """A kept checkpoint: its row, and the checkpoint its note holds (not re-verified here)."""

    id: int
    tree_size: int
    note: str
    public_key: str
    frontier: merkle.Frontier
    created_at: str
    checkpoint: notes.Checkpoint

    @property
    def head(self) -> str:
        """`SEQ:HASH` of the head line."""
        return self.checkpoint.extension("head") or ""

    @property
    def state(self) -> str:
        """The state digest line."""
        return self.checkpoint.extension("state") or ""


def _stored(row: Any) -> StoredCheckpoint:
    """A checkpoint row as a StoredCheckpoint; Conflict (exit 1) for a row no checkpoint
    command wrote (the table is append-only: an edited row is tampering, for verify to name)."""
    try:
        text_, _signatures = notes.split_note(row.note)
        hashes = [base64.b64decode(h) for h in json.loads(row.frontier)]
        dates.parse_datetime(row.created_at, "created_at")  # `checkpoint list` prints it
        return StoredCheckpoint(
            id=int(row.id),
            tree_size=int(row.tree_size),
            note=row.note,
            public_key=row.public_key,
            frontier=merkle.Frontier(int(row.tree_size), hashes),
            created_at=row.created_at,
            checkpoint=notes.parse_checkpoint(text_),
        )
    except (InvalidInput, ValueError, TypeError, AttributeError):
        raise Conflict(
            f"kept checkpoint {row.id}: its row in the checkpoint table is damaged (its note, "
            "frontier or time is not what 'checkpoint' writes): the table was edited; run "
            "'sampleloans verify'"
        ) from None


def _unlike_its_note(kept: StoredCheckpoint) -> str | None:
    """Which column of a kept row disagrees with the signed note it holds, if one does.

    `checkpoint` writes every column from the same checkpoint: the frontier whose root it
    signs and its `time` line (its size: `_kept_signature_holds`). An edited frontier is what
    `verify --since` extends the tree from; an edited time is what `checkpoint list` shows.
    """
    checkpoint = kept.checkpoint
    if kept.frontier.root() != checkpoint.root:
        return "its Merkle frontier does not give the signed root"
    if kept.created_at != checkpoint.extension("time"):
        return f"its time {notes.shown(kept.created_at)} is not the signed time line"
    return None


def stored_checkpoints(connection: Connection) -> list[StoredCheckpoint]:
    """Every kept checkpoint, oldest first."""
    if not _has_table(connection):
        return []
    rows = connection.execute(
        text(
            "SELECT id, tree_size, note, public_key, frontier, created_at FROM checkpoint "
            "ORDER BY id"
        )
    ).all()
    return [_stored(row) for row in rows]


def list_checkpoints(engine: Engine, ctx: Context) -> list[StoredCheckpoint] | None:
    """Every kept checkpoint, for a curator or compliance officer; None when the ledger's
    schema predates the checkpoint table (`db upgrade` adds it)."""
    with db.transaction(engine, write=False) as session:
        require_role(session, ctx, *READ_ROLES, action="read the checkpoints")
        if not _has_table(session.connection()):
            return None
        return stored_checkpoints(session.connection())


def kept_checkpoint(engine: Engine, ctx: Context, checkpoint_id: int) -> StoredCheckpoint:
    """The kept checkpoint `checkpoint_id` (as `checkpoint list` numbers them), for a curator
    or compliance officer; NotFound (exit 2) when the ledger keeps none by that number."""
    kept = list_checkpoints(engine, ctx) or []
    found = next((k for k in kept if k.id == checkpoint_id), None)
    if found is None:
        newest = f"the newest is {kept[-1].id}" if kept else "none is kept yet"
        raise NotFound(
            f"ID: no checkpoint {checkpoint_id} is kept ({newest}); "
            "'sampleloans checkpoint list' shows them"
        )
    return found


def write_kept_checkpoint(
    engine: Engine, ctx: Context, checkpoint_id: int, out: Path, *, force: bool = False
) -> StoredCheckpoint:
    """Write the kept checkpoint `checkpoint_id` to `out` (0600, atomic), as `checkpoint
    --out` wrote it when it was made: the way to a checkpoint whose run died after keeping it."""
    fileio.check_output(out, force=force, ledger=db.sqlite_path(str(engine.url)))
    kept = kept_checkpoint(engine, ctx, checkpoint_id)
    fileio.write_atomic(
        out, kept.note.encode("utf-8"), force=force, ledger=db.sqlite_path(str(engine.url))
    )
    return kept


def latest_checkpoint(connection: Connection) -> StoredCheckpoint | None:
    """The most recent kept checkpoint (for reports and statements), or None."""
    kept = stored_checkpoints(connection)
    return kept[-1] if kept else None


def inclusion_proof(connection: Connection, seq: int, tree_size: int) -> list[bytes]:
    """RFC 6962 inclusion proof of event `seq` in the tree of the first `tree_size` events."""
    ranges = merkle.inclusion_ranges(seq - 1, tree_size)
    return merkle.proof_from_ranges(ranges, _leaves(connection))


def inclusion_proofs(
    connection: Connection, seqs: Iterable[int], tree_size: int
) -> tuple[bytes, dict[int, list[bytes]]]:
    """The root of the first `tree_size` events and the RFC 6962 inclusion proof of each event
    in `seqs`, in one streamed pass (memory: the proofs, not the tree); Conflict when the
    ledger has fewer events."""
    try:
        root, by_index = merkle.inclusion_proofs(
            _hashes(connection, 1, tree_size), tree_size, (seq - 1 for seq in seqs)
        )
    except ValueError as exc:
        raise Conflict(f"the ledger has fewer than {counted(tree_size, 'event')} ({exc})") from None
    return root, {index + 1: proof for index, proof in by_index.items()}


# --- making a checkpoint --------------------------------------------------------------------


@dataclass(frozen=True)
class Made:
    """A new checkpoint: its note, its size and head, and where it was written."""

    note: str
    checkpoint: notes.Checkpoint
    id: int
    out: Path | None


@dataclass(frozen=True)
class _Snapshot:
    """What one read snapshot of the ledger gives for a checkpoint."""

    ledger_id: str
    size: int
    head_hash: str
    frontier: merkle.Frontier
    roots: dict[int, bytes]
    state: str
    kept: list[StoredCheckpoint]
    head_recorded_at: datetime | None  # when the head event was recorded (None: no event)


def _take_snapshot(engine: Engine, also: Iterable[int] = ()) -> _Snapshot:
    """Tree, head and state of the ledger in one read transaction (with the Merkle root at the
    size of every kept checkpoint and at the sizes `also`)."""
    with engine.connect() as connection:
        connection.execute(text("SELECT count(*) FROM ledger_event")).scalar()  # fixes it
        ledger_id = _ledger_id(connection)
        size = _last_seq(connection)
        kept = stored_checkpoints(connection)
        watch = [*(k.tree_size for k in kept), *(n for n in also if n <= size)]
        frontier, roots = frontier_at(connection, size, watch)
        head_hash = _head_at(connection, size) or chain.genesis_hash(ledger_id)
        state = state_digest(connection)
        recorded = connection.execute(
            text("SELECT recorded_at FROM ledger_event WHERE seq = :s"), {"s": size}
        ).scalar()
        connection.rollback()
    head_recorded_at = None if recorded is None else guard.head_recorded_at(size, recorded)
    return _Snapshot(ledger_id, size, head_hash, frontier, roots, state, kept, head_recorded_at)


def _refuse_clock_before_head(snap: _Snapshot, ctx: Context) -> None:
    """A checkpoint is dated now: never before its head event was recorded, as no event is
    recorded before the last one (its `time` line would say it signed events not yet there)."""
    if snap.head_recorded_at is None or ctx.now >= snap.head_recorded_at:
        return
    if ctx.system_clock:
        ahead = dates.clock_ahead(ctx.now, snap.size, snap.head_recorded_at)
        raise Conflict(f"{ahead}; no checkpoint was made")
    raise Conflict(
        f"clock: now is {dates.to_iso(ctx.now)}, before event {snap.size} was recorded "
        f"({dates.to_iso(snap.head_recorded_at)}); the recording clock (SAMPLELOANS_NOW or "
        "the system clock) must not go back: set it right "
        f"({dates.bound_text(snap.head_recorded_at)}) and try again; no checkpoint was made"
    )


def make_checkpoint(
    engine: Engine,
    ctx: Context,
    signer: notes.SignerKey,
    *,
    out: Path | None = None,
    force: bool = False,
    verify_first: Callable[[Engine], Any] | None = None,
    memory: Path | None = None,
    inputs: fileio.Inputs = (),
) -> Made:
    """Verify the whole ledger, then sign and keep a checkpoint of that same state.

    Refused (exit 1) when verify finds a problem, or when the ledger no longer extends a
    checkpoint kept before or, with `memory` (the signer's own record beside its key, which a
    rollback of the ledger file does not roll back), the last one this key signed for it: a
    log never signs two inconsistent checkpoints.
    """
    from sampleloans.services.verify import verify

    with db.transaction(engine, write=False) as session:
        require_role(session, ctx, *CREATE_ROLES, action="sign a checkpoint")
    if out is not None:
        ledger = db.sqlite_path(str(engine.url))
        fileio.check_output_after_commit(
            out, force=force, option="--out", ledger=ledger, inputs=inputs
        )
    remembered = _read_memory(memory, signer.verifier())
    if memory is not None:  # rewritten once the checkpoint is kept
        fileio.check_output_after_commit(memory, force=True, option=MEMORY_OPTION)
    check = verify_first or verify
    for _attempt in range(3):
        snap = _take_snapshot(engine, [c.size for c in remembered.values()])
        result = check(engine)
        if not result.ok:
            first = result.problems[0].message
            raise Conflict(
                f"verify found {counted(len(result.problems), 'problem')} (first: {first}); a "
                "checkpoint is signed only over a ledger that verifies: no checkpoint was made"
            )
        if result.head_seq == snap.size:  # the same events, so the same projections
            break
        time.sleep(0.1)  # others wrote between the two reads: take both again
    else:
        raise Conflict("the ledger kept changing during the checkpoint; run it again")
    _refuse_inconsistent(snap)
    _refuse_unlike_memory(snap, remembered.get(origin_of(snap.ledger_id)), memory)
    _refuse_clock_before_head(snap, ctx)
    head = chain.format_head(snap.size, snap.head_hash)
    checkpoint = notes.Checkpoint(
        origin_of(snap.ledger_id),
        snap.size,
        snap.frontier.root(),
        (f"head {head}", f"state {snap.state}", f"time {_whole_seconds(ctx)}"),
    )
    note = notes.sign_checkpoint(checkpoint, signer)
    new_id = _keep(engine, note, signer.verifier(), snap.frontier, ctx, out)
    with _after_keeping(new_id, out):
        if memory is not None:
            _remember(memory, signer.verifier(), checkpoint.origin, note)
        if out is not None:
            fileio.write_atomic(
                out, note.encode("utf-8"), force=force, option="--out", inputs=inputs
            )
    return Made(note, checkpoint, new_id, out)


@contextmanager
def _after_keeping(checkpoint_id: int, out: Path | None) -> Iterator[None]:
    """Files written once a checkpoint is kept: if one fails, say that it is kept and how to
    get its file (running `checkpoint` again signs the next one instead); a Ctrl-C says so
    from its commit on (`_kept_line`)."""
    try:
        yield
    except StorageError as exc:
        how = _how_to_write(checkpoint_id, out)
        raise StorageError(f"{exc}; checkpoint {checkpoint_id} was kept: {how}") from None


def _kept_line(checkpoint_id: int, note: str, out: Path | None) -> Callable[[], str]:
    """What a Ctrl-C after the checkpoint was kept says, looked at when it comes: the file
    --out in place with the note, nothing to run again; else how to get it ('checkpoint show')."""

    def said() -> str:
        """The interrupt line's words, from what is on disk now."""
        if out is None:
            return (
                f"checkpoint {checkpoint_id} was kept, whatever was printed: "
                f"{_how_to_write(checkpoint_id, None)} (running 'checkpoint' again signs another)"
            )
        try:
            written = out.read_bytes() == note.encode("utf-8")
        except OSError:
            written = False
        if written:
            return (
                f"checkpoint {checkpoint_id} was kept and written whole to {out}; nothing to run "
                "again"
            )
        return (
            f"checkpoint {checkpoint_id} was kept but not written to --out (no partial file "
            f"left): {_how_to_write(checkpoint_id, out)}"
        )

    return said


def _how_to_write(checkpoint_id: int, out: Path | None) -> str:
    """The command that writes a kept checkpoint to `out` (or prints it)."""
    if out is None:
        return f"'sampleloans checkpoint show {checkpoint_id}' prints it"
    return f"'sampleloans checkpoint show {checkpoint_id} --out {out}' writes it"


def key_inputs(key_path: Path) -> list[tuple[str, Path]]:
    """The files signing with a key reads: the key, its public half and its record."""
    return [
        ("the private key --key", key_path),
        ("the key's public half", public_key_path(key_path)),
        ("the key's record of signed checkpoints", memory_path(key_path)),
    ]


MEMORY_OPTION = "--key (its record)"
"""How a message names KEY.signed, the signer's record beside its key."""


def memory_path(key_path: Path) -> Path:
    """The signer's record of the last checkpoint it signed for each ledger: KEY.signed beside
    the key file itself (a symbolic link to the key shares the key's record, not one of its own,
    so naming the key another way does not make it forget what it signed)."""
    key_file = key_path.resolve()
    return key_file.with_name(key_file.name + ".signed")


def _read_memory(memory: Path | None, verifier: notes.VerifierKey) -> dict[str, notes.Checkpoint]:
    """Origin → the last checkpoint this key signed for it (each signature checked)."""
    # looked up, not `exists()`: KEY.signed may be a name too long where KEY was not (exit 3)
    if memory is None or fileio.inspected_mode(memory, "--key") is None:
        return {}
    what = f"the key's record of signed checkpoints {memory}"
    damaged = InvalidInput(f"{what} is damaged or not this key's; move it aside")
    try:
        recorded = json.loads(_read_small(memory, what, 1024 * 1024))
    except (ValueError, RecursionError):  # RecursionError: nested deeper than Python's stack
        raise damaged from None
    if not isinstance(recorded, dict) or not all(isinstance(n, str) for n in recorded.values()):
        raise damaged
    try:
        return {
            origin: notes.verify_checkpoint(note, verifier) for origin, note in recorded.items()
        }
    except (InvalidInput, notes.CheckpointRefused):
        raise damaged from None


def _refuse_unlike_memory(
    snap: _Snapshot, last: notes.Checkpoint | None, memory: Path | None
) -> None:
    """The ledger must extend the last checkpoint this key signed for it."""
    if last is None:
        return
    if last.size > snap.size or snap.roots.get(last.size) != last.root:
        raise Conflict(
            f"this key last signed a checkpoint of this ledger at {counted(last.size, 'event')} "
            f"({last.extension('head') or ''}, recorded in {memory}) that the ledger no longer "
            "extends: it was rolled back or rewritten since; no checkpoint was made"
        )


def _remember(memory: Path, verifier: notes.VerifierKey, origin: str, note: str) -> None:
    """Record `note` as the last checkpoint signed for `origin` (0600, atomic). The record is
    read again and rewritten under an exclusive lock on the key file: one key signing several
    ledgers at once must not lose what it signed for one of them (a lost entry would let that
    ledger be rolled back and signed again)."""
    key_file = memory.with_name(memory.name.removesuffix(".signed"))
    with fileio.exclusive_lock(key_file, "--key"):
        recorded = {o: _note_of(memory, o) for o in _read_memory(memory, verifier)}
        recorded[origin] = note
        data = json.dumps(recorded, sort_keys=True, indent=1) + "\n"
        fileio.write_atomic(memory, data.encode("utf-8"), force=True, option=MEMORY_OPTION)


def _note_of(memory: Path, origin: str) -> str:
    """The recorded note of `origin` (already checked by `_read_memory`)."""
    return str(json.loads(memory.read_text(encoding="utf-8"))[origin])


def _whole_seconds(ctx: Context) -> str:
    """Now, as stored text to the whole second (`…Z`)."""
    return dates.to_iso(ctx.now.replace(microsecond=0))


def _refuse_inconsistent(snap: _Snapshot) -> None:
    """A kept checkpoint the ledger does not extend: a rollback or a rewrite since it."""
    for kept in snap.kept:
        if kept.tree_size > snap.size or snap.roots.get(kept.tree_size) != kept.checkpoint.root:
            raise Conflict(
                f"the ledger no longer extends checkpoint {kept.id} (size {kept.tree_size}, "
                f"head {kept.head[:24]}…): it was rolled back or rewritten since; no "
                "checkpoint was made (restore the ledger that extends it)"
            )


def _keep(
    engine: Engine,
    note: str,
    verifier: notes.VerifierKey,
    frontier: merkle.Frontier,
    ctx: Context,
    out: Path | None = None,
) -> int:
    """Append the checkpoint to the checkpoint table (revision 0004 makes it); its id. From its
    commit on, a Ctrl-C says that it is kept and how to get it (`_kept_line`)."""
    try:
        with db.transaction(engine) as session:
            connection = session.connection()
            db.require_table(connection, "checkpoint", "keeping a checkpoint")
            new_id = _append_row(connection, note, verifier, frontier, _whole_seconds(ctx))
            interrupts.note_kept_on_commit(_kept_line(new_id, note, out))
    except BaseException:
        interrupts.note_kept_on_commit(None)  # not committed: nothing was kept
        raise
    return new_id


# --- keeping the checkpoints of a bag in a ledger rebuilt from it ------------------------------


@dataclass(frozen=True)
class SignedNote:
    """A signed checkpoint note as found (e.g. in a bag's checkpoints/), with the key that
    verified its signature and the checkpoint it holds."""

    name: str  # where it was found: a file name, for the user
    note: str
    signer: notes.VerifierKey
    checkpoint: notes.Checkpoint


@dataclass(frozen=True)
class KeptNotes:
    """What `keep_signed_notes` kept (each with its row id) and what it left out, and why."""

    kept: tuple[tuple[int, SignedNote], ...]
    left_out: tuple[str, ...]


def keep_signed_notes(connection: Connection, found: Sequence[SignedNote]) -> KeptNotes:
    """Keep each note in the checkpoint table of a ledger just rebuilt from the events they
    sign, as `checkpoint` kept them where they were made: by size, then time (a note twice:
    once). One that would come after a larger or a later one is left out, as no run of
    `checkpoint` keeps it so (verify would call the row added by hand); one whose root is not
    that of these events is refused (Conflict): the caller checked them against the same
    events, so it means the rebuild differs from what was checked."""
    alone = [_signer_alone(item) for item in found]
    dropped = sorted({why for _item, why in alone if why is not None})
    ordered = sorted(
        {item.note: item for item, _why in alone}.values(),
        key=lambda item: (item.checkpoint.size, _time_line(item), item.name),
    )
    frontiers = _frontiers_at(connection, {item.checkpoint.size for item in ordered})
    kept: list[tuple[int, SignedNote]] = []
    left_out: list[str] = []
    for item in ordered:
        if kept and _time_line(item) < _time_line(kept[-1][1]):
            left_out.append(
                f"{item.name}: signed at {_time_line(item)}, before {kept[-1][1].name} of fewer "
                "events; a ledger keeps its checkpoints in the order they were made"
            )
            continue
        frontier = frontiers[item.checkpoint.size]
        if frontier.root() != item.checkpoint.root:
            raise Conflict(
                f"{item.name}: its root is not that of the rebuilt ledger's first "
                f"{counted(item.checkpoint.size, 'event')}; nothing was restored"
            )
        row_id = _append_row(connection, item.note, item.signer, frontier, _time_line(item))
        kept.append((row_id, item))
    return KeptNotes(tuple(kept), (*dropped, *left_out))


def _signer_alone(item: SignedNote) -> tuple[SignedNote, str | None]:
    """The note with its verified signer's signature line alone, as `checkpoint` wrote and
    kept it, and which other signatures were dropped: a line added by anyone to a genuine note
    (no key of the reader's checks it) would be kept, printed as a co-signer in every report
    rendered on it, and make the lender's own reports differ from their re-rendering."""
    text_, signatures = notes.split_note(item.note)
    signer = (item.signer.name, item.signer.key_id)
    others = [f"{name}+{key_id.hex()}" for name, key_id, _sig in signatures
              if (name, key_id) != signer]  # fmt: skip
    if not others:
        return item, None
    [signature] = [sig for name, key_id, sig in signatures if (name, key_id) == signer]
    blob = base64.b64encode(item.signer.key_id + signature).decode("ascii")
    note = f"{text_}\n{notes.SIGNATURE_DASH}{item.signer.name} {blob}\n"
    why = (
        f"the signature by {', '.join(others)} on {item.name}: no key you gave checks it, and "
        "'checkpoint' signs with one key; the one by your --public-key is kept"
    )
    return replace(item, note=note), why


def _time_line(item: SignedNote) -> str:
    """A note's signed time line (what `checkpoint list` shows as when it was made)."""
    return item.checkpoint.extension("time") or ""


def _frontiers_at(connection: Connection, sizes: set[int]) -> dict[int, merkle.Frontier]:
    """The Merkle frontier of the first `size` events for each size, in one pass."""
    frontier, found = merkle.Frontier(), {}
    if 0 in sizes:
        found[0] = merkle.Frontier()
    for data in _hashes(connection, 1, max(sizes, default=0)):
        frontier.append(data)
        if frontier.size in sizes:
            found[frontier.size] = merkle.Frontier(frontier.size, frontier.hashes)
    missing = sizes - set(found)
    if missing:
        raise Conflict(
            f"a checkpoint covers {counted(max(missing), 'event')}, more than the rebuilt "
            "ledger holds; nothing was restored"
        )
    return found


def _append_row(
    connection: Connection,
    note: str,
    verifier: notes.VerifierKey,
    frontier: merkle.Frontier,
    created_at: str,
) -> int:
    """Append one checkpoint row (revision 0004 makes the table): the note, the key that
    signed it, the frontier its root is of and its time line; the row's id."""
    hashes = json.dumps([base64.b64encode(h).decode("ascii") for h in frontier.hashes])
    cursor = connection.execute(
        text(
            "INSERT INTO checkpoint (tree_size, note, public_key, frontier, created_at) "
            "VALUES (:size, :note, :key, :frontier, :at) RETURNING id"
        ),
        {
            "size": frontier.size,
            "note": note,
            "key": verifier.encode(),
            "frontier": hashes,
            "at": created_at,
        },
    )
    return int(cursor.scalar_one())


# --- checking the ledger against a checkpoint ------------------------------------------------


@dataclass
class CheckpointCheck:
    """What checking the ledger against one checkpoint found."""

    checkpoint: notes.Checkpoint
    key_name: str
    problems: list[str] = field(default_factory=list)


def open_checkpoint(note: str, verifier: notes.VerifierKey, ledger_id: str) -> notes.Checkpoint:
    """The checkpoint in `note` once its signature and origin are checked (exit 1 / 2)."""
    checkpoint = notes.verify_checkpoint(note, verifier)
    if checkpoint.origin != origin_of(ledger_id):
        raise notes.CheckpointRefused(
            f"checkpoint: it is a checkpoint of {notes.shown(checkpoint.origin)}, not of this "
            f"ledger ({origin_of(ledger_id)})"
        )
    if checkpoint.extension("head") is None:
        raise InvalidInput("checkpoint: no 'head SEQ:HASH' line; it was not made by sampleloans")
    return checkpoint


def kept_checkpoint_problems(connection: Connection) -> list[str]:
    """Problems if the ledger no longer extends a checkpoint it kept: fewer events than the
    checkpoint covers (a truncation), or another hash at its head (a rewrite).

    The head suffices once the chain is checked: each hash covers every event before it, so the
    same head hash means the same first `tree_size` events, and so the same signed root.
    """
    if not _has_table(connection):
        return []
    last = _last_seq(connection)
    rows = connection.execute(
        text(
            "SELECT id, tree_size, note, public_key, frontier, created_at FROM checkpoint "
            "ORDER BY id"
        )
    ).all()
    problems = db.deleted_rows_problems(connection, "checkpoint", "kept checkpoint")
    problems += _out_of_order(rows)
    for row in rows:
        try:
            kept = _stored(row)
        except Conflict as damaged:  # a row no checkpoint command wrote
            problems.append(str(damaged).removesuffix("; run 'sampleloans verify'"))
            continue
        seq_text, _, hash_hex = kept.head.partition(":")
        if not _kept_signature_holds(kept):
            problems.append(
                f"kept checkpoint {kept.id}: its signature does not verify with the key kept "
                "with it: the checkpoint table was edited"
            )
        elif unlike := _unlike_its_note(kept):
            problems.append(
                f"kept checkpoint {kept.id}: its row in the checkpoint table is damaged "
                f"({unlike}): the table was edited"
            )
        elif kept.tree_size > last:
            problems.append(
                f"kept checkpoint {kept.id} covers {counted(kept.tree_size, 'event')} but the "
                "ledger has "
                f"{last}: events were removed (truncation or a rollback)"
            )
        elif seq_text != str(kept.tree_size) or _head_at(connection, kept.tree_size) != hash_hex:
            problems.append(
                f"event {kept.tree_size} is not the head of kept checkpoint {kept.id} "
                f"({kept.head[:24]}…): the ledger was rewritten since that checkpoint"
            )
    return problems


def _out_of_order(rows: Sequence[Any]) -> list[str]:
    """Rows no run of `checkpoint` writes in this order: one covering fewer events or made
    earlier than the one before it, or repeating the note of one older than the one before
    it. The table's triggers refuse an UPDATE or DELETE but not an INSERT, so a copy of an old
    signed row added by hand would otherwise pass as a checkpoint kept later. The note of the
    row just before may repeat: `checkpoint` run again on the same head with the same key
    signs the same note (Ed25519 is deterministic), and a copy of it vouches for nothing new."""
    problems: list[str] = []
    notes_seen: dict[str, int] = {}
    before: Any = None
    for row in rows:
        first = notes_seen.setdefault(row.note, row.id)
        if first != row.id and before is not None and before.note == row.note:
            pass  # the same head signed again: as `checkpoint` run twice writes it
        elif first != row.id:
            problems.append(
                f"kept checkpoint {row.id} repeats the note of kept checkpoint {first}: no "
                "'checkpoint' run writes one twice; the row was added by hand"
            )
        elif before is not None and (
            row.tree_size < before.tree_size or str(row.created_at) < str(before.created_at)
        ):
            problems.append(
                f"kept checkpoint {row.id} ({counted(row.tree_size, 'event')}, "
                f"{str(row.created_at)[:40]}) comes after kept checkpoint {before.id} "
                f"({counted(before.tree_size, 'event')}, {str(before.created_at)[:40]}) but "
                "covers fewer events or was made earlier: the row was added by hand"
            )
        before = row
    return problems


def _kept_signature_holds(kept: StoredCheckpoint) -> bool:
    """Whether a kept note verifies with the public key kept beside it, and says what its row
    says (so an edited head line cannot vouch for a rewritten chain)."""
    try:
        checkpoint = notes.verify_checkpoint(kept.note, notes.parse_verifier_key(kept.public_key))
    except (InvalidInput, notes.CheckpointRefused):
        return False
    return checkpoint.size == kept.tree_size


def check_extends(connection: Connection, checkpoint: notes.Checkpoint) -> list[str]:
    """Problems if the ledger does not extend `checkpoint`: size, head hash, Merkle root."""
    size, head = checkpoint.size, checkpoint.extension("head") or ""
    seq_text, _, hash_hex = head.partition(":")
    last = _last_seq(connection)
    if size > last:
        return [
            f"the checkpoint covers {counted(size, 'event')} but the ledger has {last}: events "
            "were "
            "removed (truncation or a rollback to an older copy)"
        ]
    problems = []
    if seq_text != str(size) or _head_at(connection, size) != hash_hex:
        problems.append(
            f"event {size} is not the checkpoint's head {head[:24]}…: the ledger was rewritten "
            "or replaced since the checkpoint"
        )
    try:  # the first `size` events alone: a gap after them is the chain's finding, not this
        _frontier, roots = frontier_at(connection, size, [size])
    except Conflict:  # one removed by hand (seq has a gap): a finding, beside verify's
        held = connection.execute(
            text("SELECT count(*) FROM ledger_event WHERE seq <= :s"), {"s": size}
        ).scalar_one()
        problems.append(
            f"the ledger holds {held} of the {counted(size, 'event')} the checkpoint signed: "
            "events up to it were removed (by hand: the append-only triggers forbid it)"
        )
        return problems
    if roots.get(size) != checkpoint.root:
        problems.append(
            f"the Merkle root of the first {counted(size, 'event')} differs from the signed root: "
            "events "
            "up to the checkpoint were changed (a recomputed chain)"
        )
    return problems


def verify_checkpoint_file(
    engine: Engine, ctx: Context, note_path: Path, key_path: Path
) -> CheckpointCheck:
    """Check that the ledger still extends the signed checkpoint in `note_path`."""
    return verify_checkpoint_read(engine, ctx, note_path, read_checkpoint_pair(note_path, key_path))


CheckpointPair = tuple[notes.VerifierKey, str]
"""A public key and the text of a checkpoint signed by it, read from their files."""


def read_checkpoint_pair(note_path: Path, key_path: Path) -> CheckpointPair:
    """The key and the checkpoint's text of `--checkpoint FILE --public-key KEY.pub`, read
    before any work (a missing or unreadable file: exit 2, naming its option)."""
    return read_verifier(key_path), read_note(note_path, "--checkpoint")


def verify_checkpoint_read(
    engine: Engine, ctx: Context, note_path: Path, pair: CheckpointPair
) -> CheckpointCheck:
    """`verify_checkpoint_file` on a key and checkpoint already read."""
    verifier, note = pair
    with db.transaction(engine, write=False) as session:
        require_role(session, ctx, *READ_ROLES, action="verify the whole ledger")
        connection = session.connection()
        with _about("--checkpoint", note_path):
            checkpoint = open_checkpoint(note, verifier, _ledger_id(connection))
        problems = check_extends(connection, checkpoint)
    return CheckpointCheck(checkpoint, verifier.name, problems)


# --- consistency proofs between two checkpoints -------------------------------------------


def _one_of_pair(what: str, note: str, verifier: notes.VerifierKey | None) -> notes.Checkpoint:
    """One checkpoint of a pair, its signature checked when a key is given."""
    with _about(what, "checkpoint"):
        if verifier is not None:
            return notes.verify_checkpoint(note, verifier)
        return notes.parse_checkpoint(notes.split_note(note)[0])


def _parse_pair(
    old_note: str, new_note: str, verifier: notes.VerifierKey | None
) -> tuple[notes.Checkpoint, notes.Checkpoint]:
    """Both checkpoints (signatures checked when a key is given), same origin, old ≤ new."""
    old, new = _one_of_pair("OLD", old_note, verifier), _one_of_pair("NEW", new_note, verifier)
    if old.origin != new.origin:
        raise notes.CheckpointRefused(
            f"the checkpoints are of two logs ({notes.shown(old.origin)} and "
            f"{notes.shown(new.origin)}); no proof links them"
        )
    if old.size > new.size:
        raise InvalidInput(
            f"OLD covers {counted(old.size, 'event')} and NEW {new.size}: give the older "
            "checkpoint first"
        )
    return old, new


def _refuse_an_id(path: Path, name: str) -> None:
    """Refuse `checkpoint prove 1 2` in words: OLD and NEW are files, and an ID typed for one
    was read as a missing file ("1 does not exist"), which did not say what to give."""
    # os.path, not Path.exists: that raises for a name too long for the system (an ID of
    # hundreds of digits)
    if str(path).isdecimal() and str(path).isascii() and not os.path.lexists(path):
        raise InvalidInput(
            f"{name}: {path} is no file: give a checkpoint file, not the ID 'checkpoint list' "
            f"numbers ('checkpoint show {path} --out FILE' writes checkpoint {path} to FILE)"
        )


def prove_consistency(
    engine: Engine, ctx: Context, old_path: Path, new_path: Path, out: Path, *, force: bool = False
) -> dict[str, Any]:
    """Write the RFC 6962 consistency proof from checkpoint OLD to NEW (canonical JSON)."""
    with db.transaction(engine, write=False) as session:
        require_role(session, ctx, *READ_ROLES, action="prove checkpoints consistent")
    _refuse_an_id(old_path, "OLD")
    _refuse_an_id(new_path, "NEW")
    old, new = _parse_pair(read_note(old_path, "OLD"), read_note(new_path, "NEW"), None)
    reads = [("checkpoint OLD", old_path), ("checkpoint NEW", new_path)]
    fileio.check_output(out, force=force, ledger=db.sqlite_path(str(engine.url)), inputs=reads)
    with db.transaction(engine, write=False) as session:
        connection = session.connection()
        if old.origin != origin_of(_ledger_id(connection)):
            raise notes.CheckpointRefused(
                f"OLD is a checkpoint of {notes.shown(old.origin)}, not this ledger"
            )
        for name, checkpoint in (("OLD", old), ("NEW", new)):
            if check_extends(connection, checkpoint):
                raise notes.CheckpointRefused(
                    f"{name} (size {checkpoint.size}) is not a checkpoint of this ledger as it "
                    "is: no proof can be made"
                )
        ranges = merkle.consistency_ranges(old.size, new.size)
        proof = merkle.proof_from_ranges(ranges, _leaves(connection))
    document = {
        "format": PROOF_FORMAT,
        "version": PROOF_VERSION,
        "origin": old.origin,
        "old_size": old.size,
        "new_size": new.size,
        "proof": [base64.b64encode(node).decode("ascii") for node in proof],
    }
    proof_bytes = (chain.canonical(document) + "\n").encode("utf-8")
    fileio.write_atomic(out, proof_bytes, force=force, inputs=reads)
    return document


@dataclass(frozen=True)
class Consistent:
    """Two checkpoints shown consistent, with the key (of those given) that signed each."""

    old: notes.Checkpoint
    new: notes.Checkpoint
    old_key: notes.VerifierKey
    new_key: notes.VerifierKey


def check_consistency(
    old_path: Path, new_path: Path, proof_path: Path, key_paths: Sequence[Path]
) -> Consistent:
    """Check offline (no ledger) that checkpoint NEW extends OLD: each signature by one of the
    keys given (two across a key rotation), then the proof against both signed roots.
    CheckpointRefused (exit 1) if not."""
    verifiers = [read_verifier(path) for path in key_paths]
    old_note, new_note = read_note(old_path, "OLD"), read_note(new_path, "NEW")
    old_key, new_key = (
        _signer_of("OLD", old_note, verifiers),
        _signer_of("NEW", new_note, verifiers),
    )
    old, new = _one_of_pair("OLD", old_note, old_key), _one_of_pair("NEW", new_note, new_key)
    _parse_pair(old_note, new_note, None)  # same log, older first (signatures checked above)
    _check_proof(old, new, _read_proof(proof_path))
    return Consistent(old, new, old_key, new_key)


def _signer_of(what: str, note: str, verifiers: list[notes.VerifierKey]) -> notes.VerifierKey:
    """The key given that signed `note` (by name and key ID), else the first: its check then
    refuses in words, and names the other key to give when the lender replaced its key."""
    with _about(what, "checkpoint"):
        signed_by = {(name, kid) for name, kid, _ in notes.split_note(note)[1]}
    for verifier in verifiers:
        if (verifier.name, verifier.key_id) in signed_by:
            return verifier
    try:
        _one_of_pair(what, note, verifiers[0])
    except notes.CheckpointRefused as exc:
        raise notes.CheckpointRefused(
            f"{exc}; a checkpoint signed before the lender replaced its key is checked with "
            "the old key: give each key once ('--public-key OLD-KEY.pub --public-key "
            "NEW-KEY.pub')"
        ) from None
    return verifiers[0]


def _check_proof(old: notes.Checkpoint, new: notes.Checkpoint, document: dict[str, Any]) -> None:
    """The proof file is of these two checkpoints and shows NEW extends OLD."""
    if document["origin"] != old.origin:
        raise notes.CheckpointRefused(
            f"PROOF is of the log {notes.shown(str(document['origin']))}, not of the "
            f"checkpoints' ({notes.shown(old.origin)}): no proof of another log links them"
        )
    if (document["old_size"], document["new_size"]) != (old.size, new.size):
        raise notes.CheckpointRefused(
            f"PROOF is from size {document['old_size']} to {document['new_size']}, not from "
            f"OLD ({old.size}) to NEW ({new.size})"
        )
    if not merkle.verify_consistency(old.size, new.size, old.root, new.root, document["proof"]):
        raise notes.CheckpointRefused(
            f"the proof does not show NEW ({counted(new.size, 'event')}) extends OLD "
            f"({counted(old.size, 'event')}): the "
            "log was rewritten between them (or the proof is not theirs)"
        )


def _read_proof(path: Path) -> dict[str, Any]:
    """A consistency proof file; InvalidInput if it is not one."""
    raw = _read_small(path, "PROOF", 64 * 1024)
    # explicit checks, not asserts: `python -O` would strip those and let any JSON through
    malformed = InvalidInput(
        f"PROOF: {path} is not a consistency proof written by 'checkpoint prove'"
    )
    try:
        document = json.loads(raw)
    except (ValueError, RecursionError):  # RecursionError: nested deeper than Python's stack
        raise malformed from None
    if not isinstance(document, dict) or document.get("format") != PROOF_FORMAT:
        raise malformed
    version = document.get("version")
    # `is int`: JSON's true would pass as 1; a later version may mean its fields otherwise
    if type(version) is not int or version != PROOF_VERSION:
        written = f"version {shown_value(version)}" if "version" in document else "no version"
        raise InvalidInput(
            f"PROOF: {path} is a consistency proof of {written}; this release reads version "
            f"{PROOF_VERSION}, as 'checkpoint prove' writes it"
        )
    sizes = (document.get("old_size"), document.get("new_size"))
    nodes = document.get("proof")
    if not all(type(size) is int and size >= 0 for size in sizes):
        raise malformed
    if not isinstance(document.get("origin"), str) or not isinstance(nodes, list):
        raise malformed
    try:
        proof = [base64.b64decode(node, validate=True) for node in nodes]
    except (ValueError, TypeError):
        raise malformed from None
    if not all(len(node) == merkle.HASH_SIZE for node in proof):
        raise malformed
    return {**document, "proof": proof}


# --- incremental verify -------------------------------------------------------------------


@dataclass
class SinceResult:
    """What `verify --since` checked, what it found and what it left to a full verify."""

    checkpoint_id: int
    from_size: int
    head_seq: int = 0
    head_hash: str = ""
    new_events: int = 0
    records_checked: int = 0
    root: bytes = b""
    problems: list[tuple[str, str]] = field(default_factory=list)
    not_checked: list[str] = field(default_factory=list)
    checked: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when nothing was found."""
        return not self.problems

    @property
    def head(self) -> str:
        """`SEQ:HASH` of the last event."""
        return chain.format_head(self.head_seq, self.head_hash)


def verify_since(
    engine: Engine, ctx: Context, note_path: Path, key_path: Path | None
) -> SinceResult:
    """Check only what came after a kept, fully verified checkpoint."""

    note = read_note(note_path, "--since")
    with _about("--since", note_path):  # a file that is no checkpoint at all: bad input
        notes.parse_checkpoint(notes.split_note(note)[0])
    with db.transaction(engine, write=False) as session:
        require_role(session, ctx, *READ_ROLES, action="verify the whole ledger")
        connection = session.connection()
        kept = next((k for k in stored_checkpoints(connection) if k.note == note), None)
        if kept is None:
            raise Conflict(
                f"--since: {note_path} is not a checkpoint this ledger made and kept, so nothing "
                "says it was fully verified; run a full 'verify' (or 'verify --checkpoint')"
            )
        verifier = (
            read_verifier(key_path) if key_path else notes.parse_verifier_key(kept.public_key)
        )
        with _about("--since", note_path):
            checkpoint = open_checkpoint(note, verifier, _ledger_id(connection))
        result = SinceResult(kept.id, checkpoint.size)
        _check_anchor(connection, checkpoint, kept, result)
        if result.ok:
            _check_new_events(session, connection, checkpoint, kept, result)
            result.problems += _defence_problems(connection)
            result.checked.append(_defences_checked(connection))
            if db.is_postgres(connection):  # the policies, or why this login could not
                policies = pgsecurity.policy_check(connection)
                result.problems += [("defence", m) for m in policies.problems]
                result.not_checked += policies.not_checked
                if policies.checked:
                    result.checked.append(
                        "the row-level security policies: the ledger's own, as a full verify "
                        "compares them"
                    )
            # a later kept checkpoint the ledger no longer reaches: cut back after it
            result.problems += [("checkpoint", m) for m in kept_checkpoint_problems(connection)]
            result.checked.append("every checkpoint kept in the ledger still has its head event")
        sqlite = not db.is_postgres(connection)
    result.checked.append(_signature_checked(kept.id, verifier, own_key=key_path is not None))
    result.not_checked += _since_not_checked(kept, checkpoint.size, sqlite=sqlite)
    return result


def _signature_checked(checkpoint_id: int, verifier: notes.VerifierKey, *, own_key: bool) -> str:
    """What `verify --since` says of the checkpoint's signature: with the auditor's own copy of
    the key it proves the lender signed; with the key kept beside it in the ledger, only that
    the two agree (whoever rewrites the ledger can replace both)."""
    signed = (
        f"the signature of checkpoint {checkpoint_id} by {verifier.name}+{verifier.key_id.hex()}"
    )
    if own_key:
        return f"{signed}, with the public key you gave"
    return (
        f"{signed}, with the public key kept beside it in this ledger, which whoever rewrites "
        "the ledger can replace too: give your own copy of the lender's key with --public-key"
    )


def _since_not_checked(kept: "StoredCheckpoint", size: int, *, sqlite: bool) -> list[str]:
    """What `verify --since` leaves to a full `verify`, in words: the events the checkpoint
    signed were checked by the full verify before it was made, not now."""
    left = []
    if size:
        only_head = (
            f"; only event {size}'s hash was compared with the signed one"
            if size > 1
            else ", but its hash was compared with the signed one"
        )
        left.append(
            f"{events_span(1, size)}, which checkpoint {kept.id} signed: their contents, hashes "
            f"and links were checked by the full verify before it was made, not now{only_head}"
        )
    left += [
        "that replaying every event gives the tables the commands read (the projections): "
        f"checked when checkpoint {kept.id} was made, whose state was {kept.state}",
        "the invariants of the samples, loans and agreements no new event touched",
    ]
    if sqlite:  # PostgreSQL checks its own pages: a full verify runs no such check there
        left.append("SQLite's integrity check of the whole file")
    return left


def _defences_checked(connection: Connection) -> str:
    """What `verify --since` says it checked of the schema and triggers (`_defence_problems`)."""
    if db.is_postgres(connection):
        return "the schema, the PostgreSQL triggers and the database's other defences"
    return "the schema and the append-only triggers"


def _defence_problems(connection: Connection) -> list[tuple[str, str]]:
    """The schema (its version table, tables, columns and indexes) and the append-only
    triggers (and on PostgreSQL its other defences), as a full verify checks them on this
    engine: SQLite's are read from sqlite_master, PostgreSQL's from its catalogue."""
    from sampleloans import pgsecurity
    from sampleloans.services.verify import revision_problems, shape_problems, trigger_problems

    schema = [("schema", p.message) for p in revision_problems(connection)]
    schema += [("schema", p.message) for p in shape_problems(connection)]
    if db.is_postgres(connection):
        return (
            schema
            + [("schema", m) for m in db.postgres_trigger_problems(connection)]
            + [("defence", m) for m in pgsecurity.defence_problems(connection)]
        )
    return schema + [("schema", p.message) for p in trigger_problems(connection)]


def _check_anchor(
    connection: Connection,
    checkpoint: notes.Checkpoint,
    kept: StoredCheckpoint,
    result: SinceResult,
) -> None:
    """The ledger still holds the checkpoint's head, and the kept frontier is the signed one."""
    size = checkpoint.size
    seq_text, _, hash_hex = (checkpoint.extension("head") or "").partition(":")
    if kept.frontier.root() != checkpoint.root or seq_text != str(size):
        result.problems.append(("checkpoint", "the kept Merkle frontier is not the signed one"))
        return
    stored = _head_at(connection, size) if size else chain.genesis_hash(_ledger_id(connection))
    if stored is None:
        result.problems.append(
            ("checkpoint", f"event {size} is gone: events were removed (truncation or rollback)")
        )
    elif size and stored != hash_hex:
        result.problems.append(
            ("checkpoint", f"event {size} is not the checkpoint's head: the ledger was rewritten")
        )
    result.checked.append(
        f"event {size}, the last one the checkpoint signed, still has the signed hash"
    )


def _check_new_events(
    session: Session,
    connection: Connection,
    checkpoint: notes.Checkpoint,
    kept: StoredCheckpoint,
    result: SinceResult,
) -> None:
    """Chain, payloads and invariants of the events after the checkpoint."""
    size = checkpoint.size
    prev_hash = (checkpoint.extension("head") or "").partition(":")[2] or chain.genesis_hash(
        _ledger_id(connection)
    )
    clock = chain.RecordingClock()  # `verify`'s, so both word an event recorded out of order alike
    clock.seed(
        size,
        connection.execute(
            text("SELECT recorded_at FROM ledger_event WHERE seq = :s"), {"s": size}
        ).scalar(),
    )
    frontier, expected = kept.frontier.copy(), size + 1
    cursor = connection.execute(
        text("SELECT * FROM ledger_event WHERE seq > :s ORDER BY seq"), {"s": size}
    )
    while rows := cursor.fetchmany(_BATCH):
        for row in rows:
            result.problems += _link_problems(row, prev_hash, expected, clock)
            prev_hash, expected = row.hash, row.seq + 1
            frontier.append(bytes.fromhex(row.hash))
            result.new_events += 1
            result.head_seq, result.head_hash = row.seq, row.hash
    if not result.new_events:
        result.head_seq, result.head_hash = size, prev_hash
    result.root = frontier.root()
    result.checked.append(_new_events_checked(size, result.head_seq))
    _check_touched_records(session, connection, size, result)


def _new_events_checked(size: int, head_seq: int) -> str:
    """What `verify --since` says it checked of the events after a checkpoint of `size`."""
    if head_seq <= size:
        return (
            f"no event after event {size}, the last one the checkpoint signed: nothing new to check"
        )
    if head_seq == size + 1:
        return (
            f"event {head_seq}, the one new event: its number, its link to event {size}, its "
            "hash, its contents and its recording time"
        )
    return (
        f"{events_span(size + 1, head_seq)}, the new events: their numbers, links, hashes, "
        "contents and recording times"
    )


def _link_problems(
    row: Any, prev_hash: str, expected: int, clock: chain.RecordingClock
) -> list[tuple[str, str]]:
    """One new event's seq, link, hash, payload and recording time."""
    problems = []
    if row.seq != expected:
        problems.append(
            ("chain", f"seq jumps from {expected - 1} to {row.seq}: events are missing")
        )
    if row.prev_hash != prev_hash:
        problems.append(("chain", f"event {row.seq} does not link to event {row.seq - 1}"))
    body = chain.stored_body(row)
    try:
        if chain.link_hash(row.prev_hash, body) != row.hash:
            problems.append(("chain", f"event {row.seq} ({row.kind}) does not match its hash"))
        event_from_payload(row.kind, json.loads(row.payload))
    except (InvalidInput, ValueError, TypeError, KeyError) as exc:
        problems.append(("chain", f"event {row.seq} ({row.kind}) cannot be read: {exc}"))
    # in time order, not text order: '…:00.3Z' is after '…:00Z', and sorts before it
    if (clock_finding := clock.finding(row)) is not None:
        problems.append(("chain", clock_finding))
    return problems


def _check_touched_records(
    session: Session, connection: Connection, size: int, result: SinceResult
) -> None:
    """Every invariant on the samples, loans and agreements the new events touched."""
    rows = connection.execute(
        text(
            "SELECT DISTINCT subject_type, subject_key FROM event_subject WHERE seq > :s "
            "AND subject_type IN ('sample', 'loan', 'agreement')"
        ),
        {"s": size},
    ).all()
    touched: dict[str, set[str]] = {"sample": set(), "loan": set(), "agreement": set()}
    for subject_type, key in rows:
        touched[subject_type].add(key)
    result.records_checked = sum(len(keys) for keys in touched.values())
    if not result.records_checked:
        return
    snapshot = checks.build_snapshot(
        connection,
        samples=touched["sample"],
        loans=touched["loan"],
        agreements=touched["agreement"],
    )
    result.problems += [("invariant", v.message) for v in checks.run_checks(snapshot)]
    result.checked.append(
        f"every invariant of the {counted(result.records_checked, 'record')} (samples, loans "
        "and agreements) the new events touched"
    )
