"""Sweep s43, an attacker and a careless operator: names and numbers the system will not take.

Before, each of these printed a Python traceback or Python's own words:
- `--db` (or `SAMPLELOANS_DB`) naming a file with a name longer than the system allows (a
  path pasted twice): every read command, `import`, `backup` and `db upgrade` raised
  `OSError: [Errno 36] File name too long` from `Path.is_symlink`, and `verify-document` from
  `Path.exists`; `export --bag NAME` built the whole bag and then raised it at the rename;
  `checkpoint prove` given an ID of hundreds of digits raised it looking for that file.
- a folder output (`notify --outbox`, `report statement --out`, `keys lender-root --out`,
  `keys signing-cert --out`) named as the ledger's `-wal`, `-shm` or `-journal` was made: a
  folder there stops every later command on the ledger (`… beside it is a folder`).
- a whole number typed with thousands of digits (`--limit`, an ID) said `Value error, Exceeds
  the limit (4300 digits) for integer string conversion … use sys.set_int_max_str_digits()`;
  so did `restore --events` (and `import` into a new ledger) for such a number in an export.
- `SAMPLELOANS_SMTP_PORT` of thousands of digits: a ValueError traceback.
- `SAMPLELOANS_SIGNER_PASSPHRASE` holding bytes that are not UTF-8: a UnicodeEncodeError
  traceback from `keys signing-cert --p12` and `report … --sign`.
Now each is one `Error:` line naming the option or setting, and nothing is written.
"""

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from sampleloans.commands.common import whole_number
from sampleloans.errors import InvalidInput, StorageError
from sampleloans.fileio import check_output_folder
from sampleloans.mail import smtp_settings
from tests.conftest import fingerprint
from tests.i15_statement_helpers import env_for, invoke

LONG = "x" * 300  # one name over NAME_MAX (255 bytes)
DIGITS = "9" * 5000  # past the 4,300 digits int() converts


