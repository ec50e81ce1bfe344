"""Backup and restore of the ledger database (docs/reliability.md, tier T7).

`backup` takes a consistent online copy with SQLite's backup API while other processes keep
writing; the copy is written to a private (0600) temporary file in the destination folder and
moved into place with `os.replace`, so a crash never leaves a half-written backup under the
final name. `restore` copies the backup to a private temporary file, verifies that copy
(chain, replay, invariants, integrity) and only then loads it into the live database with the
same backup API, in one SQLite transaction: processes that have the database open see either
the old or the restored ledger, the file keeps its 0600 mode, and no stale WAL is left behind
to be applied to the wrong file.

Curators and compliance officers may back up; only curators may restore.
"""

import os
import stat
from collections.abc import Sequence
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Engine
from sqlalchemy.exc import DatabaseError
from sqlmodel import Session

from sampleloans import crashpoints, db, fileio
from sampleloans.errors import Conflict, DamagedFile, InvalidInput, RuleViolation, StorageError
from sampleloans.ledger import chain
from sampleloans.ledger.envelope import Context
from sampleloans.services.common import require_role
from sampleloans.services.verify import verify
from sampleloans.text import counted

if TYPE_CHECKING:
    from sampleloans.ledger.checkpoint import VerifierKey
    from sampleloans.services.checkpoints import KeptNotes, SignedNote

BACKUP_ROLES = ("curator", "compliance_officer")
RESTORE_ROLES = ("curator",)
IMPORT_EVENTS_ACTION = "import an events export into a new ledger"
"""What `import` of an events export asks for, in a refusal (it rebuilds a ledger, as restore)."""


@dataclass(frozen=True)
class CopyResult:
    """What a backup or restore produced: the file and the ledger head it holds; for a restore
    over an existing ledger, also the head it replaced and how many of its events are gone."""

    path: Path
    head_seq: int
    head_hash: str
    replaced: "LedgerIdentity | None" = None
    removed_events: int = 0
    damaged_aside: Path | None = None  # where a damaged ledger the restore replaced was kept
    checkpoints: "KeptNotes | None" = None  # a bag's signed checkpoints kept (`restore --bag`)

    @property
    def head(self) -> str:
        """`SEQ:HASH` of the copy's last event."""
        return chain.format_head(self.head_seq, self.head_hash)


def _database_file(engine: Engine, *, restoring: bool = False) -> Path:
    """The SQLite file behind an engine (backup and restore work on files only); on
    PostgreSQL, what to do instead: for a backup, export the events; for a restore, rebuild
    from an export into an empty database."""
    path = db.sqlite_path(str(engine.url))
    if path is not None:
        return path
    if db.is_postgres_url(str(engine.url)) and restoring:
        raise StorageError(
            f"backup and restore copy a SQLite file; {db.where(engine)} is a PostgreSQL "
            "database: rebuild a ledger there from an events export with 'restore --events "
            "FILE', into an empty database ('sampleloans --db BACKUP.db export --events FILE' "
            "makes one from a backup)"
        )
    if db.is_postgres_url(str(engine.url)):
        raise StorageError(
            f"backup and restore copy a SQLite file; {db.where(engine)} is a PostgreSQL "
            "database: take a logical export of its events with 'sampleloans export --events "
            "FILE' (it restores into a fresh ledger on either engine), or the server's pg_dump"
        )
    raise StorageError("backup and restore need a SQLite database file (--db FILE)")


def _same_file(a: Path, b: Path) -> bool:
    """Whether two paths name the same file (either may not exist)."""
    try:
        return a.resolve() == b.resolve() or (b.exists() and os.path.samefile(a, b))
    except OSError:
        return False


def _check_destination(dest: Path, database: Path, force: bool) -> None:
    """Refuse a destination that is the ledger (or its -wal/-shm/-journal) under any name, not
    a regular file, in a missing folder, or existing without `force`."""
    # each refusal names the argument, FILE, as every other command's names its option
    fileio.refuse_ledger(dest, database, "FILE")
    fileio.refuse_new_database(dest, "FILE")
    mode = fileio.inspected_mode(dest, "FILE")
    if mode is not None and stat.S_ISDIR(mode):
        raise StorageError(f"FILE: {dest} is a folder; give a file name for the backup")
    fileio.refuse_non_regular(dest, "FILE")
    fileio.refuse_missing_folder(dest, "FILE")
    if dest.exists() and not force:
        raise StorageError(f"FILE: {dest} already exists; choose another name or pass --force")
    fileio.refuse_write_protected(dest, "FILE")


