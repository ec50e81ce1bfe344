"""Sweep s43 "a curator puts their mistakes right": a person registered with a mistyped name.

Before: no command put a name right. A note on the `person.added` event (`custody correct SEQ
--text`) was all there was, and `people show`, `loans show`'s hand-overs, every report and
statement went on printing the typo (a PI's name on the documents they sign). After:
`people rename EMAIL --name NAME --reason TEXT` records `person.renamed` (the e-mail stays the
key; the event names the old and the new name, with the reason): every view and document made
from then on prints the new name, a report `--as-of` an earlier moment the name then, `verify`
replays it, an import of a history carries it; refused in one line, nothing recorded: the same
name, an unknown person, a researcher, a date before the person's last part.
"""

import json
from pathlib import Path

from pypdf import PdfReader

from tests.i15_statement_helpers import env_for
from tests.test_sweep_s43corrections_void_consumption import demo, event_count, run

__all__ = ["demo"]  # the fixture (a demo copy per test), shared by name

PI = "moynier@ipgp.example"  # registered as "Frédéric Moynier", PI of L-2025-IPGP
TYPO = "Frederic Moynier"


def pdf_text(path: Path) -> str:
    """The text of a PDF's pages."""
    return "\n".join(page.extract_text() for page in PdfReader(path).pages)


def test_a_rename_reaches_every_view_and_keeps_the_old_name(demo: Path) -> None:
    env = env_for(demo)
    done = run(env, "people", "rename", PI, "--name", TYPO, "--reason", "as in the contract")
    assert done.stdout.strip() == f"{PI} is now named {TYPO}; event 108."
    shown = json.loads(run(env, "people", "show", PI, "--json").stdout)
    assert shown["name"] == TYPO
    history = json.loads(run(env, "custody", "history", "--institution", "IPGP", "--json").stdout)
    (renamed,) = [e for e in history["events"] if e["kind"] == "person.renamed"]
    assert renamed["description"] == (
        f"person {PI} renamed: Frédéric Moynier → {TYPO}; reason: as in the contract"
    )
    loan = json.loads(run(env, "loans", "show", "L-2025-IPGP", "--json").stdout)
    assert {h["received_by"]["name"] for h in loan["handovers"] if h["step"] == "receive"} == {TYPO}
    now_pdf, then_pdf = demo.parent / "now.pdf", demo.parent / "then.pdf"
    report = (
        "report",
        "custody",
        "--loan",
        "L-2025-IPGP",
        "--generated-at",
        "2026-06-15T09:00:00Z",
    )
    run(env, *report, "--out", str(now_pdf))
    run(env, *report, "--out", str(then_pdf), "--as-of", "2025-12-01")
    assert TYPO in pdf_text(now_pdf) and "Frédéric" not in pdf_text(now_pdf)
    assert "Frédéric Moynier" in pdf_text(then_pdf) and TYPO not in pdf_text(then_pdf)
    run(env, "verify")


def test_a_rename_imported_from_a_history(demo: Path, tmp_path: Path) -> None:
    line = {
        "kind": "person.renamed",
        "occurred_at": "2026-06-01T00:00:00Z",
        "actor": "curator@naoc.example",
        "payload": {"email": PI, "previous_name": "Frédéric Moynier", "name": TYPO},
        "reason": "as in the contract",
        "corrects_seq": None,
    }
    history = tmp_path / "h.jsonl"
    history.write_text(json.dumps(line) + "\n", encoding="utf-8")
    env = env_for(demo)
    run(env, "import", str(history))
    assert json.loads(run(env, "people", "show", PI, "--json").stdout)["name"] == TYPO
    run(env, "verify")


def test_a_rename_that_cannot_be_is_one_line_and_records_nothing(demo: Path) -> None:
    curator, researcher = env_for(demo), env_for(demo, actor="anand@open.example")
    refusals = [
        (curator, (PI, "--name", "Frédéric Moynier"), 2, "already named Frédéric Moynier"),
        (curator, ("nobody@ipgp.example", "--name", "N"), 2, "no such person"),
        (curator, (PI, "--name", " "), 2, "--name"),
        (researcher, (PI, "--name", TYPO), 4, "only curators may rename people"),
        # the PI's return was accepted on 2025-10-08: a rename dated before it is refused
        (curator, (PI, "--name", TYPO, "--at", "2025-01-01"), 1, "before the last event"),
    ]
    for env, args, code, words in refusals:
        refused = run(env, "people", "rename", *args, "--reason", "typo", code=code)
        lines = refused.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("Error:") and words in lines[0], lines
    assert event_count(demo) == 107


def test_an_institution_renamed_reads_so_on_its_documents(demo: Path) -> None:
    """`institutions rename` (`institution.renamed`): `institutions show`, the custody report
    and, `--as-of` before it, the old name; an import carries it; a repeat is refused."""
    env = env_for(demo)
    typo = "University of Colgne"
    done = run(env, "institutions", "rename", "UoC", "--name", typo, "--reason", "typo test")
    assert done.stdout.strip() == f"UoC is now named {typo}; event 108."
    assert json.loads(run(env, "institutions", "show", "UoC", "--json").stdout)["name"] == typo
    history = json.loads(run(env, "custody", "history", "--institution", "UoC", "--json").stdout)
    (renamed,) = [e for e in history["events"] if e["kind"] == "institution.renamed"]
    assert (renamed["reason"], renamed["description"]) == (
        "typo test",
        "institution UoC renamed: University of Cologne, Institute of Geology and Mineralogy"
        f" → {typo}",
    )
    now_pdf, then_pdf = demo.parent / "now.pdf", demo.parent / "then.pdf"
    report = ("report", "custody", "--loan", "L-2025-UoC", "--generated-at", "2026-06-15T09:00:00Z")
    run(env, *report, "--out", str(now_pdf))
    run(env, *report, "--out", str(then_pdf), "--as-of", "2026-01-01")
    assert typo in pdf_text(now_pdf) and "University of Cologne" not in pdf_text(now_pdf)
    assert "University of Cologne" in pdf_text(then_pdf) and typo not in pdf_text(then_pdf)
    # a replay as of the rename itself takes it (the scoped "as of" reads the institution's
    # changes as it reads a person's)
    run(env, *report, "--out", str(then_pdf), "--as-of", "2026-06-15T09:00:00Z", "--force")
    assert typo in pdf_text(then_pdf)
    refused = run(env, "institutions", "rename", "UoC", "--name", typo, "--reason", "x", code=2)
    assert refused.stderr.strip() == (
        f"Error: --name: institution UoC is already named {typo}; nothing to rename"
    )
    researcher = env_for(demo, actor="muenker@uni-koeln.example")
    run(researcher, "institutions", "rename", "UoC", "--name", "U", "--reason", "x", code=4)
    assert event_count(demo) == 108
    run(env, "verify")
