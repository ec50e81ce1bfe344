"""Issue 13 point 3: an import keeps the random-keyed indexes of a 1M-event ledger in SQLite's
page cache (bench/RESULTS.md, wave of 2026-12-01 (11)), and that cache stays bounded.

At 1M events the indexes an import inserts into in no key order (the events' hashes, the
subjects' lookup, consumptions by sample and by loan) hold about 270 MiB; with a 64 MiB cache a
history going round 20,000 loans read almost every page again. The cache is a fixed bound in
KiB, set by `db.use_bulk_cache` on SQLite only; PostgreSQL's buffers are the server's.
"""

from pathlib import Path

import pytest
from sqlalchemy import Engine
from typer.testing import CliRunner

from sampleloans import db
from sampleloans.cli import app
from sampleloans.services.bulk import import_records
from tests.conftest import CURATOR, ctx_for

HEADER = (
    "code,mission,origin,depth_top_cm,depth_bottom_cm,material_type,physical_form,"
    "purpose_class,mass,mass_source,storage_location,condition,record"
)
ROW = "CE5C7{n:06d},CE-5,scoop,,,regolith,powder,research,1 mg,published,NAOC B,pristine,real"
RANDOM_KEYED_INDEXES_AT_1M_MIB = 270  # bench ledger, dbstat: hash 80, lookup 155, consumption 28


def _catalogue(folder: Path, rows: int) -> Path:
    """A catalogue of `rows` new samples."""
    path = folder / "catalogue.csv"
    lines = [HEADER] + [ROW.format(n=n) for n in range(rows)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_the_import_cache_holds_the_1m_indexes_and_is_bounded() -> None:
    kib = -db.IMPORT_CACHE_KIB  # negative: KiB, not pages (whatever the page size)
    assert db.IMPORT_CACHE_KIB < 0
    assert kib >= RANDOM_KEYED_INDEXES_AT_1M_MIB * 1024
    assert kib <= 512 * 1024  # the bound on what an import's cache may hold


def test_an_import_runs_with_the_import_cache(engine: Engine, tmp_path: Path) -> None:
    catalogue = _catalogue(tmp_path, 3)
    with db.transaction(engine) as session, catalogue.open(encoding="utf-8") as lines:
        result = import_records(session, ctx_for(), lines, fmt="csv", source="catalogue.csv")
        cache = session.connection().exec_driver_sql("PRAGMA cache_size").scalar()
    assert result.events == 3
    assert cache == db.IMPORT_CACHE_KIB


@pytest.mark.usefixtures("cli_env", "engine")
def test_the_import_command_sets_the_cache_before_it_writes(
    tmp_path: Path, statements: list[str]
) -> None:
    catalogue = _catalogue(tmp_path, 2)
    result = CliRunner().invoke(app, ["--as", CURATOR, "import", str(catalogue)])
    assert result.exit_code == 0, (result.stdout, result.stderr)
    pragma = f"PRAGMA cache_size = {db.IMPORT_CACHE_KIB}"
    assert pragma in statements
    first_insert = next(i for i, sql in enumerate(statements) if sql.startswith("INSERT"))
    assert statements.index(pragma) < first_insert
