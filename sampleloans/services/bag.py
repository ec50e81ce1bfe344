"""The archival export: a BagIt bag (RFC 8493, the `bagit` library) holding everything needed
to check the ledger in fifty years without this program.

    data/events.jsonl            every event with its hashes (docs/ledger-format.md section 5)
    data/checkpoints/*.txt       every kept signed checkpoint (and any given)
    data/keys/*.pub              the public keys that signed them (and any given)
    data/reports/*.pdf           the signed reports given with --report
    data/docs/ledger-format.md   the written format
    data/tools/verify_ledger.py  the stand-alone verifier (standard library only)
    data/README.txt              how to check it all

The bag is built in a private folder beside DIR, validated with the bagit library, then
renamed into place: DIR appears whole or not at all.
"""

import base64
import logging
import os
import stat
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Engine, text

from sampleloans import crashpoints, db, fileio
from sampleloans.errors import InvalidInput, RuleViolation, StorageError
from sampleloans.ledger import chain
from sampleloans.ledger.envelope import Context
from sampleloans.services.common import require_role
from sampleloans.services.events_file import (
    EXPORT_ROLES,
    FROM_AN_EXPORT,
    export_events,
    read_export,
)
from sampleloans.text import counted

if TYPE_CHECKING:
    from sampleloans.ledger.checkpoint import VerifierKey
    from sampleloans.services.checkpoints import SignedNote

CHECKSUMS = ("sha256", "sha512")
EVENTS_FILE = "events.jsonl"
HEAD_TAG = "Sampleloans-Head"
README = """This is an archival copy of a sampleloans custody ledger (a BagIt bag, RFC 8493).

events.jsonl      every event, one canonical JSON object per line, with its hash
checkpoints/      the lender's signed checkpoints (C2SP signed notes, RFC 6962 roots)
keys/             the Ed25519 public keys that signed them
reports/          signed PDF reports (PAdES), if any were given
docs/ledger-format.md   how every hash is computed, written to be implemented from scratch
tools/verify_ledger.py  a stand-alone checker (Python 3.11 standard library only)

Check the bag's files:  bagit.py --validate BAG   (or: sampleloans verify-bag BAG)
Check the ledger:       python3 tools/verify_ledger.py events.jsonl \\
                            --checkpoint checkpoints/FILE.txt --public-key KEY.pub
                        (KEY.pub: the lender's public key as you received it, not the copy
                        in keys/, which whoever made this bag chose; the newest checkpoint
                        sorts last)
Check a report:         sampleloans verify-document reports/FILE.pdf --public-key KEY.pub
Rebuild a ledger:       sampleloans --db new.db --as CURATOR restore --bag BAG --public-key KEY.pub
                        (CURATOR: a curator the events name, e.g. the actor of the first event;
                        the checkpoints are kept too, so reports naming them verify against it)
"""


@dataclass(frozen=True)
class BagResult:
    """What `export --bag` wrote."""

    path: Path
    events: int
    head: str
    checkpoints: int
    keys: int
    reports: int


@dataclass(frozen=True)
class BagExtras:
    """Files given on the command line to put in the bag."""

    reports: tuple[Path, ...] = ()
    checkpoints: tuple[Path, ...] = ()
    public_keys: tuple[Path, ...] = ()


