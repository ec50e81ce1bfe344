#!/usr/bin/env python3
"""Stand-alone check of a sampleloans ledger, written from docs/ledger-format.md alone.

Standard library only (Python 3.11+); it shares no code with sampleloans, so a ledger can be
checked by someone who has only the format document, this file and the ledger.

    python3 verify_ledger.py LEDGER.db | EVENTS.jsonl [--checkpoint FILE [--public-key FILE]]

It recomputes every event's hash from the genesis value (format section 3), checks seq, the
links and that `recorded_at` never decreases (section 1), that each payload is canonical JSON
(section 2), computes the RFC 6962 Merkle root over the event hashes (section 4) and prints the
head. With --checkpoint it checks that the checkpoint's size, root and head line match this
ledger, and with --public-key also its Ed25519 signature (RFC 8032, implemented below);
without --public-key it says the signature was NOT checked, and without --checkpoint that
nothing shows the lender made the events (--public-key alone is refused: it would check
nothing). The checkpoint file is read byte for byte (the signature covers its exact bytes).
Exit 0: all good; 1: a check failed (each failure printed); 2: unreadable input (a ledger,
export, checkpoint or key file that is not one, e.g. a private key given as --public-key).
"""

import argparse
import base64
import hashlib
import json
import sqlite3
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

GENESIS_PREFIX = "sampleloans-genesis-v1:"
SAFE = 2**53 - 1
BODY_FIELDS = (
    "seq",
    "kind",
    "payload",
    "occurred_at",
    "recorded_at",
    "actor",
    "os_user",
    "corrects_seq",
    "reason",
)
EVENT_FIELDS = (*BODY_FIELDS, "prev_hash", "hash")


class Unreadable(Exception):
    """The input cannot be read as a ledger or export (exit 2)."""


# --- canonical JSON (RFC 8785 within the format's profile), written out by hand -----------

_SHORT_ESCAPES = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\t": "\\t", "\n": "\\n", "\f": "\\f"}
_SHORT_ESCAPES["\r"] = "\\r"


def jcs(value: Any) -> str:
    """The canonical text of a JSON value; ValueError for what the profile refuses."""
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int):
        if abs(value) > SAFE:
            raise ValueError(f"integer {value} beyond ±(2^53 − 1)")
        return str(value)
    if isinstance(value, str):
        return _jcs_string(value)
    if isinstance(value, list):
        return "[" + ",".join(jcs(item) for item in value) + "]"
    if isinstance(value, dict):
        keys = sorted(value, key=lambda k: k.encode("utf-16-be", "surrogatepass"))
        return "{" + ",".join(_jcs_string(k) + ":" + jcs(value[k]) for k in keys) + "}"
    raise ValueError(f"{type(value).__name__} is not in the format's JSON profile")


def _jcs_string(text: str) -> str:
    """A JSON string as RFC 8785 writes it."""
    out = ['"']
    for ch in text:
        if 0xD800 <= ord(ch) <= 0xDFFF:
            raise ValueError("a lone surrogate")
        if ch in _SHORT_ESCAPES:
            out.append(_SHORT_ESCAPES[ch])
        elif ord(ch) < 0x20:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def _reject_float(text: str) -> Any:
    """json.loads hook: numbers with a fraction or exponent are outside the profile."""
    raise ValueError(f"number {text} has a fraction or exponent")


def parse_json(text: str) -> Any:
    """Parse JSON, refusing floats (the profile has integers only)."""
    return json.loads(text, parse_float=_reject_float, parse_constant=_reject_float)


# --- the chain ------------------------------------------------------------------------------


def genesis(ledger_id: str) -> str:
    """SHA-256 of "sampleloans-genesis-v1:" + ledger_id, as hex."""
    return hashlib.sha256((GENESIS_PREFIX + ledger_id).encode("utf-8")).hexdigest()


