"""Sweep "kills": SIGKILL and SIGTERM a real `python -m sampleloans` in the middle of every
command that writes (ledger writes, a large import, checkpoint, keys generate, reports,
statements, the archival and events exports, backup, restore (of a backup, and of a bag),
db upgrade, demo, init), at
seeded random moments of its own run time.

After each kill: `verify` passes; no partial file is left where a user would see it (a hidden
temp file of ours may stay after a SIGKILL, and the next run removes it); the output path is
absent or the complete new file (byte for byte the same as an uninterrupted run's); the
ledger is the state before the command or after it; and rerunning the command works.
`SAMPLELOANS_SOAK=1` kills each command at more moments.

The commands are in two halves, each run by a file of its own so that the suite's workers
(`--dist loadfile`) run them at the same time: this file takes the commands that write a file
and the large import (OUTPUTS); `test_sweep_s35suited_kill_ledger_commands.py` the ones that
write only the ledger or make one (LEDGER_WRITES), with this file's fixtures and checks.
"""

import hashlib
import os
import random
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

import pytest

from sampleloans import fileio
from sampleloans.ledger import checkpoint as notes
from tests.conftest import CURATOR, GOLDEN, fingerprint
from tests.warm_cli import Done, WarmCli

SOAK = os.environ.get("SAMPLELOANS_SOAK") == "1"
MOMENTS = 6 if SOAK else 1
SEED = int(os.environ.get("SAMPLELOANS_SEED", "20261130"))
NOW = "2026-06-15T10:00:00Z"
GENERATED_AT = "2026-06-15T10:00:00Z"
CATALOGUE_ROWS = 20_000


