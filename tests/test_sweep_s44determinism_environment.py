"""Sweep s44 determinism: the user's environment changes no byte of any output.

A user in Beijing, one in Paris and CI run the same commands on the same ledger at the same
`SAMPLELOANS_NOW`: every listing (table, `--json`, `--jsonl`, `--csv`), the reports and the
statement (PDF bytes), `notify --outbox` messages, `export --events`, `export --bag` (its
`Bagging-Date` is the injected clock's UTC date, by design the only date BagIt writes) and the
checkpoint file must be the same bytes under any `TZ` (Pacific/Chatham, +12:45/+13:45, puts the
evening of the clock on the next day), `LANG`/`LC_ALL` (C; French; Turkish, whose dotless i
breaks naive case folding of `IPGP` and `MOYNIER@IPGP.EXAMPLE`), `PYTHONHASHSEED`, working
directory and `HOME`. Each run is a real process, so the environment really changes.
"""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.i15_statement_helpers import CURATOR, copy_ledger, make_demo

NOW = "2026-06-15T23:30:00Z"  # the next day in Chatham (+12:45) and Shanghai (+08:00)
COMPLIANCE = "compliance@naoc.example"
LOCALES = ("fr_FR", "tr_TR")
COMMANDS = [  # (actor, arguments); DIR: the run's own folder
    (CURATOR, ["samples", "list", "--csv"]),
    (CURATOR, ["loans", "list"]),
    (CURATOR, ["loans", "list", "--institution", "IPGP", "--json"]),
    (COMPLIANCE, ["overdue", "--jsonl"]),
    (CURATOR, ["people", "show", "MOYNIER@IPGP.EXAMPLE", "--json"]),
    (CURATOR, ["custody", "history", "--loan", "L-2025-Osaka"]),
    (CURATOR, ["custody", "history", "--sample", "CE5C0100YJFM00201", "--as-of", "2025-09-01"]),
    ("terada@osaka-u.example", ["status"]),
    (CURATOR, ["report", "custody", "--institution", "IPGP", "--out", "DIR/custody.pdf"]),
    (CURATOR, ["report", "overdue", "--institution", "Osaka", "--out", "DIR/overdue.pdf"]),
    (CURATOR, ["report", "statement", "--institution", "UoC", "--out", "DIR/statements"]),
    (CURATOR, ["notify", "--outbox", "DIR/outbox"]),
    (CURATOR, ["export", "--events", "DIR/events.jsonl"]),
    (CURATOR, ["export", "--bag", "DIR/bag", "--report", "DIR/custody.pdf"]),
    (CURATOR, ["checkpoint", "--key", "DIR/lender.key", "--out", "DIR/cp2.txt"]),
]


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The demo ledger with a kept checkpoint (`ledger.db`, `lender.key` in `base`), and a
    folder of compiled French and Turkish locales (`locales`, for LOCPATH), where the machine
    can compile them."""
    root = tmp_path_factory.mktemp("s44-environment")
    base = root / "base"
    ledger = make_demo(base)
    key = base / "lender.key"
    env = {**_env(root / "home", ledger), "TZ": "UTC"}
    for args in (
        ["keys", "generate", "--out", str(key), "--name", "naoc.example/ledger"],
        ["checkpoint", "--key", str(key), "--out", str(base / "cp.txt")],
    ):
        done = _cli(env, CURATOR, args, cwd=root)
        assert done.returncode == 0, done.stderr
    locales = root / "locales"
    locales.mkdir()
    localedef = shutil.which("localedef")
    if localedef is None:  # the runs still set the names, which Python then reads as C
        print("no localedef: LC_ALL=fr_FR.UTF-8/tr_TR.UTF-8 run without those locales")
    for name in LOCALES if localedef is not None else ():
        made = locales / f"{name}.UTF-8"
        subprocess.run([str(localedef), "-i", name, "-f", "UTF-8", str(made)], check=False)
    return {"root": root, "base": base, "locales": locales}


def _env(home: Path, ledger: Path) -> dict[str, str]:
    """What every run shares: the ledger, the clock, the terminal's width, no colour."""
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "SAMPLELOANS_DB": str(ledger),
        "SAMPLELOANS_NOW": NOW,
        "COLUMNS": "120",
        "NO_COLOR": "1",
        "HOME": str(home),
    }


def _cli(
    env: dict[str, str], actor: str, args: list[str], cwd: Path
) -> subprocess.CompletedProcess:
    """One command in a process of its own, with exactly `env`."""
    package = str(Path(__file__).resolve().parent.parent)
    env = {**env, "PYTHONPATH": package}
    command = [sys.executable, "-m", "sampleloans", "--as", actor, *args]
    return subprocess.run(command, env=env, cwd=cwd, capture_output=True, timeout=300)


def _outputs(setup: dict[str, Path], name: str, variant: dict[str, str | None]) -> dict[str, bytes]:
    """Every command's stdout and every file it wrote, in a run under `variant` (a value None:
    the variable unset; `_cwd`: the working directory), the run's folder spelt `DIR`."""
    folder = setup["root"] / name
    shutil.copytree(setup["base"], folder)
    copy_ledger(setup["base"] / "ledger.db", folder / "ledger.db")
    cwd = Path(variant.get("_cwd") or folder)
    cwd.mkdir(parents=True, exist_ok=True)
    env = {**_env(setup["root"] / "home", folder / "ledger.db"), "LOCPATH": str(setup["locales"])}
    for key, value in variant.items():
        if key == "_cwd":
            continue
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    found: dict[str, bytes] = {}
    for number, (actor, args) in enumerate(COMMANDS):
        typed = [arg.replace("DIR", str(folder)) for arg in args]
        done = _cli(env, actor, typed, cwd=cwd)
        assert done.returncode == 0, (args, done.stderr.decode())
        assert b"Traceback" not in done.stderr
        found[f"{number:02d} {' '.join(args)}"] = done.stdout.replace(str(folder).encode(), b"DIR")
    for path in sorted(folder.rglob("*")):
        if path.is_file() and not path.name.startswith("ledger.db"):
            found[str(path.relative_to(folder))] = path.read_bytes()
    return found