@pytest.fixture
def here(ledger: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A working folder holding a copy of the demo ledger; the commands run in it."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _one_error(result: Any, code: int, start: str) -> str:
    """The single `Error:` line of a refused run, checked: exit `code`, led by `start`."""
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    lines = result.stderr.strip().splitlines()
    assert result.exit_code == code, result.stderr
    assert len(lines) == 1 and lines[0].startswith(f"Error: {start}"), lines
    assert "Traceback" not in result.output and "set_int_max_str_digits" not in result.stderr
    return str(lines[0])


@pytest.mark.parametrize(
    "args",
    [
        ["loans", "list"],
        ["verify"],
        ["import", "cat.csv"],
        ["backup", "b.db"],
        ["db", "upgrade"],
        ["verify-document", "r.pdf"],
    ],
    ids=" ".join,
)
@pytest.mark.parametrize("db", [LONG, "a/" * 2100 + "l.db"], ids=["name", "path"])
def test_a_db_named_too_long_for_the_system_is_one_line(
    here: Path, ledger: Path, db: str, args: list[str]
) -> None:
    """Before: OSError File name too long (a traceback) from `Path.is_symlink` or `exists`."""
    if args[0] == "verify-document":  # the report is read first: a real one
        report = ["report", "custody", "--loan", "L-2025-UoC", "--out", "r.pdf"]
        assert invoke(env_for(ledger), *report).exit_code == 0
    files = sorted(os.listdir(here))
    result = invoke(env_for(here / db), *args)
    line = _one_error(result, 3, "--db: ")
    assert "File name too long" in line
    assert sorted(os.listdir(here)) == files


def test_a_bag_named_too_long_is_refused_before_it_is_built(here: Path, ledger: Path) -> None:
    """Before: the bag was built whole, then the rename raised OSError (a traceback)."""
    before = fingerprint(ledger)
    result = invoke(env_for(ledger), "export", "--bag", LONG)
    assert "File name too long" in _one_error(result, 3, f"--bag: {LONG}")
    assert sorted(os.listdir(here)) == ["ledger.db"]
    assert fingerprint(ledger) == before


def test_an_id_of_hundreds_of_digits_given_to_checkpoint_prove_is_one_line(
    here: Path, ledger: Path
) -> None:
    """Before: the check that OLD is an ID, not a file, raised OSError for such a name."""
    result = invoke(env_for(ledger), "checkpoint", "prove", "9" * 300, "1", "--out", "p.json")
    assert "is no file" in _one_error(result, 2, "OLD: ")
    assert not (here / "p.json").exists()


@pytest.mark.parametrize("suffix", ["-wal", "-shm", "-journal"])
@pytest.mark.parametrize(
    ("option", "args"),
    [
        ("--outbox", ["notify", "--institution", "UoC", "--outbox"]),
        ("--out", ["report", "statement", "--institution", "UoC", "--out"]),
        ("--out", ["keys", "lender-root", "--name", "Root", "--out"]),
    ],
    ids=["outbox", "statement", "lender-root"],
)
def test_a_new_folder_is_never_made_as_the_ledgers_sqlite_file(
    here: Path, ledger: Path, suffix: str, option: str, args: list[str]
) -> None:
    """Before: the folder was made, and every later command on the ledger said `ledger.db-wal
    beside it is a folder` (exit 3) until someone moved it away."""
    if args[0] == "report":
        made = invoke(env_for(ledger), "keys", "generate", "--out", "k")
        assert made.exit_code == 0, made.stderr
        kept = invoke(env_for(ledger), "checkpoint", "--key", "k")
        assert kept.exit_code == 0, kept.stderr
    before, files = fingerprint(ledger), sorted(os.listdir(here))
    result = invoke(env_for(ledger), *args, f"ledger.db{suffix}")
    line = _one_error(result, 2, f"{option}: ledger.db{suffix} is the {suffix} file")
    assert "SQLite" in line
    assert sorted(os.listdir(here)) == files
    assert fingerprint(ledger) == before
    assert invoke(env_for(ledger), "loans", "list").exit_code == 0


def test_a_signing_certificate_folder_is_never_made_as_the_ledgers_wal(
    here: Path, ledger: Path
) -> None:
    made = invoke(env_for(ledger), "keys", "lender-root", "--out", "root", "--name", "Root")
    assert made.exit_code == 0, made.stderr
    result = invoke(
        env_for(ledger), "keys", "signing-cert", "--root", "root", "--out", "ledger.db-wal"
    )
    _one_error(result, 2, "--out: ledger.db-wal is the -wal file")
    assert not os.path.lexists(here / "ledger.db-wal")


def test_service_level_a_new_folder_beside_a_database_is_not_its_wal(tmp_path: Path) -> None:
    (tmp_path / "other.db").write_bytes(b"SQLite format 3\x00" + bytes(84))
    with pytest.raises(InvalidInput, match="is the -journal file of the SQLite database"):
        check_output_folder(tmp_path / "other.db-journal", "--outbox")
    check_output_folder(tmp_path / "plain-wal")  # no database beside it: an ordinary name
    (tmp_path / "other.db-wal").mkdir()  # already there: written into, as any folder
    check_output_folder(tmp_path / "other.db-wal")


@pytest.mark.parametrize(
    "args",
    [
        ["loans", "list", "--limit", DIGITS],
        ["custody", "history", "--loan", "L-2025-UoC", "--offset", DIGITS],
        ["checkpoint", "show", DIGITS],
    ],
    ids=["limit", "offset", "id"],
)
def test_a_whole_number_of_thousands_of_digits_is_refused_in_words(
    ledger: Path, args: list[str]
) -> None:
    """Before: `Value error, Exceeds the limit (4300 digits) for integer string conversion`."""
    result = invoke(env_for(ledger), *args)
    line = _one_error(result, 2, "")
    assert "is a number of 5,000 digits, larger than any a ledger holds" in line
    assert "give at most 9223372036854775807" in line


def test_whole_numbers_keep_their_value_up_to_forty_digits() -> None:
    assert whole_number("50") == 50
    assert whole_number("0" * 100 + "7") == 7  # leading zeros are no magnitude
    assert whole_number("9" * 40) == int("9" * 40)  # each command names its own limit
    with pytest.raises(Exception, match="a number of 41 digits"):
        whole_number("1" + "0" * 40)


def test_an_events_export_holding_a_number_of_thousands_of_digits_is_named(
    here: Path, ledger: Path
) -> None:
    """Before: `not valid JSON (Exceeds the limit (4300 digits) …)`, Python's own words."""
    exported = invoke(env_for(ledger), "export", "--events", "ev.jsonl")
    assert exported.exit_code == 0, exported.stderr
    lines = (here / "ev.jsonl").read_text(encoding="utf-8").splitlines()
    assert lines[1].endswith('"seq":1}')
    lines[1] = lines[1].replace('"seq":1}', f'"seq":{DIGITS}}}')
    (here / "big.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    for args in (["restore", "--events", "big.jsonl"], ["import", "big.jsonl"]):
        result = invoke(env_for(here / "new.db"), *args)
        line = _one_error(result, 2, "big.jsonl line 2: the number '9999")
        assert line.endswith("has 5,000 digits; no field of an export has more than 19")
        assert not (here / "new.db").exists()


@pytest.mark.parametrize("port", [DIGITS, "0" * 5000 + "70000"])
def test_an_smtp_port_of_thousands_of_digits_is_one_line(port: str) -> None:
    """Before: ValueError from int() (a traceback through `notify`)."""
    with pytest.raises(StorageError, match=r"^SMTP port: .* is not a port number \(1-65535\)"):
        smtp_settings("mail.example", port, "a@b.example", starttls=None, user=None, password=None)


def test_an_smtp_port_with_leading_zeros_is_still_its_number() -> None:
    settings = smtp_settings(
        "mail.example", "0" * 5000 + "25", "a@b.example", starttls=None, user=None, password=None
    )
    assert settings.port == 25


def test_an_smtp_port_of_thousands_of_digits_through_notify(ledger: Path) -> None:
    env = {
        **env_for(ledger),
        "SAMPLELOANS_SMTP_HOST": "127.0.0.1",
        "SAMPLELOANS_SMTP_FROM": "loans@naoc.example",
        "SAMPLELOANS_SMTP_PORT": DIGITS,
    }
    before = fingerprint(ledger)
    _one_error(invoke(env, "notify", "--institution", "UoC"), 3, "SMTP port: '9999")
    assert fingerprint(ledger) == before


def test_a_passphrase_setting_that_is_not_utf8_is_one_line(here: Path, ledger: Path) -> None:
    """Set from bytes, as a shell would (os.environb): the variable is named, exit 2, and no
    certificate folder is made. Before: UnicodeEncodeError (a traceback)."""
    made = invoke(env_for(ledger), "keys", "lender-root", "--out", "root", "--name", "Root")
    assert made.exit_code == 0, made.stderr
    env = {k.encode(): v.encode() for k, v in os.environ.items()}
    env[b"SAMPLELOANS_SIGNER_PASSPHRASE"] = b"caf\xe9"  # latin-1, as an old profile has it
    env[b"PYTHONPATH"] = str(Path(__file__).resolve().parents[1]).encode()
    command = [sys.executable, "-m", "sampleloans", "keys", "signing-cert"]
    result = subprocess.run(
        [*command, "--root", "root", "--out", "sc", "--p12"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 2, result.stderr
    assert result.stderr == (
        "Error: SAMPLELOANS_SIGNER_PASSPHRASE: holds bytes that are not UTF-8 text; set it in "
        "UTF-8, or give the passphrase in a file (--passphrase-file, --signer-passphrase-file)\n"
    )
    assert not os.path.lexists(here / "sc")


def test_a_passphrase_setting_that_is_not_utf8_refuses_a_signed_report(
    here: Path, ledger: Path
) -> None:
    env = {**env_for(ledger), "SAMPLELOANS_SIGNER_PASSPHRASE": "caf\udce9"}  # as Python keeps it
    root = invoke(env, "keys", "lender-root", "--out", "root", "--name", "Root")
    assert root.exit_code == 0, root.stderr
    cert = invoke(env_for(ledger), "keys", "signing-cert", "--root", "root", "--out", "sc")
    assert cert.exit_code == 0, cert.stderr
    signer = ["--signer-key", "sc/signing-key.pem", "--signer-cert", "sc/signing-cert.pem"]
    args = ["report", "custody", "--loan", "L-2025-UoC", "--out", "r.pdf", "--sign", *signer]
    _one_error(invoke(env, *args), 2, "SAMPLELOANS_SIGNER_PASSPHRASE: holds bytes")
    assert not (here / "r.pdf").exists()


def test_a_passphrase_setting_longer_than_a_passphrase_file_may_be_is_refused(
    here: Path, ledger: Path
) -> None:
    """The first line of --passphrase-file is refused past 1,024 bytes; the setting took any
    length (5,000 characters made a .p12). One rule now for both, exit 2, no folder made."""
    made = invoke(env_for(ledger), "keys", "lender-root", "--out", "root", "--name", "Root")
    assert made.exit_code == 0, made.stderr
    env = {**env_for(ledger), "SAMPLELOANS_SIGNER_PASSPHRASE": "p" * 1025}
    result = invoke(env, "keys", "signing-cert", "--root", "root", "--out", "sc", "--p12")
    line = _one_error(result, 2, "SAMPLELOANS_SIGNER_PASSPHRASE: ")
    assert line.endswith("longer than a passphrase (1024 bytes)")
    assert not os.path.lexists(here / "sc")
    env["SAMPLELOANS_SIGNER_PASSPHRASE"] = "p" * 1024
    kept = invoke(env, "keys", "signing-cert", "--root", "root", "--out", "sc", "--p12")
    assert kept.exit_code == 0, kept.stderr
    assert (here / "sc" / "signing.p12").is_file()
