"""A sample already on an open loan request, asked for again by a long-lived writer on
PostgreSQL: refused with the request named (exit 1 through the CLI), as on SQLite. Before, the
open requests read with the writers' lock came back as plain tuples and `open_request_of` read
them by attribute: an AttributeError traceback instead of the refusal (the CLI, which begins its
transaction before it reads, read them by an ordinary query and was not hit)."""

from datetime import UTC, datetime
from typing import Any

import pytest
from typer.testing import CliRunner

from sampleloans import db
from sampleloans.cli import app
from sampleloans.errors import Conflict
from sampleloans.services import loans
from sampleloans.services.verify import verify
from tests.conftest import ctx_for

LATER = datetime(2026, 4, 28, 9, 0, tzinfo=UTC)
SAMPLE = "CE5C0000YJYX048"  # in the vault of the demo
REQUEST: dict[str, Any] = {
    "agreement": "AG-2025-UoC",
    "pi": "muenker@uni-koeln.example",
    "samples": [SAMPLE],
}


def test_a_sample_on_an_open_request_is_refused_by_a_writer_and_the_cli(demo_url: str) -> None:
    """Service level (one engine, one write transaction each): the second request of the
    sample is refused naming the first, nothing written; then the same through the CLI."""
    engine = db.open_engine(demo_url)
    try:
        with db.transaction(engine) as session:
            loans.request_loan(session, ctx_for(now=LATER), number="L-S35-A", **REQUEST)
        with (
            pytest.raises(Conflict, match=f"sample {SAMPLE} is already on loan request L-S35-A"),
            db.transaction(engine) as session,
        ):
            loans.request_loan(session, ctx_for(now=LATER), number="L-S35-B", **REQUEST)
        assert verify(engine).problems == []
    finally:
        engine.dispose()
    result = CliRunner().invoke(
        app,
        ["--db", demo_url, "--as", "curator@naoc.example", "loans", "request", "L-S35-C",
         "--agreement", "AG-2025-UoC", "--pi", "muenker@uni-koeln.example", "--sample", SAMPLE],
        env={"SAMPLELOANS_NOW": "2026-04-28T09:00:00Z"},
    )  # fmt: skip
    assert result.exit_code == 1, result.output
    assert f"sample {SAMPLE} is already on loan request L-S35-A" in result.stderr
    assert "Traceback" not in result.output