@dataclass(frozen=True)
class LedgerIdentity:
    """Which ledger a file holds (its `ledger_id`) and how far it goes (its head)."""

    ledger_id: str
    head_seq: int
    head_hash: str

    @property
    def head(self) -> str:
        """`SEQ:HASH` of the last event."""
        return chain.format_head(self.head_seq, self.head_hash)


def _identity(path: Path) -> LedgerIdentity:
    """The ledger id and head of a ledger file (read only: nothing is written to it)."""
    with closing(db.file_reader(path)) as connection:
        meta = connection.execute(
            "SELECT value FROM ledger_meta WHERE key = 'ledger_id'"
        ).fetchone()
        last = connection.execute(
            "SELECT seq, hash FROM ledger_event ORDER BY seq DESC LIMIT 1"
        ).fetchone()
    seq, hash_hex = (0, "") if last is None else (int(last[0]), str(last[1]))
    return LedgerIdentity("" if meta is None else str(meta[0]), seq, hash_hex)


def _hash_at(path: Path, seq: int) -> str | None:
    """The hash of event `seq` in a ledger file, or None when it has no such event."""
    with closing(db.file_reader(path)) as connection:
        row = connection.execute("SELECT hash FROM ledger_event WHERE seq = ?", (seq,)).fetchone()
    return None if row is None else str(row[0])


def _removed_events(current: LedgerIdentity, live: Path, backup_file: Path) -> int:
    """How many of the live ledger's events the backup lacks (0 when the live ledger is a
    prefix of the backup: restoring it only moves forward)."""
    if current.head_seq == 0:
        return 0
    if _hash_at(backup_file, current.head_seq) == current.head_hash:
        return 0  # the backup extends the live ledger (or is the same)
    common = _common_prefix(live, backup_file, current.head_seq)
    return current.head_seq - common


def _common_prefix(live: Path, backup_file: Path, upper: int) -> int:
    """The last seq at which both files hold the same event (hashes chain, so equal hashes at
    a seq mean equal histories up to it): a binary search."""
    low, high = 0, upper  # invariant: equal at low (0 = genesis), different at high
    while high - low > 1:
        middle = (low + high) // 2
        here = _hash_at(live, middle)
        if here is not None and here == _hash_at(backup_file, middle):
            low = middle
        else:
            high = middle
    return low


def _check_replacement(
    current: LedgerIdentity,
    restored: LedgerIdentity,
    removed: int,
    source: Path,
    *,
    other_ledger: bool,
    older: bool,
) -> None:
    """Refuse a backup of another ledger without `other_ledger`, and one that would remove
    events of the live ledger (an older copy, or a diverged one) without `older`."""
    if current.ledger_id != restored.ledger_id:
        if not other_ledger:
            raise Conflict(
                f"FILE: {source} is a backup of ledger {restored.ledger_id}, not of this ledger "
                f"{current.ledger_id}; nothing was restored (pass --other-ledger to replace "
                "this ledger with another one)"
            )
        return
    if removed and not older:
        common = current.head_seq - removed
        what = (
            "is older than this ledger"
            if common == restored.head_seq
            else f"differs from this ledger from event {common + 1} on"
        )
        raise Conflict(
            f"FILE: {source} {what}: restoring it would remove {counted(removed, 'event')} of this "
            f"ledger (head {current.head_seq} → {restored.head_seq}); nothing was restored "
            "(pass --older to roll the ledger back to it)"
        )


