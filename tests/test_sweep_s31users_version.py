"""The release a user reads agrees with the schema it writes (sweep, stop 31).

`sampleloans --version` said `0.1.0 (schema 0013_…)` while docs/migrations.md lists every
revision after the baseline as release 0.2: a user reading both could not tell which release they
run, nor which ledgers it makes. The release is now written once (`sampleloans.__version__`),
read by `--version`, the package metadata (pyproject.toml) and the genesis event of a new ledger.
"""

import json
import re
import tomllib
from pathlib import Path

from typer.testing import CliRunner

from sampleloans import __version__, db
from sampleloans.cli import app
from sampleloans.db import SCHEMA_HEAD
from sampleloans.models import LedgerEvent
from sampleloans.services import setup
from tests.conftest import ctx_for

ROOT = Path(__file__).resolve().parent.parent
MIGRATIONS = ROOT / "docs" / "migrations.md"


def _release_of(revision: str) -> str:
    """The release docs/migrations.md's "Revisions" table names for `revision`."""
    text = MIGRATIONS.read_text(encoding="utf-8")
    found = re.search(rf"^\| `{re.escape(revision)}` \| ([0-9.]+) \|", text, flags=re.MULTILINE)
    assert found is not None, f"{revision} is not in docs/migrations.md's table"
    return found.group(1)


def _major_minor(release: str) -> str:
    """'0.2' of '0.2.0'."""
    return ".".join(release.split(".")[:2])


def test_version_names_the_release_of_the_schema_it_writes(tmp_path: Path) -> None:
    """`--version`'s release is the one docs/migrations.md gives the schema head it prints."""
    result = CliRunner().invoke(app, ["--db", str(tmp_path / "none.db"), "--version"])
    assert result.exit_code == 0, result.output
    printed = re.fullmatch(r"sampleloans (\S+) \(schema (\S+)\)\n", result.stdout)
    assert printed is not None, result.stdout
    release, schema = printed.groups()
    assert schema == SCHEMA_HEAD
    assert _major_minor(release) == _release_of(schema)


def test_the_package_metadata_reads_the_release_from_the_code() -> None:
    """pyproject.toml does not keep a second copy of the release that could fall behind."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert "version" not in project["project"]
    assert "version" in project["project"]["dynamic"]
    attr = project["tool"]["setuptools"]["dynamic"]["version"]["attr"]
    assert attr == "sampleloans.__version__"


def test_a_new_ledger_records_the_release_that_made_it(db_path: Path) -> None:
    """Service level: the genesis event `init_ledger` appends names the release `--version`
    prints."""
    engine = db.open_engine(db.url_for_path(db_path), create=True)
    with db.transaction(engine) as session:
        setup.init_ledger(session, ctx_for(), curator_name="Li Na")
    with db.transaction(engine) as session:
        genesis = session.get(LedgerEvent, 1)
        assert genesis is not None and genesis.kind == "ledger.created"
        assert json.loads(genesis.payload)["software"] == f"sampleloans {__version__}"
    engine.dispose()
    assert _major_minor(__version__) == _release_of(SCHEMA_HEAD)
