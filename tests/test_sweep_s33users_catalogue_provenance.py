"""A catalogue's provenance columns (`firmness`, `mass_source`, `illustrative_fields`,
`source`) are checked against what data/README.md says they hold, though the ledger records
none of them: a wrong value is one line naming its row and column (exit 2), nothing written."""

import shutil
import sqlite3
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sampleloans import db
from sampleloans.cli import app
from sampleloans.services import setup
from sampleloans.services.bulk import BulkRejected, import_records
from tests.conftest import CURATOR, ctx_for

HEADER = "code,mission,origin,material_type,physical_form,mass,purpose_class,storage_location"
ROW = "CE5C0400YJFM09999,CE-5,scoop,regolith,powder,1 mg,research,NAOC N2 cabinet A"
WRONG = {
    "firmness": ("true", "firmness: 'true' is not one of firm, likely, unsure, illustrative"),
    "mass_source": ("weighed", "mass_source: 'weighed' is not one of published, illustrative"),
    "illustrative_fields": (
        "mass;colour",
        "illustrative_fields: 'colour' is not a column of the catalogue; give 'all' or column "
        "names separated by ';' (mass;storage_location)",
    ),
    "source": ('"CGTN\tBBC"', "source: contains the control or format character '\\t'"),
}


@pytest.fixture(scope="module")
def empty_ledger(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A ledger with the reference data and the demo people, no catalogue yet."""
    path = tmp_path_factory.mktemp("provenance") / "ledger.db"
    engine = db.open_engine(db.url_for_path(path), create=True)
    with db.transaction(engine) as session:
        setup.init_ledger(session, ctx_for(), curator_name="Li Na (test curator)")
        setup.add_people_rows(session, ctx_for(), setup.read_rows("demo/people.csv"))
    engine.dispose()
    return path


def _samples(path: Path) -> int:
    """How many samples the ledger holds."""
    with sqlite3.connect(path) as connection:
        return int(connection.execute("SELECT count(*) FROM sample").fetchone()[0])


@pytest.mark.parametrize("column", sorted(WRONG))
def test_a_wrong_provenance_value_is_refused_by_the_service(
    column: str, empty_ledger: Path, tmp_path: Path
) -> None:
    """import_records names the line and the column; nothing is written."""
    path = tmp_path / "ledger.db"
    shutil.copy2(empty_ledger, path)
    value, words = WRONG[column]
    lines = [f"{HEADER},{column}\n", f"{ROW},{value}\n"]
    before = _samples(path)
    engine = db.open_engine(db.url_for_path(path))
    with pytest.raises(BulkRejected) as refused, db.transaction(engine) as session:
        import_records(session, ctx_for(), lines, fmt="csv", source="c.csv")
    engine.dispose()
    assert refused.value.exit_code == 2
    (detail,) = refused.value.details
    assert detail.startswith(f"line 2: {words}")
    assert _samples(path) == before


def test_the_shipped_words_import(empty_ledger: Path, tmp_path: Path) -> None:
    """Every word data/README.md gives is accepted, with `all` and the empty value."""
    path = tmp_path / "ledger.db"
    shutil.copy2(empty_ledger, path)
    rows = [
        f"{ROW.replace('09999', f'0999{n}')},{f},{m},{fields},{src}\n"
        for n, (f, m, fields, src) in enumerate(
            [
                ("firm", "published", "mass;storage_location", '"CGTN, 19 Dec 2020"'),
                ("likely", "illustrative", "all", ""),
                ("unsure", "", "", ""),
                ("Illustrative", "Published", "", "x"),
            ]
        )
    ]
    header = f"{HEADER},firmness,mass_source,illustrative_fields,source\n"
    engine = db.open_engine(db.url_for_path(path))
    with db.transaction(engine) as session:
        result = import_records(session, ctx_for(), [header, *rows], fmt="csv")
    engine.dispose()
    assert result.records == len(rows)
    assert _samples(path) == _samples(empty_ledger) + len(rows)


def test_the_cli_refuses_firmness_true(empty_ledger: Path, tmp_path: Path) -> None:
    """`import` of a row with firmness=true: one line naming row and column, exit 2."""
    path = tmp_path / "ledger.db"
    shutil.copy2(empty_ledger, path)
    catalogue = tmp_path / "c.csv"
    catalogue.write_text(f"{HEADER},firmness\n{ROW},true\n", encoding="utf-8")
    before = _samples(path)
    result = CliRunner().invoke(app, ["--db", str(path), "--as", CURATOR, "import", str(catalogue)])
    assert result.exit_code == 2
    assert result.stderr.splitlines()[0] == (f"{catalogue.name} line 2: {WRONG['firmness'][1]}")
    assert "Traceback" not in result.stderr
    assert _samples(path) == before
