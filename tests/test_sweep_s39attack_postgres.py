"""Session 39's attack on `restore --bag` into PostgreSQL.

Found: a database that already held a ledger (or any of its tables) was refused only after the
whole bag was validated and rebuilt in a scratch file (a large bag: minutes, for a refusal known
at once), and the refusals named `restore --events` to a user who typed `restore --bag`.
Checked and holding: a restore killed before its copy or inside its transaction leaves no table.
"""

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import psycopg
import pytest

from sampleloans import fileio
from tests.i15_statement_helpers import env_for, invoke
from tests.pgcluster import PgServer, fresh_database
from tests.test_sweep_s39attack_bag_restore import lender  # noqa: F401  (the fixture)


def fifo_bag(lender: dict[str, Any], tmp_path: Path) -> Path:  # noqa: F811
    """A copy of the bag whose events file is a FIFO: a restore that read it would wait."""
    bag = Path(shutil.copytree(lender["bag"], tmp_path / "bag"))
    events = bag / "data" / "events.jsonl"
    events.unlink()
    os.mkfifo(events)
    return bag


@pytest.mark.parametrize("holds", ["a ledger", "one table"])
def test_a_database_not_empty_is_refused_before_the_bag_is_read(
    pg_server: PgServer,
    lender: dict[str, Any],  # noqa: F811
    tmp_path: Path,
    holds: str,
) -> None:
    bag = fifo_bag(lender, tmp_path)
    with fresh_database(pg_server) as target:
        env = {**env_for(lender["db"]), "SAMPLELOANS_DB": target}
        if holds == "a ledger":
            made = invoke(env, "restore", "--events", str(lender["bag"] / "data" / "events.jsonl"))
            assert made.exit_code == 0, made.stderr
        else:
            with psycopg.connect(target, autocommit=True) as connection:
                connection.execute("CREATE TABLE loan (id integer)")
        done = invoke(env, "restore", "--bag", str(bag), "--public-key", str(lender["pub"]))
        assert done.exit_code == 3, done.stdout + done.stderr
        [line] = done.stderr.strip().splitlines()
        assert "restore --bag fills only an empty database" in line, line
        assert line.endswith("nothing was written") and done.stdout == ""


FORCE_AND_NO_KEY = {
    "--force": (3, "Error: restore --bag into PostgreSQL", ["--public-key", "KEY", "--force"]),
    "no key": (2, "Error: --public-key: the bag", []),
}  # fmt: skip


@pytest.mark.parametrize("case", FORCE_AND_NO_KEY)
def test_force_or_no_key_into_postgresql_is_refused_and_writes_nothing(
    pg_server: PgServer,
    lender: dict[str, Any],  # noqa: F811
    case: str,
) -> None:
    """--force is named as restore --bag's (before: restore --events); without the key, as for
    a file: no checkpoint kept; the database stays empty, so the same restore then works."""
    code, words, args = FORCE_AND_NO_KEY[case]
    with fresh_database(pg_server) as target:
        env = {**env_for(lender["db"]), "SAMPLELOANS_DB": target}
        given = [str(lender["pub"]) if arg == "KEY" else arg for arg in args]
        done = invoke(env, "restore", "--bag", str(lender["bag"]), *given)
        assert done.exit_code == code, done.stdout + done.stderr
        assert done.stderr.startswith(words), done.stderr
        again = invoke(
            env, "restore", "--bag", str(lender["bag"]), "--public-key", str(lender["pub"])
        )
        assert again.exit_code == 0, again.stderr  # nothing was written by the refusal


@pytest.mark.parametrize("point", ["before_restore_load", "before_commit"])
def test_a_killed_restore_bag_leaves_the_database_empty(
    pg_server: PgServer,
    lender: dict[str, Any],  # noqa: F811
    tmp_path: Path,
    point: str,
) -> None:
    """SIGKILL (a crash point) before the copy or inside its transaction: no table, and the
    scratch folder the rebuild used is removed by the next run, which keeps the checkpoints."""
    with fresh_database(pg_server) as target:
        env = {**os.environ, **env_for(lender["db"]), "SAMPLELOANS_DB": target}
        env.update(TMPDIR=str(tmp_path), SAMPLELOANS_CRASH_AT=point)
        args = [sys.executable, "-m", "sampleloans", "restore", "--bag", str(lender["bag"])]
        args += ["--public-key", str(lender["pub"])]
        killed = subprocess.run(args, env=env, capture_output=True, text=True, timeout=300)
        assert killed.returncode == -9, killed.stderr
        with psycopg.connect(target) as connection:
            tables = connection.execute(
                "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'"
            ).fetchone()
        assert tables == (0,), "a killed restore left tables behind"
        env.pop("SAMPLELOANS_CRASH_AT")
        again = subprocess.run(args, env=env, capture_output=True, text=True, timeout=300)
        assert again.returncode == 0, again.stderr
        assert "Kept 2 checkpoints of the bag:" in again.stdout
        assert fileio.temp_names(tmp_path) == []