def export_bag(engine: Engine, ctx: Context, dest: Path, extras: BagExtras) -> BagResult:
    """Write the bag at `dest` (which must not exist), validated before it is put in place."""
    import bagit  # type: ignore[import-untyped]  # bagit ships no type hints

    with db.transaction(engine, write=False) as session:
        require_role(session, ctx, *EXPORT_ROLES, action="export the ledger")
        lender = _lender_name(session.connection())
        kept = _kept_checkpoints(session.connection())
        # what is given is checked before anything is written: the bag must verify as a whole
        kept["keys"].update(_given_keys(extras.public_keys))
        _check_given_checkpoints(session.connection(), extras.checkpoints, kept["keys"])
        _check_given_reports(session.connection(), extras.reports)
    _check_given_names(("--report", extras.reports), ("--checkpoint", extras.checkpoints))
    database = db.sqlite_path(str(engine.url))
    fileio.refuse_ledger(dest, database, "--bag")
    # inspected, not lexists: a name too long for the system is one line now, not an OSError
    # at the rename once the whole bag is built
    if fileio.inspected_mode(dest, "--bag", follow=False) is not None:
        raise StorageError(f"--bag: {dest} exists; give a new folder for the bag")
    fileio.refuse_missing_folder(dest, "--bag", new_folder=True)
    with _building(dest) as folder:
        exported = export_events(engine, ctx, folder / EVENTS_FILE, option="--bag", shown=dest)
        checkpoints = _write_named(folder / "checkpoints", kept["checkpoints"], extras.checkpoints)
        keys = _write_named(folder / "keys", kept["keys"], ())
        reports = _write_named(folder / "reports", {}, extras.reports, pdf=True)
        _write(
            folder / "docs" / "ledger-format.md", _packaged("sampleloans.docs", "ledger-format.md")
        )
        _write(
            folder / "tools" / "verify_ledger.py",
            _packaged("sampleloans.tools", "verify_ledger.py"),
        )
        _write(folder / "README.txt", README.encode("utf-8"))
        info = {
            "Source-Organization": lender,
            "External-Description": "sampleloans custody ledger: events, signed checkpoints, "
            "public keys, signed reports, the written format and a stand-alone verifier",
            "Bagging-Date": ctx.now.date().isoformat(),
            HEAD_TAG: exported.head,
        }
        try:
            with _bagit_quiet():
                bag = bagit.make_bag(str(folder), bag_info=info, checksums=list(CHECKSUMS))
                bag.validate()
        except bagit.BagError as exc:
            raise StorageError(f"--bag: the bag could not be made: {exc}") from None
        _refuse_unverifiable(folder / "data")
        _private_modes(folder)
    return BagResult(dest, exported.events, exported.head, checkpoints, keys, reports)


def _private_modes(folder: Path) -> None:
    """Every file of the bag 0600 and every folder 0700, as the events file and a report are:
    bagit writes its tag files, and `_write` the others, with the account's umask (0666 under
    `umask 0`, 0644 under 022), so the same export had other modes on another account, which a
    copy or an archive of the bag then keeps."""
    for path in sorted(folder.rglob("*")):
        path.chmod(0o700 if path.is_dir() else 0o600)


@contextmanager
def _building(dest: Path) -> Iterator[Path]:
    """A private folder beside `dest`, renamed to `dest` when the body succeeds, else removed;
    one a killed export left behind is removed first (fileio's stale-temp cleanup)."""
    with fileio.private_build_dir(dest.parent, dest.name, "--bag") as folder:
        try:
            yield folder
        except OSError as exc:  # a full disk or a file size limit, named by the bag, not the
            # private folder it is built in
            raise StorageError(f"--bag: cannot write {dest}: {exc.strerror}") from None
        if os.path.lexists(dest):
            raise StorageError(f"--bag: {dest} appeared meanwhile; nothing was replaced")
        crashpoints.reached("before_bag_rename")
        os.rename(folder, dest)
        fileio.placed(f"{dest} was written whole")
        fileio.fsync_directory(dest.parent)


def _lender_name(connection: Connection) -> str:
    """The lender institution's name, for the bag's Source-Organization."""
    order = db.primary_key_order(connection, "institution")  # the first in byte order
    row = connection.execute(
        text(f"SELECT name FROM institution WHERE kind = 'lender' ORDER BY {order} LIMIT 1")
    ).first()
    return str(row[0]) if row else "unknown lender"


