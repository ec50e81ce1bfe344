"""Sweep s18 "kill": a command whose output is several files (a key pair, a lender root, a
signing certificate, an outbox of messages, a folder of statements) killed with SIGKILL at
each time it reaches the point before a file goes into place (`SAMPLELOANS_CRASH_AT=
before_replace@N`) leaves all of its files or none, and the rerun works.

Before, each file went into place as soon as it was written: a kill between the first and the
second left `new.key.pub` alone, or `root-key.pem` without its certificate, or part of an
outbox, and the rerun refused the leftover as existing (exit 3).
"""

import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from sampleloans import crashpoints, fileio
from tests.conftest import CURATOR, fingerprint
from tests.warm_cli import Done, WarmCli

NOW = "2026-06-15T10:00:00Z"


@dataclass(frozen=True)
class Case:
    """A command and the names it writes (files, or a folder)."""

    args: list[str]
    outputs: list[str]
    folder_exists: bool = False  # the output folder is there (empty) before the run


CASES = {
    "keys-generate": Case(["keys", "generate", "--out", "new.key"], ["new.key", "new.key.pub"]),
    "lender-root": Case(["keys", "lender-root", "--out", "root2", "--name", "X"], ["root2"]),
    "lender-root-in-a-folder": Case(
        ["keys", "lender-root", "--out", "root2", "--name", "X"], ["root2"], folder_exists=True
    ),
    "signing-cert": Case(["keys", "signing-cert", "--root", "lender", "--out", "s2"], ["s2"]),
    "notify-outbox": Case(["notify", "--outbox", "outbox"], ["outbox"]),
    "notify-outbox-in-a-folder": Case(
        ["notify", "--outbox", "outbox"], ["outbox"], folder_exists=True
    ),
    "statement": Case(
        ["report", "statement", "--institution", "OU", "--generated-at", NOW, "--out", "st"],
        ["st"],
    ),
}


def environment(folder: Path, crash_at: str | None = None) -> dict[str, str]:
    """The CLI's environment: this folder's ledger, the curator, a fixed clock."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SAMPLELOANS_")}
    env.update(SAMPLELOANS_DB=str(folder / "ledger.db"), SAMPLELOANS_USER=CURATOR)
    env.update(SAMPLELOANS_NOW=NOW, COLUMNS="120", TMPDIR=str(folder))
    if crash_at is not None:
        env[crashpoints.ENV_VAR] = crash_at
    return env


@pytest.fixture(scope="module")
def cli(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WarmCli]:
    """Real CLI processes forked from one that has done the imports (tests/warm_cli.py): each
    run, and each kill, pays for the command's own work, not ~1.3 s of imports."""
    warm = WarmCli(tmp_path_factory.mktemp("warm"))
    yield warm
    warm.close()


def run(cli: WarmCli, folder: Path, args: list[str], crash_at: str | None = None) -> Done:
    """The real CLI in `folder`, to its end or its crash point."""
    return cli.run(args, folder, environment(folder, crash_at))


@pytest.fixture(scope="module")
def sources(cli: WarmCli, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo ledger with a checkpoint key, one checkpoint and a lender root."""
    folder = tmp_path_factory.mktemp("sources")
    fresh = {k: v for k, v in os.environ.items() if not k.startswith("SAMPLELOANS_")}
    made = cli.run(["demo", "--dir", str(folder / "demo")], folder, fresh)
    assert made.returncode == 0, made.stderr
    shutil.copyfile(folder / "demo" / "ledger.db", folder / "ledger.db")
    shutil.rmtree(folder / "demo")
    for args in (
        ["keys", "generate", "--out", "key"],
        ["checkpoint", "--key", "key"],
        ["keys", "lender-root", "--out", "lender", "--name", "CNSA"],
    ):
        done = run(cli, folder, args)
        assert done.returncode == 0, done.stderr
    return folder


def workspace(sources: Path, case: Case, folder: Path) -> Path:
    """A fresh copy of the sources, with the output folder made when the case wants it."""
    shutil.copytree(sources, folder)
    if case.folder_exists:
        (folder / case.outputs[0]).mkdir(mode=0o700)
    return folder


def output_names(folder: Path, case: Case) -> set[str]:
    """What a user sees of the outputs: each file, or each file in an output folder."""
    names: set[str] = set()
    for output in case.outputs:
        path = folder / output
        if path.is_dir():
            names |= {f"{output}/{p.name}" for p in path.iterdir() if not p.name.startswith(".")}
        elif path.exists():
            names.add(output)
    return names


@pytest.mark.parametrize("name", CASES)
def test_a_kill_between_the_files_of_one_output_leaves_all_or_none(
    cli: WarmCli, sources: Path, tmp_path: Path, name: str
) -> None:
    case = CASES[name]
    reference = workspace(sources, case, tmp_path / "reference")
    done = run(cli, reference, case.args)
    assert done.returncode == 0, done.stderr
    whole = output_names(reference, case)
    assert len(whole) >= 1
    for nth in range(1, min(len(whole), 3) + 1):  # past 3 the same window recurs
        work = workspace(sources, case, tmp_path / f"killed-{nth}")
        before = fingerprint(work / "ledger.db")
        killed = run(cli, work, case.args, crash_at=f"before_replace@{nth}")
        left = output_names(work, case)
        if killed.returncode == 0:  # the output had no Nth point: it ran to its end
            assert left == whole
            continue
        assert killed.returncode == -9, killed.stderr
        assert left == set(), f"killed at before_replace@{nth}, a part was left: {left}"
        assert fingerprint(work / "ledger.db") == before
        rerun = run(cli, work, case.args)
        assert rerun.returncode == 0, f"rerun after a kill at @{nth}: {rerun.stderr}"
        assert output_names(work, case) == whole
        folders = [work, *(work / o for o in case.outputs if (work / o).is_dir())]
        leftovers = [p.name for folder in folders for p in fileio.temp_names(folder)]
        assert leftovers == [], f"the rerun left temp files: {leftovers}"


def test_crash_points_count_their_visits(monkeypatch: pytest.MonkeyPatch) -> None:
    """`POINT@N` waits for the Nth visit; other points and earlier visits go on."""
    killed: list[int] = []
    monkeypatch.setattr(crashpoints.os, "kill", lambda pid, signum: killed.append(signum))
    monkeypatch.setattr(crashpoints, "_times_reached", {})
    monkeypatch.setenv(crashpoints.ENV_VAR, "before_replace@3")
    for _ in range(2):
        crashpoints.reached("before_replace")
        crashpoints.reached("after_commit")
    assert killed == []
    crashpoints.reached("before_replace")
    assert len(killed) == 1