def event_hash(prev_hash: str, event: dict[str, Any]) -> str:
    """SHA-256(ASCII(prev_hash) || UTF-8(canonical(body)))."""
    body = {name: event[name] for name in BODY_FIELDS}
    return hashlib.sha256(prev_hash.encode("ascii") + jcs(body).encode("utf-8")).hexdigest()


# --- RFC 6962 Merkle root, streamed -------------------------------------------------------


class MerkleRoot:
    """The roots of the perfect subtrees so far (O(log n) memory)."""

    def __init__(self) -> None:
        self.size = 0
        self.stack: list[bytes] = []

    def add(self, data: bytes) -> None:
        """Append one leaf (its data: the 32 raw bytes of an event hash)."""
        node = hashlib.sha256(b"\x00" + data).digest()
        size = self.size
        while size & 1:
            node = hashlib.sha256(b"\x01" + self.stack.pop() + node).digest()
            size >>= 1
        self.stack.append(node)
        self.size += 1

    def root(self) -> bytes:
        """MTH of the leaves so far."""
        if not self.stack:
            return hashlib.sha256(b"").digest()
        node = self.stack[-1]
        for left in reversed(self.stack[:-1]):
            node = hashlib.sha256(b"\x01" + left + node).digest()
        return node


# --- Ed25519 verification (RFC 8032 section 6, the reference algorithm) -------------------

