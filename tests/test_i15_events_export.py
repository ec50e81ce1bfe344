"""Issue 15 (for items 1 and 7): `export --events` and `restore --events` reproduce the ledger
with the same head; the stand-alone verifier reads the export; bad input writes nothing."""

import json
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import Engine
from typer.testing import CliRunner

from sampleloans import db
from sampleloans.cli import app
from sampleloans.ledger import chain
from sampleloans.services import events_file
from sampleloans.services.verify import verify
from tests.conftest import COMPLIANCE, CURATOR, OU_PI, ctx_for

ROOT = Path(__file__).resolve().parent.parent


def head_of(path: Path) -> str:
    engine = db.open_engine(db.url_for_path(path))
    try:
        result = verify(engine)
    finally:
        engine.dispose()
    assert result.ok and result.head is not None, result.problems
    return result.head


@pytest.fixture
def exported(engine: Engine, tmp_path: Path, runner: CliRunner, cli_env: dict[str, str]) -> Path:
    out = tmp_path / "events.jsonl"
    result = runner.invoke(app, ["--as", COMPLIANCE, "export", "--events", str(out)])
    assert result.exit_code == 0, result.stderr
    assert "Exported" in result.stdout
    return out


def test_export_is_canonical_json_lines_0600_and_deterministic(
    engine: Engine, db_path: Path, exported: Path, runner: CliRunner
) -> None:
    assert stat.S_IMODE(exported.stat().st_mode) == 0o600
    lines = exported.read_text(encoding="utf-8").splitlines(keepends=True)
    header = json.loads(lines[0])
    assert header["format"] == "sampleloans-events" and header["version"] == 1
    assert header["meta"]["ledger_id"] == header["ledger_id"]
    for line in lines:
        assert chain.canonical(json.loads(line)) + "\n" == line
    events = [json.loads(line) for line in lines[1:]]
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    assert head_of(db_path) == f"{events[-1]['seq']}:{events[-1]['hash']}"
    again = exported.with_name("again.jsonl")
    result = runner.invoke(app, ["--as", CURATOR, "export", "--events", str(again)])
    assert result.exit_code == 0
    assert again.read_bytes() == exported.read_bytes()