def _kept_checkpoints(connection: Connection) -> dict[str, dict[str, bytes]]:
    """Every kept checkpoint and public key, by file name."""
    from sampleloans.services.checkpoints import stored_checkpoints

    checkpoints: dict[str, bytes] = {}
    keys: dict[str, bytes] = {}
    for kept in stored_checkpoints(connection):
        checkpoints[f"checkpoint-{kept.id:06d}-size-{kept.tree_size}.txt"] = kept.note.encode()
        keys.update([_key_file(kept.public_key)])
    return {"checkpoints": checkpoints, "keys": keys}


def _key_file(vkey: str) -> tuple[str, bytes]:
    """A public key's file name in the bag, `NAME-KEYID.pub` (the key ID every check prints
    beside the name), and its content (the one `NAME+KEYID+…` line)."""
    name, _, rest = vkey.strip().partition("+")
    return f"{_safe(name)}-{_safe(rest.partition('+')[0])}.pub", (vkey.strip() + "\n").encode()


def _given_keys(paths: tuple[Path, ...]) -> dict[str, bytes]:
    """The public keys given with --public-key, each checked to be one: a private key file
    given by mistake is refused, never copied into a bag meant to be handed out."""
    from sampleloans.services.checkpoints import read_verifier

    keys: dict[str, bytes] = {}
    for path in paths:
        verifier = read_verifier(path)  # InvalidInput (exit 2) names the file and what it is
        keys.update([_key_file(verifier.encode())])
    return keys


def _check_given_reports(connection: Connection, paths: tuple[Path, ...]) -> None:
    """Each report given with --report was made from this ledger: the head it names (its
    events up to then) is one of this ledger's events; refused otherwise (nothing written)."""
    for path in paths:
        seq, hash_hex = _claimed_head(_read_given(path, "--report"), f"--report: {path}")
        stored = connection.execute(
            text("SELECT hash FROM ledger_event WHERE seq = :seq"), {"seq": seq}
        ).scalar()
        if stored != hash_hex:
            raise RuleViolation(
                f"--report: {path} was made at head {seq}:{hash_hex[:12]}…, which is not this "
                "ledger's: a report of another ledger, or of this one before it was changed; "
                "no bag was written"
            )


def _claimed_head(data: bytes, named: str) -> tuple[int, str]:
    """The head `SEQ:HASH` a report's metadata names (InvalidInput for a file that is no
    report, or whose head is not one)."""
    from sampleloans.reports.document import document_metadata
    from sampleloans.services.verify import parse_anchor

    meta = document_metadata(data, f"{named} is not a sampleloans report")
    head = meta.get("head")
    if not isinstance(head, str):
        raise InvalidInput(f"{named} names no head: it was altered")
    return parse_anchor(head, f"{named}: head")


def _report_lines(folder: Path, hashes: list[bytes]) -> list[str]:
    """Each report in the bag names a head that is one of the bag's events: the lines that
    say so, or one RuleViolation naming the report (made from another ledger, or altered)."""
    lines = []
    for path in _files_in(folder):
        named = f"BAG: data/reports/{path.name}"
        try:
            seq, hash_hex = _claimed_head(path.read_bytes(), named)
        except InvalidInput as exc:
            raise RuleViolation(str(exc)) from None
        if not 1 <= seq <= len(hashes) or hashes[seq - 1].hex() != hash_hex:
            raise RuleViolation(
                f"{named} was made at head {seq}:{hash_hex[:12]}…, which is not one of the "
                "bag's events: a report of another ledger, or of this one before it was changed"
            )
        lines.append(f"report {path.name}: made at head {seq}, one of these events")
    return lines


