"""The ledger edited underneath the program (sweep s20, integrity): an attacker with write access
to the SQLite file cuts the last events off or edits the head event (dropping and re-creating the
append-only triggers), puts an older copy back under a kept checkpoint, or stamps an unknown
schema revision. The next write (a single command or an import) must refuse, exit 3, in one line
naming what is wrong, and write nothing; a report must refuse to print projections edited by hand.
"""

import shutil
import sqlite3
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sampleloans.cli import app
from tests.conftest import COMPLIANCE, CURATOR, demo_env, fingerprint

VAULT_SAMPLE = "CE5C0400YJFM00901"
"""A sample of the demo in the vault, which a curator may move."""
RECREATE_DELETE = """CREATE TRIGGER ledger_event_no_delete BEFORE DELETE ON ledger_event
       BEGIN SELECT RAISE(ABORT, 'ledger events are append-only: record a correction'); END;"""
RECREATE_UPDATE = """CREATE TRIGGER ledger_event_no_update BEFORE UPDATE ON ledger_event
       BEGIN SELECT RAISE(ABORT, 'ledger events are append-only: record a correction'); END;"""


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo ledger, made once; each test tampers with its own copy."""
    return Path(demo_env(tmp_path_factory, COMPLIANCE)["SAMPLELOANS_DB"])


@pytest.fixture
def ledger(demo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """This test's copy of the demo ledger, as SAMPLELOANS_DB."""
    path = tmp_path / "ledger.db"
    shutil.copy(demo, path)
    monkeypatch.setenv("SAMPLELOANS_DB", str(path))
    monkeypatch.setenv("SAMPLELOANS_NOW", "2026-06-01T00:00:00Z")
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.delenv("SAMPLELOANS_USER", raising=False)
    return path


def tamper(path: Path, script: str) -> None:
    """Change the file with sqlite3, outside the application (foreign keys off, its default)."""
    connection = sqlite3.connect(path)
    try:
        connection.executescript(script)
        connection.commit()
    finally:
        connection.close()


def last_seq(path: Path) -> int:
    """The ledger's last event seq."""
    with sqlite3.connect(path) as connection:
        return int(connection.execute("SELECT max(seq) FROM ledger_event").fetchone()[0])


def cli(*args: str, who: str = CURATOR) -> tuple[int, str, str]:
    """Run the CLI as `who`; its exit code, stdout and stderr."""
    result = CliRunner().invoke(app, ["--as", who, *args])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.stdout, result.stderr


def move() -> tuple[int, str, str]:
    """A curator's `samples move`, the cheapest write."""
    return cli("samples", "move", VAULT_SAMPLE, "--location", "NAOC N2 cabinet C")


def assert_refused(path: Path, what: str) -> None:
    """The next write refuses with exit 3 in one line naming `what`, and writes nothing."""
    before = fingerprint(path)
    code, out, err = move()
    assert code == 3, (out, err)
    assert err.startswith("Error: the ledger was changed outside sampleloans: "), err
    assert what in err and "nothing was written" in err and "sampleloans verify" in err, err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert fingerprint(path) == before


def test_a_clean_ledger_is_written_as_before(ledger: Path) -> None:
    """The guard passes an untouched ledger: the move is the next event."""
    before = last_seq(ledger)
    code, out, err = move()
    assert code == 0, err
    assert f"event {before + 1}" in out
    assert last_seq(ledger) == before + 1


def test_cut_tail_with_triggers_recreated_refuses_the_next_write(ledger: Path) -> None:
    """The last two events removed (triggers dropped and put back): the index still names them."""
    head = last_seq(ledger)
    tamper(
        ledger,
        f"DROP TRIGGER ledger_event_no_delete; DELETE FROM ledger_event WHERE seq > {head - 2};"
        + RECREATE_DELETE,
    )
    assert_refused(ledger, f"names event {head} but the ledger ends at event {head - 2}")


def test_cut_tail_with_its_rows_removed_too_is_refused_by_the_kept_checkpoint(
    ledger: Path, tmp_path: Path
) -> None:
    """A careful cut (events, their index and their rows) still leaves the kept checkpoint."""
    key = tmp_path / "cp.key"
    code, _, err = cli("keys", "generate", "--name", "naoc", "--out", str(key))
    assert code == 0, err
    code, _, err = cli("checkpoint", "--key", str(key), "--out", str(tmp_path / "cp.txt"))
    assert code == 0, err
    head = last_seq(ledger)
    tables = ("event_subject", "inventory", "extension", "shipment", "weighing", "consumption")
    removed = "".join(f"DELETE FROM {table} WHERE seq > {head - 1};" for table in tables)
    tamper(
        ledger,
        "DROP TRIGGER ledger_event_no_delete;"
        f"{removed} DELETE FROM ledger_event WHERE seq > {head - 1};" + RECREATE_DELETE,
    )
    assert_refused(ledger, f"a kept checkpoint covers {head} events but the ledger ends at event")


def test_edited_head_event_refuses_the_next_write(ledger: Path) -> None:
    """The head's payload edited in place: its hash no longer recomputes."""
    head = last_seq(ledger)
    tamper(
        ledger,
        "DROP TRIGGER ledger_event_no_update;"
        f"UPDATE ledger_event SET payload = replace(payload, 'all samples', 'ALL samples') "
        f"WHERE seq = {head};" + RECREATE_UPDATE,
    )
    assert_refused(ledger, f"event {head} (the last) does not match its stored hash")


