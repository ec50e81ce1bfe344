"""Sweep s44 determinism: a PostgreSQL database's collation changes no output.

A DBA makes the database with the server's locale: `en_US.UTF-8`, or an ICU locale, sorts
`Osaka` before `OU` and ignores or weighs `-` its own way, and a Turkish one lowers `I` to a
dotless `ı`. SQLite compares text by its bytes whatever the machine. Before this sweep every
listing's order, the case-twin checks and the checkpoint's state digest followed the database's
collation (and its booleans); now each is byte order, ASCII case and SQLite's stored values on
both engines, so the same events give the same bytes on SQLite and on any PostgreSQL database.
The test cluster is made `--no-locale`, so each test makes its databases with an ICU locale.
"""

import ast
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import col
from typer.testing import CliRunner, Result

from sampleloans.cli import app
from sampleloans.models import Institution, Loan, byte_lower, byte_order
from tests.i15_statement_helpers import CURATOR, NOW, make_demo
from tests.pgcluster import PgServer, fresh_database

Maker = Callable[[str, Path], str]
"""Makes a database in an ICU locale holding the events of a file; its URL."""
COMPLIANCE = "compliance@naoc.example"
OSAKA_PI = "terada@osaka-u.example"
LISTINGS = [  # (actor, command): every listing whose order a text key decides
    (CURATOR, ["institutions", "list", "--csv"]),
    (CURATOR, ["institutions", "list", "--json"]),
    (CURATOR, ["loans", "list", "--csv"]),
    (CURATOR, ["loans", "list", "--jsonl"]),
    (CURATOR, ["samples", "list", "--csv"]),
    (CURATOR, ["people", "list", "--csv"]),
    (CURATOR, ["agreements", "list", "--csv"]),
    (CURATOR, ["balance", "--csv"]),
    (CURATOR, ["samples", "tree", "CE5C0100YJFM00201", "--json"]),
    (CURATOR, ["custody", "history", "--institution", "Osaka", "--json"]),
    (COMPLIANCE, ["overdue", "--csv"]),
    (OSAKA_PI, ["status", "--json"]),
]


def run(db: str, actor: str, *args: str) -> Result:
    """One CLI command on ledger `db` as `actor` at the sweep's clock."""
    env = {"SAMPLELOANS_NOW": NOW, "COLUMNS": "120", "NO_COLOR": "1"}
    return CliRunner().invoke(app, ["--db", db, "--as", actor, *args], env=env)


def ok(db: str, actor: str, *args: str) -> Result:
    """`run`, which must succeed."""
    done = run(db, actor, *args)
    assert done.exit_code == 0, done.output
    return done


