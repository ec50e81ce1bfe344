"""Check a report's or statement's embedded proofs with the lender's public key alone."""
import hashlib
import importlib.util
import json
import sys

proofs_path, key_path, verifier_path = sys.argv[1:4]
spec = importlib.util.spec_from_file_location("verify_ledger", verifier_path)
tool = importlib.util.module_from_spec(spec)
spec.loader.exec_module(tool)
with open(proofs_path, encoding="utf-8") as proofs_file:
    document = json.load(proofs_file)
note = document["checkpoint"]
text, lines, signatures = tool.split_checkpoint(note)
with open(key_path, encoding="utf-8") as key_file:
    public_key = key_file.read().strip()
failures = tool._check_signature(text, signatures, public_key)
size, root = int(lines[1]), __import__("base64").b64decode(lines[2])


def included(seq, hash_hex, proof):
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


if "events" in document:  # a statement: every event, its hash recomputed from its fields
    seqs = [entry["seq"] for entry in document["events"]]
    if seqs != sorted(set(seqs)):  # each event once, in ledger order: a copy or swap is an edit
        failures.append("events: not each listed once in ascending seq order")
    for entry in document["events"]:
        if tool.event_hash(entry["prev_hash"], entry["event"]) != entry["hash"]:
            failures.append(f"event {entry['seq']}: its fields do not give its hash")
        elif not included(entry["seq"], entry["hash"], entry["proof"]):
            failures.append(f"event {entry['seq']}: not included under the signed root")
    checked = len(document["events"])
else:  # a report: its head event
    head = document["head"]
    if not included(head["seq"], head["hash"], document["proof"]):
        failures.append(f"head event {head['seq']}: not included under the signed root")
    checked = 1
for failure in failures:
    print("FAIL", failure)
print(f"{checked} event(s) checked against checkpoint {size}: {'FAILED' if failures else 'ok'}")
sys.exit(1 if failures else 0)
