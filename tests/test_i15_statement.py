"""Issue 15 points 5 and 6: statements to PIs, built on a signed checkpoint, with inclusion
proofs a borrower checks with the public key alone."""

import io
import json
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from pypdf import PdfReader

from sampleloans import db
from sampleloans.errors import RuleViolation
from sampleloans.ledger.checkpoint import CheckpointRefused, generate_signer
from sampleloans.ledger.envelope import Context
from sampleloans.services.statement import CheckpointRef, build_statements, verify_proofs
from tests.conftest import fingerprint
from tests.i15_statement_helpers import (
    CURATOR,
    NOW,
    another_demo,
    copy_ledger,
    env_for,
    invoke,
    make_checkpoint,
    make_demo,
    write_checkpoint,
)

OSAKA_PI = "terada@osaka-u.example"
OU_PI = "anand@open.example"


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo ledger (never written by these tests: each writer copies it)."""
    return make_demo(tmp_path_factory.mktemp("demo") / "d")


@pytest.fixture
def ledger(demo: Path, tmp_path: Path) -> dict[str, Any]:
    """A copy of the demo ledger with a key pair and a signed checkpoint of its head."""
    path = copy_ledger(demo, tmp_path / "ledger.db")
    return {"db": path, **make_checkpoint(path, tmp_path), "dir": tmp_path}


def make_statements(ledger: dict[str, Any], *args: str, code: int = 0) -> Any:
    out = ledger["dir"] / "st"
    out.mkdir(exist_ok=True)
    result = invoke(
        env_for(ledger["db"]),
        "report", "statement", *args, "--out", str(out), "--checkpoint", str(ledger["cp"]),
        "--generated-at", NOW,
    )  # fmt: skip
    assert result.exit_code == code, (result.stdout, result.stderr)
    return result


def pdf_text(path: Path) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(path).pages)


def service_statements(ledger: dict[str, Any], **scope: Any) -> list[Any]:
    from datetime import datetime

    engine = db.open_engine(db.url_for_path(ledger["db"]))
    now = datetime.fromisoformat(NOW)
    checkpoint = _ref(ledger)
    try:
        with db.transaction(engine, write=False) as session:
            ctx = Context(actor=CURATOR, os_user="tester", now=now)
            return build_statements(session, ctx, checkpoint, generated_at=now, **scope)
    finally:
        engine.dispose()


def _ref(ledger: dict[str, Any]) -> CheckpointRef:
    from sampleloans.commands.statement import checkpoint_ref

    return checkpoint_ref(ledger["note"], "checkpoint")


# --- building -----------------------------------------------------------------------------------


def test_one_statement_per_pi_with_holdings_obligations_and_events(ledger: dict[str, Any]) -> None:
    result = make_statements(ledger, "--institution", "Osaka")
    files = sorted((ledger["dir"] / "st").iterdir())
    assert [f.name for f in files] == ["statement-terada-at-osaka-u.example.pdf"]
    assert oct(files[0].stat().st_mode & 0o777) == "0o600"
    assert "statement to terada@osaka-u.example" in result.stdout
    text = pdf_text(files[0])
    with sqlite3.connect(ledger["db"]) as connection:
        held = connection.execute(
            "SELECT sample_code, held_ug FROM loan_item WHERE loan_number = 'L-2025-Osaka' "
            "AND held_ug > 0"
        ).fetchall()
        seqs = [
            s
            for (s,) in connection.execute(
                "SELECT seq FROM event_subject WHERE subject_type = 'loan' "
                "AND subject_key = 'L-2025-Osaka' ORDER BY seq"
            )
        ]
    assert held and all(code in text for code, _ug in held)
    assert "Kentaro Terada" in text and "inventory attestation" in text
    assert "overdue by 51 days" in text  # due 2026-04-25, generated 2026-06-15
    (statement,) = service_statements(ledger, pi=OSAKA_PI)
    assert statement.body.held_ug == sum(ug for _c, ug in held)
    assert [e.seq for e in statement.body.events] == seqs
    assert statement.body.checkpoint.tree_size == ledger["size"]


def test_every_pi_of_an_institution_sorted_and_the_same_bytes_twice(ledger: dict[str, Any]) -> None:
    statements = service_statements(ledger, everyone=True)
    pis = [s.request.pi for s in statements]
    assert pis == sorted(pis) and len(pis) >= 5 and OSAKA_PI in pis
    make_statements(ledger, "--pi", OU_PI)
    target = ledger["dir"] / "st" / "statement-anand-at-open.example.pdf"
    first = target.read_bytes()
    make_statements(ledger, "--pi", OU_PI, code=3)  # exists: refused
    make_statements(ledger, "--pi", OU_PI, "--force")
    assert target.read_bytes() == first


def test_statement_is_built_on_the_checkpoint_not_on_later_events(
    ledger: dict[str, Any], tmp_path: Path
) -> None:
    (before,) = service_statements(ledger, pi=OSAKA_PI)
    env = env_for(ledger["db"])
    result = invoke(env, "loans", "inventory", "L-2025-Osaka", "--note", "all there")
    assert result.exit_code == 0, result.stderr
    (after,) = service_statements(ledger, pi=OSAKA_PI)
    assert after.digest == before.digest  # the new event is after the checkpoint
    newer = make_checkpoint(ledger["db"], tmp_path)
    ledger2 = {**ledger, **newer}
    (moved,) = service_statements(ledger2, pi=OSAKA_PI)
    assert moved.digest != before.digest
    assert not [
        o for o in moved.body.obligations if o.what == "inventory attestation" and o.overdue
    ]


# --- checking ----------------------------------------------------------------------------------


def test_public_key_alone_checks_every_event_of_the_statement(
    ledger: dict[str, Any], tmp_path: Path
) -> None:
    make_statements(ledger, "--pi", OSAKA_PI)
    pdf = ledger["dir"] / "st" / "statement-terada-at-osaka-u.example.pdf"
    nowhere = {"SAMPLELOANS_DB": str(tmp_path / "no-ledger.db"), "COLUMNS": "120"}
    result = invoke(nowhere, "verify-document", str(pdf), "--public-key", str(ledger["pub"]))
    assert result.exit_code == 0, (result.stdout, result.stderr)
    (statement,) = service_statements(ledger, pi=OSAKA_PI)
    count = len(statement.body.events)
    assert f"{count} of {count} events" in result.stdout
    other = tmp_path / "other.pub"
    other.write_text(generate_signer("naoc.example/ledger").verifier().encode() + "\n")
    result = invoke(nowhere, "verify-document", str(pdf), "--public-key", str(other))
    assert result.exit_code == 1
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("Error: signed note:")


def test_an_altered_event_or_proof_is_named(ledger: dict[str, Any]) -> None:
    (statement,) = service_statements(ledger, pi=OSAKA_PI)
    from sampleloans.reports.statement import proofs_json

    proofs = json.loads(proofs_json(statement))
    key = ledger["pub"].read_text()
    assert not verify_proofs(proofs, key, digest=statement.digest).problems
    altered = json.loads(json.dumps(proofs))
    altered["events"][0]["event"]["payload"] = altered["events"][0]["event"]["payload"].replace(
        "L-2025-Osaka", "L-2025-Osakb"
    )
    problems = verify_proofs(altered, key, digest=statement.digest).problems
    assert len(problems) == 1 and "the event was altered" in problems[0]
    swapped = json.loads(json.dumps(proofs))
    swapped["events"][1]["proof"] = swapped["events"][0]["proof"]
    problems = verify_proofs(swapped, key, digest=statement.digest).problems
    assert len(problems) == 1 and "inclusion proof does not lead to the signed root" in problems[0]
    resigned = json.loads(json.dumps(proofs))
    resigned["checkpoint"] = resigned["checkpoint"].replace("\n1", "\n2", 1)
    with pytest.raises(CheckpointRefused, match="does not verify"):
        verify_proofs(resigned, key, digest=statement.digest)


def test_verify_document_with_the_ledger_and_a_changed_byte(ledger: dict[str, Any]) -> None:
    make_statements(ledger, "--pi", OSAKA_PI)
    pdf = ledger["dir"] / "st" / "statement-terada-at-osaka-u.example.pdf"
    env = env_for(ledger["db"])
    result = invoke(env, "verify-document", str(pdf))
    assert result.exit_code == 0, (result.stdout, result.stderr)
    assert "byte-identical" in result.stdout
    data = bytearray(pdf.read_bytes())
    index = data.index(b"Kentaro Terada") if b"Kentaro Terada" in data else len(data) // 2
    data[index] ^= 0x01
    changed = ledger["dir"] / "changed.pdf"
    changed.write_bytes(bytes(data))
    result = invoke(env, "verify-document", str(changed))
    assert result.exit_code in (1, 2)
    assert "verified against the ledger" not in result.stdout


def test_a_checkpoint_of_another_ledger_is_refused_and_nothing_written(
    ledger: dict[str, Any], demo: Path, tmp_path: Path
) -> None:
    other = another_demo(tmp_path / "other")
    foreign = write_checkpoint(other, tmp_path)
    before = fingerprint(ledger["db"])
    result = make_statements({**ledger, "cp": foreign["cp"]}, "--pi", OSAKA_PI, code=1)
    assert result.stderr.startswith("Error: --checkpoint:") and result.stderr.count("\n") == 1
    assert "another ledger" in result.stderr
    assert list((ledger["dir"] / "st").iterdir()) == []
    assert fingerprint(ledger["db"]) == before
    with pytest.raises(RuleViolation):
        service_statements({**ledger, "note": foreign["note"]}, pi=OSAKA_PI)


def test_researchers_get_their_own_institution_only(ledger: dict[str, Any]) -> None:
    out = ledger["dir"] / "st"
    out.mkdir()
    base = ["report", "statement", "--out", str(out), "--checkpoint", str(ledger["cp"])]
    mine = invoke(env_for(ledger["db"], actor=OSAKA_PI), *base, "--institution", "Osaka")
    assert mine.exit_code == 0, mine.stderr
    theirs = invoke(env_for(ledger["db"], actor=OSAKA_PI), *base, "--pi", OU_PI)
    assert theirs.exit_code == 2
    assert f"--pi '{OU_PI}': no such person among the records you may read" in theirs.stderr
    assert sorted(p.name for p in out.iterdir()) == ["statement-terada-at-osaka-u.example.pdf"]


@pytest.mark.parametrize(
    ("args", "code", "words"),
    [
        (["--pi", OSAKA_PI, "--institution", "Osaka"], 2, "exactly one of"),
        ([], 2, "exactly one of"),
        (["--pi", "nobody@nowhere.example"], 2, "nobody@nowhere.example"),
    ],
)
def test_bad_scopes_one_line(
    ledger: dict[str, Any], args: list[str], code: int, words: str
) -> None:
    result = make_statements(ledger, *args, code=code)
    assert result.stderr.count("\n") == 1 and words in result.stderr


def test_missing_out_folder_and_bad_checkpoint_file(ledger: dict[str, Any]) -> None:
    env = env_for(ledger["db"])
    missing = ledger["dir"] / "nowhere" / "st"  # a missing folder is made; not its parent
    result = invoke(env, "report", "statement", "--pi", OSAKA_PI, "--out", str(missing),
                    "--checkpoint", str(ledger["cp"]))  # fmt: skip
    assert result.exit_code == 3 and "--out" in result.stderr
    bad = ledger["dir"] / "bad.txt"
    bad.write_text("not a checkpoint\n")
    (ledger["dir"] / "st").mkdir()
    result = invoke(env, "report", "statement", "--pi", OSAKA_PI, "--out",
                    str(ledger["dir"] / "st"), "--checkpoint", str(bad))  # fmt: skip
    assert result.exit_code == 2 and result.stderr.startswith("Error: --checkpoint:")


def test_embedded_proofs_file_is_listed_as_an_attachment(ledger: dict[str, Any]) -> None:
    make_statements(ledger, "--pi", OSAKA_PI)
    pdf = ledger["dir"] / "st" / "statement-terada-at-osaka-u.example.pdf"
    attachments = PdfReader(io.BytesIO(pdf.read_bytes())).attachments
    (blob,) = attachments["statement-proofs.json"]
    proofs = json.loads(blob)
    assert proofs["checkpoint"] == ledger["note"]
    assert all(e["proof"] for e in proofs["events"])


# --- signed statements (PAdES, fix-15b's signing) ------------------------------------------------


def test_signed_statement_checks_offline_with_key_and_trust_root(
    ledger: dict[str, Any], tmp_path: Path
) -> None:
    import shutil
    import subprocess

    env = env_for(ledger["db"])
    lender, signer = tmp_path / "lender", tmp_path / "signer"
    made = invoke(env, "keys", "lender-root", "--out", str(lender), "--name", "CNSA Lunar Loans")
    assert made.exit_code == 0, made.stderr
    made = invoke(env, "keys", "signing-cert", "--root", str(lender), "--out", str(signer))
    assert made.exit_code == 0, made.stderr
    sign = ["--sign", "--signer-key", str(signer / "signing-key.pem"),
            "--signer-cert", str(signer / "signing-cert.pem")]  # fmt: skip
    result = make_statements(ledger, "--pi", OSAKA_PI, *sign)
    assert "signed by" in result.stdout
    pdf = ledger["dir"] / "st" / "statement-terada-at-osaka-u.example.pdf"
    data = pdf.read_bytes()
    (statement,) = service_statements(ledger, pi=OSAKA_PI)
    from sampleloans.reports.statement import render

    assert data.startswith(render(statement)) and len(data) > len(render(statement))
    nowhere = {"SAMPLELOANS_DB": str(tmp_path / "none.db"), "SAMPLELOANS_NOW": NOW}
    root = str(lender / "root-cert.pem")
    check = invoke(nowhere, "verify-document", str(pdf), "--public-key", str(ledger["pub"]),
                   "--trust-root", root)  # fmt: skip
    assert check.exit_code == 0, check.stdout
    assert "chains to the trust root" in check.stdout
    with_ledger = invoke(env, "verify-document", str(pdf), "--trust-root", root)
    assert with_ledger.exit_code == 0, with_ledger.stdout
    appended = tmp_path / "appended.pdf"
    appended.write_bytes(data + b"\n% appended after signing\n")
    check = invoke(nowhere, "verify-document", str(appended), "--public-key", str(ledger["pub"]),
                   "--trust-root", root)  # fmt: skip
    assert check.exit_code == 1
    if shutil.which("pdfsig"):
        done = subprocess.run(["pdfsig", str(pdf)], capture_output=True, text=True, timeout=60)
        assert "Signature is Valid" in done.stdout, done.stdout


def test_default_is_the_newest_kept_checkpoint_and_none_kept_is_refused(
    ledger: dict[str, Any], demo: Path, tmp_path: Path
) -> None:
    out = ledger["dir"] / "st"
    out.mkdir()
    env = env_for(ledger["db"])
    result = invoke(env, "report", "statement", "--pi", OSAKA_PI, "--out", str(out))
    assert result.exit_code == 0, result.stderr
    assert f"checkpoint of {ledger['size']} events (head {ledger['size']}:" in result.stdout
    proofs = json.loads(
        PdfReader(out / "statement-terada-at-osaka-u.example.pdf").attachments[
            "statement-proofs.json"
        ][0]
    )
    assert proofs["checkpoint"] == ledger["note"]
    bare = copy_ledger(demo, tmp_path / "bare.db")  # no checkpoint was ever made on it
    result = invoke(env_for(bare), "report", "statement", "--pi", OSAKA_PI, "--out", str(out),
                    "--force")  # fmt: skip
    assert result.exit_code == 1 and result.stderr.count("\n") == 1
    assert "run 'sampleloans checkpoint --key FILE' first" in result.stderr


def test_the_stand_alone_verifier_accepts_the_checkpoint_a_statement_names(
    ledger: dict[str, Any],
) -> None:
    import subprocess
    import sys

    events = ledger["dir"] / "events.jsonl"
    assert invoke(env_for(ledger["db"]), "export", "--events", str(events)).exit_code == 0
    tool = Path(__file__).resolve().parent.parent / "tools" / "verify_ledger.py"
    done = subprocess.run(
        [sys.executable, str(tool), str(events), "--checkpoint", str(ledger["cp"]),
         "--public-key", str(ledger["pub"])],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize(
    "damage",
    [
        lambda e: e.update(prev_hash="é" * 64),
        lambda e: e.update(proof=["zz"]),
        lambda e: e.update(proof=[1, 2]),
        lambda e: e.update(seq=10**30),
        lambda e: e["event"].update(payload=1.5),
        lambda e: e.update(event="not an object"),
    ],
    ids=["non-ascii prev", "non-hex proof", "numbers in proof", "huge seq", "float", "no body"],
)
def test_hostile_proof_entries_are_findings_not_tracebacks(
    ledger: dict[str, Any], damage: Callable[[dict[str, Any]], None]
) -> None:
    (statement,) = service_statements(ledger, pi=OSAKA_PI)
    from sampleloans.reports.statement import proofs_json

    proofs = json.loads(proofs_json(statement))
    damage(proofs["events"][0])
    check = verify_proofs(proofs, ledger["pub"].read_text(), digest=statement.digest)
    assert len(check.problems) == 1 and check.problems[0].startswith("event #1:")


def test_proofs_of_another_pis_statement_are_named(ledger: dict[str, Any]) -> None:
    from sampleloans.reports.statement import proofs_json

    (theirs,) = service_statements(ledger, pi=OU_PI)
    proofs = json.loads(proofs_json(theirs))
    check = verify_proofs(proofs, ledger["pub"].read_text(), digest=theirs.digest, pi=OSAKA_PI)
    assert check.problems == ("pi: the embedded proofs are of another PI's statement",)


def test_an_unsigned_statement_says_its_pages_are_not_covered(
    ledger: dict[str, Any], tmp_path: Path
) -> None:
    make_statements(ledger, "--pi", OSAKA_PI)
    pdf = ledger["dir"] / "st" / "statement-terada-at-osaka-u.example.pdf"
    nowhere = {"SAMPLELOANS_DB": str(tmp_path / "none.db"), "COLUMNS": "200"}
    result = invoke(nowhere, "verify-document", str(pdf), "--public-key", str(ledger["pub"]))
    assert result.exit_code == 0
    assert "the PDF itself is not signed" in result.stdout
