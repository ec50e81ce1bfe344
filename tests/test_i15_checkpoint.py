"""Signed notes and checkpoints: the C2SP spec's example and Go's note test vector."""

import base64
from collections.abc import Callable

import pytest

from sampleloans.errors import InvalidInput
from sampleloans.ledger import checkpoint as cp

# golang.org/x/mod/sumdb/note's documented example key and note (note_test.go), the
# reference implementation of c2sp.org/signed-note.
GO_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
GO_SKEY = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
GO_TEXT = (
    "If you think cryptography is the answer to your problem,\n"
    "then you don't know what your problem is.\n"
)
GO_SIGNATURE = (
    "— PeterNeumann "
    "x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n"
)

# The example checkpoint of c2sp.org/tlog-checkpoint (its key is not published).
C2SP_CHECKPOINT = (
    "example.com/behind-the-sofa\n"
    "20852163\n"
    "CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
    "\n"
    "— example.com/behind-the-sofa "
    "Az3grlgtzPICa5OS8npVmf1Myq/5IZniMp+ZJurmRDeOoRDe4URYN7u5/Zhcyv2q1gGzGku9nTo+zyWE+xeMcTOAYQ8=\n"
)


def test_go_keys_round_trip_and_key_id_matches() -> None:
    verifier = cp.parse_verifier_key(GO_VKEY)
    signer = cp.parse_signer_key(GO_SKEY)
    assert verifier.key_id.hex() == "c74f20a3"
    assert signer.verifier() == verifier
    assert verifier.encode() == GO_VKEY
    assert signer.encode() == GO_SKEY


def test_signing_reproduces_the_go_note_byte_for_byte() -> None:
    signer = cp.parse_signer_key(GO_SKEY)
    assert cp.sign_note(GO_TEXT, signer) == GO_TEXT + "\n" + GO_SIGNATURE
    verifier = cp.parse_verifier_key(GO_VKEY)
    assert cp.open_note(GO_TEXT + "\n" + GO_SIGNATURE, verifier) == GO_TEXT


def test_a_changed_text_or_another_key_is_refused() -> None:
    verifier = cp.parse_verifier_key(GO_VKEY)
    note = GO_TEXT + "\n" + GO_SIGNATURE
    with pytest.raises(cp.CheckpointRefused, match="does not verify"):
        cp.open_note(note.replace("cryptography", "cryptographY"), verifier)
    other = cp.generate_signer("PeterNeumann").verifier()
    with pytest.raises(cp.CheckpointRefused, match="not signed by key"):
        cp.open_note(note, other)


def test_c2sp_example_checkpoint_parses_and_is_refused_without_its_key() -> None:
    text, signatures = cp.split_note(C2SP_CHECKPOINT)
    parsed = cp.parse_checkpoint(text)
    assert parsed.origin == "example.com/behind-the-sofa"
    assert parsed.size == 20852163
    assert parsed.root == base64.b64decode("CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=")
    assert parsed.text() == text  # our encoding of the parsed checkpoint is byte-identical
    [(name, key_id, signature)] = signatures
    assert name == "example.com/behind-the-sofa" and len(key_id) == 4 and len(signature) == 64
    stranger = cp.generate_signer("example.com/behind-the-sofa").verifier()
    with pytest.raises(cp.CheckpointRefused):
        cp.verify_checkpoint(C2SP_CHECKPOINT, stranger)


def test_checkpoint_sign_verify_and_origin() -> None:
    signer = cp.generate_signer("naoc.example/ledger")
    head = cp.Checkpoint("sampleloans/ledger/x", 3, bytes(32), ("head 3:" + "ab" * 32,))
    note = cp.sign_checkpoint(head, signer)
    assert cp.verify_checkpoint(note, signer.verifier(), origin="sampleloans/ledger/x") == head
    assert head.extension("head") == "3:" + "ab" * 32
    with pytest.raises(cp.CheckpointRefused, match="not of this ledger"):
        cp.verify_checkpoint(note, signer.verifier(), origin="sampleloans/ledger/y")
    resigned = cp.sign_checkpoint(
        cp.Checkpoint(head.origin, 2, bytes(32)), cp.generate_signer(signer.name)
    )
    with pytest.raises(cp.CheckpointRefused):
        cp.verify_checkpoint(resigned, signer.verifier())


@pytest.mark.parametrize(
    "damage",
    [
        lambda n: n[:-1],  # no final newline
        lambda n: n[: n.index("\n\n")],  # signatures cut off
        lambda n: n.replace("\n\n", "\n"),  # no blank line
        lambda n: n.replace("— ", "- "),  # not an em dash
        lambda n: n[: n.rindex(" ") + 5] + "\n",  # signature truncated
    ],
)
def test_malformed_notes_are_invalid_input(damage: Callable[[str], str]) -> None:
    signer = cp.generate_signer("k")
    note = cp.sign_checkpoint(cp.Checkpoint("o", 1, bytes(32)), signer)
    with pytest.raises((InvalidInput, cp.CheckpointRefused)):
        cp.verify_checkpoint(damage(note), signer.verifier())


@pytest.mark.parametrize(
    "text",
    [
        "o\n1\n",
        "o\n01\n" + "A" * 43 + "=\n",
        "o\n1\nAAAA\n",
        "o\n1\n" + "A" * 43 + "=\n\n",
        "\n1\nx\n",
    ],
)
def test_malformed_checkpoint_text(text: str) -> None:
    with pytest.raises(InvalidInput):
        cp.parse_checkpoint(text)


def test_bad_keys_are_invalid_input_and_never_echo_the_private_key() -> None:
    for bad in ["", "name+c74f20a3", GO_VKEY.replace("c74f20a3", "c74f20a4"), "a b+00000000+AA=="]:
        with pytest.raises(InvalidInput):
            cp.parse_verifier_key(bad)
    with pytest.raises(InvalidInput, match="private key file") as info:
        cp.parse_verifier_key(GO_SKEY)
    assert "AYEK" not in str(info.value)
    with pytest.raises(InvalidInput):
        cp.parse_signer_key(GO_VKEY)
    assert "AYEK" not in repr(cp.parse_signer_key(GO_SKEY))
    with pytest.raises(InvalidInput):
        cp.generate_signer("has space")
