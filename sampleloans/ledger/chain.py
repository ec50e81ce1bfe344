"""Canonical encoding and the hash chain: hash = sha256(prev_hash ‖ canonical(event)).

The encoding is RFC 8785 (JSON Canonicalization Scheme) restricted to what the ledger stores:
objects, arrays, strings, integers within ±(2^53 − 1), true, false and null. Anything else (a
float, a larger integer, a lone surrogate, a non-string key) is refused, never rounded. The
written format is `docs/ledger-format.md`; `tools/verify_ledger.py` implements it apart.
"""

import hashlib
import json
from datetime import UTC, datetime
from typing import Any

from sampleloans.errors import InvalidInput

GENESIS_PREFIX = "sampleloans-genesis-v1:"
MAX_SAFE_INTEGER = 2**53 - 1
"""The largest integer an IEEE 754 double holds exactly: RFC 8785 numbers beyond it are not
exact, so the format refuses them (a mass of 2^53 µg would be 9 tonnes)."""


_SORTED = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)
"""Sorted compact JSON (`json.dumps` with these options builds an encoder per call)."""


def canonical(value: Any, what: str = "event") -> str:
    """The RFC 8785 canonical JSON text of `value`: the one encoding hashes are computed over.

    For the values the ledger stores, Python's sorted compact JSON (`ensure_ascii=False`) is
    byte for byte RFC 8785: same escapes (only `"`, `\\` and controls, `\\u00xx` in lower
    case), integers as digits. The one difference, key order by UTF-16 code units rather than
    code points, shows only for keys with characters beyond U+FFFF; those objects are re-ordered.
    """
    if type(value) is dict and _flat(value):  # most payloads: no walk, no refusal possible
        text = _SORTED.encode(value)
    else:
        try:
            astral = _check_jcs(value)
        except _Refused as refused:
            raise InvalidInput(f"{what}: {refused}") from None
        if astral:
            text = json.dumps(_utf16_ordered(value), separators=(",", ":"), ensure_ascii=False)
        else:
            text = _SORTED.encode(value)
    try:
        text.encode("utf-8")  # a lone surrogate anywhere has no UTF-8 form
    except UnicodeEncodeError:
        raise InvalidInput(f"{what}: the text holds a lone surrogate (not valid Unicode)") from None
    return text


class _Refused(Exception):
    """A value the format cannot encode exactly (the message names it)."""


_SCALARS = (str, type(None), bool)


_FLAT = frozenset((str, type(None), bool))


def _flat(value: dict[Any, Any]) -> bool:
    """Whether an object has only ASCII string keys and text, null, boolean or safe integer
    values: `_check_jcs` would pass it and find no key beyond U+FFFF."""
    for key, item in value.items():
        if type(key) is not str or not key.isascii():
            return False
        kind = type(item)
        if kind is int:
            if not -MAX_SAFE_INTEGER <= item <= MAX_SAFE_INTEGER:
                return False
        elif kind not in _FLAT:
            return False
    return True


def _check_jcs(value: Any) -> bool:
    """Refuse what the format cannot encode exactly; True if some key lies beyond U+FFFF."""
    if isinstance(value, _SCALARS):
        return False
    if isinstance(value, int):
        if not -MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER:
            raise _Refused(
                f"the integer {value} is outside ±(2^53 − 1) (±9007199254740991), "
                "the range the ledger format stores exactly"
            )
        return False
    if isinstance(value, list | tuple):
        astral = False
        for item in value:
            if not isinstance(item, _SCALARS):  # text, null and booleans need no look
                astral = _check_jcs(item) or astral
        return astral
    if isinstance(value, dict):
        astral = False
        for key, item in value.items():
            if not isinstance(key, str):
                raise _Refused(f"the key {key!r} is not a string")
            if not key.isascii() and any(ord(ch) > 0xFFFF for ch in key):
                astral = True
            if not isinstance(item, _SCALARS):
                astral = _check_jcs(item) or astral
        return astral
    kind = f"the number {value!r}, with a fraction," if isinstance(value, float) else repr(value)
    raise _Refused(
        f"{kind} cannot be stored; the ledger format holds strings, integers, true, false, "
        "null, arrays and objects"
    )


def _utf16_key(key: str) -> bytes:
    """RFC 8785 sort key: the key's UTF-16 code units (big-endian bytes compare the same)."""
    return key.encode("utf-16-be")


def _utf16_ordered(value: Any) -> Any:
    """A copy whose objects list their keys in RFC 8785 (UTF-16 code unit) order."""
    if isinstance(value, dict):
        return {k: _utf16_ordered(value[k]) for k in sorted(value, key=_utf16_key)}
    if isinstance(value, list | tuple):
        return [_utf16_ordered(item) for item in value]
    return value


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
"""The stored fields an event's hash covers, in `event_body`'s order (docs/ledger-format.md)."""


STORED_TYPES: dict[str, tuple[type, ...]] = {
    "seq": (int,),
    "kind": (str,),
    "payload": (str,),
    "occurred_at": (str,),
    "recorded_at": (str,),
    "actor": (str,),
    "os_user": (str,),
    "corrects_seq": (int, type(None)),
    "reason": (str, type(None)),
    "prev_hash": (str,),
    "hash": (str,),
}
"""What each stored field of an event holds: SQLite keeps any value in any column, so a row
edited by hand may hold a BLOB or a REAL where the program writes text or an integer."""

_STORAGE_NAMES = {bytes: "a BLOB", float: "a REAL number", int: "an integer", str: "text"}


