"""Sweep s20 (several sites): two `notify` runs at once, in two processes, against a real SMTP
server on loopback that refuses one mailbox, on SQLite and on PostgreSQL.

What the README promises: no message is sent twice (the check and the record are taken under the
writers' lock), a refused mailbox is named by each run that tried it (one `Error:` line, exit 3)
and recorded by none, so the next run sends it once the mailbox is mended.
"""

import os
import sqlite3
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from tests.i15_statement_helpers import CURATOR, NOW, copy_ledger, invoke, make_demo
from tests.mail import RefusingInbox, served, smtp_settings
from tests.pgcluster import PgServer, fresh_database
from tests.test_sweep_pg_attacks import ENV, LEDGER_ID

REFUSED = "muenker@uni-koeln.example"
RUN_TIMEOUT_S = 120


@pytest.fixture
def smtp() -> Iterator[tuple[int, RefusingInbox]]:
    """A server that refuses one mailbox and takes a while over each message, so that the two
    runs overlap."""
    inbox = RefusingInbox(REFUSED, delay_s=0.15)
    with served(inbox) as controller:
        yield controller.port, inbox


def _env(database: str, port: int) -> dict[str, str]:
    """The environment of one run: the ledger, the curator, the clock, the SMTP server."""
    keep = {k: v for k, v in os.environ.items() if not k.startswith("SAMPLELOANS_")}
    return {
        **keep,
        "SAMPLELOANS_DB": database,
        "SAMPLELOANS_USER": CURATOR,
        "SAMPLELOANS_NOW": NOW,
        **smtp_settings(port),
        "SAMPLELOANS_LOCK_TIMEOUT": "60",
        "COLUMNS": "200",
        "NO_COLOR": "1",
    }


def _checkpoint(env: dict[str, str], folder: Path) -> Path:
    """A key and a kept checkpoint of the head, through the CLI; the checkpoint file."""
    key, cp = folder / "lender.key", folder / "cp.txt"
    made = invoke(env, "keys", "generate", "--out", str(key), "--name", "naoc.example/ledger")
    assert made.exit_code == 0, made.stderr
    made = invoke(env, "checkpoint", "--key", str(key), "--out", str(cp))
    assert made.exit_code == 0, made.stderr
    return cp


def _two_runs(env: dict[str, str], cp: Path) -> list[subprocess.CompletedProcess[str]]:
    """`notify --checkpoint CP` in two processes started together."""
    command = [sys.executable, "-m", "sampleloans", "notify", "--checkpoint", str(cp)]
    runs = [
        subprocess.Popen(
            command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for _ in range(2)
    ]
    done = []
    for run in runs:
        stdout, stderr = run.communicate(timeout=RUN_TIMEOUT_S)
        done.append(subprocess.CompletedProcess(run.args, run.returncode, stdout, stderr))
    return done


def _check(
    done: list[subprocess.CompletedProcess[str]],
    inbox: RefusingInbox,
    port: int,
    recorded: list[str],
) -> None:
    """No message twice; the refused mailbox named by both runs (exit 3) and recorded by none."""
    delivered = Counter((rcpt[0], str(message["Subject"])) for rcpt, message in inbox.messages)
    assert delivered and max(delivered.values()) == 1, delivered
    refusal = f"Error: SMTP 127.0.0.1:{port} refused {REFUSED}: 550 5.1.1 mailbox unavailable"
    for run in done:
        assert run.returncode == 3, (run.stdout, run.stderr)
        assert "Traceback" not in run.stderr
        assert [line for line in run.stderr.splitlines() if line.startswith("Error:")] == [
            line for line in run.stderr.splitlines() if line.startswith(refusal)
        ], run.stderr
        assert any(line.startswith(refusal) for line in run.stderr.splitlines()), run.stderr
    assert REFUSED not in recorded
    assert sorted(recorded) == sorted(r for r, _subject in delivered)


def test_two_notify_runs_at_once_on_sqlite(tmp_path: Path, smtp: tuple[int, RefusingInbox]) -> None:
    port, inbox = smtp
    path = copy_ledger(make_demo(tmp_path / "demo"), tmp_path / "ledger.db")
    env = _env(str(path), port)
    cp = _checkpoint(env, tmp_path)
    done = _two_runs(env, cp)
    with sqlite3.connect(path) as connection:
        recorded = [r for (r,) in connection.execute("SELECT recipient FROM notification_sent")]
    _check(done, inbox, port, recorded)


def test_two_notify_runs_at_once_on_postgresql(
    pg_server: PgServer, tmp_path: Path, smtp: tuple[int, RefusingInbox]
) -> None:
    port, inbox = smtp
    with fresh_database(pg_server) as url:
        made = invoke(ENV, "--db", url, "demo", "--ledger-id", LEDGER_ID)
        assert made.exit_code == 0, made.stderr
        env = _env(url, port)
        cp = _checkpoint(env, tmp_path)
        done = _two_runs(env, cp)
        with psycopg.connect(url) as connection:
            rows = connection.execute("SELECT recipient FROM notification_sent").fetchall()
        _check(done, inbox, port, [str(r) for (r,) in rows])
