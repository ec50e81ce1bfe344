"""Sweep s22 (compliance officer): a statement built on a checkpoint older than the ledger.

Found: after OU's loan was extended (event 108, after the newest checkpoint of 107 events),
`report statement --institution OU` wrote, without a word, a statement telling the PI their return
was "overdue by 42 days", while `status` said "due 2026-11-05 (142 days left)"; `notify` e-mailed
that statement beside an overdue notice (read at the head) that no longer listed OU. A statement
is built on its checkpoint by design (its proofs are against it): now both commands say which
later events of the statements' loans it does not show, and what to do (a note on stderr, exit
0), and the statement itself (layout 10) says "Ledger as of" the time its checkpoint was
signed, under "Generated at". `notify` also named the checkpoint by its size as if it were its
number ("for checkpoint 107"); it says "for the checkpoint of 107 events".
"""

from pathlib import Path
from typing import Any

import pytest
from sqlmodel import Session

from tests.i15_statement_helpers import CURATOR, checkpointed_copy, env_for, invoke

LATER = "2026-06-16T10:00:00Z"


@pytest.fixture
def extended(demo: Path, tmp_path: Path) -> dict[str, Any]:
    """A copy of the demo with a checkpoint of its head, then OU's loan extended after it."""
    made = checkpointed_copy(demo, tmp_path)
    env = env_for(made["db"], now=LATER)
    done = invoke(env, "loans", "extend", "L-2025-OU", "--period", "6 months", "--approver",
                  CURATOR, "--reason", "beam time")  # fmt: skip
    assert done.exit_code == 0, done.stderr
    return {**made, "env": env, "extension": made["size"] + 1}


def statement_of(extended: dict[str, Any], institution: str, folder: Path) -> tuple[Any, Path]:
    """`report statement --institution` into `folder`/st, which must succeed: the result and
    the folder."""
    out = folder / "st"
    done = invoke(extended["env"], "report", "statement", "--institution", institution,
                  "--out", str(out))  # fmt: skip
    assert done.exit_code == 0, done.stderr
    return done, out


def test_a_statement_says_which_later_events_of_its_loans_it_does_not_show(
    extended: dict[str, Any], tmp_path: Path
) -> None:
    done, out = statement_of(extended, "OU", tmp_path)
    assert [p.name for p in out.iterdir()] == ["statement-anand-at-open.example.pdf"]
    assert done.stderr == (
        f"Note: event {extended['extension']} about L-2025-OU came after the checkpoint of "
        f"{extended['size']} events the statements are built on, so they do not show it (an "
        "extension, a recall or a return changes what is owed, a rename or a change of place what "
        "is printed); a new "
        "checkpoint, signed by the lender's curator ('sampleloans checkpoint --key FILE'), "
        "includes them: make the statements again on it.\n"
    )


def test_a_statement_of_loans_no_later_event_touched_has_no_note(
    extended: dict[str, Any], tmp_path: Path
) -> None:
    done, _out = statement_of(extended, "Osaka", tmp_path)
    assert done.stderr == ""


def test_notify_says_it_too_and_names_the_checkpoint_by_its_size(
    extended: dict[str, Any], tmp_path: Path
) -> None:
    outbox = tmp_path / "outbox"
    done = invoke(extended["env"], "notify", "--outbox", str(outbox))
    assert done.exit_code == 0, done.stderr
    assert f"for the checkpoint of {extended['size']} events." in done.stdout
    assert f"for checkpoint {extended['size']}" not in done.stdout
    assert done.stderr.startswith(f"Note: event {extended['extension']} about L-2025-OU came after")
    assert done.stderr.endswith(
        "includes them: sign one, then run notify again (it sends the statements again).\n"
    )


def test_the_service_finds_nothing_left_out_at_the_head(demo: Path, tmp_path: Path) -> None:
    from datetime import UTC, datetime

    from sampleloans.db import make_engine
    from sampleloans.services.statement import (
        build_statements,
        checkpoint_ref,
        events_not_shown,
        newest_kept_note,
    )
    from tests.conftest import ctx_for

    made = checkpointed_copy(demo, tmp_path)
    now = datetime(2026, 6, 16, 10, tzinfo=UTC)
    with Session(make_engine(f"sqlite:///{made['db']}")) as session:
        note = newest_kept_note(session)
        assert note is not None
        checkpoint = checkpoint_ref(note, "checkpoint")
        built = build_statements(
            session, ctx_for(CURATOR, now), checkpoint, institution="OU", generated_at=now
        )
        assert len(built) == 1 and events_not_shown(session, built) is None
        assert events_not_shown(session, []) is None


def statement_words(path: Path) -> str:
    """A PDF's text with every run of white space one space."""
    from pypdf import PdfReader

    return " ".join(" ".join(page.extract_text() for page in PdfReader(path).pages).split())


def test_the_statement_says_the_moment_its_ledger_stood_at(
    extended: dict[str, Any], tmp_path: Path
) -> None:
    """Statement layout 10: "Ledger as of" the checkpoint's signing time, under "Generated at"."""
    from tests.i15_statement_helpers import NOW

    _done, out = statement_of(extended, "OU", tmp_path)
    [pdf] = out.iterdir()
    text = statement_words(pdf)
    signed = NOW.replace("T", " ")[:16] + " UTC"  # the checkpoint was signed at the helpers' NOW
    assert (
        f"Generated at 2026-06-16 10:00 UTC Ledger as of {signed}, when the checkpoint was signed: "
        "what was recorded later (an extension, a return) is not in this statement"
    ) in text
    checked = invoke(extended["env"], "verify-document", str(pdf))
    assert checked.exit_code == 0 and "verified against the ledger" in checked.stdout


def test_a_layout_9_statement_still_verifies_byte_for_byte(tmp_path: Path) -> None:
    import shutil

    from tests.conftest import GOLDEN

    golden = GOLDEN / "statement-layout9-muenker.pdf"
    assert "Ledger as of" not in statement_words(golden)
    shutil.copy(GOLDEN / "ledger-statement-layout3.db", tmp_path / "ledger.db")
    env = env_for(tmp_path / "ledger.db", now="2026-05-01T00:00:00Z")
    checked = invoke(env, "verify-document", str(golden))
    assert checked.exit_code == 0, checked.stdout
    assert "byte-identical to a fresh rendering" in checked.stdout
