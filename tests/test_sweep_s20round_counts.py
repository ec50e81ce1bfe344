"""Sweep s20-round: the command line counts in words that agree with their numbers.

Layout 7 of the reports stopped printing "1 extension(s)"; the command line still said "1
checkpoint(s), 1 public key(s), 0 report(s)" after `export --bag`, "1 event(s) were removed"
after `restore --older`, "would remove 1 event(s)" when it refused, "verify: 1 problem(s) found",
"(and 1 more finding(s))", "1 update(s) were appended", and `verify --since` "— 1 new events".
Now each count agrees with its noun (and verb): "1 checkpoint", "1 event was removed", "1 new
event".
"""

import re
import shutil
import sqlite3
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from sampleloans.cli import app
from sampleloans.text import counted
from tests.conftest import CURATOR, demo_env

LATER = "2026-04-29T10:00:00Z"


@pytest.fixture
def demo(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """A fresh demo ledger with one signed checkpoint kept (its key beside the ledger)."""
    env = demo_env(tmp_path_factory, CURATOR)
    key = Path(env["SAMPLELOANS_DB"]).parent / "cp.key"
    assert CliRunner().invoke(app, ["keys", "generate", "--out", str(key)]).exit_code == 0
    out = key.parent / "cp1.txt"
    made = CliRunner().invoke(app, ["checkpoint", "--key", str(key), "--out", str(out)], env=env)
    assert made.exit_code == 0, made.stderr
    return {**env, "KEY": str(key), "CP": str(out)}


def cli(env: dict[str, str], *args: str, now: str | None = None) -> Result:
    """Run the command line in `env` (at `now` when given)."""
    clock = {"SAMPLELOANS_NOW": now} if now else {}
    return CliRunner().invoke(app, list(args), env={**env, **clock})


def one_more_event(env: dict[str, str]) -> None:
    """Record one event after the checkpoint: an analysis on an OU loan (its inventory,
    attested in the demo with nothing since, would repeat that attestation: refused)."""
    analysis = ["--technique", "SEM", "--mass", "1 ug", "--non-destructive"]
    done = CliRunner().invoke(
        app,
        ["loans", "consume", "L-2025-OU", "--sample", "CE5C0300YJFM00307", *analysis],
        env={**env, "SAMPLELOANS_NOW": LATER},
    )
    assert done.exit_code == 0, done.stderr


def test_counted_agrees_with_its_number() -> None:
    """The helper every such line uses."""
    assert [counted(n, "event") for n in (0, 1, 2)] == ["0 events", "1 event", "2 events"]


def test_export_bag_counts_what_it_wrote(demo: dict[str, str], tmp_path: Path) -> None:
    """One checkpoint, one public key, no report: said so, without '(s)'."""
    result = cli(demo, "export", "--bag", str(tmp_path / "bag"))
    assert result.exit_code == 0, result.stderr
    assert "1 checkpoint, 1 public key, 0 reports, docs/ledger-format.md" in result.stdout
    assert "(s)" not in result.stdout
    checked = cli(demo, "verify-bag", str(tmp_path / "bag"))
    assert checked.exit_code == 0, checked.stderr
    last = checked.stdout.strip().splitlines()[-1]
    assert "signed by keys it carries: compare each fingerprint above" in last
    assert "(s)" not in checked.stdout


def test_verify_since_counts_one_new_event(demo: dict[str, str]) -> None:
    """`verify --since` after one event: '1 new event'."""
    one_more_event(demo)
    result = cli(demo, "verify", "--since", demo["CP"], now=LATER)
    assert result.exit_code == 0, result.stderr
    assert "OK — 1 new event; head " in result.stdout


def test_restore_counts_the_events_it_removes(demo: dict[str, str], tmp_path: Path) -> None:
    """A rollback of one event: refused as 'would remove 1 event', then '1 event was
    removed'."""
    backup = tmp_path / "b.db"
    assert cli(demo, "backup", str(backup)).exit_code == 0
    one_more_event(demo)
    refused = cli(demo, "restore", str(backup), "--force", now=LATER)
    assert refused.exit_code == 1
    assert "restoring it would remove 1 event of this ledger" in refused.stderr
    rolled = cli(demo, "restore", str(backup), "--force", "--older", now=LATER)
    assert rolled.exit_code == 0, rolled.stderr
    assert rolled.stdout.rstrip().endswith("; 1 event was removed.")


def test_verify_counts_one_problem(demo: dict[str, str], tmp_path: Path) -> None:
    """A ledger cut to nothing readable: 'verify: 1 problem found'."""
    broken = tmp_path / "broken.db"
    shutil.copy(demo["SAMPLELOANS_DB"], broken)
    with sqlite3.connect(broken) as raw:
        raw.execute("DROP TRIGGER IF EXISTS ledger_event_no_delete")
        raw.execute("DELETE FROM ledger_event WHERE seq > 5")
    result = cli({**demo, "SAMPLELOANS_DB": str(broken)}, "verify")
    assert result.exit_code == 1
    found = re.search(r"verify: (\d+) (problems?) found", result.stdout)
    assert found is not None, result.stdout
    assert found.group(2) == ("problem" if found.group(1) == "1" else "problems")
