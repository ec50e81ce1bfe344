"""Sweep "files": a ledger file an unlucky operator damaged, cut short or left a stale
journal beside, run through the real CLI (processes of their own, forked from one that has
done the imports: tests/warm_cli.py). Each case is one clear line or verify's findings, the
documented exit code, no traceback, and nothing changed."""

import hashlib
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Protocol

import pytest

from sampleloans import crashpoints
from tests.conftest import CURATOR
from tests.warm_cli import Done, WarmCli

NOW = "2026-06-15T10:00:00Z"


@pytest.fixture(scope="module")
def cli(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WarmCli]:
    """Real CLI processes forked from one that has done the imports (tests/warm_cli.py)."""
    warm = WarmCli(tmp_path_factory.mktemp("warm"))
    yield warm
    warm.close()


class Cli(Protocol):
    """The `sampleloans` fixture: sampleloans(db, *args, cwd=…, env=…)."""

    def __call__(
        self, db: Path, *args: str, cwd: Path | None = ..., env: dict[str, str] | None = ...
    ) -> Done: ...


@pytest.fixture
def sampleloans(cli: WarmCli) -> Cli:
    """The real CLI as the curator on `db`, at a fixed clock."""

    def call(
        db: Path, *args: str, cwd: Path | None = None, env: dict[str, str] | None = None
    ) -> Done:
        environment = {k: v for k, v in os.environ.items() if k != crashpoints.ENV_VAR}
        environment.update(
            SAMPLELOANS_DB=str(db), SAMPLELOANS_USER=CURATOR, SAMPLELOANS_NOW=NOW, COLUMNS="120"
        )
        environment.update(env or {})
        return cli.run(list(args), cwd or Path.cwd(), environment)

    return call


def sampleloans_cold(
    db: Path, *args: str, cwd: Path | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """The real CLI as the curator on `db`, at a fixed clock, started cold (`python -m`): for
    the sweeps that share this file's `demo_ledger` without its warm server."""
    environment = {k: v for k, v in os.environ.items() if k != crashpoints.ENV_VAR}
    environment.update(
        SAMPLELOANS_DB=str(db), SAMPLELOANS_USER=CURATOR, SAMPLELOANS_NOW=NOW, COLUMNS="120"
    )
    environment.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "sampleloans", *args],
        capture_output=True,
        text=True,
        env=environment,
        cwd=cwd,
        timeout=300,
    )


def digest(path: Path) -> str:
    """The bytes of a file, as a digest: equal means unchanged."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def demo_ledger(cli: WarmCli, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The demo ledger (107 events), made once by the real `demo` command."""
    folder = tmp_path_factory.mktemp("demo")
    fresh = {k: v for k, v in os.environ.items() if not k.startswith("SAMPLELOANS_")}
    made = cli.run(["demo", "--dir", str(folder / "d")], folder, fresh)
    assert made.returncode == 0, made.stderr
    yield folder / "d" / "ledger.db"


def copy_of(ledger: Path, target: Path, size: int | None = None) -> Path:
    """A copy of the ledger, cut after `size` bytes when given."""
    shutil.copyfile(ledger, target)
    if size is not None:
        with target.open("r+b") as handle:
            handle.truncate(size)
    return target


PAGE = 4096


@pytest.mark.parametrize(
    "cut",
    [2 * PAGE, 2 * PAGE + 1808, 48 * PAGE, 48 * PAGE + 3000],
    ids=["page-2", "mid-page-3", "page-48", "mid-page-49"],
)
@pytest.mark.parametrize("form", [[], ["--print-head"], ["--anchor", "1:" + "0" * 64]])
def test_verify_of_a_truncated_ledger_reports_the_damage_without_a_traceback(
    sampleloans: Cli, demo_ledger: Path, tmp_path: Path, cut: int, form: list[str]
) -> None:
    ledger = copy_of(demo_ledger, tmp_path / "cut.db", cut)
    before = digest(ledger)
    result = sampleloans(ledger, "verify", *form)
    assert "Traceback" not in result.stderr, result.stderr[-3000:]
    assert result.returncode == 1, result.stderr
    assert "damaged" in result.stdout
    assert digest(ledger) == before