def _check_given_checkpoints(
    connection: Connection, paths: tuple[Path, ...], keys: dict[str, bytes]
) -> None:
    """Each checkpoint given with --checkpoint is a signed note of this ledger, signed by a key
    the bag carries, whose tree this ledger extends; refused otherwise (nothing written)."""
    from sampleloans.ledger.checkpoint import CheckpointRefused, parse_verifier_key, split_note
    from sampleloans.services.checkpoints import (
        _ledger_id,
        check_extends,
        open_checkpoint,
        read_note,
    )

    verifiers = [parse_verifier_key(data.decode("utf-8")) for data in keys.values()]
    for path in paths:
        note = read_note(path, "--checkpoint")
        try:
            _text, signatures = split_note(note)
        except InvalidInput as exc:
            raise InvalidInput(f"--checkpoint {path}: {exc}") from None
        signed_by = {(name, key_id) for name, key_id, _signature in signatures}
        verifier = next((v for v in verifiers if (v.name, v.key_id) in signed_by), None)
        if verifier is None:
            raise CheckpointRefused(
                f"--checkpoint {path}: not signed by a key the bag carries; give its public key "
                "with --public-key"
            )
        try:
            checkpoint = open_checkpoint(note, verifier, _ledger_id(connection))
        except (CheckpointRefused, InvalidInput) as exc:
            raise type(exc)(f"--checkpoint {path}: {exc}") from None
        problems = check_extends(connection, checkpoint)
        if problems:
            raise CheckpointRefused(f"--checkpoint {path}: {problems[0]}")


def _check_given_names(*given: tuple[str, tuple[Path, ...]]) -> None:
    """Each file given for the bag keeps its name there: refuse (exit 2) a name its manifests
    cannot hold. RFC 8493 percent-encodes '%', CR and LF in manifest paths, but bagit writes
    '%' as it is and reads '%0A' back as a newline, so such a bag would not validate."""
    for option, paths in given:
        for path in paths:
            if "%" in path.name or not path.name.isprintable():
                raise InvalidInput(
                    f"{option}: {path.name[:60]!r}: a file name with '%' or a control character "
                    "cannot be listed in a BagIt manifest; rename the file (or copy it) and give "
                    "that name"
                )


def _safe(name: str) -> str:
    """A file-name-safe form of a key name (`naoc.example/ledger` → `naoc.example_ledger`)."""
    return "".join(c if c.isalnum() or c in "._-" else "_" for c in name) or "key"


def _write_named(
    folder: Path, kept: dict[str, bytes], given: tuple[Path, ...], *, pdf: bool = False
) -> int:
    """Write the kept files and copies of the given ones into `folder`; how many."""
    files = dict(kept)
    for path in given:
        data = _read_given(path, "--report" if pdf else "--checkpoint")
        if pdf and not data.startswith(b"%PDF-"):
            raise InvalidInput(f"--report: {path} is not a PDF")
        if path.name in files and files[path.name] != data:
            raise InvalidInput(f"{path.name}: two different files of that name for the bag")
        if data in kept.values():
            continue  # already in the bag under its kept name (e.g. a kept checkpoint's file)
        files[path.name] = data
    for name, data in sorted(files.items()):
        _write(folder / name, data)
    return len(files)


def _read_given(path: Path, option: str) -> bytes:
    """A file given to add to the bag, by `fileio.read_input_bytes`'s rule."""
    return fileio.read_input_bytes(path, option)


def _packaged(package: str, name: str) -> bytes:
    """A file shipped inside the package (the format document, the verifier)."""
    return resources.files(package).joinpath(name).read_bytes()


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    with open(path, "xb") as handle:
        handle.write(data)


# --- checking a bag -----------------------------------------------------------------------------


@dataclass(frozen=True)
class BagCheck:
    """What `verify-bag` found (each line held), how many events the bag holds and how many
    of them its largest checkpoint covers (0: none)."""

    lines: tuple[str, ...]
    events: int = 0
    covered: int = 0
    reports: int = 0  # files in reports/, whose heads verify-bag checks (not their pages)
    signed: tuple["SignedNote", ...] = ()  # each checkpoint, as its signature was checked
    head: str = ""  # the events' last `SEQ:HASH`, as the chain was recomputed


