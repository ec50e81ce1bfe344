"""Signed checkpoints: C2SP signed notes (Ed25519) whose text is a C2SP tlog checkpoint.

A checkpoint names a Merkle tree head of the ledger (https://c2sp.org/tlog-checkpoint):

    <origin>\\n
    <tree size, decimal>\\n
    <base64 RFC 6962 root hash>\\n
    <extension line>\\n ...        (optional, opaque, never empty)

and is signed as a note (https://c2sp.org/signed-note): the text, a blank line, then one line
per signature, `— <key name> <base64(4-byte key ID || Ed25519 signature of the text)>`, with
key ID = SHA-256(key name || 0x0A || 0x01 || 32-byte public key)[:4].

Keys are written in the formats of Go's golang.org/x/mod/sumdb/note, which C2SP tools read:
a verifier key `<name>+<key ID hex>+<base64(0x01 || public key)>` and a signer key
`PRIVATE+KEY+<name>+<key ID hex>+<base64(0x01 || 32-byte seed)>`.

Malformed text or keys raise `InvalidInput` (exit 2); a note whose signature does not verify
raises `CheckpointRefused` (exit 1). Neither message ever contains private key material.
"""

import base64
import binascii
import hashlib
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from sampleloans.errors import InvalidInput, SampleLoansError
from sampleloans.ledger.merkle import HASH_SIZE
from sampleloans.text import visible
from sampleloans.units import quote_input

ALG_ED25519 = 0x01
SIGNATURE_DASH = "\u2014 "  # em dash and space open every signature line
SIGNER_PREFIX = "PRIVATE+KEY+"
MAX_SIGNATURES = 16
MAX_NOTE_BYTES = 64 * 1024
MAX_TREE_SIZE = 2**64 - 1  # c2sp.org/tlog-checkpoint: the tree size is a uint64
# a new key's name: short enough that its key files stay far below the readers' 4096-byte bound
MAX_KEY_NAME_BYTES = 255


class CheckpointRefused(SampleLoansError):
    """A checkpoint or note that is well formed but not signed by the given key, or not ours."""

    exit_code = 1


@dataclass(frozen=True)
class VerifierKey:
    """A public key with its note name and 4-byte key ID."""

    name: str
    public_key: bytes  # 32 raw Ed25519 bytes

    @property
    def key_id(self) -> bytes:
        """SHA-256(name || 0x0A || 0x01 || public key)[:4]."""
        return key_id(self.name, self.public_key)

    def encode(self) -> str:
        """The vkey text `<name>+<key ID hex>+<base64(0x01 || public key)>`."""
        material = base64.b64encode(bytes([ALG_ED25519]) + self.public_key).decode("ascii")
        return f"{self.name}+{self.key_id.hex()}+{material}"

    def fingerprint(self) -> str:
        """`SHA256:<hex>` of the raw public key, for comparing keys by eye or by phone."""
        return "SHA256:" + hashlib.sha256(self.public_key).hexdigest()


@dataclass(frozen=True)
class SignerKey:
    """A private key with its note name; its repr never shows the key."""

    name: str
    private_key: Ed25519PrivateKey = field(repr=False)

    def verifier(self) -> VerifierKey:
        """The matching public key."""
        raw = self.private_key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        return VerifierKey(self.name, raw)

    def encode(self) -> str:
        """The signer key text `PRIVATE+KEY+<name>+<key ID hex>+<base64(0x01 || seed)>`."""
        from cryptography.hazmat.primitives.serialization import NoEncryption, PrivateFormat

        seed = self.private_key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
        material = base64.b64encode(bytes([ALG_ED25519]) + seed).decode("ascii")
        return f"{SIGNER_PREFIX}{self.name}+{self.verifier().key_id.hex()}+{material}"


SHOWN_MAX_CHARS = 100
"""How much of a name or origin read from a note an error message quotes (an origin is 55)."""


def shown(text: str) -> str:
    """A name or origin read from a note, for a message: quoted, cut at SHOWN_MAX_CHARS, bidi
    and other invisible characters escaped (a crafted origin could otherwise display as this
    ledger's, or run on for pages)."""
    return quote_input(text, SHOWN_MAX_CHARS)


def key_id(name: str, public_key: bytes) -> bytes:
    """The C2SP key ID of an Ed25519 key: SHA-256(name || 0x0A || 0x01 || key)[:4]."""
    return hashlib.sha256(
        name.encode("utf-8") + b"\n" + bytes([ALG_ED25519]) + public_key
    ).digest()[:4]


def check_key_name(name: str, option: str | None = None) -> str:
    """A note key name: non-empty, no spaces, no '+' (InvalidInput otherwise, naming `option`
    when the name was typed as one)."""
    if not name or any(ch.isspace() or ch == "+" for ch in name) or not name.isprintable():
        what = f"{option}: {name!r} is not a key name" if option else f"key name {name!r}"
        raise InvalidInput(
            f"{what}; give a non-empty name without spaces or '+', e.g. naoc.example/ledger"
        )
    return name