def test_rehashed_head_event_that_no_longer_links_refuses_the_next_write(ledger: Path) -> None:
    """The head's prev_hash pointed elsewhere: it no longer links to its predecessor."""
    head = last_seq(ledger)
    with sqlite3.connect(ledger) as connection:
        other = connection.execute("SELECT hash FROM ledger_event WHERE seq = 1").fetchone()[0]
    from sampleloans.ledger import chain

    with sqlite3.connect(ledger) as connection:
        connection.row_factory = sqlite3.Row
        row = connection.execute("SELECT * FROM ledger_event WHERE seq = ?", (head,)).fetchone()
    body = {name: row[name] for name in chain.BODY_FIELDS}
    rehashed = chain.link_hash(other, body)
    tamper(
        ledger,
        "DROP TRIGGER ledger_event_no_update;"
        f"UPDATE ledger_event SET prev_hash = '{other}', hash = '{rehashed}' WHERE seq = {head};"
        + RECREATE_UPDATE,
    )
    assert_refused(ledger, f"event {head} (the last) does not link to event {head - 1}'s hash")


def test_unknown_schema_revision_refuses_the_next_write(ledger: Path) -> None:
    """A version table stamped with a revision this release does not know."""
    tamper(ledger, "UPDATE alembic_version SET version_num = '9999_from_the_future';")
    assert_refused(ledger, "'9999_from_the_future', which this release does not know")


def test_import_refuses_a_cut_ledger_too(ledger: Path, tmp_path: Path) -> None:
    """`import` goes through the same guard (once for the whole import)."""
    head = last_seq(ledger)
    tamper(
        ledger,
        f"DROP TRIGGER ledger_event_no_delete; DELETE FROM ledger_event WHERE seq > {head - 1};"
        + RECREATE_DELETE,
    )
    catalogue = tmp_path / "catalogue.csv"
    catalogue.write_text(
        "code,mission,origin,depth_top_cm,depth_bottom_cm,material_type,physical_form,"
        "purpose_class,mass,mass_source,storage_location,condition,record,source\n"
        "BULK0001,CE-5,scoop,,,regolith,powder,research,1 mg,illustrative,A,,,\n",
        encoding="utf-8",
    )
    before = fingerprint(ledger)
    code, out, err = cli("import", str(catalogue))
    assert code == 3, (out, err)
    assert "the ledger was changed outside sampleloans" in err, err
    assert fingerprint(ledger) == before


@pytest.mark.parametrize(
    ("args", "subject"),
    [
        (("custody", "--loan", "L-2025-OU"), "loan L-2025-OU"),
        (("return", "--loan", "L-2025-OU"), "loan L-2025-OU"),
        (("inventory", "--loan", "L-2025-OU"), "loan L-2025-OU"),
        (("custody", "--institution", "OU"), "institution OU"),
        (("custody", "--sample", "CE5C0200YJFM00112"), "sample CE5C0200YJFM00112"),
    ],
)
def test_report_refuses_projection_edited_by_hand(
    ledger: Path, tmp_path: Path, args: tuple[str, ...], subject: str
) -> None:
    """A mass edited in a projection table is never printed: the report names the record and
    says to run verify (exit 1), and writes no file."""
    out_file = tmp_path / "report.pdf"
    code, _, err = cli("report", *args, "--out", str(out_file))
    assert code == 0, err  # clean: the report is made
    out_file.unlink()
    tamper(
        ledger,
        "UPDATE loan_item SET issued_ug = issued_ug + 1000, held_ug = held_ug + 1000 "
        "WHERE loan_number = 'L-2025-OU' AND sample_code = 'CE5C0200YJFM00112';"
        "UPDATE sample SET on_loan_ug = on_loan_ug + 1000 WHERE code = 'CE5C0200YJFM00112';",
    )
    code, out, err = cli("report", *args, "--out", str(out_file))
    assert code == 1, (out, err)
    assert err.startswith(f"Error: {subject}: the ledger's tables differ from what its events"), err
    assert "run 'sampleloans verify'" in err and len(err.strip().splitlines()) == 1
    assert not out_file.exists()


def test_report_refuses_custodian_edited_by_hand(ledger: Path, tmp_path: Path) -> None:
    """A custodian changed by hand in the sample table."""
    tamper(ledger, f"UPDATE sample SET custodian = 'OU' WHERE code = '{VAULT_SAMPLE}';")
    out_file = tmp_path / "report.pdf"
    code, _, err = cli("report", "custody", "--sample", VAULT_SAMPLE, "--out", str(out_file))
    assert code == 1, err
    assert f"sample {VAULT_SAMPLE}: the ledger's tables differ" in err
    assert not out_file.exists()


def test_dropped_trigger_refuses_the_next_write(ledger: Path) -> None:
    """A ledger left unprotected (an append-only trigger dropped) is not written to."""
    tamper(ledger, "DROP TRIGGER ledger_event_no_delete;")
    assert_refused(ledger, "the append-only trigger ledger_event_no_delete is missing")


def test_neutered_trigger_refuses_the_next_write(ledger: Path) -> None:
    """A twin that never fires (`WHEN 0`) is caught by its definition."""
    tamper(
        ledger,
        "DROP TRIGGER ledger_event_no_update;"
        + RECREATE_UPDATE.replace("ON ledger_event", "ON ledger_event WHEN 0"),
    )
    assert_refused(ledger, "the append-only trigger ledger_event_no_update was altered")
