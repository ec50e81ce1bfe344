"""Issue 15 item 1: the written ledger format, its test vectors, and the stand-alone verifier
(tools/verify_ledger.py, written from docs/ledger-format.md) recomputing the demo's head."""

import hashlib
import importlib.util
import json
import sqlite3
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest
from sqlalchemy import Engine

from sampleloans import db
from sampleloans.demo import run_demo
from sampleloans.errors import InvalidInput
from sampleloans.ledger import chain, merkle
from sampleloans.services.verify import verify

ROOT = Path(__file__).resolve().parent.parent
VECTORS = json.loads((ROOT / "tests" / "vectors" / "ledger-vectors.json").read_text("utf-8"))
TOOL = ROOT / "tools" / "verify_ledger.py"


def load_tool() -> ModuleType:
    spec = importlib.util.spec_from_file_location("verify_ledger", TOOL)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


tool = load_tool()


@pytest.fixture(scope="module")
def demo_ledger(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo ledger, built once for this module."""
    path = tmp_path_factory.mktemp("demo15") / "ledger.db"
    engine: Engine = db.open_engine(db.url_for_path(path), create=True)
    for _step in run_demo(engine, "tester"):
        pass
    engine.dispose()
    return path


def run_tool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(TOOL), *args], capture_output=True, text=True, timeout=300
    )


@pytest.mark.parametrize("vector", VECTORS["jcs"], ids=lambda v: v["name"])
def test_canonical_json_vectors(vector: dict[str, str]) -> None:
    value = json.loads(vector["input"])
    assert chain.canonical(value) == vector["canonical"]
    assert tool.jcs(value) == vector["canonical"]


@pytest.mark.parametrize("vector", VECTORS["jcs_refused"], ids=lambda v: v["name"])
def test_values_outside_the_profile_are_refused(vector: dict[str, str]) -> None:
    value = json.loads(vector["input"])
    with pytest.raises(InvalidInput):
        chain.canonical(value)
    with pytest.raises(ValueError):
        tool.jcs(tool.parse_json(vector["input"]))


def test_rfc8785_key_order_is_by_utf16_code_units() -> None:
    # U+1F600 (surrogates D83D DE00) sorts before U+FB33 in UTF-16, after it by code point
    text = chain.canonical({"\ufb33": 1, "\U0001f600": 2})
    assert text == '{"\U0001f600":2,"\ufb33":1}'


def test_genesis_vector() -> None:
    genesis = VECTORS["genesis"]
    expected = hashlib.sha256(genesis["input"].encode("utf-8")).hexdigest()
    assert genesis["hash"] == expected
    assert chain.genesis_hash(genesis["ledger_id"]) == expected
    assert tool.genesis(genesis["ledger_id"]) == expected


def test_event_vectors_chain_to_the_head() -> None:
    prev = VECTORS["genesis"]["hash"]
    for event in VECTORS["events"]:
        assert chain.canonical(event["payload_object"]) == event["payload"]
        body = chain.event_body(
            **{k: event[k] for k in tool.BODY_FIELDS},
        )
        assert chain.canonical(body) == event["canonical_body"]
        # the hash straight from the written rule, on the literal canonical body
        by_hand = hashlib.sha256((prev + event["canonical_body"]).encode("utf-8")).hexdigest()
        assert event["prev_hash"] == prev
        assert by_hand == event["hash"] == chain.link_hash(prev, body)
        assert tool.event_hash(prev, event) == event["hash"]
        prev = event["hash"]
    assert VECTORS["head"] == f"{len(VECTORS['events'])}:{prev}"


def test_merkle_vectors() -> None:
    leaves = [bytes.fromhex(e["hash"]) for e in VECTORS["events"]]
    expected = VECTORS["merkle"]["roots_by_size_hex"]
    for size, root in enumerate(expected):
        assert merkle.root_of(leaves[:size]).hex() == root
        tree = tool.MerkleRoot()
        for data in leaves[:size]:
            tree.add(data)
        assert tree.root().hex() == root


def test_stand_alone_verifier_recomputes_the_demo_head(demo_ledger: Path) -> None:
    engine = db.open_engine(db.url_for_path(demo_ledger))
    result = verify(engine)
    engine.dispose()
    assert result.ok
    done = run_tool(str(demo_ledger), "--json")
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["ok"] and summary["head"] == result.head
    assert summary["events"] == result.events


def test_stand_alone_verifier_names_a_changed_event(demo_ledger: Path, tmp_path: Path) -> None:
    copy = tmp_path / "tampered.db"
    copy.write_bytes(demo_ledger.read_bytes())
    with sqlite3.connect(copy) as connection:
        connection.execute("DROP TRIGGER ledger_event_no_update")
        connection.execute("UPDATE ledger_event SET actor = 'mallory@naoc.example' WHERE seq = 40")
    done = run_tool(str(copy))
    assert done.returncode == 1
    assert "FAIL: event 40: hash does not match its fields" in done.stdout


def test_stand_alone_ed25519_matches_the_go_note_vector() -> None:
    import base64

    vkey = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
    text = (
        "If you think cryptography is the answer to your problem,\n"
        "then you don't know what your problem is.\n"
    )
    blob = base64.b64decode(
        "x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM="
    )
    public = base64.b64decode(vkey.split("+")[2])[1:]
    assert tool.ed25519_verify(public, text.encode(), blob[4:])
    assert not tool.ed25519_verify(public, text.replace("problem", "issue").encode(), blob[4:])


def test_stand_alone_verifier_refuses_unreadable_input(tmp_path: Path) -> None:
    bad = tmp_path / "x.jsonl"
    bad.write_text('{"format":"something else"}\n', encoding="utf-8")
    done = run_tool(str(bad))
    assert done.returncode == 2
    assert done.stderr.startswith("Error: ") and "Traceback" not in done.stderr


def test_a_float_or_huge_integer_payload_is_refused_before_anything_is_written() -> None:
    with pytest.raises(InvalidInput, match=r"outside ±\(2\^53 − 1\)"):
        chain.canonical({"mass_ug": 2**53}, "loan.issued payload")
    with pytest.raises(InvalidInput, match="fraction"):
        chain.canonical({"mass_ug": 1.5})
    assert chain.canonical({"mass_ug": 2**53 - 1}) == '{"mass_ug":9007199254740991}'