def generate_signer(name: str) -> SignerKey:
    """A new Ed25519 signer key called `name` (at most MAX_KEY_NAME_BYTES in UTF-8)."""
    size = len(name.encode("utf-8", errors="surrogatepass"))
    if size > MAX_KEY_NAME_BYTES:
        raise InvalidInput(
            f"--name: {name[:40]!r}… is {size} bytes long; a key name is at most "
            f"{MAX_KEY_NAME_BYTES} bytes (UTF-8), e.g. naoc.example/ledger"
        )
    return SignerKey(check_key_name(name, "--name"), Ed25519PrivateKey.generate())


def _b64decode(text: str, what: str) -> bytes:
    """Strict standard base64, or InvalidInput naming `what`."""
    try:
        return base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError):
        raise InvalidInput(f"{what}: not valid base64") from None


def parse_verifier_key(text: str) -> VerifierKey:
    """Read a vkey `<name>+<key ID hex>+<base64(0x01 || key)>`; InvalidInput if malformed."""
    text = text.strip()
    if text.startswith(SIGNER_PREFIX):
        raise InvalidInput("public key: this is a private key file; give the .pub file beside it")
    name, _, rest = text.partition("+")
    hash_hex, _, material = rest.partition("+")
    what = "public key (expected NAME+KEYID+BASE64, the .pub file of 'keys generate')"
    raw = _b64decode(material, what) if material else b""
    if not name or len(hash_hex) != 8 or len(raw) != 1 + 32 or raw[0] != ALG_ED25519:
        raise InvalidInput(f"{what}: malformed")
    key = VerifierKey(check_key_name(name), raw[1:])
    if key.key_id.hex() != hash_hex.lower():
        raise InvalidInput(f"{what}: key ID {hash_hex} does not match the key")
    return key


def parse_signer_key(text: str) -> SignerKey:
    """Read a signer key `PRIVATE+KEY+<name>+<key ID>+<base64(0x01 || seed)>`."""
    what = "private key (expected the file written by 'keys generate')"
    text = text.strip()
    if not text.startswith(SIGNER_PREFIX):
        raise InvalidInput(f"{what}: not a private key")
    name, _, rest = text[len(SIGNER_PREFIX) :].partition("+")
    hash_hex, _, material = rest.partition("+")
    raw = _b64decode(material, what) if material else b""
    if not name or len(hash_hex) != 8 or len(raw) != 1 + 32 or raw[0] != ALG_ED25519:
        raise InvalidInput(f"{what}: malformed")
    signer = SignerKey(check_key_name(name), Ed25519PrivateKey.from_private_bytes(raw[1:]))
    if signer.verifier().key_id.hex() != hash_hex.lower():
        raise InvalidInput(f"{what}: key ID {hash_hex} does not match the key")
    return signer


# --- signed notes -----------------------------------------------------------------------------


def _check_note_text(text: str) -> None:
    """Note text ends in a newline and holds no control character but newline."""
    if not text.endswith("\n"):
        raise InvalidInput("note text must end with a newline")
    _refuse_control_characters(text, "note text")


def _refuse_control_characters(text: str, what: str) -> None:
    """c2sp.org/signed-note: no ASCII control character but newline, in text or signatures."""
    if any(ord(ch) < 0x20 and ch != "\n" for ch in text):
        raise InvalidInput(f"{what} must not contain control characters other than newline")


def sign_note(text: str, signer: SignerKey) -> str:
    """The signed note: text, a blank line, and one Ed25519 signature line."""
    _check_note_text(text)
    signature = signer.private_key.sign(text.encode("utf-8"))
    blob = base64.b64encode(signer.verifier().key_id + signature).decode("ascii")
    return f"{text}\n{SIGNATURE_DASH}{signer.name} {blob}\n"


def _refuse_editor_marks(note: str) -> None:
    """Name what an editor or a mail program adds to a file it saves, CR LF line ends or a
    byte-order mark, rather than calling the note truncated or its signature broken: a signed
    note never holds either, so taking it out again gives back the bytes that were signed."""
    if "\r\n" in note and note.count("\r\n") == note.count("\n"):  # every line: a convert
        raise InvalidInput(
            "signed note: its lines end in CR LF (saved or mailed on Windows?), a signed note's "
            "in LF alone: convert it back (e.g. 'dos2unix FILE') and check it again"
        )
    if note.startswith("\ufeff"):
        raise InvalidInput(
            "signed note: it starts with a byte-order mark (U+FEFF) that an editor added: save "
            "it without one and check it again"
        )
    blank = _blank_lines_after_signatures(note)
    if blank:
        raise InvalidInput(
            f"signed note: {blank} blank line{'s' if blank > 1 else ''} after its signature "
            "line (an editor or a mail program added them?); a signed note ends with its last "
            "signature line: remove them and check it again"
        )
    problem = _later_edit(note)
    if problem is not None:
        raise InvalidInput(f"signed note: {problem}")


