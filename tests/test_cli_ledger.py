"""End to end through the CLI: init, demo and verify, in-process and as real subprocesses."""

import json
import os
import re
import sqlite3
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import Engine
from typer.testing import CliRunner

from sampleloans.cli import app
from tests.conftest import COMPLIANCE, fingerprint

STAFF = ("--as", COMPLIANCE)

HEAD = re.compile(r"^\d+:[0-9a-f]{64}$")


def sampleloans(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run the real command in a subprocess (python -m sampleloans)."""
    full_env = {**os.environ, "COLUMNS": "120", **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "sampleloans", *args],
        capture_output=True,
        text=True,
        env=full_env,
        timeout=120,
    )


def test_init_creates_private_ledger_with_reference_data(tmp_path: Path, runner: CliRunner) -> None:
    db = tmp_path / "new.db"
    result = runner.invoke(
        app,
        ["--db", str(db), "init", "--curator-email", "Li@NAOC.example", "--curator-name", "Li Na"],
    )
    assert result.exit_code == 0, result.output
    assert f"Created ledger {db}" in result.stdout
    assert stat.S_IMODE(db.stat().st_mode) == 0o600
    with sqlite3.connect(db) as connection:
        institutions = {r[0] for r in connection.execute("SELECT short_name FROM institution")}
        samples = {
            r[0]: r[1] for r in connection.execute("SELECT code, initial_mass_ug FROM sample")
        }
        person = connection.execute("SELECT email, role, institution FROM person").fetchall()
    assert {
        "CNSA",
        "LESEC",
        "NAOC",
        "IPGP",
        "UoC",
        "Osaka",
        "SUPARCO",
        "OU",
        "Brown",
        "SBU",
    } <= institutions
    assert samples["CE5C0400YJFM00901"] == 500_000  # 500 mg, published
    assert samples["CE5C0000YJYX048"] == 17_600  # 17.6 mg, published
    assert person == [("li@naoc.example", "curator", "NAOC")]


def test_init_refuses_to_overwrite(tmp_path: Path, runner: CliRunner) -> None:
    db = tmp_path / "new.db"
    args = ["--db", str(db), "init", "--curator-email", "li@naoc.example", "--curator-name", "Li"]
    assert runner.invoke(app, args).exit_code == 0
    before = fingerprint(db)
    again = runner.invoke(app, args)
    assert again.exit_code == 3
    assert again.stderr == (
        f"Error: --db: {db} already exists; choose another --db or use the existing one\n"
    )
    assert fingerprint(db) == before


def test_init_with_bad_email_leaves_no_file(tmp_path: Path, runner: CliRunner) -> None:
    db = tmp_path / "new.db"
    result = runner.invoke(
        app, ["--db", str(db), "init", "--curator-email", "not-an-email", "--curator-name", "Li"]
    )
    assert result.exit_code == 2
    assert result.stderr.startswith("Error: --curator-email: 'not-an-email' is not an e-mail")
    assert not db.exists()


def test_init_with_unknown_institution_leaves_no_file(tmp_path: Path, runner: CliRunner) -> None:
    db = tmp_path / "new.db"
    result = runner.invoke(
        app,
        [
            "--db",
            str(db),
            "init",
            "--curator-email",
            "a@b.example",
            "--curator-name",
            "A",
            "--institution",
            "NOPE",
        ],
    )
    assert result.exit_code == 2
    assert "--institution: NOPE is not a curating institution" in result.stderr
    assert not list(tmp_path.iterdir())


def test_verify_clean_ledger_and_print_head(
    engine: Engine, cli_env: dict[str, str], runner: CliRunner
) -> None:
    result = runner.invoke(app, [*STAFF, "verify"])
    assert result.exit_code == 0, result.output
    assert "verify: OK" in result.stdout
    head = runner.invoke(app, [*STAFF, "verify", "--print-head"])
    assert head.exit_code == 0
    assert HEAD.match(head.stdout.strip())
    anchored = runner.invoke(app, [*STAFF, "verify", "--anchor", head.stdout.strip(), "--json"])
    report = json.loads(anchored.stdout)
    assert anchored.exit_code == 0
    assert report["ok"] is True and report["problems"] == []
    assert report["head"] == head.stdout.strip()


def test_verify_names_a_value_changed_with_raw_sqlite(
    engine: Engine, db_path: Path, cli_env: dict[str, str], runner: CliRunner
) -> None:
    with sqlite3.connect(db_path) as connection:
        connection.execute(
            "UPDATE sample SET vault_ug = vault_ug - 1 WHERE code = 'CE5C0000YJYX061'"
        )
    result = runner.invoke(app, [*STAFF, "verify"])
    assert result.exit_code == 1
    assert (
        "sample row CE5C0000YJYX061: vault_ug is 12399 but the events give 12400" in result.stdout
    )
    assert "sample CE5C0000YJYX061: initial 12400 µg ≠ vault 12399" in result.stdout


def test_verify_catches_an_edited_event_and_rollback(
    engine: Engine, db_path: Path, cli_env: dict[str, str], runner: CliRunner
) -> None:
    head = runner.invoke(app, [*STAFF, "verify", "--print-head"]).stdout.strip()
    with sqlite3.connect(db_path) as connection:
        connection.execute("DROP TRIGGER ledger_event_no_update")
        connection.execute(
            "UPDATE ledger_event SET payload = replace(payload, 'pristine', 'damaged') "
            "WHERE seq = 30"
        )
    result = runner.invoke(app, [*STAFF, "verify", "--anchor", head])
    assert result.exit_code == 1
    assert "event 30 (sample.registered) does not match its hash" in result.stdout
    assert "append-only trigger ledger_event_no_update is missing" in result.stdout
    seq = int(head.split(":")[0])
    too_far = runner.invoke(app, [*STAFF, "verify", "--anchor", f"{seq + 5}:{'0' * 64}"])
    assert too_far.exit_code == 1
    assert f"the ledger ends at event {seq} but the anchor is event {seq + 5}" in too_far.stdout


def test_verify_bad_anchor_is_usage_error(
    engine: Engine, cli_env: dict[str, str], runner: CliRunner
) -> None:
    result = runner.invoke(app, [*STAFF, "verify", "--anchor", "12:xyz"])
    assert result.exit_code == 2
    assert result.stderr.startswith("Error: --anchor: '12:xyz' is not SEQ:HASH")


def test_missing_database_is_environment_error(tmp_path: Path, runner: CliRunner) -> None:
    result = runner.invoke(app, ["--db", str(tmp_path / "none.db"), "verify"])
    assert result.exit_code == 3
    assert result.stderr == (
        f"Error: no database at {tmp_path / 'none.db'}; run 'sampleloans init' or pass --db / "
        "SAMPLELOANS_DB\n"
    )
    assert not (tmp_path / "none.db").exists()


def test_demo_subprocess_tells_the_story_and_verifies(tmp_path: Path) -> None:
    folder = tmp_path / "demo"
    result = sampleloans("demo", "--dir", str(folder))
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "Traceback" not in result.stderr
    assert "agreement AG-2025-UoC signed in Beijing" in out
    assert "refused → Error: agreement AG-2025-Brown with Brown is not signed" in out
    assert "verify: OK" in out
    assert re.search(r"Osaka \(Japan\)\s+│\s+1 │ signed,", out)
    db = folder / "ledger.db"
    with sqlite3.connect(db) as connection:
        statuses = dict(connection.execute("SELECT number, status FROM loan"))
        events = connection.execute("SELECT count(*) FROM ledger_event").fetchone()[0]
    assert statuses["L-2025-IPGP"] == "closed"
    assert statuses["L-2025-Brown"] == "approved"  # refused issue left it approved
    assert statuses["L-2025-UoC"] == "received"
    assert f"ledger head {events}:" in out
    again = sampleloans("--db", str(db), *STAFF, "verify", "--print-head")
    assert again.returncode == 0
    assert again.stdout.startswith(f"{events}:")


def test_demo_refuses_a_non_empty_folder(tmp_path: Path, runner: CliRunner) -> None:
    (tmp_path / "keep.txt").write_text("mine")
    result = runner.invoke(app, ["demo", "--dir", str(tmp_path)])
    assert result.exit_code == 3
    assert result.stderr == f"Error: --dir: {tmp_path} is not empty; give a new or empty folder\n"
    assert [p.name for p in tmp_path.iterdir()] == ["keep.txt"]


def test_demo_to_a_db_named_on_the_command_line(tmp_path: Path, runner: CliRunner) -> None:
    """`--db FILE demo` writes the demo there, complete, and leaves nothing else beside it;
    SAMPLELOANS_DB alone never sends the demo into a ledger file."""
    target = tmp_path / "demo.db"
    result = runner.invoke(app, ["--db", str(target), "demo"])
    assert result.exit_code == 0, result.stderr
    assert f"Demo ledger: {target}" in result.stdout
    assert f"Try: SAMPLELOANS_DB={target} " in result.stdout
    assert [p.name for p in tmp_path.iterdir()] == ["demo.db"]
    head = runner.invoke(app, ["--db", str(target), "--as", COMPLIANCE, "verify", "--print-head"])
    assert head.exit_code == 0 and head.stdout.startswith("107:")
    from_env = runner.invoke(app, ["demo"], env={"SAMPLELOANS_DB": str(tmp_path / "env.db")})
    assert from_env.exit_code == 0, from_env.stderr
    assert not (tmp_path / "env.db").exists()


def test_a_killed_demo_leaves_no_ledger_at_its_db(tmp_path: Path) -> None:
    """A demo killed half-way (SIGKILL after a commit) leaves nothing at `--db`; its private
    build folder is removed by the next run, which then writes the whole demo there."""
    target = tmp_path / "demo.db"
    killed = sampleloans("--db", str(target), "demo", env={"SAMPLELOANS_CRASH_AT": "after_commit"})
    assert killed.returncode == -9, killed.stderr  # the crash point kills the process itself
    assert not target.exists()
    again = sampleloans("--db", str(target), "demo")
    assert again.returncode == 0, again.stderr
    assert [p.name for p in tmp_path.iterdir()] == ["demo.db"]


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [(["--db", "{existing}", "demo"], 3, "--db: {existing} exists; the demo writes only"),
     (["--db", "{missing}/x.db", "demo"], 3, "--db: {missing} is not an existing folder"),
     (["--db", "{new}", "demo", "--dir", "{folder}"], 2, "--dir: give --dir or a global --db")],
    ids=["existing-file", "no-folder", "db-and-dir"],
)  # fmt: skip
def test_demo_refuses_a_db_it_must_not_write(
    tmp_path: Path, runner: CliRunner, args: list[str], code: int, message: str
) -> None:
    """An existing file (perhaps a real ledger) is never replaced: one line, nothing written."""
    places = {
        "existing": str(tmp_path / "ledger.db"),
        "missing": str(tmp_path / "nowhere"),
        "new": str(tmp_path / "new.db"),
        "folder": str(tmp_path / "demo"),
    }
    (tmp_path / "ledger.db").write_bytes(b"mine")
    result = runner.invoke(app, [a.format(**places) for a in args])
    assert result.exit_code == code
    assert result.stderr.startswith(f"Error: {message.format(**places)}")
    assert result.stderr.count("\n") == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ledger.db"]
    assert (tmp_path / "ledger.db").read_bytes() == b"mine"


def test_python_dash_m_and_console_script_agree() -> None:
    via_module = sampleloans("--help")
    assert via_module.returncode == 0
    assert "The custody ledger for lunar samples" in via_module.stdout


@pytest.mark.parametrize("command", ["--help", "status --help"])
def test_help_does_not_import_heavy_modules(command: str) -> None:
    code = (
        "import sys\n"
        "from sampleloans.cli import app\n"
        f"try:\n    app({command.split()!r})\nexcept SystemExit:\n    pass\n"
        "heavy = [m for m in ('sqlalchemy', 'sqlmodel', 'reportlab') if m in sys.modules]\n"
        "print('HEAVY', heavy)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60
    )
    assert "HEAVY []" in result.stdout, result.stdout + result.stderr


def test_writes_need_an_actor(engine: Engine, cli_env: dict[str, str], runner: CliRunner) -> None:
    result = runner.invoke(app, ["loans", "approve", "L-1"])
    assert result.exit_code == 4
    assert result.stderr == (
        "Error: no acting person: pass --as EMAIL or set SAMPLELOANS_USER to a registered person\n"
    )


def test_unregistered_actor_is_refused(
    engine: Engine, db_path: Path, cli_env: dict[str, str], runner: CliRunner
) -> None:
    before = fingerprint(db_path)
    result = runner.invoke(app, ["--as", "nobody@example.org", "loans", "approve", "L-1"])
    assert result.exit_code == 4
    assert result.stderr == (
        "Error: 'nobody@example.org' is not a registered person; act as someone listed by "
        "'people list'\n"
    )
    assert fingerprint(db_path) == before


def test_every_command_has_help_with_an_example(runner: CliRunner) -> None:
    import typer

    from tests.test_readme import command_paths

    for path in command_paths(typer.main.get_command(app)):
        result = runner.invoke(app, [*path.split(), "--help"], env={"COLUMNS": "200"})
        assert result.exit_code == 0, path
        assert "Example: sampleloans" in " ".join(result.stdout.split()), f"{path}: no example"


def test_correction_is_a_new_event_and_history_shows_both(
    engine: Engine, db_path: Path, cli_env: dict[str, str], runner: CliRunner
) -> None:
    before = sqlite3.connect(db_path).execute("SELECT * FROM ledger_event WHERE seq = 5").fetchone()
    result = runner.invoke(
        app, ["--as", "curator@naoc.example", "custody", "correct", "5", "--text", "typo in name"]
    )
    assert result.exit_code == 0, result.output
    found = re.search(r"\(event (\d+)\)", result.stdout)
    assert found is not None, result.stdout
    seq = int(found.group(1))
    with sqlite3.connect(db_path) as connection:
        assert connection.execute("SELECT * FROM ledger_event WHERE seq = 5").fetchone() == before
        row = connection.execute(
            "SELECT kind, corrects_seq FROM ledger_event WHERE seq = ?", (seq,)
        ).fetchone()
    assert row == ("event.corrected", 5)
    assert runner.invoke(app, [*STAFF, "verify"]).exit_code == 0
    bad = runner.invoke(
        app, ["--as", "curator@naoc.example", "custody", "correct", "99999", "--text", "x"]
    )
    assert bad.exit_code == 2
    assert bad.stderr == "Error: SEQ 99999: no such event; see 'sampleloans custody history'\n"