def environment(db: Path) -> dict[str, str]:
    """The CLI's environment: this ledger, the curator, a fixed clock."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SAMPLELOANS_")}
    env.update(SAMPLELOANS_DB=str(db), SAMPLELOANS_USER=CURATOR, SAMPLELOANS_NOW=NOW)
    env.update(COLUMNS="120", TMPDIR=str(db.parent))
    return env


def cold(folder: Path, args: list[str]) -> subprocess.CompletedProcess[str]:
    """The real CLI started cold (`python -m sampleloans`, its imports included) in `folder`
    on its ledger.db, to the end."""
    return subprocess.run(
        [sys.executable, "-m", "sampleloans", *args],
        capture_output=True,
        text=True,
        env=environment(folder / "ledger.db"),
        cwd=folder,
        timeout=600,
    )


@pytest.fixture(scope="module")
def cli(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WarmCli]:
    """Real CLI processes forked from one that has done the imports (tests/warm_cli.py)."""
    warm = WarmCli(tmp_path_factory.mktemp("warm"))
    yield warm
    warm.close()


def run(cli: WarmCli, folder: Path, args: list[str]) -> Done:
    """A real CLI process in `folder` on its ledger.db, to the end."""
    return cli.run(args, folder, environment(folder / "ledger.db"))


def killed(cli: WarmCli, folder: Path, args: list[str], after_s: float, signum: int) -> Done:
    """A real CLI process in `folder`, sent `signum` `after_s` seconds into the command's own
    work (its imports were done before it started)."""
    return cli.run(args, folder, environment(folder / "ledger.db"), signum, after_s)


@dataclass(frozen=True)
class Case:
    """A command that writes, and the path it writes (None: only the ledger)."""

    args: list[str]
    output: str | None = None
    ledger: str = "demo"  # which ledger it starts from: the demo, or release 0.1's golden one
    makes_ledger: bool = False  # init and demo: the ledger itself is the output
    random_output: bool = False  # a new key: whole when it is a key pair, never the same bytes


COLD_RERUN = "report-custody"
"""The command whose rerun after each kill is a cold `python -m sampleloans` (the others are
forked from a process that has done the imports: tests/warm_cli.py)."""

REPORT = ["--generated-at", GENERATED_AT, "--out", "out.pdf"]
CASES = {
    "samples-register": Case(
        ["samples", "register", "CE5C0000ZZZZ001", "--mission", "CE-5", "--mass", "3.2 mg",
         "--origin", "scoop", "--material", "glass bead", "--form", "rock fragment",
         "--purpose", "research", "--location", "NAOC N2 cabinet B"]
    ),
    "samples-split": Case(["samples", "split", "CE5C0000YJBP005", "--child", "-01=2mg"]),
    "samples-move": Case(["samples", "move", "CE5C0000YJBP005", "--location", "cabinet Z"]),
    "institutions-add": Case(
        ["institutions", "add", "KTH", "--name", "KTH Royal Institute", "--country", "SE",
         "--city", "Stockholm", "--kind", "borrower"]
    ),
    "people-add": Case(
        ["people", "add", "new@naoc.example", "--name", "New Curator", "--institution", "NAOC",
         "--role", "curator"]
    ),
    "custody-correct": Case(["custody", "correct", "50", "--text", "typo in the note"]),
    "incidents-report": Case(
        ["incidents", "report", "--sample", "CE5C0000YJYX048", "--kind", "damage",
         "--description", "cracked vial"]
    ),
    "loans-inventory": Case(["loans", "inventory", "L-2025-OU"]),
    "import": Case(["import", "big.csv"]),
    "checkpoint": Case(["checkpoint", "--key", "key", "--out", "out.txt"], "out.txt"),
    "keys-generate": Case(["keys", "generate", "--out", "new.key"], "new.key", random_output=True),
    "report-custody": Case(["report", "custody", "--loan", "L-2025-OU", *REPORT], "out.pdf"),
    "report-return": Case(["report", "return", "--loan", "L-2025-IPGP", *REPORT], "out.pdf"),
    "report-overdue": Case(["report", "overdue", "--institution", "Osaka", *REPORT], "out.pdf"),
    "report-inventory": Case(["report", "inventory", "--loan", "L-2025-OU", *REPORT], "out.pdf"),
    "report-statement": Case(
        ["report", "statement", "--institution", "OU", "--generated-at", GENERATED_AT,
         "--out", "statements"],
        "statements/statement-anand-at-open.example.pdf",
    ),
    "export-bag": Case(["export", "--bag", "bag"], "bag"),
    "export-events": Case(["export", "--events", "events.jsonl"], "events.jsonl"),
    "backup": Case(["backup", "copy.db"], "copy.db"),
    "restore": Case(["restore", "backup.db", "--force"]),
    # session 39: a ledger rebuilt from a bag, its checkpoint kept; in place of the ledger, and
    # as a new one
    "restore-bag": Case(["restore", "--bag", "lender-bag", "--public-key", "key.pub", "--force"]),
    "restore-bag-new": Case(
        ["--db", "rebuilt.db", "restore", "--bag", "lender-bag", "--public-key", "key.pub"],
        "rebuilt.db",
        makes_ledger=True,
    ),
    "db-upgrade": Case(["db", "upgrade"], ledger="golden"),
    "demo": Case(["demo", "--dir", "demo"], "demo/ledger.db", ledger="none", makes_ledger=True),
    "init": Case(
        ["init", "--curator-email", "li@naoc.example", "--curator-name", "Li Na"],
        "ledger.db",
        ledger="none",
        makes_ledger=True,
    ),
}  # fmt: skip


@pytest.fixture(scope="module")
def sources(cli: WarmCli, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The demo ledger with a checkpoint key and one kept checkpoint, and a large catalogue."""
    folder = tmp_path_factory.mktemp("sources")
    made = cli.run(["demo", "--dir", str(folder / "demo")], folder, environment(folder / "no.db"))
    assert made.returncode == 0, made.stderr
    shutil.copyfile(folder / "demo" / "ledger.db", folder / "ledger.db")
    for args in (
        ["keys", "generate", "--out", "key"],
        ["checkpoint", "--key", "key"],
        ["backup", "backup.db"],
        ["export", "--bag", "lender-bag"],
    ):
        done = run(cli, folder, args)
        assert done.returncode == 0, done.stderr
    rows = [
        f"SYN{i:07d},CE-5,scoop,,,regolith,powder,research,5 mg,illustrative,vault {i % 50},"
        "pristine,illustrative,bench"
        for i in range(CATALOGUE_ROWS)
    ]
    header = (
        "code,mission,origin,depth_top_cm,depth_bottom_cm,material_type,physical_form,"
        "purpose_class,mass,mass_source,storage_location,condition,record,source"
    )
    (folder / "big.csv").write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    yield folder


def workspace(sources: Path, case: Case, folder: Path) -> Path:
    """A fresh folder holding what `case` starts from."""
    folder.mkdir()
    for name in ("key", "key.pub", "key.signed", "big.csv", "backup.db"):
        shutil.copy(sources / name, folder / name)  # with its mode: a key stays 0600
    (folder / "statements").mkdir()
    shutil.copytree(sources / "lender-bag", folder / "lender-bag")
    if case.ledger == "demo":
        shutil.copyfile(sources / "ledger.db", folder / "ledger.db")
    elif case.ledger == "golden":
        shutil.copyfile(GOLDEN / "ledger-0.1.db", folder / "ledger.db")
    return folder