def backup(engine: Engine, ctx: Context, dest: Path, *, force: bool = False) -> CopyResult:
    """Copy the live ledger to `dest` (0600, atomic) while writers keep working."""
    database = _database_file(engine)
    with db.transaction(engine, write=False) as session:  # SQLite errors become exit 3
        require_role(session, ctx, *BACKUP_ROLES, action="back up the ledger")
    _check_destination(dest, database, force)
    # a killed backup leaves its temp file; the next one into this folder removes it
    with fileio.private_temp_file(dest.parent, dest.name, "FILE") as temp:
        try:
            with closing(db.copy_source(database)) as source:
                db.copy_database(source, temp.path)
            head_seq, head_hash = db.file_head(temp.path)
            _check_destination(dest, database, force)  # nothing put there meanwhile
            crashpoints.reached("before_replace")
            fileio.move_into_place(temp.path, dest, force=force)  # no clobbering without force
            fileio.placed(f"{dest} was written whole")
        except db.FileError as exc:
            raise StorageError(
                f"FILE: backup to {dest} failed: {exc}; nothing was written"
            ) from None
        except OSError as exc:
            raise StorageError(
                f"FILE: backup to {dest} failed: {exc.strerror}; nothing was written"
            ) from None
    fileio.fsync_directory(dest.parent)
    return CopyResult(dest, head_seq, head_hash)


def restore(
    engine: Engine,
    ctx: Context,
    source: Path,
    *,
    force: bool = False,
    other_ledger: bool = False,
    older: bool = False,
    events: bool = False,
    bag: "BagGiven | None" = None,
    action: str = "restore the ledger",
) -> CopyResult:
    """Replace the live ledger with a verified copy of the backup `source` (with `events`, of
    the ledger rebuilt from an events export: `sampleloans export --events`; with `bag`, from
    the events of the bag `source` once it is validated, keeping its signed checkpoints as the
    ledger they were made on kept them).

    The actor must be a curator of the current ledger (or, when there is no current ledger,
    of the backup). An existing ledger is replaced only with `force`, by a backup of another
    ledger only with `other_ledger`, and by one lacking any of its events only with `older`.
    `action` names what the user asked for in a role refusal (`import` rebuilds one too).
    """
    events = events or bag is not None  # a bag's ledger is rebuilt from its events
    if events and db.is_postgres(engine):
        return _restore_events_into_postgres(engine, ctx, source, bag, force=force, action=action)
    database = _database_file(engine, restoring=True)
    exists = os.path.lexists(database)
    # the role first (exit 4), as for every write: who acts comes before what they typed; a
    # missing or damaged ledger has no roles to read, so its curator is read from the copy
    damage = _live_ledger_damage(engine, ctx, database) if exists else None
    bag = bag.keys_read() if bag is not None else None
    _check_source(source, database, events=events, bag=bag)
    if exists:
        _require_force(database, source, damage=damage, force=force)
    else:  # a new ledger: never where SQLite would pair it with another's files
        fileio.refuse_new_database(database, "--db")
    damaged = damage is not None
    # the verified copy is a whole ledger: removed at the end, on SIGTERM, or (after a
    # SIGKILL) by the next restore beside this ledger
    with fileio.private_temp_file(database.parent, f"{database.name}.restore", "--db") as temp:
        kept = _make_verified_copy(source, temp.path, events=events, bag=bag)
        if not exists or damaged:
            _require_curator_of_copy(temp.path, ctx, action)
        replaced, removed, aside = None, 0, None
        if exists and not damaged:
            replaced, removed = _replacement(database, temp.path, source, other_ledger, older)
        # the head is read from the copy: a read-only reader of the live WAL-mode file would
        # leave its -wal and -shm behind
        head_seq, head_hash = db.file_head(temp.path)
        crashpoints.reached("before_restore_load")
        if damaged:  # SQLite cannot load a copy into damaged pages: set the file aside whole
            aside = _set_aside_damaged(database)
        _load_into(temp.path, database)
    return CopyResult(
        database,
        head_seq,
        head_hash,
        replaced,
        removed_events=removed,
        damaged_aside=aside,
        checkpoints=kept,
    )


def _check_source(source: Path, database: Path, *, events: bool, bag: "BagGiven | None") -> None:
    """The backup (or export) must be a file, not the ledger itself, and a backup a ledger (a
    bag, a folder: `verify_bag` checks it)."""
    if bag is not None:
        _check_bag_source(source, bag, database)
        return
    written_by = "'export --events'" if events else "'backup'"
    fileio.check_input(source, "FILE", give=f"give the file written by {written_by}")
    if _same_file(source, database):
        raise InvalidInput(f"FILE: {source} is the ledger database itself; give a backup file")
    why = None if events else db.not_a_ledger(source)
    if why is not None:  # bad input, as a malformed events export is (exit 2)
        raise InvalidInput(
            f"FILE: {source} {why}; give the file written by 'backup'; nothing was restored"
        )


