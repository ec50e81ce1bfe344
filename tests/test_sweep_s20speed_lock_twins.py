"""A new code's two lookups with the writers' lock as one statement, and the COMMIT without a
round trip after it (issue 14, Performance: the client's CPU per PostgreSQL write).

`institutions add` (and `agreements add`, a loan's request) asks "does this code exist?" and
"does a code differ from it only in case?"; on PostgreSQL both now go with the lock as one read
of every row whose code is the new one in all but case. These tests hold a long-lived writer's
answers to what they were (the same refusals, in the same order, the same rows written), with
another writer's rows committed just before, and the answer of a row whose own code the server's
lower() would not match. A move's sample comes with its checks' reads, as one. (The COMMIT,
now a statement of the rows' pipeline, refused by the server: `tests/test_i14_lock_reads.py`,
"at the commit".)
"""

from collections.abc import Iterator
from datetime import UTC, datetime

import psycopg
import pytest
from sqlalchemy import Engine

from sampleloans import db
from sampleloans.errors import Conflict, NotFound
from sampleloans.services import agreements, samples
from sampleloans.services.common import get_sample
from sampleloans.services.verify import verify
from tests.conftest import ctx_for
from tests.test_i14_lock_reads import _add_institution, _events, _selects_sent_through_sqlalchemy

LATER = datetime(2026, 4, 28, 9, 0, tzinfo=UTC)


@pytest.fixture
def writers(demo_url: str) -> Iterator[tuple[Engine, Engine]]:
    """Two long-lived writers (each an engine with its own connection, as two processes)."""
    engines = db.open_engine(demo_url), db.open_engine(demo_url)
    yield engines
    for engine in engines:
        engine.dispose()


def _add_agreement(engine: Engine, number: str) -> None:
    """One draft agreement with UoC, in its own write transaction."""
    with db.transaction(engine) as session:
        agreements.create_agreement(
            session, ctx_for(now=LATER), number=number, institution="UoC", term="P2Y",
            max_total_mass_ug=1_000, allowed_purposes=["research"], max_loan_period="P1Y",
        )  # fmt: skip


def test_a_code_and_its_case_twin_both_stored_the_code_itself_is_named(
    writers: tuple[Engine, Engine], demo_url: str
) -> None:
    """With T-A and t-a both stored (a ledger written before the case rule, as an import of it
    would hold them), adding T-A is refused as existing (the key's own lookup comes first, as
    before), t-A as a case twin of one of them; nothing is written, and T-B is added."""
    first, _second = writers
    _add_institution(first, "WARM-0")  # the first writer's connection is open and warm
    with psycopg.connect(demo_url, autocommit=True) as admin:
        admin.execute("SET session_replication_role = replica")  # (the rows alone, no event)
        admin.execute(
            "INSERT INTO institution (short_name, name, country, city, kind) VALUES "
            "('t-a', 'Old Lab', 'CN', 'Beijing', 'borrower'), "
            "('T-A', 'Old Lab', 'CN', 'Beijing', 'borrower')"
        )
    before = _events(demo_url)
    with pytest.raises(Conflict, match="institution T-A already exists"):
        _add_institution(first, "T-A")
    with pytest.raises(Conflict, match=r"institution t-A differs only in case from institution "):
        _add_institution(first, "t-A")
    assert _events(demo_url) == before
    _add_institution(first, "T-B")
    assert _events(demo_url) == before + 1


def test_a_new_code_whose_twin_another_writer_just_added_is_refused(
    writers: tuple[Engine, Engine], demo_url: str
) -> None:
    """An agreement number: Ag-Twin added by the second writer; the first is refused AG-TWIN
    naming Ag-Twin, then adds AG-OTHER, and the ledger verifies."""
    first, second = writers
    _add_institution(first, "WARM-1")
    _add_agreement(second, "Ag-Twin")
    before = _events(demo_url)
    with pytest.raises(
        Conflict, match="agreement AG-TWIN differs only in case from agreement Ag-Twin"
    ):
        _add_agreement(first, "AG-TWIN")
    with pytest.raises(Conflict, match="agreement Ag-Twin already exists"):
        _add_agreement(first, "Ag-Twin")
    assert _events(demo_url) == before
    _add_agreement(first, "AG-OTHER")
    assert _events(demo_url) == before + 1
    assert verify(first).problems == []


def test_the_codes_own_row_is_found_whatever_the_servers_lower_makes_of_it(
    writers: tuple[Engine, Engine], demo_url: str
) -> None:
    """The one read asks for the code's own row by equality too: with the server's lower()
    made to answer nothing for it (a function of that name earlier on the search path, as a
    locale whose case rules differ from Python's would), the code is still found and refused as
    existing, not sent to the INSERT."""
    first, second = writers
    _add_institution(first, "WARM-2")
    _add_institution(second, "LOW-1")
    with psycopg.connect(demo_url, autocommit=True) as admin:
        admin.execute(
            "CREATE FUNCTION public.lower(text) RETURNS text LANGUAGE sql IMMUTABLE "
            "AS $$ SELECT 'nothing matches this' $$"
        )
        user = admin.execute("SELECT current_user").fetchone()
        assert user is not None
        admin.execute(f'ALTER ROLE "{user[0]}" SET search_path = public, pg_catalog')
    try:
        lowered = db.open_engine(demo_url)  # a new connection: the new search path
        try:
            before = _events(demo_url)
            with pytest.raises(Conflict, match="institution LOW-1 already exists"):
                _add_institution(lowered, "LOW-1")
            assert _events(demo_url) == before
        finally:
            lowered.dispose()
    finally:
        with psycopg.connect(demo_url, autocommit=True) as admin:
            user = admin.execute("SELECT current_user").fetchone()
            assert user is not None
            admin.execute(f'ALTER ROLE "{user[0]}" RESET search_path')
            admin.execute("DROP FUNCTION public.lower(text)")


SAMPLE = "CE5C0400YJFM00505"  # in the vault in the demo


def _move(engine: Engine, code: str, to: str) -> None:
    """One move, in its own write transaction."""
    with db.transaction(engine) as session:
        samples.move_sample(session, ctx_for(now=LATER), code=code, storage_location=to)


def test_a_move_reads_its_sample_with_its_check_scope_after_the_other_writers_commit(
    writers: tuple[Engine, Engine], demo_url: str
) -> None:
    """A move's sample comes with what its checks read about it (it and its children), not a
    read of its own: writer B moves the sample to Shelf B; writer A, asking the same, is
    refused as already there (read after B's commit, with no query of its own), then moves it
    on; an unknown code is refused as before; the ledger verifies."""
    first, second = writers
    _add_institution(first, "WARM-4")
    _move(second, SAMPLE, "Shelf B")
    before = _events(demo_url)
    seen = _selects_sent_through_sqlalchemy(first)
    with pytest.raises(Conflict, match=f"sample {SAMPLE} is already in 'Shelf B'"):
        _move(first, SAMPLE, "Shelf B")
    assert not [s for s in seen if "FROM sample" in s]  # answered from the lock's pipeline
    with pytest.raises(
        NotFound, match="sample 'NO-SUCH-1': no such sample; see 'sampleloans samples list'"
    ):
        _move(first, "NO-SUCH-1", "Shelf C")
    assert _events(demo_url) == before
    _move(first, SAMPLE, "Shelf A")
    assert _events(demo_url) == before + 1
    with db.transaction(second, write=False) as session:
        assert get_sample(session, SAMPLE).storage_location == "Shelf A"
    assert verify(first).problems == []
