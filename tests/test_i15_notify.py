"""Issue 15 point 6: `notify` e-mails statements and overdue notices through a real SMTP server
(aiosmtpd on loopback), never twice for the same checkpoint; an outbox is a dry run."""

import email
import sqlite3
from collections.abc import Iterator
from email.policy import default
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from tests.conftest import fingerprint
from tests.i15_statement_helpers import (
    copy_ledger,
    env_for,
    invoke,
    make_checkpoint,
    make_demo,
)
from tests.mail import SENDER, Inbox, RefusingInbox, free_port, served, smtp_settings

OSAKA_PI = "terada@osaka-u.example"


@pytest.fixture
def smtp() -> Iterator[tuple[Controller, Inbox]]:
    """A real SMTP server on 127.0.0.1 at an ephemeral port, for one test."""
    inbox = Inbox()
    with served(inbox) as controller:
        yield controller, inbox


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_demo(tmp_path_factory.mktemp("demo") / "d")


@pytest.fixture
def ledger(demo: Path, tmp_path: Path) -> dict[str, Any]:
    path = copy_ledger(demo, tmp_path / "ledger.db")
    return {"db": path, **make_checkpoint(path, tmp_path), "dir": tmp_path}


def smtp_env(ledger: dict[str, Any], port: int, **extra: str) -> dict[str, str]:
    """The CLI environment of `ledger` with `notify` pointed at the server on `port`."""
    return {**env_for(ledger["db"]), **smtp_settings(port, **extra)}


def notify(env: dict[str, str], ledger: dict[str, Any], *args: str) -> Any:
    return invoke(env, "notify", "--checkpoint", str(ledger["cp"]), *args)


def sent_rows(ledger: dict[str, Any]) -> list[tuple[str, str, str]]:
    with sqlite3.connect(ledger["db"]) as connection:
        try:
            return connection.execute(
                "SELECT recipient, kind, scope FROM notification_sent ORDER BY id"
            ).fetchall()
        except sqlite3.OperationalError:  # the table is made on the first send
            return []


def test_statement_arrives_with_recipient_subject_and_pdf_and_is_not_sent_twice(
    ledger: dict[str, Any], smtp: Any
) -> None:
    controller, inbox = smtp
    env = smtp_env(ledger, controller.port)
    result = notify(env, ledger, "--institution", "Osaka")
    assert result.exit_code == 0, (result.stdout, result.stderr)
    recipients = sorted(r for rcpt, _m in inbox.messages for r in rcpt)
    assert recipients == [OSAKA_PI, OSAKA_PI]  # the statement and the overdue notice
    by_subject = {m["Subject"]: (rcpt, m) for rcpt, m in inbox.messages}
    statement = next(s for s in by_subject if s.startswith("Statement of your lunar sample"))
    rcpt, message = by_subject[statement]
    assert rcpt == [OSAKA_PI] and message["To"] == OSAKA_PI and message["From"] == SENDER
    assert f"checkpoint {ledger['size']})" in statement
    (attachment,) = list(message.iter_attachments())
    assert attachment.get_filename() == "statement-terada-at-osaka-u.example.pdf"
    pdf = attachment.get_content()
    assert pdf.startswith(b"%PDF")
    saved = ledger["dir"] / "received.pdf"
    saved.write_bytes(pdf)
    check = invoke(env, "verify-document", str(saved), "--public-key", str(ledger["pub"]))
    assert check.exit_code == 0, check.stdout
    notice = next(s for s in by_subject if s.startswith("Overdue: lunar sample loans of Osaka"))
    assert [a.get_filename() for a in by_subject[notice][1].iter_attachments()] == [
        "overdue-notice-Osaka.pdf"
    ]
    assert sent_rows(ledger) == [
        (OSAKA_PI, "statement", f"pi:{OSAKA_PI}"),
        (OSAKA_PI, "overdue", "institution:Osaka"),
    ]
    again = notify(env, ledger, "--institution", "Osaka")
    assert again.exit_code == 0, again.stderr
    assert len(inbox.messages) == 2
    assert "0 sent, 2 already sent" in again.stdout