VARIANTS: dict[str, dict[str, str | None]] = {
    "chatham-c": {
        "TZ": "Pacific/Chatham",
        "LANG": "C",
        "LC_ALL": "C",
        "PYTHONHASHSEED": "1",
        "_cwd": "/",
    },
    "shanghai-turkish": {
        "TZ": "Asia/Shanghai",
        "LANG": "tr_TR.UTF-8",
        "LC_ALL": "tr_TR.UTF-8",
        "PYTHONHASHSEED": "random",
    },
    "los-angeles-french": {
        "TZ": "America/Los_Angeles",
        "LANG": "fr_FR.UTF-8",
        "LC_ALL": "fr_FR.UTF-8",
        "PYTHONHASHSEED": None,
        "HOME": None,
    },
}


@pytest.fixture(scope="module")
def plain(setup: dict[str, Path]) -> dict[str, bytes]:
    """The outputs of a plain run: UTC, C.UTF-8, hash seed 0, in the run's folder."""
    return _outputs(setup, "plain", {"TZ": "UTC", "LC_ALL": "C.UTF-8", "PYTHONHASHSEED": "0"})


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_every_output_is_the_same_bytes_in_any_environment(
    setup: dict[str, Path], plain: dict[str, bytes], variant: str
) -> None:
    """Each variant against the plain run: the same stdout and the same files, byte for
    byte; and the dates the outputs print are the clock's UTC date, never the next day local
    time gives."""
    other = _outputs(setup, variant, VARIANTS[variant])
    assert sorted(other) == sorted(plain)
    assert len([name for name in plain if name.startswith("outbox/")]) >= 3
    assert b"Bagging-Date: 2026-06-15\n" in plain["bag/bag-info.txt"]
    assert b"time 2026-06-15T23:30:00Z\n" in plain["cp2.txt"]
    for name in sorted(plain):
        assert other[name] == plain[name], name


def test_json_and_csv_do_not_follow_the_terminal_width(tmp_path: Path) -> None:
    """A table wraps to `COLUMNS`; `--json`, `--jsonl` and `--csv` are the same bytes at 30
    columns and at 250 (while the table itself does change, so the width is really read)."""
    from typer.testing import CliRunner

    from sampleloans.cli import app

    ledger = make_demo(tmp_path)
    commands = [
        ["samples", "list", "--csv"], ["loans", "list", "--json"], ["overdue", "--jsonl"],
        ["custody", "history", "--loan", "L-2025-Osaka", "--json"], ["balance", "--csv"],
        ["loans", "show", "L-2025-Osaka", "--jsonl"], ["institutions", "list", "--csv"],
        ["status", "--loan", "L-2025-OU", "--json"],
        ["samples", "tree", "CE5C0100YJFM00201", "--json"],
    ]  # fmt: skip
    seen: dict[str, list[str]] = {}
    for columns in ("30", "250"):
        env = {"SAMPLELOANS_DB": str(ledger), "SAMPLELOANS_NOW": NOW, "COLUMNS": columns}
        for args in [*commands, ["loans", "list"]]:
            done = CliRunner().invoke(app, ["--as", CURATOR, *args], env=env)
            assert done.exit_code == 0, done.output
            seen.setdefault(" ".join(args), []).append(done.stdout)
    narrow, wide = seen.pop("loans list")
    assert narrow != wide
    for command, (narrow, wide) in seen.items():
        assert narrow == wide, command


def test_the_files_written_have_the_same_modes_under_any_umask(setup: dict[str, Path]) -> None:
    """Before, a bag's tag files and its copied files took the account's umask (0666 under
    `umask 0`, 0644 under 022) beside its 0600 events file; now every file a command writes is
    0600 and every folder 0700 whatever the umask, and the same bytes."""
    found: list[dict[str, tuple[int, bytes]]] = []
    for umask in (0o000, 0o022, 0o077):
        folder = setup["root"] / f"umask-{umask:03o}"
        folder.mkdir()
        ledger = copy_ledger(setup["base"] / "ledger.db", folder / "ledger.db")
        env = _env(setup["root"] / "home", ledger)
        for args in (
            ["export", "--bag", str(folder / "bag")],
            ["export", "--events", str(folder / "events.jsonl")],
            ["report", "custody", "--loan", "L-2025-Osaka", "--out", str(folder / "c.pdf")],
            ["notify", "--outbox", str(folder / "outbox")],
        ):
            done = subprocess.run(
                [sys.executable, "-m", "sampleloans", "--as", CURATOR, *args],
                env={**env, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)},
                capture_output=True, umask=umask, timeout=300,
            )  # fmt: skip
            assert done.returncode == 0, done.stderr.decode()
        found.append(
            {
                str(path.relative_to(folder)): (
                    path.stat().st_mode & 0o777,
                    b"" if path.is_dir() else path.read_bytes(),
                )
                for path in sorted(folder.rglob("*"))
                if not path.name.startswith("ledger.db")
            }
        )
    modes = {mode for mode, _data in found[0].values()}
    assert modes == {0o600, 0o700}, modes
    assert found[0]["bag/bagit.txt"][0] == 0o600
    assert found[1] == found[0]
    assert found[2] == found[0]