def is_bag(path: Path) -> bool:
    """Whether `path` is a folder holding a BagIt declaration (what `export --bag` writes)."""
    try:  # is_dir() raises, not answers, for a name longer than the system allows
        return path.is_dir() and (path / "bagit.txt").is_file()
    except OSError:
        return False


def require_folder(path: Path, field: str = "BAG") -> None:
    """A bag must be an existing folder (exit 2, named as an input file is: `fileio`'s words,
    with `field` the argument that gave it), before bagit's own words about a missing
    bagit.txt inside it."""
    give = "give the folder written by 'export --bag'"
    if not os.path.lexists(path):
        raise InvalidInput(f"{field}: {path} does not exist; {give}")
    if not path.is_dir():
        raise InvalidInput(f"{field}: {path} is a file, not a folder; {give}")


SPECIAL_FILES = (
    (stat.S_ISLNK, "a symbolic link"),
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISCHR, "a device"),
    (stat.S_ISBLK, "a device"),
)
"""What a bag may not hold (`export --bag` writes regular files and folders only), in words."""


def _refuse_special_files(bag: Path, folder: Path) -> None:
    """Refuse (exit 1) anything in the bag but regular files and folders, before a byte of it is
    read: checksumming a FIFO put in place of events.jsonl waited forever, and a link reads a
    file outside the bag (the checksums, anyone's to regenerate, would not notice)."""
    try:
        with os.scandir(folder) as entries:
            found = sorted(entries, key=lambda entry: entry.name)
    except OSError as exc:  # a folder this account may not read
        raise StorageError(f"BAG: cannot read {folder}: {exc.strerror}") from None
    for entry in found:
        mode = entry.stat(follow_symlinks=False).st_mode
        if stat.S_ISDIR(mode):
            _refuse_special_files(bag, Path(entry.path))
            continue
        what = next((words for test, words in SPECIAL_FILES if test(mode)), None)
        if what is not None:
            relative = Path(entry.path).relative_to(bag).as_posix()
            raise RuleViolation(
                f"BAG: {relative!r} is {what}, not a file: 'export --bag' writes regular "
                "files only, so the bag was changed after it was made"
            )


def verify_bag(
    path: Path, public_key: "VerifierKey | None" = None, *, also: "Sequence[VerifierKey]" = ()
) -> BagCheck:
    """Validate a bag (every payload checksum, completeness) with the bagit library, then its
    events' hash chain, and each checkpoint's origin, signature and root against the events.

    A checkpoint's signature is checked with `public_key` (the reader's own copy of the
    lender's key) when given, else with the key in the bag's keys/ that signed it: the bag's
    manifests are plain checksums anyone can regenerate, so only a signature says who made it.
    Any failure is one `RuleViolation` line (exit 1); a folder that is not a bag is
    `InvalidInput` (exit 2)."""
    import bagit

    require_folder(path)
    _refuse_special_files(path, path)
    with _bagit_quiet():
        try:
            bag = bagit.Bag(str(path))
        except bagit.BagError as exc:
            raise InvalidInput(f"BAG: {path} is not a BagIt bag ({exc})") from None
        try:
            bag.validate()
        except bagit.BagValidationError as exc:
            why = _file_list_change(bag) or _first_detail(exc)
            raise RuleViolation(f"BAG: {path} fails validation: {why}") from None
    lines = [f"bag valid: {counted(len(bag.payload_entries()), 'file')}, every checksum matches"]
    payload = path / "data"
    _refuse_unexpected_tag_files(path)
    _refuse_unexpected(payload)
    carried = _bag_keys(payload / "keys")  # every key file is one, whoever's key is checked
    # `also`: more of the reader's own keys (`restore --bag`: a lender's replaced key too)
    keys = [public_key, *also] if public_key is not None else carried
    found = _check_payload(payload, keys, bag.info.get(HEAD_TAG))
    if public_key is not None and not found.covered:
        # the reader asked who made the bag: a bag with its checkpoints taken out cannot say
        raise RuleViolation(
            f"BAG: {path} holds no checkpoint, so nothing in it is signed by your key "
            "(--public-key): it cannot be shown to be the lender's"
        )
    reports = len(_files_in(payload / "reports"))
    return BagCheck(
        (*lines, *found.lines), found.events, found.covered, reports, found.signed, found.head
    )