def test_a_new_checkpoint_sends_the_statements_again(
    ledger: dict[str, Any], smtp: Any, tmp_path: Path
) -> None:
    controller, inbox = smtp
    env = smtp_env(ledger, controller.port)
    assert notify(env, ledger, "--institution", "Osaka").exit_code == 0
    assert invoke(env, "loans", "inventory", "L-2025-Osaka").exit_code == 0
    newer = make_checkpoint(ledger["db"], tmp_path)
    result = notify(env, {**ledger, **newer}, "--institution", "Osaka")
    assert result.exit_code == 0, result.stderr
    assert len(inbox.messages) == 4
    assert len(sent_rows(ledger)) == 4


def test_every_institution_by_default(ledger: dict[str, Any], smtp: Any) -> None:
    controller, inbox = smtp
    result = notify(smtp_env(ledger, controller.port), ledger)
    assert result.exit_code == 0, result.stderr
    with sqlite3.connect(ledger["db"]) as connection:
        pis = {
            p
            for (p,) in connection.execute(
                "SELECT DISTINCT pi_email FROM loan WHERE status != 'closed'"
            )
        }
    statements = {m["To"] for _r, m in inbox.messages if m["Subject"].startswith("Statement")}
    assert statements == pis


def test_unreachable_server_one_line_exit_3_nothing_recorded(ledger: dict[str, Any]) -> None:
    before = fingerprint(ledger["db"])
    env = smtp_env(ledger, free_port())  # nobody listens there
    result = notify(env, ledger)
    assert result.exit_code == 3
    assert result.stderr.count("\n") == 1
    assert result.stderr.startswith("Error: SMTP 127.0.0.1:") and "cannot connect" in result.stderr
    assert fingerprint(ledger["db"]) == before


@pytest.mark.parametrize(
    ("extra", "words"),
    [
        ({"SAMPLELOANS_SMTP_HOST": ""}, "SMTP host: none configured"),
        ({"SAMPLELOANS_SMTP_PORT": "smtp"}, "SMTP port:"),
        ({"SAMPLELOANS_SMTP_FROM": "not an address"}, "SMTP from"),
        ({"SAMPLELOANS_SMTP_STARTTLS": "maybe"}, "SMTP STARTTLS"),
        ({"SAMPLELOANS_SMTP_USER": "naoc"}, "SMTP login"),
    ],
)
def test_bad_smtp_configuration_one_line_exit_3(
    ledger: dict[str, Any], extra: dict[str, str], words: str
) -> None:
    before = fingerprint(ledger["db"])
    result = notify(smtp_env(ledger, 25, **extra), ledger)
    assert result.exit_code == 3, result.stdout
    assert result.stderr.count("\n") == 1 and words in result.stderr
    assert "Traceback" not in result.stderr
    assert fingerprint(ledger["db"]) == before


def test_starttls_refused_by_a_plain_server_is_one_line(ledger: dict[str, Any], smtp: Any) -> None:
    controller, inbox = smtp
    env = smtp_env(ledger, controller.port, SAMPLELOANS_SMTP_STARTTLS="1")
    result = notify(env, ledger)
    assert result.exit_code == 3 and result.stderr.count("\n") == 1
    assert inbox.messages == [] and sent_rows(ledger) == []


def test_outbox_is_a_dry_run(ledger: dict[str, Any], smtp: Any) -> None:
    controller, inbox = smtp
    outbox = ledger["dir"] / "outbox"
    outbox.mkdir()
    env = env_for(ledger["db"])
    result = notify(env, ledger, "--institution", "Osaka", "--outbox", str(outbox))
    assert result.exit_code == 0, result.stderr
    names = sorted(p.name for p in outbox.iterdir())
    assert names == [
        "overdue-Osaka-terada_osaka-u.example.eml",
        "statement-terada_osaka-u.example.eml",
    ]
    message = email.message_from_bytes((outbox / names[1]).read_bytes(), policy=default)
    assert message["To"] == OSAKA_PI
    assert [a.get_filename() for a in message.iter_attachments()] == [
        "statement-terada-at-osaka-u.example.pdf"
    ]
    assert sent_rows(ledger) == []
    assert notify(env, ledger, "--institution", "Osaka", "--outbox", str(outbox)).exit_code == 3
    real = notify(smtp_env(ledger, controller.port), ledger, "--institution", "Osaka")
    assert real.exit_code == 0 and len(inbox.messages) == 2  # the dry run recorded nothing