def test_restore_events_into_a_fresh_ledger_gives_the_same_head(
    engine: Engine, db_path: Path, exported: Path, tmp_path: Path, runner: CliRunner
) -> None:
    fresh = tmp_path / "fresh" / "ledger.db"
    fresh.parent.mkdir()
    result = runner.invoke(
        app, ["--db", str(fresh), "--as", CURATOR, "restore", "--events", str(exported)]
    )
    assert result.exit_code == 0, result.stderr
    original = head_of(db_path)
    assert head_of(fresh) == original
    assert original in result.stdout
    tool = subprocess.run(
        [sys.executable, str(ROOT / "tools" / "verify_ledger.py"), str(exported), "--json"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert tool.returncode == 0, tool.stderr
    assert json.loads(tool.stdout)["head"] == original


def _refused_restore(runner: CliRunner, source: Path, target: Path, code: int) -> str:
    result = runner.invoke(
        app, ["--db", str(target), "--as", CURATOR, "restore", "--events", str(source)]
    )
    assert result.exit_code == code, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ") and "Traceback" not in result.stderr
    assert not target.exists()
    assert [p.name for p in target.parent.iterdir()] == []  # no temp file left behind
    return lines[0]


def test_a_truncated_export_is_refused_and_nothing_written(
    exported: Path, tmp_path: Path, runner: CliRunner
) -> None:
    data = exported.read_bytes()
    cut = tmp_path / "cut.jsonl"
    cut.write_bytes(data[: len(data) - 40])
    target = tmp_path / "t1" / "ledger.db"
    target.parent.mkdir()
    assert "truncated" in _refused_restore(runner, cut, target, 2)


def test_a_changed_event_is_refused_and_nothing_written(
    exported: Path, tmp_path: Path, runner: CliRunner
) -> None:
    lines = exported.read_text(encoding="utf-8").splitlines(keepends=True)
    record = json.loads(lines[5])
    record["actor"] = "mallory@naoc.example"
    lines[5] = chain.canonical(record) + "\n"
    changed = tmp_path / "changed.jsonl"
    changed.write_text("".join(lines), encoding="utf-8")
    target = tmp_path / "t2" / "ledger.db"
    target.parent.mkdir()
    assert "fails verify" in _refused_restore(runner, changed, target, 1)


@pytest.mark.parametrize(
    ("first_line", "needle"),
    [
        ('{"format":"other"}\n', "line 1"),
        ("not json\n", "line 1"),
        (
            '{"format":"sampleloans-events","ledger_id":"x","meta":{"ledger_id":"x"},"version":2}\n',
            "line 1",
        ),
    ],
)
def test_not_an_export_is_invalid_input(
    tmp_path: Path, runner: CliRunner, cli_env: dict[str, str], first_line: str, needle: str
) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text(first_line, encoding="utf-8")
    target = tmp_path / "t3" / "ledger.db"
    target.parent.mkdir()
    assert needle in _refused_restore(runner, bad, target, 2)


def test_an_event_line_with_a_float_or_an_extra_key_names_the_line(
    exported: Path, tmp_path: Path
) -> None:
    lines = exported.read_text(encoding="utf-8").splitlines(keepends=True)
    for mutate, needle in (
        (lambda r: {**r, "extra": 1}, "exactly the keys"),
        (lambda r: {**r, "seq": "3"}, "seq"),
    ):
        bad = tmp_path / "bad.jsonl"
        bad.write_text(lines[0] + json.dumps(mutate(json.loads(lines[1]))) + "\n", "utf-8")
        _meta, events = events_file.read_export(bad)
        with pytest.raises(Exception, match=needle) as info:
            list(events)
        assert "line 2" in str(info.value)
    bad.write_text(lines[0] + lines[1].replace('"seq":1', '"seq":1.0'), "utf-8")
    _meta, events = events_file.read_export(bad)
    with pytest.raises(Exception, match=r"line 2: seq is 1\.0, not a number as an export writes"):
        list(events)


def test_export_refuses_an_existing_file_and_a_researcher(
    engine: Engine, exported: Path, runner: CliRunner
) -> None:
    before = exported.read_bytes()
    result = runner.invoke(app, ["--as", CURATOR, "export", "--events", str(exported)])
    assert result.exit_code == 3 and result.stderr.startswith("Error: ")
    assert exported.read_bytes() == before
    other = exported.with_name("pi.jsonl")
    result = runner.invoke(app, ["--as", OU_PI, "export", "--events", str(other)])
    assert result.exit_code == 4 and not other.exists()
    ledger = db.sqlite_path(str(engine.url))
    result = runner.invoke(app, ["--as", CURATOR, "export", "--events", str(ledger), "--force"])
    assert result.exit_code == 2 and "ledger database" in result.stderr


def test_service_round_trip_counts(engine: Engine, tmp_path: Path) -> None:
    out = tmp_path / "svc.jsonl"
    result = events_file.export_events(engine, ctx_for(), out)
    meta, events = events_file.read_export(out)
    assert meta["ledger_id"] and sum(1 for _ in events) == result.events


def test_a_binary_file_is_refused_in_one_line(
    exported: Path, tmp_path: Path, runner: CliRunner
) -> None:
    """Bytes that are not UTF-8 (a PDF, a database, noise), at the start or after good lines,
    are bad input: one line, exit 2, no traceback, nothing written."""
    from sampleloans.errors import InvalidInput
    from sampleloans.services.events_file import read_export

    noise = tmp_path / "noise.jsonl"
    noise.write_bytes(bytes(range(128, 256)) * 4)
    with pytest.raises(InvalidInput, match="line 1: not UTF-8 text"):
        read_export(noise)
    target = tmp_path / "t5" / "ledger.db"
    target.parent.mkdir()
    assert "not UTF-8 text" in _refused_restore(runner, noise, target, 2)
    tail = tmp_path / "tail.jsonl"
    tail.write_bytes(exported.read_bytes() + bytes(range(128, 256)) + b"\n")
    other = tmp_path / "t6" / "ledger.db"
    other.parent.mkdir()
    assert "not UTF-8 text" in _refused_restore(runner, tail, other, 2)