@pytest.fixture(scope="module")
def demo_events(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo ledger's events export (`export --events`), on SQLite beside it."""
    folder = tmp_path_factory.mktemp("s44-collation")
    ledger = make_demo(folder)
    events = folder / "events.jsonl"
    ok(str(ledger), CURATOR, "export", "--events", str(events))
    return events


@pytest.fixture
def icu_database(pg_server: PgServer) -> Iterator[Maker]:
    """A maker of databases in an ICU locale (`en-US`, `tr-TR`) holding the demo's events."""
    made: list[str] = []
    with psycopg.connect(pg_server.url(), autocommit=True) as connection:
        icu = connection.execute("SELECT count(*) FROM pg_collation WHERE collprovider = 'i'")
        row = icu.fetchone()
    if not row or not row[0]:
        pytest.skip("this PostgreSQL server was built without ICU: no database in another locale")

    def make(locale: str, events: Path) -> str:
        """A new database in `locale` with the events imported; its URL."""
        name = f"s44_{locale.replace('-', '_').lower()}_{len(made)}"
        pg_server.admin(
            f"CREATE DATABASE {name} TEMPLATE template0 "
            f"LOCALE_PROVIDER icu ICU_LOCALE '{locale}' LOCALE 'C'"
        )
        made.append(name)
        url = pg_server.url(name)
        ok(url, CURATOR, "import", str(events))
        return url

    yield make
    for name in made:
        pg_server.admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def test_the_locale_sorts_otherwise_which_the_listings_must_not_follow(
    icu_database: Maker, demo_events: Path, pg_server: PgServer
) -> None:
    """The database really sorts `Osaka` before `OU` (so the test can fail), and yet every
    listing, table, JSON and CSV alike, is byte for byte SQLite's (where `OU` comes first)."""
    url = icu_database("en-US", demo_events)
    with psycopg.connect(url) as connection:
        rows = connection.execute("SELECT x FROM (VALUES ('OU'), ('Osaka')) t(x) ORDER BY x")
        assert [x for (x,) in rows] == ["Osaka", "OU"]
    ledger = str(demo_events.parent / "ledger.db")
    shorts = ok(ledger, CURATOR, "institutions", "list", "--csv").stdout.splitlines()
    assert [line.split(",")[0] for line in shorts].index("OU") < [
        line.split(",")[0] for line in shorts
    ].index("Osaka")
    for actor, command in LISTINGS:
        assert ok(url, actor, *command).stdout == ok(ledger, actor, *command).stdout, command


def test_a_turkish_database_still_refuses_a_case_twin(
    icu_database: Maker, demo_events: Path
) -> None:
    """In Turkish `lower('IPGP')` is `ıpgp`: before, `ipgp` beside `IPGP` was accepted there
    and a loan number typed in lower case lost its hint; now both are as on SQLite."""
    url = icu_database("tr-TR", demo_events)
    with psycopg.connect(url) as connection:
        assert connection.execute("SELECT lower('I')").fetchone() == ("ı",)
    added = run(
        url, CURATOR, "institutions", "add", "ipgp", "--name", "Another", "--country", "France",
        "--city", "Paris", "--kind", "borrower", "--at", "2026-06-01T00:00:00Z",
    )  # fmt: skip
    assert added.exit_code == 1, added.output
    assert "differs only in case from institution IPGP" in added.stderr
    assert "Traceback" not in added.output
    shown = run(url, CURATOR, "loans", "show", "l-2025-ipgp")
    assert shown.exit_code == 2
    assert "did you mean L-2025-IPGP?" in shown.stderr
    events = ok(url, CURATOR, "verify", "--print-head").stdout
    assert events.startswith("107:"), events  # nothing recorded
    material = ok(url, CURATOR, "samples", "list", "--material", "BRECCIA", "--csv").stdout
    assert "CE5C0000YJYX061," in material


def test_statements_notices_and_checkpoints_are_the_same_bytes_on_both_engines(
    icu_database: Maker, demo_events: Path, tmp_path: Path
) -> None:
    """The checkpoint's state digest (and so its signed text), the statements (SELECT DISTINCT
    of the PIs, before a crash on PostgreSQL once ordered by code point) and the e-mails are
    SQLite's, on a database in another locale."""
    url = icu_database("en-US", demo_events)
    ledger = str(make_demo(tmp_path / "ledger"))
    key = tmp_path / "lender.key"
    ok(ledger, CURATOR, "keys", "generate", "--out", str(key), "--name", "naoc.example/ledger")
    outputs: dict[str, dict[str, bytes]] = {}
    for name, db in (("sqlite", ledger), ("postgresql", url)):
        folder = tmp_path / name
        folder.mkdir(exist_ok=True)
        ok(db, CURATOR, "checkpoint", "--key", str(key), "--out", str(folder / "cp.txt"))
        ok(db, CURATOR, "report", "statement", "--institution", "UoC", "--out", str(folder / "s"))
        ok(db, CURATOR, "notify", "--outbox", str(folder / "outbox"))
        ok(
            db,
            CURATOR,
            "report",
            "custody",
            "--loan",
            "L-2025-Osaka",
            "--out",
            str(folder / "c.pdf"),
        )
        outputs[name] = {
            str(path.relative_to(folder)): path.read_bytes()
            for path in sorted(folder.rglob("*"))
            if path.is_file()
        }
    assert len(outputs["sqlite"]) > 6
    assert outputs["postgresql"] == outputs["sqlite"]


def test_byte_order_is_collate_c_on_postgresql_and_the_column_on_sqlite() -> None:
    """Service level: the two constructs every listing and case lookup use, compiled for a
    PostgreSQL database in another collation (`COLLATE "C"`), for one already in byte order
    (as before: the column, so its `lower(…)` index and key order answer) and for SQLite."""
    query = (
        select(col(Institution.short_name))
        .where(byte_lower(Institution.short_name) == "ou")
        .order_by(byte_order(Institution.short_name).desc())
    )
    other_collation, byte_collation = postgresql.dialect(), postgresql.dialect()
    other_collation.collate_c = True  # type: ignore[attr-defined]  # as db sets it on connecting
    on_postgresql = " ".join(str(query.compile(dialect=other_collation)).split())
    in_byte_order = " ".join(str(query.compile(dialect=byte_collation)).split())
    on_sqlite = " ".join(str(query.compile(dialect=sqlite.dialect())).split())
    assert 'lower(institution.short_name COLLATE "C")' in on_postgresql
    assert on_postgresql.endswith('ORDER BY institution.short_name COLLATE "C" DESC')
    assert "lower(institution.short_name) = %(lower_1)s" in in_byte_order
    assert in_byte_order.endswith("ORDER BY institution.short_name DESC")
    assert "lower(institution.short_name) = ?" in on_sqlite
    assert on_sqlite.endswith("ORDER BY institution.short_name DESC")


def test_a_database_in_byte_order_keeps_its_indexes(pg_server: PgServer) -> None:
    """The test cluster's own databases are `--no-locale`: the engine finds them in byte
    order, so a case-twin lookup still uses the `lower(number)` index (revision 0007)."""
    from sampleloans import db

    with fresh_database(pg_server) as url:
        ok(url, CURATOR, "init", "--curator-email", CURATOR, "--curator-name", "Li Na",
           "--at", "2025-03-01")  # fmt: skip
        engine = db.make_engine(url)
        try:
            with engine.connect() as connection:
                assert not db.needs_collate_c(connection.dialect)
                connection.exec_driver_sql("SET enable_seqscan = off")
                twin = select(col(Loan.number)).where(byte_lower(Loan.number) == "x")
                sql = str(twin.compile(dialect=connection.dialect))
                plan = connection.exec_driver_sql(f"EXPLAIN {sql}", {"lower_1": "x"}).all()
        finally:
            engine.dispose()
    assert "ix_loan_number_lower" in " ".join(str(row[0]) for row in plan)


def _text_columns() -> set[str]:
    """The names of the model columns holding plain text (codes, numbers, e-mails, names)."""
    from sqlalchemy import String
    from sqlmodel import AutoString, SQLModel

    return {
        column.name
        for table in SQLModel.metadata.tables.values()
        for column in table.columns
        if isinstance(column.type, String | AutoString)
    }


def _unwrapped(node: ast.expr) -> ast.expr:
    """An ORDER BY term without `col(…)`, `.asc()` or `.desc()` around it."""
    while True:
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "col":
            node = node.args[0]
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in ("asc", "desc")
        ):
            node = node.func.value
        else:
            return node


def test_every_listing_orders_its_text_keys_by_byte_order() -> None:
    """The class, not the examples: each `order_by` of a service (what a listing, a report, a
    statement or an e-mail prints) names a text column only through `byte_order`, so a new
    listing cannot bring the database's collation back."""
    text_columns = _text_columns()
    root = Path(__file__).resolve().parent.parent / "sampleloans"
    found = []
    for path in sorted([*root.joinpath("services").rglob("*.py"), root / "ledger" / "checks.py"]):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
                continue
            if node.func.attr != "order_by":
                continue
            for term in map(_unwrapped, node.args):
                if isinstance(term, ast.Attribute) and term.attr in text_columns:
                    found.append(f"{path.relative_to(root)}:{term.lineno} {ast.unparse(term)}")
    assert "number" in text_columns and "short_name" in text_columns
    assert found == []
