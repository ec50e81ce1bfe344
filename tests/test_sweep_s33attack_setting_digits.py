"""Sweep s33, hostile configuration: numbers in settings that only Python reads as numbers.

`SAMPLELOANS_LOCK_TIMEOUT` went through `float()`, which also reads `1e3`, `1_0` and digits of
other scripts (`٥`, Arabic-Indic five): each was taken as a number of seconds. `notify`'s port
went through `str.isdecimal()`, true for `٢٥`, so `SAMPLELOANS_SMTP_PORT=٢٥` sent to port 25.
Both now take ASCII digits only and refuse the rest in one line naming the setting (exit 2 for
the lock timeout, 3 for the SMTP setting, as for their other bad values).
"""

import pytest
from typer.testing import CliRunner

from sampleloans.cli import app
from sampleloans.commands.common import lock_timeout_ms
from sampleloans.errors import InvalidInput, StorageError
from sampleloans.mail import smtp_settings


@pytest.mark.parametrize("raw", ["1e3", "1_0", "\u0665", "\uff15", "inf", "5."])
def test_a_lock_timeout_in_anything_but_ascii_digits_is_refused(
    raw: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Before: 1000 s, 10 s, 5 s, 5 s (fullwidth), range error, 5 s."""
    monkeypatch.setenv("SAMPLELOANS_LOCK_TIMEOUT", raw)
    with pytest.raises(InvalidInput, match=r"^SAMPLELOANS_LOCK_TIMEOUT: .* is not a number of"):
        lock_timeout_ms()


@pytest.mark.parametrize(
    ("raw", "ms"), [("10", 10_000), ("0.5", 500), ("0", 0), (" 3600 ", 3_600_000)]
)
def test_plain_seconds_are_read_as_before(
    raw: str, ms: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SAMPLELOANS_LOCK_TIMEOUT", raw)
    assert lock_timeout_ms() == ms


def test_the_cli_names_the_setting(tmp_path: object) -> None:
    """Through the CLI: one line, exit 2, before anything is opened (no ledger needed)."""
    env = {"SAMPLELOANS_LOCK_TIMEOUT": "1e3", "SAMPLELOANS_USER": "li@naoc.example"}
    result = CliRunner().invoke(app, ["--db", f"{tmp_path}/none.db", "status"], env=env)
    assert result.exit_code == 2, result.output
    assert result.stderr == (
        "Error: SAMPLELOANS_LOCK_TIMEOUT: '1e3' is not a number of seconds; "
        "give 0 to 3600 (default 10)\n"
    )


@pytest.mark.parametrize("port", ["\u0662\u0665", "\uff12\uff15"])
def test_an_smtp_port_in_other_digits_is_refused(port: str) -> None:
    """Before: '٢٥' was port 25."""
    with pytest.raises(StorageError, match=r"^SMTP port: .* is not a port number"):
        smtp_settings(
            "127.0.0.1", port, "loans@naoc.example", starttls=None, user=None, password=None
        )
