"""Issue 14 point 10: the README's "Several sites" section, run as written.

Its shell blocks run in bash against the throwaway PostgreSQL 15 cluster, with only these
substitutions: the server `db.example` becomes the cluster's address and port, the database
`ledger` a fresh one, and psql's interactive `\\password "EMAIL"` (which prompts) the
equivalent `ALTER ROLE … PASSWORD` with the password the section uses next for that person.
`dba` is created as a superuser with the section's password `SECRET`; `psql` and `createdb`
come from the machine (the PostgreSQL client package).
"""

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.pgcluster import PgServer

README = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
PASSWORDS = {"li@naoc.example": "PASS", "moynier@ipgp.example": "PASS2"}
"""The password the section's URLs then use for each person it gives one to."""


def section_blocks() -> list[str]:
    """The ```sh blocks of the "Several sites" section, in order."""
    start = README.index("## Several sites (PostgreSQL)")
    end = README.index("\n## ", start + 1)
    return re.findall(r"```sh\n(.*?)```", README[start:end], flags=re.S)


def _substituted(script: str, server: PgServer, database: str) -> str:
    """The section's commands aimed at the throwaway cluster (see the module docstring)."""
    address = f"{server.host}:{server.port}"
    for name, given in (("ledger", database), ("demo", f"{database}_demo")):
        script = script.replace(f"db.example:5432/{name}", f"{address}/{given}")
        script = script.replace(f"-h db.example -U dba {name}", f"-U dba {given}")
    for email, password in PASSWORDS.items():
        script = script.replace(
            f"-c '\\password \"{email}\"'",
            f"-c 'ALTER ROLE \"{email}\" PASSWORD '\"'{password}'\"",
        )
    assert "db.example" not in script and "\\password" not in script, script
    return script


@pytest.fixture
def sites_database(pg_server: PgServer) -> Iterator[str]:
    """The name the section's `ledger` becomes (createdb makes it; dropped afterwards), and a
    superuser `dba` with the section's password."""
    pg_server.admin(
        "DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'dba') THEN "
        "CREATE ROLE dba SUPERUSER LOGIN PASSWORD 'SECRET'; END IF; END $$"
    )
    name = f"sampleloans_sites_{os.getpid()}"
    try:
        yield name
    finally:
        for made in (name, f"{name}_demo"):
            pg_server.admin(f"DROP DATABASE IF EXISTS {made} WITH (FORCE)")


def test_the_section_has_the_steps_the_issue_names() -> None:
    """Create the database and the roles, each kind of user connecting, verify."""
    script = "\n".join(section_blocks())
    for step in ("createdb", "init", "db secure", "people add", "psql 'postgresql://", "verify"):
        assert step in script, step
    assert "Draft" not in README[README.index("## Several sites") :].split("\n## ")[0]


def test_the_several_sites_commands_run_as_written(
    pg_server: PgServer, sites_database: str, tmp_path: Path
) -> None:
    """Every command of the section succeeds in order; the researcher sees no foreign row and
    verify reports the defences in place."""
    if shutil.which("psql") is None or shutil.which("createdb") is None:
        pytest.skip("the PostgreSQL client programs (psql, createdb) are not installed")
    script = "\n".join(_substituted(block, pg_server, sites_database) for block in section_blocks())
    env = {
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "HOME": str(tmp_path),
        "PGHOST": pg_server.host,
        "PGPORT": str(pg_server.port),
        "PGPASSWORD": "SECRET",  # the DBA's, for psql and createdb (as ~/.pgpass would)
        "COLUMNS": "200",
        "NO_COLOR": "1",
        "SAMPLELOANS_NOW": "2026-04-28T10:00:00Z",  # the demo's clock (secured: the server's)
    }
    done = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    out = done.stdout
    assert "row-level security on, actors checked" in out
    assert "Added moynier@ipgp.example (researcher at IPGP)" in out
    assert "No loans match." in out
    assert "(0 rows)" in out  # psql as the researcher: no loan of IPGP yet, and no other
    # step 5: on the demo, IPGP's loan alone, in sampleloans and in psql
    researcher = out[out.rindex("Secured ") :].split("\n", 1)[1]  # after the demo's db secure
    assert "L-2025-IPGP" in researcher, researcher
    assert "L-2025-OU" not in researcher and "L-2025-UoC" not in researcher
    assert re.search(r"L-2025-IPGP\s*\|\s*IPGP\n\(1 row\)", researcher), researcher
    verdicts = [line for line in out.splitlines() if line.startswith("verify:")]
    # steps 0 and 4, and the demo's own closing verify in step 5
    assert len(verdicts) == 3 and all("verify: OK" in line for line in verdicts), out
    assert "PostgreSQL triggers in place" in out and "verify: OK — 22 events" in out
    assert "SECRET" not in out and "PASS2" not in out  # passwords are never printed