def tree_digest(path: Path) -> str:
    """The bytes of a file, or of every file under a folder with its relative name."""
    digest = hashlib.sha256()
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    for file in files:
        digest.update(str(file.relative_to(path) if path.is_dir() else "").encode())
        digest.update(file.read_bytes())
    return digest.hexdigest()


def ledger_state(folder: Path) -> str | None:
    """The rows of the ledger in `folder` (None when there is none)."""
    path = folder / "ledger.db"
    return fingerprint(path) if path.exists() else None


VOLATILE = ("key.signed", "new.key.pub", "ledger.db-wal", "ledger.db-shm", "ledger.db-journal")
"""Files a run may leave or change besides its output: the key's record of what it signed, a
key pair's public half, and SQLite's own files beside a ledger (a run killed while its ledger
is open leaves them; SQLite takes them up at the next open)."""


def visible(folder: Path) -> set[str]:
    """What a user sees in the folder and its sub-folders: not our hidden temp files, nor our
    temp folders (the folder is TMPDIR here: a replay's `sampleloans-replay-PID-…` stays
    after a SIGKILL, which nothing can clean, and the next run removes it, checked below)."""
    ours = {p.name for p in fileio.temp_names(folder)}
    return {
        str(p.relative_to(folder))
        for p in folder.rglob("*")
        if not any(part.startswith(".") for part in p.relative_to(folder).parts)
        and p.relative_to(folder).parts[0] not in ours
        and not is_python_tempdir_probe(folder, p)
    }


PROBE_NAME = re.compile(r"[a-z0-9_]{8}")
"""The name of the file Python's `tempfile` writes in TMPDIR to test it: 8 letters of its
`_RandomNameSequence`, no prefix, no suffix."""


def is_python_tempdir_probe(folder: Path, path: Path) -> bool:
    """True for the file Python writes (`blat`) and removes in TMPDIR on first use of
    `tempfile`: a SIGKILL between the two leaves it. The folder is TMPDIR here, so that is
    Python's, not ours, and a user's TMPDIR is where such files belong."""
    return (
        path.parent == folder
        and PROBE_NAME.fullmatch(path.name) is not None
        and path.is_file()
        and path.read_bytes() in (b"", b"blat")
    )


@dataclass(frozen=True)
class Reference:
    """What an uninterrupted run leaves: the ledger's state, the output, its run time."""

    ledger: str | None
    output: str | None
    seconds: float
    cpu_s: float
    files: frozenset[str]
    events: int  # in the ledger it leaves (a made ledger's rows differ: its id is random)


@pytest.fixture(scope="module")
def references() -> dict[str, Reference]:
    """Each command's uninterrupted run, made by its first test and kept for the next."""
    return {}


def reference(cli: WarmCli, sources: Path, case: Case, folder: Path) -> Reference:
    """Run the command to the end once, as the state to compare a killed run with, and time
    its own work (the moments to kill it at fall within it)."""
    work = workspace(sources, case, folder)
    done = run(cli, work, case.args)
    assert done.returncode == 0, done.stderr
    output = work / case.output if case.output else None
    produced = None
    if output is not None and not case.makes_ledger:
        produced = tree_digest(output)
    made = work / (case.output if case.makes_ledger and case.output else "ledger.db")
    files = frozenset(visible(work))
    made_events = event_count(made)
    return Reference(ledger_state(work), produced, done.seconds, done.cpu_s, files, made_events)


def event_count(ledger: Path) -> int:
    """How many events a ledger file holds."""
    # closed at once: an open connection keeps the ledger's -wal and -shm beside it, which the
    # check of what a killed run left would then see
    with closing(sqlite3.connect(ledger)) as connection:
        return int(connection.execute("SELECT count(*) FROM ledger_event").fetchone()[0])


def moments(name: str, seconds: float) -> list[float]:
    """Seeded random moments within a run of `seconds` (the command's own work: the imports
    were done before it started, so no kill lands in them)."""
    rng = random.Random(f"{SEED}-{name}")
    return [rng.uniform(0.25, 0.95) * seconds for _ in range(MOMENTS)]


