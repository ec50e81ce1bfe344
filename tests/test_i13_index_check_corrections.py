"""Issue 13 point 5: the replay that reads the ledger's own index (`verify`) reads a sample's
later events only up to the event being applied, as a replay into a copy would.

A mass correction of a registration is refused once the sample was split or lent after it
(`kinds_after`). An index entry forged under a later split, naming the corrected sample, must not
make the correction's replay fail: verify names the forged entry, and nothing else.
"""

import sqlite3
from pathlib import Path

from sqlalchemy import Engine

from sampleloans.services import samples
from sampleloans.services.corrections import correct_mass
from sampleloans.services.verify import verify
from sampleloans.units import parse_mass_ug as mass
from tests.conftest import Run
from tests.test_verify_tamper import tamper

ROOT = "CE5C0000YJYX061"  # 12.4 mg, never lent in the fixtures
PARENT = "CE5C0100YJFM00201"  # 1000 mg


def _registration_seq(path: Path, code: str) -> int:
    """The seq of a sample's registration event."""
    with sqlite3.connect(path) as connection:
        (seq,) = connection.execute(
            "SELECT min(seq) FROM event_subject WHERE subject_type = 'sample' AND subject_key = ?",
            (code,),
        ).fetchone()
    return int(seq)


def test_a_forged_later_entry_does_not_reach_the_replay_of_an_earlier_correction(
    engine: Engine, db_path: Path, run: Run
) -> None:
    registered = _registration_seq(db_path, ROOT)
    run(correct_mass, corrects_seq=registered, mass_ug=mass("12 mg"), reason="reweighed dry")
    split = run(samples.split_sample, parent=PARENT, children=[("-01", mass("2 mg"))])
    assert verify(engine).ok
    engine.dispose()
    tamper(
        db_path,
        (
            "INSERT INTO event_subject (seq, subject_type, subject_key) VALUES (?, 'sample', ?)",
            (split.seq, ROOT),
        ),
    )
    problems = [p.message for p in verify(engine).problems]
    assert problems == [
        f"event_subject row {split.seq}/sample/{ROOT} is in the database but no event produced it"
    ]