_P = 2**255 - 19
_D = -121665 * pow(121666, _P - 2, _P) % _P
_Q = 2**252 + 27742317777372353535851937790883648493
_SQRT_M1 = pow(2, (_P - 1) // 4, _P)


def _add(a: tuple[int, ...], b: tuple[int, ...]) -> tuple[int, ...]:
    """Edwards point addition in extended coordinates."""
    e1 = (a[1] - a[0]) * (b[1] - b[0]) % _P
    e2 = (a[1] + a[0]) * (b[1] + b[0]) % _P
    c = 2 * a[3] * b[3] * _D % _P
    d = 2 * a[2] * b[2] % _P
    e, f, g, h = e2 - e1, d - c, d + c, e2 + e1
    return (e * f, g * h, f * g, e * h)


def _mul(scalar: int, point: tuple[int, ...]) -> tuple[int, ...]:
    """Scalar multiplication (double and add)."""
    result: tuple[int, ...] = (0, 1, 1, 0)
    while scalar > 0:
        if scalar & 1:
            result = _add(result, point)
        point = _add(point, point)
        scalar >>= 1
    return result


def _equal(a: tuple[int, ...], b: tuple[int, ...]) -> bool:
    """Projective equality."""
    return (a[0] * b[2] - b[0] * a[2]) % _P == 0 and (a[1] * b[2] - b[1] * a[2]) % _P == 0


def _recover_x(y: int, sign: int) -> int | None:
    """The x coordinate of a point from y and the sign bit."""
    if y >= _P:
        return None
    x2 = (y * y - 1) * pow(_D * y * y + 1, _P - 2, _P)
    if x2 == 0:
        return None if sign else 0
    x = pow(x2, (_P + 3) // 8, _P)
    if (x * x - x2) % _P:
        x = x * _SQRT_M1 % _P
    if (x * x - x2) % _P:
        return None
    return _P - x if (x & 1) != sign else x


def _decompress(data: bytes) -> tuple[int, ...] | None:
    """A point from its 32-byte encoding."""
    y = int.from_bytes(data, "little")
    sign, y = y >> 255, y & ((1 << 255) - 1)
    x = _recover_x(y, sign)
    return None if x is None else (x, y, 1, x * y % _P)


_GY = 4 * pow(5, _P - 2, _P) % _P
_G = (_recover_x(_GY, 0) or 0, _GY, 1, (_recover_x(_GY, 0) or 0) * _GY % _P)


def ed25519_verify(public: bytes, message: bytes, signature: bytes) -> bool:
    """RFC 8032 Ed25519 signature verification."""
    if len(public) != 32 or len(signature) != 64:
        return False
    a, r = _decompress(public), _decompress(signature[:32])
    s = int.from_bytes(signature[32:], "little")
    if a is None or r is None or s >= _Q:
        return False
    h = int.from_bytes(hashlib.sha512(signature[:32] + public + message).digest(), "little") % _Q
    return _equal(_mul(s, _G), _add(r, _mul(h, a)))


# --- reading the input --------------------------------------------------------------------


def read_source(path: Path) -> tuple[str, Iterator[dict[str, Any]]]:
    """The ledger id and the events of a SQLite ledger or a JSON-lines events export."""
    if path.exists() and not path.is_file():  # /dev/zero would be read as one endless line
        raise Unreadable(f"{path}: not a regular file (a folder, device, FIFO or socket)")
    with path.open("rb") as handle:
        magic = handle.read(16)
    if magic == b"SQLite format 3\x00":
        return _read_sqlite(path)
    return _read_jsonl(path)


def _read_sqlite(path: Path) -> tuple[str, Iterator[dict[str, Any]]]:
    """Events of a ledger file, read only."""
    try:
        # read only, through a URI whose path is percent-encoded: a '#' or '?' in a folder's
        # name would otherwise cut the path short (and SQLite would create that shorter file)
        connection = sqlite3.connect(path.resolve().as_uri() + "?mode=ro", uri=True)
        row = connection.execute("SELECT value FROM ledger_meta WHERE key = 'ledger_id'").fetchone()
    except sqlite3.Error as exc:
        raise Unreadable(f"{path}: not a readable ledger ({exc})") from None
    if row is None:
        raise Unreadable(f"{path}: ledger_meta has no ledger_id")

    def events() -> Iterator[dict[str, Any]]:
        cursor = connection.execute(
            f"SELECT {', '.join(EVENT_FIELDS)} FROM ledger_event ORDER BY seq"
        )
        for values in cursor:
            yield dict(zip(EVENT_FIELDS, values, strict=True))
        connection.close()

    return str(row[0]), events()


def _read_jsonl(path: Path) -> tuple[str, Iterator[dict[str, Any]]]:
    """Events of an export: a header line, then one event per line."""
    handle = path.open(encoding="utf-8")
    try:
        header = parse_json(handle.readline())
    except (ValueError, UnicodeDecodeError) as exc:
        raise Unreadable(f"{path}: line 1 is not the export header ({exc})") from None
    if not isinstance(header, dict) or header.get("format") != "sampleloans-events":
        raise Unreadable(f"{path}: line 1 is not a sampleloans-events header")
    version = header.get("version")
    if type(version) is not int or version != 1 or not isinstance(header.get("ledger_id"), str):
        raise Unreadable(f"{path}: unsupported export version or no ledger_id")

    def events() -> Iterator[dict[str, Any]]:
        with handle:
            for number, line in enumerate(handle, start=2):
                try:
                    event = parse_json(line)
                except ValueError as exc:
                    raise Unreadable(f"{path}: line {number} is not JSON ({exc})") from None
                if not isinstance(event, dict) or set(event) != set(EVENT_FIELDS):
                    raise Unreadable(f"{path}: line {number} does not hold the event fields")
                if jcs(event) + "\n" != line:
                    raise Unreadable(f"{path}: line {number} is not canonical JSON")
                yield event

    return header["ledger_id"], events()


# --- the checks ---------------------------------------------------------------------------


def _link_failure(event: dict[str, Any], expected_seq: int) -> str:
    """What a broken link means, in the words of `sampleloans verify`: the first event links
    to the genesis of the ledger id (there is no event 0), every later one to the event before."""
    seq, kind = event["seq"], event["kind"]
    if expected_seq == 1:
        return (
            f"event {seq} ({kind}) does not link to the genesis of this ledger's id: the ledger "
            "id was changed, or the first events were changed, removed or inserted"
        )
    return (
        f"event {seq} ({kind}) does not link to event {seq - 1}: an event before it was "
        "changed, removed or inserted"
    )


def check_chain(
    ledger_id: str,
    events: Iterator[dict[str, Any]],
    watch: set[int] = frozenset(),  # type: ignore[assignment]
) -> tuple[dict[str, Any], list[str]]:
    """Recompute the chain; the summary (head, size, root; the hash and the Merkle root at each
    size in `watch`) and every failure found."""
    failures: list[str] = []
    prev, expected_seq, last_recorded, tree = genesis(ledger_id), 1, "", MerkleRoot()
    hashes: dict[int, str] = {}
    roots: dict[int, str] = {0: base64.b64encode(tree.root()).decode("ascii")}
    for event in events:
        seq = event["seq"]
        if seq != expected_seq:
            failures.append(f"seq jumps from {expected_seq - 1} to {seq}")
        if event["prev_hash"] != prev:
            failures.append(_link_failure(event, expected_seq))
        try:
            if event_hash(event["prev_hash"], event) != event["hash"]:
                failures.append(f"event {seq}: hash does not match its fields")
        except (ValueError, TypeError, AttributeError) as exc:  # e.g. a float in a tampered row
            failures.append(f"event {seq}: a field outside the format ({exc})")
        try:
            if jcs(parse_json(event["payload"])) != event["payload"]:
                failures.append(f"event {seq}: payload is not canonical JSON")
        except ValueError as exc:
            failures.append(f"event {seq}: payload outside the format ({exc})")
        if event["recorded_at"] < last_recorded:  # same fixed form: text order is time order
            failures.append(f"event {seq}: recorded_at goes back in time")
        last_recorded = max(last_recorded, event["recorded_at"])
        tree.add(bytes.fromhex(event["hash"]))
        if tree.size in watch:
            hashes[seq] = event["hash"]
            roots[tree.size] = base64.b64encode(tree.root()).decode("ascii")
        prev, expected_seq = event["hash"], seq + 1
    summary = {
        "events": tree.size,
        "head": f"{expected_seq - 1}:{prev}",
        "merkle_root": base64.b64encode(tree.root()).decode("ascii"),
        "ledger_id": ledger_id,
        "_hashes": hashes,
        "_roots": roots,
    }
    return summary, failures


def split_checkpoint(note: str) -> tuple[str, list[str], list[str]]:
    """The note text, its lines and its signature lines; Unreadable if it is no signed note."""
    if "\r\n" in note and note.count("\r\n") == note.count("\n"):  # an editor's, not a cut
        raise Unreadable(
            "checkpoint: its lines end in CR LF, a signed note's in LF alone: convert it back "
            "(e.g. 'dos2unix FILE') and check it again"
        )
    if note.startswith("\ufeff"):
        raise Unreadable(
            "checkpoint: it starts with a byte-order mark (U+FEFF) that an editor added: save it "
            "without one and check it again"
        )
    whole = note.rstrip("\n") + "\n"  # a signed note ends with its last signature line
    if note.endswith("\n\n") and "\n\n" in whole and whole.split("\n")[-2].startswith("\u2014 "):
        raise Unreadable(
            f"checkpoint: {len(note) - len(whole)} blank line(s) after its signature line (an "
            "editor or a mail program added them?): remove them and check it again"
        )
    problem = _later_edit(note)
    if problem is not None:
        raise Unreadable(f"checkpoint: {problem}")
    cut = note.rfind("\n\n")
    if cut < 0:
        raise Unreadable("checkpoint: not a signed note (no blank line before the signatures)")
    if not note.endswith("\n"):
        raise Unreadable("checkpoint: truncated (it must end with a signature line and newline)")
    if any(ord(char) < 0x20 and char != "\n" for char in note):  # c2sp.org/signed-note
        raise Unreadable("checkpoint: a control character other than newline is in the note")
    text, signatures = note[: cut + 1], note[cut + 2 :].split("\n")[:-1]
    if not signatures or not all(line.startswith("\u2014 ") for line in signatures):
        raise Unreadable("checkpoint: a signature line must start with '\u2014 ' (em dash, space)")
    lines = text.split("\n")[:-1]
    if len(lines) < 3:
        raise Unreadable("checkpoint: needs an origin, a tree size and a root line")
    if "" in lines:  # c2sp.org/tlog-checkpoint: origin, size, root and extensions, none empty
        empty = lines.index("") + 1
        raise Unreadable(
            f"checkpoint: the file is not a checkpoint: line {empty} is empty"
            + (" (a blank line added before it?)" if empty == 1 else "")
        )
    _refuse_repeated_keys(signatures, first_line=len(lines) + 2)
    if not _is_decimal(lines[1]):  # c2sp.org/tlog-checkpoint: ASCII, no leading zeroes
        raise Unreadable(f"checkpoint: tree size {lines[1][:20]!r} is not a decimal number")
    for line in lines[3:]:
        seq, colon, _hash = line.removeprefix("head ").partition(":")
        if line.startswith("head ") and not (colon and _is_decimal(seq)):
            raise Unreadable(f"checkpoint: head line {line[:30]!r} is not 'head SEQ:HASH'")
    return text, lines, signatures


def _later_edit(note: str) -> str | None:
    """What was done to a whole note after it was signed, with how to undo it: the newline
    after its last signature line taken off, spaces added at a line's end (no line of a
    checkpoint ends in one), a second note appended (its signature line is then in the text)."""
    lines = note.split("\n")
    if "\n\n" in note and _whole_signature_line(lines[-1]):
        return (
            f"its last line, line {len(lines)}, the signature, has no newline at its end (an "
            "editor took it off?): add one and check it again"
        )
    spaced = next((n for n, line in enumerate(lines, start=1) if line.endswith((" ", "\t"))), 0)
    if spaced:
        return (
            f"line {spaced} ends in spaces or tabs (an editor or a mail program added them?); "
            "no line of a checkpoint does: remove them and check it again"
        )
    text = note[: note.rfind("\n\n")].split("\n")
    inner = next((n for n, line in enumerate(text, start=1) if line.startswith("\u2014 ")), 0)
    if inner:
        return (
            f"line {inner} is a signature line, yet more lines follow it: a second note was "
            f"appended after the first (one note per file): keep lines 1 to {inner} and check "
            "it again"
        )
    return None


def _whole_signature_line(line: str) -> bool:
    """A signature line cut nowhere: a key name, then base64 of a key ID and a signature."""
    name, _, blob = line.removeprefix("\u2014 ").partition(" ")
    if not line.startswith("\u2014 ") or not name:
        return False
    try:
        return len(base64.b64decode(blob, validate=True)) == 4 + 64
    except ValueError:
        return False


def _refuse_repeated_keys(signatures: list[str], first_line: int) -> None:
    """One signature line per key (its name and key ID): a second was added after signing."""
    seen: dict[tuple[str, str], int] = {}
    for number, line in enumerate(signatures, start=first_line):
        name, _, blob = line.removeprefix("\u2014 ").partition(" ")
        try:
            key = (name, base64.b64decode(blob, validate=True)[:4].hex())
        except ValueError:  # a failed check, not unreadable input: _check_signature names it
            continue
        if key in seen:
            raise Unreadable(
                f"checkpoint: lines {seen[key]} and {number} are both signatures by key "
                f"{name[:100]!r}+{key[1]}; a signed note holds one signature per key, so a line "
                "was added after signing"
            )
        seen[key] = number


def _is_decimal(text: str) -> bool:
    """ASCII digits without a leading zero (but '0' itself), at most a uint64 (c2sp.org/
    tlog-checkpoint): int() refuses more than 4,300 digits with an error of its own."""
    if not text.isascii() or not text.isdigit() or len(text) > 20:
        return False
    return (text == "0" or not text.startswith("0")) and int(text) <= 2**64 - 1


def check_checkpoint(note: str, summary: dict[str, Any], public_key: str | None) -> list[str]:
    """A checkpoint against the recomputed ledger (and its signature, given the key)."""
    text, lines, signatures = split_checkpoint(note)
    origin, size, root = lines[0], int(lines[1]), lines[2]
    root_at = summary["_roots"]
    failures = []
    if origin != f"sampleloans/ledger/{summary['ledger_id']}":
        # quoted and cut: a crafted origin's bidi characters could display as this ledger's
        failures.append(f"checkpoint: origin {origin[:100]!r} is not this ledger")
    if size > summary["events"]:
        failures.append(f"checkpoint: size {size} but the ledger has {summary['events']} events")
    elif root_at.get(size) != root:
        failures.append(f"checkpoint: root of the first {size} events differs from the signed one")
    for line in lines[3:]:
        if line.startswith("head "):
            seq, _, hash_hex = line[5:].partition(":")
            if summary["_hashes"].get(int(seq)) != hash_hex:
                failures.append(
                    f"checkpoint: event {seq} does not have the head hash {hash_hex[:16]}…"
                )
    if public_key is not None:
        failures.extend(_check_signature(text, signatures, public_key.strip()))
    return failures


def _read_small(path: Path, what: str, limit: int) -> bytes:
    """A small file read whole: a device, a FIFO or a file over `limit` bytes is none."""
    if path.exists() and not path.is_file() and not path.is_dir():
        raise Unreadable(f"{what}: {path} is not a regular file (a device, FIFO or socket)")
    with path.open("rb") as handle:
        data = handle.read(limit + 1)
    if len(data) > limit:
        raise Unreadable(f"{what}: {path} is larger than {limit} bytes; it is not one")
    return data


def read_public_key(path: Path) -> str:
    """The one line of a public key file; Unreadable (exit 2) if it is not one."""
    vkey = _read_small(path, "public key", 4096).decode("utf-8", errors="replace").strip()
    if vkey.startswith("PRIVATE+KEY+"):  # never echo it: it is the lender's secret
        raise Unreadable(f"public key: {path} is a private key file; give the .pub file")
    name, _, rest = vkey.partition("+")
    key_id_hex, _, material = rest.partition("+")
    try:
        raw = base64.b64decode(material, validate=True)
    except ValueError:
        raw = b""
    if not name or len(key_id_hex) != 8 or raw[:1] != b"\x01" or len(raw) != 33:
        raise Unreadable(f"public key: {path} is not NAME+KEYID+BASE64 (an Ed25519 note key)")
    return vkey


def _check_signature(text: str, signatures: list[str], vkey: str) -> list[str]:
    """The note signature by the key `<name>+<key ID>+<base64(0x01 || key)>`."""
    name, _, rest = vkey.partition("+")
    key_id_hex, _, material = rest.partition("+")
    try:
        raw = base64.b64decode(material, validate=True)
    except ValueError:
        raw = b""
    if raw[:1] != b"\x01" or len(raw) != 33:
        return ["public key: not an Ed25519 note key"]
    key_id = hashlib.sha256(name.encode() + b"\n" + raw).digest()[:4]
    if key_id.hex() != key_id_hex:
        return ["public key: key ID does not match"]
    mine = []
    for line in signatures:
        signer, _, blob = line.removeprefix("\u2014 ").partition(" ")
        try:
            data = base64.b64decode(blob, validate=True)
        except ValueError:
            return [f"checkpoint: the signature line of {signer} is not base64"]
        if signer == name and data[:4] == key_id:
            mine.append(data[4:])
    if not mine:
        return [f"checkpoint: not signed by {name}"]
    if not all(ed25519_verify(raw[1:], text.encode("utf-8"), sig) for sig in mine):
        return ["checkpoint: signature does not verify"]
    return []


def _read_note(path: Path) -> str:
    """A checkpoint file's text, byte for byte (no newline translation: the signature covers
    the exact bytes); Unreadable if it is not UTF-8."""
    try:
        return _read_small(path, "checkpoint", 64 * 1024).decode("utf-8")
    except UnicodeDecodeError:
        raise Unreadable(f"checkpoint: {path} is not UTF-8 text") from None


def main(argv: list[str] | None = None) -> int:
    """Run the checks and print the result; the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", type=Path, help="a ledger .db file or an events export .jsonl")
    parser.add_argument("--checkpoint", type=Path, help="a signed checkpoint to check")
    parser.add_argument("--public-key", type=Path, help="the lender's public key (.pub)")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    args = parser.parse_args(argv)
    if args.public_key is not None and args.checkpoint is None:  # it would check nothing
        print(
            "Error: --public-key: only with --checkpoint (the key checks the signature of the "
            "checkpoint you give)",
            file=sys.stderr,
        )
        return 2
    try:
        note = _read_note(args.checkpoint) if args.checkpoint else None
        public_key = read_public_key(args.public_key) if args.public_key else None
        watch = set()
        if note is not None:
            _text, lines, _signatures = split_checkpoint(note)
            watch = {int(lines[1])} | {
                int(x[5:].partition(":")[0]) for x in lines if x[:5] == "head "
            }
        ledger_id, events = read_source(args.source)
        summary, failures = check_chain(ledger_id, events, watch)
        if note is not None:
            failures += check_checkpoint(note, summary, public_key)
    except OSError as exc:  # one line naming the file, not Python's "[Errno 2] …"
        where = exc.filename if exc.filename is not None else "input"
        print(f"Error: {where}: cannot read it ({exc.strerror})", file=sys.stderr)
        return 2
    except (Unreadable, ValueError, KeyError, TypeError, UnicodeDecodeError) as exc:
        print(f"Error: {exc}", file=sys.stderr)
        return 2
    summary.pop("_hashes")
    summary.pop("_roots")
    # say plainly when the checkpoint's signature was not checked, or there was none to check
    summary["checkpoint_signature"] = (
        "no checkpoint" if note is None else "checked" if public_key else "not checked"
    )
    if args.json:
        print(json.dumps({**summary, "ok": not failures, "failures": failures}, sort_keys=True))
    else:
        print(f"events: {summary['events']}\nhead: {summary['head']}")
        print(f"merkle root: {summary['merkle_root']}")
        print(
            "checked: every event's hash from the genesis of this ledger's id, the links, the "
            "order and the recording times, each payload's canonical form"
        )
        if note is not None and public_key is not None and not failures:
            print(f"checkpoint: matches this ledger and is signed by {public_key.split('+')[0]}")
        if note is not None and not failures:  # the chain has no key: say what it covers
            size, events = int(split_checkpoint(note)[1][1]), summary["events"]
            print(f"checkpoint: covers events 1–{size} of {events}")
            if size + 1 == events:  # one event, or a run of them
                print(f"checkpoint: event {events} comes after it: not covered by it")
            elif size < events:
                print(f"checkpoint: events {size + 1}–{events} come after it: not covered by it")
        if note is not None and public_key is None:
            print(
                "checkpoint: signature NOT checked (no --public-key): anyone could have written "
                "it; give the lender's KEY.pub"
            )
        if note is None:  # a recomputed chain checks out as well as the lender's
            print(
                "NOT checked: that the lender made these events: anyone can rewrite them and "
                "recompute every hash; give --checkpoint CP.txt --public-key KEY.pub"
            )
        for failure in failures:
            print(f"FAIL: {failure}")
        noun = "problem" if len(failures) == 1 else "problems"  # as `sampleloans verify` counts
        print("OK" if not failures else f"{len(failures)} {noun} found")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
