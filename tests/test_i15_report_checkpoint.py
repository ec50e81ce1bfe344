"""Issue 15 point 5 for the four reports: each names the newest kept signed checkpoint covering
its head (or says plainly that none does yet), embeds its head event's inclusion proof, and
`verify-document` checks that checkpoint with the ledger or with the public key alone."""

import io
import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from pypdf import PdfReader

from sampleloans.errors import RuleViolation
from sampleloans.ledger import checkpoint as notes
from sampleloans.ledger.merkle import MerkleTree
from sampleloans.services.reporting.checkpoint import verify_report_proof
from tests.i15_statement_helpers import (
    copy_ledger,
    env_for,
    event_hashes,
    invoke,
    make_checkpoint,
    make_demo,
)

NOW = "2026-06-15T09:00:00Z"
REPORTS = {
    "custody": ["--loan", "L-2025-Osaka"],
    "return": ["--loan", "L-2025-IPGP"],
    "overdue": ["--institution", "Osaka"],
    "inventory": ["--loan", "L-2025-Osaka"],
}


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_demo(tmp_path_factory.mktemp("demo"))


@pytest.fixture
def ledger(demo: Path, tmp_path: Path) -> Path:
    return copy_ledger(demo, tmp_path / "ledger.db")


def report(ledger: Path, kind: str, out: Path) -> Path:
    made = invoke(env_for(ledger), "report", kind, *REPORTS[kind], "--out", str(out))
    assert made.exit_code == 0, made.stderr
    return out


def text_and_meta(pdf: Path) -> tuple[str, dict[str, Any], dict[str, list[bytes]]]:
    reader = PdfReader(io.BytesIO(pdf.read_bytes()))
    text = " ".join((page.extract_text() or "") for page in reader.pages[:1])
    info: dict[str, Any] = dict(reader.metadata or {})
    meta = json.loads(str(info.get("/Keywords")))
    return " ".join(text.split()), meta, dict(reader.attachments)


def no_ledger_env(tmp_path: Path) -> dict[str, str]:
    return env_for(tmp_path / "absent" / "ledger.db")


def test_a_report_at_a_head_no_checkpoint_covers_says_so_and_names_the_command(
    ledger: Path, tmp_path: Path
) -> None:
    for kind in REPORTS:
        pdf = report(ledger, kind, tmp_path / f"{kind}.pdf")
        text, meta, attachments = text_and_meta(pdf)
        assert "Signed checkpoint none yet" in text, text[:600]
        assert "sampleloans checkpoint" in text
        assert "checkpoint" not in meta and attachments == {}
        checked = invoke(env_for(ledger), "verify-document", str(pdf))
        assert checked.exit_code == 0, checked.stdout + checked.stderr
        assert "names no signed checkpoint" in checked.stdout
    cp = make_checkpoint(ledger, tmp_path)
    offline = invoke(
        no_ledger_env(tmp_path), "verify-document", str(tmp_path / "custody.pdf"),
        "--public-key", str(cp["pub"]),
    )  # fmt: skip
    assert offline.exit_code == 1
    [line] = offline.stderr.strip().splitlines()
    assert line.startswith("Error: ") and "names no signed checkpoint" in line


def test_every_report_names_the_checkpoint_and_checks_with_ledger_and_key_alone(
    ledger: Path, tmp_path: Path
) -> None:
    cp = make_checkpoint(ledger, tmp_path)
    note_text, _sigs = notes.split_note(cp["note"])
    root_hex = notes.parse_checkpoint(note_text).root.hex()
    hashes = event_hashes(ledger)
    for kind in REPORTS:
        pdf = report(ledger, kind, tmp_path / f"{kind}.pdf")
        text, meta, attachments = text_and_meta(pdf)
        assert meta["checkpoint"] == f"{cp['size']}:{root_hex}"
        assert root_hex in text.replace(" ", "") and "naoc.example/ledger+" in text
        [embedded] = attachments["report-checkpoint.json"]
        document = json.loads(embedded)
        assert document["checkpoint"] == cp["note"]
        seq = int(meta["head"].split(":")[0])
        assert document["proof"] == [
            n.hex() for n in MerkleTree(hashes).inclusion_proof(seq - 1, cp["size"])
        ]
        with_ledger = invoke(env_for(ledger), "verify-document", str(pdf))
        assert with_ledger.exit_code == 0, with_ledger.stdout + with_ledger.stderr
        assert "is kept in the ledger and its signature verifies" in with_ledger.stdout
        offline = invoke(
            no_ledger_env(tmp_path), "verify-document", str(pdf), "--public-key", str(cp["pub"])
        )
        assert offline.exit_code == 0, offline.stdout + offline.stderr
        assert f"head event {seq} is included under the signed root" in offline.stdout
    # a key that did not sign it: one line, exit 1
    other = tmp_path / "other"
    other.mkdir()
    stranger = make_checkpoint(copy_ledger(ledger, tmp_path / "other.db"), other)
    refused = invoke(
        no_ledger_env(tmp_path), "verify-document", str(tmp_path / "custody.pdf"),
        "--public-key", str(stranger["pub"]),
    )  # fmt: skip
    assert refused.exit_code == 1
    [line] = refused.stderr.strip().splitlines()
    assert line.startswith("Error: ") and "Traceback" not in refused.stderr