def _live_ledger_damage(engine: Engine, ctx: Context, database: Path) -> str | None:
    """Why the existing ledger file is damaged, or None; a readable one is replaced only by
    one of its curators (checked here, exit 4)."""
    db.check_ledger_file(database)  # never overwrite an empty file or another app's database
    try:
        with db.transaction(engine, write=False) as session:  # SQLite errors become exit 3
            require_role(session, ctx, *RESTORE_ROLES, action="restore the ledger")
    except DamagedFile as exc:
        return str(exc)  # who may restore is read from the backup, as with no ledger
    return None


def _require_force(database: Path, source: Path, *, damage: str | None, force: bool) -> None:
    """An existing ledger (damaged or not) is replaced only with --force (exit 3)."""
    if force:
        return
    if damage is not None:
        raise StorageError(
            f"{damage}; 'restore {source} --force' replaces it (the damaged file is kept beside it)"
        )
    raise StorageError(
        f"--db: {database} already holds a ledger; pass --force to replace it with {source}"
    )


def _make_verified_copy(
    source: Path, copy: Path, *, events: bool, bag: "BagGiven | None" = None
) -> "KeptNotes | None":
    """The ledger to restore at `copy`, verified: rebuilt from an export (from a bag: with its
    signed checkpoints kept, what was kept), or the backup's copy."""
    if not events and bag is None:
        _verified_copy(source, copy)
        return None
    checkpoints: Sequence[SignedNote] = ()
    validated = None
    if bag is not None:
        source, checkpoints, validated = _bag_contents(source, bag)
    _built_from_events(source, copy)
    if validated is not None:
        _require_head_validated(source, copy, validated)
    kept = _keep_checkpoints(copy, checkpoints) if bag is not None else None
    _verify_copy(source, copy)  # the kept checkpoints too: their signatures, order and heads
    return kept


@dataclass(frozen=True)
class BagGiven:
    """`restore --bag`: the ledger is rebuilt from a bag, whose checkpoints must each be signed
    by one of `public_keys` (the reader's copies of the lender's keys: a bag holding any
    checkpoint is refused without one)."""

    public_keys: "tuple[VerifierKey, ...]" = ()
    key_files: tuple[Path, ...] = ()
    """`--public-key` files not yet read: read by `keys_read` once the actor may restore (a
    researcher's bad key file is refused by role, exit 4, as every write is)."""

    def keys_read(self) -> "BagGiven":
        """These keys with `key_files` read (exit 2 for one that is no public key)."""
        from sampleloans.services.checkpoints import read_verifier

        read = tuple(read_verifier(path) for path in self.key_files)
        return BagGiven(self.public_keys + read)


def _check_bag_source(source: Path, bag: BagGiven, database: Path | None) -> None:
    """What `restore --bag` can refuse before a byte of the bag is read (exit 2): FILE must be
    a folder, --db outside it, and a bag holding checkpoints needs --public-key."""
    from sampleloans.services.bag import require_folder

    require_folder(source, "FILE")
    if database is not None and database.resolve().is_relative_to(source.resolve()):
        # the restore's own temp file would be found in the bag as a file added to it
        raise InvalidInput(
            f"--db: {database} lies inside the bag {source}; restoring there would add a file "
            "to the bag, whose manifests list every file: give a --db outside it"
        )
    if not bag.public_keys and _holds_checkpoints(source):
        raise _key_needed(source)


def _key_needed(source: Path) -> InvalidInput:
    """A bag holding checkpoints restored without --public-key (exit 2): a key the bag carries
    was chosen by whoever made the bag, and a ledger keeping checkpoints signed by it would
    vouch for them in every later verify-document."""
    return InvalidInput(
        f"--public-key: the bag {source} holds signed checkpoints, and the keys it carries "
        "were chosen by whoever made it: give --public-key KEY.pub, the lender's key as you "
        f"received it, to keep them ('sampleloans verify-bag {source}' prints each signer's "
        f"fingerprint to compare); 'restore --events {source / 'data' / 'events.jsonl'}' "
        "rebuilds the events alone"
    )