def _check_payload(payload: Path, keys: list["VerifierKey"], head_tag: str | None) -> BagCheck:
    """The events' hash chain and each checkpoint against them and `keys` (the checks beyond
    the checksums): the lines that say so and what the checkpoints cover, or one RuleViolation."""
    origin, head, hashes = _chain(payload / EVENTS_FILE)
    if head_tag not in (None, head):
        raise RuleViolation(f"BAG: the events end at {head}, but the bag says {head_tag}")
    lines = [f"events: {len(hashes)}, chain intact, head {head}"]
    signed = []
    for note_path in _files_in(payload / "checkpoints"):  # every file, whatever its name
        line, found = _checkpoint_line(note_path, hashes, origin, keys)
        lines.append(line)
        signed.append(found)
    lines.extend(_report_lines(payload / "reports", hashes))
    covered = max((found.checkpoint.size for found in signed), default=0)
    return BagCheck(tuple(lines), len(hashes), covered, signed=tuple(signed), head=head)


def _refuse_unverifiable(payload: Path) -> None:
    """Refuse (exit 1) a bag whose events or checkpoints `verify-bag` would fail: a ledger
    edited or cut back by hand is not archived as if it checked out."""
    try:
        _check_payload(payload, _bag_keys(payload / "keys"), None)
    except RuleViolation as exc:
        found = str(exc).removeprefix("BAG: ")
        raise RuleViolation(
            f"--bag: {found}: the ledger does not check out; no bag was written (run "
            "'sampleloans verify')"
        ) from None


# what `export --bag` writes in data/: these files, and any file in these folders
BAG_FILES = (EVENTS_FILE, "README.txt", "docs/ledger-format.md", "tools/verify_ledger.py")
BAG_FOLDERS = ("checkpoints", "keys", "reports")


def _refuse_unexpected(payload: Path) -> None:
    """A payload file no export writes fails the bag (exit 1): the manifests are plain
    checksums anyone can regenerate after adding one, and no check here would read it."""
    for item in sorted(payload.rglob("*")):
        relative = item.relative_to(payload)
        expected = relative.as_posix() in BAG_FILES or (
            len(relative.parts) == 2 and relative.parts[0] in BAG_FOLDERS
        )
        if item.is_file() and not expected:
            raise RuleViolation(
                f"BAG: {relative.as_posix()} is not a file 'export --bag' writes: it was added "
                "to the bag after it was made"
            )


# what `export --bag` writes beside data/: the BagIt declaration, bag-info and the manifests
TAG_FILES = (
    "bagit.txt",
    "bag-info.txt",
    *(f"{kind}-{algorithm}.txt" for kind in ("manifest", "tagmanifest") for algorithm in CHECKSUMS),
)


def _refuse_unexpected_tag_files(bag: Path) -> None:
    """A file or folder beside data/ that no export writes fails the bag (exit 1): BagIt lets
    a tag manifest leave a tag file out, so a note added there ("received complete, …")
    passed every checksum and the bag was called valid."""
    for item in sorted(bag.iterdir()):
        if item.name != "data" and not (item.name in TAG_FILES and item.is_file()):
            raise RuleViolation(
                f"BAG: {item.name} is not a file 'export --bag' writes beside data/: it was "
                "added to the bag after it was made"
            )


def _files_in(folder: Path) -> list[Path]:
    """The files of one of the bag's folders, sorted (none when it is absent)."""
    return sorted(item for item in folder.glob("*") if item.is_file())