def _later_edit(note: str) -> str | None:
    """What an editor or a hand did to a whole note after it was written, in words that say how
    to undo it: the newline after its last signature line taken off, spaces added at a line's
    end (no line of a checkpoint ends in one), or a second note appended after the first
    (its signature line then sits inside the text)."""
    lines = note.split("\n")
    if _whole_signature_line(lines[-1]) and "\n\n" in note:
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
    cut = note.rfind("\n\n")
    inner = next(
        (n for n, line in enumerate(note[:cut].split("\n"), 1) if line.startswith(SIGNATURE_DASH)),
        0,
    )
    if inner:
        return (
            f"line {inner} is a signature line, yet more lines follow it: a second note was "
            f"appended after the first (one note per file): keep lines 1 to {inner} and check "
            "it again"
        )
    return None


def _blank_lines_after_signatures(note: str) -> int:
    """How many blank lines follow the last signature line of an otherwise whole note: none
    in a signed note (its signature block has no empty line), so they were added to it."""
    if not note.endswith("\n\n"):  # none, or a note cut short: not blank lines added
        return 0
    whole = note.rstrip("\n") + "\n"
    last_line = whole[whole.rfind("\n", 0, len(whole) - 1) + 1 :]
    if "\n\n" not in whole or not last_line.startswith(SIGNATURE_DASH):
        return 0
    return len(note) - len(whole)


def _whole_signature_line(line: str) -> bool:
    """Whether `line` is a signature line cut nowhere: a key name, and base64 of a key ID and
    an Ed25519 signature (a note cut inside it is truncated, not missing its newline)."""
    name, _, blob = line.removeprefix(SIGNATURE_DASH).partition(" ")
    if not line.startswith(SIGNATURE_DASH) or not name:
        return False
    try:
        return len(base64.b64decode(blob.encode("ascii"), validate=True)) == 4 + 64
    except (binascii.Error, UnicodeEncodeError):
        return False


def split_note(note: str) -> tuple[str, list[tuple[str, bytes, bytes]]]:
    """The text of a signed note and its signatures as (key name, key ID, signature)."""
    if len(note.encode("utf-8")) > MAX_NOTE_BYTES:
        raise InvalidInput(f"signed note: larger than {MAX_NOTE_BYTES} bytes")
    _refuse_editor_marks(note)
    if not note.endswith("\n"):
        raise InvalidInput("signed note: truncated (it must end with a signature line and newline)")
    cut = note.rfind("\n\n")
    if cut < 0:
        raise InvalidInput("signed note: no blank line before the signatures (truncated?)")
    text, signature_block = note[: cut + 1], note[cut + 2 :]
    _check_note_text(text)
    _refuse_control_characters(signature_block, "signed note: a signature line")
    lines = signature_block.split("\n")[:-1]
    if not lines or len(lines) > MAX_SIGNATURES:
        raise InvalidInput(f"signed note: needs 1 to {MAX_SIGNATURES} signature lines")
    signatures = []
    for line in lines:
        if not line.startswith(SIGNATURE_DASH):
            raise InvalidInput("signed note: a signature line must start with '— '")
        name, _, blob_text = line[len(SIGNATURE_DASH) :].partition(" ")
        blob = _b64decode(blob_text, "signed note signature")
        if not name or " " in blob_text or len(blob) < 5:
            raise InvalidInput("signed note: malformed signature line")
        signatures.append((name, blob[:4], blob[4:]))
    _refuse_repeated_keys(signatures, first_line=text.count("\n") + 2)
    return text, signatures


def _refuse_repeated_keys(signatures: list[tuple[str, bytes, bytes]], first_line: int) -> None:
    """One signature line per key: c2sp.org/signed-note identifies a key by its name and key
    ID, and a signer writes one line for it, so a second line of the same key was added after
    signing (a copy passes every check, another value may be anyone's): the note is malformed.
    `first_line` is the file's line number of the first signature line, for the message."""
    seen: dict[tuple[str, bytes], int] = {}
    for number, (name, kid, _signature) in enumerate(signatures, start=first_line):
        if (name, kid) in seen:
            raise InvalidInput(
                f"signed note: lines {seen[name, kid]} and {number} are both signatures by key "
                f"{visible(name[:SHOWN_MAX_CHARS])}+{kid.hex()}; a signed note holds one "
                "signature per key, so a line was added after signing: it is not the note as signed"
            )
        seen[name, kid] = number


