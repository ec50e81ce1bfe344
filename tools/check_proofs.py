"""Check a report's or statement's embedded proofs with the lender's public key alone."""

import base64
import hashlib
import importlib.util
import json
import sys
from pathlib import Path

if len(sys.argv) != 4:  # a usage error is exit 2, like unreadable input
    print("usage: python3 check_proofs.py PROOFS.json KEY.pub verify_ledger.py", file=sys.stderr)
    sys.exit(2)
proofs_path, key_path, verifier_path = sys.argv[1:4]
try:  # the stand-alone verifier supplies the checkpoint parser, Ed25519 and the event hash
    spec = importlib.util.spec_from_file_location("verify_ledger", verifier_path)
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
except (OSError, AttributeError, SyntaxError) as exc:
    why = getattr(exc, "strerror", None) or exc  # "No such file or directory", not "[Errno 2] …"
    print(f"Error: {verifier_path}: cannot load the stand-alone verifier ({why})", file=sys.stderr)
    sys.exit(2)


def included(seq, hash_hex, proof, size, root):
    """RFC 9162 2.1.3.2: follow the audit path of leaf seq - 1 to the root."""
    fn, sn = seq - 1, size - 1
    node = hashlib.sha256(b"\x00" + bytes.fromhex(hash_hex)).digest()
    for sibling in map(bytes.fromhex, proof):
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            node = hashlib.sha256(b"\x01" + sibling + node).digest()
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            node = hashlib.sha256(b"\x01" + node + sibling).digest()
        fn, sn = fn >> 1, sn >> 1
    return sn == 0 and 1 <= seq <= size and node == root


def check(document, public_key):
    """Every failure of the checkpoint's signature and of each proof, and what was and was not
    checked, in words."""
    text, lines, signatures = tool.split_checkpoint(document["checkpoint"])
    failures = tool._check_signature(text, signatures, public_key)
    size, root = int(lines[1]), base64.b64decode(lines[2], validate=True)
    said = [  # the origin names the ledger: compare it with the one the document prints
        f"checked: the checkpoint's signature by {public_key.split('+')[0]}: ledger "
        f"{lines[0][:100]!r}, {size} events"
    ]
    if "events" in document:  # a statement: every event, its hash recomputed from its fields
        seqs = [entry["seq"] for entry in document["events"]]
        if seqs != sorted(set(seqs)):  # each event once, in ledger order: a copy or swap is an edit
            failures.append("events: not each listed once in ascending seq order")
        for entry in document["events"]:
            if tool.event_hash(entry["prev_hash"], entry["event"]) != entry["hash"]:
                failures.append(f"event {entry['seq']}: its fields do not give its hash")
            elif not included(entry["seq"], entry["hash"], entry["proof"], size, root):
                failures.append(f"event {entry['seq']}: not included under the signed root")
        said.append(
            f"checked: each of the {len(seqs)} events listed: its hash recomputed from its "
            "fields, and its place under the signed root"
        )
        said.append(
            "NOT checked: events the statement does not list, and its printed pages (check the "
            "PDF's own signature: pdfsig)"
        )
        return failures, said, len(seqs), size
    head = document["head"]  # a report: its head event
    if not included(head["seq"], head["hash"], document["proof"], size, root):
        failures.append(f"head event {head['seq']}: not included under the signed root")
    said.append(f"checked: the report's head event {head['seq']}:{head['hash']} is under the root")
    said.append(
        "NOT checked: what the report's pages say (check the PDF's own signature: pdfsig), nor "
        "that they print this head (compare its 'Ledger head' line)"
    )
    return failures, said, 1, size


try:  # unreadable input is exit 2, as for the verifier (a private key is never echoed)
    public_key = tool.read_public_key(Path(key_path))
except (tool.Unreadable, OSError) as exc:
    print(f"Error: {exc}", file=sys.stderr)
    sys.exit(2)
try:  # a file that is not such a document: a missing field, a wrong type, hex that is none
    with open(proofs_path, encoding="utf-8") as proofs_file:
        failures, said, checked, size = check(json.load(proofs_file), public_key)
except (tool.Unreadable, OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
    print(
        f"Error: {proofs_path}: not embedded proofs ({type(exc).__name__}: {exc})", file=sys.stderr
    )
    sys.exit(2)
for failure in failures:
    print("FAIL", failure)
for line in said:
    print(line)
noun = "event" if checked == 1 else "events"
verdict = "FAILED" if failures else "ok"
print(f"{checked} {noun} checked against the signed checkpoint of {size} events: {verdict}")
sys.exit(1 if failures else 0)