def _bag_keys(folder: Path) -> list["VerifierKey"]:
    """The public keys the bag carries (data/keys/*.pub); a file that is none fails the bag."""
    from sampleloans.ledger.checkpoint import parse_verifier_key
    from sampleloans.services.checkpoints import MAX_KEY_FILE_BYTES

    keys = []
    for key_path in _files_in(folder):  # every file: one not named *.pub is no exception
        size = key_path.stat().st_size
        if size > MAX_KEY_FILE_BYTES:  # refused unread, as --public-key refuses one
            raise RuleViolation(
                f"BAG: keys/{key_path.name} is not a public key written by 'keys generate': "
                f"it holds {size:,} bytes (a key file: at most {MAX_KEY_FILE_BYTES:,})"
            )
        try:
            keys.append(parse_verifier_key(key_path.read_text(encoding="utf-8")))
        except (InvalidInput, UnicodeDecodeError):
            raise RuleViolation(
                f"BAG: keys/{key_path.name} is not a public key written by 'keys generate'"
            ) from None
    return keys


@contextmanager
def _bagit_quiet() -> Iterator[None]:
    """Keep bagit's own log lines off the terminal: a failure gets our one `Error:` line."""
    logger = logging.getLogger("bagit")
    level = logger.level
    logger.setLevel(logging.CRITICAL + 1)
    try:
        yield
    finally:
        logger.setLevel(level)


MISSING, ADDED = "listed in the manifest but missing", "not in the manifest (a file was added)"
"""How a validation names a payload file taken out of the bag, and one put in."""


def _file_list_change(bag: Any) -> str | None:
    """The first file added to or taken from the payload, in words, or None: bagit's own
    finding for it is the Payload-Oxum count, which names no file."""
    missing, added = bag.compare_manifests_with_fs()
    findings = [f"{name}: {MISSING}" for name in sorted(missing)]
    findings += [f"{name}: {ADDED}" for name in sorted(added)]
    if not findings:
        return None
    more = f" (and {counted(len(findings) - 1, 'more finding')})" if len(findings) > 1 else ""
    return findings[0] + more


def _first_detail(exc: object) -> str:
    """The first finding of a failed validation, in words (sorted, so it is always the same)."""
    import bagit

    details = sorted(getattr(exc, "details", None) or [], key=str)
    if not details:
        return str(exc)
    first = details[0]
    more = f" (and {counted(len(details) - 1, 'more finding')})" if len(details) > 1 else ""
    if isinstance(first, bagit.ChecksumMismatch):
        algorithm = first.algorithm
        return f"{first.path}: its {algorithm} checksum differs: the file was changed{more}"
    if isinstance(first, bagit.FileMissing):
        return f"{first.path}: {MISSING}{more}"
    if isinstance(first, bagit.UnexpectedFile):
        return f"{first.path}: {ADDED}{more}"
    return f"{first}{more}"


def _chain(events_path: Path) -> tuple[str, str, list[bytes]]:
    """Recompute the events file's hash chain; the ledger's checkpoint origin, its head and
    every event hash."""
    if not events_path.is_file():  # the checksums regenerated without it: no bag lacks it
        raise RuleViolation(
            f"BAG: data/{EVENTS_FILE} is missing or not a file, where every export writes it: "
            "the bag was changed after it was made"
        )
    try:
        return _recomputed(events_path)
    except InvalidInput as exc:  # a line no export writes: the bag's content, not the command
        said = str(exc).removesuffix(f"; {FROM_AN_EXPORT}")
        raise RuleViolation(
            f"BAG: {said}: the bag's events were changed after it was made"
        ) from None


