"""Sweep s24, an attacker's SMTP server (a tarpit) against every other writer of the ledger.

Before: `notify` held the writers' lock while the SMTP server took each message (up to 30 s a
step), so a server that answers slowly stalled every other write until its lock timeout: a
curator's `institutions add` during it failed "the database is locked by another writer past
the lock timeout" (exit 3). Now `notify` holds a lock of its own (one `notify` run at a time
per ledger, so nothing is sent twice) and takes the writers' lock only to record a message
sent: the writer goes through while the server dawdles, and a second `notify` meanwhile waits
for the first, then says which lock it waited for.
"""

import os
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.i15_statement_helpers import checkpointed_copy, env_for, invoke, make_demo
from tests.mail import Inbox, served, smtp_settings

DATA_DELAY_S = 4.0  # the tarpit's pause over each message, well past the writers' timeout
LOCK_TIMEOUT_S = "0.5"


class Tarpit(Inbox):
    """Takes DATA_DELAY_S over each message, and says when the first one began."""

    def __init__(self) -> None:
        super().__init__(delay_s=DATA_DELAY_S)
        self.in_data = threading.Event()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        """Signal, then accept the message after the pause."""
        self.in_data.set()
        return await super().handle_DATA(server, session, envelope)


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_demo(tmp_path_factory.mktemp("tarpit") / "d")


@pytest.fixture
def ledger(demo: Path, tmp_path: Path) -> dict[str, Any]:
    return checkpointed_copy(demo, tmp_path)


@pytest.fixture
def notifying(ledger: dict[str, Any]) -> Iterator[tuple[Tarpit, "subprocess.Popen[str]"]]:
    """A `notify` process talking to the tarpit, caught inside its first DATA."""
    inbox = Tarpit()
    with served(inbox) as controller:
        env = {**os.environ, **env_for(ledger["db"]), **smtp_settings(controller.port)}
        run = subprocess.Popen(
            [sys.executable, "-m", "sampleloans", "notify", "--institution", "Osaka"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            assert inbox.in_data.wait(timeout=120), run.communicate(timeout=60)
            yield inbox, run
        finally:
            if run.poll() is None:
                run.communicate(timeout=120)


def _writer_env(ledger: dict[str, Any]) -> dict[str, str]:
    return {**env_for(ledger["db"]), "SAMPLELOANS_LOCK_TIMEOUT": LOCK_TIMEOUT_S}


def test_a_writer_is_not_stalled_by_a_slow_smtp_server(
    ledger: dict[str, Any], notifying: tuple[Tarpit, "subprocess.Popen[str]"]
) -> None:
    """Before: exit 3, 'the database is locked by another writer past the lock timeout'."""
    inbox, run = notifying
    added = invoke(
        _writer_env(ledger),
        *("institutions", "add", "TARPIT", "--name", "Tarpit U", "--country", "France"),
        *("--city", "Paris", "--kind", "borrower"),
    )
    assert not inbox.messages  # still inside the first message's DATA
    assert added.exit_code == 0, added.stderr
    assert "Added institution TARPIT" in added.stdout
    stdout, stderr = run.communicate(timeout=120)
    assert run.returncode == 0, stderr
    assert stdout.strip().splitlines()[-1].startswith("notify: 2 sent")
    assert len(inbox.messages) == 2


def test_a_second_notify_meanwhile_waits_and_names_the_lock(
    ledger: dict[str, Any], notifying: tuple[Tarpit, "subprocess.Popen[str]"]
) -> None:
    """The second run must not send what the first is sending: it waits for the notify lock,
    and past the timeout says so, nothing sent or recorded by it."""
    inbox, run = notifying
    env = {
        **_writer_env(ledger),
        **smtp_settings(1),  # never reached: the lock comes first
    }
    second = invoke(env, "notify", "--institution", "Osaka")
    assert second.exit_code == 3, second.stdout
    assert second.stderr == (
        "Error: another 'notify' is sending for this ledger and did not finish within the lock "
        "timeout; nothing was sent by this one: run it again once that one ended (or raise "
        "SAMPLELOANS_LOCK_TIMEOUT)\n"
    )
    _stdout, stderr = run.communicate(timeout=120)
    assert run.returncode == 0, stderr
    assert len(inbox.messages) == 2  # each once: the first run's
    with sqlite3.connect(ledger["db"]) as connection:
        rows = connection.execute("SELECT count(*) FROM notification_sent").fetchone()
    assert rows == (2,)


def test_the_lock_file_is_private(ledger: dict[str, Any]) -> None:
    """The `-notify` lock file beside the ledger is the owner's alone, and empty."""
    with served(Inbox()) as controller:
        env = {**env_for(ledger["db"]), **smtp_settings(controller.port)}
        done = invoke(env, "notify", "--institution", "Osaka")
    assert done.exit_code == 0, done.stderr
    lock = Path(f"{ledger['db']}-notify")
    assert lock.stat().st_mode & 0o777 == 0o600
    assert lock.stat().st_size == 0


def test_a_notify_killed_mid_message_leaves_no_lock_and_no_record(
    ledger: dict[str, Any], notifying: tuple[Tarpit, "subprocess.Popen[str]"]
) -> None:
    """SIGKILL while the server takes the first message: nothing is recorded for it, the
    notify lock dies with the process, and the next run (within a short lock timeout) sends
    what is unrecorded (at least once: README `notify`)."""
    _inbox, run = notifying
    run.kill()
    run.communicate(timeout=60)
    with sqlite3.connect(ledger["db"]) as connection:
        rows = connection.execute("SELECT count(*) FROM notification_sent").fetchone()
    assert rows == (0,)
    with served(Inbox()) as controller:
        env = {**_writer_env(ledger), **smtp_settings(controller.port)}
        again = invoke(env, "notify", "--institution", "Osaka")
    assert again.exit_code == 0, again.stderr
    assert again.stdout.strip().splitlines()[-1].startswith("notify: 2 sent")


def test_a_second_notify_through_another_path_to_the_ledger_waits_too(
    ledger: dict[str, Any],
    notifying: tuple[Tarpit, "subprocess.Popen[str]"],
    tmp_path: Path,
) -> None:
    """Found by the s24 review: the lock file was named after `--db` as typed, so a run through
    a symlink to the same ledger locked another file and could send what the first was
    sending. The lock is named after the real file now."""
    inbox, run = notifying
    link = tmp_path / "link.db"
    link.symlink_to(ledger["db"])
    env = {**_writer_env(ledger), **env_for(link), "SAMPLELOANS_LOCK_TIMEOUT": LOCK_TIMEOUT_S}
    second = invoke({**env, **smtp_settings(1)}, "notify", "--institution", "Osaka")
    assert second.exit_code == 3, second.stdout
    assert "another 'notify' is sending for this ledger" in second.stderr
    assert not Path(f"{link}-notify").exists()
    _stdout, stderr = run.communicate(timeout=120)
    assert run.returncode == 0, stderr
    assert len(inbox.messages) == 2