def _holds_checkpoints(source: Path) -> bool:
    """Whether a bag's data/checkpoints/ holds any entry (what it is, `verify_bag` checks)."""
    try:
        with os.scandir(source / "data" / "checkpoints") as entries:
            return any(True for _entry in entries)
    except OSError:  # none, or unreadable: verify_bag says which
        return False


def _bag_contents(source: Path, bag: BagGiven) -> "tuple[Path, Sequence[SignedNote], str]":
    """Validate the bag (`verify-bag`'s checks: exit 1 if it fails, nothing restored): its
    events file, its checkpoints as their signatures were checked, and the events' head."""
    from sampleloans.services.bag import EVENTS_FILE, verify_bag

    try:
        keys = bag.public_keys
        found = verify_bag(source, keys[0] if keys else None, also=keys[1:])
    except RuleViolation as exc:  # verify-bag's one line, and what it means here
        raise RuleViolation(f"{exc}; nothing was restored") from None
    if found.signed and not keys:  # checkpoints put in after the first look at the folder
        raise _key_needed(source)
    return source / "data" / EVENTS_FILE, found.signed, found.head


def _require_head_validated(events: Path, copy: Path, validated: str) -> None:
    """The ledger rebuilt from a bag's events file must end at the head validated a moment
    before: the file is read twice, and one replaced in between (the bag is a folder anyone
    with access may write to) would otherwise be rebuilt unchecked. The same head hash means
    the same events: each hash covers every event before it."""
    seq, hash_hex = db.file_head(copy)
    if f"{seq}:{hash_hex}" != validated:
        raise RuleViolation(
            f"BAG: {events} changed while it was restored: the events read end at "
            f"{seq}:{hash_hex[:16]}…, not at the head validated, {validated[:24]}…; "
            "nothing was restored"
        )


def _keep_checkpoints(copy: Path, checkpoints: "Sequence[SignedNote]") -> "KeptNotes":
    """Keep the signed checkpoints in the ledger just rebuilt at `copy`, in one transaction."""
    from sampleloans.services.checkpoints import keep_signed_notes

    copy_engine = db.make_engine(db.url_for_path(copy))
    try:
        with db.transaction(copy_engine) as session:
            return keep_signed_notes(session.connection(), checkpoints)
    finally:
        copy_engine.dispose()


def _require_curator_of_copy(copy: Path, ctx: Context, action: str) -> None:
    """With no readable ledger to ask, the actor must be a curator of the backup itself."""
    copy_engine = db.make_engine(db.url_for_path(copy))
    try:
        with Session(copy_engine) as session:
            require_role(session, ctx, *RESTORE_ROLES, action=action)
    finally:
        copy_engine.dispose()


def _set_aside_damaged(database: Path) -> Path:
    """Rename a damaged ledger (and its -wal/-shm/-journal) to `NAME.damaged-N`, kept as it
    was for a post-mortem; the verified copy then takes its name. A crash in between leaves
    no ledger there, and the next restore puts the copy in place."""
    for number in range(1, 1000):
        aside = database.with_name(f"{database.name}.damaged-{number}")
        if not any(os.path.lexists(p) for p in fileio.ledger_files(aside)):
            break
    else:
        raise StorageError(f"--db: too many damaged copies beside {database}; move them away")
    try:
        for suffix in ("", *fileio.SQLITE_SIDECARS):
            if os.path.lexists(f"{database}{suffix}"):
                os.rename(f"{database}{suffix}", f"{aside}{suffix}")
    except OSError as exc:
        raise StorageError(
            f"--db: cannot set the damaged {database} aside: {exc.strerror}"
        ) from None
    fileio.fsync_directory(database.parent)
    return aside