def _recomputed(events_path: Path) -> tuple[str, str, list[bytes]]:
    """`_chain` on an events file that is there (a malformed line: InvalidInput)."""
    from sampleloans.services.checkpoints import origin_of

    meta, events = read_export(events_path)
    ledger_id = meta.get("ledger_id", "")
    prev = chain.genesis_hash(ledger_id)
    hashes: list[bytes] = []
    head = chain.format_head(0, prev)
    for record in events:
        body = {k: record[k] for k in record if k not in ("prev_hash", "hash")}
        expected = chain.link_hash(prev, body)
        if record["prev_hash"] != prev or record["hash"] != expected:
            raise RuleViolation(
                f"BAG: event {record['seq']} of {EVENTS_FILE} does not hash to its recorded hash"
            )
        prev = record["hash"]
        hashes.append(bytes.fromhex(prev))
        head = chain.format_head(record["seq"], prev)
    return origin_of(ledger_id), head, hashes


def _checkpoint_line(
    note_path: Path, hashes: list[bytes], origin: str, keys: list["VerifierKey"]
) -> "tuple[str, SignedNote]":
    """Check one checkpoint: signed by one of `keys`, of these events' ledger, and its root
    that of the events; the line that says so, and the checkpoint as checked."""
    from sampleloans.ledger.merkle import root_of

    found = _signed_checkpoint(note_path, origin, keys)
    checkpoint, signer = found.checkpoint, found.signer
    if checkpoint.size > len(hashes) or root_of(hashes[: checkpoint.size]) != checkpoint.root:
        raise RuleViolation(
            f"BAG: checkpoint {note_path.name} (size {checkpoint.size}) is not a checkpoint of "
            "these events"
        )
    root = base64.b64encode(checkpoint.root).decode("ascii")
    return (
        f"checkpoint {note_path.name}: size {checkpoint.size}, root {root} matches the events; "
        f"signed by {signer.name}+{signer.key_id.hex()} ({signer.fingerprint()[:23]}…)"
    ), found


def _refuse_oversized_note(note_path: Path, where: str) -> None:
    """A checkpoint file too large to be a signed note (the note reader's own limit): exit 1,
    before it is read whole into memory only to be refused."""
    from sampleloans.ledger.checkpoint import MAX_NOTE_BYTES

    size = note_path.stat().st_size
    if size > MAX_NOTE_BYTES:
        raise RuleViolation(
            f"{where} is not a signed checkpoint: it holds {size:,} bytes, and one "
            f"'export --bag' writes holds a few hundred (at most {MAX_NOTE_BYTES:,})"
        )


def _signed_checkpoint(note_path: Path, origin: str, keys: list["VerifierKey"]) -> "SignedNote":
    """The checkpoint in a note file once a key of `keys` that signed it verifies it and its
    origin is `origin`; RuleViolation naming the file otherwise."""
    from sampleloans.ledger.checkpoint import (
        CheckpointRefused,
        shown,
        split_note,
        verify_checkpoint,
    )
    from sampleloans.services.checkpoints import SignedNote

    where = f"BAG: checkpoints/{note_path.name}"
    _refuse_oversized_note(note_path, where)
    try:
        note = note_path.read_bytes().decode("utf-8")  # byte for byte: the signature covers it
        _text, signatures = split_note(note)
    except (InvalidInput, UnicodeDecodeError) as exc:
        raise RuleViolation(f"{where} is not a signed checkpoint ({exc})") from None
    signers = {(name, key_id) for name, key_id, _signature in signatures}
    signer = next((k for k in keys if (k.name, k.key_id) in signers), None)
    if signer is None:
        held = ", ".join(f"{k.name}+{k.key_id.hex()}" for k in keys) or "none"
        by = ", ".join(f"{shown(name)}+{kid.hex()}" for name, kid in sorted(signers))
        raise RuleViolation(
            f"{where} is not signed by any key checked (keys: {held}; it is signed by "
            f"{by}): re-signed by someone else, or its key is missing (a key the lender "
            "replaced: give each key it signed with, '--public-key KEY.pub' once for each)"
        )
    try:
        checkpoint = verify_checkpoint(note, signer, origin=origin)
    except (CheckpointRefused, InvalidInput) as exc:
        raise RuleViolation(f"{where}: {exc}") from None
    return SignedNote(f"checkpoints/{note_path.name}", note, signer, checkpoint)