def test_a_later_checkpoint_does_not_change_an_earlier_report(ledger: Path, tmp_path: Path) -> None:
    """verify-document re-renders with the checkpoint the file names, not the newest."""
    pdf = report(ledger, "custody", tmp_path / "custody.pdf")  # no checkpoint yet
    cp = make_checkpoint(ledger, tmp_path)
    again = invoke(env_for(ledger), "verify-document", str(pdf))
    assert again.exit_code == 0, again.stdout + again.stderr
    named = report(ledger, "custody", tmp_path / "named.pdf")
    assert text_and_meta(named)[1]["checkpoint"].startswith(f"{cp['size']}:")
    make_checkpoint(ledger, tmp_path)  # the same head again: a second kept checkpoint
    still = invoke(env_for(ledger), "verify-document", str(named))
    assert still.exit_code == 0, still.stdout + still.stderr


def test_a_report_naming_a_checkpoint_this_ledger_never_kept_fails(
    ledger: Path, tmp_path: Path, demo: Path
) -> None:
    other = copy_ledger(demo, tmp_path / "other.db")
    folder = tmp_path / "o"
    folder.mkdir()
    make_checkpoint(other, folder)
    pdf = report(other, "custody", tmp_path / "custody.pdf")
    result = invoke(env_for(ledger), "verify-document", str(pdf))
    assert result.exit_code == 1, result.stdout
    assert "FAIL  checkpoint: this ledger keeps no checkpoint" in result.stdout


def test_the_offline_check_refuses_a_changed_proof_head_or_checkpoint(
    ledger: Path, tmp_path: Path
) -> None:
    cp = make_checkpoint(ledger, tmp_path)
    pdf = report(ledger, "custody", tmp_path / "custody.pdf")
    _text, meta, attachments = text_and_meta(pdf)
    document = json.loads(attachments["report-checkpoint.json"][0])
    key = cp["pub"].read_text()
    fine = verify_report_proof(document, key, head=meta["head"], checkpoint_id=meta["checkpoint"])
    assert fine.problems == ()
    flipped = [("0" if n[0] != "0" else "1") + n[1:] for n in document["proof"]]
    for changed, head, named in (
        ({**document, "proof": flipped}, meta["head"], meta["checkpoint"]),
        (document, "1:" + "ab" * 32, meta["checkpoint"]),
        (document, meta["head"], "1:" + "cd" * 32),
    ):
        check = verify_report_proof(changed, key, head=head, checkpoint_id=named)
        assert len(check.problems) == 1, check
    with pytest.raises(notes.CheckpointRefused):
        resigned = notes.sign_note(
            notes.split_note(cp["note"])[0], notes.generate_signer("naoc.example/ledger")
        )
        verify_report_proof(
            {**document, "checkpoint": resigned}, key, head=meta["head"],
            checkpoint_id=meta["checkpoint"],
        )  # fmt: skip
    with pytest.raises(RuleViolation, match="the file was altered"):  # a report, altered: exit 1
        verify_report_proof({"format": "x"}, key, head=meta["head"], checkpoint_id="1:00")


def test_a_kept_checkpoint_the_ledger_no_longer_matches_refuses_the_report(
    ledger: Path, tmp_path: Path
) -> None:
    """A checkpoint kept, then the chain edited under it: the report is refused, one line."""
    make_checkpoint(ledger, tmp_path)
    with sqlite3.connect(ledger) as connection:
        connection.execute("DROP TRIGGER IF EXISTS ledger_event_no_update")
        triggers = connection.execute(
            "SELECT name FROM sqlite_master WHERE type='trigger' AND tbl_name='ledger_event'"
        ).fetchall()
        for (name,) in triggers:
            connection.execute(f"DROP TRIGGER {name}")
        connection.execute("UPDATE ledger_event SET hash = :h WHERE seq = 2", {"h": "00" * 32})
    made = invoke(env_for(ledger), "report", "custody", *REPORTS["custody"], "--out",
                  str(tmp_path / "c.pdf"))  # fmt: skip
    assert made.exit_code == 1, made.stdout
    [line] = made.stderr.strip().splitlines()
    assert line.startswith("Error: checkpoint:") and "run 'sampleloans verify'" in line
    assert not (tmp_path / "c.pdf").exists()


def test_a_report_as_of_a_moment_names_the_checkpoint_covering_that_past_head(
    ledger: Path, tmp_path: Path
) -> None:
    cp = make_checkpoint(ledger, tmp_path)
    added = invoke(env_for(ledger), "institutions", "add", "LATE", "--name", "Late Lab",
                   "--country", "CN", "--city", "Beijing", "--kind", "borrower")  # fmt: skip
    assert added.exit_code == 0, added.stderr
    now = report(ledger, "custody", tmp_path / "now.pdf")  # head 108: no checkpoint covers it
    assert "checkpoint" not in text_and_meta(now)[1]
    past = tmp_path / "past.pdf"
    made = invoke(env_for(ledger), "report", "custody", *REPORTS["custody"], "--as-of",
                  "2026-06-01T00:00:00Z", "--out", str(past))  # fmt: skip
    assert made.exit_code == 0, made.stderr
    _text, meta, _files = text_and_meta(past)
    assert int(meta["head"].split(":")[0]) <= cp["size"]
    assert meta["checkpoint"].startswith(f"{cp['size']}:")
    for env, extra in ((env_for(ledger), []), (no_ledger_env(tmp_path), ["--public-key"])):
        args = [*extra, str(cp["pub"])] if extra else []
        checked = invoke(env, "verify-document", str(past), *args)
        assert checked.exit_code == 0, checked.stdout + checked.stderr
