"""Sweep s18 (trust): `notify` as two curators (or a cron job and a curator) run it at once,
against a real SMTP server on loopback, and its outbox files as a reviewer compares them."""

import email
import os
import shutil
import subprocess
import sys
from email.policy import default
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from sampleloans import db
from sampleloans.services.notify import Delivery, already_sent, record_sent
from tests.conftest import NOW, Run
from tests.i15_statement_helpers import checkpointed_copy, env_for, invoke, make_demo
from tests.mail import Inbox, served, smtp_settings


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_demo(tmp_path_factory.mktemp("demo") / "d")


@pytest.fixture
def ledger(demo: Path, tmp_path: Path) -> dict[str, Any]:
    return checkpointed_copy(demo, tmp_path)


def _notify_process(ledger: dict[str, Any], port: int) -> "subprocess.Popen[str]":
    env = {
        **os.environ,
        **env_for(ledger["db"]),
        **ledger.get("env", {}),
        **smtp_settings(port),
    }
    return subprocess.Popen(
        [sys.executable, "-m", "sampleloans", "notify"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_two_notify_runs_at_once_send_each_message_once(ledger: dict[str, Any]) -> None:
    """Before: both runs planned the same seven messages, both sent them (each PI got their
    statement twice) and the second ended in a traceback on the record's unique index."""
    _two_runs_at_once(ledger)


def test_two_notify_runs_at_once_on_postgresql(demo_url: str, tmp_path: Path) -> None:
    """The same on PostgreSQL, where the writers' lock is an advisory lock."""
    from tests.i15_statement_helpers import CURATOR

    env = {"SAMPLELOANS_DB": demo_url, "SAMPLELOANS_NOW": "2026-06-15T09:00:00Z"}
    key = tmp_path / "lender.key"
    assert invoke(env, "keys", "generate", "--out", str(key)).exit_code == 0
    made = invoke(env, "--as", CURATOR, "checkpoint", "--key", str(key))
    assert made.exit_code == 0, made.stdout + made.stderr
    sent = _two_runs_at_once({"db": demo_url, "env": env})
    assert sent  # the demo's PIs with an open loan got their statements


def _two_runs_at_once(ledger: dict[str, Any]) -> list[tuple[str, str]]:
    """Two `notify` processes at once against one slow SMTP server: each message arrives
    once, each is recorded once, and the two closing lines add up; what arrived."""
    inbox = Inbox(delay_s=0.4)  # a relay that takes a while over each message
    with served(inbox) as controller:
        runs = [_notify_process(ledger, controller.port) for _ in range(2)]
        outputs = [run.communicate(timeout=300) for run in runs]
    for run, (stdout, stderr) in zip(runs, outputs, strict=True):
        assert run.returncode == 0, stderr
        assert stderr == "" and "Traceback" not in stdout
    delivered = [(rcpt[0], message["Subject"]) for rcpt, message in inbox.messages]
    assert delivered and len(delivered) == len(set(delivered))  # nobody got a message twice
    assert len(_recorded(str(ledger["db"]))) == len(delivered)  # each one sent is recorded, once
    totals = sorted(stdout.strip().splitlines()[-1] for stdout, _err in outputs)
    sent = [int(line.split()[1]) for line in totals]
    assert sum(sent) == len(delivered), totals  # the two closing lines add up
    return delivered


def _recorded(db: str) -> list[tuple[str, str, str]]:
    """The send record's rows, on either engine."""
    from sqlalchemy import text

    from sampleloans import db as ledger_db

    url = db if ledger_db.is_postgres_url(db) else ledger_db.url_for_path(Path(db))
    engine = ledger_db.open_engine(url)
    try:
        with engine.connect() as connection:
            rows = connection.execute(
                text("SELECT recipient, kind, scope FROM notification_sent ORDER BY id")
            ).all()
    finally:
        engine.dispose()
    return [(r, k, s) for r, k, s in rows]


def test_what_is_recorded_is_already_sent_and_recorded_once(run: Run, engine: Engine) -> None:
    """The service's check (read before sending) and record (after): a message recorded is
    already sent, and a second record of it adds nothing (since s24 `notify` sends with no
    transaction open, under a lock of its own: tests/test_sweep_s24attack_notify_lock.py)."""
    key = ("pi@brown.example", "statement", "pi:pi@brown.example", "3:abc")
    delivery = Delivery(key, "d" * 64, "<m@sampleloans>", "smtp 127.0.0.1:25")

    def sent() -> bool:
        with db.transaction(engine, write=False) as session:
            return already_sent(session, key)

    assert sent() is False
    assert run(record_sent, delivery=delivery, sent_at=NOW) is True
    assert sent() is True
    assert run(record_sent, delivery=delivery, sent_at=NOW) is False


def test_outbox_files_are_the_same_bytes_each_run(ledger: dict[str, Any]) -> None:
    """Before: each .eml had a random MIME boundary, so two dry runs of the same ledger at the
    same time differed in every file."""
    env = env_for(ledger["db"])
    folders = [ledger["dir"] / "first", ledger["dir"] / "second"]
    for folder in folders:
        result = invoke(env, "notify", "--outbox", str(folder))
        assert result.exit_code == 0, result.stderr
    names = sorted(p.name for p in folders[0].iterdir())
    assert names and names == sorted(p.name for p in folders[1].iterdir())
    for name in names:
        first = (folders[0] / name).read_bytes()
        assert first == (folders[1] / name).read_bytes(), name
        message = email.message_from_bytes(first, policy=default)
        types = [part.get_content_type() for part in message.walk()]
        assert types == ["multipart/mixed", "text/plain", "application/pdf"], name
        (attachment,) = list(message.iter_attachments())
        assert attachment.get_content().startswith(b"%PDF-"), name


def _body_lines(folder: Path, name: str) -> list[str]:
    message = email.message_from_bytes((folder / name).read_bytes(), policy=default)
    body = message.get_body(("plain",))
    assert body is not None
    text = body.get_content()
    return [line for line in text.splitlines() if line.startswith(("Total", "You hold"))]


def test_the_mail_says_the_mass_in_the_statements_words(tmp_path: Path) -> None:
    """Before: 'You hold 200.000 mg on 1 open loan(s).' for a loan issued and not yet shipped,
    and 'You hold 59.500 mg' for one with 20 mg on its way back, where the attached statement
    says 'Total lent … (issued, not yet shipped)' and '(20.000 mg of it on its way back)'."""
    from tests.conftest import CURATOR, GOLDEN

    ledger = tmp_path / "ledger.db"
    shutil.copy(GOLDEN / "ledger-statement-layout4.db", ledger)
    env = env_for(ledger, CURATOR, "2026-05-01T00:00:00Z")
    outbox = tmp_path / "outbox"
    result = invoke(env, "notify", "--outbox", str(outbox))
    assert result.exit_code == 0, result.stderr
    expected = {
        "statement-pi_brown.example.eml": "Total lent: 200.000 mg (issued, not yet shipped), "
        "on 1 open loan.",
        "statement-glotch_stonybrook.example.eml": "Total lent: 500.000 mg (shipped, not yet "
        "received), on 1 open loan.",
        "statement-anand_open.example.eml": "Total held: 59.500 mg (20.000 mg of it on its way "
        "back), on 1 open loan.",
        "statement-muenker_uni-koeln.example.eml": "Total held: 830.200 mg, on 1 open loan.",
    }
    for name, line in expected.items():
        assert _body_lines(outbox, name) == [line], name


def test_the_overdue_mail_says_1_day_late(ledger: dict[str, Any]) -> None:
    """Before: '… was due 2026-04-25 08:00 UTC, 1 days late' (the statement beside it said
    'overdue by 1 day')."""
    env = env_for(ledger["db"], now="2026-04-26T09:00:00Z")  # Osaka's return: due the 25th
    outbox = ledger["dir"] / "outbox"
    result = invoke(env, "notify", "--institution", "Osaka", "--outbox", str(outbox))
    assert result.exit_code == 0, result.stderr
    message = email.message_from_bytes(
        (outbox / "overdue-Osaka-terada_osaka-u.example.eml").read_bytes(), policy=default
    )
    body = message.get_body(("plain",))
    assert body is not None
    late = [line for line in body.get_content().splitlines() if line.startswith("  - loan")]
    assert late == [
        "  - loan L-2025-Osaka: inventory was due 2026-04-25 08:00 UTC, 1 day late",
        "  - loan L-2025-Osaka: return was due 2026-04-25 08:00 UTC, 1 day late",
    ]
