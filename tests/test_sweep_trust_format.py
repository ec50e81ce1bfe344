"""Sweep of issue 15 from the written format: the vectors an outsider implements against.

The vectors file had no signed checkpoint and no proofs, so a reader implementing section 4 of
docs/ledger-format.md from scratch had nothing to check the key ID, the signature line or an
audit path against; it now has them (made with a key whose seed is given), and each is checked
here by the implementation, by the stand-alone verifier and by hand from the RFCs. The canonical
encoding is also compared with an independent RFC 8785 library (`rfc8785`) on generated values,
and on the edge cases where UTF-16 and code-point key order differ.
"""

import base64
import hashlib
import importlib.util
import json
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import rfc8785
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st

from sampleloans.errors import InvalidInput
from sampleloans.ledger import chain, merkle
from sampleloans.ledger import checkpoint as notes

ROOT = Path(__file__).resolve().parent.parent
VECTORS = json.loads((ROOT / "tests" / "vectors" / "ledger-vectors.json").read_text("utf-8"))
SAFE = 2**53 - 1


def load_tool() -> ModuleType:
    spec = importlib.util.spec_from_file_location("verify_ledger", ROOT / "tools/verify_ledger.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


tool = load_tool()


def sha(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def test_the_checkpoint_vector_by_hand_by_the_tool_and_by_the_implementation() -> None:
    vector = VECTORS["checkpoint"]
    seed = sha(vector["seed_text"].encode())
    public = Ed25519PrivateKey.from_private_bytes(seed).public_key().public_bytes_raw()
    # the key ID by the written rule: SHA-256(name || 0x0A || 0x01 || key)[:4]
    key_id_input = b"naoc.example/ledger\n\x01" + public
    assert key_id_input.hex() == vector["key_id_input_hex"]
    assert sha(key_id_input)[:4].hex() == vector["key_id_hex"]
    material = base64.b64encode(b"\x01" + public).decode()
    assert vector["public_key"] == f"naoc.example/ledger+{vector['key_id_hex']}+{material}"
    assert vector["fingerprint"] == "SHA256:" + hashlib.sha256(public).hexdigest()
    # the note: the text, a blank line, "— name base64(key ID || signature)"
    text = vector["text"]
    lines = text.split("\n")
    origin = f"sampleloans/ledger/{VECTORS['genesis']['ledger_id']}"
    assert lines[:4] == [origin, "3", VECTORS["merkle"]["root_base64"], f"head {VECTORS['head']}"]
    blob = base64.b64decode(vector["note"].removeprefix(text + "\n— naoc.example/ledger "))
    assert blob[:4].hex() == vector["key_id_hex"]
    assert tool.ed25519_verify(public, text.encode(), blob[4:])
    assert not tool.ed25519_verify(public, text.replace("\n3\n", "\n2\n").encode(), blob[4:])
    # the implementation signs the same bytes (Ed25519 is deterministic) and reads them back
    signer = notes.parse_signer_key(vector["private_key"])
    assert notes.sign_note(text, signer) == vector["note"]
    opened = notes.verify_checkpoint(vector["note"], notes.parse_verifier_key(vector["public_key"]))
    assert opened.text() == text
    # and the stand-alone verifier accepts it against the example events
    summary, failures = tool.check_chain(
        VECTORS["genesis"]["ledger_id"], iter(VECTORS["events"]), {3}
    )
    assert failures == []
    assert tool.check_checkpoint(vector["note"], summary, vector["public_key"]) == []


def _leaf(index: int) -> bytes:
    return sha(b"\x00" + bytes.fromhex(VECTORS["events"][index]["hash"]))


def _node(left: bytes, right: bytes) -> bytes:
    return sha(b"\x01" + left + right)


def test_the_proof_vectors_follow_from_rfc_6962_by_hand() -> None:
    leaf0, leaf1, leaf2 = _leaf(0), _leaf(1), _leaf(2)
    root3 = _node(_node(leaf0, leaf1), leaf2)  # MTH(D[3]), k = 2
    assert root3.hex() == VECTORS["merkle"]["root_hex"]
    expected_paths = {0: [leaf1, leaf2], 1: [leaf0, leaf2], 2: [_node(leaf0, leaf1)]}
    for entry in VECTORS["proofs"]["inclusion"]:
        index = entry["index"]
        path = [bytes.fromhex(node) for node in entry["path_hex"]]
        assert path == expected_paths[index]
        assert bytes.fromhex(entry["leaf_hash_hex"]) == _leaf(index)
        assert merkle.verify_inclusion(index, 3, _leaf(index), path, root3)
        assert not merkle.verify_inclusion(index, 3, _leaf((index + 1) % 3), path, root3)
    expected_proofs = {1: [leaf1, leaf2], 2: [leaf2]}
    old_roots = {1: leaf0, 2: _node(leaf0, leaf1)}
    for entry in VECTORS["proofs"]["consistency"]:
        old = entry["old_size"]
        proof = [bytes.fromhex(node) for node in entry["proof_hex"]]
        assert proof == expected_proofs[old]
        assert merkle.verify_consistency(old, 3, old_roots[old], root3, proof)
        assert not merkle.verify_consistency(old, 3, old_roots[old], leaf2, proof)


@pytest.mark.parametrize("vector", VECTORS["jcs"], ids=lambda v: v["name"])
def test_every_canonical_vector_is_what_an_independent_rfc8785_library_writes(
    vector: dict[str, str],
) -> None:
    value = json.loads(vector["input"])
    assert rfc8785.dumps(value).decode("utf-8") == vector["canonical"]


def test_keys_that_order_differently_in_utf16_and_by_code_point() -> None:
    value = {"a\uffff": 2, "a\U00010000": 1, "\ue000": 3, "\U0001f600": 4, "": 0}
    text = rfc8785.dumps(value).decode("utf-8")
    assert text == '{"":0,"a\U00010000":1,"a\uffff":2,"\U0001f600":4,"\ue000":3}'
    assert chain.canonical(value) == text == tool.jcs(value)


_keys = st.text(
    st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=4
) | st.sampled_from(["\ue000", "\uffff", "\U00010000", "\U0001f600", "a\uffff", "a\U00010000"])
_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-SAFE, max_value=SAFE)
    | st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=8)
)
_values = st.recursive(
    _scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_keys, inner, max_size=5),
    max_leaves=20,
)


@settings(max_examples=400, deadline=None)
@given(_values)
def test_the_canonical_encoding_agrees_with_rfc8785_and_the_stand_alone_tool(value: Any) -> None:
    expected = rfc8785.dumps(value).decode("utf-8")
    assert chain.canonical(value) == expected
    assert tool.jcs(value) == expected


@pytest.mark.parametrize("number", [SAFE + 1, -SAFE - 1, 2**64, 0.5, -0.0, float("inf")])
def test_numbers_the_profile_refuses_both_implementations_refuse(number: Any) -> None:
    with pytest.raises(InvalidInput):
        chain.canonical({"mass_ug": number})
    with pytest.raises(ValueError):
        tool.jcs({"mass_ug": number})