def open_note(note: str, verifier: VerifierKey) -> str:
    """The text of `note` once `verifier`'s signature on it is checked (C2SP rules).

    Signatures by other keys are ignored; one by this key (same name and key ID) must verify.
    """
    text, signatures = split_note(note)
    public_key = Ed25519PublicKey.from_public_bytes(verifier.public_key)
    ours = [s for name, kid, s in signatures if name == verifier.name and kid == verifier.key_id]
    if not ours:
        # with the key IDs: a key of the same name (a new key pair made under the old name, or
        # someone else's) otherwise read "not signed by key N+ID (signed by N)"
        keys = sorted({(name, kid) for name, kid, _ in signatures})
        names = ", ".join(f"{shown(name)}+{kid.hex()}" for name, kid in keys)
        same_name = any(name == verifier.name for name, _kid in keys)
        why = (
            "a different key under the same name: check that you gave the key that signed it"
            if same_name
            else "check that you gave the right public key"
        )
        raise CheckpointRefused(
            f"signed note: not signed by key {verifier.name}+{verifier.key_id.hex()} "
            f"(signed by {names}); {why}"
        )
    for signature in ours:
        try:
            public_key.verify(signature, text.encode("utf-8"))
        except InvalidSignature:
            raise CheckpointRefused(
                f"signed note: the signature by {verifier.name} does not verify: "
                "the text was changed after signing, or it was signed by another key"
            ) from None
    return text


# --- checkpoints ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Checkpoint:
    """A tree head: origin, tree size, RFC 6962 root, and opaque extension lines."""

    origin: str
    size: int
    root: bytes
    extensions: tuple[str, ...] = ()

    def text(self) -> str:
        """The checkpoint's note text (C2SP tlog-checkpoint), ending in a newline."""
        lines = [self.origin, str(self.size), base64.b64encode(self.root).decode("ascii")]
        return "\n".join([*lines, *self.extensions]) + "\n"

    def extension(self, key: str) -> str | None:
        """The value of the first extension line `key VALUE`, or None."""
        for line in self.extensions:
            name, _, value = line.partition(" ")
            if name == key:
                return value
        return None


def parse_checkpoint(text: str) -> Checkpoint:
    """A checkpoint from its note text; InvalidInput, naming the line of the file, if it is
    not one (a shape check only: its content means nothing until `open_note` verified it)."""
    lines = text.split("\n")
    if len(lines) < 4 or lines[-1] != "":
        raise InvalidInput(
            "the file is not a checkpoint: it needs an origin, a tree size and a root hash line"
        )
    origin, size_text, root_text, *extensions = lines[:-1]
    empty = next((n for n, line in enumerate(lines[:-1], start=1) if not line), None)
    if empty is not None:
        first = " (a blank line added before it?)" if empty == 1 else ""
        raise InvalidInput(
            f"the file is not a checkpoint: line {empty} is empty; a checkpoint's lines are its "
            f"origin, tree size, root hash and extension lines, none empty{first}"
        )
    if not _is_tree_size(size_text):
        raise InvalidInput(
            f"the file is not a checkpoint: line 2, the tree size, {shown(size_text)} is not a "
            f"decimal number from 0 to {MAX_TREE_SIZE} (no leading zero)"
        )
    root = _b64decode(root_text, "the file is not a checkpoint: line 3, the root hash")
    if len(root) != HASH_SIZE:
        raise InvalidInput(
            f"the file is not a checkpoint: line 3, the root hash, is {len(root)} bytes, not "
            f"{HASH_SIZE}"
        )
    return Checkpoint(origin, int(size_text), root, tuple(extensions))


def _is_tree_size(text: str) -> bool:
    """c2sp.org/tlog-checkpoint: ASCII digits, no leading zero, a uint64; the length is checked
    before int(), which refuses more than 4,300 digits with a ValueError of its own."""
    if not text.isascii() or not text.isdigit() or len(text) > len(str(MAX_TREE_SIZE)):
        return False
    return text == str(int(text)) and int(text) <= MAX_TREE_SIZE


def sign_checkpoint(checkpoint: Checkpoint, signer: SignerKey) -> str:
    """The signed note of a checkpoint."""
    return sign_note(checkpoint.text(), signer)


def verify_checkpoint(note: str, verifier: VerifierKey, *, origin: str | None = None) -> Checkpoint:
    """The checkpoint in a signed note, once its signature (and origin, if given) check out."""
    # its shape first: a file that is no checkpoint (a blank line added at its top) is
    # malformed (exit 2), not "changed after signing"
    parse_checkpoint(split_note(note)[0])
    checkpoint = parse_checkpoint(open_note(note, verifier))
    if origin is not None and checkpoint.origin != origin:
        raise CheckpointRefused(
            f"checkpoint: it is of {shown(checkpoint.origin)}, not of this ledger ({origin})"
        )
    return checkpoint