def stored_type_problem(row: Any) -> str | None:
    """The first field of a stored event row (any object with the `STORED_TYPES` names as
    attributes) that holds another type than the program writes, in words; None if none.
    NULLs are left to the callers' checks of missing fields."""
    for name, kinds in STORED_TYPES.items():
        value = getattr(row, name)
        if value is not None and type(value) not in kinds:
            held = _STORAGE_NAMES.get(type(value), type(value).__name__)
            wanted = _STORAGE_NAMES[kinds[0]]
            return f"its {name} is stored as {held}, not {wanted}"
    return None


def stored_body(row: Any) -> dict[str, Any]:
    """`event_body` of a stored event row (any object with the `BODY_FIELDS` as attributes)."""
    return {name: getattr(row, name) for name in BODY_FIELDS}


def link_hash(prev_hash: str, body: dict[str, Any]) -> str:
    """The hash of one event given the previous event's hash."""
    digest = hashlib.sha256()
    digest.update(prev_hash.encode("ascii"))
    digest.update(canonical(body, "event").encode("utf-8"))
    return digest.hexdigest()


def stored_link_hash(prev_hash: str, body: dict[str, Any]) -> str:
    """`link_hash` of a stored event's body (scalars under ASCII keys), without the general walk.

    For strings, None and integers within ±(2^53 − 1) the canonical text is Python's sorted
    compact JSON (see `canonical`), so `verify` hashes each row as fast as a bare recompute;
    any other value takes `link_hash`, which refuses it by name. A body of exactly the
    `BODY_FIELDS` is written by `_body_text` (the same bytes, without the encoder's set-up).
    """
    for value in body.values():
        kind = type(value)
        if kind is int:
            if not -MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER:
                return link_hash(prev_hash, body)
        elif kind is not str and value is not None:
            return link_hash(prev_hash, body)
    text = _body_text(body) if body.keys() == _BODY_KEYS else _SORTED.encode(body)
    try:
        data = (prev_hash + text).encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate: refused by name
        return link_hash(prev_hash, body)
    return hashlib.sha256(data).hexdigest()


_BODY_KEYS = frozenset(BODY_FIELDS)
"""The keys `_body_text`'s template writes: any other body (a key renamed, added or missing)
goes through the encoder, never into the template."""

_ESCAPED = json.encoder.encode_basestring  # the C escaper when built
"""A string as JSON text with `ensure_ascii=False` (quotes, `\\`, controls escaped): what
`_SORTED` writes for a string value."""


def _scalar_text(value: str | int | None) -> str:
    """One checked body value as `_SORTED` writes it (text, a safe integer, or null)."""
    if value is None:
        return "null"
    if isinstance(value, int):  # exactly int: the caller sends any other type elsewhere
        return int.__repr__(value)
    return _ESCAPED(value)


def _body_text(body: dict[str, Any]) -> str:
    """`_SORTED.encode(body)` for a body holding every `BODY_FIELDS` key and scalars only
    (checked by the caller): the keys in sorted order written by a fixed template, each value
    escaped once. The encoder's per-call set-up and key sort were the largest single piece
    of an append's encoding (issue 13, stop 33); the caller sends only a body of exactly
    `_BODY_KEYS`, and `tests/test_sweep_s33import10_lean_encoding.py` holds the two texts equal."""
    value = _scalar_text
    return (
        f'{{"actor":{value(body["actor"])},"corrects_seq":{value(body["corrects_seq"])},'
        f'"kind":{value(body["kind"])},"occurred_at":{value(body["occurred_at"])},'
        f'"os_user":{value(body["os_user"])},"payload":{value(body["payload"])},'
        f'"reason":{value(body["reason"])},"recorded_at":{value(body["recorded_at"])},'
        f'"seq":{value(body["seq"])}}}'
    )


def format_head(seq: int, hash_hex: str) -> str:
    """The printable ledger head `SEQ:HASH`."""
    return f"{seq}:{hash_hex}"


class RecordingClock:
    """The latest `recorded_at` seen along seq: it must never decrease. One rule for `verify`
    and for `verify --since` over the events after a checkpoint (seeded with the checkpoint's
    last event), so both word an event recorded out of order alike."""

    def __init__(self) -> None:
        self.latest: datetime | None = None
        self.latest_seq = 0
        self.latest_text: object = None  # the stored text of `latest`

    def seed(self, seq: int, recorded_at: object) -> None:
        """Start after event `seq`, recorded at `recorded_at` (its stored value)."""
        moment = _recorded_moment(recorded_at)
        if moment is not None:
            self.latest, self.latest_seq, self.latest_text = moment, seq, recorded_at

    def finding(self, row: Any) -> str | None:
        """The one line about `row`'s recording time (a row with seq, kind and recorded_at), or
        None when it is in order."""
        recorded_at = _recorded_moment(row.recorded_at)
        if recorded_at is None:
            return f"event {row.seq} has no readable recorded_at time"
        if self.latest is not None and recorded_at < self.latest:
            from sampleloans.dates import to_iso  # only on a finding: a write never needs it

            return (
                f"event {row.seq} ({row.kind}) was recorded at {row.recorded_at}, before "
                f"event {self.latest_seq} ({to_iso(self.latest)}): the recording "
                "clock went backwards"
            )
        self.latest, self.latest_seq = recorded_at, row.seq
        self.latest_text = row.recorded_at
        return None


def _recorded_moment(stored: object) -> datetime | None:
    """A stored `recorded_at` as an aware moment (naive: UTC), or None if it is unreadable."""
    try:
        moment = datetime.fromisoformat(str(stored))
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