def check_after_kill(
    cli: WarmCli, work: Path, case: Case, ref: Reference, before: str | None
) -> str:
    """The state a killed run left, checked; returns which state it was."""
    state = ledger_state(work)
    if case.makes_ledger:
        output = work / (case.output or "ledger.db")
        if output.exists():  # a ledger is in place only once it is complete
            assert event_count(output) == ref.events, "a partly written ledger was left"
            assert run(cli, work, ["--db", str(output), "verify"]).returncode == 0
            return "after"
        return "before"
    assert state in (before, ref.ledger), "the ledger is neither the state before nor after"
    checked = run(cli, work, ["verify"])
    assert checked.returncode == 0, checked.stdout + checked.stderr
    if case.output is not None:
        output = work / case.output
        if output.exists() and case.random_output:
            assert_a_whole_key_pair(output)
            return "after"
        if output.exists():
            assert tree_digest(output) == ref.output, f"{case.output} is not the whole new one"
            return "after"
    return "after" if state == ref.ledger and before != ref.ledger else "before"


def assert_a_whole_key_pair(private: Path) -> None:
    """A private key file readable by its owner only, and the public half beside it that
    matches it: what `keys generate` leaves once it is done (its key is new every run)."""
    assert private.stat().st_mode & 0o077 == 0, oct(private.stat().st_mode)
    signer = notes.parse_signer_key(private.read_text(encoding="utf-8").strip())
    public = private.with_name(private.name + ".pub").read_text(encoding="utf-8").strip()
    assert signer.verifier().encode() == public, "the public key is not the private key's half"


OUTPUTS = (
    "import", "checkpoint", "keys-generate", "report-custody", "report-return", "report-overdue",
    "report-inventory", "report-statement", "export-bag", "export-events", "backup",
)  # fmt: skip
"""The half of CASES this file kills: the commands that write a file, and the large import."""
LEDGER_WRITES = tuple(name for name in CASES if name not in OUTPUTS)
"""The other half (test_sweep_s35suited_kill_ledger_commands.py): ledger writes, restore,
upgrade, and the commands that make a ledger."""
SIGNALS = pytest.mark.parametrize("signum", [signal.SIGKILL, signal.SIGTERM], ids=["KILL", "TERM"])
"""Each command is killed with both."""


@SIGNALS
@pytest.mark.parametrize("name", OUTPUTS)
def test_a_command_killed_mid_run_leaves_before_or_after_and_reruns(
    cli: WarmCli,
    sources: Path,
    references: dict[str, Reference],
    tmp_path: Path,
    name: str,
    signum: int,
) -> None:
    kill_and_check(cli, sources, references, tmp_path, name, signum)


def kill_and_check(
    cli: WarmCli,
    sources: Path,
    references: dict[str, Reference],
    tmp_path: Path,
    name: str,
    signum: int,
) -> None:
    """Kill `name` with `signum` at its seeded moments and check what each kill left."""
    case = CASES[name]
    if name not in references:  # once for both signals
        references[name] = reference(cli, sources, case, tmp_path / "reference")
    ref = references[name]
    runs = f"runs {ref.seconds:.2f} s ({ref.cpu_s:.2f} s of CPU) after its imports"
    print(f"{name}: seed {SEED} (SAMPLELOANS_SEED to repeat), {runs}")
    for index, after_s in enumerate(moments(name, ref.seconds)):
        work = workspace(sources, case, tmp_path / f"killed-{index}")
        before = ledger_state(work)
        done = killed(cli, work, case.args, after_s, signum)
        code, stderr = done.returncode, done.stderr
        assert "Traceback" not in stderr, stderr[-3000:]
        if code == 0:
            continue  # it finished before the signal: nothing to check but the above
        assert code in (-signum, 128 + signum), (code, stderr)
        state = check_after_kill(cli, work, case, ref, before)
        # by name, wherever the ledger is (a demo's folder holds its own ledger.db)
        extra = {p for p in visible(work) - ref.files if Path(p).name not in VOLATILE}
        assert not extra, f"killed at {after_s:.2f} s, left where a user sees it: {extra}"
        print(f"  {signal.Signals(signum).name} at {after_s:.2f} s: {state}")
        # one command is run again the way a user does, imports and all (and its output must
        # then be the same bytes as the forked reference run's)
        rerun = cold(work, case.args) if name == COLD_RERUN else run(cli, work, case.args)
        if name == COLD_RERUN and case.output is not None and rerun.returncode == 0:
            assert tree_digest(work / case.output) == ref.output, "a cold run wrote other bytes"
        if state == "before":
            assert rerun.returncode == 0, f"rerun after a kill at {after_s:.2f} s: {rerun.stderr}"
        assert "Traceback" not in rerun.stderr, rerun.stderr[-3000:]
        hidden = [p.name for p in fileio.temp_names(work)]
        assert hidden == [], f"the rerun left temp files: {hidden}"
        if (work / "ledger.db").exists():
            with closing(sqlite3.connect(work / "ledger.db")) as connection:
                assert connection.execute("PRAGMA integrity_check").fetchone() == ("ok",)
