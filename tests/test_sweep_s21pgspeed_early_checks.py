"""Input checks run before the writers' lock is asked for, refused in the command's own order
(issue 14, Performance: a PostgreSQL write's client CPU while it holds the lock).

`institutions add` now cleans the name, country and city and reads the kind, and `samples move`
the location and the reason, before the write transaction begins (`services.common
.checked_early`); what they refuse is raised where it was: after the role's refusal, the "does
it exist?" and the sample's own state. These tests hold a long-lived PostgreSQL writer to those
refusals, with their messages, nothing written, and the next write working; and the same
order through the CLI on SQLite.
"""

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine
from typer.testing import CliRunner

from sampleloans import db
from sampleloans.cli import app
from sampleloans.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from sampleloans.services import reference, samples
from sampleloans.services.common import checked_early, require_name
from tests.conftest import CURATOR, OU_PI, ctx_for
from tests.test_i14_lock_reads import SAMPLE, _events

LATER = datetime(2026, 4, 28, 9, 0, tzinfo=UTC)


@pytest.fixture
def writer(demo_url: str) -> Iterator[Engine]:
    """A long-lived writer (an engine keeping its connection, as a service's process)."""
    engine = db.open_engine(demo_url)
    yield engine
    engine.dispose()


def _add(engine: Engine, actor: str = CURATOR, **given: str) -> None:
    """One institution, in its own write transaction (each field replaceable)."""
    fields = {"short_name": "EARLY-1", "name": "Lab E", "country": "CN", "city": "Beijing",
              "institution_kind": "borrower"} | given  # fmt: skip
    with db.transaction(engine) as session:
        reference.add_institution(
            session, ctx_for(actor, LATER), short_name=fields["short_name"], name=fields["name"],
            country=fields["country"], city=fields["city"],
            institution_kind=fields["institution_kind"],
        )  # fmt: skip


def _move(engine: Engine, code: str, location: str, actor: str = CURATOR) -> None:
    """One move, in its own write transaction."""
    with db.transaction(engine) as session:
        samples.move_sample(session, ctx_for(actor, LATER), code=code, storage_location=location)


def test_checked_early_gives_its_refusal_only_when_asked() -> None:
    """The check runs at once; its refusal is raised when its value is asked for, each time,
    and a value that passes comes back as cleaned."""
    ran: list[str] = []

    def check() -> str:
        ran.append("ran")
        return require_name(" ", "country")

    refused = checked_early(check)
    assert ran == ["ran"]
    for _ in range(2):
        with pytest.raises(InvalidInput, match=r"^country: "):
            refused()
    assert checked_early(lambda: require_name("  Lab E ", "name"))() == "Lab E"


def test_an_institution_refused_in_the_same_order_with_the_lock(
    writer: Engine, demo_url: str
) -> None:
    """A researcher's add with a blank country is refused for the role; a curator's add of an
    existing short name with a blank name as existing; a new one with a blank name, country,
    city or an unknown kind, naming that field; nothing written; then the add goes through."""
    _add(writer, short_name="EARLY-0")  # the writer's connection is open and warm
    before = _events(demo_url)
    with pytest.raises(PermissionDenied, match="only curators may add institutions"):
        _add(writer, actor=OU_PI, country=" ")
    with pytest.raises(Conflict, match="institution EARLY-0 already exists"):
        _add(writer, short_name="EARLY-0", name=" ")
    for field in ("name", "country", "city"):
        with pytest.raises(InvalidInput, match=rf"^{field}: "):
            _add(writer, **{field: " "})
    with pytest.raises(InvalidInput, match=r"^kind: 'museum' is not one of lender, curator"):
        _add(writer, institution_kind="museum")
    assert _events(demo_url) == before
    _add(writer)
    assert _events(demo_url) == before + 1


def test_a_move_refused_in_the_same_order_with_the_lock(writer: Engine, demo_url: str) -> None:
    """A researcher's move with a blank location is refused for the role; an unknown sample's
    as not found; a move to where the sample is as already there; a blank or too long location
    naming the field; nothing written; then the move goes through."""
    _move(writer, SAMPLE, "Cabinet E-1")
    before = _events(demo_url)
    with pytest.raises(PermissionDenied, match="only curators may move samples"):
        _move(writer, SAMPLE, " ", actor=OU_PI)
    with pytest.raises(NotFound, match="CE5C0400NOSUCH"):
        _move(writer, "CE5C0400NOSUCH", " ")
    with pytest.raises(Conflict, match="is already in 'Cabinet E-1'"):
        _move(writer, SAMPLE, "Cabinet E-1")
    with pytest.raises(InvalidInput, match=r"^storage location: "):
        _move(writer, SAMPLE, " ")
    with pytest.raises(InvalidInput, match=r"^storage location: 130 characters"):
        _move(writer, SAMPLE, "x" * 130)
    assert _events(demo_url) == before
    _move(writer, SAMPLE, "Cabinet E-2")
    assert _events(demo_url) == before + 1


def test_the_cli_refuses_the_role_before_the_input(tmp_path: Path) -> None:
    """On SQLite, through the CLI: a researcher's `institutions add` with a --country of two
    scripts (a Cyrillic і in China) exits 4 for the role; a curator's exits 2 naming the
    country; the ledger file unchanged."""
    runner = CliRunner()
    env = {"SAMPLELOANS_NOW": "2025-04-01T09:00:00Z"}
    made = runner.invoke(app, ["demo", "--dir", str(tmp_path)], env=env)
    assert made.exit_code == 0, made.stderr
    ledger = tmp_path / "ledger.db"
    before = ledger.read_bytes()
    args = ["institutions", "add", "EARLY-1", "--name", "Lab E", "--country", "Ch\u0456na",
            "--city", "Beijing", "--kind", "borrower"]  # fmt: skip
    for actor, code, said in ((OU_PI, 4, "only curators may add institutions"),
                              (CURATOR, 2, "country")):  # fmt: skip
        result = runner.invoke(app, ["--db", str(ledger), "--as", actor, *args], env=env)
        assert result.exit_code == code, result.stderr
        assert said in result.stderr
        assert "Traceback" not in result.stderr
    assert ledger.read_bytes() == before
