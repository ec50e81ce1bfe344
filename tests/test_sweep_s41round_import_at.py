"""`import CATALOGUE --at DATETIME` dates the catalogue's registrations. Before, `import` took no
`--at` (every other write does), so a curator entering the 2025 round in 2026 from a catalogue,
as README invites, registered the samples "now" and could lend none of them `--at` 2025: each
loan was refused as earlier than the sample's registration. A history keeps its lines' own
`occurred_at` and an events export its events' times: `--at` with either is one `Error:` line,
exit 2; a moment in the future is refused once, naming `--at`, exit 1; nothing is written."""

import json
import shlex
from pathlib import Path

from typer.testing import CliRunner

from sampleloans.cli import app
from tests.conftest import fingerprint

CURATOR = "li@naoc.example"
CATALOGUE = "code,mission,origin,material_type,physical_form,purpose_class,mass,storage_location\n"
ROW = "CE5C0200YJFM00112,CE-5,scoop,regolith,powder,research,20 mg,NAOC N2 cabinet C\n"
NOW = "2026-12-03T10:00:00Z"


def _run(env: dict[str, str], *args: str) -> tuple[int, str, str]:
    """The CLI as the curator: exit code, stdout, stderr."""
    done = CliRunner().invoke(app, ["--as", CURATOR, *args], env=env)
    return done.exit_code, done.stdout, done.stderr


def _new_ledger(tmp_path: Path) -> dict[str, str]:
    """A fresh ledger whose history starts on 1 April 2025, read on 3 December 2026."""
    env = {
        "SAMPLELOANS_DB": str(tmp_path / "lab.db"),
        "SAMPLELOANS_NOW": NOW,
        "COLUMNS": "120",
        "NO_COLOR": "1",
    }
    args = ["init", "--curator-email", CURATOR, "--curator-name", "Li Na", "--at", "2025-04-01"]
    done = CliRunner().invoke(app, args, env=env)
    assert done.exit_code == 0, done.stderr
    return env


def test_a_catalogue_imported_at_a_date_is_lent_from_that_date(tmp_path: Path) -> None:
    """The sample is registered at --at, so a loan requested --at a later 2025 date is taken."""
    env = _new_ledger(tmp_path)
    catalogue = tmp_path / "round.csv"
    catalogue.write_text(CATALOGUE + ROW, encoding="utf-8")
    code, out, err = _run(env, "import", str(catalogue), "--at", "2025-04-02")
    assert code == 0, err
    assert "Imported 1 sample" in out
    code, out, err = _run(env, "custody", "history", "--sample", "CE5C0200YJFM00112", "--json")
    assert code == 0, err
    (registered,) = json.loads(out)["events"]
    assert registered["kind"] == "sample.registered"
    assert registered["occurred_at"] == "2025-04-02T00:00:00Z"
    steps = [
        "agreements add AG-OU --institution OU --term '5 years' --max-mass '1 g' "
        "--purpose research --max-loan-period '12 months' --at 2025-04-10",
        "agreements sign AG-OU --signed-by CNSA --at 2025-04-24",
        "people add anand@open.example --name 'Mahesh Anand' --institution OU "
        "--role researcher --at 2025-04-02",
        "loans request L-OU --agreement AG-OU --pi anand@open.example "
        "--sample CE5C0200YJFM00112 --at 2025-04-25",
    ]
    for step in steps:
        code, _out, err = _run(env, *shlex.split(step))
        assert code == 0, (step, err)


def test_without_at_a_catalogue_is_registered_now(tmp_path: Path) -> None:
    """Left out, --at is now, as for every write."""
    env = _new_ledger(tmp_path)
    catalogue = tmp_path / "round.csv"
    catalogue.write_text(CATALOGUE + ROW, encoding="utf-8")
    assert _run(env, "import", str(catalogue))[0] == 0
    out = _run(env, "custody", "history", "--sample", "CE5C0200YJFM00112", "--json")[1]
    assert json.loads(out)["events"][0]["occurred_at"] == NOW


def test_at_in_the_future_is_one_line_naming_it(tmp_path: Path) -> None:
    """One refusal of the option (exit 1), not one per line of the file; nothing written."""
    env = _new_ledger(tmp_path)
    catalogue = tmp_path / "round.csv"
    catalogue.write_text(CATALOGUE + ROW + ROW.replace("00112", "00113"), encoding="utf-8")
    before = fingerprint(Path(env["SAMPLELOANS_DB"]))
    code, _out, err = _run(env, "import", str(catalogue), "--at", "2030-01-01")
    assert code == 1
    assert err.strip().splitlines() == [
        "Error: --at: 2030-01-01T00:00:00Z is in the future (now is 2026-12-03T10:00:00Z); "
        "events can only be recorded for the past"
    ]
    assert fingerprint(Path(env["SAMPLELOANS_DB"])) == before


def test_at_with_a_history_is_refused(tmp_path: Path) -> None:
    """A history's lines carry their own occurred_at: --at is a usage error, exit 2."""
    env = _new_ledger(tmp_path)
    history = tmp_path / "h.jsonl"
    history.write_text("{}\n", encoding="utf-8")
    before = fingerprint(Path(env["SAMPLELOANS_DB"]))
    code, _out, err = _run(env, "import", str(history), "--at", "2025-05-01")
    assert code == 2
    assert err.startswith("Error: --at: a history's lines carry their own occurred_at")
    assert len(err.strip().splitlines()) == 1
    assert fingerprint(Path(env["SAMPLELOANS_DB"])) == before


def test_at_with_an_events_export_into_a_new_ledger_is_refused(tmp_path: Path) -> None:
    """An events export keeps its events' times: --at is refused, no ledger made."""
    env = _new_ledger(tmp_path)
    export = tmp_path / "events.jsonl"
    assert _run(env, "export", "--events", str(export))[0] == 0
    new = tmp_path / "new.db"
    code, _out, err = _run(
        {**env, "SAMPLELOANS_DB": str(new)}, "import", str(export), "--at", "2025-05-01"
    )
    assert code == 2
    assert err.startswith("Error: --at: an events export keeps the time of each of its events")
    assert not new.exists()
