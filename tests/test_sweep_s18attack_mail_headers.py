"""Sweep s18, an attacker: the sender address of `notify --outbox`, and control characters
named in messages.

Found: the dry run (`notify --outbox`) used `--smtp-from`/`SAMPLELOANS_SMTP_FROM` unchecked
(sending checks it): a carriage return in it stopped the command with a Python traceback
(`ValueError: Header values may not contain linefeed…`, exit 1), and
`'Evil <a@b.example>, x@y.example'` went into every message's `From:` (a display name and a
second address, written as the lender's). And a control character was named
`(U+000D unnamed character)`.
"""

from pathlib import Path
from typing import Any

import pytest

from tests.i15_statement_helpers import copy_ledger, env_for, invoke, make_checkpoint, make_demo


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The demo ledger with a kept checkpoint."""
    folder = tmp_path_factory.mktemp("mail")
    ledger = copy_ledger(make_demo(folder / "d"), folder / "ledger.db")
    make_checkpoint(ledger, folder)
    return env_for(ledger)


@pytest.mark.parametrize(
    ("sender", "words"),
    [
        (
            "a@b.example\r\nBcc: x@y.example",
            "Error: SMTP from: contains the control or format character '\\r' (U+000D CONTROL "
            "CHARACTER); use visible text on one line",
        ),
        (
            "Evil <a@b.example>, x@y.example",
            "Error: SMTP from: 'Evil <a@b.example>, x@y.example' is not an e-mail address",
        ),
    ],
)
def test_the_dry_run_checks_the_sender_as_sending_does(
    env: dict[str, Any], tmp_path: Path, sender: str, words: str
) -> None:
    """Before: a traceback (exit 1), or the text as the From of every .eml (exit 0)."""
    outbox = tmp_path / "ob"
    args = ("notify", "--institution", "Osaka", "--outbox", str(outbox), "--smtp-from", sender)
    result = invoke(env, *args)
    assert result.exit_code == 3, (result.stdout, repr(result.exception))
    assert result.stderr.startswith(words), result.stderr
    assert len(result.stderr.splitlines()) == 1
    assert not outbox.exists()
    # the same text from the environment, as sending reads it
    from_env = invoke({**env, "SAMPLELOANS_SMTP_FROM": sender}, *args[:-2])
    assert from_env.exit_code == 3 and from_env.stderr.startswith(words)


def test_a_plain_sender_is_the_from_of_every_message(env: dict[str, Any], tmp_path: Path) -> None:
    """Written as sending would write it (lower case)."""
    outbox = tmp_path / "ob"
    args = ("notify", "--institution", "Osaka", "--outbox", str(outbox))
    result = invoke(env, *args, "--smtp-from", "Loans@NAOC.example")
    assert result.exit_code == 0, result.stderr
    froms = {line for p in outbox.iterdir() for line in p.read_text().splitlines()
             if line.startswith("From:")}  # fmt: skip
    assert froms == {"From: loans@naoc.example"}


def test_a_control_character_in_a_name_is_called_one(env: dict[str, Any]) -> None:
    """Before: `'\\x07' (U+0007 unnamed character)`."""
    args = ("people", "add", "bell@open.example", "--name", "Bell\x07Ringer",
            "--institution", "OU", "--role", "researcher")  # fmt: skip
    result = invoke(env, *args)
    assert result.exit_code == 2
    assert "'\\x07' (U+0007 CONTROL CHARACTER)" in result.stderr
    assert "unnamed" not in result.stderr