def test_only_curators_notify(ledger: dict[str, Any], smtp: Any) -> None:
    controller, _inbox = smtp
    for actor in ("compliance@naoc.example", OSAKA_PI):
        env = {**smtp_env(ledger, controller.port), "SAMPLELOANS_USER": actor}
        result = notify(env, ledger)
        assert result.exit_code == 4, (actor, result.stderr)
        assert "only curators may run notify" in result.stderr


def test_subprocess_notify_reaches_the_server(ledger: dict[str, Any], smtp: Any) -> None:
    import os
    import subprocess
    import sys

    controller, inbox = smtp
    env = {**os.environ, **smtp_env(ledger, controller.port)}
    done = subprocess.run(
        [sys.executable, "-m", "sampleloans", "notify", "--checkpoint", str(ledger["cp"]),
         "--institution", "OU"],
        env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert {m["To"] for _r, m in inbox.messages} == {"anand@open.example"}


def test_signed_statements_by_mail_pass_pdfsig_and_the_trust_root(
    ledger: dict[str, Any], smtp: Any
) -> None:
    import shutil
    import subprocess

    controller, inbox = smtp
    env = smtp_env(ledger, controller.port)
    lender, signer = ledger["dir"] / "lender", ledger["dir"] / "signer"
    assert invoke(env, "keys", "lender-root", "--out", str(lender), "--name", "CNSA").exit_code == 0
    made = invoke(env, "keys", "signing-cert", "--root", str(lender), "--out", str(signer))
    assert made.exit_code == 0, made.stderr
    sign = ["--sign", "--signer-key", str(signer / "signing-key.pem"),
            "--signer-cert", str(signer / "signing-cert.pem")]  # fmt: skip
    result = notify(env, ledger, "--institution", "OU", *sign)
    assert result.exit_code == 0, result.stderr
    (statement,) = [m for _r, m in inbox.messages if m["Subject"].startswith("Statement")]
    (attachment,) = list(statement.iter_attachments())
    received = ledger["dir"] / "signed.pdf"
    received.write_bytes(attachment.get_content())
    nowhere = {
        "SAMPLELOANS_DB": str(ledger["dir"] / "none.db"),
        "SAMPLELOANS_NOW": env["SAMPLELOANS_NOW"],
    }
    check = invoke(
        nowhere,
        "verify-document", str(received), "--public-key", str(ledger["pub"]),
        "--trust-root", str(lender / "root-cert.pem"),
    )  # fmt: skip
    assert check.exit_code == 0, check.stdout
    assert "chains to the trust root" in check.stdout
    if shutil.which("pdfsig"):
        done = subprocess.run(["pdfsig", str(received)], capture_output=True, text=True, timeout=60)
        assert "Signature is Valid" in done.stdout, done.stdout


def test_a_refused_recipient_is_one_line_and_only_what_was_sent_is_recorded(
    ledger: dict[str, Any],
) -> None:
    """Since s19 the others are still sent (tests/test_sweep_s19policy_notify_refused.py)."""
    refused = "pi@suparco.example"
    inbox = RefusingInbox(refused)
    with served(inbox) as controller:
        env = smtp_env(ledger, controller.port)
        result = notify(env, ledger)
        assert result.exit_code == 3 and result.stderr.count("\n") == 1
        assert refused in result.stderr
        delivered = [rcpt[0] for rcpt, _m in inbox.messages]
        assert refused not in delivered and delivered
        assert [r for r, _k, _s in sent_rows(ledger)] == delivered
        inbox.refused = "nobody@nowhere.example"
        again = notify(env, ledger)
        assert again.exit_code == 0, again.stderr
        rows = sent_rows(ledger)
        assert len(rows) == len(set(rows)) == len(inbox.messages)  # nothing sent twice
        assert (refused, "statement", f"pi:{refused}") in rows