def _restore_events_into_postgres(
    engine: Engine,
    ctx: Context,
    source: Path,
    bag: BagGiven | None,
    *,
    force: bool,
    action: str,
) -> CopyResult:
    """`restore --events` (or `import` of an events export) into an empty PostgreSQL database:
    the ledger is rebuilt and verified in a scratch SQLite file, then copied in one transaction
    (schema, defences, rows); a database that holds any of the ledger's tables is refused,
    nothing written."""
    where = db.where(engine)
    asked = _asked(action, bag)
    if force:
        raise StorageError(
            f"{asked} into PostgreSQL fills an empty database and never replaces a "
            f"ledger; --force does not apply: create an empty database for it ({where})"
        )
    if bag is not None:  # no ledger there yet: who may restore is read from the copy
        bag = bag.keys_read()
        _check_bag_source(source, bag, None)
    else:
        fileio.check_input(source, "FILE", give="give the file written by 'export --events'")
    # before the rebuild reads a large export or bag; checked again under the writers' lock
    _require_empty_postgres(engine, where, asked)
    with fileio.private_temp_dir("replay") as scratch:
        copy_path = scratch / "restored.db"
        kept = _make_verified_copy(source, copy_path, events=True, bag=bag)
        _require_curator_of_copy(copy_path, ctx, action)
        copy_engine = db.make_engine(db.url_for_path(copy_path))
        try:
            head_seq, head_hash = db.file_head(copy_path)
            crashpoints.reached("before_restore_load")
            _copy_into_postgres(copy_engine, engine, where, asked)
        finally:
            copy_engine.dispose()
    return CopyResult(Path(where), head_seq, head_hash, checkpoints=kept)


def _require_empty_postgres(engine: Engine, where: str, asked: str) -> None:
    """Refuse (exit 3) a PostgreSQL database holding any of the ledger's tables."""
    try:
        with engine.connect() as connection:
            present = db.ledger_tables_present(connection)
    except DatabaseError as exc:
        raise db.postgres_error(exc, where) or StorageError(
            f"cannot read {where} ({str(exc.orig).splitlines()[0][:200]}); nothing was written"
        ) from None
    if present:
        raise StorageError(_not_empty_message(where, present, asked))


def _asked(action: str, bag: "BagGiven | None") -> str:
    """The command a PostgreSQL refusal names, as the user typed it."""
    if action == IMPORT_EVENTS_ACTION:
        return "import of an events export"
    return "restore --bag" if bag is not None else "restore --events"


def _copy_into_postgres(copy_engine: Engine, engine: Engine, where: str, asked: str) -> None:
    """Create the schema and copy every row into PostgreSQL in one write transaction (the
    writers' lock first, so two restores cannot both find the database empty); `asked`: the
    command a refusal names."""
    try:
        with (
            copy_engine.connect() as source,
            engine.execution_options(sqlite_begin="IMMEDIATE").begin() as target,
        ):
            present = db.ledger_tables_present(target)
            if present:
                raise StorageError(_not_empty_message(where, present, asked))
            db.install_postgres_schema(target, stamp=True)
            db.copy_tables(source, target)
            crashpoints.reached("before_commit")  # a crash here: the server rolls it all back
    except DatabaseError as exc:
        raise db.postgres_error(exc, where) or StorageError(
            f"restore into {where} failed ({str(exc.orig).splitlines()[0][:200]}); "
            "nothing was written"
        ) from None


def _tables(present: list[str]) -> str:
    """'table loan' or 'tables loan, sample': the ledger's tables a database already has."""
    noun = "table" if len(present) == 1 else "tables"
    return f"{noun} {', '.join(present)}"


def _not_empty_message(where: str, present: list[str], asked: str) -> str:
    """Why a PostgreSQL database cannot take a restore (or an import of an events export): it
    holds a ledger, or some of its tables."""
    what = (
        "already holds a ledger"
        if "ledger_event" in present
        else f"is not empty (it has the {_tables(present)})"
    )
    verb = asked.split()[0]
    return (
        f"the database {where} {what}; {asked} fills only an empty database: "
        f"create one (createdb) and {verb} into it; nothing was written"
    )


def _replacement(
    database: Path, temp: Path, source: Path, other_ledger: bool, older: bool
) -> tuple[LedgerIdentity, int]:
    """The live ledger's identity and how many of its events the restore removes, after the
    refusals of `_check_replacement`."""
    try:
        current, restored = _identity(database), _identity(temp)
        if current.ledger_id != restored.ledger_id:
            removed = current.head_seq  # another ledger: none of these events remain
        else:
            removed = _removed_events(current, database, temp)
    except db.FileError as exc:
        raise StorageError(
            f"--db: cannot read the ledger {database} to compare it with {source} ({exc}); "
            "nothing was restored"
        ) from None
    _check_replacement(current, restored, removed, source, other_ledger=other_ledger, older=older)
    return current, removed


