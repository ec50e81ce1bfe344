"""A PostgreSQL write that holds the writers' lock keeps every row it loads until its
transaction ends (`services/lock_reads._keep_loaded`: the identity map holds rows weakly, and a row
let go was read again, a wait while the lock is held), but an import's batch does not: its unit
keeps what it needs and forgets past a bound, so the import's memory stays bounded."""

import os
import shutil
from pathlib import Path

from sqlmodel import select

from sampleloans import db
from sampleloans.ledger.unit import batch_unit
from sampleloans.models import Loan, Sample
from sampleloans.services import lock_reads

GOLDEN = Path(__file__).resolve().parent / "golden" / "ledger-0.1.db"


def test_a_locked_write_keeps_what_it_loads_and_a_batch_does_not(tmp_path: Path) -> None:
    ledger = tmp_path / "ledger.db"
    shutil.copy(GOLDEN, ledger)
    os.chmod(ledger, 0o600)
    engine = db.open_engine(db.url_for_path(str(ledger)))
    try:
        with db.transaction(engine, write=False) as session:
            lock_reads.lock_reads_of(session).keep_loaded = True  # as a write with the lock does
            samples = len(session.exec(select(Sample)).all())
            held = lock_reads.lock_reads_of(session).held
            assert samples > 20 and len(held) == samples
            with batch_unit(session):
                loans = session.exec(select(Loan)).all()
                assert loans and len(held) == samples  # nothing more held in a batch
        with db.transaction(engine, write=False) as session:  # a session that did not lock
            session.exec(select(Sample)).all()
            assert lock_reads.lock_reads_of(session).held == []
    finally:
        engine.dispose()