@pytest.mark.parametrize("cut", [2 * PAGE, 48 * PAGE + 3000], ids=["page-2", "mid-page-49"])
@pytest.mark.parametrize(
    "command",
    [
        ["loans", "list"],
        ["samples", "move", "CE5C0000YJBP005", "--location", "cabinet Z"],
        ["export", "--events", "out.jsonl"],
        ["report", "custody", "--loan", "L-2025-OU", "--out", "out.pdf"],
        ["backup", "out.db"],
        ["db", "upgrade"],
    ],
    ids=lambda c: "-".join(c[:2]),
)
def test_other_commands_on_a_truncated_ledger_are_one_line_exit_3(
    sampleloans: Cli, demo_ledger: Path, tmp_path: Path, cut: int, command: list[str]
) -> None:
    ledger = copy_of(demo_ledger, tmp_path / "cut.db", cut)
    before = digest(ledger)
    result = sampleloans(ledger, *command, cwd=tmp_path)
    assert result.returncode == 3, result.stderr
    assert result.stderr.startswith("Error: ") and result.stderr.count("\n") == 1, result.stderr
    assert "damaged" in result.stderr
    assert digest(ledger) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cut.db"]


@pytest.mark.parametrize(
    "stale",
    [("-journal", os.urandom(5000)), ("-journal", b""), ("-wal", os.urandom(5000))],
    ids=["garbage-journal", "empty-journal", "garbage-wal"],
)
@pytest.mark.parametrize(
    "command, code",
    [
        (["verify"], 0),
        (["loans", "list"], 0),
        (["samples", "move", "CE5C0000YJBP005", "--location", "cabinet Z"], 0),
    ],
    ids=["verify", "read", "write"],
)
def test_a_stale_journal_or_wal_beside_the_ledger_is_not_taken_for_a_read_only_file(
    sampleloans: Cli,
    demo_ledger: Path,
    tmp_path: Path,
    stale: tuple[str, bytes],
    command: list[str],
    code: int,
) -> None:
    ledger = copy_of(demo_ledger, tmp_path / "ledger.db")
    suffix, data = stale
    Path(f"{ledger}{suffix}").write_bytes(data)
    result = sampleloans(ledger, *command)
    assert "Traceback" not in result.stderr
    assert result.returncode == code, result.stderr
    assert sampleloans(ledger, "verify").returncode == 0


@pytest.mark.parametrize("cut", [2 * PAGE, 48 * PAGE + 3000], ids=["page-2", "mid-page-49"])
def test_restore_force_replaces_a_damaged_ledger_and_keeps_it_aside(
    sampleloans: Cli, demo_ledger: Path, tmp_path: Path, cut: int
) -> None:
    backup = copy_of(demo_ledger, tmp_path / "backup.db")
    ledger = copy_of(demo_ledger, tmp_path / "ledger.db", cut)
    damaged = digest(ledger)
    told = sampleloans(ledger, "loans", "list")
    assert told.returncode == 3 and "restore the latest verified backup" in told.stderr
    refused = sampleloans(ledger, "restore", str(backup))  # without --force: never replaced
    assert refused.returncode == 3, refused.stderr
    assert "--force" in refused.stderr and digest(ledger) == damaged
    restored = sampleloans(ledger, "restore", str(backup), "--force")
    assert "Traceback" not in restored.stderr, restored.stderr[-3000:]
    assert restored.returncode == 0, restored.stderr
    aside = tmp_path / "ledger.db.damaged-1"
    assert str(aside) in restored.stdout
    assert digest(aside) == damaged  # the damaged file is kept, as it was, for a post-mortem
    assert sampleloans(ledger, "verify").returncode == 0
    names = {p.name for p in tmp_path.iterdir()} - {"ledger.db-wal", "ledger.db-shm"}
    assert names == {"backup.db", "ledger.db", "ledger.db.damaged-1"}


def test_restore_over_a_damaged_ledger_needs_a_curator_of_the_backup(
    sampleloans: Cli, demo_ledger: Path, tmp_path: Path
) -> None:
    backup = copy_of(demo_ledger, tmp_path / "backup.db")
    ledger = copy_of(demo_ledger, tmp_path / "ledger.db", 2 * PAGE)
    damaged = digest(ledger)
    result = sampleloans(
        ledger, "restore", str(backup), "--force", env={"SAMPLELOANS_USER": "anand@open.example"}
    )
    assert result.returncode == 4, result.stderr
    assert digest(ledger) == damaged
    assert sorted(p.name for p in tmp_path.iterdir()) == ["backup.db", "ledger.db"]


def test_restore_from_a_plain_copy_of_a_ledger_leaves_the_copy_as_it_was(
    sampleloans: Cli, demo_ledger: Path, tmp_path: Path
) -> None:
    copied = copy_of(demo_ledger, tmp_path / "copied.db")  # `cp`: a WAL-mode file, no -wal
    before = digest(copied)
    ledger = copy_of(demo_ledger, tmp_path / "ledger.db")
    restored = sampleloans(ledger, "restore", str(copied), "--force")
    assert restored.returncode == 0, restored.stderr
    assert digest(copied) == before
    assert not Path(f"{copied}-wal").exists() and not Path(f"{copied}-shm").exists()
