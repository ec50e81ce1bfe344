"""The write path's checks read a scoped snapshot (`checks.build_snapshot` with named samples):
the samples, their children and which have an open incident come in one query, so that on
PostgreSQL a write waits for the server fewer times while it holds the writers' lock. The scoped
snapshot must say exactly what the whole one says about those samples."""

import os
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import Engine

from sampleloans import db
from sampleloans.ledger import checks
from sampleloans.services.incidents import report_incident
from tests.conftest import CURATOR, ctx_for

GOLDEN = Path(__file__).resolve().parent / "golden" / "ledger-0.1.db"
LATER = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)


def _ledger_with_an_open_incident(tmp_path: Path) -> Engine:
    """The golden ledger (splits in the vault and on loan) with an open incident on a held
    sample that has a child."""
    ledger = tmp_path / "ledger.db"
    shutil.copy(GOLDEN, ledger)
    os.chmod(ledger, 0o600)
    engine = db.open_engine(db.url_for_path(str(ledger)))
    with db.transaction(engine) as session:
        report_incident(
            session, ctx_for(CURATOR, LATER - timedelta(days=1)), sample="CE5C0000YJYX061",
            incident_kind="damage", description="vial cracked",
        )  # fmt: skip
    return engine


def _codes(rows: list[checks.SampleFigures]) -> list[str]:
    """The codes of sample rows, in their order."""
    return [str(row.code) for row in rows]


def test_a_scoped_snapshot_agrees_with_the_whole_one_for_every_sample(tmp_path: Path) -> None:
    engine = _ledger_with_an_open_incident(tmp_path)
    with engine.connect() as connection:
        whole = checks.build_snapshot(connection)
        assert "CE5C0000YJYX061" in whole.open_incident_samples
        for sample in whole.samples:
            code = str(sample.code)
            scoped = checks.build_snapshot(connection, samples=[code])
            assert _codes(scoped.samples) == [code]
            assert scoped.open_incident_samples == whole.open_incident_samples & {code}
            children = scoped.children.get(code, [])
            assert sorted(_codes(children)) == sorted(_codes(whole.children.get(code, [])))
            assert set(scoped.children) <= {code}  # no other sample's children
            assert checks.run_checks(scoped) == []
    engine.dispose()


def test_a_scoped_snapshot_of_several_samples_keeps_each_ones_children(tmp_path: Path) -> None:
    engine = _ledger_with_an_open_incident(tmp_path)
    parents = ["CE5C0000YJYX061", "CE5C0100YJFM00201", "CE5C0800YJFM00102"]
    with engine.connect() as connection:
        # a parent and one of its children named together: the child is a sample and a child
        scoped = checks.build_snapshot(connection, samples=[*parents, "CE5C0100YJFM00201-02"])
    engine.dispose()
    assert _codes(scoped.samples) == sorted([*parents, "CE5C0100YJFM00201-02"])
    assert {p: len(c) for p, c in scoped.children.items()} == {
        "CE5C0000YJYX061": 1,
        "CE5C0100YJFM00201": 3,
        "CE5C0800YJFM00102": 2,
    }
    assert scoped.open_incident_samples == {"CE5C0000YJYX061"}


def test_a_loans_scoped_snapshot_has_its_samples_and_all_their_items(tmp_path: Path) -> None:
    """A write on a loan checks every sample on it, with each one's items on any loan (read
    with the loan's items in one query), and the loan itself."""
    engine = _ledger_with_an_open_incident(tmp_path)
    with engine.connect() as connection:
        whole = checks.build_snapshot(connection)
        numbers = sorted({str(i.loan_number) for i in whole.items})
        assert len(numbers) >= 5
        for number in numbers:
            scoped = checks.build_snapshot(connection, samples=[], loans=[number])
            on_loan = {str(i.sample_code) for i in whole.items if i.loan_number == number}
            assert set(_codes(scoped.samples)) == on_loan
            expected = sorted(
                (str(i.loan_number), str(i.sample_code))
                for i in whole.items
                if i.sample_code in on_loan
            )
            found = sorted((str(i.loan_number), str(i.sample_code)) for i in scoped.items)
            assert found == expected
            assert [str(loan.number) for loan in scoped.loans] == [number]
            assert checks.run_checks(scoped) == []
    engine.dispose()


def test_an_agreements_scoped_snapshot_has_the_mass_issued_under_it(tmp_path: Path) -> None:
    """A write touching an agreement reads it with the mass issued under it in one query:
    the same figures as the whole snapshot's."""
    engine = _ledger_with_an_open_incident(tmp_path)
    with engine.connect() as connection:
        whole = checks.build_snapshot(connection)
        numbers = sorted(str(a.number) for a in whole.agreements)
        assert any(whole.agreement_issued_ug.get(n, 0) > 0 for n in numbers)
        for number in numbers:
            scoped = checks.build_snapshot(connection, samples=[], agreements=[number])
            assert [str(a.number) for a in scoped.agreements] == [number]
            expected = {k: v for k, v in whole.agreement_issued_ug.items() if k == number}
            assert scoped.agreement_issued_ug == expected
            assert checks.run_checks(scoped) == []
    engine.dispose()