def _verified_copy(source: Path, temp: Path) -> None:
    """Copy the backup to `temp` without touching it, then verify the copy (exit 1 if not
    clean: nothing is restored)."""
    try:
        with closing(db.file_reader(source, read_only=True)) as backup_file:
            db.copy_database(backup_file, temp)
    except db.FileError as exc:
        db.raise_if_environment(exc, temp, what="the verified copy of the backup")  # full disk
        raise Conflict(
            f"FILE: {source} is not a readable ledger backup ({exc}); nothing was restored"
        ) from None
    except OSError as exc:  # the fsync of the copy: a full or failing disk
        raise StorageError(
            f"--db: cannot copy the backup beside {temp.parent}: {exc.strerror}; nothing was "
            "restored"
        ) from None
    _verify_copy(source, temp)


def _built_from_events(source: Path, temp: Path) -> None:
    """Rebuild a ledger in `temp` from an events export: the events stored as they are (same
    hashes), then replayed through `apply` into the projections. Bad input: exit 2."""
    from sampleloans.services.events_file import load_events
    from sampleloans.services.verify import replay_into

    with fileio.private_temp_dir("replay") as scratch:
        events_only = db.scratch_engine(scratch / "events.db")
        target = db.scratch_engine(temp, what="the ledger rebuilt from the events")
        try:
            db.create_schema(events_only)
            load_events(source, events_only)
            db.create_schema(target, stamp=True)  # a schema of this release: its revision
            failure = replay_into(events_only, target)
        finally:
            events_only.dispose()
            target.dispose()
    if failure is not None:
        raise Conflict(
            f"FILE: {source} cannot be replayed ({failure.message}); nothing was restored"
        )
    try:
        fileio.fsync_file(temp)
    except OSError as exc:
        raise StorageError(f"--db: cannot write beside {temp.parent}: {exc.strerror}") from None


def _verify_copy(source: Path, temp: Path) -> None:
    """Verify the copy in `temp` in full (exit 1 if not clean: nothing is restored)."""
    copy_engine = db.make_engine(db.url_for_path(temp))
    try:
        result = verify(copy_engine)
    except StorageError:  # the environment failed (a full TMPDIR), not the backup
        raise
    except Exception as exc:  # a file that is not a ledger at all
        raise Conflict(
            f"FILE: {source} is not a ledger backup ({str(exc).splitlines()[0][:200]}); "
            "nothing was restored"
        ) from None
    finally:
        copy_engine.dispose()
    if not result.ok:
        first = result.problems[0].message
        raise Conflict(
            f"FILE: {source} fails verify ({counted(len(result.problems), 'problem')}, first: "
            f"{first}); nothing was restored"
        )


def _load_into(temp: Path, database: Path) -> None:
    """Load the verified copy into the live database in one SQLite transaction (or, with no
    ledger yet, link the copy into place: a crash leaves no file or the whole ledger, never an
    empty file that later commands would refuse)."""
    if not os.path.lexists(database):
        _link_new_ledger(temp, database)
    else:
        try:
            db.load_database(temp, database)
        except db.FileError as exc:
            raise StorageError(
                f"--db: restore into {database} failed: {exc}; the ledger was left as it was"
            ) from None
    fileio.placed(f"{database} was restored whole")


def _link_new_ledger(temp: Path, database: Path) -> None:
    """Put the verified copy (0600, rollback journal) in place as a new WAL-mode ledger."""
    fileio.refuse_new_database(database, "--db")  # nothing put beside it meanwhile
    try:
        db.use_wal_file(temp)
        os.link(temp, database)  # never replaces a file that appeared meanwhile
    except FileExistsError:
        raise StorageError(
            f"--db: {database} appeared during the restore; nothing was restored, run it again"
        ) from None
    except (db.FileError, OSError) as exc:
        raise StorageError(
            f"--db: restore into {database} failed: {exc}; nothing was written"
        ) from None
    fileio.fsync_directory(database.parent)
